"""What the hub does with the user's answer to a proposal.

* accepted -> the task is carried out: the LLM writes the help (an answer, a
  snippet, a summary or a checklist) from the task, the desktop's recent
  activity and the memory's context; it is stored (``results``) and published
  on the desktop's ``result`` topic. An acceptance also halves the desktop's
  current raises (the user welcomes help again).
* rejected -> stored, and tasks similar to the rejected one (a `Similarity`:
  embedding cosine when the memory's embedder is installed, token-set Jaccard
  otherwise) are suppressed on that desktop for ``reject_cooldown_s``.
* ignored (no answer before ``expires_at``; the companion says so, and the hub
  decides it itself ``expiry_grace_s`` later when the desktop is gone) -> the
  reward gate's task threshold rises and the minimum interval between
  proposals grows, both bounded and both halving every ``decay_half_life_s``.

Every adaptation is a row in ``adaptations``; the per-desktop state is in
``feedback_state`` and is shown by ``proactive status --json``. Time comes
from the injected `Clock`. Handlers run on the hub's loop thread (the LLM is
not thread-safe).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from edge.clock import Clock
from edge.config import FeedbackSettings
from edge.errors import EdgeError, StoreError
from edge.llm import LLM, Message
from edge.ports import ContextProvider, Gate
from edge.records import Observation, stable_id
from edge.store import Store

log = logging.getLogger(__name__)

RESULT_KINDS = ("answer", "snippet", "summary", "checklist")


# ---------------------------------------------------------------- similarity


class Similarity(Protocol):
    """How alike two task texts are, in [0, 1]; ``threshold`` is this measure's "similar" default."""

    name: str
    threshold: float

    def scores(self, text: str, others: Sequence[str]) -> list[float]: ...


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    ["a", "an", "the", "to", "of", "for", "and", "or", "in", "on", "with", "your", "you", "me", "my"]
    + ["it", "this", "that", "is", "be", "by", "at", "as", "can", "could", "would", "i"]
)


