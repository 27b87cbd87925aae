"""micro's etcd registry plugin: `MICRO_REGISTRY=etcd`, the server at `ETCD_URL`.

    [project.entry-points."micro.registries"]
    etcd = "micro_etcd:from_options"

Or as an instance: `Service(..., registry=EtcdRegistry("http://127.0.0.1:2379"))`.
"""

from __future__ import annotations

import os

from micro.config import Options

from micro_etcd.registry import DEFAULT_ETCD_URL, PREFIX, EtcdRegistry, EtcdWatcher

__all__ = ["DEFAULT_ETCD_URL", "PREFIX", "EtcdRegistry", "EtcdWatcher", "from_options"]


def from_options(options: Options) -> EtcdRegistry:
    """The "etcd" plugin: the etcd at `ETCD_URL` (read only when this plugin
    is chosen), http://127.0.0.1:2379 when unset. Its leases last
    `MICRO_REGISTER_TTL`, renewed every `MICRO_REGISTER_INTERVAL` by the service."""
    return EtcdRegistry(os.environ.get("ETCD_URL") or DEFAULT_ETCD_URL)
