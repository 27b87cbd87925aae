"""The real servers devstack starts: PostgreSQL and SMTP, and their fixtures."""

from __future__ import annotations

import signal
import smtplib
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import psycopg
import pytest
from devstack.postgres import PostgresError, PostgresServer
from devstack.processes import alive
from devstack.smtp import SmtpServer
from devstack.unprivileged import scratch_dir

TRUSTING_PG_HBA = """\
# Written by devstack: trust, on the loopback interface only.
local   all          all                   trust
host    all          all   127.0.0.1/32    trust
local   replication  all                   trust
host    replication  all   127.0.0.1/32    trust
"""
"""The pg_hba.conf that devstack wrote before PostgreSQL asked for a password."""


def test_database_url_is_a_fresh_empty_database(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        conn.execute("CREATE TABLE users (email text PRIMARY KEY)")
        conn.execute("INSERT INTO users VALUES ('ada@example.com')")

    assert name is not None
    assert name[0].startswith("t_")
    assert tables == (0,)


def test_server_speaks_utf8_and_listens_only_on_the_loopback(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        encoding = conn.execute("SHOW server_encoding").fetchone()
        listening = conn.execute("SHOW listen_addresses").fetchone()

    assert encoding == ("UTF8",)
    assert listening == ("127.0.0.1",)


@pytest.fixture
def no_stored_passwords(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """libpq finds no password but the one in the URL (no PGPASSWORD, no .pgpass)."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))


def refuses_without_password(server: PostgresServer) -> bool:
    """Whether a connection without the password, over TCP and over the socket
    in the data directory (where its path is short enough for one), is
    refused for want of one."""
    attempts = [{"host": "127.0.0.1"}]
    if (server.data_dir / f".s.PGSQL.{server.port}").exists():
        attempts.append({"host": str(server.data_dir)})
    for where in attempts:
        try:
            psycopg.connect(user="postgres", dbname="postgres", port=server.port, **where).close()
        except psycopg.OperationalError as error:
            if "password" not in str(error):
                raise
        else:
            return False
    return True


@pytest.mark.usefixtures("no_stored_passwords")
def test_the_server_asks_for_the_password_kept_beside_its_data(data_dir: Path) -> None:
    password_file = data_dir.with_name(f"{data_dir.name}-password")

    with PostgresServer(data_dir, durable=False) as server:
        refused = refuses_without_password(server)
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        first_password = server.password
    with PostgresServer(data_dir, durable=False) as again, psycopg.connect(again.url):
        reused = again.password == first_password

    assert refused
    assert password_file.read_text().strip() == first_password
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert reused
    assert server.url == f"postgresql://postgres:{first_password}@127.0.0.1:{server.port}/postgres"
    assert server.shown_url == f"postgresql://postgres:***@127.0.0.1:{server.port}/postgres"
    assert "trust" not in (data_dir / "pg_hba.conf").read_text()


@pytest.mark.usefixtures("no_stored_passwords")
def test_a_data_directory_made_without_a_password_gets_one(data_dir: Path) -> None:
    """As an earlier `make run` left var/postgres: trust, no password, no password file."""
    with PostgresServer(data_dir, durable=False) as before, psycopg.connect(before.url) as conn:
        conn.execute("CREATE TABLE vessels (name text)")
        conn.execute("INSERT INTO vessels VALUES ('Boaty McBoatface')")
        conn.execute("ALTER ROLE postgres PASSWORD NULL")
        conn.commit()
    (data_dir / "pg_hba.conf").write_text(TRUSTING_PG_HBA)
    data_dir.with_name(f"{data_dir.name}-password").unlink()

    with PostgresServer(data_dir, durable=False) as server, psycopg.connect(server.url) as conn:
        rows = conn.execute("SELECT name FROM vessels").fetchall()
        refused = refuses_without_password(server)

    assert rows == [("Boaty McBoatface",)]  # the data is kept
    assert refused
    assert "trust" not in (data_dir / "pg_hba.conf").read_text()


def test_a_wrong_kept_password_is_an_error_that_says_what_to_do(data_dir: Path) -> None:
    password_file = data_dir.with_name(f"{data_dir.name}-password")
    PostgresServer(data_dir, durable=False).start().stop()
    password_file.write_text("not-the-password\n")

    with pytest.raises(PostgresError, match=r"refuses the password in .*make clean"):
        PostgresServer(data_dir, durable=False).start()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    with scratch_dir(tmp_path, "pgdata-") as path:
        yield path


def test_postgres_data_survives_a_restart(data_dir: Path) -> None:
    with PostgresServer(data_dir, durable=False) as first, psycopg.connect(first.url) as conn:
        conn.execute("CREATE TABLE vessels (name text)")
        conn.execute("INSERT INTO vessels VALUES ('Boaty McBoatface')")
        conn.commit()

    with PostgresServer(data_dir, durable=False) as second, psycopg.connect(second.url) as conn:
        rows = conn.execute("SELECT name FROM vessels").fetchall()

    assert rows == [("Boaty McBoatface",)]


def test_postgres_starts_after_a_killed_run(data_dir: Path) -> None:
    killed = PostgresServer(data_dir, durable=False).start()
    assert killed.process is not None
    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait()
    assert (data_dir / "postmaster.pid").exists()  # left behind

    with PostgresServer(data_dir, durable=False) as server, psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_postgres_shuts_down_the_orphan_of_a_killed_run(data_dir: Path) -> None:
    """A run killed with SIGKILL leaves its PostgreSQL running: the next start
    stops that orphan and takes the data directory over."""
    killed_run = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from devstack.postgres import PostgresError, PostgresServer
        server = PostgresServer(Path({str(data_dir)!r}), durable=False).start()
        print(server.process.pid, flush=True)
        os._exit(0)  # as if killed: no stop()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", killed_run], capture_output=True, text=True, check=True
    )
    orphan = int(result.stdout)

    with PostgresServer(data_dir, durable=False) as server, psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert alive(orphan) is None  # gone, or a zombie waiting for init to reap it


def test_postgres_refuses_a_data_directory_in_use(data_dir: Path) -> None:
    with PostgresServer(data_dir, durable=False) as running:
        with pytest.raises(RuntimeError, match=r"already running on .*kill -INT"):
            PostgresServer(data_dir, durable=False).start()
        assert running.process is not None
        assert running.process.poll() is None


def test_postgres_refuses_a_directory_that_holds_something_else(data_dir: Path) -> None:
    (data_dir / "notes.txt").write_text("not a database")

    with pytest.raises(RuntimeError, match="neither empty nor a PostgreSQL data directory"):
        PostgresServer(data_dir).start()


def welcome(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Shippy <welcome@shippy.local>"
    message["To"] = to
    message["Subject"] = "Welcome to Shippy"
    message.set_content("Your account is ready.")
    return message


def test_smtp_server_keeps_each_message_as_an_eml_file(smtp_server: SmtpServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.send_message(welcome("ada@example.com"))
        client.send_message(welcome("grace@example.com"))

    received = smtp_server.wait_for_message(lambda m: m["To"] == "grace@example.com")

    assert received["Subject"] == "Welcome to Shippy"
    assert received.get_content().strip() == "Your account is ready."
    files = smtp_server.paths()
    assert all(path.suffix == ".eml" for path in files)
    assert [m["To"] for m in smtp_server.messages()][-2:] == [
        "ada@example.com",
        "grace@example.com",
    ]
    assert not list(smtp_server.mail_dir.glob(".*"))  # no half-written leftovers


def test_wait_for_message_gives_up_at_its_deadline(smtp_server: SmtpServer) -> None:
    with pytest.raises(TimeoutError, match="no matching mail"):
        smtp_server.wait_for_message(lambda m: m["To"] == "nobody@example.com", timeout=0.2)
