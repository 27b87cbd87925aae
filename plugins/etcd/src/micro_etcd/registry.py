"""The etcd registry: each node a key under a lease, found by key prefix.

    registry = EtcdRegistry("http://127.0.0.1:2379")   # MICRO_REGISTRY=etcd, ETCD_URL=...

A node of service `shippy.user` at version `1.0.0` is the key
`/micro/registry/shippy.user/1.0.0/<node id>`, whose value is the service's
record (JSON) with that one node. The key lives under a lease of its own
whose TTL is the ttl it was registered with (whole seconds, at least 1):
registering again renews the lease (a keepalive), so a node whose process
died, even by SIGKILL, is deleted by etcd itself when its lease runs out,
and every watcher sees that deletion. `watch()` is etcd's watch on the prefix.

It speaks etcd's v3 API through the JSON gateway etcd serves on its client
port (`/v3/kv/range`, `/v3/lease/grant`, `/v3/watch`, ...) with httpx: no
generated protobuf code, so no conflict with the protobuf (7.x) the rest of
the workspace uses (`etcd3` 0.12, generated for protobuf 3, does not import
under it; `aetcd` does, with code generated for protobuf 5.27).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import httpx
from micro.errors import ServiceNotFound, Unavailable
from micro.registry import Event, EventType, ServiceRecord

__all__ = ["DEFAULT_ETCD_URL", "PREFIX", "EtcdRegistry", "EtcdWatcher"]

log = logging.getLogger(__name__)

DEFAULT_ETCD_URL = "http://127.0.0.1:2379"
PREFIX = "/micro/registry/"
LEASE_NOT_FOUND = "requested lease not found"


@dataclass(frozen=True)
class _Lease:
    id: str
    ttl: int


class EtcdRegistry:
    name = "etcd"

    def __init__(
        self, url: str = DEFAULT_ETCD_URL, *, prefix: str = PREFIX, timeout: float = 5.0
    ) -> None:
        """`url`: etcd's client URL, http://host:port. `prefix`: where the keys live."""
        self.url = url.rstrip("/")
        self.prefix = prefix
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)
        self._leases: dict[str, _Lease] = {}
        self._watchers: set[EtcdWatcher] = set()

    async def register(self, service: ServiceRecord, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be more than 0, got {ttl}")
        await self._watches_started()
        seconds = max(1, math.ceil(ttl))
        for node in service.nodes:
            key = self._key(service.name, service.version, node.id)
            value = json.dumps(replace(service, nodes=(node,)).to_dict())
            lease = self._leases.get(key)
            if lease is None or lease.ttl != seconds or not await self._keep_alive(lease):
                lease = await self._grant(seconds)
            try:
                await self._put(key, value, lease)
            except Unavailable as error:
                if LEASE_NOT_FOUND not in str(error):
                    raise
                lease = await self._grant(seconds)  # it ran out between keepalive and put
                await self._put(key, value, lease)
            old = self._leases.get(key)
            self._leases[key] = lease
            if old is not None and old.id != lease.id:
                await self._revoke(old)

    async def deregister(self, service: ServiceRecord) -> None:
        await self._watches_started()
        for node in service.nodes:
            key = self._key(service.name, service.version, node.id)
            await self._call("/v3/kv/deleterange", {"key": _b64(key)})
            lease = self._leases.pop(key, None)
            if lease is not None:
                await self._revoke(lease)

    async def get_service(self, name: str) -> list[ServiceRecord]:
        records = await self._records(self._service_prefix(name))
        if not records:
            raise ServiceNotFound(name, self.name)
        return records

    async def list_services(self) -> list[ServiceRecord]:
        return await self._records(self.prefix)

    def watch(self, service: str | None = None) -> EtcdWatcher:
        prefix = self.prefix if service is None else self._service_prefix(service)
        watcher = EtcdWatcher(self, prefix)
        self._watchers.add(watcher)
        return watcher

    async def close(self) -> None:
        for watcher in list(self._watchers):
            await watcher.stop()
        await self._http.aclose()

    # The keys

    def _key(self, name: str, version: str, node_id: str) -> str:
        return f"{self._service_prefix(name)}{quote(version, safe='')}/{quote(node_id, safe='')}"

    def _service_prefix(self, name: str) -> str:
        return f"{self.prefix}{quote(name, safe='')}/"

    async def _records(self, prefix: str) -> list[ServiceRecord]:
        answer = await self._call(
            "/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(_prefix_end(prefix))}
        )
        versions: dict[tuple[str, str], ServiceRecord] = {}
        for kv in answer.get("kvs", []):
            record = _record(kv)
            key = (record.name, record.version)
            known = versions.get(key)
            versions[key] = (
                record if known is None else replace(known, nodes=known.nodes + record.nodes)
            )
        return list(versions.values())

    # Leases

    async def _grant(self, seconds: int) -> _Lease:
        answer = await self._call("/v3/lease/grant", {"TTL": seconds})
        return _Lease(str(answer["ID"]), seconds)

    async def _keep_alive(self, lease: _Lease) -> bool:
        """Renew `lease`; False when it has run out already."""
        answer = await self._call("/v3/lease/keepalive", {"ID": lease.id})
        return int(answer.get("result", {}).get("TTL", 0)) > 0

    async def _revoke(self, lease: _Lease) -> None:
        try:
            await self._call("/v3/lease/revoke", {"ID": lease.id})
        except Unavailable as error:  # gone already: it ran out
            log.debug("registry etcd: revoking lease %s: %s", lease.id, error)

    async def _put(self, key: str, value: str, lease: _Lease) -> None:
        await self._call("/v3/kv/put", {"key": _b64(key), "value": _b64(value), "lease": lease.id})

    # The gateway

    async def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = await self._http.post(path, json=body)
        except httpx.TransportError as error:
            raise Unavailable(
                f"registry etcd: cannot reach etcd at {self.url}: {error!r}"
            ) from error
        answer: dict[str, Any] = response.json() if response.content else {}
        if response.is_error or "error" in answer:
            message = answer.get("message") or answer.get("error") or response.text
            raise Unavailable(f"registry etcd: {path} at {self.url}: {message}")
        return answer

    async def _watches_started(self) -> None:
        """A watch asked for before a change sees that change: wait until etcd
        has set up the watches of this registry that it has not yet confirmed."""
        for watcher in list(self._watchers):
            await watcher.started()

    def _forget(self, watcher: EtcdWatcher) -> None:
        self._watchers.discard(watcher)


class EtcdWatcher:
    """`async for event in watcher:` until `await watcher.stop()`; one etcd watch
    (a streaming POST /v3/watch) on the prefix of one service or of all."""

    def __init__(
        self, registry: EtcdRegistry, prefix: str, *, retry_delays: tuple[float, float] = (0.1, 5)
    ) -> None:
        self._registry = registry
        self._prefix = prefix
        self._retry_delays = retry_delays
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()
        self._created = asyncio.Event()
        self._revision: int | None = None
        """The last revision seen: a watch started again resumes after it."""
        self._stopped = False
        self._task = asyncio.create_task(self._follow(), name=f"etcd watch: {prefix}")

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        event = await self._events.get()
        if event is None:
            self._events.put_nowait(None)  # for the next call, too
            raise StopAsyncIteration
        return event

    async def started(self, within: float = 5.0) -> None:
        """Return once etcd has confirmed the watch (or it could not be set up)."""
        try:
            async with asyncio.timeout(within):
                await self._created.wait()
        except TimeoutError:
            log.warning("registry etcd: watch on %s not confirmed after %gs", self._prefix, within)

    async def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._registry._forget(self)
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._events.put_nowait(None)

    async def _follow(self) -> None:
        delay = self._retry_delays[0]
        while True:
            try:
                await self._watch_once()
            except (httpx.HTTPError, ValueError) as error:
                log.warning(
                    "registry etcd: watch on %s broke (%r); again in %.1fs",
                    self._prefix,
                    error,
                    delay,
                )
            else:
                delay = self._retry_delays[0]
            finally:
                self._created.set()  # writers wait no longer for a watch that is not there
            await asyncio.sleep(delay)  # a backoff between attempts, not a poll
            delay = min(2 * delay, self._retry_delays[1])

    async def _watch_once(self) -> None:
        request: dict[str, Any] = {
            "key": _b64(self._prefix),
            "range_end": _b64(_prefix_end(self._prefix)),
            "prev_kv": True,
        }
        if self._revision is not None:
            request["start_revision"] = self._revision + 1
        http = self._registry._http
        timeout = httpx.Timeout(5.0, read=None)  # a watch is quiet while nothing changes
        async with http.stream(
            "POST", "/v3/watch", json={"create_request": request}, timeout=timeout
        ) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    self._take(json.loads(line))

    def _take(self, answer: Mapping[str, Any]) -> None:
        result = answer.get("result")
        if result is None:
            raise ValueError(f"etcd watch answered {answer!r}")
        if result.get("created"):
            self._created.set()
        for change in result.get("events", []):
            kv = change["kv"]
            self._revision = int(kv["mod_revision"])
            event = _event(change)
            if event is not None:
                self._events.put_nowait(event)


def _event(change: Mapping[str, Any]) -> Event | None:
    kv = change["kv"]
    if change.get("type") == "DELETE":
        before = change.get("prev_kv")
        if before is None:  # its value is compacted away: all we know is its key
            return None
        return Event("delete", _record(before))
    kind: EventType = "create" if kv.get("create_revision") == kv.get("mod_revision") else "update"
    return Event(kind, _record(kv))


def _record(kv: Mapping[str, Any]) -> ServiceRecord:
    return ServiceRecord.from_dict(json.loads(base64.b64decode(kv["value"])))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _prefix_end(prefix: str) -> str:
    """The end of etcd's range of keys that start with `prefix` (its last byte plus one)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
