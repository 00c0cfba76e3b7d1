"""Scene seeds for the gym (the format of ProactiveBench's ``scenes.yaml``).

A scenes file is a YAML (or JSON) list of ``{"environment": {...}, "user":
{...}}`` objects, or one such object. ``environment`` has ``description``,
``entities``, ``agent_ops`` and ``events_example``; ``user`` has
``description`` (the persona) and ``goal``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge.errors import SourceError

_HINT = "A scene is {environment: {description, ...}, user: {description, goal}}; see scenes.yaml."


@dataclass(frozen=True)
class Scene:
    """One environment plus the user who works in it."""

    name: str
    description: str
    persona: str
    goal: str
    entities: list[str] = field(default_factory=list)
    agent_ops: list[str] = field(default_factory=list)
    events_example: list[str] = field(default_factory=list)


def _scene(obj: Any, name: str) -> Scene:
    if not isinstance(obj, dict) or not isinstance(obj.get("environment"), dict):
        raise SourceError(f"{name}: missing 'environment'.", _HINT)
    env, user = obj["environment"], obj.get("user") or {}
    if not isinstance(user, dict) or not user.get("goal"):
        raise SourceError(f"{name}: missing 'user.goal'.", _HINT)
    if not env.get("description"):
        raise SourceError(f"{name}: missing 'environment.description'.", _HINT)

    def strings(v: Any) -> list[str]:
        return [str(x) for x in v] if isinstance(v, list) else []

    return Scene(
        name=name,
        description=str(env["description"]),
        persona=str(user.get("description", "")),
        goal=str(user["goal"]),
        entities=strings(env.get("entities")),
        agent_ops=strings(env.get("agent_ops")),
        events_example=strings(env.get("events_example")),
    )


def load_scenes(path: Path) -> list[Scene]:
    """Every scene in ``path``. Raises `SourceError` naming the file and the bad scene."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise SourceError(f"Scene file {path} does not exist.", "Check the path.") from e
    except OSError as e:
        raise SourceError(f"Cannot read scene file {path}: {e}", "Check the file.") from e
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise SourceError(f"Scene file {path} cannot be parsed: {e}", _HINT) from e
    items = data if isinstance(data, list) else [data]
    if not items:
        raise SourceError(f"Scene file {path} holds no scene.", _HINT)
    return [_scene(obj, f"{path.stem}_{i}") for i, obj in enumerate(items)]
