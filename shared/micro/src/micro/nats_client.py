"""The one way the core connects to NATS (the NATS broker, JetStream and the registry).

    nc = await connect("nats://127.0.0.1:4222", "broker nats")

At the start, no answer within `connect_timeout` is `Unavailable` at once;
once connected, the client reconnects for as long as it takes, and logs
what happens under the name it was given. Both are nats-py's public options:
reconnection is unbounded (`max_reconnect_attempts=-1`) and the first
connection is bounded by `asyncio.timeout`, so nothing of nats-py's internal
state is changed after it connects.

`FastHeaderClient` is the one use of nats-py's private API in the core, and
it is guarded: nats-py is pinned to the tested minor version, tests check
that its header parser and header encoder give nats-py's results, and others
fail when nats-py no longer calls them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import TypedDict
from urllib.parse import urlsplit, urlunsplit

import nats.errors
from nats.aio.client import Client
from nats.protocol.command import hpub_cmd

from micro.config import NO_LOGIN, NatsLogin
from micro.errors import Unavailable

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0
"""Seconds a first connection may take before the server counts as unreachable."""
RECONNECT_WAIT = 1
"""Seconds between two reconnection attempts to one server."""


class FastHeaderClient(Client):
    """nats-py's client, with a header parser and a header encoder that give
    the same results in a fraction of the time: every event carries headers,
    and nats-py's parser was the largest cost of receiving one, its encoder
    (about 2 µs a header) the largest of publishing one (see bench/)."""

    async def _send_publish(
        self,
        subject: str,
        reply: str,
        payload: bytes,
        payload_size: int,
        headers: dict[str, str] | None,
    ) -> None:
        if headers is None or not subject:  # no headers, or nats-py's error
            await super()._send_publish(subject, reply, payload, payload_size, headers)
            return
        # The rest of nats-py's own _send_publish, with our header block.
        self.stats["out_msgs"] += 1
        self.stats["out_bytes"] += payload_size
        await self._send_command(hpub_cmd(subject, reply, header_block(headers), payload))
        if self._flush_queue is not None and self._flush_queue.empty():
            await self._flush_pending()

    @staticmethod
    def _parse_header_lines(raw: bytes) -> dict[str, str]:
        # Decoded once, then split: a third quicker than decoding each part.
        # Bad UTF-8 becomes U+FFFD as in nats-py; CR, LF and ":" are ASCII,
        # so no replacement spans them; strip() is told bytes.strip()'s set.
        headers = {}
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                key = _READ_NAMES.get(name)
                if key is None:
                    key = _read_name(name)
                    if key is None:
                        continue
                    if len(_READ_NAMES) < NAMES_KEPT:
                        _READ_NAMES[name] = key
                headers[key] = value.strip(_ASCII_SPACE)
        return headers


_ASCII_SPACE = " \t\n\r\x0b\x0c"
"""What bytes.strip() strips (str.strip() strips more: \\x1c-\\x1f, U+00A0, ...)."""
NAMES_KEPT = 256
"""Header names this module remembers having checked, for reading and for
sending each (every client shares them): events carry the same few names
again and again. Names past these are checked each time, so a sender of
ever new names costs time, not memory."""
_READ_NAMES: dict[str, str] = {}
"""Header names as received -> as nats-py reads them (only those it keeps)."""


def _read_name(name: str) -> str | None:
    """A received header name as nats-py reads it: stripped; None (the line
    is skipped) when it is not ASCII or holds whitespace."""
    if not name.isascii():
        return None
    key = name.strip(_ASCII_SPACE)
    return key if not key or key.split() == [key] else None


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # nats-py's, RFC 7230's token
_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
_CHECKED_NAMES: dict[str, str] = {}
"""Header names to send, as given -> as sent (only NAMES_KEPT of them)."""


def header_block(headers: Mapping[str, str]) -> bytes:
    """The NATS header block of `headers`, as nats-py writes it: names and
    values stripped, an empty name skipped, a newline in a value made a
    space, and a name that is not an RFC 7230 token refused (BadHeaderError)."""
    lines = ["NATS/1.0\r\n"]
    for given, value in headers.items():
        name = _CHECKED_NAMES.get(given)
        if name is None:
            name = given.strip()
            if not name:
                continue
            if not _HEADER_NAME.fullmatch(name):
                raise nats.errors.BadHeaderError(name)
            if len(_CHECKED_NAMES) < NAMES_KEPT:
                _CHECKED_NAMES[given] = name
        value = value.strip()
        if "\r" in value or "\n" in value:
            value = value.translate(_NEWLINES)
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode()


def servers(url: str) -> list[str]:
    """The servers of a NATS URL, which may list several, comma-separated, as
    the NATS tools take them: "nats://a:4222,nats://b:4222" (a cluster)."""
    return [server.strip() for server in url.split(",") if server.strip()]


def redacted(url: str) -> str:
    """`url` fit for a log line or an error: any password or token in it is
    replaced by "***" ("nats://user:***@host:4222")."""
    shown = []
    for server in servers(url):
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        if parts.password is not None or (parts.username and "@" in parts.netloc):
            user = f"{parts.username}:***" if parts.password is not None else "***"
            host = parts.netloc.rpartition("@")[2]
            server = urlunsplit(parts._replace(netloc=f"{user}@{host}"))
        shown.append(server)
    return ",".join(shown)


async def connect(
    url: str,
    who: str,
    *,
    login: NatsLogin = NO_LOGIN,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> Client:
    """A connected nats-py client; `Unavailable` when no server answers in time.
    With several servers in `url`, it connects to any and fails over to the others.
    It logs in with what the URL holds, or with `login`'s NKey seed or creds
    file. No log line or error shows a password, token or seed."""
    nc = FastHeaderClient()
    shown = redacted(url)
    failures: list[Exception] = []

    async def on_error(error: Exception) -> None:
        if nc.is_connected:
            log.error("%s (%s): %s", who, shown, error)
        else:
            failures.append(error)  # while connecting: said once, in the Unavailable

    async def on_disconnected() -> None:
        if not nc.is_closed:
            log.warning("%s: disconnected from %s, reconnecting", who, shown)

    async def on_reconnected() -> None:
        log.info("%s: reconnected to %s", who, shown)

    try:
        async with asyncio.timeout(connect_timeout):
            await nc.connect(
                servers(url),
                name=who,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                max_reconnect_attempts=-1,
                reconnect_time_wait=RECONNECT_WAIT,
                **login_options(login),
            )
    except (TimeoutError, OSError, nats.errors.Error) as e:
        await nc.close()
        raise Unavailable(
            f"{who}: cannot connect to NATS at {shown} within {connect_timeout:g}s"
            f" ({failure_reason(failures or [e])})"
        ) from e
    return nc


class LoginOptions(TypedDict, total=False):
    user_credentials: str
    nkeys_seed: str
    inbox_prefix: str


def login_options(login: NatsLogin) -> LoginOptions:
    """nats-py's `connect` options for `login` (its public ones: nats-py reads
    the file, and signs the server's nonce with the seed, at each connection)."""
    options: LoginOptions = {}
    if login.creds_file:
        options["user_credentials"] = login.creds_file
    if login.nkey_seed_file:
        options["nkeys_seed"] = login.nkey_seed_file
    if login.inbox_prefix:
        options["inbox_prefix"] = login.inbox_prefix
    return options


def refused_login(failure: Exception) -> bool:
    """Whether `failure` is the server refusing the login."""
    # nats-py raises AuthorizationError for some refusals and a plain error
    # quoting the server's -ERR 'Authorization Violation' for others.
    return isinstance(failure, nats.errors.AuthorizationError) or (
        "authorization violation" in str(failure).lower()
    )


def failure_reason(failures: list[Exception]) -> str:
    """What went wrong, most telling first: a refused login outranks the
    connection the server then closed."""
    if any(refused_login(f) for f in failures):
        return (
            "authorization violation: check the login (the user, password or token"
            " in the URL, NATS_NKEY or NATS_CREDS)"
        )
    last = failures[-1]
    if isinstance(last, TimeoutError):
        return "no answer"
    if isinstance(last, ConnectionRefusedError):
        return "connection refused"
    return str(last) or type(last).__name__
