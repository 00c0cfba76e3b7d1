"""`proactive doctor`: checks that each part can start, and says what to fix."""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from typing import Any

from edge.config import Settings, data_dir
from edge.errors import EdgeError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_model(settings: Settings) -> Check:
    from edge.llm import resolve_model_path

    if settings.llm.backend == "openai":
        return Check("model", True, f"OpenAI-compatible endpoint {settings.llm.endpoint} (not probed)")
    try:
        path = resolve_model_path(settings.llm)
    except EdgeError as e:
        return Check("model", False, e.msg, e.hint)
    size = path.stat().st_size / 1e6
    return Check("model", True, f"{path} ({size:.0f} MB)")


def check_data_dir() -> Check:
    d = data_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        return Check(
            "data directory", False, f"{d} is not writable: {e}", "Set PROACTIVE_HOME to a writable folder."
        )
    free = shutil.disk_usage(d).free / 1e9
    if free < 1:
        return Check("data directory", False, f"{d}: only {free:.1f} GB free", "Free disk space.")
    return Check("data directory", True, f"{d} ({free:.0f} GB free)")


def check_activitywatch(settings: Settings) -> Check:
    from edge.sources.activitywatch import probe_server

    aw = settings.activitywatch
    where = f"http://{aw.host}:{aw.port}"
    try:
        info = probe_server(aw)
    except EdgeError as e:
        return Check("activitywatch", False, e.msg, e.hint)
    return Check("activitywatch", True, f"{where} ({info})")


def run_checks(settings: Settings) -> list[Check]:
    """All checks, each independent: one failing never hides another."""
    return [check_model(settings), check_data_dir(), check_activitywatch(settings)]
