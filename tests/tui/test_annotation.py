"""Annotation sessions: consistent labels, reward-data rows, resume, agreement, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.errors import StoreError
from edge.sources.trace import load_trace
from edge.store import Store
from tests.doubles import FakeClock
from tests.tui.conftest import NOW
from tui.annotation import AnnotationSession, agreement, cohen_kappa, export_rows, others_verdicts

# The training rows the reward room reads (shared/ sits beside the repository).
SHARED_ROWS = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "proactivebench" / "reward_train.jsonl"
)
REWARD_KEYS = {"obs", "pred_task", "valid", "help_needed", "annotation", "category"}
AGENT_TASK = "Show how to capitalize each word of a name in Ruby"


def session(
    trace_file: Path, root: Path, who: str = "alice", store: Store | None = None
) -> AnnotationSession:
    return AnnotationSession(load_trace(trace_file), who, root, store=store, clock=FakeClock(NOW))


def test_candidates_come_from_the_store_the_trace_and_the_annotator(
    trace_file: Path, upstream_trace: Path, hub: Store, tmp_path: Path
) -> None:
    s = session(trace_file, tmp_path, store=hub)
    assert [c.task for c in s.candidates()] == [None]
    s.move(1)
    assert [(c.task, c.origin) for c in s.candidates()] == [(None, "silence"), (AGENT_TASK, "agent")]
    s.add_typed("  Explain   String#capitalize ")
    assert s.candidates()[-1].task == "Explain String#capitalize"
    up = session(upstream_trace, tmp_path)
    up.move(1)
    assert [(c.task, c.origin) for c in up.candidates()][1] == ("Show pandas.read_csv usage", "trace")


def test_rows_have_the_reward_data_format(trace_file: Path, hub: Store, tmp_path: Path) -> None:
    s = session(trace_file, tmp_path, store=hub)
    s.no_help_needed()  # event 0
    s.move(1)
    s.mark(AGENT_TASK, True)
    s.move(1)
    s.add_typed("Summarise the Stack Overflow answer")
    s.mark("Summarise the Stack Overflow answer", False)
    path = s.save()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    if SHARED_ROWS.exists():
        assert set(json.loads(SHARED_ROWS.open().readline())) == REWARD_KEYS
    for r in rows:
        assert set(r) >= REWARD_KEYS  # every key of the shared format, plus provenance
        assert {type(e) for e in r["obs"]} == {dict} and set(r["obs"][0]) == {"time", "event"}
        assert r["obs"] == [o.to_event() for o in s.trace.observations[: r["event_index"] + 1]]
    cats = [(r["event_index"], r["pred_task"], r["valid"], r["help_needed"], r["category"]) for r in rows]
    assert cats == [
        (0, None, True, False, "Correct-Rejection (CR)"),
        (1, None, False, True, "Missed-Need (MN)"),  # accepting a task means silence was wrong
        (1, AGENT_TASK, True, True, "Correct-Detection (CD)"),
        (2, "Summarise the Stack Overflow answer", False, True, "False-Alarm (FA)"),
    ]
    assert rows[3]["help_needed"] is True  # nothing judged by alice: the trace's label
    assert {r["annotator"] for r in rows} == {"alice"} and rows[0]["annotation"] == [True]
    assert rows[3]["origin"] == "typed" and rows[2]["origin"] == "agent"


def test_no_help_needed_turns_every_candidate_into_a_false_alarm(
    trace_file: Path, hub: Store, tmp_path: Path
) -> None:
    s = session(trace_file, tmp_path, store=hub)
    s.move(1)
    s.mark(AGENT_TASK, True)
    s.no_help_needed()
    assert s.verdict(None) is True and s.verdict(AGENT_TASK) is False
    s.clear(AGENT_TASK)
    assert s.verdict(AGENT_TASK) is None


def test_resume_from_the_saved_file(trace_file: Path, hub: Store, tmp_path: Path) -> None:
    s = session(trace_file, tmp_path, store=hub)
    s.move(2)
    s.add_typed("typed task")
    s.mark("typed task", True)
    s.save()
    again = session(trace_file, tmp_path, store=hub)
    assert again.verdict("typed task", 2) is True
    assert ("typed task", "typed") in [(c.task, c.origin) for c in again.candidates(2)]
    assert again.labelled_events() == 1


def test_agreement_between_annotators(trace_file: Path, hub: Store, tmp_path: Path) -> None:
    a, b = session(trace_file, tmp_path, "alice", hub), session(trace_file, tmp_path, "bob", hub)
    for s, verdicts in ((a, [True, True, False]), (b, [True, False, False])):
        for i, v in enumerate(verdicts):
            s.index = i
            s.mark(None, v)
        s.save()
    rep = agreement(a.folder)
    assert rep.annotators == ["alice", "bob"]
    (pair,) = rep.pairs
    assert (pair.shared, pair.agree) == (3, 2)
    assert pair.kappa == pytest.approx(cohen_kappa([(True, True), (True, False), (False, False)]))
    assert rep.items_multi == 3 and rep.unanimous == 2
    assert others_verdicts(a.folder, "alice", 1) == {None: [False]}


def test_cohen_kappa_known_values() -> None:
    assert cohen_kappa([(True, True), (False, False)]) == pytest.approx(1.0)
    assert cohen_kappa([(True, False), (False, True)]) == pytest.approx(-1.0)
    assert cohen_kappa([(True, True), (True, True)]) is None  # chance agreement is 1
    assert cohen_kappa([]) is None


def test_export_merges_annotators_by_majority(trace_file: Path, hub: Store, tmp_path: Path) -> None:
    names = ["alice", "bob", "carol"]
    for name, v in zip(names, [True, True, False], strict=True):
        s = session(trace_file, tmp_path, name, hub)
        s.move(1)
        s.mark(AGENT_TASK, v)
        s.save()
    path, n = export_rows(tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert n == len(rows) == 2  # the task, and silence (judged wrong by whoever accepted)
    task_row = next(r for r in rows if r["pred_task"] == AGENT_TASK)
    assert task_row["valid"] is True and task_row["annotation"] == [True, True, False]
    assert task_row["category"] == "Correct-Detection (CD)" and task_row["annotators"] == names


def test_a_corrupt_annotation_file_is_reported_not_overwritten(trace_file: Path, tmp_path: Path) -> None:
    s = session(trace_file, tmp_path)
    s.path.parent.mkdir(parents=True, exist_ok=True)
    s.path.write_text("{not json\n")
    with pytest.raises(StoreError, match="line 1"):
        session(trace_file, tmp_path)
    assert s.path.read_text() == "{not json\n"
