"""Unit tests of edge.sources.observe: each event kind, merging, AFK noise, privacy rules, determinism,
and the structured `Activity` of every observation.

Every observation a test here gets from `observe` is also checked against the sentence parser
(`assert_parses_alike`): the product's sentence and its structure must tell the same story.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edge.config import PrivacySettings
from edge.errors import ConfigError
from edge.records import (
    ACTIVITY_TEXT_MAX,
    APP_CATEGORIES,
    OBJECT_KINDS,
    SITE_KINDS,
    VERBS,
    Activity,
    Observation,
)
from edge.sources.observe import (
    PENDING,
    Observer,
    ObserverState,
    RawEvent,
    app_category,
    app_name,
    command_of,
    redact,
    search_from_url,
    shows_error,
)
from edge.sources.observe import observe as observe_events
from edge.sources.sentences import parse

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def ev(
    kind: str, offset: float, data: dict[str, Any], duration: float = 5.0, closed: bool = True
) -> RawEvent:
    bucket = {
        "window": "aw-watcher-window_box",
        "afk": "aw-watcher-afk_box",
        "web": "aw-watcher-web-firefox",
        "vscode": "aw-watcher-vscode_box",
    }[kind]
    return RawEvent(bucket, kind, T0 + timedelta(seconds=offset), duration, data, closed)  # type: ignore[arg-type]


def win(offset: float, app: str, title: str, **kw: Any) -> RawEvent:
    return ev("window", offset, {"app": app, "title": title}, **kw)


def web(offset: float, url: str, title: str = "", **extra: Any) -> RawEvent:
    return ev("web", offset, {"url": url, "title": title, **extra})


def afk(offset: float, status: str, duration: float, closed: bool = True) -> RawEvent:
    return ev("afk", offset, {"status": status}, duration=duration, closed=closed)


def texts(obs: list[Observation]) -> list[str]:
    return [o.text for o in obs]


# Same-app window changes: the sentence says "moves to", which the parser reads as a switch;
# the observer knows the app did not change and calls it ``read`` (module docstring of observe.py).
_MOVES_TO = re.compile(r"^The user moves to '.*' in .+\.$")


def assert_parses_alike(o: Observation) -> None:
    """The observer's own `Activity` agrees with `parse` of its sentence where the sentence says it.

    Compared: the verb, unless the parser reads none ("other"); the app category, unless the parser
    finds none ("other": the sentence names an app it does not know, such as libreoffice-writer or
    Slack, or a page "on docs.python.org" with no browser cue); ``switched`` where the sentence
    says the user switched. Deliberate differences (see the docstring of observe.py):

    * "The user returns to the computer.": parser ``idle``, observer ``switch``;
    * "The user moves to 'T' in App.": parser ``switch`` (switched), observer ``read`` (same app).
    """
    a = o.activity
    assert a is not None, o.text
    assert a.verb in VERBS and a.object_kind in OBJECT_KINDS, a
    assert a.app_category in APP_CATEGORIES and a.site_kind in SITE_KINDS, a
    p = parse(o.text)
    moves = bool(_MOVES_TO.match(o.text))
    want = p.verb
    if o.text == "The user returns to the computer.":
        want = "switch"
    elif moves and p.verb == "switch":
        want = "read"
    if p.verb != "other":
        assert a.verb == want, f"{o.text!r}: observer {a.verb}, parser {p.verb}"
    if p.app_category != "other":
        assert a.app_category == p.app_category, (
            f"{o.text!r}: observer {a.app_category}, parser {p.app_category}"
        )
    if p.switched and not moves:
        assert a.switched, f"{o.text!r}: the sentence says the user switched"


def observe(events: Iterable[RawEvent], **kwargs: Any) -> list[Observation]:
    """`edge.sources.observe.observe`, with every observation checked by `assert_parses_alike`."""
    out = observe_events(events, **kwargs)
    for o in out:
        assert_parses_alike(o)
    return out


# ------------------------------------------------------------------ event kinds


def test_editor_window_title_becomes_switch_and_edit() -> None:
    out = observe([win(0, "Code", "server.py - myproj - Visual Studio Code")])
    assert texts(out) == [
        "The user switches to Visual Studio Code and edits 'server.py' in project 'myproj'."
    ]
    o = out[0]
    assert o.app == "Visual Studio Code"
    assert o.source == "aw"
    assert o.key == "aw-watcher-window_box@2024-06-03T09:00:00+00:00"
    assert o.ts == T0.timestamp()
    assert o.time == str(T0.timestamp())


def test_dirty_marker_and_exe_names() -> None:
    out = observe([win(0, "Code.exe", "\u25cf app.ts - web - Visual Studio Code")])
    assert texts(out) == ["The user switches to Visual Studio Code and edits 'app.ts' in project 'web'."]
    assert app_name("Code.exe") == app_name("code-oss") == "Visual Studio Code"
    assert app_name("Navigator") == "Firefox"
    assert app_name("LibreOffice Writer") == "LibreOffice Writer"


def test_vscode_event_alone() -> None:
    vs = ev(
        "vscode", 0, {"language": "python", "project": "/home/u/myproj", "file": "/home/u/myproj/server.py"}
    )
    assert texts(observe([vs])) == [
        "The user switches to Visual Studio Code and edits 'server.py' in project 'myproj'."
    ]


def test_second_file_in_same_editor_is_not_a_switch() -> None:
    out = observe(
        [
            win(0, "Code", "server.py - myproj - Visual Studio Code"),
            ev(
                "vscode",
                20,
                {"language": "python", "project": "/home/u/myproj", "file": "/home/u/myproj/db.py"},
            ),
        ]
    )
    assert texts(out)[1] == "The user edits 'db.py' in project 'myproj'."


def test_google_search_from_url_and_title() -> None:
    url = "https://www.google.com/search?q=python+asyncio+timeout&client=firefox-b-d&sei=abc123"
    assert texts(observe([web(0, url, "python asyncio timeout - Google Search")])) == [
        "The user searches Google for 'python asyncio timeout'."
    ]
    assert texts(
        observe([win(0, "firefox", "python asyncio timeout - Google Search \u2014 Mozilla Firefox")])
    ) == ["The user searches Google for 'python asyncio timeout'."]


@pytest.mark.parametrize(
    ("url", "engine", "query"),
    [
        ("https://www.bing.com/search?q=js+fade+in&form=QBLH", "Bing", "js fade in"),
        ("https://duckduckgo.com/?q=rust+lifetimes&t=h_", "DuckDuckGo", "rust lifetimes"),
        ("https://stackoverflow.com/search?q=%5Bpython%5D+timeout", "Stack Overflow", "[python] timeout"),
        ("https://www.google.co.uk/search?q=tea", "Google", "tea"),
    ],
)
def test_search_engines(url: str, engine: str, query: str) -> None:
    assert search_from_url(url) == (engine, query)
    assert texts(observe([web(0, url, "whatever")])) == [f"The user searches {engine} for '{query}'."]


def test_not_a_search() -> None:
    assert search_from_url("https://www.google.com/maps?q=paris") is None
    assert search_from_url("https://stackoverflow.com/questions/1/x?q=a") is None


def test_web_page_read_on_domain_without_query() -> None:
    out = observe(
        [web(0, "https://docs.python.org/3/library/asyncio.html?highlight=x#timeouts", "Asyncio docs")]
    )
    assert texts(out) == ["The user reads 'Asyncio docs' on docs.python.org."]


def test_audible_and_untitled_pages() -> None:
    out = observe(
        [
            web(0, "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "Talk - YouTube", audible=True),
            web(10, "https://radio.example/live", "Jazz FM", audible=True),
            web(20, "https://example.com/a/b?session=1#top", ""),
        ]
    )
    assert texts(out) == [
        "The user watches 'Talk - YouTube' on youtube.com.",
        "The user listens to 'Jazz FM' on radio.example.",
        "The user opens https://example.com/a/b.",
    ]


def test_generic_app_window() -> None:
    out = observe([win(0, "libreoffice-writer", "Report.odt - LibreOffice Writer"), win(30, "Slack", "")])
    assert texts(out) == [
        "The user switches to libreoffice-writer ('Report.odt - LibreOffice Writer').",
        "The user switches to Slack.",
    ]


def test_unknown_afk_status_and_empty_window_are_ignored() -> None:
    assert observe([afk(0, "unknown", 500), win(1, "", "x")]) == []


def test_naive_timestamp_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone"):
        RawEvent("b", "window", datetime(2024, 1, 1), 0.0, {})


# ------------------------------------------------------------------ merging


def test_window_and_vscode_events_of_one_file_merge_keyed_by_first() -> None:
    events = [
        win(0, "Code", "server.py - myproj - Visual Studio Code"),
        ev(
            "vscode",
            1,
            {"language": "python", "project": "/home/u/myproj", "file": "/home/u/myproj/server.py"},
        ),
        win(30, "Code", "\u25cf server.py - myproj - Visual Studio Code"),
    ]
    out = observe(events)
    assert len(out) == 1
    assert out[0].key == events[0].key


def test_browser_window_and_tab_event_of_one_page_merge() -> None:
    out = observe(
        [
            win(0, "Code", "server.py - myproj - Visual Studio Code"),
            win(10, "firefox", "Asyncio docs \u2014 Mozilla Firefox"),
            web(10.3, "https://docs.python.org/3/library/asyncio.html", "Asyncio docs"),
        ]
    )
    assert texts(out)[1:] == ["The user switches to Firefox and reads 'Asyncio docs'."]


def test_returning_to_an_earlier_file_is_a_new_observation() -> None:
    out = observe(
        [
            win(0, "Code", "a.py - p - Visual Studio Code"),
            win(10, "firefox", "Docs \u2014 Mozilla Firefox"),
            win(20, "Code", "a.py - p - Visual Studio Code"),
        ]
    )
    assert len(out) == 3
    assert out[2].text == "The user switches to Visual Studio Code and edits 'a.py' in project 'p'."


def test_background_tab_changes_are_dropped() -> None:
    out = observe(
        [
            win(0, "Code", "a.py - p - Visual Studio Code"),
            web(5, "https://news.example.com/x", "Some news"),  # the browser is not focused
        ]
    )
    assert len(out) == 1


def test_heartbeat_extension_keeps_the_same_id() -> None:
    short = observe([win(0, "Code", "a.py - p - Visual Studio Code", duration=1)])
    longer = observe([win(0, "Code", "a.py - p - Visual Studio Code", duration=600)])
    assert short[0].id == longer[0].id


# ------------------------------------------------------------------ AFK


def test_away_and_return() -> None:
    out = observe(
        [
            afk(0, "not-afk", 120),
            afk(120, "afk", 600),
            afk(720, "not-afk", 300),
        ]
    )
    assert texts(out) == ["The user is away from the computer.", "The user returns to the computer."]


def test_short_afk_is_noise() -> None:
    out = observe([afk(0, "not-afk", 100), afk(100, "afk", 20), afk(120, "not-afk", 100)])
    assert out == []


def test_flapping_presence_while_away_is_noise() -> None:
    out = observe(
        [
            afk(0, "afk", 300),
            afk(300, "not-afk", 2),  # a mouse bump
            afk(302, "afk", 300),
            afk(602, "not-afk", 60),
        ]
    )
    assert texts(out) == ["The user is away from the computer.", "The user returns to the computer."]


def test_open_short_afk_event_is_pending_and_state_unchanged() -> None:
    obs = Observer()
    before = obs.state.to_json()
    assert obs.push(afk(0, "afk", 10, closed=False)) is PENDING
    assert obs.state.to_json() == before
    res = obs.push(afk(0, "afk", 200, closed=False))  # the same event, extended by heartbeats
    assert isinstance(res, Observation) and res.text == "The user is away from the computer."
    assert obs.push(afk(200, "not-afk", 3, closed=False)) is PENDING
    back = obs.push(afk(200, "not-afk", 30, closed=False))
    assert isinstance(back, Observation) and back.text == "The user returns to the computer."


def test_activity_after_a_break_is_announced_again() -> None:
    out = observe(
        [
            win(0, "Code", "a.py - p - Visual Studio Code"),
            afk(10, "afk", 600),
            afk(610, "not-afk", 60),
            win(611, "Code", "a.py - p - Visual Studio Code"),
        ]
    )
    assert texts(out)[-1] == "The user edits 'a.py' in project 'p'."


# ------------------------------------------------------------------ privacy


def test_excluded_app_leaves_no_trace() -> None:
    out = observe(
        [
            win(0, "Code", "a.py - p - Visual Studio Code"),
            win(10, "KeePassXC", "Passwords.kdbx - KeePassXC"),
            win(20, "Code", "a.py - p - Visual Studio Code"),
        ]
    )
    assert texts(out) == ["The user switches to Visual Studio Code and edits 'a.py' in project 'p'."]
    assert not any("Passwords" in o.text or "KeePass" in o.text for o in out)


def test_excluded_app_is_case_insensitive_and_configurable() -> None:
    privacy = PrivacySettings(exclude_apps=["Signal"], exclude_title_patterns=[])
    out = observe([win(0, "signal", "Chat with Alice"), win(5, "Slack", "general")], privacy=privacy)
    assert texts(out) == ["The user switches to Slack ('general')."]


def test_excluded_title_pattern_hides_window_and_following_tabs() -> None:
    privacy = PrivacySettings(exclude_title_patterns=[r"(?i)bank"])
    out = observe(
        [
            win(0, "firefox", "My Bank - Accounts \u2014 Mozilla Firefox"),
            web(0.5, "https://mybank.example/accounts", "My Bank - Accounts"),
            web(5, "https://mybank.example/transfer", "Transfer"),  # focus is still a hidden window
            ev("vscode", 6, {"project": "/p/bank-tools", "file": "/p/bank-tools/x.py"}),
        ],
        privacy=privacy,
    )
    assert out == []


def test_private_browsing_window_and_incognito_tab_are_dropped() -> None:
    out = observe(
        [
            win(0, "firefox", "Secret stuff \u2014 Mozilla Firefox Private Browsing"),
            web(1, "https://x.example/", "Secret stuff", incognito=True),
        ]
    )
    assert out == []
    assert observe([web(0, "https://x.example/", "Secret stuff", incognito=True)]) == []


def test_redact_each_rule() -> None:
    assert redact("mail bob.smith+x@example.co.uk now") == "mail [email] now"
    assert redact("see https://ex.com/p/q?token=abc&u=1#frag ok") == "see https://ex.com/p/q ok"
    assert redact("order 1234567 and 12345") == "order [number] and 12345"
    assert redact("key sk-proj-abcdefghijklmnopqrstu12") == "key [secret]"
    assert redact("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345") == "[secret]"
    assert redact("id AKIAIOSFODNN7EXAMPLE.") == "id [secret]."
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    assert redact(f"Bearer {jwt}") == "Bearer [secret]"
    assert redact("sha d41d8cd98f00b204e9800998ecf8427e") == "sha [secret]"
    assert redact("b64 Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZg== x") == "b64 [secret] x"


def test_redact_keeps_ordinary_text() -> None:
    for text in [
        "server.py - myproj",
        "python asyncio timeout",
        "TestUserRegistrationFlowWithOAuth.java",
        "issue #12345 in 2024",
        "very_long_snake_case_function_name_for_tests",
    ]:
        assert redact(text) == text
    assert redact(redact("a@b.io 1234567")) == redact("a@b.io 1234567")


def test_redaction_applies_to_every_kind() -> None:
    out = observe(
        [
            win(0, "gnome-terminal-server", "alice@example.com: ~/work 20240603123"),
            win(10, "Code", "sk-abcdefghijklmnopqrstuvwx.txt - p - Visual Studio Code"),
            win(19, "firefox", "Mozilla Firefox"),
            web(
                20,
                "https://www.google.com/search?q=refund+order+98765432+bob%40example.com",
                "x - Google Search",
            ),
            web(30, "https://mail.example.com/u/0/?tab=inbox#msg=123", "Inbox (3) - carol@example.org"),
        ]
    )
    joined = " | ".join(texts(out))
    for leaked in ["alice@", "20240603123", "sk-abc", "98765432", "bob", "carol@", "tab=inbox", "msg="]:
        assert leaked not in joined
    assert "The user searches Google for 'refund order [number] [email]'." in texts(out)


def test_search_query_extracted_before_query_string_is_dropped() -> None:
    out = observe([web(0, "https://duckduckgo.com/?q=how+to+rebase&ia=web", "")])
    assert texts(out) == ["The user searches DuckDuckGo for 'how to rebase'."]


def test_redaction_can_be_disabled_but_exclusion_still_applies() -> None:
    privacy = PrivacySettings(redact=False)
    out = observe([win(0, "Slack", "DM bob@example.com"), win(5, "KeePassXC", "x")], privacy=privacy)
    assert texts(out) == ["The user switches to Slack ('DM bob@example.com')."]


# ------------------------------------------------------------------ determinism and state


def _session() -> list[RawEvent]:
    return [
        win(0, "Code", "server.py - myproj - Visual Studio Code"),
        ev("vscode", 2, {"language": "python", "project": "/h/myproj", "file": "/h/myproj/server.py"}),
        win(30, "firefox", "python asyncio timeout - Google Search \u2014 Mozilla Firefox"),
        web(30.2, "https://www.google.com/search?q=python+asyncio+timeout", "python asyncio timeout"),
        web(45, "https://docs.python.org/3/library/asyncio-task.html#timeouts", "Coroutines and Tasks"),
        win(60, "Code", "server.py - myproj - Visual Studio Code"),
        afk(0, "not-afk", 90),
        afk(90, "afk", 400),
        afk(490, "not-afk", 100),
    ]


def test_deterministic_and_order_of_input_list_irrelevant() -> None:
    a = observe(_session())
    b = observe(list(reversed(_session())))
    assert [(o.id, o.text) for o in a] == [(o.id, o.text) for o in b]
    assert len({o.id for o in a}) == len(a) == 6


def test_incremental_with_saved_state_equals_batch() -> None:
    events = sorted(_session(), key=lambda e: (e.timestamp, e.bucket))
    batch = observe(events)
    got: list[Observation] = []
    state: dict[str, Any] | None = None
    for chunk in (events[:3], events[3:5], events[5:]):
        obs = Observer(state=ObserverState.from_json(state))
        got += obs.feed(chunk)
        state = obs.state.to_json()
    assert [o.id for o in got] == [o.id for o in batch]


def test_texts_of_the_session() -> None:
    assert texts(observe(_session())) == [
        "The user switches to Visual Studio Code and edits 'server.py' in project 'myproj'.",
        "The user searches Google for 'python asyncio timeout'.",
        "The user reads 'Coroutines and Tasks' on docs.python.org.",
        "The user switches to Visual Studio Code and edits 'server.py' in project 'myproj'.",
        "The user is away from the computer.",
        "The user returns to the computer.",
    ]


# ------------------------------------------------------------------ structure (Activity)

TERM = "gnome-terminal-server"
FOX = win(0, "firefox", "Mozilla Firefox")  # the browser in front, so tab events count


def vscode(offset: float, file: str, project: str = "/home/u/myproj") -> RawEvent:
    return ev("vscode", offset, {"language": "python", "project": project, "file": f"{project}/{file}"})


def last_activity(events: list[RawEvent]) -> Activity:
    a = observe(events)[-1].activity
    assert a is not None
    return a


# (verb, object_kind, object_text, app_category, app, site, site_kind, switched, error)
STRUCTURE: list[tuple[str, list[RawEvent], tuple[Any, ...]]] = [
    (
        "editor window",
        [win(0, "Code", "server.py - myproj - Visual Studio Code")],
        ("edit", "file", "server.py", "editor", "Visual Studio Code", "", "none", True, False),
    ),
    (
        "vscode event, same editor",
        [win(0, "Code", "server.py - myproj - Visual Studio Code"), vscode(5, "db.py")],
        ("edit", "file", "db.py", "editor", "Visual Studio Code", "", "none", False, False),
    ),
    (
        "editor with a folder and no file",
        [win(0, "Code", "myproj - Visual Studio Code")],
        ("edit", "app", "myproj", "editor", "Visual Studio Code", "", "none", True, False),
    ),
    (
        "another IDE showing a file",
        [win(0, "jetbrains-pycharm", "myproj \u2013 server.py")],
        ("edit", "file", "server.py", "editor", "PyCharm", "", "none", True, False),
    ),
    (
        "search from the URL",
        [FOX, web(1, "https://www.google.com/search?q=python+asyncio+timeout&sei=x", "whatever")],
        ("search", "query", "python asyncio timeout", "browser", "Firefox", "Google", "search", False, False),
    ),
    (
        "search from the window title",
        [
            win(0, "Code", "a.py - p - Visual Studio Code"),
            win(9, "firefox", "ModuleNotFoundError numpy - Google Search \u2014 Mozilla Firefox"),
        ],
        (
            "search",
            "query",
            "ModuleNotFoundError numpy",
            "browser",
            "Firefox",
            "Google",
            "search",
            True,
            True,
        ),
    ),
    (
        "documentation page",
        [FOX, web(1, "https://docs.python.org/3/library/asyncio.html?highlight=x", "Asyncio docs")],
        ("read", "page", "Asyncio docs", "browser", "Firefox", "docs.python.org", "docs", False, False),
    ),
    (
        "Q&A page showing an error",
        [FOX, web(1, "https://stackoverflow.com/questions/1/x", "python - TypeError: bad - Stack Overflow")],
        (
            "read",
            "page",
            "python - TypeError: bad - Stack Overflow",
            "browser",
            "Firefox",
            "stackoverflow.com",
            "qa",
            False,
            True,
        ),
    ),
    (
        "audible video",
        [FOX, web(1, "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "Talk - YouTube", audible=True)],
        ("read", "page", "Talk - YouTube", "browser", "Firefox", "youtube.com", "video", False, False),
    ),
    (
        "any other page",
        [FOX, web(1, "https://radio.example/live", "Jazz FM", audible=True)],
        ("read", "page", "Jazz FM", "browser", "Firefox", "radio.example", "web", False, False),
    ),
    (
        "a bare URL",
        [FOX, web(1, "https://example.com/a/b?session=1#top", "")],
        ("read", "site", "https://example.com/a/b", "browser", "Firefox", "example.com", "web", False, False),
    ),
    (
        "AI chat page",
        [FOX, web(1, "https://chatgpt.com/c/abc", "ChatGPT")],
        ("chat_assistant", "page", "ChatGPT", "chat", "Firefox", "chatgpt.com", "chat", False, False),
    ),
    (
        "AI chat page without a title",
        [FOX, web(1, "https://chat.deepseek.com/a/chat/s/1", "")],
        (
            "chat_assistant",
            "site",
            "https://chat.deepseek.com/a/chat/s/1",
            "chat",
            "Firefox",
            "chat.deepseek.com",
            "chat",
            False,
            False,
        ),
    ),
    (
        "online document",
        [FOX, web(1, "https://docs.google.com/document/d/1/edit", "Q3 plan - Google Docs")],
        ("read", "document", "Q3 plan", "document", "Firefox", "docs.google.com", "web", False, False),
    ),
    (
        "terminal at a prompt",
        [win(0, TERM, "ann@box: ~/myproj")],
        ("switch", "app", "ann@box: ~/myproj", "terminal", "the terminal", "", "none", True, False),
    ),
    (
        "terminal running a command",
        [win(0, TERM, "ann@box: ~/myproj"), win(5, TERM, "pytest -q tests")],
        ("run", "command", "pytest -q tests", "terminal", "the terminal", "", "none", False, False),
    ),
    (
        "terminal showing an error",
        [win(0, "Code", "a.py - p - Visual Studio Code"), win(5, "kitty", "ImportError: no module named x")],
        (
            "switch",
            "error",
            "ImportError: no module named x",
            "terminal",
            "the terminal",
            "",
            "none",
            True,
            True,
        ),
    ),
    (
        "document app",
        [win(0, "libreoffice-writer", "Report.odt - LibreOffice Writer")],
        ("switch", "document", "Report.odt", "document", "libreoffice-writer", "", "none", True, False),
    ),
    (
        "AI chat app",
        [win(0, "ChatGPT", "Fixing a flaky test")],
        ("chat_assistant", "app", "Fixing a flaky test", "chat", "ChatGPT", "", "none", True, False),
    ),
    (
        "AI chat app without a title",
        [win(0, "Slack", "general"), win(5, "Claude", "")],
        ("chat_assistant", "app", "", "chat", "Claude", "", "none", True, False),
    ),
    (
        "another window of the same app",
        [win(0, "Slack", "general"), win(5, "Slack", "random")],
        ("read", "app", "random", "other", "Slack", "", "none", False, False),
    ),
    (
        "an untitled window of the same app",
        [win(0, "Slack", "general"), win(5, "Slack", "")],
        ("open_app", "app", "", "other", "Slack", "", "none", False, False),
    ),
    (
        "away",
        [win(0, "Slack", "general"), afk(10, "afk", 600)],
        ("idle", "none", "", "other", "", "", "none", False, False),
    ),
    (
        "back",
        [afk(10, "afk", 600), afk(610, "not-afk", 60)],
        ("switch", "none", "", "other", "", "", "none", True, False),
    ),
]


@pytest.mark.parametrize(
    ("events", "want"), [(e, w) for _, e, w in STRUCTURE], ids=[n for n, _, _ in STRUCTURE]
)
def test_activity_from_the_raw_fields(events: list[RawEvent], want: tuple[Any, ...]) -> None:
    a = last_activity(events)
    got = (
        a.verb,
        a.object_kind,
        a.object_text,
        a.app_category,
        a.app,
        a.site,
        a.site_kind,
        a.switched,
        a.error,
    )
    assert got == want


def test_every_fixture_parses_like_its_activity() -> None:
    """Each sentence of the fixtures above, parsed, agrees with the observer's structure."""
    seen = [o for _, events, _ in STRUCTURE for o in observe_events(events)]
    seen += observe_events(_session())
    assert len(seen) > 30
    for o in seen:
        assert_parses_alike(o)
    parsed = [parse(o.text) for o in seen]
    assert all(p.verb != "other" for p in parsed)  # every verb was compared
    assert sum(p.app_category != "other" for p in parsed) >= 30  # and most app categories


