from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from edge.agent import AgentResponse
from edge.config import MemoryIndexSettings
from edge.errors import StoreError
from edge.memory.index import FaissIndex, choose_nlist, meta_path
from edge.store.memory import NewMemory
from tests.doubles import obs

TEXTS = [
    "The user edits report.docx in LibreOffice Writer.",
    "The user opens KeePassXC to copy a password.",
    "The user searches 'python asyncio timeout' in Firefox.",
    "The user runs pytest and two tests fail.",
    "The user reads the asyncio documentation.",
]


def _fill(st, n: int = 5, app: str = "") -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        o = obs(TEXTS[i % len(TEXTS)], i)
        if app and "KeePassXC" in o.text:
            o = type(o)(**{**o.__dict__, "app": app})
        st.remember(o)


def _ids_in_index(st) -> set[int]:  # type: ignore[no-untyped-def]
    return {int(i) for i in st.index.ids()}


def test_index_file_written_and_loaded(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(file=True)
    _fill(st)
    st.close()
    assert st.index_path.exists() and meta_path(st.index_path).exists()
    st2 = make_stream(store=st.store)
    assert st2.index_status.action == "loaded"
    assert _ids_in_index(st2) == set(range(1, 6))


@pytest.mark.parametrize("damage", ["delete", "corrupt", "truncate", "sidecar"])
def test_index_rebuilt_when_missing_or_corrupt(make_stream, damage: str) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(file=True)
    _fill(st)
    st.close()
    path = st.index_path
    expected = st.retrieve("asyncio timeout", k=3, touch=False)
    if damage == "delete":
        path.unlink()
    elif damage == "corrupt":
        path.write_bytes(b"\x00garbage" * 100)
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:50])
    else:
        meta_path(path).write_text("{not json")
    st2 = make_stream(store=st.store)
    assert st2.index_status.action == "rebuilt"
    assert st2.index_status.reason == ("missing" if damage == "delete" else "corrupt")
    assert _ids_in_index(st2) == set(range(1, 6))
    got = st2.retrieve("asyncio timeout", k=3, touch=False)
    assert [h.memory.id for h in got] == [h.memory.id for h in expected]
    assert FaissIndex.load(path, MemoryIndexSettings()).ntotal == 5  # the rebuilt file is good


def test_index_caught_up_or_rebuilt_when_stale(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(file=True, index={"flush_every": 10_000})
    _fill(st, 3)
    st.flush()
    _fill(st, 5)  # two more records, index file not flushed (a crash)
    st2 = make_stream(store=st.store)
    assert st2.index_status.action == "caught_up"
    assert _ids_in_index(st2) == set(range(1, 6))
    # A record deleted behind the file's back (another process's forget) -> stale -> rebuild
    st2.records.delete([2])
    st3 = make_stream(store=st.store)
    assert st3.index_status.action == "rebuilt" and st3.index_status.reason == "stale"
    assert _ids_in_index(st3) == {1, 3, 4, 5}


def test_forget_removes_from_sqlite_and_index(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(file=True)
    for i, t in enumerate(TEXTS):
        o = obs(t, i)
        st.store.add_observation(o, now=1)
        st.remember(o)
    gone = st.forget(match="ASYNCIO")
    assert len(gone) == 2
    assert st.records.count() == 3 and st.records.select_ids(match="asyncio") == []
    assert _ids_in_index(st) == {1, 2, 4}
    assert all("asyncio" not in h.memory.text for h in st.retrieve("asyncio", k=5))
    assert st.store.count("observations") == 3  # the raw observations went too
    # the file on disk agrees
    st2 = make_stream(store=st.store)
    assert st2.index_status.action == "loaded" and _ids_in_index(st2) == {1, 2, 4}


def test_forget_by_app_and_before_and_cascade(make_stream, clock) -> None:  # type: ignore[no-untyped-def]
    st = make_stream()
    _fill(st, 5, app="KeePassXC")
    [ref] = st.add([NewMemory("reflection", "The user manages passwords.", clock.now(), 5, cites=[2])])
    [ref2] = st.add([NewMemory("reflection", "The user is careful.", clock.now(), 5, cites=[ref])])
    assert st.ids_matching(app="keepassxc") == [2]  # what `forget` starts from
    with pytest.raises(StoreError):
        st.ids_matching()
    gone = st.forget(app="keepassxc")
    assert gone == [2, ref, ref2]  # derived records go with their sources, transitively
    assert not ({2, ref, ref2} & _ids_in_index(st))
    cutoff = datetime.fromtimestamp(obs("x", 2).ts).timestamp()  # type: ignore[arg-type]
    assert st.forget(before=cutoff) == [1]
    assert _ids_in_index(st) == {3, 4, 5}


def test_forget_on_hnsw_rebuilds(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(index={"type": "hnsw"})
    _fill(st)
    st.forget(match="pytest")
    assert st.index.kind == "hnsw" and _ids_in_index(st) == {1, 2, 3, 5}


def _clustered(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 64)).astype(np.float32)
    vecs = centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, 64)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def _recall(st, vecs: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    q = vecs[:50]
    exact = np.argsort(-(q @ vecs.T), axis=1)[:, :10] + 1
    _, got = st.index.search(q, 10)
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, got, strict=True)]))


