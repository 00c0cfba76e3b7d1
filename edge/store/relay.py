"""The MQTT relay's tables: ``relay_outbox`` (durable outgoing queue) and ``relay_inbox`` (ids seen).

Each relay client has its own ``owner`` name, so the hub, a companion and the
dashboard may share one file without seeing each other's messages. Each
relay's inbound counts (`save_inbound_stats`) are kept as a checkpoint, for
``proactive status`` and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.store.core import Store


@dataclass(frozen=True)
class QueuedMessage:
    """One outgoing message waiting in the outbox."""

    id: str
    topic: str
    payload: str
    retain: bool


class Outbox:
    """Durable queue of outgoing messages in the store (table ``relay_outbox``), per owner."""

    def __init__(self, store: Store, owner: str) -> None:
        self.db = store.db
        self.table = store.db.table("relay_outbox")
        self.owner = owner

    def put(
        self, msg_id: str, t: str, data: str, retain: bool, peer: str, expires_at: float | None, now: float
    ) -> bool:
        """Queue a message; False when this id is already known (then nothing changes)."""
        if self.table.count_where("owner = ? and id = ?", [self.owner, msg_id]):
            return False
        self.table.insert(
            {
                "owner": self.owner,
                "id": msg_id,
                "topic": t,
                "payload": data,
                "retain": int(retain),
                "peer": peer,
                "status": "queued",
                "created_at": now,
                "sent_at": None,
                "expires_at": expires_at,
            }
        )
        return True

    def queued(self, now: float) -> list[QueuedMessage]:
        """Queued messages oldest first; expired ones are set aside (status ``expired``) and skipped."""
        self.db.execute(
            "update relay_outbox set status = 'expired' where owner = ? and status = 'queued' "
            "and expires_at is not null and expires_at <= ?",
            [self.owner, now],
        )
        return [
            QueuedMessage(r["id"], r["topic"], r["payload"], bool(r["retain"]))
            for r in self.table.rows_where(
                "owner = ? and status = 'queued'", [self.owner], order_by="created_at, rowid"
            )
        ]

    def mark_sent(self, msg_id: str, now: float) -> None:
        self.db.execute(
            "update relay_outbox set status = 'sent', sent_at = ? "
            "where owner = ? and id = ? and status = 'queued'",
            [now, self.owner, msg_id],
        )

    def requeue_peer(self, peer: str, since: float, now: float) -> int:
        """Queue again what was sent to ``peer`` after ``since`` and has not expired; return how many."""
        cur = self.db.execute(
            "update relay_outbox set status = 'queued' where owner = ? and peer = ? and status = 'sent' "
            "and sent_at >= ? and (expires_at is null or expires_at > ?)",
            [self.owner, peer, since, now],
        )
        return int(cur.rowcount)

    def prune(self, before: float) -> None:
        self.db.execute(
            "delete from relay_outbox where owner = ? and status != 'queued' and created_at < ?",
            [self.owner, before],
        )

    def counts(self) -> dict[str, int]:
        rows = self.db.execute(
            "select status, count(*) from relay_outbox where owner = ? group by status", [self.owner]
        ).fetchall()
        return {str(s): int(n) for s, n in rows}


class Inbox:
    """Ids already handled (table ``relay_inbox``), so a redelivered message is dropped."""

    def __init__(self, store: Store, owner: str) -> None:
        self.db = store.db
        self.owner = owner

    def seen(self, msg_id: str) -> bool:
        """True when ``msg_id`` was recorded (by `first_time`)."""
        return bool(
            self.db.execute(
                "select 1 from relay_inbox where owner = ? and id = ?", [self.owner, msg_id]
            ).fetchone()
        )

    def first_time(self, msg_id: str, t: str, now: float) -> bool:
        """Record ``msg_id``; True when it was not recorded before."""
        cur = self.db.execute(
            "insert or ignore into relay_inbox (owner, id, topic, received_at) values (?, ?, ?, ?)",
            [self.owner, msg_id, t, now],
        )
        return bool(cur.rowcount)

    def prune(self, before: float) -> None:
        self.db.execute("delete from relay_inbox where owner = ? and received_at < ?", [self.owner, before])


def outbox_counts(store: Store) -> dict[str, dict[str, int]]:
    """Every owner's outbox by status: ``{owner: {status: n}}`` (for ``proactive status``)."""
    out: dict[str, dict[str, int]] = {}
    for owner, status, n in store.db.execute(
        "select owner, status, count(*) from relay_outbox group by owner, status"
    ).fetchall():
        out.setdefault(str(owner), {})[str(status)] = int(n)
    return out


INBOUND_CHECKPOINT = "relay.inbound"
"""Each relay's inbound counts are the checkpoint ``relay.inbound.<owner>`` (`edge.store.core`); the
checkpoint ``relay.inbound`` lists the owners that saved any."""


def save_inbound_stats(store: Store, owner: str, stats: dict[str, Any], now: float) -> None:
    """Keep ``owner``'s inbound counts (received, drops by reason, the last drop, the queue)."""
    owners = store.get_checkpoint(INBOUND_CHECKPOINT)
    if not isinstance(owners, list) or owner not in owners:
        known = [o for o in owners if isinstance(o, str)] if isinstance(owners, list) else []
        store.set_checkpoint(INBOUND_CHECKPOINT, sorted({*known, owner}), now)
    store.set_checkpoint(f"{INBOUND_CHECKPOINT}.{owner}", stats, now)


def inbound_stats(store: Store) -> dict[str, dict[str, Any]]:
    """The last saved inbound counts of every relay client that saved any: ``{owner: stats}``.

    A value that is not what `save_inbound_stats` writes (edited by hand, another version) is skipped."""
    owners = store.get_checkpoint(INBOUND_CHECKPOINT)
    out: dict[str, dict[str, Any]] = {}
    for owner in owners if isinstance(owners, list) else []:
        value = store.get_checkpoint(f"{INBOUND_CHECKPOINT}.{owner}")
        if isinstance(owner, str) and isinstance(value, dict):
            out[owner] = value
    return out
