"""Labelling traces into reward-model training rows.

An annotator steps through a trace; at each event they judge the candidate
tasks (proposals the hub stored for that event, the upstream agent's response
when the trace carries one, or tasks they type) and the option of staying
silent. Each judgement becomes one row in the format of
``shared/data/proactivebench/reward_train.jsonl``::

    {"obs": [{"time", "event"}, ...prefix up to the event...],
     "pred_task": "..." | null, "valid": bool, "help_needed": bool | null,
     "annotation": [bool], "category": "Correct-Detection (CD)" | ...,
     "trace": NAME, "event_index": i, "annotator": NAME, "labelled_at": unix}

Files: ``<annotations dir>/<trace>/<annotator>.jsonl``, rewritten on every
change, so several annotators of one trace never write the same file and
their agreement can be measured. `export_rows` merges them (majority verdict,
``annotation`` listing each annotator's verdict) into one training file.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from edge.clock import Clock
from edge.errors import StoreError
from edge.sources.trace import Trace
from edge.store import Store

SILENCE = None  # pred_task of "stay silent"

CATEGORIES = {
    (False, True): "Correct-Detection (CD)",
    (False, False): "False-Alarm (FA)",
    (True, True): "Correct-Rejection (CR)",
    (True, False): "Missed-Need (MN)",
}


def category(pred_task: str | None, valid: bool) -> str:
    """The ProactiveBench category of a judged row."""
    return CATEGORIES[(pred_task is None, valid)]


def slug(name: str) -> str:
    """A file-name-safe form of a trace or annotator name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip()).strip("._")
    return s or "anonymous"


def default_annotator() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "annotator"


@dataclass(frozen=True)
class Candidate:
    """A task one could have proposed at an event; ``origin`` is agent, trace or typed."""

    task: str | None
    origin: str

    @property
    def label(self) -> str:
        return "(stay silent: no proposal)" if self.task is None else self.task


def _upstream_task(extra: dict[str, Any]) -> str | None:
    """The task in an upstream trace row's ``agent_response`` (a dict or a JSON string), if any."""
    resp = extra.get("agent_response")
    if isinstance(resp, str):
        try:
            resp = json.loads(resp)
        except json.JSONDecodeError:
            return None
    if isinstance(resp, dict):
        task = resp.get("Proactive Task", resp.get("task"))
        return task.strip() if isinstance(task, str) and task.strip() else None
    return None


def store_tasks(store: Store | None, trace: Trace, index: int) -> list[str]:
    """Tasks the hub proposed for the trace's event ``index`` (replayed under any desktop)."""
    if store is None:
        return []
    obs = trace.observations[index]
    return store.proposed_tasks(obs.source, obs.key)


