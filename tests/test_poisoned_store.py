"""A store an older version (or a hostile payload) filled with rows a read cannot take as they are.

The rows are planted with raw SQL (``sqlite3``, as another program would write
them); then the loop and the memory run over the file, twice, as a hub under
systemd would restart: every decision is made, every unreadable row is
skipped or read with stand-ins with one log line, and the hub never crashes.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from edge.agent import Agent
from edge.config import MemorySettings
from edge.loop import Loop
from edge.memory.stream import MemoryStream, index_path_for
from edge.records import Observation
from edge.store import Store
from tests.doubles import FakeClock, HashEmbedder, QueuedLLM, obs, response

T0 = 1_700_000_000.0
ERROR = "The user gets the error 'TypeError: unsupported operand' in the terminal."

# What older versions and hostile payloads left behind (`issue 13`: "ts":"abc" stored as text).
_OBSERVATIONS = [
    # id, ts, time, text, help_needed, activity
    ("o-text-ts", "abc", "abc", "The user opens notes.md in Visual Studio Code.", 1, None),
    ("o-null-ts", None, None, "The user searches Google for 'pandas merge'.", None, '{"verb": 5'),
    ("o-inf-ts", float("inf"), "1", "The user reads 'Merge, join' on pandas.pydata.org.", "yes", "[1, 2]"),
    ("o-no-text", T0, "1", None, None, None),
    ("o-blob-text", T0, "1", b"\xff\xfe", None, None),
]


def plant(path: Path) -> None:
    """Rows an older version could have written, with raw SQL, into a migrated store file."""
    Store.open(path).close()
    con = sqlite3.connect(path)
    with con:
        for i, (oid, ts, time, text, hn, act) in enumerate(_OBSERVATIONS):
            con.execute(
                "INSERT INTO observations (id, desktop, source, ts, time, text, app, key, help_needed,"
                " created_at, activity) VALUES (?, 'd1', 'aw', ?, ?, ?, NULL, ?, ?, ?, ?)",
                [oid, ts, time, text, oid, hn, T0 - 100 + i, act],
            )
        # the memory record the "abc" observation became: created_at and last_accessed are text
        vec = HashEmbedder().embed(["The user opens notes.md in Visual Studio Code."])[0]
        for mid, created, last, imp in [
            (1, "abc", "abc", 3),
            (2, T0 - 50, "", "high"),
            (3, "x", b"\0\xff", 2),
        ]:
            con.execute(
                "INSERT INTO memories (id, kind, text, text_hash, source_id, created_at, last_accessed,"
                " importance) VALUES (?, 'observation', ?, ?, ?, ?, ?, ?)",
                [mid, f"The user opens notes.md ({mid}).", f"h{mid}", f"planted-{mid}", created, last, imp],
            )
            con.execute(
                "INSERT INTO memory_vectors (id, vector) VALUES (?, ?)", [mid, np.float32(vec).tobytes()]
            )
        # proposals and verdicts the memory copies: a numeric task, a verdict time that is text
        con.execute(
            "INSERT INTO proposals (id, observation_id, desktop, task, status, created_at, expires_at)"
            " VALUES ('p-old', 'o-text-ts', NULL, 42, 'accepted', ?, ?)",
            [T0 - 3600, T0 - 3500],
        )
        con.execute(
            "INSERT INTO feedback (id, proposal_id, desktop, verdict, created_at)"
            " VALUES ('f-old', 'p-old', 'd1', 'accepted', 'yesterday')"
        )
        for name, value in [
            ("memory.sync.proposals_rowid", "not json"),
            ("memory.sync.feedback_rowid", '"abc"'),
            ("memory.plan_id", '{"id": 1}'),
            ("memory.last_reflection_id", "[1]"),
            ("memory.embedder", '"hash-bow"'),
        ]:
            con.execute(
                "INSERT OR REPLACE INTO checkpoints (name, value, updated_at) VALUES (?, ?, 0)", [name, value]
            )
    con.close()


def run_hub_once(path: Path, clock: FakeClock, first: int) -> list[bool]:
    """One 'hub process' over the file: the loop with the memory, three events; proposals made."""
    store = Store.open(path)
    llm = QueuedLLM([response("Explain the TypeError in the terminal") for _ in range(3)])
    settings = MemorySettings(reflect_in_remember=False)
    memory = MemoryStream(store, HashEmbedder(), settings, clock, llm=llm, index_path=index_path_for(store))
    loop = Loop(Agent(llm), clock, store=store, memory=memory, repeat_window_s=0)
    try:
        decisions = [loop.step(obs(ERROR, first + i)) for i in range(3)]
        assert memory.retrieve("notes.md Visual Studio Code", k=10)  # the planted records take part
        return [d.llm_called for d in decisions]
    finally:
        memory.close()
        store.close()


def test_unreadable_rows_never_crash_the_loop_or_the_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "proactive.db"
    plant(path)
    clock = FakeClock(T0)
    caplog.set_level(logging.WARNING)

    assert run_hub_once(path, clock, 0) == [True, True, True]
    clock.advance(60)
    assert run_hub_once(path, clock, 10) == [True, True, True]  # a restart: no crash loop either

    # the observations read back: coerced field by field, rows without text skipped
    store = Store.open(path)
    got = {o.key: o for o in store.observations("d1")}
    assert set(got) >= {"o-text-ts", "o-null-ts", "o-inf-ts"}
    assert "o-no-text" not in got and "o-blob-text" not in got
    assert [got[k].ts for k in ("o-text-ts", "o-null-ts", "o-inf-ts")] == [None, None, None]
    assert got["o-text-ts"].help_needed is True and got["o-inf-ts"].help_needed is None
    assert got["o-null-ts"].activity is None and got["o-null-ts"].time == ""
    assert got["o-inf-ts"].activity is not None and got["o-inf-ts"].activity.verb == "other"
    assert all(isinstance(o, Observation) for o in store.recent_observations("d1", limit=50))
    store.close()

    # the memory's unreadable records were repaired in place where the store allows
    con = sqlite3.connect(path)
    rows = con.execute(
        "SELECT id, typeof(last_accessed), typeof(importance) FROM memories WHERE id <= 3 ORDER BY id"
    ).fetchall()
    copied = con.execute(
        "SELECT kind, text, typeof(created_at) FROM memories WHERE source_id LIKE 'f%'"
    ).fetchall()
    con.close()
    assert rows == [(1, "real", "integer"), (2, "real", "integer"), (3, "real", "integer")]
    assert [(k, t) for k, t, _ in copied] == [("feedback", "The user accepted the proposal: 42")]
    assert copied[0][2] == "real"

    # one log line per unreadable row, although two 'processes' read them many times
    lines = [r.getMessage() for r in caplog.records]
    for oid in ("o-text-ts", "o-null-ts", "o-inf-ts", "o-no-text", "o-blob-text"):
        assert sum(f"'{oid}'" in m for m in lines) == 1, oid
    # a memory record once per process; record 2 was repaired by the first, so only it logged
    assert [sum(f"memory record {i}:" in m for m in lines) for i in (1, 2, 3)] == [2, 1, 2]
    assert sum("memory.plan_id is not an id" in m for m in lines) == 2
    assert any("checkpoint 'memory.sync.proposals_rowid' is unreadable" in m for m in lines)


def test_a_ts_that_is_not_a_number_is_never_written(tmp_path: Path) -> None:
    """Belt and braces behind the payload schemas: the store and the memory take no text time."""
    store = Store.open(tmp_path / "p.db")
    clock = FakeClock(T0)
    memory = MemoryStream(store, HashEmbedder(), MemorySettings(), clock, index_path=index_path_for(store))
    bad = Observation(text="The user opens a.py.", time="abc", ts="abc", desktop="d1", source="mqtt", key="k")  # type: ignore[arg-type]
    nan = Observation(
        text="The user opens b.py.", time="x", ts=float("nan"), desktop="d1", source="mqtt", key="n"
    )
    for o in (bad, nan):
        store.add_observation(o, clock.now())
        memory.remember(o)
    assert [o.ts for o in store.recent_observations("d1")] == [None, None]
    recs = memory.records.latest(5)
    assert [(r.created_at, r.last_accessed) for r in recs] == [(T0, T0), (T0, T0)]
    memory.close()
    store.close()
