"""The topic tree: ``proactive/v1/<desktop>/<kind>``, and which names a desktop may have.

proactive/v1/<desktop>/activity   desktop -> hub   one observation
proactive/v1/<desktop>/proposal   hub -> desktop   a proposed task, with expires_at
proactive/v1/<desktop>/feedback   desktop -> hub   accepted | rejected | ignored
proactive/v1/<desktop>/result     hub -> desktop   the help written for an accepted task
proactive/v1/<desktop>/status     desktop          retained online/offline (last will)
proactive/v1/hub/status           hub              retained online/offline (last will)
"""

from __future__ import annotations

from edge.config import desktop_name_problem
from edge.errors import RelayError

PREFIX = "proactive/v1"
HUB = "hub"
KINDS = ("activity", "proposal", "feedback", "result", "status")
HUB_STATUS = f"{PREFIX}/{HUB}/status"
CLIENT_ID_PREFIX = "proactive-"
"""The hub side's client ids begin with this (`client_id`); no desktop user may (`edge.mqtt.mosquitto`)."""


def check_name(name: str) -> str:
    """Return ``name`` if it can be a desktop's name (`edge.config.desktop_name_problem`), else raise
    `RelayError`. The same rule holds for the config, the CLI, topics, payloads and the ACL."""
    problem = desktop_name_problem(name)
    if problem is not None:
        raise RelayError(
            f"{problem[0].upper()}{problem[1:]}.",
            "Choose another: the name is the desktop's MQTT topic level and mosquitto user.",
        )
    return name


def name_problem(desktop: str, kind: str) -> str | None:
    """Why the topic level ``desktop`` of a message of ``kind`` is unacceptable, or None.

    ``hub`` is accepted only as the hub's own status topic."""
    if kind == "status" and desktop == HUB:
        return None
    return desktop_name_problem(desktop)


def client_id(role: str, name: str, configured: str = "") -> str:
    """The MQTT client id of ``role`` (``hub`` or ``desktop``) named ``name``: ``configured`` when set,
    else ``proactive-<role>-<name>`` (the relay's ``owner`` in the store, too)."""
    return configured or f"{CLIENT_ID_PREFIX}{role}-{name}"


def topic(desktop: str, kind: str) -> str:
    """``proactive/v1/<desktop>/<kind>``; ``desktop`` may be ``+`` in a subscription filter."""
    if kind not in KINDS:
        raise ValueError(f"unknown topic kind {kind!r}")
    return f"{PREFIX}/{desktop}/{kind}"


def status_topic(role: str, name: str) -> str:
    """Where a client of ``role`` (``hub`` or ``desktop``) named ``name`` announces online/offline."""
    return HUB_STATUS if role == HUB else topic(name, "status")


def split_topic(t: str) -> tuple[str, str] | None:
    """``(desktop, kind)`` for a topic of ours, else None. The hub's status gives ``("hub", "status")``."""
    parts = t.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != PREFIX or parts[3] not in KINDS:
        return None
    return parts[2], parts[3]
