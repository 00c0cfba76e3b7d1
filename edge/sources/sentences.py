"""One activity sentence -> its structured `Activity` (verb, object, app, site), deterministically.

The parser fills the structure for sources that only have text: ProactiveBench
traces, the gym's simulated user, and activity relayed by an old desktop
companion that sends no structure. `edge.sources.observe` builds the structure
from the raw ActivityWatch fields instead and only borrows `site_of`.

Contract: `parse(text)` is pure Python + `re`, never raises, and always
returns an `Activity` whose ``verb``, ``object_kind``, ``app_category`` and
``site_kind`` are members of the vocabularies in `edge.records`. Anything it
cannot read becomes verb ``"other"`` / app ``"other"``. ``dwell_s`` and
``gap_s`` stay None (a sentence does not say them).

It understands three sentence styles:

* the real ProactiveBench traces ("The user clicked on a link from CSDN ...",
  "User types 'sanxing galaxy' and scrolls mouse ..."),
* the simulated traces ("The user switches back to the browser and searches
  for 'X'."),
* the product's own observations ("The user searches Google for 'q'.", "The
  user reads 'T' on site.", "The user edits 'f' in project 'p'.", "The user
  switches to X.", "The user is away from the computer.").

The rules are ordered tables: the first matching rule wins. Priority goes to
the most informative action of a compound sentence ("switches back to the
browser and searches for ..." is a search, with ``switched=True``).
"""

from __future__ import annotations

import re

from edge.records import Activity

# ------------------------------------------------------------------ lexicons

_S = r"[^.;]*?"  # a lazy stretch inside one clause

# Ordered (regex, verb): the first match wins. Patterns run on the lower-cased sentence.
VERB_RULES: list[tuple[re.Pattern[str], str]] = [
    # away / no input at all
    (re.compile(r"away from the computer|returns to the computer"), "idle"),
    (
        re.compile(r"without (?:performing )?(?:any|specific) (?:specific )?(?:actions?|user input|input)"),
        "idle",
    ),
    (re.compile(r"\b(?:remain(?:s|ed)?|stares?|stared) (?:focused |on |at )"), "idle"),
    (re.compile(r"continues to remain"), "idle"),
    # issuing a search query
    (re.compile(r"\b(?:searches|searched|searching|performed a search|performs a search)\b"), "search"),
    (re.compile(r"^(?:the )?user search\b"), "search"),
    (
        re.compile(
            r"\b(?:types?|typed|typing|enters|entered|inputs?)\b"
            + _S
            + r"\b(?:search (?:bar|box|field|query)|google search box|search engine)"
        ),
        "search",
    ),
    (re.compile(r"\btypes? a (?:google |bing )?search query\b"), "search"),
    # running code, tests, commands
    (re.compile(r"\bruns?\b(?! through)|\bre-?runs\b|\bexecutes (?!'cmd)|\bexecuted (?!'cmd)"), "run"),
    (re.compile(r"\bclicks? the 'play' button|\binstalls?\b|\bactivates a virtual environment\b"), "run"),
    (re.compile(r"\bclones?\b|\bcommands? to\b|\bpip install\b|\bnpm \w+|\bgit \w+"), "run"),
    (re.compile(r"\btests? the (?:website|project|code|script|app|updated)\b"), "run"),
    (re.compile(r"\b(?:changes|adjusts) the viewport size\b"), "run"),
    # talking to an AI assistant
    (
        re.compile(r"\b(?:deepseek|kimi|chatgpt|copilot chat|claude|gemini)\b|\bchat application\b"),
        "chat_assistant",
    ),
    (re.compile(r"\bai (?:assistant|chat)\b"), "chat_assistant"),
    # opening a search result / link
    (
        re.compile(
            r"^(?:the )?user (?:\w+ )?(?:clicks?|clicked|opens?|opened|selects?)\b"
            + _S
            + r"\b(?:search results?|links?|results?|titled|paper)\b"
        ),
        "open_result",
    ),
    (re.compile(r"\bfinds a relevant\b|\blands on\b"), "open_result"),
]

