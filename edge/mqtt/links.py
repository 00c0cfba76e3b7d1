"""The two ends of the relay: `HubLink` (the hub's side), `DesktopLink` (a companion's), and `RelaySink`.

A link subscribes to the topics of its role and turns payloads into calls
(observations for the loop, feedback for the hub, proposals and results for
the companion); it publishes through any `Relay`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edge.clock import Clock
from edge.mqtt.payloads import activity_payload, feedback_payload, observation_of, proposal_payload
from edge.mqtt.relay import Relay
from edge.mqtt.topics import HUB, HUB_STATUS, check_name, topic
from edge.records import Decision, Observation, observation_to_dict

log = logging.getLogger(__name__)

MAX_UNDECIDED = 10_000
"""Relayed observations handed out by `HubLink.fetch` and not yet `HubLink.deciding`, at most."""
RESULT_RESEND_S = 3600.0
"""A result stays in the outbox, to be sent again to a desktop that comes back, this long."""


class HubLink:
    """The hub's side: activity and feedback in from every desktop, proposals and results out.

    Incoming observations are collected for `fetch` (which makes this an
    `ActivitySource` for the loop); feedback goes to ``on_feedback``; a desktop
    coming online gets recent unexpired messages again.
    """

    name = "relay"

    def __init__(
        self, relay: Relay, clock: Clock, on_feedback: Callable[[dict[str, Any]], object] | None = None
    ) -> None:
        self.relay = relay
        self.clock = clock
        self.on_feedback = on_feedback
        self.desktops: dict[str, dict[str, Any]] = {}
        self._observations: list[Observation] = []
        self._messages: dict[str, str] = {}  # observation id -> its message's id, until `deciding`
        # An activity counts as seen once the hub starts deciding it, not when it is queued: a hub
        # killed with observations queued gets them again from their desktops (`Relay.handled`).
        relay.subscribe(topic("+", "activity"), self._activity, confirm=True)
        relay.subscribe(topic("+", "feedback"), self._feedback)
        relay.subscribe(topic("+", "status"), self._status, dedupe=False)

    def _activity(self, desktop: str, kind: str, payload: dict[str, Any]) -> None:
        o = observation_of(payload, desktop)
        self._observations.append(o)
        self._messages[o.id] = payload["id"]
        if len(self._messages) > MAX_UNDECIDED:  # a caller that never calls `deciding`
            self.relay.handled(self._messages.pop(next(iter(self._messages))))

    def deciding(self, obs: Observation) -> None:
        """The hub starts deciding ``obs`` (from `fetch`): its activity message counts as handled,
        so a redelivery is a duplicate from now on, across restarts too. Called just before the
        decision, not after it, so that an observation the decision fails on is not sent again
        at every restart; the one being decided when the hub is killed is stored, undecided."""
        msg_id = self._messages.pop(obs.id, None)
        if msg_id is not None:
            self.relay.handled(msg_id)

    def _feedback(self, desktop: str, kind: str, payload: dict[str, Any]) -> None:
        if self.on_feedback is None:
            log.warning("relay: feedback for %s dropped: no feedback handler", payload["proposal_id"])
            return
        self.on_feedback(payload)

    def _status(self, desktop: str, kind: str, payload: dict[str, Any]) -> None:
        if desktop == HUB:
            return
        self.desktops[desktop] = {"state": payload["state"], "at": payload.get("at")}
        if payload["state"] == "online":
            self.relay.resend_to(desktop)

    def send_proposal(self, decision: Decision) -> None:
        """Publish a proposing decision to its desktop; it expires from the outbox at ``expires_at``."""
        desktop = decision.observation.desktop
        self.relay.publish(
            topic(desktop, "proposal"),
            proposal_payload(decision),
            peer=desktop,
            expires_at=decision.expires_at,
        )

    def send_result(self, payload: dict[str, Any]) -> None:
        """Publish a result payload (`edge.mqtt.payloads.result_payload`) to its desktop."""
        desktop = payload["desktop"]
        self.relay.publish(
            topic(desktop, "result"),
            payload,
            peer=desktop,
            expires_at=self.clock.now() + RESULT_RESEND_S,
        )

    # ActivitySource ------------------------------------------------------------
    def fetch(self, timeout: float = 0.0) -> list[Observation]:
        """Observations received since the last call (pumping the relay up to ``timeout`` s)."""
        self.relay.pump(timeout)
        out, self._observations = self._observations, []
        return out

    @property
    def exhausted(self) -> bool:
        return False


class DesktopLink:
    """A companion's side: activity and feedback out, its own proposals and results in."""

    def __init__(
        self,
        relay: Relay,
        name: str,
        clock: Clock,
        on_proposal: Callable[[dict[str, Any]], None],
        on_result: Callable[[dict[str, Any]], None],
    ) -> None:
        self.relay = relay
        self.name = check_name(name)
        self.clock = clock
        self.hub_state = "unknown"
        relay.subscribe(topic(name, "proposal"), lambda d, k, p: on_proposal(p))
        relay.subscribe(topic(name, "result"), lambda d, k, p: on_result(p))
        relay.subscribe(HUB_STATUS, self._hub_status, dedupe=False)

    def _hub_status(self, desktop: str, kind: str, payload: dict[str, Any]) -> None:
        self.hub_state = payload["state"]
        if payload["state"] == "online":
            self.relay.resend_to(HUB)

    def send_activity(self, obs: Observation) -> None:
        if obs.desktop != self.name:
            obs = Observation(**{**observation_to_dict(obs), "desktop": self.name})
        self.relay.publish(topic(self.name, "activity"), activity_payload(obs, self.clock.now()), peer=HUB)

    def send_feedback(self, proposal_id: str, verdict: str) -> None:
        self.relay.publish(
            topic(self.name, "feedback"),
            feedback_payload(proposal_id, self.name, verdict, self.clock.now()),
            peer=HUB,
        )


class RelaySink:
    """A `ProposalSink` that publishes each proposal to its desktop over the hub's link."""

    def __init__(self, link: HubLink) -> None:
        self.link = link

    def send(self, decision: Decision) -> None:
        if decision.proposed and decision.proposal_id is not None:
            self.link.send_proposal(decision)
