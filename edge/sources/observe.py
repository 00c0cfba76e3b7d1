"""Raw ActivityWatch events -> short natural-language observations ("The user ...").

Deterministic and model-free: the same events in the same order, from the
same `Observer` state, always give the same observations with the same keys.

Four event kinds are understood (the ``data`` of the standard watchers):

* ``window``: ``{"app", "title"}`` (aw-watcher-window)
* ``afk``: ``{"status": "afk" | "not-afk"}`` (aw-watcher-afk)
* ``web``: ``{"url", "title", "audible"?, "incognito"?}`` (aw-watcher-web)
* ``vscode``: ``{"language", "project", "file"}`` (aw-watcher-vscode)

Contracts:

* Privacy runs first. An event from an excluded app, with a title matching an
  excluded pattern, or from an incognito tab never becomes an observation and
  leaves no trace in the text of others. With ``privacy.redact`` every string
  that reaches an observation has e-mail addresses, URL query strings and
  fragments, digit runs of 6 or more and secret-looking tokens replaced (see
  `redact`). A search query is read from the URL's ``q=`` parameter before the
  query string is dropped, and is itself redacted.
* Consecutive events with the same *signature* (same file in an editor, same
  page or search in a browser, same window of another app) make one
  observation, across buckets: the window title "server.py - myproj - Visual
  Studio Code" and the vscode event for ``.../myproj/server.py`` merge. The
  observation's ``key`` is the first raw event's ``bucket@timestamp``, so a
  heartbeat that later extends that event keeps the same ``Observation.id``.
* AFK noise is dropped: an away period shorter than ``afk_min_s`` and a
  return shorter than ``return_min_s`` between two away periods (flapping)
  produce nothing. An event that is still open (``closed=False``, the newest
  of its bucket, which heartbeats may extend) and too short to judge is
  `PENDING`: the observer's state is unchanged and the caller should offer
  the same event again later.
* Browser tab events while another (known) application has the focus are
  background changes and are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

from edge.config import PrivacySettings
from edge.records import Observation

Kind = Literal["window", "afk", "web", "vscode"]

EDITOR = "Visual Studio Code"
_HIDDEN = "\x00hidden"  # the focused window is excluded by privacy rules


@dataclass(frozen=True)
class RawEvent:
    """One ActivityWatch event as read from a bucket.

    ``timestamp`` must be timezone-aware. ``closed`` is False for the newest
    event of its bucket, which heartbeats may still extend.
    """

    bucket: str
    kind: Kind
    timestamp: datetime
    duration: float
    data: Mapping[str, Any]
    closed: bool = True

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError("RawEvent.timestamp must be timezone-aware")

    @property
    def key(self) -> str:
        """``bucket@ISO-timestamp (UTC)``: stable across re-reads of the same event."""
        return f"{self.bucket}@{self.timestamp.astimezone(UTC).isoformat()}"

    @property
    def ts(self) -> float:
        return self.timestamp.timestamp()


class _Pending:
    def __repr__(self) -> str:
        return "PENDING"


PENDING: Final = _Pending()
"""Returned by `Observer.push` when an open event cannot be judged yet."""


# ------------------------------------------------------------------ redaction

_URL = re.compile(r"\b(?:https?|ftp|file)://[^\s'\"<>]+", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_SECRETS = [
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"),  # OpenAI / Anthropic keys
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),  # Google API keys
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"),  # JWT
    re.compile(r"\b[0-9a-fA-F]{32,}\b"),  # long hex (hashes, tokens)
]
# Long base64/base64url-looking runs (32+): judged by `_looks_random` before redacting.
_B64 = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")
_DIGITS = re.compile(r"\d{6,}")

EMAIL_MARK = "[email]"
SECRET_MARK = "[secret]"
NUMBER_MARK = "[number]"


def _looks_random(token: str) -> bool:
    """A run of 32+ base64 characters mixing upper case, lower case and 3+ digits."""
    core = token.rstrip("=")
    return (
        len(core) >= 32
        and sum(c.isdigit() for c in core) >= 3
        and any(c.isupper() for c in core)
        and any(c.islower() for c in core)
    )


def strip_url_query(url: str) -> str:
    """``url`` without its query string and fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def redact(text: str) -> str:
    """Remove private details from ``text``; idempotent.

    In order: URL query strings and fragments are dropped; secret-looking
    tokens (``sk-...``, ``ghp_...``, ``AKIA...``, JWTs, long hex or random
    base64 runs) become ``[secret]``; e-mail addresses ``[email]``; runs of 6
    or more digits ``[number]``.
    """
    out = _URL.sub(lambda m: strip_url_query(m.group(0)), text)
    for pattern in _SECRETS:
        out = pattern.sub(SECRET_MARK, out)
    out = _B64.sub(lambda m: SECRET_MARK if _looks_random(m.group(0)) else m.group(0), out)
    out = _EMAIL.sub(EMAIL_MARK, out)
    return _DIGITS.sub(NUMBER_MARK, out)


