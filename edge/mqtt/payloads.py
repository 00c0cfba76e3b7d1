"""The schema-1 payloads: one builder per kind, one pydantic model per kind, and `decode`.

Every payload is a UTF-8 JSON object with ``"schema": 1`` and a string
``"id"`` that is unique per message and stable across redelivery (receivers
drop an id they have already handled). `decode` validates what arrives
against its topic kind's model (`MODELS`) before anything is stored or
queued: strict types (``true`` is not 1, ``"abc"`` or ``[1, 2]`` no time,
``"yes"`` no boolean), finite numbers, bounded lengths, a desktop name that
follows the rule in the topic and the payload. Free text is repaired to valid
UTF-8 (a lone surrogate becomes U+FFFD, `valid_text`); ids and names with one
are refused. A payload that fails raises `PayloadError` (`TopicNameError` for
the topic's name), whose message names the field and the reason; the relay
drops it with that reason in one log line and counts it.

Optional parts are read leniently: an activity's structured ``activity``
with unknown, missing or invalid fields is taken with defaults (logged once
per desktop), a proposal without a usable ``anchor`` has none. The formats
are documented in firmware-notes/mqtt.md.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
)

from edge.config import check_desktop_name
from edge.mqtt.topics import HUB, name_problem, split_topic
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
    valid_text,
)

log = logging.getLogger(__name__)

SCHEMA = 1
MAX_PAYLOAD = 256 * 1024

_ACTIVITY_WARNED: set[str] = set()
"""The desktops whose structured activity has been logged as faulty (once each, per process)."""


class PayloadError(ValueError):
    """A payload that does not follow schema 1; the message says why."""


class TopicNameError(PayloadError):
    """A message whose topic's desktop level is not a desktop name (dropped and counted apart)."""


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


# ------------------------------------------------------------------ what arrives: one model per topic kind

ID_MAX = 128
"""Ids are machine-made (hex digests, uuids): printable ASCII without spaces, at most this long."""
OBSERVATION_TEXT_MAX = 4000
"""An observation's sentence ("The user ..."), in characters."""
TASK_MAX = 1000
"""A proposal's task, in characters."""
TEXT_MAX = 8000
"""A proposal's response, purpose and event, in characters."""
RESULT_TEXT_MAX = 64_000
"""The help written for an accepted task, in characters."""
SHORT_MAX = 256
"""Small strings: an observation's display time, app, source; a result's kind."""
KEY_MAX = 1024
"""An observation's ``key`` (which raw events it came from)."""
TIME_MAX = 1e11
"""Unix times (and seconds) are finite, >= 0 and below this (year 5138)."""


def _not_blank(s: str) -> str:
    if not s.strip():
        raise ValueError("is empty")
    return s


def _peer_name(s: str) -> str:
    """A status payload's ``name``: a desktop's, or the hub's."""
    return s if s == HUB else check_desktop_name(s)


def _flat(value: Any) -> Any:
    """A lenient part (an activity, an anchor) made safe to read: only its top level is ever used, so
    a nested container is emptied (still the wrong type, so still reported) and strings are cleaned."""
    if isinstance(value, dict):
        return {valid_text(str(k)): _flat_scalar(v) for k, v in value.items()}
    return _flat_scalar(value)


def _flat_scalar(value: Any) -> Any:
    if isinstance(value, str):
        return valid_text(value[: 4 * SHORT_MAX])
    if isinstance(value, dict | list):
        return type(value)()
    return value


Id = Annotated[str, StringConstraints(pattern=rf"^[\x21-\x7e]{{1,{ID_MAX}}}$")]
Name = Annotated[str, StringConstraints(max_length=64), AfterValidator(check_desktop_name)]
Time = Annotated[float, Field(ge=0, lt=TIME_MAX)]
Score = Annotated[float, Field(ge=-1e6, le=1e6)]


def _text(max_length: int) -> StringConstraints:
    return StringConstraints(max_length=max_length)


def _clean_str(value: Any) -> Any:
    return valid_text(value) if isinstance(value, str) else value


_Clean = BeforeValidator(_clean_str)  # before the str check: pydantic refuses a lone surrogate itself
_Required = AfterValidator(_not_blank)
ObsText = Annotated[str, _text(OBSERVATION_TEXT_MAX), _Clean, _Required]
Task = Annotated[str, _text(TASK_MAX), _Clean, _Required]
OptTask = Annotated[str, _text(TASK_MAX), _Clean]
Text = Annotated[str, _text(TEXT_MAX), _Clean]
ResultText = Annotated[str, _text(RESULT_TEXT_MAX), _Clean]
Short = Annotated[str, _text(SHORT_MAX), _Clean]
RequiredShort = Annotated[str, _text(SHORT_MAX), _Clean, _Required]
Key = Annotated[str, _text(KEY_MAX), _Clean]
Kind = Annotated[str, _text(32), _Clean, _Required]
PeerName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_peer_name)]
"""Free text is cleaned (`valid_text`) and bounded; a required one may not be blank."""


