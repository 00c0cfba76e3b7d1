"""The memory stream's tables, created by the store migration ``m003_memory_stream``.

- ``memories``: one natural-language record per row; ``id`` (the SQLite rowid)
  is also the record's id in the FAISS index. ``source_id`` is the id of the
  observation / proposal / feedback row it came from (unique, so re-reading an
  event never duplicates it); ``text_hash`` finds a cached embedding.
- ``memory_vectors``: the float32 embedding of each record (same id), so the
  index can be rebuilt without re-embedding.
- ``memory_citations``: which records a reflection or plan was derived from.
- ``memory_importance_cache``: LLM poignancy scores by text hash and model.
"""

from __future__ import annotations

from sqlite_utils import Database


def create_memory_tables(db: Database) -> None:
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
