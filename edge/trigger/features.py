"""Window features for the trigger: struggle signals from the last few structured events.

Contract: `window_features(window, position)` maps the newest ``WINDOW`` events
(oldest first, the current event last) plus the current event's index in its
session to a float64 vector of length ``len(FEATURES)``, in the order of
`FEATURES`. Pure numpy + the standard library, deterministic, causal (only the
current and earlier events are read) and cheap (well under 1 ms per window).

A `TriggerEvent` carries the observation sentence (for the keyword rule), its
time in seconds (unix time, or seconds since "Day 1" for simulated traces;
None when unknown) and its structured `Activity`. Gaps are clipped at 0 (real
traces are not always in time order) and at one hour.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.records import Activity, Observation
from edge.sources.sentences import parse

WINDOW = 10  # events of history the features may look at (the current one included)
K = 5  # the short window of the count features
GAP_CAP_S = 3600.0
KEYWORD = re.compile(r"search|error|stack ?overflow", re.IGNORECASE)
_QUESTION = re.compile(
    r"^\s*(?:how|what|why|which|when|where|can|is|does|do)\b|\?|怎么|如何|为什么|什么|吗"
    r"|\berror\b|\bnot working\b",
    re.IGNORECASE,
)
LOW_INFO = frozenset({"idle", "click", "switch", "open_app", "other"})


@dataclass(frozen=True)
class TriggerEvent:
    """One activity event as the trigger sees it: sentence, time in seconds, structure."""

    text: str
    ts: float | None
    s: Activity

    @staticmethod
    def of(text: str, ts: float | None = None, activity: Activity | None = None) -> TriggerEvent:
        """The event for ``text``; its structure is parsed from the text when not given."""
        return TriggerEvent(text, ts, activity if activity is not None else parse(text))

    @staticmethod
    def of_observation(obs: Observation, ts: float | None = None) -> TriggerEvent:
        """The event for an observation (``ts`` overrides ``obs.ts``, e.g. a simulated clock)."""
        return TriggerEvent.of(obs.text, obs.ts if ts is None else ts, obs.activity)


FEATURES: tuple[str, ...] = (
    # the current event
    "kw",  # the keyword rule search|error|stack ?overflow on the raw sentence
    "search",  # issues a search query
    "new_query",  # ... whose query is unlike every earlier query in the window
    "rephrase",  # ... whose query resembles an earlier one (char-trigram Jaccard >= 0.3)
    "question",  # the query reads as a question or names an error
    "results",  # looks at a search-results page without issuing a query
    "open_result",  # opens a search result or a link
    "qa",  # on a Q&A site (Stack Overflow, CSDN, forums ...)
    "docs",  # on documentation / tutorials / GitHub
    "error",  # the sentence mentions an error or failure
    "editor",
    "browser",
    "terminal",
    "chat",  # an AI chat assistant
    "type_edit",  # types or edits
    "read_scroll",  # reads or scrolls
    "low_info",  # idle, click, switch, open app, other
    "run",
    "switched",  # came from / went to another app
    # the short window (last K events, the current one included)
    "n_search",
    "n_results",  # results pages + opened results
    "n_qa_docs",
    "n_error",
    "n_run",
    "pingpong",  # editor <-> browser alternations
    "n_switch",  # changes of app category
    "n_kw",  # keyword-rule hits in the short window
    "prev_kw",  # the previous event matched the keyword rule
    "since_kw",  # events since the last keyword hit in the window / WINDOW (1 when none)
    "prev_search",
    "prev_results",
    "since_search",  # events since the last search in the window / WINDOW (1 when none)
    "distinct_queries",  # distinct queries in the window
    # time and position
    "log_gap",  # log1p(seconds since the previous event), 0 when unknown
    "log_since_search_s",  # log1p(seconds since the last search), log1p(GAP_CAP_S) when none
    "position",  # log1p(index of the event in its session)
    "first",  # the first event of its session
)
INDEX = {n: i for i, n in enumerate(FEATURES)}


def _grams(text: str) -> frozenset[str]:
    t = re.sub(r"\s+", "", text.lower())
    if len(t) < 3:
        return frozenset({t}) if t else frozenset()
    return frozenset(t[i : i + 3] for i in range(len(t) - 2))


def query_similarity(a: str, b: str) -> float:
    """Character-trigram Jaccard similarity of two queries (spaces ignored; works for CJK and typos)."""
    ga, gb = _grams(a), _grams(b)
    if not ga or not gb:
        return 0.0
    return len(ga & gb) / len(ga | gb)


def _query(e: TriggerEvent) -> str:
    return e.s.object_text if e.s.verb == "search" else ""


def _is_results(s: Activity) -> bool:
    return s.object_kind == "query" and s.verb != "search"


def window_features(window: Sequence[TriggerEvent], position: int) -> np.ndarray:
    """Features of the last event of ``window`` (oldest first); ``position`` = its index in the session."""
    win = list(window)[-WINDOW:]
    x = np.zeros(len(FEATURES), dtype=np.float64)
    if not win:
        return x
    cur = win[-1]
    s = cur.s
    f = x  # alias: fill by name below
    f[INDEX["kw"]] = bool(KEYWORD.search(cur.text))
    earlier_q = [q for q in (_query(e) for e in win[:-1]) if q]
    if s.verb == "search":
        f[INDEX["search"]] = 1.0
        q = s.object_text
        best = max((query_similarity(q, p) for p in earlier_q), default=0.0)
        f[INDEX["new_query"]] = best < 0.5
        f[INDEX["rephrase"]] = best >= 0.3
        f[INDEX["question"]] = bool(_QUESTION.search(q)) or s.error
    f[INDEX["results"]] = _is_results(s)
    f[INDEX["open_result"]] = s.verb == "open_result"
    f[INDEX["qa"]] = s.site_kind == "qa"
    f[INDEX["docs"]] = s.site_kind == "docs"
    f[INDEX["error"]] = s.error
    f[INDEX["editor"]] = s.app_category == "editor"
    f[INDEX["browser"]] = s.app_category == "browser"
    f[INDEX["terminal"]] = s.app_category == "terminal"
    f[INDEX["chat"]] = s.app_category == "chat" or s.verb == "chat_assistant"
    f[INDEX["type_edit"]] = s.verb in ("type", "edit")
    f[INDEX["read_scroll"]] = s.verb in ("read", "scroll")
    f[INDEX["low_info"]] = s.verb in LOW_INFO
    f[INDEX["run"]] = s.verb == "run"
    f[INDEX["switched"]] = s.switched

    short = win[-K:]
    f[INDEX["n_search"]] = sum(e.s.verb == "search" for e in short)
    f[INDEX["n_results"]] = sum(_is_results(e.s) or e.s.verb == "open_result" for e in short)
    f[INDEX["n_qa_docs"]] = sum(e.s.site_kind in ("qa", "docs") for e in short)
    f[INDEX["n_error"]] = sum(e.s.error for e in short)
    f[INDEX["n_run"]] = sum(e.s.verb == "run" for e in short)
    cats = [e.s.app_category for e in short]
    f[INDEX["pingpong"]] = sum({a, b} == {"editor", "browser"} for a, b in zip(cats, cats[1:], strict=False))
    f[INDEX["n_switch"]] = sum(a != b for a, b in zip(cats, cats[1:], strict=False))
    kws = [bool(KEYWORD.search(e.text)) for e in win]
    f[INDEX["n_kw"]] = sum(kws[-K:])
    last_kw = next((j for j in range(len(win) - 1, -1, -1) if kws[j]), None)
    f[INDEX["since_kw"]] = 1.0 if last_kw is None else (len(win) - 1 - last_kw) / WINDOW
    if len(win) >= 2:
        f[INDEX["prev_kw"]] = kws[-2]
        prev = win[-2].s
        f[INDEX["prev_search"]] = prev.verb == "search"
        f[INDEX["prev_results"]] = _is_results(prev) or prev.verb == "open_result"
    last_search = next((j for j in range(len(win) - 1, -1, -1) if win[j].s.verb == "search"), None)
    f[INDEX["since_search"]] = 1.0 if last_search is None else (len(win) - 1 - last_search) / WINDOW
    distinct: list[str] = []
    for q in [*earlier_q, _query(cur)]:
        if q and all(query_similarity(q, d) < 0.5 for d in distinct):
            distinct.append(q)
    f[INDEX["distinct_queries"]] = len(distinct)

    prev_ts = win[-2].ts if len(win) >= 2 else None
    gap = 0.0 if cur.ts is None or prev_ts is None else min(max(cur.ts - prev_ts, 0.0), GAP_CAP_S)
    f[INDEX["log_gap"]] = math.log1p(gap)
    search_ts = None if last_search is None else win[last_search].ts
    since = GAP_CAP_S
    if cur.ts is not None and search_ts is not None:
        since = min(max(cur.ts - search_ts, 0.0), GAP_CAP_S)
    f[INDEX["log_since_search_s"]] = math.log1p(since)
    f[INDEX["position"]] = math.log1p(max(position, 0))
    f[INDEX["first"]] = position == 0
    return x


def session_matrix(texts: Sequence[str], ts: Sequence[float | None]) -> np.ndarray:
    """Feature rows for every event of one session, in order (shape (n, len(FEATURES)))."""
    events = [TriggerEvent.of(t, v) for t, v in zip(texts, ts, strict=True)]
    rows = [window_features(events[max(0, i - WINDOW + 1) : i + 1], i) for i in range(len(events))]
    return np.vstack(rows) if rows else np.zeros((0, len(FEATURES)))
