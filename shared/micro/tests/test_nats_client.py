"""micro.nats_client: the one NATS connection of the core, and the guard on
its one use of nats-py's private API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import nats.errors
import nkeys  # type: ignore[import-untyped]
import pytest
from devstack.nats import nats_server_with
from devstack.nats_auth import new_seed
from devstack.nats_jwt import Decentralized
from devstack.ports import free_port
from hypothesis import given, settings
from hypothesis import strategies as st
from micro.broker.jetstream import JetStreamBroker
from micro.config import ConfigError, NatsLogin, Options
from micro.errors import Unavailable
from micro.nats_client import FastHeaderClient, connect, redacted, servers
from micro.registry import nats as nats_registry
from nats.aio.client import Client as NatsPyClient
from nats.aio.msg import Msg


async def test_nats_py_still_parses_headers_with_our_parser(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastHeaderClient overrides nats-py's private `_parse_header_lines`
    (nats-py is pinned to the tested minor version). If nats-py stops calling
    it, this fails, and the speed it bought is gone unnoticed otherwise."""
    calls: list[bytes] = []
    parse = FastHeaderClient._parse_header_lines

    def counting(raw: bytes) -> dict[str, str]:
        calls.append(raw)
        return parse(raw)

    monkeypatch.setattr(FastHeaderClient, "_parse_header_lines", staticmethod(counting))
    nc = await connect(nats_url, "test")
    received: asyncio.Queue[Msg] = asyncio.Queue()
    try:
        await nc.subscribe("test.headers", cb=received.put)
        await nc.publish("test.headers", b"x", headers={"Micro-Id": "42"})
        msg = await asyncio.wait_for(received.get(), 5)
    finally:
        await nc.close()

    assert msg.headers == {"Micro-Id": "42"}
    assert calls, "nats-py no longer calls _parse_header_lines: FastHeaderClient does nothing"


async def test_nats_py_still_publishes_through_our_header_encoder(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastHeaderClient overrides nats-py's private `_send_publish` to write
    the header block itself. If nats-py's publish stops calling it, this fails."""
    calls: list[dict[str, str] | None] = []
    send = FastHeaderClient._send_publish

    async def counting(
        self: FastHeaderClient,
        subject: str,
        reply: str,
        payload: bytes,
        size: int,
        headers: dict[str, str] | None,
    ) -> None:
        calls.append(headers)
        await send(self, subject, reply, payload, size, headers)

    monkeypatch.setattr(FastHeaderClient, "_send_publish", counting)
    nc = await connect(nats_url, "test")
    received: asyncio.Queue[Msg] = asyncio.Queue()
    try:
        await nc.subscribe("test.headers", cb=received.put)
        await nc.publish("test.headers", b"x", headers={"Micro-Id": "42", "Content-Type": "a/b"})
        msg = await asyncio.wait_for(received.get(), 5)
    finally:
        await nc.close()

    assert msg.headers == {"Micro-Id": "42", "Content-Type": "a/b"}
    assert calls == [{"Micro-Id": "42", "Content-Type": "a/b"}], (
        "nats-py no longer publishes through _send_publish: FastHeaderClient does nothing"
    )


class _Recording:
    """Keeps the protocol commands a client would send, instead of sending them."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    async def _send_command(self, cmd: bytes, priority: bool = False) -> None:
        self.sent.append(cmd)


class _RecordingNatsPy(_Recording, NatsPyClient):
    pass


class _RecordingFast(_Recording, FastHeaderClient):
    pass


@settings(deadline=None)
@given(
    headers=st.dictionaries(
        st.text(max_size=6) | st.sampled_from(["Micro-Id", " Content-Type ", "a b", "é"]),
        st.text(max_size=6) | st.sampled_from([" value ", "two\r\nlines", "ü"]),
        max_size=4,
    )
    | st.none()
)
async def test_headers_are_sent_as_nats_py_sends_them(headers: dict[str, str] | None) -> None:
    theirs, ours = _RecordingNatsPy(), _RecordingFast()
    outcomes = []
    for client in (theirs, ours):
        try:
            await client._send_publish("test.subject", "", b"data", 4, headers)
            outcomes.append(("sent", client.sent))
        except nats.errors.BadHeaderError as e:
            outcomes.append(("refused", [e.key.encode()]))

    assert outcomes[0] == outcomes[1]


def test_a_nats_url_may_list_several_servers() -> None:
    assert servers("nats://a:4222, nats://b:4222,") == ["nats://a:4222", "nats://b:4222"]
    assert servers("nats://a:4222") == ["nats://a:4222"]


async def test_a_cluster_url_connects_to_a_server_that_answers(nats_url: str) -> None:
    nc = await connect(f"nats://127.0.0.1:{free_port()},{nats_url}", "test")
    try:
        assert nc.is_connected
    finally:
        await nc.close()


async def test_no_server_is_unavailable_within_the_bound_and_names_the_url() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(Unavailable, match=f"broker x: cannot connect to NATS at {url}"):
        await asyncio.wait_for(connect(url, "broker x", connect_timeout=0.3), 3)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://app:s3cret@127.0.0.1:4222", "nats://app:***@127.0.0.1:4222"),
        ("nats://t0ken@10.0.0.1:4222", "nats://***@10.0.0.1:4222"),
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
        ("nats://a:x@h1:4222,nats://h2:4222", "nats://a:***@h1:4222,nats://h2:4222"),
    ],
)
def test_urls_in_messages_hide_passwords_and_tokens(url: str, shown: str) -> None:
    assert redacted(url) == shown


async def test_a_failed_connection_does_not_print_the_password() -> None:
    url = f"nats://app:s3cret@127.0.0.1:{free_port()}"
    with pytest.raises(Unavailable) as caught:
        await connect(url, "broker x", connect_timeout=0.3)
    assert "s3cret" not in str(caught.value)
    assert "app:***@" in str(caught.value)


async def test_the_right_password_connects(nats_with_a_password: str) -> None:
    nc = await connect(f"nats://app:s3cret@{nats_with_a_password}", "test")
    try:
        assert nc.is_connected
    finally:
        await nc.close()


async def test_a_wrong_password_says_authorization_violation_and_hides_it(
    nats_with_a_password: str,
) -> None:
    url = f"nats://app:wrong-one@{nats_with_a_password}"
    with pytest.raises(Unavailable) as caught:
        await connect(url, "broker x", connect_timeout=1)
    message = str(caught.value)
    assert "authorization violation" in message.lower()
    assert "wrong-one" not in message


@pytest.fixture(scope="module")
def nats_with_tls(
    tmp_path_factory: pytest.TempPathFactory, tls_files: Path
) -> Iterator[tuple[str, Path]]:
    """A nats-server that speaks TLS only, with the test CA's server certificate;
    yields its address and the folder of the test certificates."""
    folder = tmp_path_factory.mktemp("nats-tls")
    cert, key = tls_files / "server.pem", tls_files / "server-key.pem"
    with nats_server_with(folder, f'tls {{ cert_file: "{cert}", key_file: "{key}" }}') as address:
        yield address, tls_files


async def test_a_tls_url_verifies_the_server_with_the_ca_of_ssl_cert_file(
    nats_with_tls: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tls://` in NATS_URL, and the CA in the standard SSL_CERT_FILE: nats-py's
    default TLS context trusts it; nothing of Shippy's own to configure."""
    address, tls_files = nats_with_tls
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files / "ca.pem"))

    nc = await connect(f"tls://{address}", "test")
    try:
        assert nc.is_connected
    finally:
        await nc.close()


