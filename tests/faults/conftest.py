"""Fixtures of the fault suite: the brokers of tests/relay and the aw-server of tests/sources (reused,
not copied), and where a hub serves.

``served``: where a `HubProcess` serves its desktops, parametrised over a real mosquitto
(``relay.broker = "external"``) and the hub's own embedded amqtt broker (``"embedded"``, started
inside the `proactive run` process, so it dies with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.faults.harness import HubProcess
from tests.relay.conftest import Mosquitto, mosquitto  # noqa: F401 - the fixture, for this package
from tests.relay.test_takeover import house  # noqa: F401 - mosquitto with `proactive broker acl`'s files
from tests.sources.conftest import aw_server, writer  # noqa: F401 - the fixtures, for this package


@dataclass
class Served:
    """A broker port and whether the hub itself runs the broker there."""

    kind: str
    port: int

    @property
    def embedded(self) -> bool:
        return self.kind == "embedded"

    def hub(self, tmp: Path, **kw: object) -> HubProcess:
        return HubProcess(tmp / "hub", self.port, embedded=self.embedded, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["mosquitto", "embedded"])
def served(request: pytest.FixtureRequest) -> Served:
    if request.param == "mosquitto":
        m: Mosquitto = request.getfixturevalue("mosquitto")()
        return Served("mosquitto", m.port)
    return Served("embedded", free_port())