# Leading-verb lexicon for the main clause: (regex on the clause's first words, verb).
LEAD_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:scroll|scrolls|scrolled|scrolling)\b"), "scroll"),
    (
        re.compile(r"^(?:types?|typed|typing|inputs?|enters|entered|writes|wrote|records|pastes?|pasted)\b"),
        "type",
    ),
    (
        re.compile(r"^(?:adds|added|completes|updates|updated|takes notes|begins typing|starts typing)\b"),
        "type",
    ),
    (re.compile(r"^(?:starts|begins) (?:typing|writing)\b"), "type"),
    (
        re.compile(
            r"^(?:edits|edited|modifies|modified|changes|revises|deletes|implements|works on|worked on"
            r"|continues coding|continues working|continued working|resumes editing|makes some changes"
            r"|starts working|starts integrating|creates|created|names|starts implementing"
            r"|starts defining|begins defining|starts modifying|modifies|attaches)\b"
        ),
        "edit",
    ),
    (
        re.compile(
            r"^(?:reads?|reading|reviews?|reviewed|views?|viewed|examines|checks?|checked|sees|saw|watches"
            r"|watched|listens to|finds|looks|looked|browses|browsed|explores|explored|continued exploring"
            r"|continues reading|continues scrolling|stays|stayed|resumed looking|resumed browsing"
            r"|started browsing|visits|visited|navigates|navigated|opens https?|opens [a-z0-9-]+\.[a-z]{2,}"
            r"|is reading|pauses|(?:starts|begins) reading|opens? 'https?|opened 'https?)\b"
        ),
        "read",
    ),
    (
        re.compile(
            r"^(?:clicks?|clicked|double-clicks|moves the mouse|moved the mouse|makes a mouse|made|copies"
            r"|copied|selects|highlights|interacts|utilized|uses '|presses|pressed|stops|exports|configures"
            r"|adjusts|repeatedly)\b"
        ),
        "click",
    ),
    (
        re.compile(r"^(?:switches|switched|returns|returned|reverted|goes back|moves to|resumes|resumed)\b"),
        "switch",
    ),
    (re.compile(r"^(?:opens|opened|launches|starts|started|uses)\b"), "open_app"),
]

# Transition verbs that may lead a compound sentence ("switches back to X and types ...").
_TRANSITION = re.compile(
    r"^(?:switches|switched|returns|returned|reverted|goes back|opens|opened|navigates|navigated|stops)\b"
)
_SUBJECT = re.compile(r"^(?:the )?user (?:(?:then|also|now|successfully|quickly|again) )?")

_SWITCHED = re.compile(r"\b(?:switch(?:es|ed)?|returns|returned|reverted|goes back|back to|moves to)\b")
_ERROR = re.compile(
    r"\berrors?\b|\bexceptions?\b|\btraceback\b|\bnot found\b|\bfail(?:s|ed|ure)?\b|\bissues?\b"
    r"|\bbug\b|\bnot (?:working|respond|smooth|adjust)|\bdoes not (?:seem to )?(?:adjust|work)"
    r"|\bstill does not\b|\bcrash|\binvalid\b|\blagging\b|\bproblem"
)

