"""docker-compose.yml, the code and docs/configuration.md agree on each service's
environment variables.

What a service reads is taken from the code itself (devstack.service_env):
its configuration readers run on the environment docker-compose.yml gives
it, through a mapping that notes every variable looked up. So the compose
file sets no variable the service never reads, gives it every variable it requires (or it would not start), and
the tables of docs/configuration.md list exactly what it reads. The servers'
own variables (POSTGRES_* of the postgres image) are not the code's, and not
checked. No Docker needed: the compose file is read as YAML.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from devstack.service_env import start_error, variables_read

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
"""`${NAME}`, `${NAME:-default}`, `${NAME-default}` in a compose file."""
VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]+)`")
"""A variable's name in the doc's tables, as `NAME`."""


def compose_services() -> dict[str, dict[str, Any]]:
    """Shippy's services in docker-compose.yml (those built from docker/service.Dockerfile),
    with YAML anchors and merge keys resolved."""
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return {
        name: spec
        for name, spec in services.items()
        if "SERVICE" in spec.get("build", {}).get("args", {})
    }


def compose_environment(service: str) -> dict[str, str]:
    """The environment docker-compose.yml gives `service`, each `${...}` at its default."""
    environment = compose_services()[service].get("environment", {})
    if isinstance(environment, list):  # the other spelling: ["NAME=value", ...]
        environment = dict(item.partition("=")[::2] for item in environment)
    return {
        name: INTERPOLATION.sub(lambda m: m.group(2) or "", str(value))
        for name, value in environment.items()
    }


def documented_variables(service: str) -> set[str]:
    """The variables docs/configuration.md lists for `service`: the micro core's
    table (every service) and the rows of the per-service table that name it."""
    documented: set[str] = set()
    section = ""
    for line in CONFIGURATION_DOC.read_text().splitlines():
        if line.startswith("## "):
            section = line.removeprefix("## ")
        elif line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if section.startswith("Every service"):
                documented |= set(VARIABLE.findall(cells[0]))
            elif section == "Per service" and cells[0] in (service, "all four"):
                documented |= set(VARIABLE.findall(cells[1]))
    return documented


SERVICES = sorted(compose_services())


def test_the_compose_file_runs_the_four_services() -> None:
    assert SERVICES == ["consignment-service", "email-service", "user-service", "vessel-service"]


@pytest.mark.parametrize("service", SERVICES)
def test_compose_gives_each_service_every_variable_it_requires(service: str) -> None:
    environment = compose_environment(service)

    assert start_error(service, environment) is None, f"{service} would not start under compose"


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_no_variable_the_service_never_reads(service: str) -> None:
    environment = compose_environment(service)

    never_read = set(environment) - variables_read(service, environment)

    assert never_read == set(), (
        f"docker-compose.yml sets them for {service}, which never reads them"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_the_configuration_doc_lists_what_each_service_reads(service: str) -> None:
    read = variables_read(service, compose_environment(service))

    documented = documented_variables(service)

    assert sorted(read - documented) == [], (
        f"{service} reads them; {CONFIGURATION_DOC.name} lacks them"
    )
    assert sorted(documented - read) == [], (
        f"{CONFIGURATION_DOC.name} lists them; {service} never reads them"
    )


def test_a_variable_the_code_never_reads_would_be_found() -> None:
    """The control for the tests above: the recording sees what is read, and only that."""
    environment = {**compose_environment("vessel-service"), "SMTP_HOST": "maildev"}

    never_read = set(environment) - variables_read("vessel-service", environment)

    assert never_read == {"SMTP_HOST"}


def test_compose_has_no_default_signing_secret() -> None:
    """Issue 8: `docker compose up` without JWT_SECRET ran with a guessable
    default secret. Now the private key is a file from the host that compose
    requires (`${NAME:?...}`: no default, it refuses to start without it)."""
    user_service = compose_services()["user-service"]
    private_key_sources = [
        str(volume).rsplit(":", 2)[0]
        for volume in user_service.get("volumes", [])
        if str(volume).endswith(":/run/shippy/jwt-private.pem:ro")
    ]

    assert "JWT_SECRET" not in COMPOSE_FILE.read_text()
    assert len(private_key_sources) == 1
    assert private_key_sources[0].startswith("${SHIPPY_JWT_PRIVATE_KEY:?")
    assert all(
        "JWT_PRIVATE_KEY_FILE" not in compose_environment(name)
        for name in compose_services()
        if name != "user-service"
    )
