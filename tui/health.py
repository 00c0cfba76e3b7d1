"""The Stats screen's health checks: `edge.doctor`'s, each guarded so that one failing hides no other,
and the hub's inbound MQTT messages dropped, as the hub saved them in the store.

The broker and the hub's connection are not judged here: the dashboard's own
MQTT connection reports them (`tui.relay.relay_health`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from edge import doctor
from edge.config import Settings, store_path
from edge.errors import EdgeError
from edge.mqtt.topics import HUB, client_id
from edge.store import Store
from edge.store.relay import inbound_stats
from tui.ports import Health

RECENT_DROP_S = 3600.0
"""A drop this recent makes the hub's inbound check show DOWN; older ones are history."""

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


def doctor_health(settings: Settings, path: Path | None = None) -> list[Health]:
    """`edge.doctor`'s checks, or the local ones each guarded when they fail, and the hub's dropped
    messages as saved in the store file ``path`` (default: the configured one). Blocking: use a thread."""
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
    try:
        checks += inbound_health(settings, path)
    except Exception as e:  # the counts are a convenience: never hide the other checks
        checks.append(Health("hub inbound", False, f"cannot read: {type(e).__name__}: {e}"))
    return checks


def inbound_health(settings: Settings, path: Path | None = None, now: float | None = None) -> list[Health]:
    """The hub's dropped MQTT messages (`edge.mqtt.relay`: oversized, queue full, bad desktop name,
    invalid payload, handler failure) as the hub last saved them; none before the hub saved any.
    Down while the last drop is under `RECENT_DROP_S` old."""
    path = path or store_path()
    if not path.exists():
        return []
    store = Store.open(path)
    try:
        saved = inbound_stats(store).get(client_id(HUB, HUB, settings.relay.client_id))
    finally:
        store.close()
    if saved is None:
        return []
    dropped = int(saved.get("dropped") or 0)
    why = ", ".join(f"{n} {reason}" for reason, n in (saved.get("drops") or {}).items() if n)
    detail = f"{saved.get('received', 0)} received, {dropped} dropped" + (f" ({why})" if why else "")
    last_at = saved.get("last_drop_at")
    now = time.time() if now is None else now
    if not dropped or not isinstance(last_at, int | float) or now - last_at >= RECENT_DROP_S:
        return [Health("hub inbound", True, detail)]
    return [
        Health(
            "hub inbound",
            False,
            f"{detail}; last: {saved.get('last_drop', '')}",
            "A desktop (or another client) sends messages the hub refuses: "
            "see `proactive status` and the hub's log ('dropped message on').",
        )
    ]
