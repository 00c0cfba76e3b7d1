"""The Stats screen's health checks: `edge.doctor`'s, each guarded so that one failing hides no other.

The broker and the hub are not judged here: the dashboard's own MQTT
connection reports them (`tui.relay.relay_health`).
"""

from __future__ import annotations

from collections.abc import Callable

from edge import doctor
from edge.config import Settings
from edge.errors import EdgeError
from tui.ports import Health

# edge.reward ships with edge; whether a trained model is there is the doctor's "reward gate" check.
REWARD_PRESENT = Health("reward model", True, "reward gate module installed")


def _health(c: doctor.Check) -> Health:
    return Health(c.name, c.ok, c.detail, c.hint)


def _guarded(name: str, fn: Callable[[], doctor.Check]) -> Health:
    try:
        return _health(fn())
    except EdgeError as e:
        return Health(name, False, e.msg, e.hint)
    except Exception as e:
        return Health(
            name, False, f"check failed: {type(e).__name__}: {e}", "Run `proactive doctor` for details."
        )


def doctor_health(settings: Settings) -> list[Health]:
    """`edge.doctor`'s checks, or the local ones each guarded when they fail. Blocking: use a thread."""
    try:
        checks = [_health(c) for c in doctor.run_checks(settings)]
    except Exception:
        checks = [
            _guarded("model", lambda: doctor.check_model(settings)),
            _guarded("data directory", doctor.check_data_dir),
            _guarded("activitywatch", lambda: doctor.check_activitywatch(settings)),
        ]
    if not any("reward" in c.name for c in checks):
        checks.append(REWARD_PRESENT)
    return checks
