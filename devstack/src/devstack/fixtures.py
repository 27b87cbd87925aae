"""pytest fixtures that start real servers on free ports, once per session.

Loaded by the root conftest.py (`pytest_plugins`), so every test folder of
the repo can ask for them by name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.nats import NatsServer


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url
