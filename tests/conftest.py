"""Fixtures shared by every test.

Each test gets its own data and config directories, so nothing touches the
developer's real ~/.local/share/proactive-edge. Area-specific fixtures (real
aw-server, MQTT brokers, the GGUF model) live in the area's own conftest.py.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / "edge" / "data" / "proactivebench"


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point PROACTIVE_HOME and XDG_CONFIG_HOME at a temporary folder; drop PROACTIVE_* overrides."""
    for name in list(os.environ):
        if name.startswith("PROACTIVE_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("PROACTIVE_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # aw-client keeps lock files and a queue under the XDG cache and data dirs.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    yield home


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    cond: Callable[[], bool], timeout: float, what: str, step: Callable[[], None] | None = None
) -> None:
    """Until ``cond()``; ``step`` runs between checks (e.g. pumping a desktop), else a short sleep."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        if step is not None:
            step()
        else:
            time.sleep(0.02)


@pytest.fixture(scope="session")
def real_llm() -> Iterator[object]:
    """The embedded SmolLM2-135M GGUF, loaded once for the whole test session."""
    from edge.config import LLMSettings
    from edge.llm import LlamaCppLLM

    llm = LlamaCppLLM(LLMSettings())
    yield llm
    llm.close()
