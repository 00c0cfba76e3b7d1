"""ActivityWatch as an `ActivitySource`, read through aw-client (the only module importing it).

Contract of `ActivityWatchSource.fetch`:

* Buckets whose id matches one of ``settings.activitywatch.buckets``
  (fnmatch) are discovered on every call; their kind (window, afk, web,
  vscode) comes from the bucket type, or from the id when the type is unknown.
* Each bucket is read from its checkpoint (the start of the newest event
  already handled) minus a small overlap; events at or before the checkpoint
  are skipped, so a re-read never repeats an observation. The newest event of
  a bucket may still be extended by heartbeats: that changes its duration,
  never its key, so its observation keeps its id. With no checkpoint the
  first read looks back ``lookback_s`` seconds.
* Events go through `edge.sources.observe.Observer` (privacy filters first, merging,
  AFK noise); new observations come back in time order with
  ``desktop = settings.desktop`` and ``source = "aw"``.
* Checkpoints and the observer's state are written to the store when the
  caller asks for more (the next ``fetch``) or calls `commit`, so a crash
  between a fetch and the handling of its observations re-delivers them with
  the same ids instead of losing them.
* When the server cannot be reached, the first failing call of an outage
  raises `SourceError` (message + hint); later calls return ``[]`` while
  waiting, retrying after ``poll_interval_s`` doubling up to
  ``max_backoff_s`` (time from the injected `Clock`). When the server is back
  reading resumes from the checkpoints, so nothing is lost or repeated.

aw-client's HTTP calls have no timeout; `probe_server` uses its own short one.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from aw_client import ActivityWatchClient

from edge.clock import Clock
from edge.config import ActivityWatchSettings, Settings
from edge.errors import SourceError
from edge.records import Observation
from edge.sources.observe import PENDING, Kind, Observer, ObserverState, RawEvent
from edge.store import Store

log = logging.getLogger(__name__)

CLIENT_NAME = "proactive-edge"
SOURCE = "aw"

_TYPE_KINDS: dict[str, Kind] = {
    "currentwindow": "window",
    "afkstatus": "afk",
    "web.tab.current": "web",
    "app.editor.activity": "vscode",
}
_PREFIX_KINDS: list[tuple[str, Kind]] = [
    ("aw-watcher-window", "window"),
    ("aw-watcher-afk", "afk"),
    ("aw-watcher-web", "web"),
    ("aw-watcher-vscode", "vscode"),
]


def _server_url(aw: ActivityWatchSettings) -> str:
    return f"http://{aw.host}:{aw.port}"


def _down_hint(aw: ActivityWatchSettings) -> str:
    return (
        "Start ActivityWatch (aw-qt or aw-server), or point activitywatch.host and activitywatch.port "
        "at it (config file, or PROACTIVE_ACTIVITYWATCH__HOST / PROACTIVE_ACTIVITYWATCH__PORT); "
        "aw-server --testing listens on 5666."
    )


def probe_server(aw: ActivityWatchSettings, timeout_s: float = 2.0) -> str:
    """Ask the server who it is: ``"aw-server v0.12.0 on HOST"``. Raises `SourceError` when unreachable."""
    url = f"{_server_url(aw)}/api/0/info"
    try:
        resp = requests.get(url, timeout=timeout_s)
        resp.raise_for_status()
        info = resp.json()
    except requests.RequestException as e:
        raise SourceError(
            f"ActivityWatch is not reachable at {_server_url(aw)} ({type(e).__name__}).", _down_hint(aw)
        ) from e
    except ValueError as e:
        raise SourceError(
            f"{_server_url(aw)} answered, but not like an ActivityWatch server.",
            "Check activitywatch.port: another service may be listening there.",
        ) from e
    if not isinstance(info, dict):
        raise SourceError(
            f"{_server_url(aw)} answered, but not like an ActivityWatch server.",
            "Check activitywatch.port: another service may be listening there.",
        )
    version = info.get("version") or "unknown version"
    testing = " (testing)" if info.get("testing") else ""
    return f"aw-server {version} on {info.get('hostname', '?')}{testing}"


def bucket_kind(bucket_id: str, bucket_type: str | None) -> Kind | None:
    """The observe.py kind of a bucket, from its type or else its id; None when not understood."""
    if bucket_type and bucket_type in _TYPE_KINDS:
        return _TYPE_KINDS[bucket_type]
    for prefix, kind in _PREFIX_KINDS:
        if bucket_id.startswith(prefix):
            return kind
    return None


def _make_client(aw: ActivityWatchSettings) -> Any:
    # aw-client holds a per-name lock file and calls sys.exit() when another
    # process holds it (e.g. `proactive run` next to a test): fall back to a
    # per-process name then.
    try:
        return ActivityWatchClient(CLIENT_NAME, testing=aw.testing, host=aw.host, port=aw.port)
    except SystemExit:
        return ActivityWatchClient(
            f"{CLIENT_NAME}-{os.getpid()}", testing=aw.testing, host=aw.host, port=aw.port
        )


def _parse_ts(value: Any) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _duration_s(value: Any) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value or 0.0)


class ActivityWatchSource:
    """Reads the local ActivityWatch server; see the module docstring for the contract.

    ``client`` is an ``aw_client.ActivityWatchClient`` (or anything with
    ``get_buckets()`` and ``get_events(bucket_id, start=...)``); None builds
    one from ``settings.activitywatch`` on first use.
    """

    name = "activitywatch"

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        client: Any | None = None,
        *,
        lookback_s: float = 600.0,
        overlap_s: float = 5.0,
        afk_min_s: float = 60.0,
        return_min_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.aw = settings.activitywatch
        self.store = store
        self.clock = clock
        self._client = client
        self.lookback_s = lookback_s
        self.overlap_s = overlap_s
        self._prefix = f"aw:{settings.desktop}:"
        self.observer = Observer(
            privacy=settings.privacy,
            desktop=settings.desktop,
            source=SOURCE,
            afk_min_s=afk_min_s,
            return_min_s=return_min_s,
            state=ObserverState.from_json(store.get_checkpoint(self._prefix + "observer")),
        )
        self._last: dict[str, str] = {}  # bucket id -> ISO start of the newest handled event
        self._dirty = False
        self._down = False
        self._failures = 0
        self._retry_at = 0.0

    @property
    def exhausted(self) -> bool:
        return False

    @property
    def down(self) -> bool:
        """True while the server is considered unreachable."""
        return self._down

    @property
    def retry_at(self) -> float:
        """Clock time of the next attempt while down."""
        return self._retry_at

    # ------------------------------------------------------------ checkpoints

    def _checkpoint_name(self, bucket_id: str) -> str:
        return f"{self._prefix}bucket:{bucket_id}"

    def _since(self, bucket_id: str) -> str | None:
        if bucket_id not in self._last:
            value = self.store.get_checkpoint(self._checkpoint_name(bucket_id))
            if isinstance(value, dict) and isinstance(value.get("last"), str):
                self._last[bucket_id] = value["last"]
        return self._last.get(bucket_id)

    def commit(self) -> None:
        """Persist the per-bucket checkpoints and the observer state of what was handed out."""
        if not self._dirty:
            return
        now = self.clock.now()
        for bucket_id, last in self._last.items():
            self.store.set_checkpoint(self._checkpoint_name(bucket_id), {"last": last}, now)
        self.store.set_checkpoint(self._prefix + "observer", self.observer.state.to_json(), now)
        self._dirty = False

    # ------------------------------------------------------------ reading

    def _client_or_new(self) -> Any:
        if self._client is None:
            self._client = _make_client(self.aw)
        return self._client

    def _read(self) -> list[RawEvent]:
        """All unhandled events of the matching buckets, oldest first. Raises requests errors."""
        client = self._client_or_new()
        buckets: dict[str, Any] = client.get_buckets()
        events: list[RawEvent] = []
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        for bucket_id in sorted(buckets):
            if not any(fnmatch.fnmatchcase(bucket_id, p) for p in self.aw.buckets):
                continue
            info = buckets[bucket_id]
            kind = bucket_kind(bucket_id, info.get("type") if isinstance(info, dict) else None)
            if kind is None:
                continue
            since = self._since(bucket_id)
            since_dt = _parse_ts(since) if since else None
            start = (
                since_dt - timedelta(seconds=self.overlap_s)
                if since_dt
                else now - timedelta(seconds=self.lookback_s)
            )
            raw = client.get_events(bucket_id, start=start)
            # aw-server trims events that straddle ``start`` (their timestamp becomes
            # ``start``); those lie before the checkpoint, so the filter drops them.
            rows = sorted(
                ((_parse_ts(e.timestamp), _duration_s(e.duration), dict(e.data)) for e in raw),
                key=lambda r: r[0],
            )
            for i, (ts, dur, data) in enumerate(rows):
                if since_dt is not None and ts <= since_dt:
                    continue
                if since_dt is None and ts <= start:
                    continue
                events.append(RawEvent(bucket_id, kind, ts, dur, data, closed=i < len(rows) - 1))
        events.sort(key=lambda e: (e.timestamp, e.bucket))
        return events

    def fetch(self) -> list[Observation]:
        """New observations since the previous call; see the module docstring. Raises `SourceError`."""
        now = self.clock.now()
        if self._down and now < self._retry_at:
            return []
        self.commit()
        try:
            events = self._read()
        except (requests.RequestException, OSError, ValueError) as e:
            return self._failed(e, now)
        if self._down:
            log.info("ActivityWatch at %s is reachable again; resuming.", _server_url(self.aw))
        self._down, self._failures, self._retry_at = False, 0, 0.0

        out: list[Observation] = []
        blocked: set[str] = set()  # buckets with a pending (still open, undecided) event
        for ev in events:
            if ev.bucket in blocked:
                continue
            res = self.observer.push(ev)
            if res is PENDING:
                blocked.add(ev.bucket)
                continue
            self._last[ev.bucket] = ev.timestamp.isoformat()
            self._dirty = True
            if isinstance(res, Observation):
                out.append(res)
        out.sort(key=lambda o: (o.ts or 0.0, o.key))
        return out

    def _failed(self, e: Exception, now: float) -> list[Observation]:
        self._failures += 1
        delay = min(self.aw.max_backoff_s, self.aw.poll_interval_s * 2 ** (self._failures - 1))
        self._retry_at = now + delay
        if self._down:
            log.debug("ActivityWatch still unreachable (%s); next try in %.0f s", e, delay)
            return []
        self._down = True
        if isinstance(e, requests.HTTPError):
            msg = f"ActivityWatch at {_server_url(self.aw)} returned an error: {e}."
        else:
            msg = f"ActivityWatch is not reachable at {_server_url(self.aw)} ({type(e).__name__})."
        raise SourceError(msg, _down_hint(self.aw)) from e
