"""`probe_broker` and the doctor's broker check against real brokers."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from edge.config import Settings
from edge.doctor import check_broker
from edge.errors import RelayError
from edge.mqtt.broker import EmbeddedBroker
from edge.mqtt.client import probe_broker
from edge.mqtt.mosquitto import write_mosquitto_files
from tests.conftest import free_port
from tests.relay.helpers import relay_settings

pytestmark = pytest.mark.integration


def test_probe_accepts_the_embedded_broker(amqtt_broker: EmbeddedBroker) -> None:
    probe_broker(relay_settings(amqtt_broker.port))


def test_probe_checks_mosquitto_credentials(mosquitto: Any, tmp_path: Path) -> None:
    files = write_mosquitto_files(["alice"], tmp_path / "mq")
    m = mosquitto(password_file=files.passwd, acl_file=files.acl)
    probe_broker(relay_settings(m.port, username="alice", password=files.credentials["alice"]))
    with pytest.raises(RelayError, match="refused") as e:
        probe_broker(relay_settings(m.port, username="alice", password="wrong"))
    assert "relay.password" in e.value.hint


def test_probe_of_a_closed_port_says_what_to_start() -> None:
    with pytest.raises(RelayError, match="not reachable") as e:
        probe_broker(relay_settings(free_port()))
    assert "proactive run" in e.value.hint


def test_doctor_broker_check(amqtt_broker: EmbeddedBroker) -> None:
    def settings(broker: str, port: int) -> Settings:
        return Settings.model_validate({"relay": {"broker": broker, "host": "127.0.0.1", "port": port}})

    assert check_broker(settings("external", amqtt_broker.port)).ok
    # embedded and not started yet: fine, `proactive run` will start it on the free port
    idle = check_broker(settings("embedded", free_port()))
    assert idle.ok and "port free" in idle.detail
    # external and nothing there: a failure with a hint
    down = check_broker(settings("external", free_port()))
    assert not down.ok and down.hint
    # the embedded broker's port held by something that is not MQTT
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = check_broker(settings("embedded", squatter.getsockname()[1]))
    assert not taken.ok and "relay.port" in taken.hint
