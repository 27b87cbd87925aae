"""LocalStack: the whole stack as local processes, as `make run` starts it.

Most tests here run stand-in services (fake_service.py) against the session's
real NATS, PostgreSQL and SMTP servers, so that they test the stack's own
mechanics quickly; the last ones start the real services, and `make run`.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from devstack.cli import banner
from devstack.nats import NatsServer
from devstack.ports import free_port
from devstack.postgres import PostgresServer
from devstack.services import SERVICE_NAMES
from devstack.settings import SettingsError, StackSettings
from devstack.smtp import SmtpServer
from devstack.stack import LocalStack, StackError
from devstack.state import kept_secret, record_port, stable_port
from devstack.unprivileged import scratch_dir
from shippy_kit.health_probe import check

FAKE_SERVICE = Path(__file__).with_name("fake_service.py")


def write_program(path: Path, script: str) -> None:
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A bin directory where every service is the stand-in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in SERVICE_NAMES:
        write_program(
            bin_dir / name, f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SERVICE}" {name}\n'
        )
    return bin_dir


@pytest.fixture
def shared_servers(
    nats_server: NatsServer, postgres_server: PostgresServer, smtp_server: SmtpServer
) -> StackSettings:
    """Use the session's servers instead of starting new ones."""
    return StackSettings(
        nats_url=nats_server.url,
        database_url=postgres_server.url,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
    )


def test_a_missing_service_program_stops_the_start_before_anything_runs(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path / "var", bin_dir=tmp_path / "empty")

    with pytest.raises(StackError, match=r"vessel-service: no such program at .*make install"):
        stack.start()

    assert stack.nats is None
    assert stack.postgres is None
    assert not (tmp_path / "var").exists()


def test_an_unknown_service_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="unknown service 'shipping-service'"):
        LocalStack(tmp_path, services=["shipping-service"])


def test_each_service_gets_its_own_database_and_only_what_it_needs(
    tmp_path: Path, fake_bin: Path, shared_servers: StackSettings
) -> None:
    with LocalStack(
        tmp_path, shared_servers, bin_dir=fake_bin, env={"BCRYPT_ROUNDS": "4"}
    ) as stack:
        for name in SERVICE_NAMES:
            assert check(stack.address(name)) is None
        user_log = stack.log_text("user-service")
        email_log = stack.log_text("email-service")
        vessel_log = stack.log_text("vessel-service")

    assert "database shippy_user" in user_log
    assert "user-service has JWT_PRIVATE_KEY_FILE" in user_log
    assert "vessel-service has JWT_PUBLIC_KEYS_FILE" in vessel_log
    assert "user-service has BCRYPT_ROUNDS" in user_log
    assert "email-service has SMTP_PORT" in email_log
    assert "database shippy_vessel" in vessel_log
    assert "JWT_PRIVATE_KEY_FILE" not in vessel_log  # the signing key is user-service's alone


def test_extra_instances_start_and_can_be_killed(
    tmp_path: Path, fake_bin: Path, shared_servers: StackSettings
) -> None:
    with LocalStack(tmp_path, shared_servers, services=["user-service"], bin_dir=fake_bin) as stack:
        second = stack.start_service("user-service")
        stack.kill("user-service", 0)

        first = stack.instance("user-service", 0)
        assert first.returncode == -signal.SIGKILL
        assert second.running
        assert check(second.address) is None
        assert stack.exited() == []  # killed on purpose
    assert second.returncode == 0
    assert "user-service stopped" in stack.log_text("user-service")


def test_a_service_that_exits_at_start_fails_the_stack_with_its_last_lines(
    tmp_path: Path, fake_bin: Path, shared_servers: StackSettings
) -> None:
    write_program(
        fake_bin / "email-service",
        "#!/bin/sh\necho 'email-service: SMTP_PORT=0: must be from 1 to 65535' >&2\nexit 2\n",
    )
    stack = LocalStack(tmp_path, shared_servers, bin_dir=fake_bin)

    with pytest.raises(StackError, match="email-service exited with code 2") as failure:
        stack.start()

    assert "SMTP_PORT=0: must be from 1 to 65535" in str(failure.value)
    assert all(not i.running for name in SERVICE_NAMES for i in stack.instances(name))


