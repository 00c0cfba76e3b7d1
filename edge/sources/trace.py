"""Replay of recorded traces.

Two formats are read:

* the shared format: ``{"name": ..., "events": [{"time", "event", "help_needed"?}, ...]}``
* the upstream ProactiveBench format: a JSON list of
  ``{"observation": {"time", "event"}, ...}`` (other keys such as
  ``agent_response`` are kept aside, not used as input).

Times are kept as given ("1717377997.0" or "Day 1, 11:00 PM"); ``ts`` is set
when the time is a unix timestamp. Every observation gets its structured
`Activity` from the sentence parser (`edge.sources.sentences`), with
``gap_s`` from the session's times (simulated "Day N, H:MM PM" clocks
included, see `session_seconds`).

Text is made valid UTF-8 as it is read (`edge.records.valid_text`): ``json.loads`` lets a lone
surrogate (``"\\ud800"``) through, and hashing an observation's id or storing
it would raise on it; the event, its time and the trace's name are repaired
(U+FFFD), never refused for this.

Limits (`MAX_TRACE_BYTES`, `MAX_EVENT_CHARS`) refuse a file or an event far
beyond anything a recorded session holds with a `SourceError` (exit 2) before
it can take the machine's memory: the file's size is checked before it is
read, and no more than the limit is ever read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edge.errors import SourceError
from edge.records import Observation, valid_text
from edge.sources.sentences import parse

# Why these limits, and why constants rather than settings: they bound a file format, not a
# preference. The shipped traces are a few kB with events of at most ~200 characters; a whole
# day recorded at one event every few seconds is ~2 MB. 50 MB is 10-25 such days, and parsing
# it stays within a few hundred MB of RAM on the mini-PC (measured: 10 MB, 44k events, parse in
# 19 s with +46 MB RSS on the 2-core dev machine). An event is one sentence about one
# action: 10,000 characters is 50 times the longest real one, yet small enough that the sentence
# parser, the trigger and the LLM prompt stay fast (a 5 MB event took 11 s and 1.16 GB).
# Every caller (replay, eval, trigger training, a companion's trace mode) gets the same rule
# without threading settings through; tests pass smaller ones.
MAX_TRACE_BYTES = 50_000_000
MAX_EVENT_CHARS = 10_000

_HINT = (
    'A trace is {"name", "events": [{"time", "event"}]} or the upstream list of '
    '{"observation": {"time", "event"}}.'
)


@dataclass
class Trace:
    """A parsed trace: its name and its observations in order."""

    name: str
    observations: list[Observation]
    extras: list[dict[str, Any]] = field(default_factory=list)


def _ts(time: str) -> float | None:
    try:
        return float(time)
    except ValueError:
        return None


_DAY = re.compile(r"^\s*day\s+(\d+),\s*(\d{1,2}):(\d{2})\s*([ap]m)\s*$", re.IGNORECASE)


def parse_seconds(time: str) -> float | None:
    """Seconds from a unix-timestamp string or a simulated "Day N, H:MM AM/PM"; None when unreadable."""
    unix = _ts(time)
    if unix is not None:
        return unix
    m = _DAY.match(time)
    if not m:
        return None
    day, hour, minute = int(m.group(1)), int(m.group(2)) % 12, int(m.group(3))
    if m.group(4).lower() == "pm":
        hour += 12
    return (day - 1) * 86400.0 + hour * 3600.0 + minute * 60.0


def observation_seconds(o: Observation) -> float | None:
    """When ``o`` happened, in seconds: its ``ts``, else its ``time`` string read (`parse_seconds`)."""
    return o.ts if o.ts is not None else parse_seconds(o.time)


def session_seconds(times: Sequence[str]) -> list[float | None]:
    """`parse_seconds` of one session's times; a simulated clock jumping back over midnight moves a day on."""
    out: list[float | None] = []
    shift, last = 0.0, None
    for t in times:
        v = parse_seconds(t)
        if v is not None and _DAY.match(t):
            if last is not None and v + shift < last - 6 * 3600:
                shift += 86400.0
            v += shift
        if v is not None:
            last = v
        out.append(v)
    return out


def _event(item: Any, where: str, max_chars: int = MAX_EVENT_CHARS) -> tuple[str, str, bool | None]:
    if not isinstance(item, dict):
        raise SourceError(f"{where}: expected an object, got {type(item).__name__}.", _HINT)
    text, time = item.get("event"), item.get("time")
    if not isinstance(text, str) or not text.strip():
        raise SourceError(f"{where}: missing or empty 'event' text.", _HINT)
    if len(text) > max_chars:
        raise SourceError(
            f"{where}: the event text has {len(text):,} characters, "
            f"more than the {max_chars:,} an event may have.",
            "An event is one sentence about one action: shorten or split it.",
        )
    if not isinstance(time, str | int | float):
        raise SourceError(f"{where}: missing 'time'.", _HINT)
    try:
        shown = str(time)
    except ValueError as e:  # an integer past int's 4300 digits
        raise SourceError(f"{where}: 'time' is not a time.", _HINT) from e
    hn = item.get("help_needed")
    if hn is not None and not isinstance(hn, bool):
        raise SourceError(f"{where}: 'help_needed' must be true, false or null.", _HINT)
    return valid_text(text.strip()), valid_text(shown), hn


