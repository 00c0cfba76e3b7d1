"""ActivityWatch as an `ActivitySource`, read over aw-server's REST API with a timeout on every call.

Contract of `ActivityWatchSource.fetch`:

* Buckets whose id matches one of ``settings.activitywatch.buckets``
  (fnmatch) are discovered on every call; their kind (window, afk, web,
  vscode) comes from the bucket type, or from the id when the type is unknown.
* Each bucket is read from its checkpoint (the start of the newest event
  already handled) minus a small overlap; events at or before the checkpoint
  are skipped, so a re-read never repeats an observation. The newest event of
  a bucket may still be extended by heartbeats: that changes its duration,
  never its key, so its observation keeps its id. With no checkpoint (or an
  unreadable one, logged) the first read looks back ``activitywatch.lookback_s``
  seconds. An event the server returns malformed is skipped with a log line;
  text in an event's data is repaired to valid UTF-8 (`edge.records.valid_text`).
* Events go through `edge.sources.observe.Observer` (privacy filters first, merging,
  AFK noise); new observations come back in time order with
  ``desktop = settings.desktop`` and ``source = "aw"``.
* Checkpoints and the observer's state are written to the store when the
  caller asks for more (the next ``fetch``) or calls `commit`, so a crash
  between a fetch and the handling of its observations re-delivers them with
  the same ids instead of losing them.
* When the server cannot be reached or does not answer within
  ``activitywatch.timeout_s`` (frozen, e.g. stopped with SIGSTOP), the first
  failing call of an outage raises `SourceError` (message + hint); later calls
  return ``[]`` while waiting, retrying after ``poll_interval_s`` doubling up
  to ``max_backoff_s`` (time from the injected `Clock`). So a hung server
  costs the caller at most ``timeout_s`` per retry, never a stall. When the
  server is back reading resumes from the checkpoints, so nothing is lost or
  repeated.

Why not aw-client: its ``ActivityWatchClient`` sends every request with
``requests.get(url)`` and no timeout (nor a session one could configure), so a
frozen server blocks the caller for as long as it is frozen; it also takes a
per-name lock file and calls ``sys.exit`` when another process holds it. The
two reads needed here (``GET /api/0/buckets/``, ``GET
/api/0/buckets/<id>/events?start=``) are the ones it would make, with a
timeout. `probe_server` uses its own short one.
"""

from __future__ import annotations

import fnmatch
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

from edge.clock import Clock
from edge.config import ActivityWatchSettings, Settings
from edge.errors import SourceError
from edge.records import Observation, valid_text
from edge.sources.observe import PENDING, Kind, Observer, ObserverState, RawEvent
from edge.store import Store

log = logging.getLogger(__name__)

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


class AwClient:
    """The two aw-server reads the source needs, each bounded by ``timeout_s`` (connect and read).

    Raises ``requests.RequestException`` (``requests.Timeout`` when the server
    does not answer in time) and ``ValueError`` for a body that is not JSON.
    """

    def __init__(self, aw: ActivityWatchSettings) -> None:
        self.url = f"{_server_url(aw)}/api/0"
        self.timeout_s = aw.timeout_s
        self.http = requests.Session()

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        resp = self.http.get(f"{self.url}/{path}", params=params, timeout=self.timeout_s)
        resp.raise_for_status()
        return resp.json()

    def get_buckets(self) -> dict[str, Any]:
        """``{bucket id: bucket info}``."""
        got = self._get("buckets/")
        if not isinstance(got, dict):
            raise ValueError("the bucket list is not a JSON object")
        return got

    def get_events(self, bucket_id: str, start: datetime | None = None) -> list[Any]:
        """The bucket's events (JSON objects) ending at or after ``start``, newest first."""
        params = {"limit": "-1"}
        if start is not None:
            params["start"] = start.isoformat()
        got = self._get(f"buckets/{quote(bucket_id, safe='')}/events", params)
        if not isinstance(got, list):
            raise ValueError("the event list is not a JSON array")
        return got


def _parse_ts(value: Any) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _duration_s(value: Any) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value or 0.0)