def test_a_service_that_never_serves_times_out(
    tmp_path: Path, fake_bin: Path, shared_servers: StackSettings
) -> None:
    write_program(fake_bin / "vessel-service", "#!/bin/sh\necho 'stuck'\nexec sleep 600\n")
    stack = LocalStack(
        tmp_path, shared_servers, services=["vessel-service"], bin_dir=fake_bin, start_timeout=1
    )

    with pytest.raises(StackError, match="vessel-service did not report SERVING within 1s"):
        stack.start()

    assert not stack.instance("vessel-service").running


def test_a_port_is_kept_from_one_run_to_the_next(tmp_path: Path) -> None:
    record = tmp_path / "postgres.port"
    first = stable_port(record, preferred=0)
    record_port(record, first)

    assert stable_port(record, preferred=0) == first


def test_a_recorded_port_taken_meanwhile_is_replaced(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    record = tmp_path / "postgres.port"
    record_port(record, nats_server.port)

    assert stable_port(record, preferred=0) != nats_server.port


def test_the_jwt_secret_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "jwt-secret"
    secret = kept_secret(path)

    assert len(secret) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kept_secret(path) == secret


def test_settings_use_a_nats_that_answers(nats_server: NatsServer) -> None:
    settings = StackSettings.from_environ(
        {"NATS_URL": nats_server.url, "JWT_PRIVATE_KEY_FILE": "/keys/jwt.pem"}
    )

    assert settings.nats_url == nats_server.url
    assert settings.jwt_private_key_file == Path("/keys/jwt.pem")
    assert settings.jwt_public_keys_file is None
    assert settings.database_url is None
    assert settings.smtp_host is None


def test_settings_pass_the_transport_make_run_is_given(nats_server: NatsServer) -> None:
    default = StackSettings.from_environ({"NATS_URL": nats_server.url})
    on_nats = StackSettings.from_environ({"NATS_URL": nats_server.url, "MICRO_TRANSPORT": "nats"})

    assert default.transport == "grpc"
    assert on_nats.transport == "nats"


def test_settings_start_our_own_nats_where_none_answers() -> None:
    port = free_port()
    settings = StackSettings.from_environ({"NATS_URL": f"nats://127.0.0.1:{port}"})

    assert settings.nats_url is None
    assert settings.nats_port == port


PASSWORD = "s3cretpw"


def test_a_password_in_nats_url_is_neither_logged_nor_shown_in_the_banner(
    tmp_path: Path,
    fake_bin: Path,
    shared_servers: StackSettings,
    nats_server: NatsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """make run on a NATS given as nats://user:password@host:port (this NATS
    asks for no login, so it takes any)."""
    with_password = nats_server.url.replace("nats://", f"nats://shippy:{PASSWORD}@")
    settings = StackSettings.from_environ({"NATS_URL": with_password})
    with (
        caplog.at_level(logging.INFO, logger="devstack"),
        LocalStack(
            tmp_path,
            replace(shared_servers, nats_url=settings.nats_url),
            services=["user-service"],
            bin_dir=fake_bin,
        ) as stack,
    ):
        shown = banner(stack)

    assert stack.nats_url == with_password  # the services get it whole
    assert "nats://shippy:***@127.0.0.1:" in shown
    assert PASSWORD not in shown
    assert "NATS: using nats://shippy:***@" in caplog.text
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("NATS_URL", f"nats://shippy:{PASSWORD}@192.0.2.1:4222"),
        ("NATS_URL", f"nats://{PASSWORD}@192.0.2.1:4222"),  # a token
        ("RABBITMQ_URL", f"amqp://guest:{PASSWORD}@192.0.2.1:5672/"),
        ("MQTT_URL", f"mqtt://shippy:{PASSWORD}@192.0.2.1:1883"),
    ],
)
def test_a_url_that_does_not_answer_is_refused_without_its_password(name: str, url: str) -> None:
    plugin = {"RABBITMQ_URL": {"MICRO_BROKER": "rabbitmq"}, "MQTT_URL": {"MICRO_BROKER": "mqtt"}}
    environ = {"NATS_URL": "nats://127.0.0.1:4222", **plugin.get(name, {}), name: url}

    with pytest.raises(SettingsError) as refused:
        StackSettings.from_environ(environ)

    assert f"{name}=" in str(refused.value)
    assert "nothing answers at 192.0.2.1" in str(refused.value)
    assert PASSWORD not in str(refused.value)


