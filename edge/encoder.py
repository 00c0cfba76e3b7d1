"""The shared text encoder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime + ``tokenizers``.

One instance per process is shared by the memory, the reward gate, the trigger
and the feedback's task similarity.

No torch at run time. The shipped graph (``models/minilm/model.onnx``, made by
``models/export_minilm.py``) does mean pooling and L2 normalisation itself, so
``embed`` returns unit vectors; they are re-normalised here anyway so that a
plain (unpooled) export cannot silently break the contract.

The int8 graph quantizes activations dynamically per batch, so one text's
vector depends slightly on its batch-mates (cosine > 0.98 to the same text
embedded alone); the same batch always gives the same vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from edge.assets import models_dir
from edge.errors import ModelError

DIM = 384
MAX_TOKENS = 256


def default_model_dir() -> Path:
    return models_dir() / "minilm"


class OnnxEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime.

    ``model_dir`` holds ``model.onnx`` and ``tokenizer.json`` (default: the
    shipped ``models/minilm``). Raises `ModelError` when a file is missing or
    unreadable, or when the model returns vectors of an unexpected shape.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        threads: int = 2,
        batch_size: int = 32,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        model = self.model_dir / "model.onnx"
        tok = self.model_dir / "tokenizer.json"
        for f in (model, tok):
            if not f.is_file():
                raise ModelError(
                    f"Embedding model file {f} is missing.",
                    "Run `python models/export_minilm.py` (needs the `train` extra) or reinstall.",
                )
        try:
            self._tok = Tokenizer.from_file(str(tok))
        except Exception as e:  # tokenizers raises a bare Exception on bad JSON
            raise ModelError(f"Cannot read tokenizer {tok}: {e}", "Re-export the model.") from e
        self._tok.enable_truncation(max_tokens)
        self._tok.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(f"Cannot load embedding model {model}: {e}", "Re-export the model.") from e
        self._inputs = {i.name for i in self._sess.get_inputs()}
        self.dim = DIM
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of strings, not one string")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Sort by length so each batch pads little; restore the order afterwards.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._run([texts[i] for i in idx])
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        enc = self._tok.encode_batch(texts)
        feed: dict[str, Any] = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
        }
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        vec = np.asarray(self._sess.run(None, feed)[0], dtype=np.float32)
        if vec.shape != (len(texts), self.dim):
            raise ModelError(
                f"Embedding model returned shape {vec.shape}, expected ({len(texts)}, {self.dim}).",
                "Re-export it with models/export_minilm.py.",
            )
        norms = np.linalg.norm(vec, axis=1, keepdims=True)
        return vec / np.maximum(norms, 1e-12)