# (regex, app name, app category). Named apps are looked up before the generic web cues
# (`WEB_CUES`); within a tier, the first app mentioned at or after the main verb wins.
APP_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"visual studio code|\bvs ?code\b|\bcode\.exe\b|vscodium|code - oss"),
        "Visual Studio Code",
        "editor",
    ),
    (re.compile(r"android studio"), "Android Studio", "editor"),
    (re.compile(r"unity (?:editor|hub)"), "Unity", "editor"),
    (re.compile(r"\bcode editor\b|\beditor\b|\bide\b"), "code editor", "editor"),
    (re.compile(r"\bterminal\b|\bconsole' tab|\bcommand line\b|\bshell\b"), "terminal", "terminal"),
    (re.compile(r"google docs"), "Google Docs", "document"),
    (re.compile(r"microsoft word|\bword document\b"), "Microsoft Word", "document"),
    (re.compile(r"microsoft excel|\bexcel\b"), "Microsoft Excel", "document"),
    (re.compile(r"note-taking application|\bnotion\b|\bobsidian\b"), "notes", "document"),
    (re.compile(r"\bdeepseek\b"), "DeepSeek", "chat"),
    (re.compile(r"\bkimi(?:\.ai)?\b"), "Kimi", "chat"),
    (re.compile(r"\bchatgpt\b|\bclaude\b|\bgemini\b|copilot chat|chat application"), "AI chat", "chat"),
    (
        re.compile(
            r"firefox|google chrome|chromium|microsoft edge|\bbrave\b|\bsafari\b|vivaldi|web browser"
            r"|\bbrowser\b|\bgoogle\b|\bbing\b|duckduckgo|baidu|website|web page|webpage|https?://"
            r"|stack overflow|\bcsdn\b|\byoutube\b|\barxiv|\bgithub\b|web interface|web application"
        ),
        "browser",
        "browser",
    ),
    (re.compile(r"\bemulator\b"), "emulator", "other"),
    (re.compile(r"\b(?:an|another) application\b|\ban app\b"), "", "other"),
]
WEB_CUES = re.compile(
    r"\btab\b|\bpage\b|\bsite\b|\barticle\b|\bblog\b|\bforum\b|documentation|search results?"
    r"|\blink\b|homepage|dashboard|aws management|pricing calculator|cost explorer|\bpaper\b"
    r"|\bon [a-z0-9-]+\.(?:com|org|net|io|cn)\b|\bthread\b|\bdiscussion\b"
)

# Web sites: (regex, site name, site kind).
SITE_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"stack ?overflow"), "Stack Overflow", "qa"),
    (re.compile(r"\bcsdn\b"), "CSDN", "qa"),
    (re.compile(r"geeksforgeeks"), "GeeksforGeeks", "qa"),
    (re.compile(r"tencent cloud"), "Tencent Cloud", "qa"),
    (re.compile(r"\bzhihu\b|知乎"), "Zhihu", "qa"),
    (re.compile(r"\breddit\b"), "Reddit", "qa"),
    (re.compile(r"stackexchange|stack exchange|segmentfault|\bquora\b"), "Q&A", "qa"),
    (re.compile(r"\bforum\b|\bdiscussion\b|\bthread\b"), "forum", "qa"),
    (re.compile(r"\bdeepseek\b"), "DeepSeek", "chat"),
    (re.compile(r"\bkimi(?:\.ai)?\b"), "Kimi", "chat"),
    (re.compile(r"\bchatgpt\b|\bclaude\b|\bgemini\b"), "AI chat", "chat"),
    (re.compile(r"\byoutube\b|\bbilibili\b"), "YouTube", "video"),
    (
        re.compile(
            r"documentation|\bdocs\b|\bmdn\b|w3schools|educative|\bscaler\b|\breadme\b|\btutorial\b"
            r"|\bguide\b|\bapi reference\b|\bmanual\b|runoob|菜鸟"
        ),
        "docs",
        "docs",
    ),
    (re.compile(r"\bgithub\b"), "GitHub", "docs"),
    (re.compile(r"\bgoogle\b(?! docs)"), "Google", "search"),
    (re.compile(r"\bbing\b"), "Bing", "search"),
    (re.compile(r"duckduckgo|baidu|百度"), "search engine", "search"),
    (re.compile(r"search results?|search page|\bsearch bar\b|\bsearch box\b"), "search", "search"),
    (
        re.compile(
            r"website|web page|webpage|\bsite\b|https?://|\barticle\b|\bblog\b|\bpaper\b|\barxiv|homepage"
            r"|\bon [a-z0-9-]+\.(?:com|org|net|io|cn)\b|\bit之家|少数派|\bpage\b|\blink\b"
        ),
        "web",
        "web",
    ),
]