def parse_trace(
    data: Any, name: str, desktop: str = "replay", max_event_chars: int = MAX_EVENT_CHARS
) -> Trace:
    """Parse a trace already loaded from JSON. Raises `SourceError` naming the bad element
    (an event text longer than ``max_event_chars`` included)."""
    extras: list[dict[str, Any]] = []
    name = valid_text(name)
    if isinstance(data, dict) and "events" in data:
        items = data["events"]
        try:
            name = valid_text(str(data.get("name") or name))
        except ValueError as e:  # an integer past int's 4300 digits
            raise SourceError(f"{name}: 'name' is not a name.", _HINT) from e
        if not isinstance(items, list):
            raise SourceError(f"{name}: 'events' must be a list.", _HINT)
        triples = [_event(e, f"{name} event {i}", max_event_chars) for i, e in enumerate(items)]
    elif isinstance(data, list):
        triples = []
        for i, row in enumerate(data):
            if not isinstance(row, dict) or "observation" not in row:
                raise SourceError(f"{name} item {i}: missing 'observation'.", _HINT)
            triples.append(_event(row["observation"], f"{name} item {i}", max_event_chars))
            extras.append({k: v for k, v in row.items() if k != "observation"})
    else:
        raise SourceError(f"{name}: not a trace.", _HINT)
    seconds = session_seconds([time for _, time, _ in triples])
    obs = []
    for i, (text, time, hn) in enumerate(triples):
        prev, cur = (seconds[i - 1] if i else None), seconds[i]
        gap = None if prev is None or cur is None else max(0.0, cur - prev)
        obs.append(
            Observation(
                text=text,
                time=time,
                ts=_ts(time),
                desktop=desktop,
                source=f"trace:{name}",
                key=f"{i}",
                help_needed=hn,
                activity=replace(parse(text), gap_s=gap),
            )
        )
    return Trace(name=name, observations=obs, extras=extras)


def _too_big(path: Path, size: str, max_bytes: int) -> SourceError:
    return SourceError(
        f"Trace file {path} is {size}, more than the {max_bytes / 1e6:g} MB a trace may have.",
        "A trace is one recorded session: split a longer recording into one file per session.",
    )


def _read_bounded(path: Path, max_bytes: int) -> str:
    """The file's text, refusing it by its size first and never reading more than ``max_bytes`` + 1."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise _too_big(path, f"{size / 1e6:,.1f} MB", max_bytes)
            data = f.read(max_bytes + 1)  # a pipe or device reports no size: bound the read itself
        if len(data) > max_bytes:
            raise _too_big(path, "larger than that", max_bytes)
        return data.decode("utf-8")
    except FileNotFoundError as e:
        raise SourceError(f"Trace file {path} does not exist.", "Check the path.") from e
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"Cannot read trace file {path}: {e}", "Check the file.") from e


def load_trace(
    path: Path,
    desktop: str = "replay",
    max_bytes: int = MAX_TRACE_BYTES,
    max_event_chars: int = MAX_EVENT_CHARS,
) -> Trace:
    """Read and parse a trace file. Raises `SourceError` for unreadable, malformed or oversized files
    (more than ``max_bytes``, checked before reading) and events (more than ``max_event_chars``)."""
    raw = _read_bounded(path, max_bytes)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise SourceError(
            f"Trace file {path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).",
            _HINT,
        ) from e
    except ValueError as e:  # an integer past int's 4300 digits
        raise SourceError(f"Trace file {path} is not valid JSON ({str(e)[:80]}).", _HINT) from e
    except RecursionError as e:
        raise SourceError(f"Trace file {path} nests JSON too deeply to be a trace.", _HINT) from e
    del raw
    return parse_trace(data, path.stem, desktop, max_event_chars)


def trace_files(directory: Path) -> list[Path]:
    """The ``*.json`` trace files of ``directory``, sorted. Raises `SourceError` when none."""
    if not directory.is_dir():
        raise SourceError(f"{directory} is not a directory.", "Pass a folder of trace .json files.")
    files = sorted(directory.glob("*.json"))
    if not files:
        raise SourceError(f"No .json traces in {directory}.", "Pass a folder of trace .json files.")
    return files


class TraceSource:
    """An `ActivitySource` that gives a trace's observations, ``batch`` at a time."""

    def __init__(self, trace: Trace, batch: int = 1) -> None:
        self.name = f"trace:{trace.name}"
        self._obs = trace.observations
        self._pos = 0
        self._batch = batch

    def fetch(self) -> list[Observation]:
        out = self._obs[self._pos : self._pos + self._batch]
        self._pos += len(out)
        return out

    def commit(self) -> None:
        """Nothing to persist: a trace is replayed from its start every time."""

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._obs)
