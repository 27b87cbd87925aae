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
import signal
from pathlib import Path

from devstack.processes import end, started_at

SAME_START = 1.0
"""Seconds two start times of one pid may differ by and still name one process:
the system clock, which start times are given in, may have been adjusted."""


def remember(run_dir: Path, label: str, pid: int) -> Path:
    """Record a process we started; `forget` it once it has ended."""
    run_dir.mkdir(parents=True, exist_ok=True)
    record = run_dir / f"{label}.pid"
    record.write_text(f"{pid} {started_at(pid)!r}\n")
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
            pid_text, started_text = record.read_text().split()
            pid, started = int(pid_text), float(started_text)
        except ValueError:
            forget(record)
            continue
        now = started_at(pid)
        if now is not None and abs(now - started) < SAME_START:
            end(pid, [(signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)])
            stopped.append(record.stem)
        forget(record)
    return stopped
