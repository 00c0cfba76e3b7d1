"""`proactive doctor`: checks that each part can start, and says what to fix.

First the configuration itself (file + environment + flags; a value that does
not validate, e.g. a privacy pattern that is not a regular expression, is a
failed check, not a traceback); then the LLM (model file, or the
OpenAI-compatible endpoint), the trigger, the reward gate and its encoder, the
data directory, the MQTT broker, ActivityWatch and, on a desktop, the
notification server; each check is independent, so one failing never hides
another. Without valid settings only the checks that need none run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from edge.config import Settings, data_dir
from edge.errors import ConfigError, EdgeError
from edge.gguf import model_info
from edge.llm import resolve_model_path
from edge.mqtt.client import probe_broker
from edge.reward import OnnxRewardModel
from edge.sources.activitywatch import probe_server
from edge.trigger.model import default_model_path, load_trigger


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_model(settings: Settings) -> Check:
    """The GGUF's architecture, size, context length and chat template, read from its header (no load).

    Fails when the file is missing or not a GGUF, and when the model has no chat
    template and ``llm.chat_format`` is unset (a base model: llama.cpp would fall
    back to the llama-2 format); the hint names the format to set when known.
    """
    if settings.llm.backend == "openai":
        return check_endpoint(settings)
    try:
        info = model_info(resolve_model_path(settings.llm))
    except EdgeError as e:
        return Check("model", False, e.msg, e.hint)
    ctx = f"context {info.context_length} tokens" if info.context_length else "context length unknown"
    size = f"{info.size_bytes / 1e6:.0f} MB"
    about = f"{info.path} ({info.name}: {info.architecture}, {info.quantization}, {size}, {ctx}"
    fmt = settings.llm.chat_format
    if fmt:
        where = "the GGUF's template is not used" if info.chat_template else "the GGUF has no template"
        return Check("model", True, f"{about}, chat format {fmt!r} from llm.chat_format; {where})")
    if info.chat_template:
        return Check("model", True, f"{about}, chat template from the GGUF)")
    suggested = info.suggested_chat_format()
    hint = (
        f'Set llm.chat_format = "{suggested}" (the chat format of the {info.architecture} family).'
        if suggested
        else 'Set llm.chat_format to the chat format the model was trained with (e.g. "chatml", "gemma").'
    )
    return Check(
        "model",
        False,
        f"{about}) has no chat template and llm.chat_format is not set: prompts would be "
        "formatted as llama-2 chat, which this model does not know (a base model?).",
        hint,
    )


def check_endpoint(settings: Settings) -> Check:
    """GET ``<endpoint>/models`` of an OpenAI-compatible server, with a short timeout."""
    url = settings.llm.endpoint.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {settings.llm.api_key}"} if settings.llm.api_key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
            resp.read()
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        return Check(
            "model",
            False,
            f"OpenAI-compatible endpoint {url} does not answer ({e}).",
            'Start the model server or fix llm.endpoint; backend = "llama_cpp" needs no server.',
        )
    return Check("model", True, f"OpenAI-compatible endpoint {settings.llm.endpoint} answers")


def check_gate(settings: Settings) -> Check:
    """Load the reward gate (head + shared MiniLM encoder) and score one window."""
    try:
        model = OnnxRewardModel(settings.reward.model_path, threads=settings.reward.threads)
        t0 = time.perf_counter()
        model.score([{"time": "0", "event": "The user opens a terminal."}], None)
        ms = (time.perf_counter() - t0) * 1000
    except EdgeError as e:
        return Check("reward gate", False, e.msg, e.hint)
    return Check("reward gate", True, f"{model.model_path} + MiniLM encoder (first score {ms:.0f} ms)")


def check_trigger(settings: Settings) -> Check:
    """Load the when-to-speak trigger (``trigger.model_path`` or the shipped one)."""
    if not settings.trigger.enabled:
        return Check("trigger", True, "off (trigger.enabled = false): the LLM runs on every event")
    path = settings.trigger.model_path or default_model_path()
    try:
        model = load_trigger(path)
    except EdgeError as e:
        return Check("trigger", False, e.msg, e.hint)
    return Check(
        "trigger",
        True,
        f"{path} ({model.meta.get('config', model.version)}; speaks at P(help) >= {model.p_threshold:.2f})",
    )


def check_broker(settings: Settings) -> Check:
    """The configured MQTT broker answers; an embedded one may also simply not be started yet."""
    r = settings.relay
    where = f"{r.host}:{r.port}"
    try:
        probe_broker(r, timeout=3.0)
    except EdgeError as e:
        if r.broker == "embedded":
            with socket.socket() as s:
                port_free = s.connect_ex((r.host, r.port)) != 0
            if port_free:
                return Check("broker", True, f"embedded, started by `proactive run` on {where} (port free)")
            return Check(
                "broker",
                False,
                f"{where} is taken by something that is not an MQTT broker we can use: {e.msg}",
                'Set relay.port to a free port, or relay.broker = "external" to use the broker there.',
            )
        return Check("broker", False, e.msg, e.hint)
    return Check("broker", True, f"{r.broker} broker at {where} accepts the configured credentials")


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
    aw = settings.activitywatch
    where = f"http://{aw.host}:{aw.port}"
    try:
        info = probe_server(aw)
    except EdgeError as e:
        return Check("activitywatch", False, e.msg, e.hint)
    return Check("activitywatch", True, f"{where} ({info})")


NOTIFICATIONS_HINT = (
    "Start a notification daemon in the desktop session (e.g. dunst, or your desktop's own), "
    "or run the companion as `proactive desktop --console`."
)


def check_notifications() -> Check:
    """The notification server `proactive desktop` shows proposals on, checked only on a desktop.

    On Linux a machine counts as a desktop when the environment names a D-Bus
    session bus or a display (``DBUS_SESSION_BUS_ADDRESS``, ``DISPLAY``,
    ``WAYLAND_DISPLAY``): a hub reached over ssh or run by systemd has none, and
    the check says "not checked" and passes. macOS and Windows are always
    desktops. The server must answer within 5 s (a D-Bus-activated one is
    started by asking) and offer buttons, or Accept/Reject cannot be shown.
    """
    names = [v for v in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY") if os.environ.get(v)]
    linux = sys.platform.startswith("linux")
    if linux and not names:
        return Check(
            "notifications", True, "not checked: no desktop session here (no D-Bus session bus, no display)"
        )
    try:
        from desktop_notifier import Capability, DesktopNotifier  # noqa: PLC0415 -- the optional `desktop` extra
    except ImportError:
        return Check(
            "notifications",
            False,
            "desktop-notifier is not installed: `proactive desktop` cannot show notifications",
            "Install the desktop extra (.venv/bin/pip install -e '.[desktop]' in the checkout), "
            "or run `proactive desktop --console`.",
        )
    if linux and "DBUS_SESSION_BUS_ADDRESS" not in names:
        return Check(
            "notifications",
            False,
            f"{' and '.join(names)} set but no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS)",
            NOTIFICATIONS_HINT,
        )

    async def capabilities() -> frozenset[Capability]:
        return await asyncio.wait_for(
            DesktopNotifier("proactive-edge", app_icon=None).get_capabilities(), 5.0
        )

    try:
        found = asyncio.run(capabilities())
    except Exception as e:  # dbus-fast's errors, OSError, TimeoutError: no server either way
        reason = (str(e).splitlines() or [""])[0][:120] or type(e).__name__
        return Check("notifications", False, f"no notification server answers ({reason})", NOTIFICATIONS_HINT)
    if Capability.BUTTONS not in found:
        return Check(
            "notifications",
            False,
            "the notification service cannot show Accept/Reject buttons",
            NOTIFICATIONS_HINT,
        )
    return Check("notifications", True, "a notification server answers and shows Accept/Reject buttons")


def run_checks(settings: Settings) -> list[Check]:
    """All checks, each independent: one failing never hides another."""
    return [
        check_model(settings),
        check_trigger(settings),
        check_gate(settings),
        check_data_dir(),
        check_broker(settings),
        check_activitywatch(settings),
        check_notifications(),
    ]


def check_config(load: Callable[[], Settings]) -> tuple[Check, Settings | None]:
    """Load the settings with ``load``: a passed check and the settings, or the failure and None."""
    try:
        settings = load()
    except ConfigError as e:
        return Check("config", False, e.msg, e.hint), None
    detail = "the configuration validates (file, PROACTIVE_ environment, flags)"
    return Check("config", True, detail), settings


def doctor(load: Callable[[], Settings]) -> list[Check]:
    """The configuration check, then `run_checks`; with settings that do not validate, only the
    checks that need none (the data directory), so the one thing to fix comes first."""
    config, settings = check_config(load)
    if settings is None:
        return [config, check_data_dir()]
    return [config, *run_checks(settings)]
