"""micro.nats_client: the one NATS connection of the core, and the guard on
its one use of nats-py's private API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme
from devstack.nats import nats_server_binary
from devstack.ports import free_port, port_in_use
from devstack.waiting import wait_until
from micro.errors import Unavailable
from micro.nats_client import FastHeaderClient, connect, redacted, servers
from nats.aio.msg import Msg

from devstack import processes


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


@contextmanager
def nats_server_with(folder: Path, settings: str) -> Iterator[str]:
    """A nats-server on a free port with `settings` added to its config file;
    yields its host:port."""
    port = free_port()
    config = folder / "nats.conf"
    config.write_text(f'listen: "127.0.0.1:{port}"\n{settings}\n')
    server = processes.spawn([nats_server_binary(), "-c", str(config)], None)
    try:
        wait_until(lambda: port_in_use(port), 10, f"the nats-server of {config}")
        yield f"127.0.0.1:{port}"
    finally:
        processes.stop(server)


@pytest.fixture(scope="module")
def nats_with_a_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server that lets in only user "app" with password "s3cret"."""
    folder = tmp_path_factory.mktemp("nats-auth")
    with nats_server_with(folder, "authorization { user: app, password: s3cret }") as address:
        yield address


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
def nats_with_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A nats-server that speaks TLS only, with a certificate from a test CA;
    yields its address and the CA's PEM file."""
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("nats-tls")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    tls = f'tls {{ cert_file: "{folder / "cert.pem"}", key_file: "{folder / "key.pem"}" }}'
    with nats_server_with(folder, tls) as address:
        yield address, folder / "ca.pem"


async def test_a_tls_url_verifies_the_server_with_the_ca_of_ssl_cert_file(
    nats_with_tls: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tls://` in NATS_URL, and the CA in the standard SSL_CERT_FILE: nats-py's
    default TLS context trusts it; nothing of Shippy's own to configure."""
    address, ca = nats_with_tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))

    nc = await connect(f"tls://{address}", "test")
    try:
        assert nc.is_connected
    finally:
        await nc.close()


async def test_a_tls_server_whose_ca_is_not_trusted_is_refused(
    nats_with_tls: tuple[str, Path],
) -> None:
    address, _ = nats_with_tls
    with pytest.raises(Unavailable, match="certificate verify failed"):
        await connect(f"tls://{address}", "test", connect_timeout=1)
