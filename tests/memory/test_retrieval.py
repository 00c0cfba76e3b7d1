from __future__ import annotations

import math

import numpy as np
import pytest

from edge.memory.retrieval import Candidate, Weights, minmax, score
from edge.store.memory import NewMemory
from tests.doubles import FixedEmbedder, obs

NOW = 1_700_000_000.0
H = 3600.0


def test_minmax_constant_is_half() -> None:
    assert minmax(np.array([3.0, 3.0])).tolist() == [0.5, 0.5]
    assert minmax(np.array([1.0, 3.0, 2.0])).tolist() == [0.0, 1.0, 0.5]


def test_score_matches_hand_computation() -> None:
    # recency raw: 0.995**0 = 1, 0.995**10 = 0.951110, 0.995**100 = 0.605770
    cands = [
        Candidate(1, NOW, 2, 0.9),
        Candidate(2, NOW - 10 * H, 8, 0.1),
        Candidate(3, NOW - 100 * H, 5, 0.5),
    ]
    out = {s.id: s for s in score(cands, NOW, Weights(1, 1, 1), 0.995)}
    r10, r100 = 0.995**10, 0.995**100
    rec2 = (r10 - r100) / (1 - r100)
    # 1: rec 1, imp 0, rel 1 -> 2.0 ; 2: rec (r10-r100)/(1-r100), imp 1, rel 0 ; 3: rec 0, imp .5, rel .5
    assert out[1].score == pytest.approx(2.0)
    assert out[2].recency == pytest.approx(rec2)
    assert out[2].score == pytest.approx(rec2 + 1.0)
    assert out[3].score == pytest.approx(1.0)
    assert [s.id for s in score(cands, NOW, Weights(1, 1, 1), 0.995)] == [1, 2, 3]
    # Weights move the order: importance alone puts 2 first, then 3.
    assert [s.id for s in score(cands, NOW, Weights(0, 1, 0), 0.995)] == [2, 3, 1]
    # Weighted: 0.5*rec + 2*imp + 1*rel
    w = {s.id: s.score for s in score(cands, NOW, Weights(0.5, 2, 1), 0.995)}
    assert w[2] == pytest.approx(0.5 * rec2 + 2.0)
    assert w[3] == pytest.approx(1.0 + 0.5)


def test_stream_retrieve_scores_and_touches(make_stream, clock) -> None:  # type: ignore[no-untyped-def]
    s2 = math.sqrt(0.5)
    emb = FixedEmbedder(
        {
            "query": [1, 0, 0],
            "close": [1, 0, 0],  # cos 1
            "half": [s2, s2, 0],  # cos .7071
            "far": [0, 0, 1],  # cos 0
        }
    )
    st = make_stream(embedder=emb)
    ids = st.add(
        [
            NewMemory("observation", "close", NOW - 48 * H, importance=1),
            NewMemory("observation", "half", NOW - 2 * H, importance=9),
            NewMemory("observation", "far", NOW, importance=5),
        ]
    )
    hits = st.retrieve("query", k=3)
    got = {h.memory.id: h.scored.score for h in hits}
    rec = [0.995**48, 0.995**2, 1.0]
    recn = [(r - rec[0]) / (1 - rec[0]) for r in rec]
    imp = [0.0, 1.0, 0.5]
    rel = [1.0, s2 / 1.0, 0.0]  # (cos - 0) / (1 - 0)
    for i, mid in enumerate(ids):
        assert got[mid] == pytest.approx(recn[i] + imp[i] + rel[i], abs=1e-5)
    assert [h.memory.text for h in hits] == ["half", "far", "close"]
    # retrieved records were touched: in memory at once, in SQLite with the next write
    assert all(h.memory.last_accessed == clock.now() for h in hits)
    assert st.records.get(ids)[ids[0]].last_accessed == NOW - 48 * H
    st.flush_touches()
    rows = st.records.get(ids)
    assert all(rows[i].last_accessed == clock.now() for i in ids)
    # and recency now ties for them: after an hour importance+relevance decide
    clock.advance(H)
    assert [h.memory.text for h in st.retrieve("query", k=3, touch=False)] == ["half", "close", "far"]


def test_retrieve_k_and_pool(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(candidate_pool=5, recent_pool=3)
    for i in range(30):
        st.remember(obs(f"event number {i} about topic{i % 3}", i))
    hits = st.retrieve("topic1 event", k=4)
    assert len(hits) == 4
    assert len({h.memory.id for h in hits}) == 4


def test_remember_is_idempotent_and_cheap_importance(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream()
    o = obs("The user sees a TypeError traceback after running tests.", 1)
    st.remember(o)
    st.remember(o)
    assert st.records.count() == 1 and st.index.ntotal == 1
    m = st.records.latest(1)[0]
    assert m.importance >= 5 and m.importance_src == "cheap" and m.source_id == o.id
    assert m.created_at == o.ts


def test_embedding_cache_by_text(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream()
    st.remember(obs("same text", 1))
    st.remember(obs("same text", 2))
    st._cache.clear()  # the stored vector is found by text hash
    st.embed(["same text"])
    assert sum(len(c) for c in st.embedder.calls) == 1


def test_touches_are_written_with_the_next_insert_and_on_close(make_stream, clock) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(file=True)
    st.remember(obs("The user edits main.py", 1))
    clock.advance(3600)
    [hit] = st.retrieve("main.py", k=1)
    assert st.records.get([hit.memory.id])[hit.memory.id].last_accessed < clock.now()
    st.remember(obs("The user runs main.py", 2))
    assert st.records.get([hit.memory.id])[hit.memory.id].last_accessed == clock.now()
    clock.advance(60)
    st.retrieve("runs", k=2)
    st.close()
    assert max(m.last_accessed for m in st.records.latest(2)) == clock.now()
