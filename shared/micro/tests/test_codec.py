"""Codecs: whatever a message holds comes back the same, and garbage is a CodecError."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message as ProtoMessage
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st
from micro.codec import JSON, PROTOBUF, Codec, CodecError, JsonCodec, ProtobufCodec, codec_for
from shippy.consignment.v1.consignment_pb2 import Consignment, Container
from shippy.user.v1.events_pb2 import UserCreated

CODECS: list[Codec] = [ProtobufCodec(), JsonCodec()]
relaxed = settings(deadline=None)  # a busy machine is slow, not wrong

texts = st.text()
timestamps = st.builds(
    Timestamp,
    seconds=st.integers(min_value=-62135596800, max_value=253402300799),  # years 1 to 9999
    nanos=st.integers(min_value=0, max_value=999_999_999),
)
user_created_events = st.builds(
    UserCreated,
    event_id=texts,
    occurred_at=timestamps,
    user_id=texts,
    name=texts,
    email=texts,
    company=texts,
)
consignments = st.builds(
    Consignment,
    id=texts,
    description=texts,
    weight=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    containers=st.lists(
        st.builds(Container, id=texts, customer_id=texts, origin=texts), max_size=4
    ),
    vessel_id=texts,
    user_id=texts,
    created_at=timestamps,
)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.content_type)
@relaxed
@given(event=user_created_events)
def test_an_event_survives_a_round_trip(codec: Codec, event: UserCreated) -> None:
    assert codec.decode(codec.encode(event), UserCreated) == event


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.content_type)
@relaxed
@given(consignment=consignments)
def test_repeated_and_nested_fields_survive_a_round_trip(
    codec: Codec, consignment: Consignment
) -> None:
    assert codec.decode(codec.encode(consignment), Consignment) == consignment


@pytest.mark.parametrize(
    ("codec", "garbage"),
    [
        (ProtobufCodec(), b"\xff\xff\xff\xff"),
        (ProtobufCodec(), b"\x0a\x05ab"),  # a string field cut short
        (JsonCodec(), b"not json"),
        (JsonCodec(), b'{"noSuchField": 1}'),
        (JsonCodec(), b"\xff\xfe"),
    ],
)
def test_garbage_is_a_codec_error_naming_the_type(codec: Codec, garbage: bytes) -> None:
    with pytest.raises(CodecError, match=r"not a valid shippy\.user\.v1\.UserCreated"):
        codec.decode(garbage, UserCreated)


@relaxed
@given(garbage=st.binary())
def test_any_bytes_decode_or_raise_a_codec_error(garbage: bytes) -> None:
    for codec in CODECS:
        try:
            decoded: ProtoMessage = codec.decode(garbage, UserCreated)
        except CodecError:
            continue
        assert isinstance(decoded, UserCreated)


def test_json_uses_protobufs_json_names() -> None:
    encoded = JsonCodec().encode(UserCreated(user_id="u-1", email="ada@example.com"))

    assert encoded == b'{"userId": "u-1", "email": "ada@example.com"}'


def test_codecs_are_found_by_content_type() -> None:
    assert isinstance(codec_for(PROTOBUF), ProtobufCodec)
    assert isinstance(codec_for(JSON), JsonCodec)
    with pytest.raises(CodecError, match="unknown content type 'text/plain'"):
        codec_for("text/plain")
