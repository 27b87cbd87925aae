"""docker-compose.yml as the tests run it: a project of its own, on free ports.

    project = ComposeProject.on_free_ports(ROOT / "docker-compose.yml", "shippy-test-42",
                                           SHIPPY_JWT_PRIVATE_KEY="keys/jwt-private.pem",
                                           SHIPPY_JWT_PUBLIC_KEYS="keys/jwt-public.json")
    project.run("up", "--build", "-d", "--wait")
    project.containers()        # [Container(service="nats", state="running", exit_code=0), ...]
    project.run("down", "-v")

pytest-docker starts and removes the project (see the docker_* fixtures in
conftest.py); the tests use `run` for everything else.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.ports import free_port

SERVICES = ("user-service", "vessel-service", "consignment-service", "email-service")
"""Shippy's own services in docker-compose.yml."""
SERVERS = ("nats", "postgres", "maildev")
"""The servers they use, in docker-compose.yml too."""
PORT_VARIABLES = {
    "nats": "SHIPPY_NATS_PORT",
    "user-service": "SHIPPY_USER_PORT",
    "vessel-service": "SHIPPY_VESSEL_PORT",
    "consignment-service": "SHIPPY_CONSIGNMENT_PORT",
    "email-service": "SHIPPY_EMAIL_PORT",
    "maildev": "SHIPPY_MAILDEV_PORT",
}
"""The variables docker-compose.yml takes the host ports from."""
COMMAND_TIMEOUT = 120.0
"""Seconds one `docker compose` command of the tests may take (`up --wait` included)."""
SKIPPED = "the container pass is skipped; see README (Containers)"


class ComposeError(RuntimeError):
    """A `docker compose` command failed; the message holds the command and its output."""


def docker_unavailable() -> str | None:
    """Why the compose stack cannot run on this machine, or None when it can."""
    if shutil.which("docker") is None:
        return f"no docker command on PATH: {SKIPPED}"
    if not _succeeds("docker", "info", "--format", "{{.ServerVersion}}"):
        return f"no Docker engine answers at {_engine_address()}: {SKIPPED}"
    if not _succeeds("docker", "compose", "version"):
        return f"docker compose (the Compose v2 plugin) is not installed: {SKIPPED}"
    return None


def _engine_address() -> str:
    """Where `docker` looks for the engine: DOCKER_HOST, else the current context's."""
    if docker_host := os.environ.get("DOCKER_HOST"):
        return docker_host
    context = _docker("context", "inspect", "--format", "{{.Endpoints.docker.Host}}").strip()
    return context or "unix:///var/run/docker.sock"


def _succeeds(*command: str) -> bool:
    try:
        done = subprocess.run(command, capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


@dataclass(frozen=True)
class Container:
    """One container of a compose project, as `docker compose ps` shows it."""

    service: str
    state: str
    exit_code: int


@dataclass(frozen=True)
class ComposeProject:
    """docker-compose.yml run as the project `name`, with `variables` for its
    `${...}`. A user's `make up` (project `shippy`, default ports) is left alone."""

    file: Path
    name: str
    variables: Mapping[str, str]

    @classmethod
    def on_free_ports(cls, file: Path, name: str, **variables: str) -> ComposeProject:
        """A project whose host ports (SHIPPY_*_PORT) are free now."""
        ports: set[int] = set()
        while len(ports) < len(PORT_VARIABLES):
            ports.add(free_port())
        chosen = dict(zip(PORT_VARIABLES.values(), map(str, sorted(ports)), strict=True))
        return cls(file, name, {**chosen, **variables})

    def port(self, service: str) -> int:
        """The host port `service` is published on."""
        return int(self.variables[PORT_VARIABLES[service]])

    @property
    def shell_command(self) -> str:
        """`docker compose` with the variables set, for pytest-docker: it runs
        `<this> -f <file> -p <name> <subcommand>` in a shell."""
        assignments = (f"{name}={shlex.quote(value)}" for name, value in self.variables.items())
        return " ".join([*assignments, "docker", "compose"])

    def run(self, *args: str, check: bool = True) -> str:
        """`docker compose ARGS` on this project; what it printed on stdout."""
        done = subprocess.run(
            ["docker", "compose", "-f", str(self.file), "-p", self.name, *args],
            env={**os.environ, **self.variables},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if check and done.returncode != 0:
            raise ComposeError(
                f"$ docker compose -p {self.name} {' '.join(args)}\n"
                f"exit code {done.returncode}\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def containers(self) -> list[Container]:
        """Every container of the project, running or not."""
        listed = self.run("ps", "--all", "--format", "json").strip()
        # One JSON object a line (Compose before 2.21: one JSON array).
        rows: list[dict[str, Any]] = (
            json.loads(listed)
            if listed.startswith("[")
            else [json.loads(line) for line in listed.splitlines()]
        )
        return [Container(row["Service"], row["State"], int(row["ExitCode"])) for row in rows]

    def remove_images(self) -> None:
        """Untag the images compose built for the project (`<name>-<service>`).
        `--no-prune` keeps their layers: the next run builds from that cache."""
        listed = _docker("image", "ls", "--filter", f"reference={self.name}-*",
                         "--format", "{{.Repository}}:{{.Tag}}")  # fmt: skip
        if images := listed.split():
            _docker("image", "rm", "--no-prune", *images)


def _docker(*args: str) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    return done.stdout
