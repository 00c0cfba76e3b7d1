"""What the user sees of the relay's defences: drop counts in `proactive status` and the dashboard's
health, and a warning when the anonymous embedded broker listens beyond loopback (issue 13, item 11)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.cli import cli
from edge.config import Settings, store_path
from edge.hub import Hub
from edge.mqtt import broker as broker_module
from edge.mqtt.broker import EmbeddedBroker
from edge.mqtt.topics import HUB, topic
from edge.store import Store
from tests.conftest import free_port
from tests.doubles import FakeClock, MemoryBus, MemoryRelay, QueuedLLM
from tui.health import RECENT_DROP_S, inbound_health

NOW = 1_700_000_100.0


def hub_relay_with_drops(path: Path, clock: FakeClock) -> MemoryRelay:
    """A relay saved under the hub's owner name that dropped one bad name and one invalid payload."""
    relay = MemoryRelay(MemoryBus(), Store.open(path), HUB, HUB, clock)
    relay.owner = "proactive-hub-hub"  # as `proactive run` names it
    relay.subscribe(topic("+", "activity"), lambda d, k, p: None)
    relay.post_message(topic("hub", "activity"), b"{}")
    relay.post_message(topic("alice", "activity"), b'{"schema": true}')
    relay.pump(0)
    relay.save_stats()
    return relay


def test_status_shows_what_the_hub_dropped() -> None:
    hub_relay_with_drops(store_path(), FakeClock(NOW))
    res = CliRunner().invoke(cli, ["status"])
    assert res.exit_code == 0, res.output
    (line,) = [x for x in res.output.splitlines() if x.startswith("  inbound")]
    assert line.startswith(
        "  inbound    proactive-hub-hub: 0 received, 2 dropped (1 name, 1 invalid); last: invalid:"
    )
    info = CliRunner().invoke(cli, ["status", "--json"])
    saved = json.loads(info.output)["relay"]["inbound"]["proactive-hub-hub"]
    assert saved["drops"] == {"oversized": 0, "queue_full": 0, "name": 1, "invalid": 1, "handler": 0}


def test_the_dashboard_health_shows_recent_drops(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    settings = Settings(desktop="hubhost")
    assert inbound_health(settings, path) == []  # no store yet
    hub_relay_with_drops(path, FakeClock(NOW))
    (recent,) = inbound_health(settings, path, now=NOW + 10)
    assert not recent.ok and "2 dropped (1 name, 1 invalid)" in recent.detail and recent.hint
    (old,) = inbound_health(settings, path, now=NOW + RECENT_DROP_S + 1)
    assert old.ok and "2 dropped" in old.detail
    assert inbound_health(Settings(desktop="hubhost", relay={"client_id": "other"}), path) == []


@pytest.mark.parametrize(
    "host,exposed",
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.5", True),
        ("hub.local", True),
    ],
)
def test_the_embedded_broker_knows_when_it_is_exposed(host: str, exposed: bool) -> None:
    b = EmbeddedBroker(host, 1883)
    assert b.exposed is exposed and (b.exposure_warning() is not None) is exposed


@pytest.mark.integration  # the feedback's similarity loads the shipped MiniLM
def test_the_hub_warns_when_the_anonymous_broker_listens_beyond_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # nothing is bound: the broker's start is stubbed, the warning is about the settings alone
    monkeypatch.setattr(broker_module.EmbeddedBroker, "start", lambda self, timeout=10.0: None)
    settings = Settings(
        desktop="hubhost",
        memory={"enabled": False},
        trigger={"enabled": False},
        relay={"host": "0.0.0.0", "port": free_port(), "reconnect_min_s": 5.0},
    )
    hub = Hub(settings, db_path=tmp_path / "hub.db", llm=QueuedLLM(), use_gate=False, serve=True)
    with hub, caplog.at_level(logging.WARNING, logger="edge.hub"):
        notes = hub.start(connect_timeout_s=0.1)
    (warning,) = [n for n in notes if "anonymous" in n]
    assert "0.0.0.0" in warning and "proactive broker acl" in warning
    assert [r.getMessage() for r in caplog.records if r.name == "edge.hub"] == [warning]
