"""The sentence parser (`edge.sources.sentences.parse`) on real sentences of the ProactiveBench data."""

from __future__ import annotations

import json

import pytest

from edge.records import APP_CATEGORIES, OBJECT_KINDS, SITE_KINDS, VERBS
from edge.sources.sentences import parse
from tests.conftest import SHARED_DATA


def _all_sentences() -> list[str]:
    """Every event sentence of the traces and of the reward-row windows (with repeats)."""
    out: list[str] = []
    for f in sorted((SHARED_DATA / "traces").glob("*.json")):
        out += [e["event"] for e in json.loads(f.read_text())["events"]]
    for line in (SHARED_DATA / "reward_train.jsonl").read_text().splitlines():
        out += [o["event"] for o in json.loads(line)["obs"]]
    return out


# (sentence, verb, object_kind, object_text, app_category) - taken verbatim from the traces.
CASES = [
    # real traces
    (
        "The user searches on Google for 'How to capitalize person name in ruby?' after typing and clicking 'Enter'.",  # noqa: E501
        "search",
        "query",
        "How to capitalize person name in ruby?",
        "browser",
    ),
    (
        "The user scrolls through a Stack Overflow discussion on 'How to capitalize the first letter in a String in Ruby'.",  # noqa: E501
        "scroll",
        "page",
        "How to capitalize the first letter in a String in Ruby",
        "browser",
    ),
    (
        "The user types 'rheckName.rb' in Visual Studio Code and presses 'Enter'.",
        "type",
        "file",
        "rheckName.rb",
        "editor",
    ),
    (
        "The user switches to the browser and types a Google search query 'How to check if the string is palindrome "  # noqa: E501
        "in java?' and hits enter.",
        "search",
        "query",
        "How to check if the string is palindrome in java?",
        "browser",
    ),
    (
        "The user continues to remain on the 'Code.exe' application without performing any actions.",
        "idle",
        "app",
        "Code.exe",
        "editor",
    ),
    ("The user performed a search for 'js 淡入淡出' on Bing.", "search", "query", "js 淡入淡出", "browser"),
    (
        "The user visited 'https://cn.bing.com/search?' searching for 'html 引用js'.",
        "search",
        "query",
        "html 引用js",
        "browser",
    ),
    (
        "The user typed 'dianz youjian dizhi jiaoyan4 python' in the DeepSeek chat application.",
        "chat_assistant",
        "app",
        "dianz youjian dizhi jiaoyan4 python",
        "chat",
    ),
    (
        "The user stayed on the '电子邮件地址校验 python' Google search results page.",
        "read",
        "query",
        "电子邮件地址校验 python",
        "browser",
    ),
    (
        "The user types 'posiblesustainable fashion brands' in the Google search box.",
        "search",
        "query",
        "posiblesustainable fashion brands",
        "browser",
    ),
    (
        "User types 'sanxing galaxy' and scrolls mouse multiple times in an application.",
        "type",
        "none",
        "sanxing galaxy",
        "other",
    ),
    (
        "The user typed text into a Google search box within the 'Money Manager Ex - Google 搜索' tab.",
        "search",
        "query",
        "Money Manager Ex",
        "browser",
    ),
    ("The user switched back to Visual Studio Code without any input.", "idle", "app", "", "editor"),
    (
        "The user opened the file 'main.html' in the project '/c:/Users/admin/code/js-animation'.",
        "open_app",
        "file",
        "main.html",
        "editor",
    ),
    (
        "A new tab titled '新建标签页' was opened in the web browser.",
        "open_app",
        "page",
        "新建标签页",
        "browser",
    ),
    # simulated traces
    (
        "The user sees an error message in the terminal indicating 'Invalid OAuth token'.",
        "read",
        "error",
        "Invalid OAuth token",
        "terminal",
    ),
    (
        "The user runs the 'data_analysis.py' file again in the terminal.",
        "run",
        "file",
        "data_analysis.py",
        "terminal",
    ),
    (
        "The user installs the latest version of TensorFlow using the command 'pip install tensorflow --upgrade'.",  # noqa: E501
        "run",
        "command",
        "pip install tensorflow --upgrade",
        "other",
    ),
    (
        "The user switches back to the web browser and searches for 'pandas read_csv file not found error'.",
        "search",
        "query",
        "pandas read_csv file not found error",
        "browser",
    ),
    (
        "The user clicks on a link titled 'Top 10 DIY IoT Projects for Beginners' from the search results.",
        "open_result",
        "page",
        "Top 10 DIY IoT Projects for Beginners",
        "browser",
    ),
    (
        "The user switches back to Visual Studio Code and types 'GPIO.setmode(GPIO.BCM)' in the Python file.",
        "type",
        "file",
        "GPIO.setmode(GPIO.BCM)",
        "editor",
    ),
    (
        "The user switches back to the Microsoft Word document and types 'My First Book Review' as the title.",  # noqa: E501
        "type",
        "document",
        "My First Book Review",
        "document",
    ),
    (
        "The user opens a new document in Microsoft Word and stares at the blank page for several minutes.",
        "idle",
        "document",
        "",
        "document",
    ),
    # the product's own observations (edge/observe.py templates)
    (
        "The user searches Google for 'numpy argsort descending'.",
        "search",
        "query",
        "numpy argsort descending",
        "browser",
    ),
    ("The user edits 'server.py' in project 'myproj'.", "edit", "file", "server.py", "editor"),
    (
        "The user reads 'python - How to sort a list - Stack Overflow' on stackoverflow.com.",
        "read",
        "page",
        "python - How to sort a list - Stack Overflow",
        "browser",
    ),
    ("The user switches to the terminal.", "switch", "app", "", "terminal"),
    ("The user is away from the computer.", "idle", "none", "", "other"),
]


