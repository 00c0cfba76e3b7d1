"""One typed settings object for the whole product.

Precedence, lowest first: built-in defaults, the TOML file
(``$XDG_CONFIG_HOME/proactive-edge/config.toml`` or ``--config FILE``),
``PROACTIVE_*`` environment variables (``__`` separates nesting levels, e.g.
``PROACTIVE_LLM__THREADS=4``), then the flags the user actually typed.
Unknown keys anywhere are a `ConfigError` naming the key.

Paths: data lives under ``$PROACTIVE_HOME`` when set, else
``$XDG_DATA_HOME/proactive-edge`` (``~/.local/share/proactive-edge``).
Nothing here runs at import time.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from edge.errors import ConfigError

ENV_PREFIX = "PROACTIVE_"
# Environment variables with the prefix that are not settings keys.
_RESERVED_ENV = {"PROACTIVE_HOME", "PROACTIVE_CONFIG"}


class _Section(BaseModel):
    # A field's docstring is its description (`defaults_toml` prints it).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class LLMSettings(_Section):
    """The language model that writes proposals."""

    backend: Literal["llama_cpp", "openai"] = "llama_cpp"
    """llama_cpp: in process; openai: an OpenAI-compatible HTTP endpoint."""
    model_path: Path | None = None
    """GGUF file; empty means the embedded SmolLM2-135M-Instruct Q4_1."""
    chat_format: str | None = None
    """llama.cpp chat format; None reads the GGUF's template."""
    n_ctx: int = Field(2048, ge=256)
    """Context window in tokens."""
    threads: int | None = Field(None, ge=1)
    """CPU threads generating tokens; None: 1 for a GGUF under 400 MB (faster there), else all cores."""
    batch_threads: int | None = Field(None, ge=1)
    """CPU threads evaluating a prompt; None uses all cores."""
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    """Sampling temperature (0 = greedy)."""
    seed: int = 0
    """Sampling seed, for repeatable output."""
    max_tokens: int = Field(256, ge=16)
    """Upper bound on generated tokens per call (a response needs ~160)."""
    prefix_cache: bool = True
    """llama_cpp: keep each prompt's constant prefix in memory as a KV state (same output, less work)."""
    lazy_grammar: bool = True
    """llama_cpp, temperature 0: check the JSON grammar on the greedy token only (same output, faster)."""
    prefix_cache_mb: int = Field(64, ge=1)
    """llama_cpp: memory bound of the saved prefix states (the phrase prompt's: ~8 MB, embedded model)."""
    endpoint: str = "http://127.0.0.1:8080/v1"
    """Base URL for backend = openai."""
    api_key: str = ""
    """Bearer token for backend = openai (often empty locally)."""
    model: str = "local"
    """Model name sent to the OpenAI-compatible endpoint."""
    timeout_s: float = Field(120.0, gt=0)
    """HTTP timeout for backend = openai."""


class ActivityWatchSettings(_Section):
    """Where the local ActivityWatch server is and how it is read."""

    host: str = "127.0.0.1"
    """aw-server host."""
    port: int = Field(5600, ge=1, le=65535)
    """aw-server port (5666 in testing mode)."""
    testing: bool = False
    """Unused since reads no longer go through aw-client (the port decides; --testing servers use 5666)."""
    poll_interval_s: float = Field(10.0, gt=0)
    """Seconds between reads."""
    max_backoff_s: float = Field(300.0, gt=0)
    """Longest wait between retries when down."""
    lookback_s: float = Field(600.0, ge=0, le=7 * 86400)
    """Seconds of history the first read takes when a bucket has no checkpoint yet (later reads resume)."""
    timeout_s: float = Field(5.0, gt=0, le=300)
    """Seconds each request to aw-server may take: a frozen server costs the hub at most this per retry."""
    buckets: list[str] = Field(
        default_factory=lambda: [
            "aw-watcher-window_*",
            "aw-watcher-afk_*",
            "aw-watcher-web-*",
            "aw-watcher-vscode_*",
        ]
    )
    """Bucket id patterns (fnmatch) to read."""


