"""The dashboard's MQTT link: verdicts published as a desktop companion publishes them.

The only module of ``tui/`` that uses the relay's API (`edge.mqtt`): its
topics, the companion's feedback payload and the relay factory.
"""

from __future__ import annotations

import re
from typing import Any

from edge.clock import Clock
from edge.config import Settings
from edge.errors import EdgeError
from edge.mqtt.client import make_relay
from edge.mqtt.payloads import feedback_payload
from edge.mqtt.relay import Relay
from edge.mqtt.topics import HUB, HUB_STATUS, topic
from edge.store import Store
from tui.ports import FeedbackPublisher, Health, Part

STORE_ONLY = "Answers are saved in the store only."


class RelayFeedback:
    """`FeedbackPublisher` over an `edge.mqtt.relay.Relay`: the companion's payload, topic and outbox.

    The dashboard connects as its own client (``dashboard-<desktop>``) and
    follows the hub's retained status. While the hub is online, verdicts go over
    MQTT and the hub records them (and adapts, and carries out accepted tasks);
    otherwise the dashboard writes them to the store itself.
    """

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.hub_state = "unknown"
        relay.subscribe(HUB_STATUS, self._hub_status, dedupe=False)

    def _hub_status(self, desktop: str, kind: str, payload: dict[str, Any]) -> None:
        self.hub_state = str(payload.get("state", "unknown"))

    @property
    def connected(self) -> bool:
        return bool(self.relay.connected)

    @property
    def hub_online(self) -> bool:
        return self.connected and self.hub_state == "online"

    def describe(self) -> str:
        if not self.relay.connected:
            err = getattr(self.relay, "last_error", "") or "not connected"
            return f"MQTT broker unreachable ({err}): answers are saved in the store only."
        if self.hub_state != "online":
            return f"Hub is {self.hub_state} on the broker: answers are saved in the store only."
        return "Answers go to the hub over MQTT."

    def publish_feedback(self, *, desktop: str, proposal_id: str, verdict: str, now: float) -> str:
        payload = feedback_payload(proposal_id, desktop, verdict, now)
        self.relay.publish(topic(desktop, "feedback"), payload, peer=HUB)
        return str(payload["id"])

    def start(self) -> None:
        self.relay.start()

    def pump(self) -> None:
        self.relay.pump(0)

    def close(self) -> None:
        self.relay.close()


def dashboard_name(settings: Settings) -> str:
    """The dashboard's MQTT name: never a real desktop's, so its status and will touch no one else."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(settings.desktop or "hub")).strip("-.")
    return f"dashboard-{base or 'hub'}"[:64]


def store_only(error: EdgeError) -> str:
    """The note shown when the relay cannot work: what went wrong, where answers go, what to do."""
    return f"{error.msg} {STORE_ONLY} {error.hint}".strip()


def load_relay(settings: Settings, store: Store, clock: Clock) -> Part[FeedbackPublisher]:
    """The relay publisher (not yet started), or None and a note when the settings cannot work."""
    try:
        # A client id set for the hub must not be reused: two clients with one id evict each other.
        own = settings.model_copy(update={"relay": settings.relay.model_copy(update={"client_id": ""})})
        relay = make_relay(own, store, "desktop", dashboard_name(settings), clock)
    except EdgeError as e:
        return Part(None, store_only(e))
    return Part(RelayFeedback(relay))


def relay_note(part: Part[FeedbackPublisher]) -> str:
    """Where answers go, in one sentence."""
    return part.note if part.value is None else part.value.describe()


def relay_health(part: Part[FeedbackPublisher], where: str) -> list[Health]:
    """The broker (at ``where``) and the hub as the dashboard's own MQTT connection sees them."""
    publisher = part.value
    if publisher is None:
        return [Health("broker", False, part.note, "Answer proposals here meanwhile.")]
    start = "Start the hub (`proactive run` starts the embedded broker) or mosquitto"
    if not publisher.connected:
        return [Health("broker", False, f"{where} not reachable", f"{start}; check relay.host/port.")]
    hub = (
        Health("hub", True, "online on the broker")
        if publisher.hub_online
        else Health("hub", False, "not online on the broker", "Start it: `proactive run`.")
    )
    return [Health("broker", True, f"{where} connected"), hub]