@pytest.mark.parametrize(("text", "verb", "kind", "obj", "app"), CASES)
def test_parse_real_sentences(text: str, verb: str, kind: str, obj: str, app: str) -> None:
    e = parse(text)
    assert (e.verb, e.object_kind, e.object_text, e.app_category) == (verb, kind, obj, app)


def test_site_kinds_and_flags() -> None:
    e = parse(
        "The user clicks on a Stack Overflow link discussing the 'file not found' error with pandas read_csv."
    )
    assert e.site_kind == "qa" and e.error and e.verb == "open_result"
    e = parse("The user returns once again to editing code in 'CheckName.rb' in Visual Studio Code.")
    assert e.switched and e.app == "Visual Studio Code"
    e = parse("The user watches 'Intro to asyncio' on youtube.com.")
    assert e.site_kind == "video"
    assert parse("The user switches to Firefox and reads 'Docs'.").app == "Firefox"


@pytest.mark.parametrize(
    "bad", ["", "   ", None, 42, "\ud800 lone surrogate", "x" * 20000, "'''", "The user"]
)
def test_never_raises_and_unknown_is_other(bad: object) -> None:
    e = parse(bad)
    assert e.verb in VERBS and e.object_kind in OBJECT_KINDS and e.app_category in APP_CATEGORIES


def test_empty_is_other() -> None:
    e = parse("")
    assert (e.verb, e.app_category, e.object_kind, e.object_text) == ("other", "other", "none", "")


def test_every_data_sentence_parses_into_the_vocabulary() -> None:
    sents = sorted(set(_all_sentences()))
    assert len(sents) > 400
    parsed = [parse(s) for s in sents]
    assert all(
        p.verb in VERBS
        and p.object_kind in OBJECT_KINDS
        and p.app_category in APP_CATEGORIES
        and p.site_kind in SITE_KINDS
        for p in parsed
    )
    assert sum(p.verb == "other" for p in parsed) / len(parsed) < 0.02
    assert sum(p.app_category == "other" for p in parsed) / len(parsed) < 0.15


def test_deterministic() -> None:
    s = "The user switches back to the browser and searches for 'OAuth insufficient scope error'."
    assert parse(s) == parse(s)