# The real services, started exactly as `make run` starts them.


@pytest.fixture
def var_dir(tmp_path: Path) -> Iterator[Path]:
    """A var directory that PostgreSQL can use even when the tests run as root."""
    with scratch_dir(tmp_path, "var-") as path:
        yield path


def test_the_real_services_start_and_each_owns_a_database(var_dir: Path) -> None:
    with LocalStack(var_dir, env={"BCRYPT_ROUNDS": "4"}) as stack:
        assert [check(stack.address(name)) for name in SERVICE_NAMES] == [None] * 4
        assert stack.postgres is not None
        with psycopg.connect(stack.database_url("vessel-service")) as conn:
            vessels = conn.execute("SELECT count(*) FROM vessels").fetchone()
        assert stack.postgres.password in stack.database_url("vessel-service")
        processes = [i.process for name in SERVICE_NAMES for i in stack.instances(name)]
        postgres = stack.postgres.process

    assert vessels is not None
    assert vessels[0] >= 1  # the seeded fleet
    assert all(p is not None and p.returncode == 0 for p in processes)  # stopped cleanly
    assert postgres is not None
    assert postgres.returncode is not None


def test_make_run_starts_everything_and_stops_it_all_on_sigint(var_dir: Path) -> None:
    env = {**os.environ, "NATS_URL": f"nats://127.0.0.1:{free_port()}", "BCRYPT_ROUNDS": "4"}
    env.pop("DATABASE_URL", None)
    env.pop("SMTP_HOST", None)
    run = subprocess.Popen(
        [sys.executable, "-m", "devstack", "run", "--var-dir", str(var_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 90
    for line in run.stdout:
        output.append(line)
        if "Ctrl-C stops everything" in line or time.monotonic() > deadline:
            break
    run.send_signal(signal.SIGINT)
    output += run.stdout.readlines()
    code = run.wait(60)
    text = "".join(output)

    assert "Shippy is running" in text, text
    assert "user-cli create" in text
    assert code == 0, text
    assert "devstack: stopped" in text
    assert (var_dir / "postgres.port").exists()
    assert stat.S_IMODE((var_dir / "jwt-private.pem").stat().st_mode) == 0o600
    assert "development keys, made now" in text
    password = (var_dir / "postgres-password").read_text().strip()
    assert stat.S_IMODE((var_dir / "postgres-password").stat().st_mode) == 0o600
    assert "postgresql://postgres:***@127.0.0.1:" in text  # the banner hides the password
    assert password not in text
    assert not (var_dir / "postgres" / "postmaster.pid").exists()  # shut down cleanly


def test_make_run_stops_everything_when_a_service_ends_by_itself(
    fake_bin: Path, tmp_path: Path, postgres_server: PostgresServer, smtp_server: SmtpServer
) -> None:
    write_program(
        fake_bin / "vessel-service",
        f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SERVICE}" vessel-service --exit-after 3\n',
    )
    env = {
        **os.environ,
        "NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "DATABASE_URL": postgres_server.url,
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
    }
    command = ["run", "--var-dir", str(tmp_path / "var"), "--bin-dir", str(fake_bin)]
    run = subprocess.run(
        [sys.executable, "-m", "devstack", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )

    assert run.returncode == 1, run.stdout
    assert "vessel-service crashed" in run.stdout
    assert "user-service stopped" in run.stdout  # the others were stopped in order


def test_devstack_explains_its_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "--help"], capture_output=True, text=True, check=True
    )

    assert "run " in result.stdout
    assert "start NATS, PostgreSQL, an SMTP server and every service" in result.stdout