_QUOTE = re.compile(r"(?<![A-Za-z0-9])'(?P<q>[^']+?)'(?![A-Za-z])|\"(?P<d>[^\"]+)\"|`(?P<b>[^`]+)`")
_FILE = re.compile(r"^[\w./\\() -]*\.[A-Za-z][A-Za-z0-9]{0,5}$")
_FILE_IN_TEXT = re.compile(
    r"\b[\w-]+\.(?:py|js|ts|java|rb|md|m|cs|php|html|css|json|xml|gradle|csv|txt|go|rs|cpp|c|h)\b"
)
_URLISH = re.compile(r"^(?:https?://|www\.)", re.IGNORECASE)
_KEYS = re.compile(r"^(?:cmd|ctrl|ctrl_l|alt|shift|enter|b)(?:\+\w)?$")
_SERP_SUFFIX = re.compile(r"\s+-\s+(?:google\s*(?:搜索|search|suche)|搜索|search|bing)$", re.IGNORECASE)

_RESULTS_PAGE = re.compile(
    r"search results?|search page|search result page|\bserp\b|on (?:google|bing) search\b"
)
_DOCUMENT = re.compile(
    r"google docs|microsoft word|\bdocument\b|\bnotes?\b|markdown|note-taking|\bexcel\b|\bcsv file\b"
    r"|blank page"
)
_PAGE = re.compile(
    r"\barticle\b|\bpage\b|\bpost\b|\bthread\b|\bdiscussion\b|documentation|\btutorial\b|\bguide\b|\bpaper\b"
    r"|\blink\b|titled|\breadme\b|https?://|\bresult\b|\bsection\b|\bcontent\b|\breviews?\b|\bexamples?\b"
)
_SITE = re.compile(
    r"website|homepage|\bsite\b|dashboard|console|calculator|\bexplorer\b|arxiv|\bweb\b|\bbrowser tabs?\b"
)
_APP_WORD = re.compile(
    r"\bapplication\b|\bapp\b|visual studio code|code\.exe|\beditor\b|\bterminal\b|\bbrowser\b"
)
_COMMAND = re.compile(r"\bcommands?\b|pip install|\bscript\b|\bruns?\b|\bgit\b|\bnpm\b|virtual environment")


def _norm(text: object) -> str:
    """A clean one-line string from anything (never raises)."""
    try:
        s = text if isinstance(text, str) else str(text)
    except Exception:  # a hostile __str__
        return ""
    s = s.encode("utf-8", "replace").decode("utf-8", "replace")
    return " ".join(s.split())


def quotes_of(text: str) -> tuple[str, ...]:
    """All quoted strings ('single', "double", `backtick`) in order of appearance."""
    out = []
    for m in _QUOTE.finditer(text):
        q = m.group("q") or m.group("d") or m.group("b") or ""
        q = q.strip()
        if q:
            out.append(q)
    return tuple(out)


# When a sentence chains several actions, the most informative one names the event.
CLAUSE_PRIORITY = ("type", "edit", "read", "scroll", "click", "idle", "open_app", "switch", "other")
_CLAUSE_SPLIT = re.compile(r",? and then |, then |,? and |, ")


def _main_clause(low: str) -> tuple[str, bool]:
    """The clause that carries the action, and whether a leading transition was skipped.

    The sentence is cut into clauses ("X, then Y, and Z"); the clause whose
    leading verb ranks first in `CLAUSE_PRIORITY` wins (the earliest on ties).
    """
    clause = _SUBJECT.sub("", low, count=1)
    if clause.startswith(("a new tab", "the terminal displays", "the google search result page")):
        return clause, False
    parts = [clause]
    pos = [0]
    for m in _CLAUSE_SPLIT.finditer(clause):
        parts.append(clause[m.end() :])
        pos.append(m.end())
    ranked = sorted(range(len(parts)), key=lambda i: (CLAUSE_PRIORITY.index(_lead_verb(parts[i])), i))
    best = ranked[0]
    if _lead_verb(parts[best]) == "other":
        best = 0
    return parts[best], best > 0 and bool(_TRANSITION.match(clause))


