"""Processes this run did not start, known by pid: a killed run's services, an
orphaned PostgreSQL. Told apart and ended through psutil, so that a pid the
system has given to another process since is never taken for ours."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import psutil

from devstack.waiting import wait_until


def alive(pid: int) -> psutil.Process | None:
    """The process `pid` while it runs; None once it has ended (a zombie has)."""
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except psutil.NoSuchProcess:
        return None


def started_at(pid: int) -> float | None:
    """When `pid` started (seconds since the epoch): with the pid, it names
    one process for good. None once it has ended."""
    process = alive(pid)
    if process is None:
        return None
    with contextlib.suppress(psutil.NoSuchProcess):
        return process.create_time()
    return None


def command_line(pid: int) -> list[str]:
    """The arguments `pid` runs with; [] once it has ended or if it is not ours to see."""
    process = alive(pid)
    if process is None:
        return []
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def end(pid: int, steps: Sequence[tuple[signal.Signals, float]]) -> bool:
    """Send each signal in turn, waiting up to its grace (seconds) for `pid` to
    end before the next; True once it has ended."""
    for sig, grace in steps:
        process = alive(pid)
        if process is None:
            return True
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(sig)
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: alive(pid) is None, grace, waiting_for=f"process {pid} to end")
            return True
    return alive(pid) is None


def spawn(argv: Sequence[str], log_file: Path | None) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own (Ctrl-C reaches us only; we stop
    it after the services), its output appended to `log_file` or dropped."""
    log = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    finally:
        if not isinstance(log, int):
            log.close()  # the child has its own copy


def check_running(
    process: subprocess.Popen[bytes] | None, what: str, log_file: Path | None
) -> None:
    """RuntimeError when `process` (a server still starting) has exited."""
    if process is not None and process.poll() is not None:
        where = f"; see {log_file}" if log_file else ""
        raise RuntimeError(f"{what} exited with code {process.returncode} while starting{where}")


def kill(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL: the server gets no chance to flush or say goodbye."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait()


def stop(process: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
