"""Processes a killed run left behind are stopped by the next run."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.leftovers import forget, remember, stop_leftovers


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "600"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_recorded_process_that_still_runs_is_stopped(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    remember(tmp_path, "vessel-service", sleeper.pid)

    stopped = stop_leftovers(tmp_path)

    assert stopped == ["vessel-service"]
    assert sleeper.wait(5) == -15  # SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_a_forgotten_process_is_left_alone(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    forget(remember(tmp_path, "vessel-service", sleeper.pid))

    assert stop_leftovers(tmp_path) == []
    assert sleeper.poll() is None


def test_a_pid_now_used_by_another_process_is_never_signalled(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    record = remember(tmp_path, "user-service", sleeper.pid)
    record.write_text(f"{sleeper.pid} 1\n")  # started at another time: not ours

    assert stop_leftovers(tmp_path) == []
    assert sleeper.poll() is None
    assert not record.exists()
