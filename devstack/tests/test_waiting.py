"""`wait_until`: devstack's one way to wait on a condition with a deadline."""

from __future__ import annotations

import itertools
import time

import pytest
from devstack.waiting import wait_until


def test_returns_the_first_truthy_result() -> None:
    looks = itertools.count(1)

    assert wait_until(lambda: next(looks) >= 3 and "ready", 5.0, waiting_for="3 looks") == "ready"
    assert next(looks) == 4


def test_gives_up_at_its_deadline_saying_what_it_waited_for() -> None:
    started = time.monotonic()

    with pytest.raises(TimeoutError, match=r"still waiting for the mail after 0\.2s"):
        wait_until(lambda: None, 0.2, waiting_for="the mail")

    assert 0.2 <= time.monotonic() - started < 2.0


def test_what_the_condition_raises_ends_the_wait_at_once() -> None:
    def exited() -> bool:
        raise RuntimeError("the server exited")

    with pytest.raises(RuntimeError, match="the server exited"):
        wait_until(exited, 60.0, waiting_for="the server")