def _lead_verb(clause: str) -> str:
    for pattern, verb in LEAD_RULES:
        if pattern.match(clause):
            return verb
    return "other"


def _verb(low: str) -> tuple[str, int]:
    """The verb and the character position where its evidence starts."""
    for pattern, verb in VERB_RULES:
        m = pattern.search(low)
        if m:
            return verb, m.start()
    clause, _ = _main_clause(low)
    if clause.startswith("a new tab"):
        return "open_app", 0
    if clause.startswith(("the terminal displays", "the google search result page")):
        return "read", 0
    verb = _lead_verb(clause)
    return verb, max(0, len(low) - len(clause))


def _first_app(low: str, start: int) -> tuple[str, str] | None:
    """The named app mentioned first at or after ``start`` (then anywhere), else a web cue, else None."""
    for lo in (start, 0):
        best: tuple[int, str, str] | None = None
        for pattern, name, cat in APP_RULES:
            m = pattern.search(low, lo)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), name, cat)
        if best is not None:
            return best[1], best[2]
    if WEB_CUES.search(low):
        return "browser", "browser"
    return None


def _app(low: str, start: int, verb: str) -> tuple[str, str]:
    """(app name, app category) of the main action; the verb decides when the text does not."""
    found = _first_app(low, start)
    in_terminal = re.search(r"\bterminal\b|\bruns?\b (?:the|a|it|'?[\w-]+\.py)", low)
    if verb == "run" and in_terminal and not re.search(r"emulator|'play'|developer tools|viewport", low):
        return "terminal", "terminal"
    not_browser = found is None or found[1] not in ("browser", "chat")
    if verb in ("search", "open_result") and not_browser and not re.search(r"\bin an application\b", low):
        return "browser", "browser"
    if verb == "chat_assistant":
        for pattern, name, cat in APP_RULES:
            if cat == "chat" and pattern.search(low):
                return name, "chat"
    if found is not None:
        return found
    if verb == "type" and _DOCUMENT.search(low):
        return "", "document"
    return "", "other"


_BROWSER_NAME = re.compile(
    r"\b(Firefox|Google Chrome|Chrome|Chromium|Microsoft Edge|Brave|Safari|Vivaldi)\b", re.IGNORECASE
)
_NAMED_APP = re.compile(
    r"\b(?:switch(?:es|ed)? (?:back )?to|moves to '[^']*' in|uses|opens|in) "
    r"(?!the\b|a\b|an\b|their\b|another\b|project\b)([A-Z][\w.+-]*(?: [A-Z][\w.+-]*){0,2})"
)


def _app_name(s: str, current: str) -> str:
    """A more specific app name than ``current`` when the sentence names one (original case)."""
    m = _BROWSER_NAME.search(s)
    if m and current == "browser":
        return m.group(1)
    if current == "":
        m = _NAMED_APP.search(s)
        if m:
            return m.group(1).rstrip(".")
    return current


def site_of(text: str) -> tuple[str, str]:
    """``(site name, site kind)`` of the web site a text (a sentence, a title or a domain) names."""
    low = text.lower()
    for pattern, name, kind in SITE_RULES:
        if pattern.search(low):
            return name, kind
    return "", "none"


def _is_file(q: str) -> bool:
    ql = q.lower().strip()
    return (
        bool(_FILE.match(q))
        and " " not in ql
        and not ql.startswith(("http", "www."))
        and not ql.endswith(".exe")
    )


def _first_file(quotes: tuple[str, ...], low: str) -> str:
    """The first quoted file name, else a code file named in the text (URLs ignored), else ""."""
    for q in quotes:
        if _is_file(q):
            return q
    m = _FILE_IN_TEXT.search(re.sub(r"\S*://\S*", " ", low))
    return m.group(0) if m else ""