def test_the_consistency_check_catches_a_disagreement() -> None:
    right = Activity("search", "query", "x", "browser")
    search = Observation("The user searches Google for 'x'.", "0", activity=right)
    assert_parses_alike(search)
    for wrong in (
        replace(right, verb="read"),
        replace(right, app_category="editor"),
        replace(right, verb="?"),
    ):
        with pytest.raises(AssertionError):
            assert_parses_alike(replace(search, activity=wrong))
    with pytest.raises(AssertionError):
        assert_parses_alike(replace(search, activity=None))
    with pytest.raises(AssertionError):  # a switch the structure does not know
        assert_parses_alike(
            Observation("The user switches to Slack.", "0", activity=Activity("switch", "app", app="Slack"))
        )


def test_sentences_of_commands_and_other_editors() -> None:
    out = observe(
        [
            win(0, TERM, "pytest -q"),
            win(5, TERM, "ann@box: make test"),
            win(10, "Code", "a.py - p - Visual Studio Code"),
            win(15, "sublime_text", "~/p/notes.md \u2022 - Sublime Text (UNREGISTERED)"),
            win(20, "sublime_text", "~/p/todo.txt - Sublime Text (UNREGISTERED)"),
        ]
    )
    assert texts(out) == [
        "The user switches to the terminal and runs 'pytest -q'.",
        "The user runs 'make test' in the terminal.",
        "The user switches to Visual Studio Code and edits 'a.py' in project 'p'.",
        "The user switches to Sublime Text and edits 'notes.md'.",
        "The user edits 'todo.txt' in Sublime Text.",
    ]


