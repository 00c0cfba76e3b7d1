from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import Settings, data_dir, defaults_toml, load_settings
from edge.errors import ConfigError


def test_defaults_without_any_file(tmp_path: Path) -> None:
    s = load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert s.llm.backend == "llama_cpp"
    assert s.llm.model_path is None
    assert s.activitywatch.port == 5600


def test_toml_then_env_then_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('desktop = "den"\n[llm]\nthreads = 3\nmax_tokens = 99\n[agent]\nwindow = 5\n')
    env = {"PROACTIVE_LLM__THREADS": "7", "PROACTIVE_PRIVACY__EXCLUDE_APPS": '["Signal"]'}
    s = load_settings(f, overrides={"agent": {"window": 4}}, env=env)
    assert s.desktop == "den"
    assert s.llm.threads == 7  # env beats file
    assert s.llm.max_tokens == 99  # file beats default
    assert s.agent.window == 4  # typed flag beats everything
    assert s.privacy.exclude_apps == ["Signal"]


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[llm]\nthreds = 3\n")
    with pytest.raises(ConfigError, match=r"llm\.threds"):
        load_settings(f, env={})


def test_unknown_env_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"agent\.windw"):
        load_settings(env={"PROACTIVE_AGENT__WINDW": "3", "XDG_CONFIG_HOME": "/nonexistent"})


def test_bad_value_and_bad_toml(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[llm]\nthreads = -1\n")
    with pytest.raises(ConfigError, match=r"llm\.threads"):
        load_settings(f, env={})
    f.write_text("[llm\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(f, env={})


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


def test_default_path_is_xdg_and_may_be_absent(tmp_path: Path) -> None:
    cfg = tmp_path / "proactive-edge" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text('desktop = "from-xdg"\n')
    assert load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)}).desktop == "from-xdg"


def test_data_dir_precedence(tmp_path: Path) -> None:
    assert data_dir({"PROACTIVE_HOME": str(tmp_path / "h")}) == tmp_path / "h"
    assert data_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "proactive-edge"


def test_defaults_toml_round_trips(tmp_path: Path) -> None:
    f = tmp_path / "d.toml"
    f.write_text(defaults_toml())
    s = load_settings(f, env={})
    assert s.model_dump(exclude={"desktop"}) == Settings().model_dump(exclude={"desktop"})
