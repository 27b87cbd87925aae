"""The stacks the integration suite runs against, behind one small interface.

The test bodies see only a `Stack`: where NATS is (CLIs and clients find
every service through the registry on it), the environment to run the CLIs
in, and a few ways to look at or change the running system. Each backend
adapts one way of running Shippy to it:

    local    the processes `make run` starts (devstack's `local_stack` fixture)

A backend that cannot do something leaves its name out of `capabilities`;
tests that need it say so with `@pytest.mark.needs(...)` and are skipped
there. To add one (docker compose through pytest-docker, say), write a
factory that takes the fixture request and returns a `Stack`, and add it to
`BACKENDS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Protocol

import pytest
from devstack.stack import LocalStack

MAIL = "mail"
"""`wait_for_mail`: the stack's SMTP server can be read."""
LOGS = "logs"
"""`service_logs` and `instance_logs`."""
SCALING = "scaling"
"""`start_extra_instance` and `kill_instance`."""
JWT_SECRET = "jwt_secret"
"""`jwt_secret`: the key user-service signs tokens with is known."""
CAPABILITIES = (MAIL, LOGS, SCALING, JWT_SECRET)


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
    def jwt_secret(self) -> str:
        """The key user-service signs tokens with."""

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
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
        return {**inherited, "NATS_URL": self.nats_url, "MICRO_REGISTRY": "nats"}

    @property
    def jwt_secret(self) -> str:
        return self._stack.jwt_secret

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


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Stack]] = {"local": local}
"""Backend name → factory. SHIPPY_TEST_STACKS picks which ones a run uses."""


def selected(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The backends named in SHIPPY_TEST_STACKS (comma-separated; default: local)."""
    names = [n.strip() for n in environ.get("SHIPPY_TEST_STACKS", "local").split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise pytest.UsageError(
            f"SHIPPY_TEST_STACKS: unknown stack {', '.join(unknown)}; known: {', '.join(BACKENDS)}"
        )
    return names
