"""The real servers devstack starts: PostgreSQL and SMTP, and their fixtures."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import psycopg
import pytest
from devstack.postgres import PostgresServer
from devstack.processes import alive
from devstack.smtp import SmtpServer
from devstack.unprivileged import scratch_dir


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


def test_server_speaks_utf8_and_trusts_only_the_loopback(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        encoding = conn.execute("SHOW server_encoding").fetchone()
        listening = conn.execute("SHOW listen_addresses").fetchone()

    assert encoding == ("UTF8",)
    assert listening == ("127.0.0.1",)


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
        from devstack.postgres import PostgresServer
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
