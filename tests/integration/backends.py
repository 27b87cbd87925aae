"""The stacks the integration suite runs against, behind one small interface.

The test bodies see only a `Stack`: where NATS is (CLIs and clients find
every service through the registry on it), the environment to run the CLIs
in, and a few ways to look at or change the running system. Each backend
adapts one way of running Shippy to it:

    local    the processes `make run` starts (devstack's `local_stack` fixture)
    compose  the containers of docker-compose.yml, started by pytest-docker
             (conftest's `compose_stack` fixture); skipped, saying why, when
             no Docker engine answers

A backend that cannot do something leaves its name out of `capabilities`;
tests that need it say so with `@pytest.mark.needs(...)` and are skipped
there. To add one, write a factory that takes the fixture request and
returns a `Stack`, and add it to `BACKENDS`.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol, cast

import pytest
from devstack.stack import LocalStack
from devstack.waiting import wait_until
from micro.config import NatsLogin
from shippy_kit.token_mint import TokenMint

from .compose import SERVICES, ComposeProject

MAIL = "mail"
"""`wait_for_mail`: the stack's SMTP server can be read."""
LOGS = "logs"
"""`service_logs` and `instance_logs`."""
SCALING = "scaling"
"""`start_extra_instance` and `kill_instance`."""
SIGNING_KEY = "signing_key"
"""`token_mint`: the key user-service signs tokens with is known to the tests."""
NATS_LOGINS = "nats_logins"
"""The stack's NATS lets in only its logins, each with its permissions (`make run`'s)."""
CAPABILITIES = (MAIL, LOGS, SCALING, SIGNING_KEY, NATS_LOGINS)


class Unsupported(RuntimeError):
    """A test used a capability without `@pytest.mark.needs(...)` and the backend lacks it."""


class Stack(Protocol):
    name: str
    capabilities: frozenset[str]

    @property
    def nats_url(self) -> str:
        """Where the registry and the broker are: all a client needs."""

    @property
    def env(self) -> Mapping[str, str]:
        """The environment to run a CLI in (NATS_URL points at the stack)."""

    @property
    def operator_login(self) -> NatsLogin:
        """A NATS login that may do everything, for tests that publish or
        register on the stack's NATS themselves (a CLI needs none)."""

    @property
    def token_mint(self) -> TokenMint:
        """Makes tokens with the key user-service signs with (and spoiled ones)."""

    def wait_for_mail(self, to: str, timeout: float = 10.0) -> EmailMessage:
        """The first message the SMTP server received for `to`, waiting up to `timeout` s."""

    def service_logs(self) -> str:
        """Everything every service instance has logged so far."""

    def instance_logs(self, service: str) -> list[str]:
        """What each instance of `service` has logged, by instance index."""

    def start_extra_instance(self, service: str) -> int:
        """Start one more instance of `service`; return its index once it serves."""

    def kill_instance(self, service: str, index: int) -> None:
        """SIGKILL one instance: no deregistration, no draining. Idempotent."""


def addressed_to(message: EmailMessage, address: str) -> bool:
    recipients = getaddresses([str(message.get("To", ""))])
    return any(email.lower() == address.lower() for _, email in recipients)


