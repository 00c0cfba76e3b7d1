#!/usr/bin/env python
"""Benchmark the memory stream: embedding, inserts, index build, retrieval latency and recall.

    .venv/bin/python scripts/bench_memory.py            # 10k real text, 100k and 1M synthetic
    .venv/bin/python scripts/bench_memory.py --quick    # about a minute: 2k real, 50k synthetic
    .venv/bin/python scripts/bench_memory.py --json     # one JSON object on stdout instead of the table
    .venv/bin/python scripts/bench_memory.py --out bench_memory.json

Each scale runs in its own process so that its peak RSS is its own. Records go
through the real code: `MemoryDB.insert` (SQLite, vectors as blobs), the index
is built by `MemoryStream` from SQLite exactly as after a missing index file,
and `MemoryStream.retrieve` does the FAISS candidate search, the SQLite fetch,
the full recency/importance/relevance rerank and the last_accessed update.

Vectors: the smallest scale embeds real ProactiveBench sentences (events,
tasks, scene texts and compounds of two of them) with the shipped MiniLM
ONNX model. Larger scales are synthetic: a Gaussian mixture whose mean and
covariance are fitted to those real embeddings (so the anisotropy and the
cluster structure resemble real text, unlike uniform random vectors), L2
normalised; the table reports the mean top-1 neighbour cosine of both so the
difficulty can be compared. recall@10 is against exact brute force over the
same vectors.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.clock import SystemClock  # noqa: E402
from edge.config import MemoryIndexSettings, MemorySettings  # noqa: E402
from edge.encoder import OnnxEmbedder  # noqa: E402
from edge.memory.index import FaissIndex, choose_kind  # noqa: E402
from edge.memory.stream import MemoryStream, index_path_for  # noqa: E402
from edge.store import Store  # noqa: E402
from edge.store.memory import MemoryDB, NewMemory  # noqa: E402

DATA = Path(os.environ.get("PROACTIVE_SHARED_DATA", ROOT / "edge" / "data" / "proactivebench"))
DIM = 384
NPROBES = [8, 16, 32, 48, 64, 128]
EF_SEARCH = [128, 256, 384, 512, 768]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs), p)) if xs else float("nan")


# ------------------------------------------------------------------ corpus


def real_sentences() -> list[str]:
    """Unique sentences of the shared ProactiveBench data (events, tasks, scene texts)."""
    out: dict[str, None] = {}
    rows = DATA / "reward_train.jsonl"
    if rows.exists():
        for line in rows.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            for o in r.get("obs", []):
                out[str(o["event"]).strip()] = None
            if r.get("pred_task"):
                out[str(r["pred_task"]).strip()] = None
    for f in sorted(glob.glob(str(DATA / "traces" / "*.json"))) + sorted(
        glob.glob(str(ROOT / "edge" / "data" / "proactivebench" / "traces" / "*.json"))
    ):
        for e in json.loads(Path(f).read_text(encoding="utf-8")).get("events", []):
            out[str(e["event"]).strip()] = None

    def walk(x: Any) -> None:
        if isinstance(x, str):
            if 20 < len(x) < 300:
                out[x.strip()] = None
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for f in sorted(glob.glob(str(DATA / "scenes" / "*.yaml"))):
        walk(yaml.safe_load(Path(f).read_text(encoding="utf-8")))
    return [s for s in out if s]


def corpus(n: int, seed: int) -> list[str]:
    """``n`` distinct activity sentences: the real ones, then compounds of two real ones."""
    base = real_sentences()
    rng = np.random.default_rng(seed)
    out = list(dict.fromkeys(base))[:n]
    seen = set(out)
    while len(out) < n:
        a, b = rng.integers(0, len(base), 2)
        s = f"{base[a].rstrip('.')}, then {base[b][:1].lower()}{base[b][1:]}"
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def synthetic(n: int, real: np.ndarray, seed: int, base_n: int) -> np.ndarray:
    """``n`` unit vectors from a mixture fitted to ``real`` embeddings.

    ``base_n // 10`` centres ~ N(mean, cov) of the real vectors (a diffuse
    cloud with their anisotropy), each point = centre + 0.7 * N(0, cov):
    groups of about ten near-paraphrases, like recurring activity. At 10k this
    matches the real MiniLM vectors' IVF recall curve (nprobe 4..48 of 256
    cells: real 0.81/0.88/0.92/0.95/0.96, synthetic 0.79/0.87/0.92/0.96/0.98).
    Queries use the same ``base_n`` (same centres) and another seed.
    """
    rng = np.random.default_rng(seed)
    mean = real.mean(axis=0)
    cov = np.cov(real - mean, rowvar=False)
    w, v = np.linalg.eigh(cov)
    lmat = (v * np.sqrt(np.maximum(w, 0))).astype(np.float32)
    k = max(1, base_n // 10)
    centres = np.empty((k, DIM), np.float32)
    crng = np.random.default_rng(1234)
    for s in range(0, k, 100_000):
        m = min(100_000, k - s)
        centres[s : s + m] = mean + crng.standard_normal((m, DIM)).astype(np.float32) @ lmat.T
    out = np.empty((n, DIM), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        idx = rng.integers(0, k, m)
        x = centres[idx] + 0.7 * (rng.standard_normal((m, DIM)).astype(np.float32) @ lmat.T)
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k ids (1-based, as stored) by inner product, chunked over ``base``."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    for s in range(0, len(base), 200_000):
        sims = queries @ base[s : s + 200_000].T
        part = np.argpartition(-sims, min(k, sims.shape[1] - 1), axis=1)[:, :k]
        ps = np.take_along_axis(sims, part, axis=1)
        allsc = np.concatenate([best_s, ps], axis=1)
        alli = np.concatenate([best_i, part + s + 1], axis=1)
        top = np.argsort(-allsc, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(allsc, top, axis=1), np.take_along_axis(alli, top, axis=1)
    return best_i


def nn_cosine(vecs: np.ndarray, sample: int = 200) -> float:
    """Mean cosine of a sample of vectors to their nearest other vector (data difficulty)."""
    q = vecs[:: max(1, len(vecs) // sample)][:sample]
    top = exact_topk(vecs, q, 2)
    return float(np.mean([vecs[t[1] - 1] @ qq for t, qq in zip(top, q, strict=True)]))


# ------------------------------------------------------------------ one scale


class _NoEmbed:
    """The stream needs an embedder; the benchmark passes vectors, so this one is never called."""

    name = "minilm-l6-v2"
    dim = DIM

    def embed(self, texts: Any) -> np.ndarray:
        raise AssertionError("not used")


def run_embed(n: int) -> dict[str, Any]:
    texts = corpus(n, seed=7)
    t0 = time.perf_counter()
    emb = OnnxEmbedder()
    load_s = time.perf_counter() - t0
    emb.embed(texts[:32])  # warm-up
    t0 = time.perf_counter()
    emb.embed(texts)
    batch_s = time.perf_counter() - t0
    singles = []
    for t in texts[:100]:
        t1 = time.perf_counter()
        emb.embed([t])
        singles.append((time.perf_counter() - t1) * 1000)
    return {
        "sentences": n,
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "load_s": round(load_s, 2),
        "sentences_per_s": round(n / batch_s, 1),
        "single_p50_ms": round(_pct(singles, 50), 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def run_scale(n: int, kind: str, queries: int, real_path: Path) -> dict[str, Any]:
    res: dict[str, Any] = {"records": n, "vectors": kind}
    if kind == "real":
        texts = corpus(n + queries, seed=11)
        emb = OnnxEmbedder()
        t0 = time.perf_counter()
        allv = emb.embed(texts)
        res["embed_per_s"] = round(len(texts) / (time.perf_counter() - t0), 1)
        vecs, qv = allv[:n], allv[n:]
        np.save(real_path, vecs)
        texts = texts[:n]
    else:
        real = np.load(real_path)
        vecs = synthetic(n, real, seed=n, base_n=n)
        qv = synthetic(queries, real, seed=n + 1, base_n=n)
        texts = [f"synthetic record {i}" for i in range(n)]
    res["nn_cosine"] = round(nn_cosine(vecs), 3)

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.db")
        mdb = MemoryDB(store)
        rng = np.random.default_rng(0)
        now = time.time()
        ages = rng.exponential(24 * 30, n) * 3600
        imps = rng.integers(1, 11, n)
        t0 = time.perf_counter()
        for s in range(0, n, 5000):
            recs = [
                NewMemory("observation", texts[i], now - float(ages[i]), int(imps[i]), desktop="bench")
                for i in range(s, min(n, s + 5000))
            ]
            mdb.insert(recs, vecs[s : s + len(recs)])
        res["insert_bulk_per_s"] = round(n / (time.perf_counter() - t0))

        settings = MemorySettings(recent_pool=20)
        t0 = time.perf_counter()
        stream = MemoryStream(store, _NoEmbed(), settings, SystemClock(), index_path=index_path_for(store))
        res["open_s"] = round(time.perf_counter() - t0, 2)
        res["build_s"] = round(stream.index_status.seconds, 2)
        res["index"] = stream.index.kind
        if stream.index.kind == "ivf_flat":
            res["params"] = f"nlist {stream.index.nlist}, nprobe {settings.index.ivf_nprobe}"
        elif stream.index.kind == "hnsw":
            res["params"] = f"M {settings.index.hnsw_m}, efSearch {settings.index.hnsw_ef_search}"
        res["index_mb"] = round(stream.index_path.stat().st_size / 1e6, 1)  # type: ignore[union-attr]
        res["db_mb"] = round((Path(tmp) / "bench.db").stat().st_size / 1e6, 1)
        t0 = time.perf_counter()
        MemoryStream(store, _NoEmbed(), settings, SystemClock(), index_path=index_path_for(store))
        res["reopen_s"] = round(time.perf_counter() - t0, 2)

        exact = exact_topk(vecs, qv, 10)

        def measure(k: int = settings.candidate_pool) -> tuple[list[float], float]:
            lat, hits = [], 0
            for i, q in enumerate(qv):
                t1 = time.perf_counter()
                _, ids = stream.index.search(q[None, :], k)
                lat.append((time.perf_counter() - t1) * 1000)
                hits += len(set(ids[0][:10].tolist()) & set(exact[i].tolist()))
            return lat, hits / (10 * len(qv))

        lat, rec = measure()
        res["search_p50_ms"] = round(_pct(lat, 50), 3)
        res["search_p99_ms"] = round(_pct(lat, 99), 3)
        res["recall_at_10"] = round(rec, 4)
        if stream.index.kind in ("ivf_flat", "hnsw"):  # the knob, with k = 10 so that efSearch matters
            sweep = {}
            for p in NPROBES if stream.index.kind == "ivf_flat" else EF_SEARCH:
                stream.index.set_search_params(nprobe=p, ef_search=p)
                lat_p, rec_p = measure(10)
                sweep[str(p)] = {"p50_ms": round(_pct(lat_p, 50), 3), "recall_at_10": round(rec_p, 4)}
            stream.index.set_search_params(
                nprobe=settings.index.ivf_nprobe, ef_search=settings.index.hnsw_ef_search
            )
            res["sweep"] = {"knob": "nprobe" if stream.index.kind == "ivf_flat" else "efSearch", **sweep}

        ivf_settings = MemoryIndexSettings(type="ivf_flat")
        if kind == "real" and choose_kind(ivf_settings, n) != "ivf_flat":
            res["ivf_on_real"] = {"skipped": f"{n} vectors are too few to train an IVF index"}
        elif kind == "real":  # the same real vectors in an IVF index: how recall behaves on real text
            ivf = FaissIndex.build(ivf_settings, DIM, np.arange(1, n + 1), vecs)
            sweep = {}
            for p in NPROBES:
                ivf.set_search_params(nprobe=p)
                _, got = ivf.search(qv, 10)
                hits = sum(len(set(g.tolist()) & set(e.tolist())) for g, e in zip(got, exact, strict=True))
                sweep[str(p)] = {"recall_at_10": round(hits / (10 * len(qv)), 4)}
            res["ivf_on_real"] = {"nlist": ivf.nlist, "sweep": sweep}

        lat = []
        for q in qv:
            t1 = time.perf_counter()
            stream.retrieve(q, k=10)
            lat.append((time.perf_counter() - t1) * 1000)
        res["retrieve_p50_ms"] = round(_pct(lat, 50), 3)
        res["retrieve_p99_ms"] = round(_pct(lat, 99), 3)

        lat = []
        extra = synthetic(300, vecs[:5000], seed=99, base_n=5000)
        for j, v in enumerate(extra):
            t1 = time.perf_counter()
            stream.add([NewMemory("observation", f"new record {j}", now, 3)], vectors=v[None, :])
            lat.append((time.perf_counter() - t1) * 1000)
        res["insert_one_p50_ms"] = round(_pct(lat, 50), 3)
        res["insert_one_p99_ms"] = round(_pct(lat, 99), 3)
        store.close()
    res["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return res


# ------------------------------------------------------------------ driver


def child(args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if out.returncode != 0:
        raise SystemExit(f"benchmark step {args} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def table(result: dict[str, Any]) -> str:
    e = result["embedding"]
    lines = [
        f"machine: {result['machine']}",
        f"embedding (MiniLM int8 ONNX, batch 32): {e['sentences_per_s']} sentences/s over {e['sentences']} "
        f"(mean {e['mean_chars']} chars); one sentence p50 {e['single_p50_ms']} ms; load {e['load_s']} s",
        "",
        f"{'records':>9} {'vectors':>9} {'index':>8} {'build s':>8} {'index MB':>9} {'insert/s':>9} "
        f"{'ins1 p50':>9} {'search p50':>10} {'p99':>7} {'recall@10':>9} {'retrieve p50':>12} {'p99':>7} "
        f"{'RSS MB':>7} {'nn cos':>6}",
    ]
    for r in result["scales"]:
        lines.append(
            f"{r['records']:>9} {r['vectors']:>9} {r['index']:>8} {r['build_s']:>8} {r['index_mb']:>9} "
            f"{r['insert_bulk_per_s']:>9} {r['insert_one_p50_ms']:>9} {r['search_p50_ms']:>10} "
            f"{r['search_p99_ms']:>7} {r['recall_at_10']:>9} {r['retrieve_p50_ms']:>12} "
            f"{r['retrieve_p99_ms']:>7} {r['peak_rss_mb']:>7} {r['nn_cosine']:>6}"
        )
    for r in result["scales"]:
        if "sweep" in r:
            sw = dict(r["sweep"])
            knob = sw.pop("knob")
            pts = ", ".join(f"{p}: {v['recall_at_10']:.3f}/{v['p50_ms']:.2f}ms" for p, v in sw.items())
            lines.append(f"{knob} sweep at {r['records']} ({r['params']}; k=10, recall/p50): {pts}")
    for r in result["scales"]:
        if "skipped" in r.get("ivf_on_real", {}):
            lines.append(f"real text in IVF at {r['records']}: skipped ({r['ivf_on_real']['skipped']})")
        elif "ivf_on_real" in r:
            sweep = ", ".join(f"{p}: {v['recall_at_10']:.3f}" for p, v in r["ivf_on_real"]["sweep"].items())
            lines.append(
                f"real text in IVF at {r['records']} "
                f"(nlist {r['ivf_on_real']['nlist']}; nprobe: recall): {sweep}"
            )
    lines.append(
        "search = FAISS candidate pool (k=100) for one query; recall@10 = its first 10 against exact "
        "brute force; retrieve = search + SQLite fetch + full rerank + last_accessed update; "
        "ins1 = one record (SQLite + index) in ms; build = index from SQLite vectors."
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="Small sizes, about a minute.")
    ap.add_argument("--json", action="store_true", help="Print one JSON object instead of the table.")
    ap.add_argument("--out", type=Path, default=None, help="Also write the JSON result here.")
    ap.add_argument("--scales", default=None, help="Comma-separated record counts (first one is real text).")
    ap.add_argument("--queries", type=int, default=None, help="Queries per scale.")
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child is not None:
        if a.child[0] == "embed":
            print(json.dumps(run_embed(int(a.child[1]))))
        else:
            print(json.dumps(run_scale(int(a.child[1]), a.child[0], int(a.child[2]), Path(a.child[3]))))
        return
    scales = (
        [int(x) for x in a.scales.split(",")]
        if a.scales
        else ([2000, 50_000] if a.quick else [10_000, 100_000, 1_000_000])
    )
    queries = a.queries or (100 if a.quick else 200)
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "quick": a.quick,
        "embedding": child(["embed", "512" if a.quick else "2048"], 600),
        "scales": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        real_path = Path(tmp) / "real.npy"
        for i, n in enumerate(scales):
            kind = "real" if i == 0 else "synthetic"
            result["scales"].append(child([kind, str(n), str(queries), str(real_path)], 7200))
            if not a.json:
                print(f"... {n} records done ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    if a.out:
        a.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if a.json:
        print(json.dumps(result))
    else:
        print(table(result))
        print(f"({result['seconds']} s)")


if __name__ == "__main__":
    main()
