"""`proactive doctor`: checks that each part can start, and says what to fix.

The LLM (model file, or the OpenAI-compatible endpoint), the trigger, the
reward gate and its encoder, the data directory, the MQTT broker and ActivityWatch; each check
is independent, so one failing never hides another.
"""

from __future__ import annotations

import shutil
import socket
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from edge.config import Settings, data_dir
from edge.errors import EdgeError
from edge.llm import model_info, resolve_model_path
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


def run_checks(settings: Settings) -> list[Check]:
    """All checks, each independent: one failing never hides another."""
    return [
        check_model(settings),
        check_trigger(settings),
        check_gate(settings),
        check_data_dir(),
        check_broker(settings),
        check_activitywatch(settings),
    ]
