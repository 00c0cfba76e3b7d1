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

Every observation carries its structured `edge.records.Activity`, built from
the raw event fields (never by parsing the sentence), from the same cleaned
(redacted) strings the sentence shows:

=====================  =========================  ============  ====================  ==============
raw event              verb                       object_kind   object_text           app_category
=====================  =========================  ============  ====================  ==============
VS Code window/vscode  edit                       file          file name             editor
  (folder, no file)    edit                       app           folder name           editor
other IDE window (1)   edit                       file          file name             editor
browser search         search                     query         query                 browser
browser page           read                       page          page title            browser
AI chat page (2)       chat_assistant             page          page title            chat
Google Docs page       read                       document      doc name              document
tab with a bare URL    read                       site          URL w/o query         browser
terminal window        switch / read              app           title                 terminal
  title shows error    switch / read (run)        error         title                 terminal
  title is a command   run                        command       command line          terminal
document app (3)       switch / read              document      title w/o app suffix  document
AI chat app (4)        chat_assistant             app           title, or ""          chat
any other app          switch / read              app           title                 other
untitled window        switch / open_app          app           ""                    (the app's)
away from the desk     idle                       none          ""                    other
return to the desk     switch                     none          ""                    other
=====================  =========================  ============  ====================  ==============

(1) JetBrains IDEs, Sublime Text, Zed, Cursor, Emacs, Xcode ... when the title
shows a file name (else as "any other app", category editor); the sentence
then says "edits 'f'" too. (2) `edge.sources.sentences.site_of` of domain +
title says "chat" (chatgpt.com, claude.ai, chat.deepseek.com, kimi ...).
(3) LibreOffice, Word, Excel, Notion, Obsidian, TextEdit, gedit, PDF readers
... (4) the ChatGPT, Claude, DeepSeek ... desktop apps.

* "switch / read": ``switch`` when the app differs from the previous
  observation's app (the sentence says "switches to"), ``read`` when the user
  moves to another window of the same app. Pages keep ``read``: the sentence
  says "switches to X and reads" and the page is what the user looks at.
  There is no "watch" verb: audible pages are ``read`` too. AI chat pages and
  apps are ``chat_assistant`` (talking to an assistant, as the sentence
  parser reads any sentence naming one).
* Away is ``idle``. The return is ``switch`` with ``switched=True``, not
  ``idle``: the user comes back to the desk and resumes, so calling that
  moment inactive would mislead every reader of the structure; it is no
  ``open_app`` either, as no app is named. (The parser reads "returns to the
  computer" as ``idle``; both are low-information verbs to the trigger.)
* ``switched`` is True when the observation's app differs from the previous
  observation's app, exactly when the sentence says "switches to"; the first
  observation of a fresh observer counts as a switch, as its sentence does.
  Away is never a switch.
* ``error`` is True when a title, query or command shows an error
  (error, exception, traceback, failed, not found, ``FooError`` ...); a file
  name in an editor never does. Only in a terminal is the title itself the
  error object (``object_kind="error"``).
* ``site`` is the domain of a page (the engine of a search; the site named by
  the title when only the window title is known); ``site_kind`` comes from
  `site_of` (``none`` becomes ``web`` for a page; Google Docs pages are
  ``web``, not documentation).
* ``app`` is the observation's app name (`app_name`); ``dwell_s`` the raw
  event's duration when the observation is emitted; ``gap_s`` the seconds
  since this observer's previous observation (clipped at 0; None for the
  first; carried across restarts in `ObserverState`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

from edge.config import PrivacySettings
from edge.errors import ConfigError
from edge.records import ACTIVITY_TEXT_MAX, Activity, Observation
from edge.sources.sentences import site_of

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
    "jetbrains-pycharm": "PyCharm",
    "jetbrains-pycharm-ce": "PyCharm",
    "pycharm64": "PyCharm",
    "jetbrains-idea": "IntelliJ IDEA",
    "jetbrains-idea-ce": "IntelliJ IDEA",
    "idea64": "IntelliJ IDEA",
    "sublime_text": "Sublime Text",
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


# ------------------------------------------------------------------ structure (see the module docstring)

_EDITOR_APPS = re.compile(
    r"jetbrains|pycharm|intellij|\bidea(?:64)?\b|webstorm|phpstorm|goland|clion|\brider\b|rubymine"
    r"|rustrover|android studio|\bstudio64\b|sublime|\bzed\b|\bcursor\b|windsurf|emacs|gvim|neovide"
    r"|xcode|eclipse|netbeans|notepad\+\+|geany|kdevelop|qtcreator|spyder|rstudio|thonny",
    re.IGNORECASE,
)
_TERMINAL_APPS = re.compile(
    r"terminal|konsole|alacritty|kitty|xterm|rxvt|tilix|terminator|wezterm|iterm|ghostty|\bfoot\b"
    r"|\bwarp\b|\bhyper\b|powershell|\bpwsh\b|^cmd$|conemu|cmder|mintty|guake|yakuake|tilda|termite",
    re.IGNORECASE,
)
_CHAT_APPS = re.compile(
    r"chatgpt|\bclaude\b|deepseek|\bkimi\b|\bgemini\b|\bcopilot\b|lm[ -]studio|gpt4all", re.IGNORECASE
)
_DOCUMENT_APPS = re.compile(
    r"libreoffice|soffice|winword|\bword\b|\bexcel\b|powerpnt|powerpoint|onenote|onlyoffice|wps office"
    r"|\bpages\b|\bnumbers\b|\bkeynote\b|notion|obsidian|logseq|joplin|typora|zettlr|textedit|gedit"
    r"|gnome-text-editor|text editor|\bkate\b|kwrite|mousepad|pluma|\bxed\b|^notepad$|wordpad|abiword"
    r"|gnumeric|google docs|evince|okular|acrobat|zathura|document viewer",
    re.IGNORECASE,
)
# A page that is an online document: "<name> - Google Docs".
_WEB_DOCUMENT = re.compile(
    r"\s+[-\u2013\u2014]\s+(?:Google (?:Docs|Sheets|Slides)|Microsoft (?:Word|Excel|PowerPoint)(?: Online)?)$"
)
# The trailing " - <app>" of a document window title.
_APP_SUFFIX = re.compile(r"^(?P<name>.+?)\s+[-\u2013\u2014]\s+(?P<app>[^-\u2013\u2014]+)$")
_ERROR_TEXT = re.compile(
    r"\b\w*(?:Error|Exception)\b|(?i:\b(?:errors?|exceptions?|traceback|failed|failures?|fatal"
    r"|panic(?:ked)?|not found|segmentation fault|core dumped)\b)"
)
_COMMANDS = (
    r"python[\d.]*|ipython|pytest|py\.test|tox|nox|pip[\d.]*|uv|poetry|pipenv|npm|npx|yarn|pnpm|node|deno"
    r"|bun|make|cmake|ninja|cargo|go|gcc|g\+\+|clang|javac|java|mvn|gradle|\./gradlew|docker"
    r"|docker-compose|podman|kubectl|ruby|bundle|rake|rails|php|composer|dotnet|mypy|ruff|flake8|black"
    r"|jest|vitest|git|(?:ba|z)?sh(?= \S+\.sh)|\./[\w.-]+"
)
# A terminal title that shows a running command ("pytest -q", "ann@box: make test").
_COMMAND_TITLE = re.compile(
    r"^(?:(?:\S+@\S+|\[email\]):\s*)?(?P<cmd>(?:sudo\s+)?(?:" + _COMMANDS + r")(?:\s.*)?)$"
)
_FILE_NAME = re.compile(r"^[\w.+-]*\w\.[A-Za-z][A-Za-z0-9]{0,5}$")
_TITLE_PARTS = re.compile(r"\s+[-\u2013\u2014\u2022]\s+|\s+\u2022$")


def app_category(app: str) -> str:
    """The `edge.records.APP_CATEGORIES` member of an application's display name (see `app_name`)."""
    if app == EDITOR or _EDITOR_APPS.search(app):
        return "editor"
    if app in BROWSERS:
        return "browser"
    if _TERMINAL_APPS.search(app):
        return "terminal"
    if _CHAT_APPS.search(app):
        return "chat"
    if _DOCUMENT_APPS.search(app):
        return "document"
    return "other"


def shows_error(text: str) -> bool:
    """True when ``text`` (a title, query or command) shows an error or a failure."""
    return bool(_ERROR_TEXT.search(text))


def command_of(title: str) -> str | None:
    """The command line a terminal title shows ("pytest -q", "make test"), or None (a prompt, a path)."""
    m = _COMMAND_TITLE.match(title)
    return m.group("cmd").strip() if m else None


def _file_in_title(title: str) -> str:
    """The first part of an IDE title that is a file name (basename, markers dropped), else ""."""
    for part in _TITLE_PARTS.split(title):
        part = re.sub(r"\s*\[[^\]]*\]$", "", part.strip("\u25cf\u2022* ").strip())
        name = _basename(part)
        if _FILE_NAME.match(name):
            return name
    return ""


def _clip(text: str) -> str:
    return text[:ACTIVITY_TEXT_MAX]


def _doc_name(title: str) -> str:
    """A document window's title without its trailing " - <document app>"."""
    m = _APP_SUFFIX.match(title)
    return m.group("name") if m and _DOCUMENT_APPS.search(m.group("app")) else title


def _page_site(domain: str, title: str) -> tuple[str, str]:
    """(site, site kind) of a page: the domain (else the site the title names) and `site_of`'s kind."""
    name, kind = site_of(f"{domain} {title}".strip())
    return (domain or name), ("web" if kind == "none" else kind)


# ------------------------------------------------------------------ observer


@dataclass
class ObserverState:
    """What the observer remembers between events; JSON-serialisable via `to_json`."""

    sig: tuple[str, ...] | None = None  # signature of the current (last emitted) group
    app: str | None = None  # app named by the last observation
    focus: str | None = None  # app of the newest window event (``_HIDDEN`` when excluded)
    away: bool = False
    last_ts: float | None = None  # unix time of the last emitted observation (for ``gap_s``)

    def to_json(self) -> dict[str, Any]:
        return {
            "sig": None if self.sig is None else list(self.sig),
            "app": self.app,
            "focus": self.focus,
            "away": self.away,
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_json(cls, d: object) -> ObserverState:
        """The state saved by `to_json`; a field that is not as written reads as its default, and a
        value that is not an object at all as a fresh state (a checkpoint never stops the source)."""
        if not isinstance(d, Mapping) or not d:
            return cls()
        sig, app, focus = d.get("sig"), d.get("app"), d.get("focus")
        last = d.get("last_ts")  # absent from checkpoints written before it existed
        return cls(
            sig=tuple(str(s) for s in sig) if isinstance(sig, list) else None,
            app=app if isinstance(app, str) else None,
            focus=focus if isinstance(focus, str) else None,
            away=d.get("away") is True,
            last_ts=float(last) if isinstance(last, int | float) and not isinstance(last, bool) else None,
        )


@dataclass(frozen=True)
class _Draft:
    sig: tuple[str, ...]
    app: str
    # text given the app named by the previous observation
    text_same_app: str
    text_new_app: str
    # the structure for the same app; `Observer.push` sets ``switched`` (and ``verb_new_app``)
    act: Activity
    verb_new_app: str = ""  # the verb when the app changed ("": ``act.verb``)


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
        try:
            self._title_patterns = [re.compile(p) for p in self.privacy.exclude_title_patterns]
        except re.error as e:  # `PrivacySettings` validates them; this guards a hand-built one
            raise ConfigError(
                f"privacy.exclude_title_patterns: {e.pattern!r} is not a valid regular expression: {e}.",
                "Fix or remove it (`proactive config` checks every pattern).",
            ) from e

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
        switched = self.state.app != draft.app
        text = draft.text_new_app if switched else draft.text_same_app
        verb = draft.verb_new_app if switched and draft.verb_new_app else draft.act.verb
        self.state.sig, self.state.app = draft.sig, draft.app
        return self._make(event, text, draft.app, replace(draft.act, verb=verb, switched=switched))

    def feed(self, events: Iterable[RawEvent]) -> list[Observation]:
        """`push` each event in order; return the observations (pending events are skipped)."""
        out: list[Observation] = []
        for ev in events:
            res = self.push(ev)
            if isinstance(res, Observation):
                out.append(res)
        return out

    # -------------------------------------------------------------- helpers

    def _make(self, event: RawEvent, text: str, app: str, act: Activity) -> Observation:
        ts = event.ts
        last, self.state.last_ts = self.state.last_ts, ts
        return Observation(
            text=text,
            time=str(round(ts, 3)),
            ts=ts,
            desktop=self.desktop,
            app=app,
            source=self.source,
            key=event.key,
            activity=replace(
                act,
                object_text=_clip(act.object_text),
                dwell_s=max(0.0, float(event.duration)),
                gap_s=None if last is None else max(0.0, ts - last),
            ),
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
            return self._make(event, "The user is away from the computer.", "", Activity(verb="idle"))
        if status == "not-afk":
            if not self.state.away:
                return None
            if event.duration < self.return_min_s:
                return None if event.closed else PENDING
            self.state.away = False
            back = Activity(verb="switch", switched=True)
            return self._make(event, "The user returns to the computer.", "", back)
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
        cat = app_category(app)
        if cat == "editor":
            file = _file_in_title(title)
            if file:
                return self._ide_draft(app, file)
        shown = self._clean(title)
        if not shown:
            return _bare_draft(("app", app, ""), app, cat)
        return self._app_draft(app, cat, shown)

    def _app_draft(self, app: str, cat: str, shown: str) -> _Draft:
        """Another app's window titled ``shown``: a command, an error, a document, a chat or just a window."""
        sig = ("app", app, shown.lower())
        error = shows_error(shown)
        verb, verb_new = ("chat_assistant", "") if cat == "chat" else ("read", "switch")
        kind, obj = "app", shown
        command = command_of(shown) if cat == "terminal" else None
        if cat == "document":
            kind, obj = "document", _doc_name(shown)
        if command:
            verb, verb_new, kind, obj = "run", "", "command", command
        if cat == "terminal" and error:
            kind, obj = "error", shown
        act = Activity(verb=verb, object_kind=kind, object_text=obj, app_category=cat, app=app, error=error)
        if command:
            return _Draft(
                sig,
                app,
                f"The user runs '{command}' in {app}.",
                f"The user switches to {app} and runs '{command}'.",
                act,
            )
        return _Draft(
            sig,
            app,
            f"The user moves to '{shown}' in {app}.",
            f"The user switches to {app} ('{shown}').",
            act,
            verb_new,
        )

    def _ide_draft(self, app: str, file: str) -> _Draft:
        f = self._clean(file)
        return _Draft(
            ("edit-ide", app, f.lower()),
            app,
            f"The user edits '{f}' in {app}.",
            f"The user switches to {app} and edits '{f}'.",
            Activity(verb="edit", object_kind="file", object_text=f, app_category="editor", app=app),
        )

    def _editor_title(self, title: str) -> _Draft:
        core = _EDITOR_SUFFIX.sub("", title).lstrip("\u25cf ").strip()
        parts = [p.strip() for p in re.split(r"\s+[-\u2013\u2014]\s+", core) if p.strip()]
        if len(parts) >= 2:
            return self._edit_draft(parts[0], parts[1])
        if parts and parts[0] not in {EDITOR, "Welcome"}:
            name = self._clean(parts[0])
            kind = "file" if _FILE_NAME.match(name) else "app"  # else a folder or an unsaved buffer
            return _Draft(
                ("edit-window", name.lower()),
                EDITOR,
                f"The user works on '{name}' in {EDITOR}.",
                f"The user switches to {EDITOR} and works on '{name}'.",
                Activity(verb="edit", object_kind=kind, object_text=name, app_category="editor", app=EDITOR),
            )
        return _bare_draft(("edit-window", ""), EDITOR, "editor")

    def _edit_draft(self, file: str, project: str) -> _Draft:
        f, p = self._clean(file), self._clean(project)
        where = f" in project '{p}'" if p else ""
        return _Draft(
            ("edit", f.lower(), p.lower()),
            EDITOR,
            f"The user edits '{f}'{where}.",
            f"The user switches to {EDITOR} and edits '{f}'{where}.",
            Activity(verb="edit", object_kind="file", object_text=f, app_category="editor", app=EDITOR),
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
            return _bare_draft(("browser", app), app, "browser")
        return _Draft(
            ("page", shown.lower()),
            app,
            f"The user reads '{shown}'.",
            f"The user switches to {app} and reads '{shown}'.",
            _page_activity(app, "", shown),
        )

    def _search_draft(self, app: str, engine: str, query: str) -> _Draft:
        q = self._clean(query)
        text = f"The user searches {engine} for '{q}'."
        act = Activity(
            verb="search",
            object_kind="query",
            object_text=q,
            app_category="browser",
            app=app,
            site=engine,
            site_kind="search",
            error=shows_error(q),
        )
        return _Draft(("search", engine, q.lower()), app, text, text, act)

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
            return _Draft(("page", shown.lower()), app, text, text, _page_activity(app, domain, shown))
        if not url:
            return None
        shown_url = self._clean(strip_url_query(url))
        text = f"The user opens {shown_url}."
        site, kind = _page_site(domain, shown_url)
        act = Activity(
            verb="chat_assistant" if kind == "chat" else "read",
            object_kind="site",
            object_text=shown_url,
            app_category="chat" if kind == "chat" else "browser",
            app=app,
            site=site,
            site_kind=kind,
        )
        return _Draft(("url", shown_url.lower()), app, text, text, act)

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


def _bare_draft(sig: tuple[str, ...], app: str, cat: str) -> _Draft:
    """A window of ``app`` without a title: the app is in front, nothing more is known."""
    verb, verb_new = ("chat_assistant", "") if cat == "chat" else ("open_app", "switch")
    act = Activity(verb=verb, object_kind="app", app_category=cat, app=app)
    return _Draft(sig, app, f"The user uses {app}.", f"The user switches to {app}.", act, verb_new)


def _page_activity(app: str, domain: str, title: str) -> Activity:
    """A browser page titled ``title`` (cleaned) on ``domain`` ("" when only the window title is known)."""
    site, kind = _page_site(domain, title)
    doc = _WEB_DOCUMENT.search(title)
    if doc:
        cat, obj_kind, obj, kind = "document", "document", title[: doc.start()], "web"
    else:
        cat, obj_kind, obj = ("chat" if kind == "chat" else "browser"), "page", title
    return Activity(
        verb="chat_assistant" if cat == "chat" else "read",
        object_kind=obj_kind,
        object_text=obj,
        app_category=cat,
        app=app,
        site=site,
        site_kind=kind,
        error=shows_error(title),
    )


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
