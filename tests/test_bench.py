"""`make bench` works: each benchmark runs once at a tiny size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_prints_one_row_per_variant() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "µs" not in line]
    variants = {row.split("|")[2].strip() for row in rows}
    assert variants == {
        "raw grpc.aio, fixed address",
        "micro client by name",
        "raw nats-py",
        "typed Publisher → Subscriber",
    }
    assert len(rows) == 6
