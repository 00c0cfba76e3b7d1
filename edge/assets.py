"""Where the shipped model files live.

The repository's ``models/`` folder is installed as the package ``edge._models``
(``[tool.setuptools.package-dir]`` in pyproject.toml): from a wheel (pip, pipx)
it is ``site-packages/edge/_models``; in an editable install setuptools' finder
maps the same name to the checkout's ``models/``. Nothing here downloads anything.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import edge

MODELS_PACKAGE = "edge._models"


def models_dir() -> Path:
    """The folder of the shipped models (ONNX artefacts, tokenizer, ``trigger.json``).

    The installed package ``edge._models``; a checkout put on ``sys.path`` without
    being installed (or installed editable before ``edge._models`` existed: re-run
    ``scripts/setup.sh``) falls back to the ``models/`` folder beside ``edge/``.
    The folder is not checked here: the loaders name a missing file with a hint.
    """
    try:
        return Path(str(resources.files(MODELS_PACKAGE)))
    except ModuleNotFoundError:
        return Path(edge.__file__).resolve().parent.parent / "models"
