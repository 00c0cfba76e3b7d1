"""The memory stream: records, retrieval, reflection and plans behind one class.

`MemoryStream` implements `edge.ports.ContextProvider`: ``remember(obs)``
stores an observation (cheap importance, cached embedding, SQLite + FAISS)
and ``context_for(window)`` returns the top-k retrieved memories, the current
plan and the most similar previously accepted proposals within a token budget.
Neither calls the LLM, except that a due reflection runs inside ``remember``
when ``memory.reflect_in_remember`` is set (failures are logged, never raised).

Rows are never trusted to be well formed: an observation's ``ts`` that is not
a number is stored as the time of remembering, and a record whose times or
importance cannot be read (written by an older version) is read with
stand-ins and repaired where the store allows, with one log line per record,
instead of failing every retrieval (and so every decision) from then on.

SQLite is the source of truth; the FAISS index beside the database file is a
cache of ``memory_vectors`` that `open_index` loads, catches up or rebuilds.
Every query goes through `edge.store.memory` (``MemoryStream.records``).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.clock import Clock
from edge.config import MemorySettings
from edge.errors import EdgeError, ModelError, StoreError
from edge.llm import LLM
from edge.memory.importance import LLMImportance, cheap_importance
from edge.memory.index import FaissIndex, choose_kind, choose_nlist
from edge.memory.prompts import answer_messages, loops, take
from edge.memory.reflection import Reflection, reflect
from edge.memory.retrieval import Candidate, Retrieved, Weights, score
from edge.ports import Embedder
from edge.records import Observation, PromptContext
from edge.store import Store
from edge.store.memory import (
    CK_EMBEDDER,
    CK_PLAN,
    CK_REFLECTED,
    CK_SYNC_FEEDBACK,
    CK_SYNC_PROPOSALS,
    RECALLED_KINDS,
    Memory,
    MemoryDB,
    NewMemory,
    text_hash,
)
from edge.store.observations import finite

log = logging.getLogger(__name__)

# What `sync_store` copies: (kind, checkpoint, rows after a rowid, text of a row with a task).
_SYNCED = (
    ("proposal", CK_SYNC_PROPOSALS, Store.proposals_after, "The assistant proposed to the user: {task}"),
    ("feedback", CK_SYNC_FEEDBACK, Store.feedback_after, "The user {verdict} the proposal: {task}"),
)


def approx_tokens(text: str) -> int:
    """About four characters per token (English text, BPE tokenizers)."""
    return (len(text) + 3) // 4


@dataclass
class IndexStatus:
    """How the index was obtained when the stream opened (for stats and tests)."""

    action: str  # loaded | caught_up | rebuilt | created
    reason: str = ""
    seconds: float = 0.0


@dataclass
class Forgotten:
    """The ids `MemoryStream.forget` deleted; ``len()`` and ``int()`` give how many."""

    ids: list[int]

    def __len__(self) -> int:
        return len(self.ids)

    def __int__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return self.ids == other
        return isinstance(other, Forgotten) and self.ids == other.ids


@dataclass
class Answer:
    question: str
    answer: str
    memories: list[Retrieved] = field(default_factory=list)
    plan: str | None = None


@dataclass
class CitedReflection:
    """A reflection with the records it cites (those still stored), in the order of ``memory.cites``."""

    memory: Memory
    cited: list[Memory] = field(default_factory=list)


class MemoryStream:
    """Generative Agents memory over the shared store. Not thread-safe (one per hub).

    ``index_path`` None keeps the index in memory only (rebuilt at start).
    ``llm`` None disables LLM importance, reflection and ``ask``.
    ``count_tokens`` defaults to `approx_tokens`. ``owns_store``: `close` closes
    the store too. Raises `StoreError`.
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: MemorySettings,
        clock: Clock,
        llm: LLM | None = None,
        index_path: Path | None = None,
        count_tokens: Callable[[str], int] | None = None,
        owns_store: bool = False,
    ) -> None:
        self.store = store
        self.records = MemoryDB(store)
        self.embedder = embedder
        self.dim = int(embedder.dim)
        self.settings = settings
        self.clock = clock
        self.llm = llm
        self.index_path = index_path
        self.count_tokens = count_tokens or approx_tokens
        self.weights = Weights(settings.w_recency, settings.w_importance, settings.w_relevance)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = 4096
        self._unflushed = 0
        self._touched: dict[int, float] = {}
        self._unreadable: set[int] = set()  # records already logged as unreadable
        self._unreadable_marks: set[str] = set()  # checkpoints already logged as unreadable
        self.owns_store = owns_store
        self._check_embedder()
        self.index_status = IndexStatus("created")
        self.index = self.open_index()

    @property
    def db(self) -> MemoryDB:
        """Deprecated alias of ``records``, until `edge.commands.memory` uses `ids_matching` and
        `tui.services` uses `cited_reflections`; delete it then."""
        return self.records

    # ------------------------------------------------------------ embeddings

    def _check_embedder(self) -> None:
        name = str(getattr(self.embedder, "name", type(self.embedder).__name__))
        stored = self.store.get_checkpoint(CK_EMBEDDER)
        if not isinstance(stored, dict) or not isinstance(stored.get("dim", self.dim), int):
            stored = None
        if stored and int(stored.get("dim", self.dim)) != self.dim and self.records.count() > 0:
            raise StoreError(
                f"The memory holds {stored['dim']}-d vectors from {stored.get('name')}, "
                f"but the embedder gives {self.dim}-d.",
                "Use the same embedder, or clear the memory with `proactive memory forget --before` "
                "a future date.",
            )
        if stored != {"name": name, "dim": self.dim}:
            self.store.set_checkpoint(CK_EMBEDDER, {"name": name, "dim": self.dim}, self.clock.now())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, from the in-process cache, the stored vectors, then the embedder."""
        out = np.zeros((len(texts), self.dim), np.float32)
        hashes = [text_hash(t) for t in texts]
        missing = [i for i, h in enumerate(hashes) if h not in self._cache]
        if missing:
            stored = self.records.vectors_by_hash([hashes[i] for i in missing], self.dim)
            for h, v in stored.items():
                self._remember_vec(h, v)
        todo = list(dict.fromkeys(hashes[i] for i in range(len(texts)) if hashes[i] not in self._cache))
        if todo:
            first = {h: texts[hashes.index(h)] for h in todo}
            try:
                vecs = np.asarray(self.embedder.embed([first[h] for h in todo]), dtype=np.float32)
            except EdgeError:
                raise
            except Exception as e:  # an embedder bug must not take the hub down silently
                raise ModelError(f"The embedder failed: {e}", "Run `proactive doctor`.") from e
            for h, v in zip(todo, vecs, strict=True):
                self._remember_vec(h, v)
        for i, h in enumerate(hashes):
            out[i] = self._cache[h]
            self._cache.move_to_end(h)
        return out

    def _remember_vec(self, h: str, v: np.ndarray) -> None:
        self._cache[h] = np.asarray(v, dtype=np.float32)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    # ------------------------------------------------------------ ingestion

    def remember(self, obs: Observation) -> None:
        """Store ``obs`` as an observation record (idempotent by ``obs.id``); never calls the LLM
        unless a reflection is due and ``reflect_in_remember`` is set."""
        if not self.records.select_ids(source_ids=[obs.id]):
            now = self.clock.now()
            self.add(
                [
                    NewMemory(
                        kind="observation",
                        text=obs.text,
                        created_at=_or(finite(obs.ts), now),
                        importance=cheap_importance("observation", obs.text),
                        desktop=obs.desktop,
                        app=obs.app,
                        source_id=obs.id,
                    )
                ]
            )
        self.sync_store()
        if self.settings.reflect_in_remember and self.llm is not None and self.reflection_due():
            try:
                self.reflect()
            except EdgeError as e:
                # Skip this round rather than retry on every observation.
                log.warning("reflection failed, skipped until the threshold is passed again: %s", e.msg)
                self.store.set_checkpoint(CK_REFLECTED, self.records.max_id(), self.clock.now())

    def add(self, records: Sequence[NewMemory], vectors: np.ndarray | None = None) -> list[int]:
        """Store records (embedding them unless ``vectors`` is given) in SQLite and the index."""
        if not records:
            return []
        vecs = self.embed([r.text for r in records]) if vectors is None else vectors
        self.flush_touches()  # ride on a write that commits anyway
        result = self.records.insert(records, vecs)
        new = [(i, mid) for i, (mid, is_new) in enumerate(result) if is_new]
        if new:
            self.index.add(np.array([m for _, m in new], np.int64), vecs[[i for i, _ in new]])
            self._unflushed += len(new)
            if self.index.wants_rebuild(self.settings.index, self.index.ntotal):
                self.index = self.rebuild_index("grown")
            elif self._unflushed >= self.settings.index.flush_every:
                self.flush()
        return [mid for mid, _ in result]

    def sync_store(self) -> int:
        """Copy new proposals and feedback from the store's tables into the stream; return how many."""
        now = self.clock.now()
        recs: list[NewMemory] = []
        marks: list[tuple[str, int]] = []
        for kind, mark, rows_after, template in _SYNCED:
            rows = rows_after(self.store, self._mark(mark))
            for row in rows:
                if row.task:
                    text = template.format(**row._asdict())
                    recs.append(
                        NewMemory(
                            kind,
                            text,
                            _or(finite(row.created_at), now),
                            cheap_importance(kind, text),
                            desktop=str(row.desktop or ""),
                            source_id=f"{kind}:{row.id}",
                        )
                    )
            if rows:
                marks.append((mark, int(rows[-1].rowid)))
        if recs:
            self.add(recs)
        for name, value in marks:
            self.store.set_checkpoint(name, value, now)
        return len(recs)

    # ------------------------------------------------------------ retrieval

    def retrieve(
        self,
        query: str | np.ndarray,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
        exclude_source_ids: Sequence[str] = (),
        touch: bool = True,
    ) -> list[Retrieved]:
        """The ``k`` best records with distinct texts for ``query`` by the full Generative Agents score.

        Candidates: the ``candidate_pool`` nearest records from FAISS plus the
        ``recent_pool`` newest records; relevance is recomputed exactly from the
        stored vectors. Returned records get ``last_accessed`` = now unless
        ``touch`` is False; that update is kept in memory and written with the
        next insert (or `flush_touches` / `close`), so retrieval never waits
        for a commit.
        """
        k = k or self.settings.top_k
        qvec = self.embed([query])[0] if isinstance(query, str) else np.asarray(query, np.float32).ravel()
        pool = self.settings.candidate_pool
        want_filter = bool(kinds) or bool(exclude_source_ids)
        sims, ids = self.index.search(qvec[None, :], pool * (3 if want_filter else 1))
        # flat, HNSW-Flat and IVF-Flat all return exact inner products: no need to refetch those vectors
        known = {int(i): float(c) for i, c in zip(ids[0], sims[0], strict=True) if i >= 0}
        cand_ids = list(known)
        if self.settings.recent_pool:
            cand_ids += self.records.latest_ids(self.settings.recent_pool, kinds)
        cand_ids = list(dict.fromkeys(cand_ids))
        mems = self._read(cand_ids)  # ids the index still holds after a concurrent forget drop out here
        excluded = set(exclude_source_ids)
        keep = [
            i
            for i in cand_ids
            if i in mems and (not kinds or mems[i].kind in kinds) and mems[i].source_id not in excluded
        ]
        rel = {i: known[i] for i in keep if i in known}
        found, vecs = self.records.vectors([i for i in keep if i not in known], self.dim)
        rel.update({i: float(c) for i, c in zip(found, vecs @ qvec, strict=True)})
        if not rel:
            return []
        cands = [
            Candidate(
                i, max(mems[i].last_accessed, self._touched.get(i, 0.0)), float(mems[i].importance), rel[i]
            )
            for i in keep
            if i in rel
        ]
        best, texts = [], set()
        for sc in score(cands, self.clock.now(), self.weights, self.settings.decay):
            if mems[sc.id].text not in texts:  # repeated events and proposals: show each text once
                texts.add(mems[sc.id].text)
                best.append(sc)
                if len(best) == k:
                    break
        for s in best:
            mems[s.id].last_accessed = max(mems[s.id].last_accessed, self._touched.get(s.id, 0.0))
        if touch:
            now = self.clock.now()
            for s in best:
                self._touched[s.id] = now
                mems[s.id].last_accessed = now
            if len(self._touched) >= 256:
                self.flush_touches()
        return [Retrieved(mems[s.id], s) for s in best]

    def flush_touches(self) -> None:
        """Write pending last_accessed updates (kept in memory so a retrieval never waits on a commit)."""
        if self._touched:
            pending, self._touched = self._touched, {}
            self.records.touch_many(pending)

    def _read(self, ids: Sequence[int]) -> dict[int, Memory]:
        """`MemoryDB.get`, with every record's times and importance readable (see the module docstring).

        A time that is not a number reads as the other time, else as 0 (the
        oldest, so it never wins on recency); an unreadable importance as the
        cheap score of the text. ``last_accessed`` and ``importance`` are
        written back; each record is logged once.
        """
        mems = self.records.get(ids)
        for m in mems.values():
            created, last, imp = finite(m.created_at), finite(m.last_accessed), finite(m.importance)
            if created is not None and last is not None and imp is not None:
                continue
            if m.id not in self._unreadable:
                self._unreadable.add(m.id)
                log.warning(
                    "memory record %d: unreadable created_at/last_accessed/importance (%.30r, %.30r, %.30r);"
                    " read with stand-ins",
                    m.id,
                    m.created_at,
                    m.last_accessed,
                    m.importance,
                )
            m.created_at = _or(created, _or(last, 0.0))
            if last is None:
                m.last_accessed = m.created_at
                self.records.touch([m.id], m.last_accessed)
            if imp is None:
                m.importance = cheap_importance(m.kind, str(m.text))
                self.records.set_importance({m.id: m.importance}, str(m.importance_src))
            else:
                m.importance = int(imp)
        return mems

    def _mark(self, name: str) -> int:
        """An integer checkpoint (a rowid or record id); 0 when absent or unreadable (logged)."""
        value = self.store.get_checkpoint(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if value is not None and name not in self._unreadable_marks:
            self._unreadable_marks.add(name)
            log.warning("memory checkpoint %s is not an id (%.30r); starting it over", name, value)
        return 0

    def get(self, memory_id: int) -> Memory | None:
        """One record by id (with its citations), or None."""
        return self._read([int(memory_id)]).get(int(memory_id))

    def reflections(self, limit: int = 20) -> list[Memory]:
        """The newest reflections, newest first, with the ids they cite."""
        newest = [m.id for m in reversed(self.records.latest(limit, kinds=["reflection"]))]
        full = self._read(newest)  # `latest` leaves out citations; `get` has them
        return [full[i] for i in newest if i in full]

    def cited_reflections(self, limit: int = 20) -> list[CitedReflection]:
        """The newest reflections, newest first, each with the records it cites (for browsing)."""
        refl = self.reflections(limit)
        cited = self._read(sorted({c for r in refl for c in r.cites}))
        return [CitedReflection(r, [cited[c] for c in r.cites if c in cited]) for r in refl]

    def ids_matching(
        self, before: float | None = None, app: str | None = None, match: str | None = None
    ) -> list[int]:
        """Ids of the records `forget` would delete first (filters combine with AND; give at least one).

        ``before``: created before this unix time; ``app``: the application
        (case-insensitive); ``match``: text containing this (case-insensitive).
        Raises `StoreError` when no filter is given.
        """
        return self.records.select_ids(before=before, app=app, match=match)

    def current_plan(self) -> Memory | None:
        pid = self._mark(CK_PLAN)
        return self.get(pid) if pid else None

    def accepted_examples(self, qvec: np.ndarray, n: int) -> list[str]:
        """Up to ``n`` distinct tasks the user accepted before, most similar to ``qvec`` first."""
        tasks = self.store.accepted_tasks(500) if n > 0 else []
        if not tasks:
            return []
        sims = self.embed(tasks) @ qvec
        order = np.argsort(-sims, kind="stable")[:n]
        return [tasks[i] for i in order]

    def context_for(self, window: Sequence[Observation]) -> PromptContext:
        """Memories, plan and accepted examples for a prompt about ``window``, within the token budget.

        The query is the newest three events; records of the window itself and
        plans are not repeated as memories.
        """
        if not window:
            return PromptContext()
        budget = self.settings.prompt_token_budget
        query = " ".join(o.text for o in list(window)[-3:])
        qvec = self.embed([query])[0]
        ctx = PromptContext()
        plan = self.current_plan()
        if plan is not None and budget > 0:
            text = _clip_tokens(plan.text, budget // 3, self.count_tokens)
            if text:
                ctx.plan = text
                budget -= self.count_tokens(text)
        examples = self.accepted_examples(qvec, self.settings.accepted_examples)
        ctx.accepted_examples = take(examples, budget // 4, self._line_tokens)
        budget -= sum(self._line_tokens(t) for t in ctx.accepted_examples)
        hits = self.retrieve(qvec, kinds=RECALLED_KINDS, exclude_source_ids=[o.id for o in window])
        ctx.memories = take([r.memory.text[:300] for r in hits], budget, self._line_tokens)
        return ctx

    def _line_tokens(self, line: str) -> int:
        """Tokens of ``line`` as a bullet of a prompt."""
        return self.count_tokens(line) + 2

    # ------------------------------------------------------------ reflection

    def importance_since_reflection(self) -> float:
        return self.records.importance_since(self._mark(CK_REFLECTED))

    def reflection_due(self) -> bool:
        return self.importance_since_reflection() >= self.settings.reflection_threshold

    def maybe_reflect(self) -> Reflection | None:
        """Reflect when due (and an LLM is available); returns the `Reflection` or None."""
        if self.llm is None or not self.reflection_due():
            return None
        return self.reflect()

    def reflect(self) -> Reflection:
        """Run one reflection now (see `edge.memory.reflection.reflect`). Raises `ModelError`."""
        if self.llm is None:
            raise ModelError("Reflection needs the LLM.", "Open the memory with an LLM.")
        return reflect(self, self.llm)

    def rescore_importance(self, limit: int | None = None) -> int:
        """LLM poignancy for the newest cheaply scored records (0 without an LLM)."""
        n = self.settings.rescore_batch if limit is None else limit
        if self.llm is None or n <= 0:
            return 0
        return LLMImportance(self.llm, self.records).rescore(n)

    # ------------------------------------------------------------ ask

    def ask(self, question: str, k: int | None = None) -> Answer:
        """Answer ``question`` about the user from retrieved memories (the paper's interviews)."""
        if self.llm is None:
            raise ModelError("Answering needs the LLM.", "Open the memory with an LLM.")
        hits = self.retrieve(question, k=k or max(self.settings.top_k, 8))
        plan = self.current_plan()
        if not hits and plan is None:
            return Answer(question, "I have no memories of the user yet.", [], None)
        lines = take([h.memory.text[:240] for h in hits], 450, self._line_tokens)
        text = self.llm.chat(answer_messages(question, lines, plan.text if plan else None), max_tokens=120)
        if loops(text) and hits:
            # a small model going round in circles: say so and show what it was given instead
            text = "(the model's answer looped) Most relevant memories: " + " | ".join(lines[:3])
        return Answer(question, text.strip(), hits, plan.text if plan else None)

    # ------------------------------------------------------------ forget

    def forget(
        self, before: float | None = None, app: str | None = None, match: str | None = None
    ) -> Forgotten:
        """Delete matching records (and reflections/plans derived from them) from SQLite and FAISS.

        The observations behind deleted observation records are deleted from
        the store's ``observations`` table too. Returns the deleted ids
        (``int()`` / ``len()`` of the result is how many).
        """
        ids = self.ids_matching(before=before, app=app, match=match)
        if not ids:
            return Forgotten([])
        mems = self.records.get(ids)
        deleted = self.records.delete(ids)
        obs_ids = [m.source_id for m in mems.values() if m.kind == "observation" and m.source_id]
        if obs_ids:
            self.store.delete_observations(obs_ids)
        try:
            self.index.remove(np.array(deleted, np.int64))
            self.flush()
        except NotImplementedError:
            self.index = self.rebuild_index("forget on an index without removal")
        return Forgotten(deleted)

    # ------------------------------------------------------------ index

    def open_index(self) -> FaissIndex:
        """Load the index file and check it against SQLite; catch up or rebuild as needed."""
        t0 = time.perf_counter()
        if self.index_path is None:
            return self.rebuild_index("no index file (in-memory database)")
        try:
            idx = FaissIndex.load(self.index_path, self.settings.index)
        except StoreError as e:
            if self.index_path.exists():
                log.warning("%s", e.msg)
                return self.rebuild_index("corrupt")
            return self.rebuild_index("missing")
        if idx.dim != self.dim:
            return self.rebuild_index("dimension changed")
        count, total, top = self.records.fingerprint()
        held = idx.ids()
        h_count, h_sum = len(held), int(held.sum()) if len(held) else 0
        h_max = int(held.max()) if len(held) else 0
        if (h_count, h_sum) == (count, total):
            action = "loaded"
        elif h_max <= top and self.records.fingerprint_upto(h_max) == (h_count, h_sum):
            for ids, vecs in self.records.iter_vectors(self.dim, after=h_max):
                idx.add(ids, vecs)
            action = "caught_up"
        else:
            return self.rebuild_index("stale")
        if idx.wants_rebuild(self.settings.index, count):
            return self.rebuild_index("grown")
        self.index_status = IndexStatus(action, "", time.perf_counter() - t0)
        if action == "caught_up":
            idx.save(self.index_path)
        return idx

    def rebuild_index(self, reason: str = "requested") -> FaissIndex:
        """Build a new index from the vectors in SQLite (no re-embedding) and write it."""
        t0 = time.perf_counter()
        count = self.records.fingerprint()[0]
        s = self.settings.index
        train = None
        if choose_kind(s, count) == "ivf_flat":
            want = 40 * choose_nlist(s, count)
            step = max(1, count // max(want, 1))
            parts = [v[::step] for _, v in self.records.iter_vectors(self.dim)]
            train = np.concatenate(parts) if parts else None
        idx = FaissIndex.create(s, self.dim, count, train)
        del train
        for ids, vecs in self.records.iter_vectors(self.dim):
            idx.add(ids, vecs)
        self.index_status = IndexStatus("rebuilt", reason, time.perf_counter() - t0)
        log.info("memory index rebuilt (%s): %d vectors in %.1fs", reason, count, self.index_status.seconds)
        self.index = idx
        self._unflushed = 0
        if self.index_path is not None:
            idx.save(self.index_path)
        return idx

    def flush(self) -> None:
        """Write the index file (when the stream has one)."""
        if self.index_path is not None:
            self.index.save(self.index_path)
        self._unflushed = 0

    def close(self) -> None:
        """Write the index file if records were added since the last write (and close an owned store)."""
        self.flush_touches()
        if self._unflushed:
            self.flush()
        if self.owns_store:
            self.store.close()

    # ------------------------------------------------------------ stats

    def stats(self) -> dict[str, Any]:
        s = self.records.stats()
        plan = self.current_plan()
        size = self.index_path.stat().st_size if self.index_path and self.index_path.exists() else None
        return {
            **s,
            "index": {
                "type": self.index.kind,
                "vectors": self.index.ntotal,
                "trained_at": self.index.trained_at,
                "file": str(self.index_path) if self.index_path else None,
                "file_bytes": size,
                "opened": self.index_status.action,
                "reason": self.index_status.reason,
                "open_seconds": round(self.index_status.seconds, 3),
            },
            "embedder": self.store.get_checkpoint(CK_EMBEDDER),
            "importance_since_reflection": self.importance_since_reflection(),
            "reflection_threshold": self.settings.reflection_threshold,
            "plan": plan.text if plan else None,
        }


def _clip_tokens(text: str, budget: int, count: Callable[[str], int]) -> str:
    if budget <= 0:
        return ""
    if count(text) <= budget:
        return text
    cut = text[: max(0, budget * 4 - 3)]
    while cut and count(cut + "...") > budget:
        cut = cut[: int(len(cut) * 0.9)]
    return cut + "..." if cut else ""


def index_path_for(store: Store) -> Path | None:
    """``<db>.memory.faiss`` beside the store's SQLite file, or None for an in-memory database."""
    p = store.path
    return None if p is None else p.with_name(p.stem + ".memory.faiss")


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