class PrivacySettings(_Section):
    """Filters applied before anything is stored or sent to a model."""

    exclude_apps: list[str] = Field(
        default_factory=lambda: ["KeePassXC", "1Password", "Bitwarden", "keepassxc"]
    )
    """Applications whose windows are never recorded (case-insensitive)."""
    exclude_title_patterns: list[str] = Field(
        default_factory=lambda: [r"(?i)private browsing", r"(?i)incognito"]
    )
    """Regular expressions (Python re, each must compile); a window title matching any is never recorded."""
    redact: bool = True
    """Redact e-mails, URL queries, long digit runs, secrets."""

    @field_validator("exclude_title_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        """Every pattern must compile, so that a typo fails here and not in `proactive run`."""
        for i, p in enumerate(patterns):
            try:
                re.compile(p)
            except re.error as e:
                raise PydanticCustomError(
                    "regex",
                    "pattern {index} {pattern} is not a valid regular expression: {error}",
                    {"index": i, "pattern": repr(p), "error": str(e)},
                ) from e
        return patterns


class AgentSettings(_Section):
    """How the proactive agent decides."""

    window: int = Field(8, ge=1, le=64)
    """Recent observations shown to the model."""
    min_interval_s: float = Field(0.0, ge=0)
    """Minimum seconds between two proposals on one desktop."""
    repeat_window_s: float = Field(1800.0, ge=0)
    """Seconds in which a task like an earlier proposal on the desktop counts as a repeat."""


class TriggerSettings(_Section):
    """When to speak: the structured-event trigger (`edge.trigger`) in front of the LLM."""

    enabled: bool = True
    """Off: the LLM runs on every event and decides itself (slow; for comparisons)."""
    model_path: Path | None = None
    """Trigger model (.json); empty means the shipped models/trigger.json."""
    offset: float = Field(0.0, ge=-5.0, le=5.0)
    """Added to the trigger's logit on every desktop: positive speaks up more readily, negative less."""
    session_gap_s: float = Field(1800.0, gt=0)
    """A pause longer than this starts a new session (the trigger forgets the window)."""


class SourceSettings(_Section):
    """Which activity source `proactive run` reads."""

    kind: Literal["activitywatch", "trace"] = "activitywatch"
    """Source type."""
    trace: Path | None = None
    """Trace file for kind = trace."""


class TLSSettings(_Section):
    """TLS towards the MQTT broker; all empty means plain TCP."""

    ca_file: Path | None = None
    """CA certificate (PEM) that signed the broker's certificate."""
    certfile: Path | None = None
    """Client certificate (PEM), for brokers that require one."""
    keyfile: Path | None = None
    """Private key (PEM) of certfile."""
    insecure: bool = False
    """Skip the broker hostname check (self-signed test set-ups only)."""


class RelaySettings(_Section):
    """The MQTT relay between the hub and the desktops (topics proactive/v1/...)."""

    broker: Literal["embedded", "external"] = Field(
        "embedded",
        description="embedded: `proactive run` starts an amqtt broker in process on host:port; "
        "external: connect to a broker you run (mosquitto).",
    )
    host: str = Field(
        "127.0.0.1",
        description="Broker host; for broker = embedded the address the hub binds "
        "(127.0.0.1 unless set; the embedded broker is anonymous, keep it on loopback).",
    )
    port: int = Field(1883, ge=1, le=65535)
    """Broker TCP port (8883 is usual with TLS)."""
    username: str = ""
    """MQTT user name (empty: anonymous)."""
    password: str = ""
    """MQTT password (prefer PROACTIVE_RELAY__PASSWORD to the file)."""
    tls: TLSSettings = Field(default_factory=TLSSettings)
    client_id: str = ""
    """MQTT client id; empty derives a stable one from the role and desktop name."""
    proposal_ttl_s: float = Field(120.0, gt=0)
    """Seconds a proposal stays answerable; no answer by then counts as ignored."""
    keepalive: int = Field(30, ge=5, le=3600)
    """MQTT keepalive in seconds."""
    reconnect_min_s: float = Field(0.5, gt=0)
    """First reconnect delay; doubles per failure."""
    reconnect_max_s: float = Field(30.0, gt=0)
    """Longest reconnect delay."""
    publish_timeout_s: float = Field(5.0, gt=0)
    """Seconds to wait for a broker acknowledgement when a caller waits."""
    resend_window_s: float = Field(
        600.0,
        ge=0,
        description="When a peer comes (back) online, messages sent to it within this many seconds "
        "and not yet expired are sent again (receivers drop duplicates by id).",
    )


class FeedbackSettings(_Section):
    """How the hub adapts to accepted, rejected and ignored proposals (all bounded, all decaying)."""

    accepted_trigger_step: float = Field(0.25, ge=0, le=5)
    """Each accepted proposal adds this to the desktop's trigger offset (logit units): speak up sooner."""
    rejected_trigger_step: float = Field(0.25, ge=0, le=5)
    """Each rejected proposal takes this from the desktop's trigger offset: raise the bar."""
    ignored_trigger_step: float = Field(0.5, ge=0, le=5)
    """Each ignored proposal takes this from the desktop's trigger offset: raise the bar more."""
    max_trigger_offset: float = Field(1.5, ge=0, le=5)
    """Bound of the trigger offset, either way."""
    ignored_interval_step_s: float = Field(120.0, ge=0)
    """Each ignored proposal lengthens the minimum interval by this."""
    max_interval_extra_s: float = Field(1800.0, ge=0)
    """Upper bound of the added minimum interval."""
    decay_half_life_s: float = Field(3600.0, gt=0)
    """The trigger offset and the added interval halve every this many seconds without new answers."""
    reject_cooldown_s: float = Field(86400.0, ge=0)
    """Proposals similar to a rejected one are suppressed this long."""
    reject_similarity: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Similarity at or above which a task counts as similar to a rejected one; "
        "None uses the measure's own default (cosine 0.8 with embeddings, token Jaccard 0.5).",
    )
    result_max_tokens: int = Field(320, ge=16)
    """Upper bound on tokens the LLM writes for an accepted proposal."""
    expiry_grace_s: float = Field(10.0, ge=0)
    """Extra seconds the hub waits past expires_at before marking ignored."""