# ------------------------------------------------------------------ apps and titles

_APP_NAMES: dict[str, str] = {
    "code": EDITOR,
    "code-oss": EDITOR,
    "vscodium": EDITOR,
    "visual studio code": EDITOR,
    "firefox": "Firefox",
    "firefox-esr": "Firefox",
    "navigator": "Firefox",
    "google-chrome": "Google Chrome",
    "google chrome": "Google Chrome",
    "chrome": "Google Chrome",
    "chromium": "Chromium",
    "chromium-browser": "Chromium",
    "msedge": "Microsoft Edge",
    "microsoft-edge": "Microsoft Edge",
    "brave-browser": "Brave",
    "brave": "Brave",
    "safari": "Safari",
    "vivaldi": "Vivaldi",
    "gnome-terminal-server": "the terminal",
    "gnome-terminal": "the terminal",
    "konsole": "the terminal",
    "alacritty": "the terminal",
    "kitty": "the terminal",
    "xterm": "the terminal",
    "terminal": "the terminal",
    "windowsterminal": "the terminal",
}
BROWSERS = frozenset({"Firefox", "Google Chrome", "Chromium", "Microsoft Edge", "Brave", "Safari", "Vivaldi"})
_BROWSER_SUFFIX = re.compile(
    r"\s+[-\u2013\u2014]\s+(?:Mozilla Firefox|Firefox|Google Chrome|Chromium|Microsoft\u200b?\s?Edge"
    r"|Brave|Vivaldi|Safari)(?:\s+Private Browsing)?$"
)
_EDITOR_SUFFIX = re.compile(r"\s+[-\u2013\u2014]\s+(?:Visual Studio Code|Code - OSS|VSCodium)$")
_TITLE_SEARCHES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?P<q>.+?) - Google (?:Search|Suche|Recherche)$"), "Google"),
    (re.compile(r"^(?P<q>.+?) - (?:Search|Bing)$"), "Bing"),
    (re.compile(r"^(?P<q>.+?) at DuckDuckGo$"), "DuckDuckGo"),
]


def app_name(raw: str) -> str:
    """The display name of an application as window watchers report it (``Code.exe`` -> VS Code)."""
    name = raw.strip()
    low = name.lower()
    if low.endswith(".exe"):
        name, low = name[:-4], low[:-4]
    return _APP_NAMES.get(low, name)


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path.rstrip("\\/"))[-1] if path else ""


