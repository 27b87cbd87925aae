"""Plugins by name: brokers, registries and transports from installed packages.

    MICRO_BROKER=nats          # the "nats" entry point of group "micro.brokers"

Each kind of plugin has an entry point group. An entry point names a
factory that takes the `Options` and returns the plugin, not yet connected:

    # a plugin package's pyproject.toml
    [project.entry-points."micro.brokers"]
    mqtt = "micro_mqtt:from_options"

The core lists no plugins of its own here: its memory, NATS and gRPC
implementations are entry points of the `shippy-micro` distribution like
any other. A name nobody installed is a `ConfigError` that lists the names
that are installed.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Literal, cast

from micro.config import ConfigError, Options

if TYPE_CHECKING:
    from micro.broker import Broker
    from micro.registry import Registry
    from micro.transport import Transport

Kind = Literal["broker", "registry", "transport"]

GROUPS: dict[Kind, tuple[str, str]] = {
    "broker": ("micro.brokers", "MICRO_BROKER"),
    "registry": ("micro.registries", "MICRO_REGISTRY"),
    "transport": ("micro.transports", "MICRO_TRANSPORT"),
}
"""Each kind's entry point group, and the variable that names a plugin of it."""


def installed(kind: Kind) -> dict[str, EntryPoint]:
    """The installed plugins of `kind`, by name."""
    group, _ = GROUPS[kind]
    return {entry.name: entry for entry in entry_points(group=group)}


def factory(kind: Kind, name: str) -> Callable[[Options], object]:
    """The factory of the plugin `name` of `kind`; ConfigError when none is installed."""
    plugins = installed(kind)
    entry = plugins.get(name)
    if entry is None:
        _, variable = GROUPS[kind]
        known = ", ".join(sorted(plugins)) or "none"
        raise ConfigError(
            f"{variable}={name!r}: no {kind} plugin of that name is installed (installed: {known})"
        )
    return cast(Callable[[Options], object], entry.load())


def broker(options: Options) -> Broker:
    """The broker `options.broker` names, made from `options`."""
    return cast("Broker", factory("broker", options.broker)(options))


def registry(options: Options) -> Registry:
    """The registry `options.registry` names, made from `options`."""
    return cast("Registry", factory("registry", options.registry)(options))


def transport(options: Options) -> Transport:
    """The transport `options.transport` names, made from `options`."""
    return cast("Transport", factory("transport", options.transport)(options))
