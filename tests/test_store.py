from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from edge.errors import StoreError
from edge.records import AgentResponse
from edge.store import Store
from edge.store.migrations import migrations
from tests.doubles import obs


def test_observation_reread_is_idempotent() -> None:
    s = Store.memory()
    o = obs("The user opens VS Code.", 1)
    assert s.add_observation(o, now=10) is True
    assert s.add_observation(o, now=11) is False
    assert s.count("observations") == 1


def test_recent_observations_oldest_first_per_desktop() -> None:
    s = Store.memory()
    for i in range(5):
        s.add_observation(obs(f"e{i}", i), now=i)
    s.add_observation(obs("other", 9, desktop="d2"), now=9)
    assert [o.text for o in s.recent_observations("d1", limit=3)] == ["e2", "e3", "e4"]


def test_proposal_and_feedback_redelivery_harmless() -> None:
    s = Store.memory()
    o = obs("x", 1)
    s.add_observation(o, now=1)
    r = AgentResponse("p", "t", "Explain the error", "Want help?")
    assert s.add_proposal("p1", o, r, 0.8, now=2, ttl_s=120)
    assert not s.add_proposal("p1", o, r, 0.8, now=3, ttl_s=120)
    assert s.add_feedback("f1", "p1", "accepted", "d1", now=4)
    assert not s.add_feedback("f1", "p1", "accepted", "d1", now=5)
    assert s.get_proposal("p1")["status"] == "accepted"  # type: ignore[index]
    with pytest.raises(StoreError):
        s.add_feedback("f2", "p1", "maybe", "d1", now=6)


def test_feedback_for_unknown_proposal_is_an_error() -> None:
    s = Store.memory()
    with pytest.raises(StoreError, match="Unknown proposal"):
        s.add_feedback("f1", "nope", "accepted", "d1", now=1)
    assert s.count("feedback") == 0


def test_file_store_wal_and_migrations_once(tmp_path: Path) -> None:
    p = tmp_path / "a" / "p.db"
    s = Store.open(p)
    s.set_checkpoint("aw", {"t": 1}, now=1)
    s.close()
    s2 = Store.open(p)
    assert s2.get_checkpoint("aw") == {"t": 1}
    assert s2.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [m.name for m in migrations.applied(s2.db)][0] == "m001_initial"


def test_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    p = tmp_path / "p.db"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store.open(p)
    assert p.read_bytes().startswith(b"this is not sqlite")  # nothing overwritten


def test_proposal_keeps_its_decision_latency() -> None:
    s = Store.memory()
    o = obs("x", 1)
    s.add_observation(o, now=1)
    s.add_proposal("p1", o, AgentResponse("p", "t", "Fix it", "r"), 0.7, now=2, ttl_s=120, latency_ms=812.5)
    assert s.get_proposal("p1")["latency_ms"] == 812.5  # type: ignore[index]


def test_the_store_is_private_from_creation_and_tightened_when_found_loose(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    old = os.umask(0o022)
    try:
        home = tmp_path / "share" / "proactive-edge"
        s = Store.open(home / "proactive.db")
        s.add_observation(obs("The user opens VS Code.", 1), now=1)
        assert mode(home) == 0o700
        assert {p.name: mode(p) for p in home.iterdir()} == {
            "proactive.db": 0o600,
            "proactive.db-wal": 0o600,  # SQLite gives them the database's mode
            "proactive.db-shm": 0o600,
        }
        s.close()

        # files an older version left world-readable (and the memory index beside them) are tightened
        index = home / "proactive.memory.faiss"
        for p in (home / "proactive.db", index, home / "proactive.memory.faiss.json", home / "notes.txt"):
            p.touch()
            p.chmod(0o644)
        home.chmod(0o755)
        caplog.set_level(logging.WARNING)
        Store.open(home / "proactive.db").close()
        assert [mode(p) for p in (home, home / "proactive.db", index)] == [0o700, 0o600, 0o600]
        assert mode(home / "notes.txt") == 0o644  # not the store's
        lines = [r.getMessage() for r in caplog.records]
        assert lines == [
            f"data directory {home} was readable by others; tightened to 0700",
            "store files readable by others, tightened to 0600: proactive.db, proactive.memory.faiss, "
            "proactive.memory.faiss.json",
        ]

        # a directory the user chose for other things too is never changed
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o755)
        Store.open(shared / "proactive.db").close()
        assert mode(shared) == 0o755 and mode(shared / "proactive.db") == 0o600
    finally:
        os.umask(old)


@pytest.mark.parametrize("damage", ["garbage", "garbled pages"])
def test_a_damaged_file_names_itself_and_the_way_out(tmp_path: Path, damage: str) -> None:
    p = tmp_path / "proactive.db"
    if damage == "garbage":
        p.write_bytes(os.urandom(16384))
    else:
        s = Store.open(p)
        for i in range(500):
            s.add_observation(obs(f"The user does thing {i} " * 20, i), now=i)
        s.close()
        data = bytearray(p.read_bytes())
        for off in range(4096 * 2, min(len(data), 4096 * 40)):
            data[off] = (data[off] * 7 + 13) % 256
        p.write_bytes(bytes(data))
    with pytest.raises(StoreError) as err:
        Store.open(p)
    assert f"The store {p} is damaged or not a SQLite database" in err.value.msg
    hint = err.value.hint
    assert "restore your latest backup" in hint and f"{p}-wal" in hint and f"mv {p} {p}.damaged" in hint
