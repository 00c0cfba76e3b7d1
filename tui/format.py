"""How the dashboard writes times, durations, scores, anchors and long text, and reads typed dates."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from edge.errors import EdgeError
from edge.records import Anchor


def fmt_time(ts: float | None, now: float) -> str:
    """``HH:MM:SS`` for today (local time), ``MM-DD HH:MM`` otherwise."""
    if ts is None:
        return "-"
    t = datetime.fromtimestamp(ts).astimezone()
    if t.date() == datetime.fromtimestamp(now).astimezone().date():
        return t.strftime("%H:%M:%S")
    return fmt_day(ts)


def fmt_day(ts: float) -> str:
    """``MM-DD HH:MM`` in local time."""
    return datetime.fromtimestamp(ts).astimezone().strftime("%m-%d %H:%M")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_score(score: float | None) -> str:
    return "-" if score is None else f"{score:.2f}"


def fmt_anchor(anchor: Anchor | None, width: int | None = None) -> str:
    """What a proposal is about: ``error 'KeyError: x'``, or only the text clipped to ``width``
    (a table cell); ``-`` without an anchor."""
    if anchor is None:
        return "-"
    if width is not None:
        return clip(anchor.text, width)
    return f"{anchor.kind} '{' '.join(anchor.text.split())}'"


def fmt_offset(offset: float) -> str:
    """A trigger offset in logits, signed: ``+0.30``, ``-0.55``."""
    return f"{offset:+.2f}"


def clip(text: str | None, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    s = " ".join((text or "").split())
    return s if len(s) <= width else s[: max(0, width - 1)] + "…"


def parse_dates(text: str) -> tuple[float | None, float | None]:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD..YYYY-MM-DD`` (either end may be empty) -> local [start, end).

    Raises `EdgeError` with an example when the text is not a date.
    """
    text = text.strip()
    if not text:
        return None, None
    first, sep, last = text.partition("..")
    try:
        d0 = date.fromisoformat(first.strip()) if first.strip() else None
        d1 = date.fromisoformat(last.strip()) if last.strip() else None
    except ValueError as e:
        raise EdgeError(f"'{text}' is not a date.", "Type 2024-06-03 or 2024-06-01..2024-06-03.") from e
    if not sep:
        d1 = d0

    def local(d: date) -> float:
        return datetime.combine(d, time()).astimezone().timestamp()

    return (
        None if d0 is None else local(d0),
        None if d1 is None else local(d1 + timedelta(days=1)),
    )