def test_auto_switches_from_flat_to_hnsw_as_records_grow(make_stream) -> None:  # type: ignore[no-untyped-def]
    vecs = _clustered(1500)
    st = make_stream(index={"flat_max_records": 1000})
    st.add([NewMemory("observation", f"r{i}", 0.0, 2) for i in range(900)], vectors=vecs[:900])
    assert st.index.kind == "flat"
    st.add([NewMemory("observation", f"r{i}", 0.0, 2) for i in range(900, 1500)], vectors=vecs[900:])
    assert st.index.kind == "hnsw" and st.index.ntotal == 1500
    assert st.index_status.action == "rebuilt" and st.index_status.reason == "grown"
    assert _recall(st, vecs) >= 0.95


def test_ivf_flat_option(make_stream) -> None:  # type: ignore[no-untyped-def]
    vecs = _clustered(3000)
    st = make_stream(index={"type": "ivf_flat", "ivf_nprobe": 16})
    st.add([NewMemory("observation", f"r{i}", 0.0, 2) for i in range(len(vecs))], vectors=vecs)
    assert st.index.kind == "ivf_flat" and st.index.ntotal == 3000
    assert choose_nlist(st.settings.index, 3000) == 64
    assert _recall(st, vecs) >= 0.9
    st.forget(match="r12")  # r12, r120..r129, r1200..r1299
    assert st.index.ntotal == 3000 - 111


def test_proposals_and_feedback_become_records(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream()
    o = obs("The user debugs a failing test.", 1)
    st.store.add_observation(o, now=1)
    st.store.add_proposal(
        "p1", o, AgentResponse("p", "t", "Explain the failing test", "Want help?"), 0.9, now=2, ttl_s=120
    )
    st.store.add_feedback("f1", "p1", "accepted", "d1", now=3)
    st.remember(o)
    kinds = st.records.counts_by_kind()
    assert kinds == {"observation": 1, "proposal": 1, "feedback": 1}
    st.remember(o)
    assert st.records.count() == 3  # synced once
    fb = st.records.latest(1, kinds=["feedback"])[0]
    assert fb.text == "The user accepted the proposal: Explain the failing test"

    assert fb.source_id == "feedback:f1" and fb.desktop == "d1"
    [prop] = st.records.latest(1, kinds=["proposal"])
    assert prop.text == "The assistant proposed to the user: Explain the failing test"
    assert prop.source_id == "proposal:p1" and prop.created_at == 2


def test_reflections_come_with_what_they_cite(make_stream, clock) -> None:  # type: ignore[no-untyped-def]
    st = make_stream()
    _fill(st, 3)
    [r1] = st.add([NewMemory("reflection", "The user tests a web app.", clock.now(), 6, cites=[3, 1])])
    [r2] = st.add([NewMemory("reflection", "The user is thorough.", clock.now(), 6, cites=[r1, 2])])
    assert [(m.id, m.cites) for m in st.reflections()] == [(r2, [2, r1]), (r1, [1, 3])]
    st.forget(match=TEXTS[1][:20])  # record 2 goes, and r2 with it
    [cr] = st.cited_reflections()
    assert cr.memory.id == r1 and [m.text for m in cr.cited] == [TEXTS[0], TEXTS[2]]
