"""Every table of ``proactive.db``, as `sqlite_utils.Migrations` named ``m00N_...``.

The migration set is named "proactive-edge" and records what it applied in the
database itself, so never edit or rename an applied migration: add the next.
Each table's queries live in one module, named in the migration that creates it:

- ``observations``: `edge.store.observations`
- ``proposals``, ``feedback``, ``results``: `edge.store.proposals`
- ``checkpoints``: `edge.store.core`
- ``relay_outbox``, ``relay_inbox``: `edge.store.relay`
- ``feedback_state``, ``adaptations``, ``suppressions``: `edge.store.feedback`
- ``memories``, ``memory_vectors``, ``memory_citations``, ``memory_importance_cache``: `edge.store.memory`
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("proactive-edge")


@migrations()
def m001_initial(db: Database) -> None:
    """``observations`` (edge.store.observations), ``proposals`` and ``feedback``
    (edge.store.proposals), ``checkpoints`` (edge.store.core)."""
    db.table("observations").create(
        {
            "id": str,
            "desktop": str,
            "source": str,
            "ts": float,
            "time": str,
            "text": str,
            "app": str,
            "key": str,
            "help_needed": int,
            "created_at": float,
        },
        pk="id",
    )
    db.table("observations").create_index(["desktop", "created_at"])
    db.table("proposals").create(
        {
            "id": str,
            "observation_id": str,
            "desktop": str,
            "task": str,
            "purpose": str,
            "thoughts": str,
            "response": str,
            "score": float,
            "status": str,
            "created_at": float,
            "expires_at": float,
        },
        pk="id",
    )
    db.table("proposals").create_index(["desktop", "created_at"])
    db.table("feedback").create(
        {"id": str, "proposal_id": str, "desktop": str, "verdict": str, "created_at": float},
        pk="id",
    )
    db.table("checkpoints").create({"name": str, "value": str, "updated_at": float}, pk="name")


@migrations()
def m002_relay_feedback(db: Database) -> None:
    """MQTT outbox/inbox (edge.store.relay), the feedback room's adaptation state (edge.store.feedback)
    and ``results``, the help written for accepted proposals (edge.store.proposals)."""
    # owner: the MQTT client that queued/received the row (hub and a companion may share one file).
    db.table("relay_outbox").create(
        {
            "owner": str,
            "id": str,
            "topic": str,
            "payload": str,
            "retain": int,
            "peer": str,
            "status": str,
            "created_at": float,
            "sent_at": float,
            "expires_at": float,
        },
        pk=("owner", "id"),
    )
    db.table("relay_outbox").create_index(["owner", "status", "created_at"])
    db.table("relay_inbox").create(
        {"owner": str, "id": str, "topic": str, "received_at": float}, pk=("owner", "id")
    )
    db.table("feedback_state").create(
        {"desktop": str, "threshold_raise": float, "interval_extra_s": float, "updated_at": float},
        pk="desktop",
    )
    db.table("adaptations").create(
        {
            "id": str,
            "desktop": str,
            "proposal_id": str,
            "verdict": str,
            "kind": str,
            "detail": str,
            "created_at": float,
        },
        pk="id",
    )
    db.table("adaptations").create_index(["desktop", "created_at"])
    db.table("suppressions").create(
        {"id": str, "desktop": str, "task": str, "proposal_id": str, "until": float, "created_at": float},
        pk="id",
    )
    db.table("results").create(
        {"id": str, "proposal_id": str, "desktop": str, "kind": str, "text": str, "created_at": float},
        pk="id",
    )


@migrations()
def m003_memory_stream(db: Database) -> None:
    """The memory stream (edge.memory, queries in edge.store.memory).

    - ``memories``: one natural-language record per row; ``id`` (the SQLite rowid)
      is also the record's id in the FAISS index. ``source_id`` is the id of the
      observation / proposal / feedback row it came from (unique, so re-reading an
      event never duplicates it); ``text_hash`` finds a cached embedding.
    - ``memory_vectors``: the float32 embedding of each record (same id), so the
      index can be rebuilt without re-embedding.
    - ``memory_citations``: which records a reflection or plan was derived from.
    - ``memory_importance_cache``: LLM poignancy scores by text hash and model.
    """
    db.execute(
        """
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            desktop TEXT NOT NULL DEFAULT '',
            app TEXT NOT NULL DEFAULT '',
            source_id TEXT,
            created_at REAL NOT NULL,
            last_accessed REAL NOT NULL,
            importance INTEGER NOT NULL,
            importance_src TEXT NOT NULL DEFAULT 'cheap'
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX idx_memories_source ON memories(source_id)")
    db.execute("CREATE INDEX idx_memories_text_hash ON memories(text_hash)")
    db.execute("CREATE INDEX idx_memories_kind ON memories(kind, id)")
    db.execute("CREATE INDEX idx_memories_created ON memories(created_at)")
    db.execute("CREATE TABLE memory_vectors (id INTEGER PRIMARY KEY, vector BLOB NOT NULL)")
    db.execute(
        """
        CREATE TABLE memory_citations (
            memory_id INTEGER NOT NULL,
            cited_id INTEGER NOT NULL,
            PRIMARY KEY (memory_id, cited_id)
        )
        """
    )
    db.execute("CREATE INDEX idx_memory_citations_cited ON memory_citations(cited_id)")
    db.execute(
        """
        CREATE TABLE memory_importance_cache (
            text_hash TEXT NOT NULL,
            model TEXT NOT NULL,
            score INTEGER NOT NULL,
            PRIMARY KEY (text_hash, model)
        )
        """
    )


@migrations()
def m004_proposal_latency(db: Database) -> None:
    """How long each decision took, for the dashboard's latency figures (edge.store.proposals)."""
    db.table("proposals").add_column("latency_ms", float)


@migrations()
def m005_structure_and_trigger(db: Database) -> None:
    """The structured activity of each observation (edge.store.observations), each proposal's anchor
    and P(help) (edge.store.proposals), and the trigger's online offset per desktop, which replaces the
    reward gate's task-threshold raise (edge.store.feedback; old raises are dropped, they meant another
    scale)."""
    db.table("observations").add_column("activity", str)
    db.table("proposals").add_column("anchor_kind", str)
    db.table("proposals").add_column("anchor_text", str)
    db.table("proposals").add_column("p_help", float)
    db.table("proposals").add_column("template", int)
    db.table("feedback_state").transform(rename={"threshold_raise": "trigger_offset"})
    db.execute("update feedback_state set trigger_offset = 0")
