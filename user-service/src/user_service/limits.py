"""Login attempts limited per email and per client address, with token buckets.

Each key (an email, an address) has a bucket of `burst` attempts that refills
at `per_minute` attempts a minute; an attempt takes one from both of its
buckets, or, if either is empty, from neither and is refused, with the
seconds until both have one again. `Auth` asks before any bcrypt work, so a
refused attempt costs almost nothing.

The buckets live in this process: with N instances of user-service a client
gets up to N times the rate. A bucket left alone long enough to be full again
is forgotten, so memory follows the number of keys used recently.

Written here rather than taken from PyPI: `limits` and `pyrate-limiter` keep
windows or leaky buckets behind storage backends and read the wall clock,
`aiolimiter` makes callers wait instead of refusing them; this is 80 lines
with a clock the tests set.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

Clock = Callable[[], float]
"""Seconds, only ever compared: `time.monotonic` unless a test sets one."""

IPV6_PREFIX = 64
"""An IPv6 client usually holds a whole /64: its addresses share one bucket."""


@dataclass(frozen=True)
class Rate:
    per_minute: float
    """Attempts given back a minute."""
    burst: int
    """Attempts a full bucket holds: how many may come at once."""

    @property
    def per_second(self) -> float:
        return self.per_minute / 60


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One token bucket per key, all with the same rate."""

    def __init__(self, rate: Rate, clock: Clock = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first
        self._forget_after = rate.burst / rate.per_second
        """Seconds after which an untouched bucket is full, whatever it held."""

    def wait(self, key: str) -> float:
        """Seconds until `key` has an attempt left: 0 if it has one now."""
        tokens = self._tokens(key, self._clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate.per_second

    def take(self, key: str) -> None:
        """Spends one of `key`'s attempts (the caller has checked `wait`)."""
        now = self._clock()
        self._buckets[key] = _Bucket(self._tokens(key, now) - 1, now)
        self._buckets.move_to_end(key)
        self._forget_full(now)

    def _tokens(self, key: str, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(self._rate.burst)
        refilled = bucket.tokens + (now - bucket.updated) * self._rate.per_second
        return min(float(self._rate.burst), refilled)

    def _forget_full(self, now: float) -> None:
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if now - oldest.updated < self._forget_after:
                return
            del self._buckets[key]


class LoginLimits:
    """The buckets of `Auth`: one per email and one per client address."""

    def __init__(self, per_email: Rate, per_address: Rate, clock: Clock = time.monotonic) -> None:
        self._emails = TokenBuckets(per_email, clock)
        self._addresses = TokenBuckets(per_address, clock)

    def attempt(self, email: str, address: str) -> int:
        """Takes an attempt for `email` from `address` and returns 0, or takes
        none and returns the whole seconds to wait before trying again."""
        wait = max(self._emails.wait(email), self._addresses.wait(address))
        if wait > 0:
            return max(1, math.ceil(wait))
        self._emails.take(email)
        self._addresses.take(address)
        return 0


def client_address(peer: str) -> str:
    """The caller's address in gRPC's peer string, without the port (new per
    connection): "ipv4:10.0.0.7:51234" gives "10.0.0.7", an IPv6 peer its /64.
    Behind a proxy every caller has the proxy's address."""
    kind, _, rest = unquote(peer).partition(":")
    host = rest.rpartition(":")[0].strip("[]")
    try:
        if kind == "ipv4":
            return str(ipaddress.IPv4Address(host))
        if kind == "ipv6":
            address = ipaddress.IPv6Address(host.partition("%")[0])
            return str(ipaddress.IPv6Network(f"{address}/{IPV6_PREFIX}", strict=False))
    except ValueError:
        pass
    return peer
