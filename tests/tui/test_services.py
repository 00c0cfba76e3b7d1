"""The dashboard's store queries, feedback and optional-part adapters, without an app."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.clock import FakeClock
from edge.config import Settings
from edge.errors import EdgeError, StoreError
from edge.store import Store
from tests.tui.conftest import HOUR, NOW, add_obs, add_prop
from tui import services
from tui.services import (
    compute_stats,
    feedback_id_for,
    parse_dates,
    query_proposals,
    record_feedback,
)


def test_query_proposals_filters_and_orders(hub: Store) -> None:
    rows = query_proposals(hub)
    assert [r.task for r in rows][:2] == ["Explain the traceback and suggest a fix", "Open the test log"]
    assert {r.desktop for r in query_proposals(hub, desktop="laptop")} == {"laptop"}
    accepted = query_proposals(hub, status="accepted")
    assert [r.status for r in accepted] == ["accepted", "accepted"]
    assert all(r.answered_at == pytest.approx(r.created_at + 30) for r in accepted)
    start, end = parse_dates("2024-06-02")
    assert [r.task for r in query_proposals(hub, start=start, end=end)] == [
        "Show a groupby example on two columns"
    ]


def test_expired_pending_is_shown_expired(hub: Store) -> None:
    by = {r.task: r for r in query_proposals(hub)}
    assert by["Open the test log"].shown_status(NOW) == "expired"
    assert by["Explain the traceback and suggest a fix"].shown_status(NOW) == "pending"


def test_results_table_is_joined_when_the_feedback_room_has_one(hub: Store) -> None:
    pid = query_proposals(hub, status="accepted")[0].id
    hub.db["results"].insert({"id": "r1", "proposal_id": pid, "text": "Use df.groupby(['a', 'b'])."})
    assert query_proposals(hub, status="accepted")[0].result == "Use df.groupby(['a', 'b'])."


def test_parse_dates_range_and_errors() -> None:
    start, end = parse_dates("2024-06-01..2024-06-02")
    assert end is not None and start is not None and end - start == 2 * 24 * HOUR
    assert parse_dates("") == (None, None)
    assert parse_dates("2024-06-01..")[1] is None
    with pytest.raises(EdgeError, match="not a date"):
        parse_dates("yesterday")


def test_stats(hub: Store) -> None:
    st = compute_stats(hub, NOW)
    assert st.counts == {"pending": 2, "accepted": 2, "rejected": 1, "ignored": 1}
    assert st.acceptance == pytest.approx(0.5)
    assert sum(st.per_hour) == 5  # the 26-hour-old proposal is outside the last 24 hours
    assert st.per_hour[-1] == 1 and len(st.per_hour) == 24
    assert st.answer_p50 == pytest.approx(30.0)  # ignored answers are not decisions
    assert st.hub_latency_p50_ms is None


def test_record_feedback_like_a_companion(hub: Store) -> None:
    pid = query_proposals(hub, status="pending")[0].id
    out = record_feedback(hub, pid, "accepted", NOW)
    assert out.stored and out.desktop == "office" and out.feedback_id == feedback_id_for(pid)
    row = hub.db["feedback"].get(out.feedback_id)
    assert (row["verdict"], row["desktop"], row["created_at"]) == ("accepted", "office", NOW)
    again = record_feedback(hub, pid, "rejected", NOW + 1)
    assert not again.stored and again.previous == "accepted"
    assert hub.get_proposal(pid)["status"] == "accepted"  # type: ignore[index]
    with pytest.raises(StoreError):
        record_feedback(hub, "nope", "accepted", NOW)


def test_relay_and_memory_absent_give_a_message(monkeypatch: pytest.MonkeyPatch, hub: Store) -> None:
    monkeypatch.setattr(services, "_module", lambda name: None)
    relay = services.load_relay(Settings(desktop="hub"), hub, FakeClock(NOW))
    assert not relay.available and "store only" in relay.note
    memory = services.open_stream_memory(Settings(desktop="hub"), hub, FakeClock(NOW), embedder=None)
    assert not memory.available and "not available" in memory.note


def test_relay_publishes_the_companions_payload(hub: Store) -> None:
    from edge import relay as mod

    bus = mod.MemoryBus()
    seen: list[tuple[str, dict[str, object]]] = []
    hub_side = mod.MemoryRelay(bus, hub, mod.HUB, mod.HUB, FakeClock(NOW))
    hub_side.subscribe(mod.topic("+", "feedback"), lambda d, k, p: seen.append((d, p)))
    hub_side.start()
    rf = services.RelayFeedback(mod, mod.MemoryRelay(bus, hub, "desktop", "dashboard-hub", FakeClock(NOW)))
    rf.start()
    rf.pump()
    assert rf.hub_online and rf.describe() == "Answers go to the hub over MQTT."
    fid = rf.publish_feedback(desktop="office", proposal_id="p1", verdict="accepted", now=NOW)
    hub_side.pump(0)
    assert seen == [("office", mod.feedback_payload("p1", "office", "accepted", NOW))]
    assert fid == feedback_id_for("p1")
    bus.stop()
    assert not rf.hub_online and "unreachable" in rf.describe()


def test_load_relay_uses_its_own_client_id(hub: Store) -> None:
    s = Settings(desktop="office pc", relay={"client_id": "the-hub"})
    part = services.load_relay(s, hub, FakeClock(NOW))
    assert part.available
    relay = part.value.relay
    assert relay.name == "dashboard-office-pc" and relay.owner != "the-hub"


def test_stream_memory_over_the_real_memory_stream(tmp_path: Path) -> None:
    from edge.store.memory import NewMemory
    from tests.memory.conftest import HashEmbedder

    part = services.open_stream_memory(
        Settings(desktop="hub"), Store.memory(), FakeClock(NOW), HashEmbedder()
    )
    assert part.available, part.note
    stream = part.value.stream
    ids = stream.add(
        [
            NewMemory("observation", "The user runs pytest and three tests fail.", NOW - 50, 3),
            NewMemory("observation", "The user reads an e-mail about the rent.", NOW - 40, 2),
        ]
    )
    stream.add([NewMemory("reflection", "The user is fixing failing tests.", NOW - 10, 7, cites=ids[:1])])
    mem = services.StreamMemory(stream)
    hits = mem.search("pytest", 3)
    assert "The user runs pytest and three tests fail." in [h.text for h in hits]
    assert all(h.score is not None for h in hits)
    (r,) = mem.reflections()
    assert r.text == "The user is fixing failing tests."
    assert [c.text for c in r.cites] == ["The user runs pytest and three tests fail."]
    assert mem.forget("rent") == 1
    assert all("rent" not in h.text for h in mem.search("rent e-mail", 5))


def test_doctor_health_survives_a_failing_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from edge import doctor

    def boom(settings: Settings) -> None:
        raise ModuleNotFoundError("No module named 'edge.sources.activitywatch'")

    monkeypatch.setattr(doctor, "run_checks", boom)
    monkeypatch.setattr(doctor, "check_activitywatch", boom)
    monkeypatch.setattr(doctor, "check_model", lambda s: doctor.Check("model", True, "fake model"))
    checks = {c.name: c for c in services.doctor_health(Settings(desktop="hub"))}
    assert checks["model"].ok and checks["data directory"].ok
    assert not checks["activitywatch"].ok and "check failed" in checks["activitywatch"].detail
    assert "reward model" in checks  # broker and hub: the app's own relay connection reports them
    assert all(c.hint for c in checks.values() if not c.ok)


def test_observation_time_formatting(tmp_path: Path) -> None:
    s = Store.memory()
    o = add_obs(s, "x", NOW - 10)
    add_prop(s, o, "t", NOW - 5, None)
    assert services.fmt_time(NOW - 10, NOW) == "07:33:10"
    assert services.fmt_time(NOW - 30 * HOUR, NOW) == "06-02 01:33"
    assert services.clip("a  b\nc", 10) == "a b c" and services.clip("abcdef", 4) == "abc…"