Lenient = Annotated[Any, BeforeValidator(_flat)]


class _Strict(BaseModel):
    """Strict types (``true`` is no number, ``"1"`` no float), finite numbers, unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False, frozen=True)


class _Payload(_Strict):
    schema_: StrictInt = Field(alias="schema")
    id: Id

    @field_validator("schema_")
    @classmethod
    def _schema_1(cls, v: int) -> int:
        if v != SCHEMA:
            raise ValueError(f"schema {v} is not {SCHEMA}")
        return v


class ObservationIn(_Strict):
    """``observation`` of an activity payload; its ``desktop`` is ignored (the topic's is used)."""

    text: ObsText
    time: RequiredShort
    ts: Time | None = None
    desktop: Short | None = None
    app: Short = ""
    source: Short = ""
    key: Key = ""
    help_needed: bool | None = None
    activity: Lenient = None
    """The structured event: read leniently by `observation_of` (defaults for bad fields, logged)."""


class ActivityIn(_Payload):
    desktop: Name
    sent_at: Time | None = None
    observation: ObservationIn


class ProposalIn(_Payload):
    desktop: Name
    task: Task
    response: Text = Field("", description="How the hub offers the task to the user.")
    purpose: Text = ""
    score: Score | None = None
    """The reward model's score of the task; null without one."""
    event: Text = Field("", description="The observation the proposal answers, as text.")
    observation_id: Id | None = None
    created_at: Time
    expires_at: Time
    anchor: Lenient = None
    """What the proposal is about: read leniently by `anchor_of` (a malformed one is no anchor)."""
    p_help: Score | None = None


class FeedbackIn(_Payload):
    desktop: Name
    proposal_id: Id
    verdict: Literal["accepted", "rejected", "ignored"]
    at: Time


class ResultIn(_Payload):
    desktop: Name
    proposal_id: Id
    task: OptTask = ""
    kind: Kind
    text: ResultText
    created_at: Time | None = None


class StatusIn(_Payload):
    role: Literal["hub", "desktop"]
    name: PeerName | None = None
    state: Literal["online", "offline"]
    at: Time | None = None


MODELS: dict[str, type[_Payload]] = {
    "activity": ActivityIn,
    "proposal": ProposalIn,
    "feedback": FeedbackIn,
    "result": ResultIn,
    "status": StatusIn,
}
"""The schema of each topic kind; `decode` validates every message against its kind's."""


def _reason(e: ValidationError) -> str:
    """The validation errors in one short line: ``field: message; ...`` (never the value itself)."""
    parts = []
    for err in e.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where.replace('schema_', 'schema')}: {err['msg']}")
    more = len(e.errors()) - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def decode(t: str, raw: bytes) -> tuple[str, str, dict[str, Any]]:
    """Parse and validate one message: ``(desktop, kind, payload)``. Raises `PayloadError`.

    The topic's desktop level must follow the name rule (`edge.mqtt.topics.name_problem`;
    `TopicNameError` then), the payload its kind's model in `MODELS`: strict types, bounded
    lengths, and, except for status, a ``desktop`` equal to the topic's. The payload returned is
    the model's, as a plain dict: only known fields, free text repaired (`valid_text`), defaults
    filled in; nothing in it can fail a later ``.encode()``, hash or SQLite write.
    """
    where = split_topic(t)
    if where is None:
        raise PayloadError("not a proactive/v1 topic")
    desktop, kind = where
    problem = name_problem(desktop, kind)
    if problem is not None:
        raise TopicNameError(f"topic level: {problem}")
    if len(raw) > MAX_PAYLOAD:
        raise PayloadError(f"payload of {len(raw)} bytes is over {MAX_PAYLOAD}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as e:  # not UTF-8, not JSON, or an integer past int's 4300 digits
        raise PayloadError(f"not UTF-8 JSON ({str(e)[:160]})") from e
    except RecursionError as e:
        raise PayloadError("JSON nested too deeply") from e
    if not isinstance(data, dict):
        raise PayloadError("not a JSON object")
    claimed = data.get("desktop")
    if kind != "status" and isinstance(claimed, str) and claimed != desktop:
        raise PayloadError(f"desktop {claimed[:80]!r} does not match the topic's {desktop!r}")
    try:
        model = MODELS[kind].model_validate(data)
    except ValidationError as e:
        raise PayloadError(_reason(e)) from e
    return desktop, kind, model.model_dump(by_alias=True)


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