def test_helpers_of_the_mapping() -> None:
    assert [
        command_of(t) for t in ["pytest -q", "ann@box: make test", "[email]: npm test", "python x.py"]
    ] == [
        "pytest -q",
        "make test",
        "npm test",
        "python x.py",
    ]
    for prompt in ["ann@box: ~/myproj", "bash", "vim notes.md", "Terminal", "make: *** Error 2", "gopher"]:
        assert command_of(prompt) is None, prompt
    for bad in [
        "ModuleNotFoundError: numpy",
        "Traceback (most recent call last)",
        "404 Not Found",
        "tests FAILED",
    ]:
        assert shows_error(bad), bad
    for fine in ["error_handler.py", "Issues \u00b7 org/repo", "ann@box: ~/terror", "Inbox (3)"]:
        assert not shows_error(fine), fine
    cats = {
        "Visual Studio Code": "editor",
        "PyCharm": "editor",
        "Firefox": "browser",
        "the terminal": "terminal",
        "iTerm2": "terminal",
        "libreoffice-writer": "document",
        "Obsidian": "document",
        "ChatGPT": "chat",
        "Claude": "chat",
        "Slack": "other",
        "Discord": "other",
    }
    assert {app: app_category(app) for app in cats} == cats


def test_dwell_and_gap() -> None:
    out = observe(
        [
            win(0, "Code", "a.py - p - Visual Studio Code", duration=30),
            win(30, "firefox", "Docs \u2014 Mozilla Firefox", duration=12.5),
            win(42.5, "firefox", "Docs \u2014 Mozilla Firefox", duration=99),  # merged: no observation
            afk(50, "afk", 300),
            afk(350, "not-afk", 20),
        ]
    )
    assert [(o.activity.dwell_s, o.activity.gap_s) for o in out if o.activity] == [
        (30.0, None),
        (12.5, 30.0),
        (300.0, 20.0),
        (20.0, 300.0),
    ]
    obs = Observer()
    obs.push(win(100, "Slack", "a"))
    late = obs.push(win(40, "Zoom", "b"))  # out of order: the gap is clipped, never negative
    assert isinstance(late, Observation) and late.activity is not None and late.activity.gap_s == 0.0


