"""proactive-edge: an offline, private, proactive assistant for a home mini-PC."""

from __future__ import annotations

__version__ = "0.1.0"