def search_from_url(url: str) -> tuple[str, str] | None:
    """``(engine, query)`` when ``url`` is a Google, Bing, DuckDuckGo or Stack Overflow search."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    path = parts.path or "/"
    engine: str | None = None
    if re.search(r"(^|\.)google\.[a-z.]+$", host) and path.startswith("/search"):
        engine = "Google"
    elif (host == "bing.com" or host.endswith(".bing.com")) and path.startswith("/search"):
        engine = "Bing"
    elif host == "duckduckgo.com" or host.endswith(".duckduckgo.com"):
        engine = "DuckDuckGo"
    elif (host == "stackoverflow.com" or host.endswith(".stackoverflow.com")) and path.startswith("/search"):
        engine = "Stack Overflow"
    if engine is None:
        return None
    values = parse_qs(parts.query).get("q") or []
    query = " ".join(values[0].split()) if values else ""
    return (engine, query) if query else None


def _domain(url: str) -> str:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


_MEDIA_SITES = ("youtube.com", "youtu.be", "vimeo.com", "twitch.tv", "netflix.com")


# ------------------------------------------------------------------ observer


@dataclass
class ObserverState:
    """What the observer remembers between events; JSON-serialisable via `to_json`."""

    sig: tuple[str, ...] | None = None  # signature of the current (last emitted) group
    app: str | None = None  # app named by the last observation
    focus: str | None = None  # app of the newest window event (``_HIDDEN`` when excluded)
    away: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "sig": None if self.sig is None else list(self.sig),
            "app": self.app,
            "focus": self.focus,
            "away": self.away,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> ObserverState:
        if not d:
            return cls()
        sig = d.get("sig")
        return cls(
            sig=None if sig is None else tuple(str(s) for s in sig),
            app=d.get("app"),
            focus=d.get("focus"),
            away=bool(d.get("away", False)),
        )


@dataclass(frozen=True)
class _Draft:
    sig: tuple[str, ...]
    app: str
    # text given the app named by the previous observation
    text_same_app: str
    text_new_app: str


@dataclass
class Observer:
    """Turns a time-ordered stream of `RawEvent` into observations; see the module docstring.

    Thresholds: ``afk_min_s`` is the shortest away period reported,
    ``return_min_s`` the shortest presence between two away periods that
    counts as a return. Not thread-safe.
    """

    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    desktop: str = "local"
    source: str = "aw"
    afk_min_s: float = 60.0
    return_min_s: float = 10.0
    state: ObserverState = field(default_factory=ObserverState)

    def __post_init__(self) -> None:
        self._excluded_apps = {a.strip().lower() for a in self.privacy.exclude_apps}
        self._title_patterns = [re.compile(p) for p in self.privacy.exclude_title_patterns]

    # -------------------------------------------------------------- public

    def push(self, event: RawEvent) -> Observation | None | _Pending:
        """Consume one event: a new observation, None (merged, filtered or noise), or `PENDING`.

        On `PENDING` the state is unchanged; offer the (extended) event again later.
        """
        if event.kind == "afk":
            return self._afk(event)
        draft = self._draft(event)
        if draft is None:
            return None
        if draft.sig == self.state.sig:
            self.state.app = draft.app
            return None
        text = draft.text_same_app if self.state.app == draft.app else draft.text_new_app
        self.state.sig, self.state.app = draft.sig, draft.app
        return self._make(event, text, draft.app)

    def feed(self, events: Iterable[RawEvent]) -> list[Observation]:
        """`push` each event in order; return the observations (pending events are skipped)."""
        out: list[Observation] = []
        for ev in events:
            res = self.push(ev)
            if isinstance(res, Observation):
                out.append(res)
        return out

    # -------------------------------------------------------------- helpers

    def _make(self, event: RawEvent, text: str, app: str) -> Observation:
        ts = event.ts
        return Observation(
            text=text,
            time=str(round(ts, 3)),
            ts=ts,
            desktop=self.desktop,
            app=app,
            source=self.source,
            key=event.key,
        )

    def _clean(self, text: str) -> str:
        text = " ".join(str(text).split())
        return redact(text) if self.privacy.redact else text

    def _title_excluded(self, *texts: str) -> bool:
        return any(p.search(t) for p in self._title_patterns for t in texts if t)

    def _afk(self, event: RawEvent) -> Observation | None | _Pending:
        status = str(event.data.get("status", "")).lower()
        if status == "afk":
            if event.duration < self.afk_min_s:
                return None if event.closed else PENDING
            if self.state.away:
                return None
            self.state.away = True
            self.state.sig = None  # announce the next activity again after the break
            return self._make(event, "The user is away from the computer.", "")
        if status == "not-afk":
            if not self.state.away:
                return None
            if event.duration < self.return_min_s:
                return None if event.closed else PENDING
            self.state.away = False
            return self._make(event, "The user returns to the computer.", "")
        return None

    def _draft(self, event: RawEvent) -> _Draft | None:
        d = event.data
        if event.kind == "window":
            return self._window(str(d.get("app") or ""), str(d.get("title") or ""))
        if event.kind == "web":
            return self._web(event)
        if event.kind == "vscode":
            return self._vscode(d)
        return None

    def _window(self, raw_app: str, title: str) -> _Draft | None:
        if not raw_app:
            return None
        app = app_name(raw_app)
        if (
            raw_app.strip().lower() in self._excluded_apps
            or app.lower() in self._excluded_apps
            or self._title_excluded(title)
        ):
            self.state.focus = _HIDDEN
            return None
        self.state.focus = app
        title = " ".join(title.split())
        if app == EDITOR:
            return self._editor_title(title)
        if app in BROWSERS:
            return self._browser_title(app, title)
        shown = self._clean(title)
        if not shown:
            return _Draft(("app", app, ""), app, f"The user uses {app}.", f"The user switches to {app}.")
        return _Draft(
            ("app", app, shown.lower()),
            app,
            f"The user moves to '{shown}' in {app}.",
            f"The user switches to {app} ('{shown}').",
        )

    def _editor_title(self, title: str) -> _Draft:
        core = _EDITOR_SUFFIX.sub("", title).lstrip("\u25cf ").strip()
        parts = [p.strip() for p in re.split(r"\s+[-\u2013\u2014]\s+", core) if p.strip()]
        if len(parts) >= 2:
            return self._edit_draft(parts[0], parts[1])
        if parts and parts[0] not in {EDITOR, "Welcome"}:
            name = self._clean(parts[0])
            return _Draft(
                ("edit-window", name.lower()),
                EDITOR,
                f"The user works on '{name}' in {EDITOR}.",
                f"The user switches to {EDITOR} and works on '{name}'.",
            )
        return _Draft(
            ("edit-window", ""), EDITOR, f"The user uses {EDITOR}.", f"The user switches to {EDITOR}."
        )

    def _edit_draft(self, file: str, project: str) -> _Draft:
        f, p = self._clean(file), self._clean(project)
        where = f" in project '{p}'" if p else ""
        return _Draft(
            ("edit", f.lower(), p.lower()),
            EDITOR,
            f"The user edits '{f}'{where}.",
            f"The user switches to {EDITOR} and edits '{f}'{where}.",
        )

    def _browser_title(self, app: str, title: str) -> _Draft | None:
        page = _BROWSER_SUFFIX.sub("", title).strip()
        if page.lower() in {app.lower(), "mozilla firefox", "new tab"}:
            page = ""
        for pattern, engine in _TITLE_SEARCHES:
            m = pattern.match(page)
            if m:
                return self._search_draft(app, engine, m.group("q"))
        shown = self._clean(page)
        if not shown:
            return _Draft(("browser", app), app, f"The user uses {app}.", f"The user switches to {app}.")
        return _Draft(
            ("page", shown.lower()),
            app,
            f"The user reads '{shown}'.",
            f"The user switches to {app} and reads '{shown}'.",
        )

    def _search_draft(self, app: str, engine: str, query: str) -> _Draft:
        q = self._clean(query)
        text = f"The user searches {engine} for '{q}'."
        return _Draft(("search", engine, q.lower()), app, text, text)

    def _web(self, event: RawEvent) -> _Draft | None:
        d = event.data
        if d.get("incognito"):
            return None
        focus = self.state.focus
        if focus is not None and focus not in BROWSERS:
            return None  # a background tab change, or the focused window is private
        url, title = str(d.get("url") or ""), " ".join(str(d.get("title") or "").split())
        if self._title_excluded(title, url):
            return None
        app = focus if focus is not None else self.state.app if self.state.app in BROWSERS else "the browser"
        search = search_from_url(url)
        if search is not None:
            return self._search_draft(app, *search)
        domain = self._clean(_domain(url))
        on = f" on {domain}" if domain else ""
        if title:
            shown = self._clean(title)
            verb = "reads"
            if d.get("audible"):
                verb = "watches" if domain.endswith(_MEDIA_SITES) else "listens to"
            text = f"The user {verb} '{shown}'{on}."
            return _Draft(("page", shown.lower()), app, text, text)
        if not url:
            return None
        shown_url = self._clean(strip_url_query(url))
        text = f"The user opens {shown_url}."
        return _Draft(("url", shown_url.lower()), app, text, text)

    def _vscode(self, d: Mapping[str, Any]) -> _Draft | None:
        file, project = str(d.get("file") or ""), str(d.get("project") or "")
        if self.state.focus == _HIDDEN or self._title_excluded(file, project):
            return None
        name = _basename(file)
        if not name or name.lower() == "unknown":
            return None
        proj = _basename(project)
        if proj.lower() == "unknown":
            proj = ""
        return self._edit_draft(name, proj)


def observe(
    events: Iterable[RawEvent],
    privacy: PrivacySettings | None = None,
    desktop: str = "local",
    afk_min_s: float = 60.0,
    return_min_s: float = 10.0,
) -> list[Observation]:
    """Convert a time-ordered event list with a fresh `Observer` (a pure function)."""
    obs = Observer(
        privacy=privacy or PrivacySettings(),
        desktop=desktop,
        afk_min_s=afk_min_s,
        return_min_s=return_min_s,
    )
    return obs.feed(sorted(events, key=lambda e: (e.timestamp, e.bucket)))
