"""The schema-1 payloads: one builder per kind, and `decode`, which checks what arrives.

Every payload is a UTF-8 JSON object with ``"schema": 1`` and a string
``"id"`` that is unique per message and stable across redelivery (receivers
drop an id they have already handled). A payload that does not follow the
schema raises `PayloadError`, whose message says why; the relay drops it with
that reason in the log. Optional fields are read leniently: an activity's
structured ``activity`` with unknown, missing or invalid fields is taken with
defaults (logged once per desktop), a proposal without a usable ``anchor`` has
none. The formats are documented in firmware-notes/mqtt.md.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from edge.mqtt.topics import split_topic
from edge.records import (
    Activity,
    Anchor,
    Decision,
    Observation,
    activity_from_dict,
    feedback_id,
    observation_from_dict,
    observation_to_dict,
    stable_id,
)
from edge.store import VERDICTS

log = logging.getLogger(__name__)

SCHEMA = 1
MAX_PAYLOAD = 256 * 1024

_ACTIVITY_WARNED: set[str] = set()
"""The desktops whose structured activity has been logged as faulty (once each, per process)."""


class PayloadError(ValueError):
    """A payload that does not follow schema 1; the message says why."""


def new_id() -> str:
    return uuid.uuid4().hex


def activity_payload(obs: Observation, now: float) -> dict[str, Any]:
    """An observation forwarded by a companion. ``id`` is the observation's stable id."""
    return {
        "schema": SCHEMA,
        "id": obs.id,
        "desktop": obs.desktop,
        "sent_at": now,
        "observation": observation_to_dict(obs),
    }


def proposal_payload(decision: Decision) -> dict[str, Any]:
    """A proposal for the decision's desktop: the id, ``created_at`` and ``expires_at`` the loop set,
    what it is about (``anchor``) and the trigger's P(help now) (``p_help``), each null when unknown."""
    if (
        not decision.proposed
        or decision.proposal_id is None
        or decision.task is None
        or decision.created_at is None
        or decision.expires_at is None
    ):
        raise ValueError("only a decision that proposes a task becomes a proposal payload")
    r = decision.response
    return {
        "schema": SCHEMA,
        "id": decision.proposal_id,
        "desktop": decision.observation.desktop,
        "task": decision.task,
        "response": r.response if r else "",
        "purpose": r.purpose if r else "",
        "score": decision.score,
        "event": decision.observation.text,
        "observation_id": decision.observation.id,
        "created_at": decision.created_at,
        "expires_at": decision.expires_at,
        "anchor": None if decision.anchor is None else decision.anchor.to_json(),
        "p_help": None if decision.p_help is None else round(decision.p_help, 4),
    }


def feedback_payload(proposal_id: str, desktop: str, verdict: str, now: float) -> dict[str, Any]:
    """The user's answer. One verdict per proposal: the id derives from the proposal, first one wins."""
    return {
        "schema": SCHEMA,
        "id": feedback_id(proposal_id),
        "desktop": desktop,
        "proposal_id": proposal_id,
        "verdict": verdict,
        "at": now,
    }


def result_payload(
    proposal_id: str, desktop: str, kind: str, text: str, now: float, task: str = ""
) -> dict[str, Any]:
    """The help written for an accepted proposal (kind: answer, snippet, summary or checklist)."""
    return {
        "schema": SCHEMA,
        "id": stable_id("result", proposal_id),
        "desktop": desktop,
        "proposal_id": proposal_id,
        "task": task,
        "kind": kind,
        "text": text,
        "created_at": now,
    }


def status_payload(role: str, name: str, state: str, now: float) -> dict[str, Any]:
    return {"schema": SCHEMA, "id": new_id(), "role": role, "name": name, "state": state, "at": now}


_NUM = (int, float)
_REQUIRED: dict[str, dict[str, tuple[type, ...]]] = {
    "activity": {"desktop": (str,), "observation": (dict,)},
    "proposal": {"desktop": (str,), "task": (str,), "created_at": _NUM, "expires_at": _NUM},
    "feedback": {"desktop": (str,), "proposal_id": (str,), "verdict": (str,), "at": _NUM},
    "result": {"desktop": (str,), "proposal_id": (str,), "kind": (str,), "text": (str,)},
    "status": {"role": (str,), "state": (str,)},
}