def _event_row(e: Any) -> tuple[datetime, float, dict[str, Any]]:
    """(start, duration in s, data) of one event; raises ValueError or TypeError when malformed."""
    if isinstance(e, dict):
        ts, dur, data = e.get("timestamp"), e.get("duration"), e.get("data")
    else:
        ts, dur, data = getattr(e, "timestamp", None), getattr(e, "duration", None), getattr(e, "data", None)
    if ts is None or not isinstance(data, dict):
        raise ValueError("no timestamp or no data")
    # a title with a lone surrogate crashed the store, and the hub at every restart (read again)
    clean = {k: valid_text(v) if isinstance(v, str) else v for k, v in data.items()}
    return _parse_ts(ts), max(0.0, _duration_s(dur)), clean


class ActivityWatchSource:
    """Reads the local ActivityWatch server; see the module docstring for the contract.

    ``client`` is anything with `AwClient`'s ``get_buckets()`` and
    ``get_events(bucket_id, start=...)`` (events as JSON objects, or objects
    with those attributes); None builds an `AwClient` from
    ``settings.activitywatch`` on first use. ``lookback_s`` None uses
    ``activitywatch.lookback_s``.
    """

    name = "activitywatch"

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        client: Any | None = None,
        *,
        lookback_s: float | None = None,
        overlap_s: float = 5.0,
        afk_min_s: float = 60.0,
        return_min_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.aw = settings.activitywatch
        self.store = store
        self.clock = clock
        self._client = client
        self.lookback_s = self.aw.lookback_s if lookback_s is None else lookback_s
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
        self._checked: set[str] = set()  # buckets whose stored checkpoint was read
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

    def _since(self, bucket_id: str) -> datetime | None:
        """Start of the newest handled event of the bucket; None when never read or unreadable (logged)."""
        if bucket_id not in self._last and bucket_id not in self._checked:
            self._checked.add(bucket_id)
            value = self.store.get_checkpoint(self._checkpoint_name(bucket_id))
            last = value.get("last") if isinstance(value, dict) else None
            try:
                _parse_ts(last)
                self._last[bucket_id] = str(last)
            except (TypeError, ValueError):
                if value is not None:
                    log.warning(
                        "ActivityWatch checkpoint of %s is unreadable (%.60r); reading the last %.0f s again",
                        bucket_id,
                        value,
                        self.lookback_s,
                    )
        last = self._last.get(bucket_id)
        return _parse_ts(last) if last else None

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
            self._client = AwClient(self.aw)
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
            since_dt = self._since(bucket_id)
            start = (
                since_dt - timedelta(seconds=self.overlap_s)
                if since_dt
                else now - timedelta(seconds=self.lookback_s)
            )
            raw = client.get_events(bucket_id, start=start)
            # aw-server trims events that straddle ``start`` (their timestamp becomes
            # ``start``); those lie before the checkpoint, so the filter drops them.
            rows = sorted(self._rows(bucket_id, raw), key=lambda r: r[0])
            for i, (ts, dur, data) in enumerate(rows):
                if since_dt is not None and ts <= since_dt:
                    continue
                if since_dt is None and ts <= start:
                    continue
                events.append(RawEvent(bucket_id, kind, ts, dur, data, closed=i < len(rows) - 1))
        events.sort(key=lambda e: (e.timestamp, e.bucket))
        return events

    def _rows(self, bucket_id: str, raw: list[Any]) -> list[tuple[datetime, float, dict[str, Any]]]:
        """`_event_row` of each event; malformed ones are skipped with one log line per read."""
        rows, bad = [], 0
        for e in raw:
            try:
                rows.append(_event_row(e))
            except (TypeError, ValueError, OverflowError):
                bad += 1
        if bad:
            log.warning("ActivityWatch bucket %s: %d malformed event(s) skipped", bucket_id, bad)
        return rows

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
        elif isinstance(e, requests.Timeout):
            msg = (
                f"ActivityWatch at {_server_url(self.aw)} did not answer within "
                f"{self.aw.timeout_s:g} s (frozen or overloaded)."
            )
        else:
            msg = f"ActivityWatch is not reachable at {_server_url(self.aw)} ({type(e).__name__})."
        hint = _down_hint(self.aw)
        if isinstance(e, requests.Timeout):
            hint = (
                "The hub goes on serving the other desktops and retries with backoff. If aw-server is "
                "only slow here, raise activitywatch.timeout_s; if it hangs, restart ActivityWatch."
            )
        raise SourceError(msg, hint) from e
