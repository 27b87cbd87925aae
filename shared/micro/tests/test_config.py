"""The core's options from environment variables: good values, and bad ones named."""

from __future__ import annotations

import pytest
from micro.config import ConfigError, Options


def test_micro_selector_names_the_strategy() -> None:
    options = Options.from_env({"MICRO_SELECTOR": "least_outstanding"})

    assert options.selector == "least_outstanding"
    with pytest.raises(
        ConfigError,
        match=r"^MICRO_SELECTOR='fastest': must be one of round_robin, random, least_outstanding$",
    ):
        Options.from_env({"MICRO_SELECTOR": "fastest"})


def test_micro_metadata_is_key_value_pairs() -> None:
    options = Options.from_env({"MICRO_METADATA": "track=canary, zone = eu-west ,"})

    assert options.metadata == {"track": "canary", "zone": "eu-west"}
    assert Options.from_env({}).metadata == {}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("track", "'track' is not key=value"),
        ("=canary", "'=canary' is not key=value"),
        ("track=canary,version=2", "'version' is set by the service itself"),
    ],
)
def test_bad_micro_metadata_names_the_variable_and_the_item(value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Options.from_env({"MICRO_METADATA": value})

    assert str(caught.value) == f"MICRO_METADATA={value!r}: {reason}"


def test_micro_jetstream_max_in_flight_is_at_least_one() -> None:
    options = Options.from_env({"MICRO_JETSTREAM_MAX_IN_FLIGHT": "4"})

    assert options.jetstream.max_in_flight == 4
    assert Options.from_env({}).jetstream.max_in_flight == 16
    with pytest.raises(
        ConfigError, match=r"^MICRO_JETSTREAM_MAX_IN_FLIGHT='0': must be at least 1$"
    ):
        Options.from_env({"MICRO_JETSTREAM_MAX_IN_FLIGHT": "0"})
