"""The README's journey again, on a stack whose services use the MQTT broker
(`MICRO_BROKER=mqtt`, a Mosquitto of its own) and the etcd registry
(`MICRO_REGISTRY=etcd`, an etcd of its own), started the way `make run`
starts it with those variables; the CLIs find the services through etcd."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from devstack.mosquitto import MISSING, mosquitto_binary
from devstack.settings import StackSettings
from devstack.stack import LocalStack
from devstack.unprivileged import scratch_dir

from .backends import CAPABILITIES, LocalBackend, Stack, cli_env
from .helpers import sign_up_get_the_welcome_email_log_in_and_ship


class PluginBackend(LocalBackend):
    name = "local, mqtt and etcd"
    capabilities = frozenset(CAPABILITIES)

    def __init__(self, stack: LocalStack) -> None:
        super().__init__(stack)
        self.local = stack

    @property
    def env(self) -> Mapping[str, str]:
        return {**cli_env(self.nats_url), "MICRO_REGISTRY": "etcd", "ETCD_URL": self.local.etcd_url}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's stack (instead of conftest's): MQTT broker, etcd registry."""
    if mosquitto_binary() is None:
        pytest.skip(MISSING)
    settings = StackSettings(broker="mqtt", registry="etcd")
    with (
        scratch_dir(tmp_path_factory.getbasetemp(), "stack-plugins-") as var_dir,
        LocalStack(var_dir, settings, env={"BCRYPT_ROUNDS": "4"}) as local,
    ):
        yield PluginBackend(local)


def test_the_services_run_on_mqtt_and_etcd(stack: PluginBackend) -> None:
    for name in stack.local.services:
        env = stack.local.instance(name).env
        assert (env["MICRO_BROKER"], env["MICRO_REGISTRY"]) == ("mqtt", "etcd")
        assert env["MQTT_URL"] == stack.local.mqtt_url
        assert env["ETCD_URL"] == stack.local.etcd_url


def test_sign_up_get_the_welcome_email_log_in_and_ship(stack: Stack) -> None:
    sign_up_get_the_welcome_email_log_in_and_ship(stack)  # user.created goes over MQTT
