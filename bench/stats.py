"""Percentiles, per-round ratios, the Markdown table the benchmarks print,
and how long each part took."""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

T = TypeVar("T")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index]


@dataclass
class Result:
    """One row: a value per round (a throughput unless `unit` says otherwise)
    and the latencies of every round.

    Its ratio is to the row of its benchmark marked `reference`: of the
    values, round by round (the median of those ratios, and their spread),
    or with `compare="p99"` of the 99th percentiles."""

    benchmark: str
    variant: str
    reference: bool = False
    unit: Literal["/s", "MiB", "s"] = "/s"
    compare: Literal["value", "p99"] = "value"
    values: list[float] = field(default_factory=list)
    latencies_us: list[float] = field(default_factory=list)

    def add(self, count: int, seconds: float, latencies_us: list[float]) -> None:
        """A round: `count` done in `seconds` (none: a latency-only stream)."""
        if count:
            self.values.append(count / seconds)
        self.latencies_us += latencies_us

    def add_value(self, value: float) -> None:
        self.values.append(value)

    @property
    def value(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def throughput(self) -> float:
        return self.value

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies_us), q)

    def shown_value(self) -> str:
        if not self.values:
            return ""
        if self.unit == "/s":
            return f"{self.value:,.0f}/s" if self.value >= 100 else f"{self.value:,.2f}/s"
        return f"{self.value:,.1f} {self.unit}" if self.unit == "MiB" else f"{self.value:.2f} s"


def ratios(row: Result, reference: Result) -> list[float]:
    """Round by round: this row's value over the reference's."""
    return [v / r for v, r in zip(row.values, reference.values, strict=False) if r]


def shown_ratio(row: Result, reference: Result | None) -> tuple[str, str]:
    """The ratio to the reference and its spread over the rounds ("" without one)."""
    if reference is None:
        return "", ""
    if row.compare == "p99":
        ref_p99 = reference.p(0.99)
        return (f"{row.p(0.99) / ref_p99:.2f}x p99" if ref_p99 else ""), ""
    each = ratios(row, reference)
    if not each:
        return "", ""
    spread = f"{min(each):.2f} to {max(each):.2f}" if len(each) > 1 else ""
    return f"{statistics.median(each):.2f}", spread


def _micros(value: float) -> str:
    return "" if value != value else f"{value:,.0f}"  # NaN: no latencies


def table(results: list[Result]) -> str:
    lines = [
        "| benchmark | variant | value | p50 (µs) | p99 (µs) | ratio to reference "
        "| ratio over rounds |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    reference = {r.benchmark: r for r in results if r.reference}
    for r in results:
        ratio, spread = shown_ratio(r, reference.get(r.benchmark))
        lines.append(
            f"| {r.benchmark} | {r.variant} | {r.shown_value()} | {_micros(r.p(0.5))} "
            f"| {_micros(r.p(0.99))} | {ratio} | {spread} |"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def timed(rows: str) -> Iterator[None]:
    """Says on stderr how long a family of rows took (the whole run should take under 5 minutes)."""
    t0 = time.monotonic()
    yield
    print(f"bench: {rows} rows: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)


def in_turn(variants: Sequence[T], round: int) -> Sequence[T]:
    """The variants in the order round `round` (from 0) runs them: as given,
    then reversed (A B C, C B A, A B C, ...), so that none always runs first,
    or always right after the same other."""
    return variants if round % 2 == 0 else variants[::-1]
