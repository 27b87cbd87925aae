"""The whole Shippy stack as local processes: what `make run` starts, and what
the integration tests start in the same way.

    with LocalStack(Path("var")) as stack:        # NATS, PostgreSQL, SMTP, 4 services
        stack.start_service("user-service")       # a second instance
        stack.kill("user-service", 0)             # SIGKILL the first
        stack.log_text("email-service")

`start()` starts (or, per `StackSettings`, reuses) NATS, PostgreSQL and an SMTP
server, creates one database per service, starts every service with its
configuration in environment variables, and returns once each reports SERVING
through grpc.health.v1. `stop()` stops the services (SIGTERM, then SIGKILL after
a bound), then the servers it started, and leaves no process behind.

Layout of the var directory: `postgres/` (data, log in `postgres/server.log`),
`postgres-password` (its superuser's password, mode 0600), `postgres.port`,
`nats/` (JetStream store), `nats.log`, `nats-logins/` (with
`StackSettings.nats_authorization`, what `make run` does: each service's NKey
seed, the operator's, the CLIs' password; see devstack.nats_auth), `mail/` (one .eml per message),
`jwt-private.pem` (user-service's signing key, mode 0600) and
`jwt-public.json` (its public keys, JWKS), `run/` (what runs now, so that a run
killed with SIGKILL is cleaned up by the next one: see devstack.leftovers).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
from micro.config import NatsLogin
from micro.nats_client import redacted
from micro.nats_transport import instance_address
from shippy_kit.tokens import kept_key_pair

from devstack.console import Console
from devstack.etcd import EtcdServer
from devstack.leftovers import forget, remember, stop_leftovers
from devstack.mosquitto import MISSING as MOSQUITTO_MISSING
from devstack.mosquitto import MosquittoServer, mosquitto_binary
from devstack.nats import NatsServer
from devstack.nats_auth import OPERATOR, NatsLogins, service_env
from devstack.ports import free_port
from devstack.postgres import PostgresServer, clear_stale_pid_file, create_database
from devstack.services import (
    CATALOG,
    SERVICE_NAMES,
    NotServing,
    ServiceProcess,
    ServiceSpec,
    executable_path,
)
from devstack.settings import StackSettings
from devstack.smtp import SmtpServer
from devstack.state import record_port, stable_port

log = logging.getLogger("devstack")

# Derived per instance: never inherited from our own environment.
DERIVED = (
    "NATS_URL",
    "MICRO_BROKER_ADDRESS",
    "MICRO_SERVER_ADDRESS",
    "MICRO_SERVER_ADVERTISE",
    "MICRO_SERVER_ID",
)
LOGINS = ("NATS_NKEY", "NATS_CREDS", "NATS_INBOX_PREFIX")
"""Not inherited when our NATS asks for logins: each service gets its own."""


class StackError(RuntimeError):
    """The stack could not start; the message says which part and why."""


class StackCancelled(StackError):
    """`cancel()` was called while the stack was starting."""


class LocalStack:
    def __init__(
        self,
        var_dir: Path,
        settings: StackSettings | None = None,
        *,
        services: Sequence[str] = SERVICE_NAMES,
        env: Mapping[str, str] | None = None,
        bin_dir: Path | None = None,
        console: Console | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        """`env`: extra variables for every service (e.g. BCRYPT_ROUNDS=4);
        `bin_dir`: where the services' console scripts are (default: beside
        this Python); `console`: where their output goes (default: nowhere,
        it is kept for `log_text`)."""
        for name in services:
            self._spec(name)
        self.var_dir = var_dir.absolute()
        self.run_dir = self.var_dir / "run"
        self.settings = settings or StackSettings()
        self.services = tuple(services)
        self.env = dict(env or {})
        self.bin_dir = bin_dir or Path(sys.executable).parent
        self.console = console
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.on_exit: Callable[[ServiceProcess], None] | None = None
        """Called (from another thread) when an instance ends without being asked to."""

        self.nats_url = ""
        self.postgres_url = ""
        self.smtp_host = ""
        self.smtp_port = 0
        self.jwt_private_key_file = self.var_dir / "jwt-private.pem"
        """What user-service signs tokens with (JWT_PRIVATE_KEY_FILE)."""
        self.jwt_public_keys_file = self.var_dir / "jwt-public.json"
        """What every service checks tokens with (JWT_PUBLIC_KEYS_FILE)."""
        self.jwt_keys_made = False
        """True when this start made the key pair (development mode)."""
        self.nats: NatsServer | None = None
        self.nats_logins: NatsLogins | None = None
        """With authorization: the logins our NATS lets in (devstack.nats_auth)."""
        self.postgres: PostgresServer | None = None
        self.smtp: SmtpServer | None = None
        self.mqtt_url = ""
        self.etcd_url = ""
        self.mosquitto: MosquittoServer | None = None
        self.etcd: EtcdServer | None = None
        self._instances: dict[str, list[ServiceProcess]] = {}
        self._databases: dict[str, str] = {}
        self._cancelled = threading.Event()
        self._lock = threading.Lock()

    @property
    def mail_dir(self) -> Path | None:
        """Where our own SMTP server keeps mail (None when SMTP_HOST is used)."""
        return self.smtp.mail_dir if self.smtp is not None else None

    def start(self) -> LocalStack:
        self._check_executables()
        try:
            for label in stop_leftovers(self.run_dir):
                log.info("stopped %s, left running by a run that was killed", label)
            self._start_nats()
            self._start_plugin_servers()
            self._start_postgres()
            self._start_smtp()
            self._keep_jwt_keys()
            started = [self.start_service(name, wait=False) for name in self.services]
            self._await_serving(started)
        except BaseException:
            self.stop()
            raise
        return self

    def start_service(
        self, name: str, env: Mapping[str, str] | None = None, *, wait: bool = True
    ) -> ServiceProcess:
        """Start one more instance of `name`; with `wait`, return once it serves."""
        self._check_not_cancelled()
        spec = self._spec(name)
        if spec.name not in self._databases:
            self._databases[spec.name] = self._create_database(spec.database)
        instance_env = self._service_env(name, env or {})
        with self._lock:
            instances = self._instances.setdefault(name, [])
            instance = ServiceProcess(
                spec=spec,
                index=len(instances),
                executable=self._executable(name),
                env=instance_env,
                console=self.console,
                **self._health_address(spec, instance_env),
                on_exit=self._exited,
            )
            instances.append(instance)
        if self.console is not None:
            self.console.make_room(instance.label)
        instance.start()
        assert instance.process is not None
        instance.record = remember(self.run_dir, instance.label, instance.process.pid)
        if wait:
            self._await_serving([instance])
        return instance

    def instances(self, name: str) -> list[ServiceProcess]:
        return list(self._instances.get(name, []))

    def instance(self, name: str, index: int = 0) -> ServiceProcess:
        try:
            return self._instances[name][index]
        except (KeyError, IndexError):
            raise KeyError(f"no instance {index} of {name} in this stack") from None

    def address(self, name: str, index: int = 0) -> str:
        """host:port of an instance's gRPC server."""
        return self.instance(name, index).address

    @property
    def operator_login(self) -> NatsLogin:
        """A NATS login that may do everything (none needed without authorization)."""
        return self.nats_logins.login(OPERATOR) if self.nats_logins else NatsLogin()

    def database_url(self, name: str) -> str:
        """The URL of the database service `name` owns."""
        return self._databases[name]

    def log_text(self, name: str) -> str:
        """Everything every instance of `name` has written so far."""
        return "\n".join(line for instance in self.instances(name) for line in instance.lines)

    def kill(self, name: str, index: int = 0) -> None:
        """SIGKILL one instance: it cannot deregister or finish its work."""
        self.instance(name, index).kill()

    def stop_service(self, name: str, index: int = 0) -> None:
        """SIGTERM one instance and wait for it to finish (bounded)."""
        self.instance(name, index).stop(self.stop_timeout)

    def exited(self) -> list[ServiceProcess]:
        """Instances that ended without being asked to."""
        return [
            instance
            for instances in self._instances.values()
            for instance in instances
            if not instance.stopping and instance.returncode is not None
        ]

    def cancel(self) -> None:
        """Make a `start()` running in another thread give up soon (it then stops
        what it started and raises StackCancelled)."""
        self._cancelled.set()

    def stop(self) -> None:
        """Stop every instance (all at once: SIGTERM, then wait), then the servers."""
        everything = [i for instances in self._instances.values() for i in instances]
        for instance in everything:
            instance.request_stop()
        for instance in everything:
            instance.stop(self.stop_timeout)
        for server in (self.smtp, self.postgres, self.nats, self.mosquitto, self.etcd):
            if server is not None:
                server.stop()
        for label, plugin_server in (("mosquitto", self.mosquitto), ("etcd", self.etcd)):
            if plugin_server is not None:
                forget(self.run_dir / f"{label}.pid")
        self.mosquitto = self.etcd = None
        if self.nats is not None:
            forget(self.run_dir / "nats.pid")
        self.smtp = self.postgres = self.nats = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> str:
        """What is running, for people."""
        rows = [
            ("NATS", _nats_row(self)),
            ("PostgreSQL", _postgres_row(self)),
            ("SMTP", _smtp_row(self)),
            ("JWT keys", _jwt_row(self)),
        ]
        if self.mqtt_url:
            rows.append(
                (
                    "MQTT",
                    f"{redacted(self.mqtt_url)}{'' if self.mosquitto else ' (already running)'}",
                )
            )
        if self.etcd_url:
            rows.append(
                ("etcd", f"{redacted(self.etcd_url)}{'' if self.etcd else ' (already running)'}")
            )
        for instances in self._instances.values():
            rows += [
                (i.label, f"{i.address}  database {i.spec.database}")
                for i in instances
                if i.running
            ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)

    def _check_executables(self) -> None:
        """Fail before starting anything if a service is not installed."""
        for name in self.services:
            self._executable(name)

    def _executable(self, name: str) -> Path:
        try:
            return executable_path(self.bin_dir, name)
        except FileNotFoundError as error:
            raise StackError(str(error)) from None

    @staticmethod
    def _spec(name: str) -> ServiceSpec:
        try:
            return CATALOG[name]
        except KeyError:
            raise StackError(f"unknown service {name!r}: known are {', '.join(CATALOG)}") from None

    def _create_database(self, name: str) -> str:
        try:
            return create_database(self.postgres_url, name)
        except psycopg.Error as error:
            where = "DATABASE_URL" if self.postgres is None else "our PostgreSQL"
            raise StackError(f"cannot create database {name} on {where}: {error}") from None

    def _start_nats(self) -> None:
        self._check_not_cancelled()
        if self.settings.nats_url is not None:
            self.nats_url = self.settings.nats_url
            log.info("NATS: using %s", redacted(self.nats_url))
            return
        if self.settings.nats_authorization:
            specs = [CATALOG[name] for name in CATALOG]
            self.nats_logins = NatsLogins.keep(self.var_dir / "nats-logins", specs)
        self.nats = NatsServer(
            self.var_dir / "nats",
            port=self.settings.nats_port,
            log_file=self.var_dir / "nats.log",
            authorization=self.nats_logins.config() if self.nats_logins else "",
        ).start()
        assert self.nats.process is not None
        remember(self.run_dir, "nats", self.nats.process.pid)
        self.nats_url = self.nats.url
        log.info(
            "NATS: started ours at %s (JetStream store in %s)", self.nats_url, self.nats.store_dir
        )

    def _start_plugin_servers(self) -> None:
        """The chosen plugins' servers: Mosquitto for MICRO_BROKER=mqtt, etcd for
        MICRO_REGISTRY=etcd; the ones the settings name, or our own."""
        self._check_not_cancelled()
        if self.settings.broker == "mqtt":
            if self.settings.mqtt_url is not None:
                self.mqtt_url = self.settings.mqtt_url
                log.info("MQTT: using %s", redacted(self.mqtt_url))
            elif mosquitto_binary() is None:
                raise StackError(f"MICRO_BROKER=mqtt: {MOSQUITTO_MISSING}")
            else:
                self.mosquitto = MosquittoServer(
                    self.var_dir / "mosquitto",
                    port=self.settings.mqtt_port,
                    log_file=self.var_dir / "mosquitto.log",
                ).start()
                assert self.mosquitto.process is not None
                remember(self.run_dir, "mosquitto", self.mosquitto.process.pid)
                self.mqtt_url = self.mosquitto.url
                log.info("MQTT: started our Mosquitto at %s", self.mqtt_url)
        if self.settings.registry == "etcd":
            if self.settings.etcd_url is not None:
                self.etcd_url = self.settings.etcd_url
                log.info("etcd: using %s", redacted(self.etcd_url))
            else:
                self.etcd = EtcdServer(
                    self.var_dir / "etcd",
                    port=self.settings.etcd_port,
                    log_file=self.var_dir / "etcd.log",
                ).start()
                assert self.etcd.process is not None
                remember(self.run_dir, "etcd", self.etcd.process.pid)
                self.etcd_url = self.etcd.url
                log.info("etcd: started ours at %s (data in %s)", self.etcd_url, self.etcd.data_dir)

    def _keep_jwt_keys(self) -> None:
        """The settings' key files, or (development mode) a key pair kept in the
        var directory, made the first time: the private key mode 0600."""
        if self.settings.jwt_private_key_file is not None:
            self.jwt_private_key_file = self.settings.jwt_private_key_file
        if self.settings.jwt_public_keys_file is not None:
            self.jwt_public_keys_file = self.settings.jwt_public_keys_file
        try:
            self.jwt_keys_made = kept_key_pair(self.jwt_private_key_file, self.jwt_public_keys_file)
        except (OSError, ValueError) as error:
            raise StackError(f"JWT keys {self.jwt_private_key_file}: {error}") from None
        if self.jwt_keys_made:
            log.info("JWT: made a signing key pair (development mode) in %s", self.var_dir)

    def _start_postgres(self) -> None:
        self._check_not_cancelled()
        if self.settings.database_url is not None:
            self.postgres_url = self.settings.database_url
            log.info("PostgreSQL: using DATABASE_URL")
            return
        port_record = self.var_dir / "postgres.port"
        data_dir = self.var_dir / "postgres"
        if data_dir.exists():
            clear_stale_pid_file(data_dir)  # an orphan of a killed run would hold the port
        port = stable_port(port_record, self.settings.postgres_port)
        log.info("PostgreSQL: starting ours on 127.0.0.1:%d (data in %s)", port, data_dir)
        self.postgres = PostgresServer(data_dir, port=port).start()
        record_port(port_record, port)
        self.postgres_url = self.postgres.url

    def _start_smtp(self) -> None:
        self._check_not_cancelled()
        if self.settings.smtp_host is not None:
            self.smtp_host, self.smtp_port = self.settings.smtp_host, self.settings.smtp_port
            log.info("SMTP: using %s:%d", self.smtp_host, self.smtp_port)
            return
        self.smtp = SmtpServer(self.var_dir / "mail").start()
        self.smtp_host, self.smtp_port = self.smtp.host, self.smtp.port
        log.info(
            "SMTP: started ours at %s:%d (mail in %s)",
            self.smtp_host,
            self.smtp_port,
            self.smtp.mail_dir,
        )

    def _health_address(self, spec: ServiceSpec, env: Mapping[str, str]) -> dict[str, Any]:
        """Where an instance's health is asked: its gRPC server, or its NATS subject."""
        if env["MICRO_TRANSPORT"] != "nats":
            return {"address": env["MICRO_SERVER_ADDRESS"]}
        address = instance_address(spec.service, env["MICRO_SERVER_ID"])
        return {"address": address, "nats_url": self.nats_url}

    def _service_env(self, name: str, extra: Mapping[str, str]) -> dict[str, str]:
        spec = CATALOG[name]
        ours = DERIVED + (LOGINS if self.nats_logins else ())
        inherited = {k: v for k, v in os.environ.items() if k not in ours}
        env = {
            "MICRO_REGISTRY": self.settings.registry,
            "MICRO_BROKER": self.settings.broker,  # jetstream: at least once, no welcome email lost
            "MICRO_TRANSPORT": self.settings.transport,
            **inherited,
            "PYTHONUNBUFFERED": "1",
            **self.env,
            **extra,
            "NATS_URL": self.nats_url,
            **service_env(self.nats_logins, name),
            **({"MQTT_URL": self.mqtt_url} if self.mqtt_url else {}),
            **({"ETCD_URL": self.etcd_url} if self.etcd_url else {}),
            "MICRO_SERVER_ADDRESS": f"127.0.0.1:{free_port()}",
            "MICRO_SERVER_ID": f"{spec.service}-{uuid.uuid4().hex[:12]}",
            "DATABASE_URL": self._databases[name],
        }
        env["JWT_PUBLIC_KEYS_FILE"] = str(self.jwt_public_keys_file)  # public: for every service
        if spec.needs_jwt_secret:  # the signing key: user-service's alone
            env["JWT_PRIVATE_KEY_FILE"] = str(self.jwt_private_key_file)
        if spec.needs_smtp:
            env |= {"SMTP_HOST": self.smtp_host, "SMTP_PORT": str(self.smtp_port)}
        return env

    def _await_serving(self, instances: Sequence[ServiceProcess]) -> None:
        """Wait until each instance serves; fail on the first one that exits
        (any of them, not only the one being waited for) or the deadline."""
        deadline = time.monotonic() + self.start_timeout

        def all_running() -> bool:
            return not self._cancelled.is_set() and all(i.running for i in instances)

        for instance in instances:
            try:
                instance.wait_until_serving(deadline - time.monotonic(), all_running)
            except NotServing:
                self._check_not_cancelled()
                culprit = next((i for i in instances if not i.running), instance)
                raise StackError(self._failure(culprit)) from None
            log.info("%s: serving at %s", instance.label, instance.address)

    def _failure(self, instance: ServiceProcess) -> str:
        if instance.running:
            what = f"did not report SERVING within {self.start_timeout:g}s"
        else:
            instance.stop(self.stop_timeout)  # let its output reach the end
            what = f"exited with code {instance.returncode}"
        return f"{instance.label} {what}; its last lines:\n{instance.tail()}"

    def _exited(self, instance: ServiceProcess) -> None:
        if self.on_exit is not None:
            self.on_exit(instance)

    def _check_not_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise StackCancelled("cancelled while starting")


