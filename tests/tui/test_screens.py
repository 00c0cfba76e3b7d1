"""Each screen's behaviour through the pilot, against a store file with fixed data."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Sparkline, Static

from edge.cli import cli
from edge.config import Settings
from edge.feedback import FeedbackManager
from edge.mqtt.links import HubLink
from edge.mqtt.topics import HUB, topic
from edge.records import Anchor, HelpResult, feedback_id
from edge.store import Store
from edge.store.feedback import FeedbackStore
from edge.store.proposals import ProposalFilter
from tests.doubles import FakeClock, FakeMemory, FakePublisher, MemoryBus, MemoryRelay
from tests.tui.conftest import NOW, add_obs, add_prop
from tests.tui.test_annotation import session
from tui.app import AUTO, ProactiveApp
from tui.messages import FeedbackSent
from tui.ports import Health
from tui.relay import RelayFeedback
from tui.widgets import AskScreen, ErrorScreen

pytestmark = pytest.mark.anyio

Build = Callable[..., ProactiveApp]
PENDING = "Explain the traceback and suggest a fix"


def notes(app: ProactiveApp) -> list[str]:
    """Record every toast the app shows."""
    seen: list[str] = []
    original = app.notify

    def notify(message: str, **kw: Any) -> None:
        seen.append(message)
        original(message, **kw)

    app.notify = notify  # type: ignore[method-assign]
    return seen


def rows(app: ProactiveApp, table_id: str) -> list[list[str]]:
    t = app.screen.query_one(table_id, DataTable)
    return [[str(c) for c in t.get_row_at(i)] for i in range(t.row_count)]


def text(app: ProactiveApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


# ------------------------------------------------------------------ live


def pid_of(store: Store, task: str) -> str:
    return next(p.id for p in store.proposal_rows() if p.task == task)


async def test_live_accept_goes_to_the_hub_when_it_is_online(build: Build, hub: Store) -> None:
    publisher = FakePublisher(hub_online=True)
    sent: list[Message] = []
    app = build(relay=publisher)
    async with app.run_test(size=(80, 24), message_hook=sent.append) as pilot:
        toasts = notes(app)
        assert publisher.started
        assert rows(app, "#proposals")[0][2:] == [
            "0.83",
            "pending",
            "Explain the traceba…",
            "AssertionErro…",
        ]
        assert "about error 'AssertionError: 3 != 4' · P(help) 0.83 · score 0.88" in text(
            app, "#proposal-detail"
        )
        assert "Answers go to the hub over MQTT." in text(app, "#live-head")
        await pilot.press("a")
        await pilot.pause()
        pid = pid_of(hub, PENDING)
        assert publisher.sent == [
            {"desktop": "office", "proposal_id": pid, "verdict": "accepted", "now": NOW}
        ]
        assert any(isinstance(m, FeedbackSent) and m.published for m in sent)
        assert toasts[-1] == "Accepted: sent to the hub for office. The hub records it and adapts."
        # The hub records the answer, not the dashboard (else the hub would not adapt to it).
        assert hub.get_proposal(pid)["status"] == "pending"  # type: ignore[index]
        await pilot.press("r")
        await pilot.pause()
        assert "Already sent (accepted)" in toasts[-1] and len(publisher.sent) == 1
        hub.add_feedback(feedback_id(pid), pid, "accepted", "office", NOW + 1)
        app.poll_store()
        await pilot.pause()
        assert rows(app, "#proposals")[0][3] == "accepted"


async def test_live_answers_are_stored_when_the_hub_is_offline(build: Build, hub: Store) -> None:
    publisher = FakePublisher(hub_online=False)
    app = build(relay=publisher)
    async with app.run_test(size=(80, 24)) as pilot:
        toasts = notes(app)
        await pilot.press("i")
        await pilot.pause()
        assert publisher.sent == [] and toasts[-1] == "Ignored: Hub is offline: store only."
        row = hub.get_feedback(feedback_id(pid_of(hub, PENDING)))
        assert row is not None
        assert (row["verdict"], row["desktop"], row["created_at"]) == ("ignored", "office", NOW)
        assert rows(app, "#proposals")[0][3] == "ignored"


async def test_live_reject_and_ignore_without_relay(build: Build) -> None:
    app = build()
    async with app.run_test(size=(80, 24)) as pilot:
        toasts = notes(app)
        await pilot.press("r")
        await pilot.pause()
        assert toasts[-1] == "Rejected: No MQTT relay: answers are saved in the store only."
        await pilot.press("r")  # the same proposal again: already answered
        await pilot.pause()
        assert "Already answered (rejected)" in toasts[-1]
        await pilot.press("down", "i")  # the expired one can still be ignored
        await pilot.pause()
        statuses = {p.task: p.status for p in app.dashboard.store.proposal_rows()}
        assert statuses[PENDING] == "rejected" and statuses["Open the test log"] == "ignored"


async def test_live_feedback_reaches_a_real_hub_over_the_relay(
    build: Build, hub: Store, store_path: Path
) -> None:
    """The relay's in-memory bus: the hub's HubLink + FeedbackManager record and adapt."""
    clock = FakeClock(NOW)
    bus = MemoryBus()
    hub_relay = MemoryRelay(bus, hub, HUB, HUB, clock)
    manager = FeedbackManager(hub, clock, Settings(desktop="hubhost").feedback)
    HubLink(hub_relay, clock, on_feedback=manager.handle)
    hub_relay.start()
    ui_store = Store.open(store_path)
    publisher = RelayFeedback(MemoryRelay(bus, ui_store, "desktop", "dashboard-hub", clock))
    app = build(store=ui_store, relay=publisher)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.4)  # the pump timer sees the hub's retained "online"
        assert publisher.hub_online
        await pilot.press("a")
        await pilot.pause()
        hub_relay.pump(0)  # the hub's main loop
        pid = pid_of(hub, PENDING)
        assert hub.get_proposal(pid)["status"] == "accepted"  # type: ignore[index]
        assert len(hub.results(pid)) == 1
        assert app.poll_store()
        await pilot.pause()
        assert rows(app, "#proposals")[0][3] == "accepted"
    app.dashboard.close_parts()
    assert bus.retained[topic("dashboard-hub", "status")]


async def test_live_shows_what_the_hub_writes(build: Build, hub: Store) -> None:
    app = build()
    async with app.run_test(size=(80, 24)) as pilot:
        toasts = notes(app)
        assert app.poll_store() is False
        o = add_obs(hub, "The user opens a merge conflict in report.py.", NOW - 5)
        anchor = Anchor("file", "report.py")
        add_prop(
            hub, o, "Walk through resolving the merge conflict", NOW - 4, 0.93, anchor=anchor, p_help=0.9
        )
        assert app.poll_store() is True
        await pilot.pause()
        assert rows(app, "#observations")[0][2] == "The user opens a merge conflict in report.py."
        assert rows(app, "#proposals")[0][4].startswith("Walk through resolv")
        assert (rows(app, "#proposals")[0][2], rows(app, "#proposals")[0][5]) == ("0.90", "report.py")
        await pilot.press("up")  # the cursor stayed on the row it was on
        assert "about file 'report.py' · P(help) 0.90" in text(app, "#proposal-detail")
        assert any("Walk through resolving the merge conflict" in t for t in toasts)
        assert "2 waiting" in text(app, "#live-head")


async def test_live_polls_on_its_own(build: Build, hub: Store) -> None:
    app = build(poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        add_obs(hub, "The user opens the calendar.", NOW - 1)
        await pilot.pause(0.3)
        assert rows(app, "#observations")[0][2] == "The user opens the calendar."


# ------------------------------------------------------------------ history


async def test_history_filters(build: Build) -> None:
    app = build(screen="history")
    async with app.run_test(size=(80, 24)) as pilot:
        toasts = notes(app)
        assert len(rows(app, "#history")) == 6
        app.screen.query_one("#f-verdict", Select).value = "accepted"
        await pilot.pause()
        assert [r[3] for r in rows(app, "#history")] == ["accepted", "accepted"]
        app.screen.query_one("#f-desktop", Select).value = "laptop"
        await pilot.pause()
        assert rows(app, "#history") == []
        assert "c to clear" in text(app, "#history-detail")
        await pilot.press("c")
        await pilot.pause()
        assert len(rows(app, "#history")) == 6
        app.screen.query_one("#f-date", Input).focus()
        await pilot.press(*"2024-06-02", "enter")
        await pilot.pause()
        assert [r[4] for r in rows(app, "#history")] == ["Show a groupby exam…"]
        assert rows(app, "#history")[0][2] == rows(app, "#history")[0][5] == "-"  # made before the trigger
        assert "no anchor" in text(app, "#history-detail")
        assert "filtered by 2024-06-02" in text(app, "#history-count")
        app.screen.query_one("#f-date", Input).value = "last week"
        await pilot.press("enter")  # the table has focus again; re-submit from the input
        app.screen.query_one("#f-date", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "'last week' is not a date. Type 2024-06-03" in toasts[-1]


async def test_history_detail_shows_result_and_answer_time(build: Build, hub: Store) -> None:
    pid = hub.proposal_rows(ProposalFilter(status="accepted"))[0].id
    hub.add_result("r1", HelpResult(pid, "office", "", "answer", "Ran pytest -x; see the summary.", NOW))
    app = build(screen="history")
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#f-verdict", Select).value = "accepted"
        await pilot.pause()
        detail = text(app, "#history-detail")
        assert "accepted after 30 s · P(help) 0.71 · score 0.77" in detail
        assert "about: command 'pytest'" in detail and "result: Ran pytest -x" in detail
        assert (rows(app, "#history")[0][2], rows(app, "#history")[0][5]) == ("0.71", "pytest")


# ------------------------------------------------------------------ annotate


async def test_annotate_labels_a_trace(build: Build, trace_file: Path, tmp_path: Path) -> None:
    app = build(screen="annotate")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")  # nothing open yet
        await pilot.pause()
        app.screen.query_one("#trace-path", Input).value = str(trace_file)
        app.screen.query_one("#trace-path", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "event 1/4" in text(app, "#ann-status")
        await pilot.press("x")  # event 1: no help needed
        await pilot.press("n")
        await pilot.pause()
        cands = rows(app, "#candidates")
        assert [c[3] for c in cands] == [
            "(stay silent: no proposal)",
            "Show how to capitalize each word of a name in R…",
        ]
        await pilot.press("a")  # the cursor sits on the agent's task
        await pilot.press("t", *"Link the Ruby docs", "enter", "r")
        await pilot.pause()
        assert [c[0] for c in rows(app, "#candidates")] == ["help!", "accept", "reject"]
        saved = tmp_path / "annotations" / "mini" / "alice.jsonl"
        got = [json.loads(line) for line in saved.read_text().splitlines()]
        assert [(r["event_index"], r["pred_task"], r["valid"]) for r in got] == [
            (0, None, True),
            (1, None, False),
            (1, "Link the Ruby docs", False),
            (1, "Show how to capitalize each word of a name in Ruby", True),
        ]
        assert "Agreement appears when another annotator" in text(app, "#ann-agreement")


async def test_annotate_shows_agreement_with_another_annotator(
    build: Build, trace_file: Path, tmp_path: Path
) -> None:
    bob = session(trace_file, tmp_path / "annotations", "bob")
    bob.mark(None, False)
    bob.save()
    app = build(trace=trace_file)
    async with app.run_test(size=(80, 24)) as pilot:
        assert rows(app, "#candidates")[0][1] == "0/1"  # bob: help was needed
        await pilot.press("x")
        await pilot.pause()
        assert "Agreement alice/bob: 0% of 1, κ 0.00." in text(app, "#ann-agreement")
        app.screen.query_one("#annotator", Input).value = "bob"
        app.screen.query_one("#annotator", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert rows(app, "#candidates")[0][0] == "help!" and rows(app, "#candidates")[0][1] == "1/1"


async def test_annotate_bad_trace_shows_error_modal(build: Build, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"events": [{"time": 1}]}')
    app = build(screen="annotate")
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#trace-path", Input).value = str(bad)
        app.screen.query_one("#trace-path", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ErrorScreen)
        assert "missing or empty 'event'" in app.screen.error.msg
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ErrorScreen)


async def test_annotate_upstream_trace_and_export(build: Build, upstream_trace: Path, tmp_path: Path) -> None:
    app = build(trace=upstream_trace)
    async with app.run_test(size=(80, 24)) as pilot:
        toasts = notes(app)
        await pilot.press("n")
        await pilot.pause()
        assert rows(app, "#candidates")[1][2:] == ["trace", "Show pandas.read_csv usage"]
        await pilot.press("a")
        app.action_export_annotations()
        await pilot.pause()
        assert "rows in" in toasts[-1]
    out = tmp_path / "annotations" / "reward_rows.jsonl"
    assert [json.loads(x)["category"] for x in out.read_text().splitlines()] == [
        "Missed-Need (MN)",
        "Correct-Detection (CD)",
    ]


# ------------------------------------------------------------------ memory


async def test_memory_absent_says_so(build: Build) -> None:
    app = build(screen="memory")
    async with app.run_test(size=(80, 24)) as pilot:
        toasts = notes(app)
        assert "Memory is off." in text(app, "#mem-absent")
        assert app.screen.query_one("#mem-search", Input).disabled
        await pilot.press("f")
        assert "not available" in toasts[-1]


async def test_memory_from_the_store_file_alone(build: Build) -> None:
    """The real memory stream (shipped ONNX embedder) over the fixed store: empty but working."""
    app = build(screen="memory", memory=AUTO)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.dashboard.memory().available, app.dashboard.memory().note
        assert not app.screen.query("#mem-absent")
        tree = app.screen.query_one("#mem-reflections")
        assert str(tree.root.children[0].label).startswith("No reflections yet")  # type: ignore[attr-defined]
        await pilot.press(*"pytest", "enter")
        await pilot.pause()
    app.dashboard.close_parts()


async def test_memory_search_reflections_forget(build: Build) -> None:
    memory = FakeMemory(NOW)
    app = build(screen="memory", memory=memory)
    async with app.run_test(size=(80, 24)) as pilot:
        tree = app.screen.query_one("#mem-reflections")
        labels = [str(n.label) for n in tree.root.children]  # type: ignore[attr-defined]
        assert labels[0].endswith("The user is fixing a failing test suite in report.py.")
        cited = [str(n.label) for n in tree.root.children[0].children]  # type: ignore[attr-defined]
        assert cited[0] == "[observation] 04:33:20  The user runs pytest; 3 tests fail."
        await pilot.press(*"rent pytest", "enter")
        await pilot.pause()
        assert [r[3] for r in rows(app, "#mem-results")] == [
            "The user runs pytest; 3 tests fail.",
            "The user reads an e-mail about the rent.",
        ]
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, AskScreen)
        await pilot.press(*"rent", "enter")
        await pilot.pause()
        assert memory.forgotten == ["rent"]
        assert len(rows(app, "#mem-results")) == 1
        await pilot.press("f", "escape")
        await pilot.pause()
        assert memory.forgotten == ["rent"]


# ------------------------------------------------------------------ stats


async def test_stats_and_health(build: Build) -> None:
    app = build(screen="stats", relay=FakePublisher(hub_online=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        summary = text(app, "#stats-summary")
        assert "Acceptance 50%" in summary and "p50 30 s" in summary
        assert summary.splitlines()[-2:] == [
            "Trigger offset per desktop (logits; + speaks sooner, - later)",
            "laptop -0.60 (+5 min interval) · office +0.30",
        ]
        assert "threshold" not in summary
        assert app.screen.query_one("#per-hour", Sparkline).data[-1] == 1.0
        health = rows(app, "#health")
        assert [(h[0], h[1]) for h in health] == [
            ("ok", "model"),
            ("ok", "reward gate"),
            ("ok", "data directory"),
            ("ok", "broker"),  # the dashboard's own MQTT connection, not the doctor's guess
            ("DOWN", "hub"),
            ("DOWN", "activitywatch"),
        ]
        fixes = text(app, "#health-fix")
        assert "hub: Start it: `proactive run`." in fixes and "Start aw-server" in fixes


async def test_stats_trigger_offsets_decay_and_follow_the_hub(build: Build, hub: Store) -> None:
    clock = FakeClock(NOW + 3600)  # one half-life after the fixed answers
    app = build(screen="stats", clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        assert text(app, "#stats-summary").splitlines()[-1] == "laptop -0.30 (+2 min interval) · office +0.15"
        FeedbackStore(hub).save_state("bob-laptop", 1.2, 0.0, NOW + 3600)
        assert app.poll_store()
        await pilot.pause()
        assert text(app, "#stats-summary").splitlines()[-1].startswith("bob-laptop +1.20 · laptop -0.30")


async def test_stats_before_any_answer(build: Build, tmp_path: Path) -> None:
    app = build(screen="stats", store=Store.open(tmp_path / "empty.db"))
    async with app.run_test(size=(80, 24)):
        summary = text(app, "#stats-summary")
        assert "Acceptance -" in summary and "Trigger offset: none yet" in summary


async def test_stats_health_rechecks_in_a_thread(build: Build) -> None:
    calls: list[str] = []

    def health() -> list[Any]:
        calls.append(threading.current_thread().name)
        return [Health("model", True, f"check {len(calls)}")]

    app = build(screen="stats", health=health, relay=FakePublisher())
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(calls) == 2 and threading.main_thread().name not in calls
        assert rows(app, "#health")[0][2] == "check 2"
        assert "Every part is up" in text(app, "#health-fix")


# ------------------------------------------------------------------ app


async def test_keys_switch_screens_and_theme(build: Build) -> None:
    app = build(memory=FakeMemory(NOW))
    async with app.run_test(size=(80, 24)) as pilot:
        for key, mode in (("2", "history"), ("3", "annotate"), ("5", "stats"), ("4", "memory")):
            app.screen.set_focus(None)
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode
        await app.workers.wait_for_complete()
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        app.screen.set_focus(None)
        await pilot.press("1")
        await pilot.pause()
        assert app.current_mode == "live"


async def test_command_palette_reaches_every_screen(build: Build) -> None:
    app = build()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"go to stats")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert app.current_mode == "stats"


async def test_light_theme_from_the_factory(build: Build) -> None:
    app = build(theme="light")
    async with app.run_test(size=(80, 24)):
        assert app.theme == "textual-light" and not app.current_theme.dark


def test_cli_offers_tui_through_the_entry_point() -> None:
    result = CliRunner().invoke(cli, ["tui", "--help"])
    assert result.exit_code == 0, result.output
    assert "--annotator" in result.output and "--trace" in result.output


def test_core_does_not_import_the_ui() -> None:
    code = (
        "import sys, edge.cli, edge.store, edge.doctor, edge.hub, edge.memory.stream; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tui', 'textual'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
