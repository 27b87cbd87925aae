"""Codecs turn protobuf messages into bytes and back, chosen by content type."""

from __future__ import annotations

from typing import Protocol, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

M = TypeVar("M", bound=ProtoMessage)

PROTOBUF = "application/protobuf"
JSON = "application/json"


class CodecError(ValueError):
    """A payload that cannot be decoded, or a content type nobody knows."""


class Codec(Protocol):
    content_type: str

    def encode(self, message: ProtoMessage) -> bytes: ...

    def decode(self, data: bytes, message_type: type[M]) -> M: ...


class ProtobufCodec:
    content_type = PROTOBUF

    def encode(self, message: ProtoMessage) -> bytes:
        return message.SerializeToString()

    def decode(self, data: bytes, message_type: type[M]) -> M:
        message = message_type()
        try:
            message.ParseFromString(data)
        except DecodeError as e:
            raise CodecError(f"not a valid {message_type.DESCRIPTOR.full_name}: {e}") from e
        return message


class JsonCodec:
    """Protobuf's canonical JSON mapping (field names in lowerCamelCase)."""

    content_type = JSON

    def encode(self, message: ProtoMessage) -> bytes:
        return json_format.MessageToJson(message, indent=None).encode()

    def decode(self, data: bytes, message_type: type[M]) -> M:
        message = message_type()
        try:
            json_format.Parse(data, message)
        except (json_format.ParseError, UnicodeDecodeError) as e:
            raise CodecError(f"not a valid {message_type.DESCRIPTOR.full_name}: {e}") from e
        return message


CODECS: dict[str, Codec] = {c.content_type: c for c in (ProtobufCodec(), JsonCodec())}


def codec_for(content_type: str) -> Codec:
    try:
        return CODECS[content_type]
    except KeyError:
        raise CodecError(f"unknown content type {content_type!r}") from None
