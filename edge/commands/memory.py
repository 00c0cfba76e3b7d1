"""`proactive memory ...` and `proactive ask`: browse, maintain and question the memory stream.

Registered lazily in `edge.cli.LAZY_COMMANDS`; the embedder, FAISS and the LLM
are imported inside the commands. Expected failures are `EdgeError`s.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from edge.commands.common import emit, json_flag, settings_of
from edge.config import Settings
from edge.errors import EdgeError


class MemoryRequestError(EdgeError):
    """A memory command was given input it cannot use (a bad date, no filter)."""

    title = "Invalid memory request"


def make_embedder() -> Any:
    """The shipped MiniLM embedder (tests replace this function)."""
    from edge.encoder import OnnxEmbedder

    return OnnxEmbedder()


def make_llm(settings: Settings) -> Any:
    """The configured LLM (tests replace this function)."""
    from edge.llm import make_llm as factory

    return factory(settings.llm)


@contextmanager
def open_stream(settings: Settings, with_llm: bool = False) -> Iterator[Any]:
    """The memory stream over the data store; closes the store, the index and the LLM."""
    from edge.memory import open_memory

    llm = make_llm(settings) if with_llm else None
    try:
        stream = open_memory(
            settings, llm=llm, embedder=make_embedder(), count_tokens=getattr(llm, "count_tokens", None)
        )
        try:
            yield stream
        finally:
            stream.close()
    finally:
        if llm is not None:
            llm.close()


def parse_when(text: str) -> float:
    """``YYYY-MM-DD`` or an ISO date-time (local time unless it has an offset) -> unix time."""
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise MemoryRequestError(
            f"'{text}' is not a date.", "Use YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time)."
        ) from e
    return dt.timestamp() if dt.tzinfo else dt.astimezone().timestamp()


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


@click.group("memory")
def memory_group() -> None:
    """Browse and maintain the memory stream (records, FAISS index, reflections, plan)."""


@memory_group.command("search")
@click.argument("query")
@click.option("-k", "--top-k", "k", type=click.IntRange(min=1), default=None, help="How many (memory.top_k).")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(["observation", "proposal", "feedback", "reflection", "plan"]),
    help="Only these kinds (repeatable).",
)
@click.option("--touch", is_flag=True, help="Count this as an access (updates last_accessed).")
@json_flag("One JSON object per line, best first.")
@click.pass_context
def search_cmd(
    ctx: click.Context, query: str, k: int | None, kinds: tuple[str, ...], touch: bool, as_json: bool
) -> None:
    """Retrieve the records that best match QUERY by recency + importance + relevance.

    Browsing does not change what the agent remembers: last_accessed is only
    updated with --touch.
    """
    settings = settings_of(ctx)
    with open_stream(settings) as stream:
        hits = stream.retrieve(query, k=k, kinds=list(kinds) or None, touch=touch)
    for h in hits:
        if as_json:
            emit(h.to_json())
        else:
            m, s = h.memory, h.scored
            click.echo(
                f"{s.score:5.2f}  #{m.id:<6} {m.kind:<11} imp={m.importance:<2} cos={s.raw_relevance:.2f} "
                f"{_when(m.created_at)}  {m.text}"
            )
    if not hits and not as_json:
        click.echo("No memories yet.", err=True)


@memory_group.command("stats")
@json_flag()
@click.pass_context
def stats_cmd(ctx: click.Context, as_json: bool) -> None:
    """Counts by kind, index type and size, reflection progress, the current plan."""
    settings = settings_of(ctx)
    with open_stream(settings) as stream:
        st = stream.stats()
    if as_json:
        emit(st)
        return
    ix = st["index"]
    click.echo(
        f"records: {st['records']}  " + "  ".join(f"{k}={v}" for k, v in sorted(st["by_kind"].items()))
    )
    click.echo(f"time span: {_when(st['oldest'])} .. {_when(st['newest'])}")
    click.echo(f"importance: mean {st['mean_importance']}, LLM-scored {st['llm_scored']}")
    size = "" if ix["file_bytes"] is None else f", {ix['file_bytes'] / 1e6:.1f} MB"
    click.echo(f"index: {ix['type']} with {ix['vectors']} vectors ({ix['opened']}{size}) at {ix['file']}")
    click.echo(
        f"reflection: {st['importance_since_reflection']:.0f} / {st['reflection_threshold']:.0f} "
        f"importance since the last one; {st['by_kind'].get('reflection', 0)} insights"
    )
    click.echo(f"plan: {st['plan'] or '(none yet)'}")


@memory_group.command("reflect")
@json_flag("Print the questions, insights and plan as JSON.")
@click.pass_context
def reflect_cmd(ctx: click.Context, as_json: bool) -> None:
    """Reflect now (whether or not the importance threshold is reached) and refresh the plan."""
    settings = settings_of(ctx)
    with open_stream(settings, with_llm=True) as stream:
        ref = stream.reflect()
    if as_json:
        emit(ref.to_json())
        return
    click.echo(f"re-scored importance of {ref.rescored} records")
    for q in ref.questions:
        click.echo(f"? {q}")
    for ins in ref.insights:
        click.echo(f"+ #{ins.id} {ins.text}  (cites {', '.join(f'#{c}' for c in ins.cites)})")
    if not ref.insights:
        click.echo("no new insights")
    if ref.plan is not None:
        click.echo(f"plan: {ref.plan.text}")


@memory_group.command("forget")
@click.option("--before", "before", default=None, metavar="DATE", help="Records created before DATE.")
@click.option("--app", "app", default=None, metavar="NAME", help="Records of this application.")
@click.option("--match", "match", default=None, metavar="TEXT", help="Records whose text contains TEXT.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_flag()
@click.pass_context
def forget_cmd(
    ctx: click.Context,
    before: str | None,
    app: str | None,
    match: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Delete records from SQLite and the FAISS index (filters combine with AND).

    Reflections and plans derived from a deleted record are deleted too, and so
    are the raw observations behind deleted observation records.
    """
    if not (before or app or match):
        raise MemoryRequestError(
            "Nothing to forget: no filter given.", "Pass --before DATE, --app NAME or --match TEXT."
        )
    ts = parse_when(before) if before else None
    settings = settings_of(ctx)
    with open_stream(settings) as stream:
        ids = stream.ids_matching(before=ts, app=app, match=match)
        if dry_run or not ids:
            result = {"matched": len(ids), "deleted": 0, "dry_run": dry_run}
        else:
            if not yes and not as_json:
                click.confirm(f"Delete {len(ids)} records (and what was derived from them)?", abort=True)
            deleted = stream.forget(before=ts, app=app, match=match)
            result = {"matched": len(ids), "deleted": len(deleted), "dry_run": False}
    if as_json:
        emit(result)
    else:
        verb = "would delete" if dry_run else "deleted"
        n = result["matched"] if dry_run else result["deleted"]
        click.echo(f"{verb} {n} records ({result['matched']} matched)")


@memory_group.command("reindex")
@click.pass_context
def reindex_cmd(ctx: click.Context) -> None:
    """Rebuild the FAISS index from the vectors in SQLite (no re-embedding)."""
    settings = settings_of(ctx)
    with open_stream(settings) as stream:
        idx = stream.rebuild_index("requested")
        click.echo(
            f"rebuilt {idx.kind} index with {idx.ntotal} vectors in {stream.index_status.seconds:.1f}s"
        )


@click.command("ask")
@click.argument("question")
@json_flag("Print the answer and the memories used as JSON.")
@click.pass_context
def ask_cmd(ctx: click.Context, question: str, as_json: bool) -> None:
    """Answer QUESTION about the user from memory (like the Generative Agents interviews)."""
    settings = settings_of(ctx)
    with open_stream(settings, with_llm=True) as stream:
        ans = stream.ask(question)
    if as_json:
        emit(
            {
                "question": ans.question,
                "answer": ans.answer,
                "plan": ans.plan,
                "memories": [h.to_json() for h in ans.memories],
            }
        )
        return
    click.echo(ans.answer)
    sys.stdout.flush()