def test_state_carries_the_last_time_and_old_checkpoints_load() -> None:
    obs = Observer()
    obs.push(win(0, "Slack", "a"))
    saved = obs.state.to_json()
    assert saved["last_ts"] == T0.timestamp()
    old = {k: v for k, v in saved.items() if k != "last_ts"}  # written before gap_s existed
    assert ObserverState.from_json(old).last_ts is None
    assert ObserverState.from_json(old).app == "Slack"
    again = Observer(state=ObserverState.from_json(saved)).push(win(25, "Zoom", "b"))
    assert isinstance(again, Observation) and again.activity is not None and again.activity.gap_s == 25.0


def test_incremental_structure_equals_batch() -> None:
    events = sorted(_session(), key=lambda e: (e.timestamp, e.bucket))
    batch = observe(events)
    got: list[Observation] = []
    state: dict[str, Any] | None = None
    for chunk in (events[:3], events[3:5], events[5:]):
        obs = Observer(state=ObserverState.from_json(state))
        got += obs.feed(chunk)
        state = obs.state.to_json()
    assert [o.activity for o in got] == [o.activity for o in batch]
    assert [o.activity.verb for o in batch if o.activity] == [
        "edit",
        "search",
        "read",
        "edit",
        "idle",
        "switch",
    ]