def _object(verb: str, low: str, quotes: tuple[str, ...], app_cat: str, error: bool) -> tuple[str, str]:
    """(object_kind, object_text) for the sentence."""
    texty = [q for q in quotes if not _KEYS.match(q.lower())]
    first = texty[0] if texty else ""
    if verb == "search":
        q = next((t for t in texty if (not _FILE.match(t) or " " in t) and not _URLISH.match(t)), "")
        return "query", _SERP_SUFFIX.sub("", q).strip()
    if (
        error
        and verb in ("read", "run", "other", "idle", "click", "scroll")
        and re.search(r"error|exception|not found|fail|invalid", low)
    ):
        err = next((t for t in texty if not _FILE.match(t)), "")
        return "error", err
    on_results = verb in ("read", "scroll", "click", "idle", "open_result") and _RESULTS_PAGE.search(low)
    if on_results and (verb != "open_result" or not re.search(r"\blink\b|titled|article", low)):
        return "query", _SERP_SUFFIX.sub("", first).strip()
    if verb == "run":
        f = _first_file(quotes, low)
        if f and not re.search(r"command|pip |git ", low):
            return "file", f
        return "command", first if _COMMAND.search(low) else ""
    if verb in ("type", "edit"):
        f = _first_file(quotes, low)
        if f:
            return "file", f
        if app_cat == "document" or _DOCUMENT.search(low):
            return "document", first
        if app_cat == "editor" or re.search(r"\bcode\b|\bfile\b|\bscript\b|\bmethod\b|\bfunction\b", low):
            return "file", first
        return "none", first
    if verb in ("read", "scroll", "open_result", "click", "idle", "chat_assistant", "other"):
        f = _first_file(quotes, low)
        if app_cat == "editor" and f:
            return "file", f
        if app_cat == "document" or (
            verb != "chat_assistant" and _DOCUMENT.search(low) and app_cat != "browser"
        ):
            return "document", first
        if _PAGE.search(low) or (first and app_cat == "browser"):
            return "page", first
        if _SITE.search(low):
            return "site", first
        if app_cat in ("editor", "terminal", "chat") or _APP_WORD.search(low):
            return "app", first
        return "none", first
    if verb in ("switch", "open_app"):
        f = _first_file(quotes, low)
        if f:
            return "file", f
        if _DOCUMENT.search(low) and app_cat != "browser":
            return "document", first
        if re.search(r"\btab\b", low) and first:
            return "page", first
        if _SITE.search(low) or re.search(r"https?://|\.(?:com|org|net|io)\b", low):
            return "site", first
        if app_cat != "other" or _APP_WORD.search(low):
            return "app", first
        return "none", first
    return "none", first


def parse(text: object) -> Activity:
    """Parse one activity sentence. Deterministic; never raises (unknown -> verb "other")."""
    try:
        return _parse(_norm(text))
    except Exception:  # a bug here must not stop the assistant
        return Activity()


def _parse(s: str) -> Activity:
    low = s.lower()
    quotes = quotes_of(s)
    verb, start = _verb(low)
    app, app_cat = _app(low, start, verb)
    if app in ("", "browser"):
        app = _app_name(s, app)
    site, site_kind = site_of(low)
    if app_cat == "chat":
        site_kind = "chat" if site_kind in ("none", "web", "search") else site_kind
    error = bool(_ERROR.search(low))
    kind, obj = _object(verb, low, quotes, app_cat, error)
    if app_cat == "other" and kind == "file" and not re.search(r"\b(?:an|another) application\b", low):
        app_cat = "editor"
    return Activity(
        verb=verb,
        object_kind=kind,
        object_text=obj,
        app_category=app_cat,
        app=app,
        site=site,
        site_kind=site_kind,
        switched=bool(_SWITCHED.search(low)),
        error=error,
    )