class MemoryIndexSettings(_Section):
    """The FAISS index beside the SQLite file (ids = memory record rowids).

    ``auto`` keeps an exact flat index while the memory is small and switches to
    HNSW at ``flat_max_records`` (IVF-Flat missed the recall target on MiniLM-like
    vectors at 1M; see scripts/bench_memory.py). An IVF index is retrained when
    the record count has grown ``retrain_growth`` times since training.
    """

    type: Literal["auto", "flat", "ivf_flat", "hnsw"] = "auto"
    """auto: flat up to flat_max_records, then hnsw; or force one type."""
    flat_max_records: int = Field(20000, ge=0)
    """With type = auto, records up to which the exact flat index is used."""
    ivf_nlist: int = Field(0, ge=0)
    """IVF cells; 0 picks about 4*sqrt(records), a power of two in [64, 16384]."""
    ivf_nprobe: int = Field(48, ge=1)
    """IVF cells scanned per query (recall against latency; see bench_memory)."""
    retrain_growth: float = Field(4.0, gt=1.0)
    """Retrain the IVF index when records grew this many times since training."""
    hnsw_m: int = Field(32, ge=4, le=128)
    """HNSW neighbours per node (type = hnsw)."""
    hnsw_ef_search: int = Field(768, ge=8)
    """HNSW search breadth (type = hnsw); 768 gave recall@10 0.955 at 1M records in 7.9 ms."""
    hnsw_ef_construction: int = Field(64, ge=8)
    """HNSW build breadth (type = hnsw)."""
    threads: int | None = Field(None, ge=1)
    """FAISS threads; None uses all cores (one query uses one thread anyway)."""
    flush_every: int = Field(500, ge=1)
    """Write the index file after this many new records (and on close)."""