async def test_a_tls_server_whose_ca_is_not_trusted_is_refused(
    nats_with_tls: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, tls_files = nats_with_tls
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files / "other-ca.pem"))
    with pytest.raises(Unavailable, match="certificate verify failed"):
        await connect(f"tls://{address}", "test", connect_timeout=1)


@pytest.fixture(scope="module")
def nkey_seeds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two users' NKey seed files: the first one's public key is known to
    `nats_with_an_nkey_user`, the second one's is not."""
    folder = tmp_path_factory.mktemp("nkeys")
    files = (folder / "known.nk", folder / "stranger.nk")
    for file in files:
        file.write_text(new_seed() + "\n")
    return files


@pytest.fixture(scope="module")
def nats_with_an_nkey_user(
    tmp_path_factory: pytest.TempPathFactory, nkey_seeds: tuple[Path, Path]
) -> Iterator[str]:
    """A nats-server (JetStream on) that lets in only the first of `nkey_seeds`."""
    public_key = nkeys.from_seed(bytearray(nkey_seeds[0].read_bytes().strip())).public_key
    folder = tmp_path_factory.mktemp("nats-nkey")
    settings = (
        f'jetstream {{ store_dir: "{folder}/js" }}\n'
        f'authorization {{ users: [ {{ nkey: "{public_key.decode()}" }} ] }}'
    )
    with nats_server_with(folder, settings) as address:
        yield address


async def test_the_broker_and_registry_log_in_with_the_nkey_of_nats_nkey(
    nats_with_an_nkey_user: str, nkey_seeds: tuple[Path, Path]
) -> None:
    options = Options.from_env(
        {"NATS_URL": f"nats://{nats_with_an_nkey_user}", "NATS_NKEY": str(nkey_seeds[0])}
    )
    broker = JetStreamBroker(options.nats_url, login=options.nats_login)
    registry = nats_registry.from_options(options)
    try:
        await broker.connect()
        await registry.connect()
        assert broker.connected
        assert await registry.list_services() == []
    finally:
        await broker.disconnect()
        await registry.close()


