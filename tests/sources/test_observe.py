"""Unit tests of edge.sources.observe: each event kind, merging, AFK noise, privacy rules, determinism."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edge.config import PrivacySettings
from edge.records import Observation
from edge.sources.observe import (
    PENDING,
    Observer,
    ObserverState,
    RawEvent,
    app_name,
    observe,
    redact,
    search_from_url,
)

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