class MemorySettings(_Section):
    """The Generative Agents memory stream: retrieval, importance, reflection, plans."""

    enabled: bool = True
    """Feed the agent's prompt from the memory stream."""
    w_recency: float = Field(1.0, ge=0)
    """Weight of recency in the retrieval score."""
    w_importance: float = Field(1.0, ge=0)
    """Weight of importance in the retrieval score."""
    w_relevance: float = Field(1.0, ge=0)
    """Weight of relevance (cosine) in the retrieval score."""
    decay: float = Field(0.995, gt=0, le=1)
    """Recency = decay ** (hours since the record was last accessed)."""
    candidate_pool: int = Field(100, ge=1)
    """Nearest records FAISS hands to the full-score rerank."""
    recent_pool: int = Field(20, ge=0)
    """Newest records added to the rerank pool even when not among the nearest."""
    top_k: int = Field(6, ge=1)
    """Memories retrieved into the agent's prompt."""
    accepted_examples: int = Field(3, ge=0)
    """Most similar previously accepted proposals shown as examples."""
    prompt_token_budget: int = Field(300, ge=0)
    """Tokens (about chars/4) for memories, plan and examples in one prompt."""
    reflection_threshold: float = Field(150.0, gt=0)
    """Reflect when the summed importance of new records passes this."""
    reflection_window: int = Field(100, ge=1)
    """Latest records the salient questions are asked about."""
    reflection_questions: int = Field(3, ge=1, le=10)
    """Salient questions per reflection."""
    max_insights: int = Field(5, ge=1, le=10)
    """Insights stored per reflection."""
    reflect_in_remember: bool = Field(
        True,
        description="Run a due reflection inside remember() (blocks the loop for a few LLM calls); "
        "false when something else calls maybe_reflect() in idle time.",
    )
    rescore_batch: int = Field(16, ge=0)
    """Records re-scored for importance by the LLM per reflection (0: never)."""
    index: MemoryIndexSettings = Field(default_factory=MemoryIndexSettings)


class RewardSettings(_Section):
    """The reward classifier that gates proposals (`edge.reward`)."""

    model_path: Path | None = None
    """Reward head (.onnx); empty means the shipped models/reward.onnx."""
    silence_threshold: float | None = Field(None, ge=0.0, le=1.0)
    """Judges (gym, eval bench): silence scoring at least this is right; empty: the model's value."""
    task_threshold: float | None = Field(None, ge=0.0, le=1.0)
    """Judges (gym, eval bench): a task scoring at least this passes; empty: the model's value."""
    veto_threshold: float = Field(0.1, ge=0.0, le=1.0)
    """Once the trigger fired, a candidate task scoring under this is never proposed (clearly bad)."""
    threads: int = Field(2, ge=1)
    """onnxruntime intra-op threads for the encoder and the head."""
    cache_size: int = Field(4096, ge=16)
    """Event/task embeddings kept in the LRU cache."""


DESKTOP_NAME_RULE = "letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64, not 'hub'"
_DESKTOP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def desktop_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a desktop's name, or None when it can.

    The one rule for a desktop's name, wherever it comes from (config, CLI,
    an MQTT topic, a payload, the mosquitto ACL): `DESKTOP_NAME_RULE`. It is
    the topic level in ``proactive/v1/<desktop>/...`` and the desktop's
    mosquitto user, so wildcards, ``/``, spaces, ``$``, non-ASCII letters and
    the hub's own level ``hub`` (in any case) are out.
    """
    if not isinstance(name, str):
        return f"a desktop name is a string, not {type(name).__name__}"
    if not _DESKTOP_NAME.fullmatch(name):
        return f"{name[:80]!r} is not a desktop name ({DESKTOP_NAME_RULE})"
    if name.lower() == "hub":
        return f"{name!r} is the hub's own name, not a desktop's"
    return None


def check_desktop_name(name: str) -> str:
    """``name`` if it follows the desktop-name rule (`desktop_name_problem`), else `ValueError` with why."""
    problem = desktop_name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


def default_desktop() -> str:
    """This machine's host name made a valid desktop name (other characters become '-'), else "desktop"."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", socket.gethostname()).lstrip("_.-")[:64]
    return name if desktop_name_problem(name) is None else "desktop"