def test_object_text_is_redacted_like_the_sentence() -> None:
    out = observe(
        [
            win(0, TERM, "alice@example.com: ~/work 20240603123"),
            win(5, "firefox", "Mozilla Firefox"),
            web(6, "https://www.google.com/search?q=refund+98765432+bob%40example.com", "x"),
            web(10, "https://mail.example.com/u/0/?tab=inbox#m=1", "Inbox - carol@example.org"),
            web(15, "https://example.com/reset?token=sk-abcdefghijklmnopqrstuvwx", ""),
        ]
    )
    objects = [o.activity.object_text for o in out if o.activity]
    assert objects == [
        "[email]: ~/work [number]",
        "",
        "refund [number] [email]",
        "Inbox - [email]",
        "https://example.com/reset",
    ]
    for o in out:
        assert o.activity is not None and o.activity.object_text in o.text
    plain = observe([win(0, "Slack", "DM bob@example.com")], privacy=PrivacySettings(redact=False))
    assert plain[0].activity is not None and plain[0].activity.object_text == "DM bob@example.com"


def test_long_titles_are_clipped_in_the_structure() -> None:
    a = last_activity([win(0, "Slack", "x" * 1000)])
    assert len(a.object_text) == ACTIVITY_TEXT_MAX


def test_a_hand_built_privacy_setting_with_a_bad_regex_is_a_config_error() -> None:
    bad = PrivacySettings.model_construct(exclude_apps=[], exclude_title_patterns=["(unclosed"], redact=True)
    with pytest.raises(ConfigError, match=r"exclude_title_patterns: '\(unclosed' is not a valid regular"):
        Observer(privacy=bad)


@pytest.mark.parametrize(
    "stored",
    [None, "abc", [1, 2], 7, {"sig": 5, "app": 3, "focus": ["x"], "away": "yes", "last_ts": "abc"}],
)
def test_an_unreadable_observer_checkpoint_starts_fresh(stored: object) -> None:
    assert ObserverState.from_json(stored) == ObserverState()