@dataclass
class AnnotationSession:
    """One annotator's labels for one trace, saved to its own JSONL file on every change."""

    trace: Trace
    annotator: str
    root: Path
    store: Store | None = None
    clock: Clock | None = None
    index: int = 0
    labels: dict[tuple[int, str | None], bool] = field(default_factory=dict)
    typed: dict[int, list[str]] = field(default_factory=dict)
    labelled_at: dict[tuple[int, str | None], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.load()

    # -------------------------------------------------------------- files

    @property
    def folder(self) -> Path:
        return self.root / slug(self.trace.name)

    @property
    def path(self) -> Path:
        return self.folder / f"{slug(self.annotator)}.jsonl"

    def load(self) -> None:
        """Resume from this annotator's file, if any. Raises `StoreError` for an unreadable file."""
        self.labels.clear()
        self.typed.clear()
        for row in read_rows(self.path):
            i, task = int(row["event_index"]), row.get("pred_task")
            self.labels[(i, task)] = bool(row["valid"])
            self.labelled_at[(i, task)] = float(row.get("labelled_at") or 0)
            if row.get("origin") == "typed" and task is not None:
                self.typed.setdefault(i, []).append(task)

    def save(self) -> Path:
        """Rewrite this annotator's file atomically. Raises `StoreError`."""
        rows = self.rows()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as e:
            raise StoreError(
                f"Cannot save annotations to {self.path}: {e}", "Check that the data directory is writable."
            ) from e
        return self.path

    # -------------------------------------------------------------- events and candidates

    @property
    def size(self) -> int:
        return len(self.trace.observations)

    def move(self, step: int) -> int:
        self.index = max(0, min(self.size - 1, self.index + step))
        return self.index

    def window(self, index: int | None = None) -> list[dict[str, str]]:
        """The observation prefix up to and including the event (the row's ``obs``)."""
        i = self.index if index is None else index
        return [o.to_event() for o in self.trace.observations[: i + 1]]

    def candidates(self, index: int | None = None) -> list[Candidate]:
        """Stay silent first, then the hub's tasks, the upstream agent's, the typed ones, labelled ones."""
        i = self.index if index is None else index
        out = [Candidate(SILENCE, "silence")]
        seen: set[str] = set()

        def add(task: str, origin: str) -> None:
            if task not in seen:
                seen.add(task)
                out.append(Candidate(task, origin))

        for t in store_tasks(self.store, self.trace, i):
            add(t, "agent")
        upstream = _upstream_task(self.trace.extras[i]) if i < len(self.trace.extras) else None
        if upstream:
            add(upstream, "trace")
        for t in self.typed.get(i, []):
            add(t, "typed")
        for (j, labelled), _ in sorted(self.labels.items(), key=lambda kv: str(kv[0][1])):
            if j == i and labelled is not None:
                add(labelled, "typed")
        return out

    def add_typed(self, task: str) -> Candidate | None:
        task = " ".join(task.split())
        if not task:
            return None
        if task not in self.typed.setdefault(self.index, []):
            self.typed[self.index].append(task)
        return Candidate(task, "typed")

    # -------------------------------------------------------------- judging

    def _now(self) -> float:
        return float(self.clock.now()) if self.clock is not None else 0.0

    def _set(self, task: str | None, valid: bool) -> None:
        self.labels[(self.index, task)] = valid
        self.labelled_at[(self.index, task)] = self._now()

    def mark(self, task: str | None, valid: bool) -> None:
        """Judge one candidate at the current event, keeping the event's labels consistent.

        Accepting a task means help was needed, so staying silent was wrong;
        judging silence right ("no help needed") makes every task a false alarm.
        """
        self._set(task, valid)
        if task is not None and valid:
            self._set(SILENCE, False)
        if task is None and valid:
            for c in self.candidates():
                if c.task is not None:
                    self._set(c.task, False)

    def no_help_needed(self) -> None:
        self.mark(SILENCE, True)

    def clear(self, task: str | None) -> None:
        self.labels.pop((self.index, task), None)
        self.labelled_at.pop((self.index, task), None)

    def verdict(self, task: str | None, index: int | None = None) -> bool | None:
        return self.labels.get((self.index if index is None else index, task))

    def help_needed(self, index: int) -> bool | None:
        """This annotator's judgement of whether help was needed at the event, else the trace's."""
        silence = self.labels.get((index, SILENCE))
        if silence is not None:
            return not silence
        if any(v for (j, t), v in self.labels.items() if j == index and t is not None):
            return True
        return self.trace.observations[index].help_needed

    def labelled_events(self) -> int:
        return len({j for j, _ in self.labels})

    def rows(self) -> list[dict[str, Any]]:
        """Every label as a reward-data row, ordered by event then task."""
        out = []
        origins: dict[int, dict[str | None, str]] = {}
        for (i, task), valid in sorted(self.labels.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            if i not in origins:
                origins[i] = {c.task: c.origin for c in self.candidates(i)}
            origin = origins[i].get(task, "typed")
            out.append(
                {
                    "obs": self.window(i),
                    "pred_task": task,
                    "valid": valid,
                    "help_needed": self.help_needed(i),
                    "annotation": [valid],
                    "category": category(task, valid),
                    "trace": self.trace.name,
                    "event_index": i,
                    "annotator": self.annotator,
                    "origin": origin,
                    "labelled_at": self.labelled_at.get((i, task), 0.0),
                }
            )
        return out


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of an annotation file ([] when absent). Raises `StoreError` for a malformed line."""
    if not path.exists():
        return []
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise StoreError(f"Cannot read {path}: {e}", "Check its permissions.") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            _ = row["event_index"], row["valid"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise StoreError(
                f"{path} line {n} is not an annotation row.", "Fix or remove that line; nothing was changed."
            ) from e
        rows.append(row)
    return rows


# ------------------------------------------------------------------ agreement


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    shared: int
    agree: int
    kappa: float | None

    @property
    def rate(self) -> float | None:
        return self.agree / self.shared if self.shared else None


@dataclass(frozen=True)
class Agreement:
    annotators: list[str]
    pairs: list[PairAgreement]
    items_multi: int  # items judged by two or more annotators
    unanimous: int


def _labels_by_annotator(folder: Path) -> dict[str, dict[tuple[int, str | None], bool]]:
    out: dict[str, dict[tuple[int, str | None], bool]] = {}
    if not folder.is_dir():
        return out
    for f in sorted(folder.glob("*.jsonl")):
        rows = read_rows(f)
        name = str(rows[0].get("annotator") or f.stem) if rows else f.stem
        out[name] = {(int(r["event_index"]), r.get("pred_task")): bool(r["valid"]) for r in rows}
    return out


def cohen_kappa(pairs: list[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa of two raters' boolean labels; None when undefined (no items, or chance = 1)."""
    n = len(pairs)
    if not n:
        return None
    po = sum(a == b for a, b in pairs) / n
    pa = sum(a for a, _ in pairs) / n
    pb = sum(b for _, b in pairs) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return None if pe >= 1 else (po - pe) / (1 - pe)


def agreement(folder: Path) -> Agreement:
    """Pairwise agreement (share equal and Cohen's kappa) between the annotators of one trace folder."""
    by = _labels_by_annotator(folder)
    names = sorted(by)
    pairs = []
    for a, b in combinations(names, 2):
        keys = by[a].keys() & by[b].keys()
        judged = [(by[a][k], by[b][k]) for k in sorted(keys, key=lambda k: (k[0], k[1] or ""))]
        pairs.append(PairAgreement(a, b, len(judged), sum(x == y for x, y in judged), cohen_kappa(judged)))
    items: dict[tuple[int, str | None], list[bool]] = {}
    for labels in by.values():
        for k, v in labels.items():
            items.setdefault(k, []).append(v)
    multi = [v for v in items.values() if len(v) >= 2]
    return Agreement(names, pairs, len(multi), sum(len(set(v)) == 1 for v in multi))


def others_verdicts(folder: Path, me: str, index: int) -> dict[str | None, list[bool]]:
    """Other annotators' verdicts at one event, by task."""
    out: dict[str | None, list[bool]] = {}
    for name, labels in _labels_by_annotator(folder).items():
        if name == me:
            continue
        for (i, t), v in labels.items():
            if i == index:
                out.setdefault(t, []).append(v)
    return out


def export_rows(root: Path, out: Path | None = None) -> tuple[Path, int]:
    """Merge every annotator of every trace into one reward-data file; return (path, rows).

    ``valid`` is the majority verdict (a tie counts as not valid, as a
    proposal nobody clearly wanted), ``annotation`` each annotator's verdict.
    """
    out = out or root / "reward_rows.jsonl"
    lines = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        merged: dict[tuple[int, str | None], list[dict[str, Any]]] = {}
        for f in sorted(folder.glob("*.jsonl")):
            for r in read_rows(f):
                merged.setdefault((int(r["event_index"]), r.get("pred_task")), []).append(r)
        for (_, task), rs in sorted(merged.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            votes = [bool(r["valid"]) for r in rs]
            valid = Counter(votes)[True] > len(votes) / 2
            hn = [r.get("help_needed") for r in rs if r.get("help_needed") is not None]
            lines.append(
                {
                    "obs": rs[0]["obs"],
                    "pred_task": task,
                    "valid": valid,
                    "help_needed": (Counter(hn).most_common(1)[0][0] if hn else None),
                    "annotation": votes,
                    "category": category(task, valid),
                    "trace": rs[0].get("trace", folder.name),
                    "event_index": rs[0]["event_index"],
                    "annotators": list(dict.fromkeys(str(r.get("annotator", "")) for r in rs)),
                }
            )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    except OSError as e:
        raise StoreError(f"Cannot write {out}: {e}", "Check that the data directory is writable.") from e
    return out, len(lines)


def trace_choices(dirs: Iterable[Path]) -> list[Path]:
    """Trace files offered as suggestions: ``*.json`` in ``dirs``."""
    out: list[Path] = []
    for d in dirs:
        if d.is_dir():
            out.extend(sorted(d.glob("*.json")))
    return out


@dataclass(frozen=True)
class AnnotationSetup:
    """What the Annotate screen starts from: who labels, where labels go, which traces to offer and open."""

    annotator: str
    folder: Path
    trace_dirs: tuple[Path, ...] = ()
    trace: Path | None = None

    def choices(self) -> list[Path]:
        return trace_choices(self.trace_dirs)