class Settings(_Section):
    """Everything configurable. Field descriptions double as documentation."""

    desktop: str = Field(default_factory=default_desktop)
    """This desktop's name: letters, digits, '.', '_' or '-' (at most 64), not 'hub'."""
    llm: LLMSettings = Field(default_factory=LLMSettings)
    activitywatch: ActivityWatchSettings = Field(default_factory=ActivityWatchSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    trigger: TriggerSettings = Field(default_factory=TriggerSettings)
    source: SourceSettings = Field(default_factory=SourceSettings)
    relay: RelaySettings = Field(default_factory=RelaySettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    reward: RewardSettings = Field(default_factory=RewardSettings)

    @field_validator("desktop")
    @classmethod
    def _desktop_name(cls, value: str) -> str:
        return check_desktop_name(value)


# ---------------------------------------------------------------- paths


def _xdg(var: str, fallback: str, env: Mapping[str, str]) -> Path:
    value = env.get(var)
    return Path(value) if value else Path.home() / fallback


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The data directory (SQLite store, vector index, checkpoints). Not created here."""
    env = os.environ if env is None else env
    if env.get("PROACTIVE_HOME"):
        return Path(env["PROACTIVE_HOME"]).expanduser()
    return _xdg("XDG_DATA_HOME", ".local/share", env) / "proactive-edge"


def config_home(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME``, else ``~/.config``: user configuration, units and autostart entries."""
    return _xdg("XDG_CONFIG_HOME", ".config", os.environ if env is None else env)


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/proactive-edge/config.toml`` (or ``$PROACTIVE_CONFIG``)."""
    env = os.environ if env is None else env
    if env.get("PROACTIVE_CONFIG"):
        return Path(env["PROACTIVE_CONFIG"]).expanduser()
    return config_home(env) / "proactive-edge" / "config.toml"


def store_path(env: Mapping[str, str] | None = None) -> Path:
    """The SQLite file every component shares."""
    return data_dir(env) / "proactive.db"


# ---------------------------------------------------------------- loading


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """``PROACTIVE_A__B=v`` -> ``{"a": {"b": v}}``; JSON values (lists, numbers) are parsed."""
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in _RESERVED_ENV:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        value: Any = raw
        if raw[:1] in "[{":
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as e:
                raise ConfigError(
                    f"{name} is not valid JSON: {e.msg}", 'Quote lists as JSON, e.g. \'["a", "b"]\'.'
                ) from e
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name} conflicts with another PROACTIVE_ variable.", "Remove one.")
        node[path[-1]] = value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), dict):
            merged[k] = _merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def _explain(e: ValidationError, origin: str) -> ConfigError:
    first = e.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return ConfigError(
            f"Unknown configuration key '{key}' in {origin}.",
            "Check the spelling; `proactive config --defaults` lists every key.",
        )
    return ConfigError(f"Invalid value for '{key}' in {origin}: {first['msg']}.", "Fix or remove it.")


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from defaults, the TOML file, the environment and ``overrides``.

    ``config_file`` None means the default path, which may be absent; an
    explicit file that does not exist is an error. ``overrides`` are the flags
    the user typed, as a nested dict. Raises `ConfigError`.
    """
    env = os.environ if env is None else env
    explicit = config_file is not None
    path = config_file if config_file is not None else default_config_path(env)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"Cannot read config file {path}: {e}", "Check its permissions.") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"Config file {path} is not valid TOML: {e}", "Fix the syntax.") from e
    elif explicit:
        raise ConfigError(f"Config file {path} does not exist.", "Pass an existing file to --config.")
    origin = str(path)
    try:
        Settings.model_validate(data)
    except ValidationError as e:
        raise _explain(e, origin) from e
    merged = _merge(data, _env_overrides(env))
    if overrides:
        merged = _merge(merged, overrides)
    try:
        return Settings.model_validate(merged)
    except ValidationError as e:
        raise _explain(e, f"{origin} or the PROACTIVE_ environment") from e


def defaults_toml() -> str:
    """The default configuration as commented TOML (for `proactive config --defaults`)."""
    lines: list[str] = []

    def emit(model: type[BaseModel], obj: BaseModel, section: str) -> None:
        nested = []
        if section:
            lines.append(f"\n[{section}]")
        for name, field in model.model_fields.items():
            value = getattr(obj, name)
            if isinstance(value, BaseModel):
                nested.append((name, value))
                continue
            if field.description:
                lines.append(f"# {field.description}")
            if value is None:
                lines.append(f"# {name} =")
            else:
                v = str(value) if isinstance(value, Path) else value
                lines.append(f"{name} = {json.dumps(v)}")
        for name, value in nested:
            emit(type(value), value, f"{section}.{name}" if section else name)

    emit(Settings, Settings(), "")
    return "\n".join(lines).lstrip() + "\n"
