"""The feedback room's tables: ``feedback_state``, ``adaptations``, ``suppressions``.

How the hub adapts to the answers (the trigger's offset, cool-downs and their log). The
answers themselves and the results are `edge.store.proposals`' tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edge.store.core import Store


@dataclass(frozen=True)
class AdaptState:
    """A desktop's trigger offset and extra interval as last saved (decay to now is the feedback room's)."""

    trigger_offset: float
    interval_extra_s: float
    updated_at: float


@dataclass(frozen=True)
class Suppression:
    desktop: str
    task: str
    until: float


class FeedbackStore:
    """Typed access to the feedback room's tables."""

    def __init__(self, store: Store) -> None:
        self.db = store.db

    # ------------------------------------------------------------ per-desktop state
    @staticmethod
    def _state(r: dict[str, Any]) -> AdaptState:
        return AdaptState(float(r["trigger_offset"]), float(r["interval_extra_s"]), float(r["updated_at"]))

    def state(self, desktop: str) -> AdaptState | None:
        rows = list(self.db.table("feedback_state").rows_where("desktop = ?", [desktop]))
        return self._state(rows[0]) if rows else None

    def states(self) -> dict[str, AdaptState]:
        return {r["desktop"]: self._state(r) for r in self.db.table("feedback_state").rows}

    def save_state(self, desktop: str, trigger_offset: float, interval_extra_s: float, now: float) -> None:
        self.db.table("feedback_state").upsert(
            {
                "desktop": desktop,
                "trigger_offset": trigger_offset,
                "interval_extra_s": interval_extra_s,
                "updated_at": now,
            },
            pk="desktop",
        )

    # ------------------------------------------------------------ adaptations log
    def log_adaptation(
        self,
        adaptation_id: str,
        desktop: str,
        proposal_id: str,
        verdict: str,
        kind: str,
        detail: dict[str, Any],
        now: float,
    ) -> None:
        self.db.table("adaptations").insert(
            {
                "id": adaptation_id,
                "desktop": desktop,
                "proposal_id": proposal_id,
                "verdict": verdict,
                "kind": kind,
                "detail": json.dumps(detail, ensure_ascii=False),
                "created_at": now,
            },
            replace=True,
        )

    def recent_adaptations(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first, ``detail`` decoded."""
        return [
            {**r, "detail": json.loads(r["detail"] or "{}")}
            for r in self.db.table("adaptations").rows_where(
                order_by="created_at desc, rowid desc", limit=limit
            )
        ]

    # ------------------------------------------------------------ suppressions
    def suppress(
        self, suppression_id: str, desktop: str, task: str, proposal_id: str, until: float, now: float
    ) -> None:
        self.db.table("suppressions").insert(
            {
                "id": suppression_id,
                "desktop": desktop,
                "task": task,
                "proposal_id": proposal_id,
                "until": until,
                "created_at": now,
            },
            replace=True,
        )

    def suppressed_tasks(self, desktop: str, now: float) -> list[str]:
        """Tasks rejected on ``desktop`` whose cool-down lasts past ``now``."""
        return [
            r["task"]
            for r in self.db.table("suppressions").rows_where("desktop = ? and until > ?", [desktop, now])
        ]

    def active_suppressions(self, now: float) -> list[Suppression]:
        """Every desktop's suppressions still in force, newest first."""
        return [
            Suppression(r["desktop"], r["task"], r["until"])
            for r in self.db.table("suppressions").rows_where("until > ?", [now], order_by="created_at desc")
        ]