def decode(t: str, raw: bytes) -> tuple[str, str, dict[str, Any]]:
    """Parse and validate one message: ``(desktop, kind, payload)``. Raises `PayloadError`."""
    where = split_topic(t)
    if where is None:
        raise PayloadError("not a proactive/v1 topic")
    desktop, kind = where
    if len(raw) > MAX_PAYLOAD:
        raise PayloadError(f"payload of {len(raw)} bytes is over {MAX_PAYLOAD}")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PayloadError(f"not UTF-8 JSON ({e})") from e
    if not isinstance(payload, dict):
        raise PayloadError("not a JSON object")
    if payload.get("schema") != SCHEMA:
        raise PayloadError(f"schema {payload.get('schema')!r} is not {SCHEMA}")
    if not isinstance(payload.get("id"), str) or not payload["id"]:
        raise PayloadError("missing id")
    for name, types in _REQUIRED[kind].items():
        value = payload.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise PayloadError(f"field {name!r} missing or of the wrong type")
    if kind != "status" and payload["desktop"] != desktop:
        raise PayloadError(f"desktop {payload['desktop']!r} does not match the topic's {desktop!r}")
    if kind == "feedback" and payload["verdict"] not in VERDICTS:
        raise PayloadError(f"verdict {payload['verdict']!r} is not one of {', '.join(VERDICTS)}")
    if kind == "status" and payload["state"] not in ("online", "offline"):
        raise PayloadError(f"state {payload['state']!r} is not online/offline")
    if kind == "activity":
        obs = payload["observation"]
        if not isinstance(obs.get("text"), str) or not isinstance(obs.get("time"), str):
            raise PayloadError("observation needs text and time strings")
    return desktop, kind, payload


def observation_of(payload: dict[str, Any], desktop: str, warned: set[str] | None = None) -> Observation:
    """The `Observation` in an activity payload, attributed to the topic's desktop.

    Its structured ``activity`` is optional (an older companion sends none: the
    hub parses the sentence). One with unknown, missing or invalid fields is
    taken with defaults for them, and logged once per desktop (``warned``: the
    desktops already logged, by default this process's); one that is not an
    object is dropped (the hub parses the sentence), logged the same way.
    """
    data = dict(payload["observation"])
    data["desktop"] = desktop
    raw = data.get("activity")
    if raw is not None:
        data["activity"] = _activity(raw, desktop, _ACTIVITY_WARNED if warned is None else warned)
    try:
        return observation_from_dict(data)
    except TypeError as e:
        raise PayloadError(f"observation fields: {e}") from e


def _activity(raw: object, desktop: str, warned: set[str]) -> Activity | None:
    activity: Activity | None
    activity, problems = activity_from_dict(raw)
    if not isinstance(raw, dict):
        activity = None
        what = f"that is a {type(raw).__name__}, not an object; the sentence is parsed instead"
    else:
        fields = Activity.__dataclass_fields__
        groups = (
            ("unknown", [p for p in problems if p not in fields]),
            ("missing", [p for p in problems if p in fields and p not in raw]),
            ("invalid", [p for p in problems if p in fields and p in raw]),
        )
        named = "; ".join(f"{kind} {', '.join(names)}" for kind, names in groups if names)
        what = f"with fields {named}; defaults used"
    if problems and desktop not in warned:
        warned.add(desktop)
        log.warning(
            "relay: desktop %s sent a structured activity %s (logged once per desktop: "
            "a companion of another version?)",
            desktop,
            what,
        )
    return activity


def anchor_of(payload: dict[str, Any]) -> Anchor | None:
    """What a proposal payload is about, or None (an older hub sends none; a malformed one is ignored)."""
    a = payload.get("anchor")
    if not isinstance(a, dict):
        return None
    kind, text = a.get("kind"), a.get("text")
    if isinstance(kind, str) and kind and isinstance(text, str) and text.strip():
        return Anchor(kind, text)
    return None
