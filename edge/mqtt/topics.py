"""The topic tree: ``proactive/v1/<desktop>/<kind>``, and which names a desktop may have.

proactive/v1/<desktop>/activity   desktop -> hub   one observation
proactive/v1/<desktop>/proposal   hub -> desktop   a proposed task, with expires_at
proactive/v1/<desktop>/feedback   desktop -> hub   accepted | rejected | ignored
proactive/v1/<desktop>/result     hub -> desktop   the help written for an accepted task
proactive/v1/<desktop>/status     desktop          retained online/offline (last will)
proactive/v1/hub/status           hub              retained online/offline (last will)
"""

from __future__ import annotations

import re

from edge.errors import RelayError

PREFIX = "proactive/v1"
HUB = "hub"
KINDS = ("activity", "proposal", "feedback", "result", "status")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HUB_STATUS = f"{PREFIX}/{HUB}/status"


def check_name(name: str) -> str:
    """Return ``name`` if it can be a desktop's topic level, else raise `RelayError`."""
    if not NAME_RE.match(name) or name == HUB:
        raise RelayError(
            f"{name!r} cannot be a desktop name.",
            "Use letters, digits, '.', '_' or '-' (at most 64), not 'hub'.",
        )
    return name


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