async def test_an_nkey_the_server_does_not_know_says_authorization_violation(
    nats_with_an_nkey_user: str, nkey_seeds: tuple[Path, Path]
) -> None:
    stranger = NatsLogin(nkey_seed_file=str(nkey_seeds[1]))
    with pytest.raises(Unavailable) as caught:
        await connect(f"nats://{nats_with_an_nkey_user}", "broker x", login=stranger)
    message = str(caught.value)
    assert "authorization violation" in message
    assert nkey_seeds[1].read_text().strip() not in message


async def test_no_login_at_all_says_authorization_violation(nats_with_an_nkey_user: str) -> None:
    with pytest.raises(Unavailable) as caught:
        await connect(f"nats://{nats_with_an_nkey_user}", "broker x")
    assert "authorization violation" in str(caught.value)


def test_an_unreadable_nkey_file_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.nk"
    with pytest.raises(ConfigError) as caught:
        Options.from_env({"NATS_NKEY": str(missing)})
    assert str(caught.value) == f"NATS_NKEY={missing}: cannot read it (No such file or directory)"


@pytest.mark.parametrize(
    ("variable", "content", "reason"),
    [
        ("NATS_NKEY", "not a seed at all", "does not hold an NKey seed"),
        ("NATS_NKEY", "", "does not hold an NKey seed"),
        ("NATS_CREDS", "SUAM-just-a-seed", "not a NATS creds file (a user JWT and an NKey seed)"),
    ],
)
def test_a_file_that_is_not_a_login_is_a_config_error(
    tmp_path: Path, variable: str, content: str, reason: str
) -> None:
    file = tmp_path / "login"
    file.write_text(content)
    with pytest.raises(ConfigError) as caught:
        Options.from_env({variable: str(file)})
    assert str(caught.value) == f"{variable}={file}: {reason}"


def test_an_account_seed_is_not_a_users(tmp_path: Path) -> None:
    file = tmp_path / "account.nk"
    file.write_bytes(nkeys.encode_seed(bytes(32), nkeys.PREFIX_BYTE_ACCOUNT))
    with pytest.raises(ConfigError) as caught:
        Options.from_env({"NATS_NKEY": str(file)})
    assert "not a user's" in str(caught.value)
    assert file.read_text() not in str(caught.value)


def test_nats_nkey_and_nats_creds_together_are_a_config_error(
    nkey_seeds: tuple[Path, Path],
) -> None:
    with pytest.raises(ConfigError, match="set one of the two"):
        Options.from_env({"NATS_NKEY": str(nkey_seeds[0]), "NATS_CREDS": str(nkey_seeds[1])})


@pytest.fixture(scope="module")
def nats_with_a_creds_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A nats-server that trusts an operator (decentralized authentication);
    yields its address and a creds file of a user of that operator's account."""
    folder = tmp_path_factory.mktemp("nats-creds")
    trust = Decentralized.new()
    creds = trust.write_creds(folder / "user.creds")
    with nats_server_with(folder, trust.server_config()) as address:
        yield address, creds


async def test_the_registry_logs_in_with_the_creds_file_of_nats_creds(
    nats_with_a_creds_user: tuple[str, Path],
) -> None:
    address, creds = nats_with_a_creds_user
    options = Options.from_env({"NATS_URL": f"nats://{address}", "NATS_CREDS": str(creds)})
    registry = nats_registry.from_options(options)
    try:
        await registry.connect()
        assert await registry.list_services() == []
    finally:
        await registry.close()


async def test_a_creds_file_of_another_operator_says_authorization_violation(
    nats_with_a_creds_user: tuple[str, Path], tmp_path: Path
) -> None:
    address, _ = nats_with_a_creds_user
    foreign = Decentralized.new().write_creds(tmp_path / "foreign.creds")
    with pytest.raises(Unavailable) as caught:
        await connect(f"nats://{address}", "test", login=NatsLogin(creds_file=str(foreign)))
    assert "authorization violation" in str(caught.value)


async def test_inboxes_take_the_prefix_of_nats_inbox_prefix(nats_url: str) -> None:
    options = Options.from_env({"NATS_URL": nats_url, "NATS_INBOX_PREFIX": "_INBOX.shippy.me"})
    nc = await connect(options.nats_url, "test", login=options.nats_login)
    try:
        assert nc.new_inbox().startswith("_INBOX.shippy.me.")
    finally:
        await nc.close()


@pytest.mark.parametrize("prefix", ["_INBOX.>", "_INBOX.*.x", "has space", "trailing."])
def test_an_inbox_prefix_with_wildcards_or_spaces_is_a_config_error(prefix: str) -> None:
    with pytest.raises(
        ConfigError, match=r"NATS_INBOX_PREFIX=.*must be a subject without wildcards"
    ):
        Options.from_env({"NATS_INBOX_PREFIX": prefix})
