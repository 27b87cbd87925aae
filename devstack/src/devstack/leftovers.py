"""Processes that a killed run left behind.

The stack starts its processes in their own sessions (so that Ctrl-C reaches
only the stack, which stops them in order). If the stack itself is killed
with SIGKILL, they keep running. So each one is recorded in `<var>/run/` while
it runs, and the next run stops what is still recorded before it starts.

A record holds the pid and the process's start time, so a pid that the system
has since given to an unrelated process is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def remember(run_dir: Path, label: str, pid: int) -> Path:
    """Record a process we started; `forget` it once it has ended."""
    run_dir.mkdir(parents=True, exist_ok=True)
    record = run_dir / f"{label}.pid"
    record.write_text(f"{pid} {_start_time(pid)}\n")
    return record


def forget(record: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        record.unlink()


def stop_leftovers(run_dir: Path, timeout: float = 15.0) -> list[str]:
    """SIGTERM every recorded process that still runs (SIGKILL after
    `timeout`), newest first, forget every record, and return the labels of
    those stopped."""
    stopped = []
    newest_first = sorted(run_dir.glob("*.pid"), key=lambda r: r.stat().st_mtime_ns, reverse=True)
    for record in newest_first:  # services before the NATS they started after
        try:
            pid_text, started = record.read_text().split()
            pid = int(pid_text)
        except ValueError:
            forget(record)
            continue
        if _start_time(pid) == started:
            _end(pid, timeout)
            stopped.append(record.stem)
        forget(record)
    return stopped


def _end(pid: int, timeout: float) -> None:
    for sig, grace in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while _start_time(pid) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if _start_time(pid) is None:
            return


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), None once it has
    ended (a zombie counts as ended) or where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    state, start_time = fields[0], fields[19]  # fields 3 and 22 of proc(5)
    return None if state in {"Z", "X"} else start_time
