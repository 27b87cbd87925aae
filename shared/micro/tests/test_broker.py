"""The broker contract, run on every broker of the core.

`BrokerContract` (from `micro.testing`, as plugins use it) holds the tests;
each `Test...Broker` class below runs them against one implementation (NATS
and JetStream against a real nats-server), and adds tests of its own.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from micro.broker import Broker, Message
from micro.broker.jetstream import JetStreamBroker, stream_name
from micro.broker.memory import MemoryBroker, topic_matches
from micro.broker.nats import NatsBroker
from micro.errors import Unavailable
from micro.nats_client import FastHeaderClient
from micro.testing import AtLeastOnceContract, BrokerContract
from micro.testing.broker_contract import Inbox, flush, real_messages, unique_topic
from nats.aio.client import Client as NatsPyClient


class TestMemoryBroker(BrokerContract):
    @pytest.fixture
    def unconnected(self) -> Broker:
        return MemoryBroker()

    @pytest.mark.parametrize(
        ("pattern", "topic", "matches"),
        [
            ("user.created", "user.created", True),
            ("user.*", "user.created", True),
            ("user.*", "user.created.v2", False),
            ("user.>", "user.created.v2", True),
            ("user.>", "user", False),
            ("*.created", "vessel.created", True),
            ("user.created", "user.deleted", False),
        ],
    )
    def test_topics_match_like_nats_subjects(self, pattern: str, topic: str, matches: bool) -> None:
        assert topic_matches(pattern, topic) is matches


class TestNatsBroker(BrokerContract):
    @pytest.fixture
    def unconnected(self, nats_url: str) -> Broker:
        return NatsBroker(nats_url)

    async def test_one_subscription_handles_messages_in_order(self, broker: Broker) -> None:
        topic, inbox = unique_topic(), Inbox()
        await broker.subscribe(topic, inbox)
        sent = [b"%d" % n for n in range(200)]

        for data in sent:
            await broker.publish(topic, data)

        await inbox.wait_until_received(len(sent))
        assert inbox.data == sent

    async def test_max_in_flight_runs_handlers_of_one_subscription_at_once(
        self, nats_url: str
    ) -> None:
        broker, topic, inbox = NatsBroker(nats_url, max_in_flight=2), unique_topic(), Inbox()
        both_running = asyncio.Barrier(2)

        async def meet_the_other(message: Message) -> None:
            await both_running.wait()  # would time out if handlers ran one at a time
            await inbox(message)

        await broker.connect()
        try:
            await broker.subscribe(topic, meet_the_other)
            await broker.publish(topic, b"one")
            await broker.publish(topic, b"two")
            await inbox.wait_until_received(2)
        finally:
            await broker.disconnect()
        assert sorted(inbox.data) == [b"one", b"two"]

    @settings(deadline=None)
    @given(
        lines=st.lists(
            st.tuples(
                st.binary(max_size=8) | st.sampled_from([b"Micro-Id", b" a b ", b"\x1c", b"\xff"]),
                st.sampled_from([b":", b": ", b""]),
                st.binary(max_size=8) | st.sampled_from([b" value ", b"\xff"]),
            )
        )
    )
    def test_headers_are_parsed_as_nats_py_parses_them(
        self, lines: list[tuple[bytes, bytes, bytes]]
    ) -> None:
        raw = b"".join(name + colon + value + b"\r\n" for name, colon, value in lines) + b"\r\n"

        parsed = FastHeaderClient._parse_header_lines(raw)

        assert parsed == NatsPyClient._parse_header_lines(raw)

    async def test_connecting_to_no_server_is_unavailable(self) -> None:
        broker = NatsBroker("nats://127.0.0.1:1")
        with pytest.raises(Unavailable, match=r"cannot connect to NATS at nats://127\.0\.0\.1:1"):
            await broker.connect()


class TestJetStreamBroker(AtLeastOnceContract):
    @pytest.fixture
    def unconnected(self, nats_url: str) -> Broker:
        return JetStreamBroker(nats_url)

    async def test_a_queue_group_gets_what_was_published_before_it_subscribed(
        self, broker: Broker
    ) -> None:
        topic, inbox = unique_topic(), Inbox()
        await broker.publish(topic, b"early")

        await broker.subscribe(topic, inbox, queue="late-comers")

        await inbox.wait_until_received(1)
        assert inbox.data == [b"early"]

    async def test_an_event_published_twice_is_delivered_once(self, broker: Broker) -> None:
        topic, inbox = unique_topic(), Inbox()
        await broker.subscribe(topic, inbox, queue="mailers")

        await broker.publish(topic, b"welcome", {"Micro-Id": "42"})
        await broker.publish(topic, b"welcome", {"Micro-Id": "42"})  # the stream drops it
        await flush(lambda data: broker.publish(topic, data), inbox)

        assert real_messages(inbox) == [b"welcome"]

    def test_stream_names_are_derived_from_topics(self) -> None:
        assert stream_name("MICRO", "user.created") == "MICRO_user_created"
