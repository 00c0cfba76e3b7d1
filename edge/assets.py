"""Where the shipped model files live.

The project is installed editable, so the repository's ``models/`` folder sits
next to the ``edge`` package. Nothing here downloads anything.
"""

from __future__ import annotations

from pathlib import Path

import edge


def models_dir() -> Path:
    """The repository's ``models/`` folder (ONNX artefacts, tokenizers, model cards)."""
    return Path(edge.__file__).resolve().parent.parent / "models"
