"""The Textual dashboard of proactive-edge (``proactive tui``).

`tui.app.make_app` is its one factory: a `tui.dashboard.StoreDashboard` over
the hub's store file (reads in `edge.store.proposals` and `edge.store.observations`), with the relay link
(`tui.relay`), the memory adapter (`tui.memory`) and the health checks
(`tui.health`), handed to every screen (`tui.screens`) as the
`tui.ports.Dashboard` protocol. The core (``edge``) never imports this package.
"""

from __future__ import annotations