def _nats_row(stack: LocalStack) -> str:
    if stack.nats is None:
        return f"{redacted(stack.nats_url)} (already running)"
    if stack.nats_logins is None:
        return redacted(stack.nats_url)
    return (
        f"{stack.nats_url}  with authorization: one login per service, "
        f"kept in {shown_path(stack.nats_logins.folder)}/ (mode 0600)"
    )


def _postgres_row(stack: LocalStack) -> str:
    if stack.postgres is None:
        return "DATABASE_URL (one database per service in it)"
    postgres = stack.postgres
    assert postgres.password_file is not None
    return (
        f"{postgres.shown_url}  data in {shown_path(postgres.data_dir)}, "
        f"password in {shown_path(postgres.password_file)} (mode 0600)"
    )


def _jwt_row(stack: LocalStack) -> str:
    if stack.settings.jwt_private_key_file is not None:
        made = ""
    else:
        made = " (development keys, made now)" if stack.jwt_keys_made else " (development keys)"
    return (
        f"signing key {shown_path(stack.jwt_private_key_file)} (mode 0600), "
        f"public keys {shown_path(stack.jwt_public_keys_file)}{made}"
    )


def _smtp_row(stack: LocalStack) -> str:
    address = f"{stack.smtp_host}:{stack.smtp_port}"
    if stack.mail_dir is None:
        return address
    return f"{address}  mail lands in {shown_path(stack.mail_dir)}/"


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
