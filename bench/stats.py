"""Percentiles and the Markdown table the benchmarks print."""

from __future__ import annotations

from dataclasses import dataclass


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index]


@dataclass
class Result:
    benchmark: str
    variant: str
    reference: bool
    count: int = 0
    seconds: float = 0.0
    latencies_us: list[float] | None = None

    def add(self, count: int, seconds: float, latencies_us: list[float]) -> None:
        self.count += count
        self.seconds += seconds
        self.latencies_us = (self.latencies_us or []) + latencies_us

    @property
    def throughput(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies_us or []), q)


def table(results: list[Result]) -> str:
    lines = [
        "| benchmark | variant | throughput (/s) | p50 (µs) | p99 (µs) | ratio to reference |",
        "|---|---|---:|---:|---:|---:|",
    ]
    reference = {r.benchmark: r for r in results if r.reference}
    for r in results:
        ref = reference[r.benchmark]
        ratio = r.throughput / ref.throughput if ref.throughput else float("nan")
        lines.append(
            f"| {r.benchmark} | {r.variant} | {r.throughput:,.0f} | {r.p(0.5):,.0f} "
            f"| {r.p(0.99):,.0f} | {ratio:.2f} |"
        )
    return "\n".join(lines)
