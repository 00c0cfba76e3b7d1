"""Fixtures for the dashboard tests: a store file with fixed data, fixed time, a `make_app` over fakes.

The fakes of the optional parts (`FakePublisher`, `FakeMemory`) are in `tests.doubles`.

Times are fixed (``NOW``) and shown in UTC, so tables and SVG snapshots are the
same on every machine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import Settings
from edge.records import AgentResponse, Anchor, Observation, feedback_id, stable_id
from edge.sources.trace import load_trace
from edge.store import Store
from edge.store.feedback import FeedbackStore
from tests.doubles import FakeClock
from tui.app import ProactiveApp, make_app
from tui.ports import Health

NOW = 1_717_400_000.0  # 2024-06-03 07:33:20 UTC
HOUR = 3600.0


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def add_obs(store: Store, text: str, at: float, desktop: str = "office", **kw: Any) -> Observation:
    o = Observation(text=text, time=str(at), ts=at, desktop=desktop, source=kw.pop("source", "aw"), **kw)
    store.add_observation(o, now=at)
    return o


def add_prop(
    store: Store,
    o: Observation,
    task: str,
    at: float,
    score: float | None,
    verdict: str | None = None,
    answer_after: float = 30.0,
    say: str = "",
    anchor: Anchor | None = None,
    p_help: float | None = None,
) -> str:
    pid = stable_id("proposal", o.id, task)
    response = AgentResponse("purpose", "thoughts", task, say)
    store.add_proposal(pid, o, response, score, now=at, ttl_s=120, anchor=anchor, p_help=p_help)
    if verdict:
        store.add_feedback(feedback_id(pid), pid, verdict, o.desktop, now=at + answer_after)
    return pid


OBSERVATIONS = [
    ("office", "The user opens 'report.py' in Visual Studio Code."),
    ("office", "The user searches Google for 'pandas groupby multiple columns'."),
    ("laptop", "The user reads an e-mail from the landlord about the rent."),
    ("office", "The user runs 'pytest' in the terminal; 3 tests fail."),
    ("laptop", "The user opens the banking site and views last month's statement."),
    ("office", "The user scrolls the traceback of a failing test in the terminal."),
]

PROPOSALS = [
    # (observation index, task, hours before NOW, score, verdict, say, anchor, P(help))
    # The oldest was made before the trigger (no anchor, no P(help)); "Open the test log" had no anchor.
    (1, "Show a groupby example on two columns", 26.0, 0.81, "accepted", "Here is a snippet.", None, None),
    (2, "Draft a reply to the landlord", 5.0, 0.64, "rejected", "", Anchor("page", "Rent reminder"), 0.58),
    (
        3,
        "Explain the three failing tests",
        3.0,
        0.77,
        "accepted",
        "I can summarise failures.",
        Anchor("command", "pytest"),
        0.71,
    ),
    (4, "Summarise last month's spending", 2.0, 0.55, "ignored", "", Anchor("page", "Statement"), 0.62),
    (3, "Open the test log", 1.5, 0.41, None, "", None, 0.55),  # expired, never answered
    (
        5,
        "Explain the traceback and suggest a fix",
        0.01,
        0.88,
        None,
        "Want me to look at it?",
        Anchor("error", "AssertionError: 3 != 4"),
        0.83,
    ),
]

# How the answers moved each desktop's trigger (offset in logits, extra interval in seconds).
TRIGGERS = {"laptop": (-0.6, 300.0), "office": (0.3, 0.0)}


def fill_store(store: Store) -> dict[str, str]:
    """The fixed data every dashboard test sees; returns proposal ids by task."""
    obs = []
    for i, (desk, text) in enumerate(OBSERVATIONS):
        at = NOW - (len(OBSERVATIONS) - i) * HOUR * 0.9 if i else NOW - 27 * HOUR
        obs.append(add_obs(store, text, at, desktop=desk, app="code" if desk == "office" else "firefox"))
    ids = {}
    for oi, task, hours, score, verdict, say, anchor, p_help in PROPOSALS:
        at = NOW - hours * HOUR
        ids[task] = add_prop(store, obs[oi], task, at, score, verdict, say=say, anchor=anchor, p_help=p_help)
    for desktop, (offset, extra) in TRIGGERS.items():
        FeedbackStore(store).save_state(desktop, offset, extra, NOW)
    return ids


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "hub" / "proactive.db"
    s = Store.open(path)
    fill_store(s)
    s.close()
    return path


@pytest.fixture
def hub(store_path: Path) -> Iterator[Store]:
    """A second connection to the store file, playing the running hub."""
    s = Store.open(store_path)
    yield s
    s.close()


TRACE = {
    "name": "mini",
    "events": [
        {"time": "1717377997.0", "event": "The user opens 'CheckName.rb' in VS Code.", "help_needed": False},
        {
            "time": "1717378000.7",
            "event": "The user searches Google for 'How to capitalize person name in ruby?'.",
            "help_needed": True,
        },
        {"time": "1717378021.0", "event": "The user clicks a Stack Overflow answer.", "help_needed": True},
        {
            "time": "1717378050.0",
            "event": "The user types 'name.split.map(&:capitalize)'.",
            "help_needed": False,
        },
    ],
}


@pytest.fixture
def trace_file(tmp_path: Path, store_path: Path) -> Path:
    """A four-event trace; the hub proposed a task at its second event (as `proactive replay` stores it)."""
    path = tmp_path / "traces" / "mini.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(TRACE), encoding="utf-8")
    s = Store.open(store_path)
    t = load_trace(path)
    for i, o in enumerate(t.observations):
        s.add_observation(o, now=NOW - 50 * HOUR + i)
    add_prop(s, t.observations[1], "Show how to capitalize each word of a name in Ruby", NOW - 50 * HOUR, 0.7)
    s.close()
    return path


@pytest.fixture
def upstream_trace(tmp_path: Path) -> Path:
    path = tmp_path / "traces" / "up.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "observation": {"time": "Day 1, 11:00 PM", "event": "The user opens VS Code."},
            "agent_response": None,
        },
        {
            "observation": {"time": "Day 1, 11:05 PM", "event": "The user searches how to read a CSV."},
            "agent_response": json.dumps({"Proactive Task": "Show pandas.read_csv usage", "Response": "r"}),
        },
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


HEALTH = [
    Health("model", True, "SmolLM2-135M-Instruct Q4_1 (98 MB)"),
    Health("reward gate", True, "models/reward.onnx + MiniLM encoder (first score 6 ms)"),
    Health("data directory", True, "/srv/proactive (120 GB free)"),
    Health("broker", True, "embedded, started by `proactive run` on 127.0.0.1:1883 (port free)"),
    Health(
        "activitywatch",
        False,
        "Cannot reach ActivityWatch at http://127.0.0.1:5600",
        "Start aw-server (or aw-qt) on this machine, or set activitywatch.host.",
    ),
]


@pytest.fixture
def build(store_path: Path, tmp_path: Path) -> Callable[..., ProactiveApp]:
    """make_app over the fixed store with fixed time, no polling, and fakes unless overridden."""

    def _build(**kw: Any) -> ProactiveApp:
        args: dict[str, Any] = {
            "clock": FakeClock(NOW),
            "relay": None,
            "memory": None,
            "health": lambda: list(HEALTH),
            "annotator": "alice",
            "annotations_dir": tmp_path / "annotations",
            "trace_dirs": [],
            "poll_interval": None,
        }
        args.update(kw)
        store = args.pop("store", store_path)
        return make_app(store, Settings(desktop="hubhost"), **args)

    return _build


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio through anyio's pytest plugin (``@pytest.mark.anyio``)."""
    return "asyncio"
