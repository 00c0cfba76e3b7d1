"""What a wheel carries: every package of the source tree, and the model files the runtime loads.

The wheel itself is built, installed into a fresh venv and run (`proactive demo`,
offline, outside the checkout) by scripts/check_wheel.sh, which scripts/test.sh
runs before pytest: building needs setuptools from the package index, and no
test downloads anything. These tests guard the hand-written lists in
pyproject.toml that the wheel is made from.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

from edge import assets, encoder, reward
from edge.trigger import model as trigger_model

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _folder(package: str) -> Path:
    """The source folder of a listed package, through ``package-dir`` as setuptools maps it."""
    mapped = SETUPTOOLS.get("package-dir", {})
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        head = ".".join(parts[:i])
        if head in mapped:
            return ROOT / mapped[head] / Path(*parts[i:])
    return ROOT / Path(*parts)


def test_every_package_of_the_tree_is_in_the_wheel() -> None:
    """A subpackage of edge/ or tui/ missing from ``[tool.setuptools] packages`` would be left out."""
    listed = set(SETUPTOOLS["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("edge", "tui")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    for package in listed:
        assert (_folder(package) / "__init__.py").is_file(), package


def test_the_models_the_runtime_loads_are_package_data() -> None:
    """The reward head, the trigger and the encoder's two files are shipped, and exist here."""
    shipped = set(SETUPTOOLS["package-data"][assets.MODELS_PACKAGE])
    base = assets.models_dir()
    loaded = {
        reward.default_model_path(),
        trigger_model.default_model_path(),
        encoder.default_model_dir() / "model.onnx",
        encoder.default_model_dir() / "tokenizer.json",
    }
    assert {p.relative_to(base).as_posix() for p in loaded} == shipped
    for name in shipped:
        assert (_folder(assets.MODELS_PACKAGE) / name).is_file(), name


def test_models_dir_is_the_installed_package() -> None:
    """The editable install maps ``edge._models`` to the checkout's models/ (scripts/setup.sh installs it)."""
    spec = importlib.util.find_spec(assets.MODELS_PACKAGE)
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).resolve() == (ROOT / "models" / "__init__.py").resolve()
    assert assets.models_dir().resolve() == (ROOT / "models").resolve()


def test_models_dir_falls_back_to_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``edge._models`` (a checkout on sys.path, an old editable install): models/ beside edge/."""

    def not_installed(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(assets.resources, "files", not_installed)
    assert assets.models_dir() == (ROOT / "models").resolve()
