"""The dashboard's parts without an app: answers, the relay, the memory, health, the `StoreDashboard`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from edge import doctor
from edge.config import Settings
from edge.errors import EdgeError, RelayError, StoreError
from edge.feedback import FeedbackManager
from edge.mqtt.payloads import feedback_payload
from edge.mqtt.topics import HUB, topic
from edge.records import feedback_id
from edge.store import Store
from edge.store.memory import NewMemory
from edge.store.proposals import ProposalFilter
from tests.doubles import FakeClock, FakePublisher, HashEmbedder, MemoryBus, MemoryRelay
from tests.tui.conftest import NOW, add_obs, add_prop
from tui import memory, relay
from tui.dashboard import StoreDashboard
from tui.feedback import record_feedback
from tui.health import doctor_health
from tui.memory import StreamMemory, open_stream_memory
from tui.ports import DesktopTrigger, Part
from tui.relay import RelayFeedback, load_relay, relay_health
from tui.screens.stats import trigger_line


def test_record_feedback_like_a_companion(hub: Store) -> None:
    pid = hub.proposal_rows(ProposalFilter(status="pending"))[0].id
    out = record_feedback(hub, pid, "accepted", NOW)
    assert out.stored and out.desktop == "office" and out.feedback_id == feedback_id(pid)
    row = hub.get_feedback(out.feedback_id)
    assert row is not None
    assert (row["verdict"], row["desktop"], row["created_at"]) == ("accepted", "office", NOW)
    again = record_feedback(hub, pid, "rejected", NOW + 1)
    assert not again.stored and again.previous == "accepted"
    assert hub.get_proposal(pid)["status"] == "accepted"  # type: ignore[index]
    with pytest.raises(StoreError):
        record_feedback(hub, "nope", "accepted", NOW)


def test_relay_and_memory_that_cannot_open_give_a_message(
    monkeypatch: pytest.MonkeyPatch, hub: Store
) -> None:
    def bad_tls(*args: object, **kw: object) -> None:
        raise RelayError("Cannot read relay.tls.ca_file.", "Fix the path.")

    def no_faiss(*args: object, **kw: object) -> None:
        raise ModuleNotFoundError("No module named 'faiss'")

    monkeypatch.setattr(relay, "make_relay", bad_tls)
    part = load_relay(Settings(desktop="hubhost"), hub, FakeClock(NOW))
    assert not part.available and part.note == (
        "Cannot read relay.tls.ca_file. Answers are saved in the store only. Fix the path."
    )
    assert relay_health(part, "127.0.0.1:1883")[0].detail == part.note
    monkeypatch.setattr(memory, "open_memory", no_faiss)
    mem = open_stream_memory(Settings(desktop="hubhost"), hub, FakeClock(NOW), embedder=None)
    assert not mem.available and "not available" in mem.note and "faiss" in mem.note


def test_relay_publishes_the_companions_payload(hub: Store) -> None:
    bus = MemoryBus()
    seen: list[tuple[str, dict[str, object]]] = []
    hub_side = MemoryRelay(bus, hub, HUB, HUB, FakeClock(NOW))
    hub_side.subscribe(topic("+", "feedback"), lambda d, k, p: seen.append((d, p)))
    hub_side.start()
    rf = RelayFeedback(MemoryRelay(bus, hub, "desktop", "dashboard-hub", FakeClock(NOW)))
    rf.start()
    rf.pump()
    assert rf.hub_online and rf.describe() == "Answers go to the hub over MQTT."
    assert [h.name for h in relay_health(Part(rf), "127.0.0.1:1883")] == ["broker", "hub"]
    fid = rf.publish_feedback(desktop="office", proposal_id="p1", verdict="accepted", now=NOW)
    hub_side.pump(0)
    assert seen == [("office", feedback_payload("p1", "office", "accepted", NOW))]
    assert fid == feedback_id("p1")
    bus.stop()
    assert not rf.hub_online and "unreachable" in rf.describe()
    down = relay_health(Part(rf), "127.0.0.1:1883")
    assert [(h.name, h.ok) for h in down] == [("broker", False)] and "not reachable" in down[0].detail


def test_load_relay_uses_its_own_client_id(hub: Store) -> None:
    s = Settings(desktop="office-pc", relay={"client_id": "the-hub"})
    part = load_relay(s, hub, FakeClock(NOW))
    assert isinstance(part.value, RelayFeedback)
    link = part.value.relay
    assert link.name == "dashboard-office-pc" and link.owner != "the-hub"  # type: ignore[attr-defined]


def test_stream_memory_over_the_real_memory_stream(tmp_path: Path) -> None:
    part = open_stream_memory(Settings(desktop="hubhost"), Store.memory(), FakeClock(NOW), HashEmbedder())
    assert isinstance(part.value, StreamMemory), part.note
    stream = part.value.stream
    ids = stream.add(
        [
            NewMemory("observation", "The user runs pytest and three tests fail.", NOW - 50, 3),
            NewMemory("observation", "The user reads an e-mail about the rent.", NOW - 40, 2),
        ]
    )
    stream.add([NewMemory("reflection", "The user is fixing failing tests.", NOW - 10, 7, cites=ids[:1])])
    mem = StreamMemory(stream)
    hits = mem.search("pytest", 3)
    assert "The user runs pytest and three tests fail." in [h.text for h in hits]
    assert all(h.score is not None for h in hits)
    (r,) = mem.reflections()
    assert r.text == "The user is fixing failing tests."
    assert [c.text for c in r.cites] == ["The user runs pytest and three tests fail."]
    assert mem.forget("rent") == 1
    assert all("rent" not in h.text for h in mem.search("rent e-mail", 5))


def test_doctor_health_survives_a_failing_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def boom(settings: Settings) -> None:
        raise ModuleNotFoundError("No module named 'edge.sources.activitywatch'")

    def refuse(settings: Settings) -> None:
        raise EdgeError("No model file.", "Download it.")

    monkeypatch.setattr(doctor, "run_checks", boom)
    monkeypatch.setattr(doctor, "check_activitywatch", boom)
    monkeypatch.setattr(doctor, "check_model", lambda s: doctor.Check("model", True, "fake model"))
    checks = {c.name: c for c in doctor_health(Settings(desktop="hubhost"))}
    assert checks["model"].ok and checks["data directory"].ok
    assert not checks["activitywatch"].ok and "check failed" in checks["activitywatch"].detail
    assert "reward model" in checks  # broker and hub: the app's own relay connection reports them
    assert all(c.hint for c in checks.values() if not c.ok)
    monkeypatch.setattr(doctor, "check_model", refuse)
    model = doctor_health(Settings(desktop="hubhost"))[0]
    assert (model.name, model.ok, model.detail, model.hint) == (
        "model",
        False,
        "No model file.",
        "Download it.",
    )


def test_doctor_health_keeps_the_doctors_own_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = [doctor.Check("model", True, "m"), doctor.Check("reward gate", False, "no model", "Train one.")]
    monkeypatch.setattr(doctor, "run_checks", lambda s: checks)
    got = doctor_health(Settings(desktop="hubhost"))
    assert [(c.name, c.ok, c.hint) for c in got] == [
        ("model", True, ""),
        ("reward gate", False, "Train one."),
    ]


def dashboard(store: Store, publisher: FakePublisher | None) -> StoreDashboard:
    return StoreDashboard(
        store,
        clock=FakeClock(NOW),
        relay=Part(publisher, "" if publisher else "No relay."),
        memory=partial(Part, None, "No memory."),
        health=list,
        broker="127.0.0.1:1883",
        feedback=FeedbackManager(store, FakeClock(NOW), Settings(desktop="hubhost").feedback),
    )


def test_store_dashboard_answers_like_a_companion(hub: Store) -> None:
    publisher = FakePublisher(hub_online=True)
    board = dashboard(hub, publisher)
    pending, expired = (p.id for p in board.proposals(ProposalFilter(status="pending")))
    sent = board.answer(pending, "accepted")
    assert sent.published and sent.outcome and not sent.outcome.stored
    assert publisher.sent == [
        {"desktop": "office", "proposal_id": pending, "verdict": "accepted", "now": NOW}
    ]
    again = board.answer(pending, "rejected")
    assert again.outcome is None and again.note.startswith("Already sent (accepted)")
    publisher.hub_online = False
    saved = board.answer(expired, "ignored")
    assert saved.published is False and saved.outcome and saved.outcome.stored
    assert saved.note == "Hub is offline: store only." == board.relay_note()
    assert board.answer(expired, "accepted").note.startswith("Already answered (ignored)")
    with pytest.raises(EdgeError, match="Unknown proposal"):
        board.answer("nope", "accepted")
    without = dashboard(hub, None).answer(pending, "rejected")
    assert without.published is None and without.outcome and without.outcome.stored
    assert board.memory().note == "No memory." and board.health() == []


def test_store_dashboard_sees_the_hubs_commits_and_runs_the_relay(hub: Store, store_path: Path) -> None:
    publisher = FakePublisher(hub_online=True)
    board = dashboard(Store.open(store_path), publisher)
    assert board.poll() is None
    o = add_obs(hub, "The user opens a merge conflict.", NOW - 5)
    add_prop(hub, o, "Walk through the merge conflict", NOW - 4, 0.9)
    assert [p.task for p in board.poll() or []] == ["Walk through the merge conflict"]
    add_obs(hub, "The user saves the file.", NOW - 3)
    assert board.poll() == []  # changed, but no new proposal
    assert board.start() and publisher.started
    assert board.pump() == (True, None) and board.pump() == (False, None) and publisher.pumps == 2
    assert [h.name for h in board.relay_health()] == ["broker", "hub"]
    board.close()
    assert publisher.closed and board.relay_note() == "Closed." and not board.start()


def test_store_dashboard_without_a_startable_relay(hub: Store) -> None:
    class BadTLS(FakePublisher):
        def start(self) -> None:
            raise RelayError("Cannot read relay.tls.ca_file.", "Fix the path.")

    board = dashboard(hub, BadTLS())
    assert not board.start()
    assert (
        board.relay_note()
        == "Cannot read relay.tls.ca_file. Answers are saved in the store only. Fix the path."
    )
    assert board.pump() == (False, None)


def test_the_trigger_line_names_four_desktops_and_counts_the_rest() -> None:
    six = [DesktopTrigger(f"desk{i}", 0.1 * i, 0.0, NOW) for i in range(6)]
    head, names = trigger_line(six).splitlines()
    assert head.startswith("Trigger offset per desktop")
    assert names == "desk0 +0.00 · desk1 +0.10 · desk2 +0.20 · desk3 +0.30 · 2 more: proactive status"
    assert trigger_line([]).startswith("Trigger offset: none yet")


def test_the_dashboard_reads_the_trigger_offsets_decayed_to_now(hub: Store) -> None:
    board = dashboard(hub, None)
    assert board.triggers() == [
        DesktopTrigger("laptop", -0.6, 300.0, NOW),
        DesktopTrigger("office", 0.3, 0.0, NOW),
    ]
