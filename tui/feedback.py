"""Answers saved from the dashboard itself, as the proposal's desktop companion would send them."""

from __future__ import annotations

from edge.errors import StoreError
from edge.records import feedback_id
from edge.store import Store
from tui.ports import FeedbackOutcome


def record_feedback(store: Store, proposal_id: str, verdict: str, now: float) -> FeedbackOutcome:
    """Store a verdict as the proposal's desktop would send it. Raises `StoreError`.

    ``stored`` is False when the proposal already had an answer (``previous``).
    """
    prop = store.get_proposal(proposal_id)
    if prop is None:
        raise StoreError(f"Unknown proposal {proposal_id!r}.", "Refresh the list; it may have been removed.")
    desktop = prop["desktop"]
    fid = feedback_id(proposal_id)
    if prop["status"] != "pending":
        return FeedbackOutcome(proposal_id, fid, verdict, desktop, False, prop["status"])
    stored = store.add_feedback(fid, proposal_id, verdict, desktop, now)
    return FeedbackOutcome(proposal_id, fid, verdict, desktop, stored)
