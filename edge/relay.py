"""Compatibility names for the dashboard until it imports `edge.mqtt` directly; delete then.

``tui/relay.py`` imports the names below from here. The relay itself lives in `edge.mqtt` (topics,
payloads, relay core, paho client, links, brokers); new code imports from there.
"""

from __future__ import annotations

from edge.mqtt.client import make_relay
from edge.mqtt.links import DesktopLink, HubLink
from edge.mqtt.payloads import feedback_payload
from edge.mqtt.relay import Relay
from edge.mqtt.topics import HUB, HUB_STATUS, topic

__all__ = ["HUB", "HUB_STATUS", "DesktopLink", "HubLink", "Relay", "feedback_payload", "make_relay", "topic"]
