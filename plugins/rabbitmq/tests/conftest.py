"""The RabbitMQ the tests run against: the one at `RABBITMQ_URL` (default
amqp://guest:guest@127.0.0.1:5672/). RabbitMQ cannot be installed from PyPI,
so where none answers the tests are skipped, saying so."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest
from micro_rabbitmq import DEFAULT_RABBITMQ_URL


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    url = os.environ.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2).close()
    except OSError as error:
        pytest.skip(
            f"no RabbitMQ answers at {parts.hostname}:{parts.port or 5672} ({error}): "
            "RabbitMQ cannot be installed from PyPI; start one and set RABBITMQ_URL"
        )
    return url