def cli_env(nats_url: str) -> Mapping[str, str]:
    """This process's environment, with the CLIs pointed at the NATS on `nats_url`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    return {**inherited, "NATS_URL": nats_url, "MICRO_REGISTRY": "nats"}


class LocalBackend:
    """The processes of `make run`, in a throwaway var directory."""

    name = "local"
    capabilities = frozenset(CAPABILITIES)

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack

    @property
    def nats_url(self) -> str:
        return self._stack.nats_url

    @property
    def env(self) -> Mapping[str, str]:
        return cli_env(self.nats_url)

    @property
    def operator_login(self) -> NatsLogin:
        return self._stack.operator_login

    @property
    def token_mint(self) -> TokenMint:
        return TokenMint(self._stack.jwt_private_key_file, self._stack.jwt_public_keys_file)

    def wait_for_mail(self, to: str, timeout: float = 10.0) -> EmailMessage:
        if self._stack.smtp is None:
            raise Unsupported("this local stack sends mail to an SMTP server it does not own")
        return self._stack.smtp.wait_for_message(lambda m: addressed_to(m, to), timeout)

    def service_logs(self) -> str:
        return "\n".join(self._stack.log_text(name) for name in self._stack.services)

    def instance_logs(self, service: str) -> list[str]:
        return ["\n".join(instance.lines) for instance in self._stack.instances(service)]

    def start_extra_instance(self, service: str) -> int:
        return self._stack.start_service(service).index

    def kill_instance(self, service: str, index: int) -> None:
        self._stack.kill(service, index)


def local(request: pytest.FixtureRequest) -> Stack:
    return LocalBackend(request.getfixturevalue("local_stack"))


MAILDEV_POLL = 0.1
"""Seconds between two looks into MailDev's inbox."""


class ComposeBackend:
    """The containers of docker-compose.yml: one instance of each service, the
    welcome mail in MailDev, the logs from `docker compose logs`."""

    name = "compose"
    capabilities = frozenset({MAIL, LOGS, SIGNING_KEY})
    """No SCALING: the services share nats's network namespace on fixed ports,
    so a second instance of one has no port of its own."""

    def __init__(self, project: ComposeProject) -> None:
        self.project = project

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.project.port('nats')}"

    @property
    def env(self) -> Mapping[str, str]:
        return cli_env(self.nats_url)

    @property
    def operator_login(self) -> NatsLogin:
        return NatsLogin()  # docker-compose.yml's NATS asks for no login

    @property
    def token_mint(self) -> TokenMint:
        variables = self.project.variables
        return TokenMint(
            Path(variables["SHIPPY_JWT_PRIVATE_KEY"]), Path(variables["SHIPPY_JWT_PUBLIC_KEYS"])
        )

    def wait_for_mail(self, to: str, timeout: float = 10.0) -> EmailMessage:
        return wait_until(
            lambda: self._mail_to(to),
            timeout,
            f"a mail to {to} in MailDev",
            poll=MAILDEV_POLL,
        )

    def _mail_to(self, to: str) -> EmailMessage | None:
        """The first message in MailDev's inbox for `to`, through its REST API."""
        inbox = f"http://127.0.0.1:{self.project.port('maildev')}/email"
        with urllib.request.urlopen(inbox, timeout=5) as response:
            summaries = json.load(response)
        for summary in summaries:
            if any(r["address"].lower() == to.lower() for r in summary["to"]):
                with urllib.request.urlopen(f"{inbox}/{summary['id']}/source", timeout=5) as raw:
                    return cast(EmailMessage, BytesParser(policy=default_policy).parse(raw))
        return None

    def service_logs(self) -> str:
        return self.project.run("logs", "--no-color", *SERVICES)

    def instance_logs(self, service: str) -> list[str]:
        return [self.project.run("logs", "--no-color", "--no-log-prefix", service)]

    def start_extra_instance(self, service: str) -> int:
        raise Unsupported("the compose stack runs one instance of each service")

    def kill_instance(self, service: str, index: int) -> None:
        raise Unsupported("the compose stack runs one instance of each service")


def compose(request: pytest.FixtureRequest) -> Stack:
    return request.getfixturevalue("compose_stack")


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Stack]] = {
    "local": local,
    "compose": compose,
}
"""Backend name → factory. SHIPPY_TEST_STACKS picks which ones a run uses."""
DEFAULT_STACKS = "local,compose"


def selected(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The backends named in SHIPPY_TEST_STACKS (comma-separated; default: both,
    the compose one skipping when no Docker engine answers)."""
    chosen = environ.get("SHIPPY_TEST_STACKS", DEFAULT_STACKS)
    names = [n.strip() for n in chosen.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise pytest.UsageError(
            f"SHIPPY_TEST_STACKS: unknown stack {', '.join(unknown)}; known: {', '.join(BACKENDS)}"
        )
    return names
