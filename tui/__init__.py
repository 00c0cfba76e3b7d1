"""The Textual dashboard of proactive-edge (``proactive tui``).

Reads the hub's store file and, when the relay and memory rooms are
installed, talks through them. The core (``edge``) never imports this package.
"""

from __future__ import annotations
