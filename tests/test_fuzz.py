"""Property-based fuzz of what the hub reads from outside: the MQTT payload schemas and the trace parser.

Seeded (``derandomize``: the same cases on every run, so CI is repeatable) with an explicit number
of cases each, and a generous per-case deadline: a decode that takes seconds is a stall. The
properties are the contracts the modules state:

* `edge.mqtt.payloads.decode`: a valid payload dict or `PayloadError`, never another exception;
  what it returns can be hashed, stored and read back (no lone surrogate, finite numbers), and an
  activity's `observation_of` gives an observation whose id can be computed.
* `edge.sources.trace.parse_trace`: a `Trace` or `SourceError`; every observation's text and id
  encode to UTF-8 and its structure stays inside the vocabularies.
* `edge.sources.sentences.parse`: never raises, vocabularies respected, for any object.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge.errors import SourceError
from edge.mqtt.payloads import (
    MODELS,
    PayloadError,
    activity_payload,
    decode,
    feedback_payload,
    observation_of,
    result_payload,
    status_payload,
)
from edge.mqtt.topics import KINDS, topic
from edge.records import APP_CATEGORIES, OBJECT_KINDS, SITE_KINDS, VERBS, Activity, Observation
from edge.sources.sentences import parse
from edge.sources.trace import parse_trace

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = 1_700_000_100.0

# ------------------------------------------------------------------ building blocks

# Every code point, lone surrogates (category Cs) and NUL included: what json.loads lets through.
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
TEXT = st.text(ANY_CHAR, max_size=40) | st.sampled_from(["", " ", "\ud800", "a\udc80b", "\x00", "été", "😀"])
NUMBER = (
    st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, -1, 2**63, -(2**64), 10**400, 1e308, -0.0, 1e-320])
)
SCALAR = st.none() | st.booleans() | NUMBER | TEXT
JSONISH = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
NAMES = ["alice", "bob-2", "hub", "..", "-x", "été pc", " ", "$SYS", "a" * 300]
DESKTOP_LEVEL = st.sampled_from(NAMES) | TEXT


def _observation() -> Observation:
    return Observation("The user searches Google for 'pandas merge'.", "1700000000", NOW, "alice", "aw", "k1")


def valid_payload(kind: str) -> dict[str, Any]:
    """A payload of ``kind`` as our own sender builds it (the starting point of a mutation)."""
    if kind == "activity":
        return activity_payload(_observation(), NOW)
    if kind == "feedback":
        return feedback_payload("p1", "alice", "accepted", NOW)
    if kind == "result":
        return result_payload("p1", "alice", "answer", "Use pd.merge(a, b, on='k').", NOW, "Merge")
    if kind == "status":
        return status_payload("desktop", "alice", "online", NOW)
    return {
        "schema": 1,
        "id": "p1",
        "desktop": "alice",
        "task": "Find an answer to 'pandas merge'",
        "created_at": NOW,
        "expires_at": NOW + 60,
        "anchor": {"kind": "query", "text": "pandas merge"},
        "p_help": 0.8,
    }


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> bytes:
    """A valid payload of ``kind`` with some fields (top level or the observation's) replaced, added or
    removed, serialised the ways a peer might: ASCII escapes, raw UTF-8 (surrogates as CESU bytes),
    NaN and Infinity tokens."""
    p = valid_payload(kind)
    targets = [p, p["observation"]] if kind == "activity" else [p]
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(targets))
        key = draw(st.sampled_from([*target, "extra"]) | TEXT)
        if draw(st.booleans()) and key in target:
            del target[key]
        else:
            target[key] = draw(JSONISH)
    text = json.dumps(p, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


def assert_storable(value: Any) -> None:
    """What decode returns goes to hashing, SQLite and json.dumps: strings encode, floats are finite."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            assert_storable(k)
            assert_storable(v)
    elif isinstance(value, list | tuple):
        for v in value:
            assert_storable(v)


def check_decode(t: str, raw: bytes) -> None:
    try:
        desktop, kind, payload = decode(t, raw)
    except PayloadError:
        return
    assert kind in MODELS and isinstance(payload, dict)
    assert_storable(payload)
    json.dumps(payload, allow_nan=False)
    if kind == "activity":
        try:
            o = observation_of(payload, desktop, warned={desktop})
        except PayloadError:
            return
        o.id.encode("utf-8")
        o.text.encode("utf-8")
        assert o.text.strip() and o.desktop == desktop


# ------------------------------------------------------------------ payloads


@FUZZ
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_decode_takes_a_mutated_payload_or_refuses_it(kind: str, data: st.DataObject) -> None:
    check_decode(topic("alice", kind), data.draw(mutated(kind)))


@FUZZ
@given(level=DESKTOP_LEVEL, kind=st.sampled_from(KINDS), value=JSONISH, ascii_only=st.booleans())
def test_decode_takes_any_json_on_any_topic_or_refuses_it(
    level: str, kind: str, value: Any, ascii_only: bool
) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    check_decode(f"proactive/v1/{level}/{kind}", raw)


@FUZZ
@given(kind=st.sampled_from(KINDS), raw=st.binary(max_size=200))
@example(kind="activity", raw=b'{"schema": 1, "id": ' + b"1" * 5000 + b"}")  # past int's 4300 digits
@example(kind="activity", raw=b'{"schema": 1, "id": "\xed\xa0\x80"}')  # a surrogate as CESU bytes
@example(kind="activity", raw=b"[" * 100_000 + b"]" * 100_000)
@example(kind="feedback", raw=b'{"schema": 1e999, "id": NaN}')
@example(kind="status", raw=b'{"schema": 1, "id": "s", "role": "hub", "state": "online", "at": -Infinity}')
@example(kind="result", raw=json.dumps({"schema": 1, "id": "r", "text": "x" * 300_000}).encode())
def test_decode_takes_any_bytes_or_refuses_them(kind: str, raw: bytes) -> None:
    check_decode(topic("alice", kind), raw)


# ------------------------------------------------------------------ traces and sentences

EVENT = st.fixed_dictionaries(
    {
        "event": TEXT | st.sampled_from(["The user searches for 'x \ud800'.", "The user opens a.py"]),
        "time": SCALAR,
    },
    optional={"help_needed": SCALAR, "extra": JSONISH},
)
TRACE = (
    st.fixed_dictionaries({"events": st.lists(EVENT | JSONISH, max_size=5)}, optional={"name": SCALAR})
    | st.lists(st.fixed_dictionaries({"observation": EVENT | JSONISH}) | JSONISH, max_size=5)
    | JSONISH
)


def assert_vocabulary(a: Activity) -> None:
    assert a.verb in VERBS and a.object_kind in OBJECT_KINDS
    assert a.app_category in APP_CATEGORIES and a.site_kind in SITE_KINDS
    assert isinstance(a.object_text, str) and isinstance(a.switched, bool) and isinstance(a.error, bool)


@FUZZ
@given(data=TRACE, name=TEXT)
@example(data={"events": [{"event": "The user types 'a\ud800b'.", "time": "1"}]}, name="t")
@example(data={"events": [{"event": "The user opens a.py", "time": 10**5000}]}, name="t")
@example(data={"name": "t\udc80", "events": [{"event": "The user opens a.py", "time": "\ud800"}]}, name="t")
@example(data={"events": [{"event": "The user opens a.py", "time": float("nan")}] * 2}, name="t")
@example(data={"name": -(10**5000), "events": []}, name="t")
def test_parse_trace_gives_a_trace_or_a_source_error(data: Any, name: str) -> None:
    try:
        trace = parse_trace(data, name)
    except SourceError as e:
        assert e.msg and e.hint
        return
    for o in trace.observations:
        o.id.encode("utf-8")
        for s in (o.text, o.time, o.source, o.key):
            s.encode("utf-8")
        assert o.text.strip()
        assert o.activity is not None
        assert_vocabulary(o.activity)


@FUZZ
@given(text=TEXT | st.text(ANY_CHAR, max_size=400) | JSONISH)
@example(text="The user searches on Google for 'how to merge \ud800' after typing and clicking 'Enter'.")
@example(text="The user gets the error 'TypeError' in the terminal " * 200)
@example(text=b"\xff bytes")
def test_sentence_parse_never_raises_and_keeps_to_the_vocabulary(text: Any) -> None:
    a = parse(text)
    assert_vocabulary(a)
    a.object_text.encode("utf-8")
