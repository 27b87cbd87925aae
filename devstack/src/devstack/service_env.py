"""What a service reads from its environment, taken from the code itself.

A service's configuration is read by `micro.config.Options.from_env`, then by
its own `Config.from_env`; run on a mapping that notes every lookup, they say
which variables the service reads and whether it would start. The tests that
keep docker-compose.yml (tests/test_compose_env.py) and deploy/k8s
(tests/test_k8s.py) in step with the code use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping

from micro.config import ConfigError, Options


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers which variables were looked up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def configuration_readers(service: str) -> list[Callable[[Mapping[str, str]], object]]:
    """What `service` reads its configuration with: the micro core's, then its own."""
    config = importlib.import_module(f"{service.replace('-', '_')}.config")
    return [Options.from_env, config.Config.from_env]


def variables_read(service: str, environment: Mapping[str, str]) -> set[str]:
    """Every variable `service`'s code looks up when it starts with `environment`."""
    env = RecordingEnv(environment)
    for read in configuration_readers(service):
        read(env)
    return env.read


def start_error(service: str, environment: Mapping[str, str]) -> str | None:
    """Why `service` would not start with `environment` (its configuration's
    one-line error), or None when it would."""
    try:
        for read in configuration_readers(service):
            read(environment)
    except ConfigError as error:
        return str(error)
    return None