def _tokens(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


class JaccardSimilarity:
    """Token-set Jaccard over lower-cased words without stop words."""

    name = "jaccard"
    threshold = 0.5

    def scores(self, text: str, others: Sequence[str]) -> list[float]:
        a = _tokens(text)
        out = []
        for o in others:
            b = _tokens(o)
            out.append(len(a & b) / len(a | b) if a and b else 0.0)
        return out


class EmbeddingSimilarity:
    """Cosine of L2-normalised embeddings from any ``embed(texts) -> array`` callable."""

    name = "embedding"
    threshold = 0.8

    def __init__(self, embed: Callable[[list[str]], Any]) -> None:
        self.embed = embed

    def scores(self, text: str, others: Sequence[str]) -> list[float]:
        if not others:
            return []
        vecs = self.embed([text, *others])
        return [float(v) for v in (vecs[1:] @ vecs[0])]


def make_similarity(memory: object | None = None) -> Similarity:
    """Embedding similarity from the memory's embedder (or the shipped MiniLM), else Jaccard.

    ``memory`` (the hub's memory stream) is reused when it has an ``embedder``
    with ``embed(texts)``, so the model is loaded once.
    """
    embedder = getattr(memory, "embedder", None)
    embed = getattr(embedder, "embed", None)
    if callable(embed):
        return EmbeddingSimilarity(embed)
    try:
        from edge.encoder import OnnxEmbedder

        return EmbeddingSimilarity(OnnxEmbedder().embed)
    except (ImportError, EdgeError) as e:  # the embedder is optional here: fall back, say why
        log.info("feedback: no embedder (%s); using token Jaccard similarity", e)
    return JaccardSimilarity()


# ---------------------------------------------------------------- the gate wrapper


class AdaptiveGate:
    """A `Gate` that adds a desktop's threshold raise and zeroes tasks similar to rejected ones.

    Without an inner reward gate it never asks for silence and scores tasks
    1.0 (so only suppression, not the threshold, has an effect).
    """

    def __init__(self, inner: Gate | None, feedback: FeedbackManager) -> None:
        self.inner = inner
        self.feedback = feedback
        self._desktop = ""
        self._silence = inner.silence_threshold if inner is not None else 1.0
        self._task = inner.task_threshold if inner is not None else 0.5

    @property
    def silence_threshold(self) -> float:
        return self.inner.silence_threshold if self.inner is not None else self._silence

    @silence_threshold.setter
    def silence_threshold(self, value: float) -> None:
        if self.inner is not None:
            self.inner.silence_threshold = value
        self._silence = value

    @property
    def task_threshold(self) -> float:
        """The base threshold plus the current desktop's (decayed) raise, at most 0.99."""
        base = self.inner.task_threshold if self.inner is not None else self._task
        return min(0.99, base + self.feedback.threshold_raise_for(self._desktop))

    @task_threshold.setter
    def task_threshold(self, value: float) -> None:
        if self.inner is not None:
            self.inner.task_threshold = value
        self._task = value

    def silence_score(self, window: Sequence[Observation]) -> float:
        self._desktop = window[-1].desktop if window else ""
        return self.inner.silence_score(window) if self.inner is not None else 0.0

    def task_scores(self, window: Sequence[Observation], tasks: Sequence[str]) -> list[float]:
        self._desktop = window[-1].desktop if window else ""
        scores = self.inner.task_scores(window, tasks) if self.inner is not None else [1.0] * len(tasks)
        return [
            0.0 if self.feedback.suppressed(self._desktop, t) else s
            for t, s in zip(tasks, scores, strict=True)
        ]


# ---------------------------------------------------------------- the manager


def result_kind(task: str) -> str:
    """Which kind of help a task asks for: snippet, summary, checklist or answer."""
    t = task.lower()
    if re.search(r"\b(code|snippet|function|script|command|regex|sql|bash|python|implement|fix)\b", t):
        return "snippet"
    if re.search(r"\b(summar\w*|recap|overview|tl;?dr|digest)\b", t):
        return "summary"
    if re.search(r"\b(checklist|steps|plan|to-?do|list|outline)\b", t):
        return "checklist"
    return "answer"


_KIND_ASK = {
    "snippet": "Write the code snippet or command, with one line saying how to use it.",
    "summary": "Write a short summary as 3-5 bullet points.",
    "checklist": "Write a short checklist, one step per line starting with '- [ ]'.",
    "answer": "Write a short, concrete answer.",
}


class FeedbackManager:
    """Turns verdicts into results, suppressions and bounded, decaying raises (see module doc).

    ``publish_result`` receives each result payload (the relay sets it).
    ``llm`` may be None for read-only use (``proactive status``).
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: FeedbackSettings,
        llm: LLM | None = None,
        memory: ContextProvider | None = None,
        similarity: Similarity | None = None,
        publish_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.llm = llm
        self.memory = memory
        self.similarity = similarity or JaccardSimilarity()
        self.publish_result = publish_result
        self._next_sweep = 0.0

    # ------------------------------------------------------------ state
    def _state(self, desktop: str) -> dict[str, float]:
        rows = list(self.store.db.table("feedback_state").rows_where("desktop = ?", [desktop]))
        if not rows:
            return {"threshold_raise": 0.0, "interval_extra_s": 0.0, "updated_at": self.clock.now()}
        r = rows[0]
        return {k: float(r[k]) for k in ("threshold_raise", "interval_extra_s", "updated_at")}

    def _decay(self, state: dict[str, float], now: float) -> tuple[float, float]:
        f = 0.5 ** (max(0.0, now - state["updated_at"]) / self.settings.decay_half_life_s)
        return state["threshold_raise"] * f, state["interval_extra_s"] * f

    def threshold_raise_for(self, desktop: str) -> float:
        return self._decay(self._state(desktop), self.clock.now())[0]

    def min_interval_for(self, desktop: str, base_s: float) -> float:
        return base_s + self._decay(self._state(desktop), self.clock.now())[1]

    def _save(self, desktop: str, raise_: float, extra: float, now: float) -> None:
        self.store.db.table("feedback_state").upsert(
            {"desktop": desktop, "threshold_raise": raise_, "interval_extra_s": extra, "updated_at": now},
            pk="desktop",
        )

    def _log(self, desktop: str, proposal_id: str, verdict: str, kind: str, detail: dict[str, Any]) -> None:
        now = self.clock.now()
        self.store.db.table("adaptations").insert(
            {
                "id": stable_id("adaptation", proposal_id, kind),
                "desktop": desktop,
                "proposal_id": proposal_id,
                "verdict": verdict,
                "kind": kind,
                "detail": json.dumps(detail, ensure_ascii=False),
                "created_at": now,
            },
            replace=True,
        )

    # ------------------------------------------------------------ suppression
    def suppressed(self, desktop: str, task: str) -> bool:
        """True when ``task`` is similar to a task rejected on ``desktop`` within the cool-down."""
        rows = list(
            self.store.db.table("suppressions").rows_where(
                "desktop = ? and until > ?", [desktop, self.clock.now()]
            )
        )
        if not rows:
            return False
        threshold = self.settings.reject_similarity
        if threshold is None:
            threshold = self.similarity.threshold
        best = max(self.similarity.scores(task, [r["task"] for r in rows]))
        if best >= threshold:
            log.info(
                "feedback: %r suppressed on %s (similarity %.2f to a rejected task)", task, desktop, best
            )
            return True
        return False

    # ------------------------------------------------------------ verdicts
    def handle(self, payload: dict[str, Any]) -> str | None:
        """Apply one feedback payload (already validated). Returns the verdict applied, None if dropped."""
        pid, desktop, verdict = payload["proposal_id"], payload["desktop"], payload["verdict"]
        prop = self.store.get_proposal(pid)
        if prop is None:
            log.warning("feedback: dropped %s for unknown proposal %s", verdict, pid)
            return None
        if prop["desktop"] != desktop:
            log.warning(
                "feedback: dropped %s from %s for a proposal sent to %s", verdict, desktop, prop["desktop"]
            )
            return None
        return self._record(prop, verdict, payload["id"])

    def expire_pending(self, force: bool = False) -> int:
        """Mark proposals unanswered past expiry (+ grace) as ignored; at most once a second."""
        now = self.clock.now()
        if not force and now < self._next_sweep:
            return 0
        self._next_sweep = now + 1.0
        rows = list(
            self.store.db.table("proposals").rows_where(
                "status = 'pending' and expires_at < ?", [now - self.settings.expiry_grace_s]
            )
        )
        n = 0
        for prop in rows:
            if self._record(prop, "ignored", stable_id("feedback", prop["id"])):
                n += 1
        return n

    def _record(self, prop: dict[str, Any], verdict: str, feedback_id: str) -> str | None:
        now = self.clock.now()
        try:
            if not self.store.add_feedback(feedback_id, prop["id"], verdict, prop["desktop"], now):
                return None
        except StoreError as e:
            log.warning("feedback: dropped %s for %s: %s", verdict, prop["id"], e.msg)
            return None
        getattr(self, f"_on_{verdict}")(prop, now)
        return verdict

    def _on_ignored(self, prop: dict[str, Any], now: float) -> None:
        s = self.settings
        desktop = prop["desktop"]
        raise_, extra = self._decay(self._state(desktop), now)
        raise_ = min(s.max_threshold_raise, raise_ + s.ignored_threshold_step)
        extra = min(s.max_interval_extra_s, extra + s.ignored_interval_step_s)
        self._save(desktop, raise_, extra, now)
        self._log(
            desktop, prop["id"], "ignored", "raise", {"threshold_raise": raise_, "interval_extra_s": extra}
        )

    def _on_rejected(self, prop: dict[str, Any], now: float) -> None:
        until = now + self.settings.reject_cooldown_s
        self.store.db.table("suppressions").insert(
            {
                "id": stable_id("suppression", prop["id"]),
                "desktop": prop["desktop"],
                "task": prop["task"],
                "proposal_id": prop["id"],
                "until": until,
                "created_at": now,
            },
            replace=True,
        )
        self._log(prop["desktop"], prop["id"], "rejected", "suppress", {"task": prop["task"], "until": until})

    def _on_accepted(self, prop: dict[str, Any], now: float) -> None:
        desktop = prop["desktop"]
        raise_, extra = self._decay(self._state(desktop), now)
        if raise_ or extra:
            self._save(desktop, raise_ / 2, extra / 2, now)
        kind, text = self.execute(prop)
        result = {
            "id": stable_id("result", prop["id"]),
            "proposal_id": prop["id"],
            "desktop": desktop,
            "kind": kind,
            "text": text,
            "created_at": now,
        }
        self.store.db.table("results").insert(result, replace=True)
        self._log(desktop, prop["id"], "accepted", "result", {"kind": kind, "chars": len(text)})
        if self.publish_result is not None:
            self.publish_result({"schema": 1, **result, "task": prop["task"]})

    # ------------------------------------------------------------ carrying out a task
    def messages_for(self, prop: dict[str, Any], kind: str) -> list[Message]:
        """The prompt that makes the LLM write the help for an accepted proposal."""
        window = self.store.recent_observations(prop["desktop"], limit=8)
        events = "\n".join(f"- [{o.time}] {o.text}" for o in window) or "- (none recorded)"
        context = ""
        if self.memory is not None and window:
            try:
                ctx = self.memory.context_for(window)
                if ctx.memories:
                    context = "\nWhat you remember about the user:\n" + "\n".join(
                        f"- {m}" for m in ctx.memories
                    )
            except EdgeError as e:
                log.info("feedback: no memory context: %s", e.msg)
        system = (
            "You are a private assistant running on the user's own computer. The user accepted your "
            "offer of help. Do the task now: be concrete, brief and correct; no preamble."
        )
        user = f"Task: {prop['task']}\nRecent activity:\n{events}{context}\n\n{_KIND_ASK[kind]}"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def execute(self, prop: dict[str, Any]) -> tuple[str, str]:
        """``(kind, text)``: the help for ``prop``. A model failure becomes an apologetic text, logged."""
        kind = result_kind(prop["task"] or "")
        if self.llm is None:
            return kind, ""
        try:
            text = self.llm.chat(self.messages_for(prop, kind), max_tokens=self.settings.result_max_tokens)
        except EdgeError as e:
            log.error("feedback: the model could not carry out %r: %s", prop["task"], e.msg)
            return "answer", f"Sorry, I could not do this now ({e.msg})."
        return kind, text.strip()

    # ------------------------------------------------------------ reporting
    def wrap_gate(self, inner: Gate | None) -> AdaptiveGate:
        return AdaptiveGate(inner, self)

    def status(self) -> dict[str, Any]:
        """Per-desktop raises (decayed to now), active suppressions, recent adaptations."""
        now = self.clock.now()
        desktops = {}
        for r in self.store.db.table("feedback_state").rows:
            raise_, extra = self._decay(
                {k: float(r[k]) for k in ("threshold_raise", "interval_extra_s", "updated_at")}, now
            )
            desktops[r["desktop"]] = {
                "threshold_raise": round(raise_, 4),
                "interval_extra_s": round(extra, 1),
                "updated_at": r["updated_at"],
            }
        supp = [
            {"desktop": r["desktop"], "task": r["task"], "until": r["until"]}
            for r in self.store.db.table("suppressions").rows_where(
                "until > ?", [now], order_by="created_at desc"
            )
        ]
        recent = [
            {**r, "detail": json.loads(r["detail"] or "{}")}
            for r in self.store.db.table("adaptations").rows_where(
                order_by="created_at desc, rowid desc", limit=20
            )
        ]
        verdicts = dict(
            self.store.db.execute("select verdict, count(*) from feedback group by verdict").fetchall()
        )
        return {
            "desktops": desktops,
            "suppressions": supp,
            "verdicts": verdicts,
            "recent": recent,
        }
