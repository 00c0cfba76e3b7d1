from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.config import PrivacySettings, Settings, data_dir, defaults_toml, load_settings
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


@pytest.mark.parametrize(
    ("where", "patterns"),
    [("file", ["(?i)bank", "(unclosed"]), ("env", ["[a-"]), ("flag", ["*x"])],
)
def test_a_privacy_pattern_that_is_not_a_regex_names_the_key_and_the_error(
    tmp_path: Path, where: str, patterns: list[str]
) -> None:
    f = tmp_path / "c.toml"
    env: dict[str, str] = {}
    overrides: dict[str, object] = {}
    if where == "file":
        f.write_text(f"[privacy]\nexclude_title_patterns = {json.dumps(patterns)}\n")
    elif where == "env":
        env["PROACTIVE_PRIVACY__EXCLUDE_TITLE_PATTERNS"] = json.dumps(patterns)
    else:
        overrides["privacy"] = {"exclude_title_patterns": patterns}
    with pytest.raises(ConfigError) as err:
        load_settings(f if where == "file" else None, overrides=overrides, env=env)
    msg = err.value.msg
    assert "privacy.exclude_title_patterns" in msg and "not a valid regular expression" in msg
    assert repr(patterns[-1]) in msg and f"pattern {len(patterns) - 1}" in msg
    with pytest.raises(ValueError):  # validated on assignment as well
        PrivacySettings().exclude_title_patterns = patterns


def test_activitywatch_lookback_and_timeout_are_settings(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[activitywatch]\nlookback_s = 3600\ntimeout_s = 2.5\n")
    aw = load_settings(f, env={}).activitywatch
    assert (aw.lookback_s, aw.timeout_s) == (3600, 2.5)
    assert (Settings().activitywatch.lookback_s, Settings().activitywatch.timeout_s) == (600, 5)
    for bad in ("timeout_s = 0", "lookback_s = -1", 'timeout_s = "soon"'):
        f.write_text(f"[activitywatch]\n{bad}\n")
        with pytest.raises(ConfigError, match=r"activitywatch\." + bad.split()[0]):
            load_settings(f, env={})
    text = defaults_toml()
    assert "lookback_s = 600.0" in text and "timeout_s = 5.0" in text
    assert "first read takes" in text and "frozen server" in text
