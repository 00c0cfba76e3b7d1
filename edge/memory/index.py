"""The vector index: FAISS over the memory records, ids = ``memories.id``.

SQLite is the source of truth (vectors are kept there as float32 blobs); the
index is a cache that lives in a file beside the database and is rebuilt from
SQLite whenever it is missing, unreadable, of the wrong shape, or holds a
different set of ids (see `edge.memory.stream.MemoryStream.open_index`).

Index types (``memory.index.type``):

- ``flat``: exact inner product (``IndexIDMap2(IndexFlatIP)``); fine up to
  some tens of thousands of records.
- ``hnsw`` : ``IndexIDMap2(IndexHNSWFlat)``: sub-millisecond queries with
  recall@10 >= 0.95 at 1M records on text-like vectors; builds in minutes at
  1M, grows by plain ``add``, cannot remove (``forget`` rebuilds it).
- ``ivf_flat``: ``IndexIVFFlat`` with inner product, ``nlist`` about
  4*sqrt(n), ``nprobe`` cells scanned per query. Trains and builds fast and
  supports removal, but on MiniLM-like vectors (a diffuse cloud, not clean
  clusters) its recall at 1M stays far below 0.95 at useful nprobe
  (scripts/bench_memory.py); kept as an option for memory-tight machines.
- ``auto`` (default): flat up to ``flat_max_records``, then hnsw.

Single queries run on one FAISS thread: on two busy cores OpenMP fan-out made
a 1-query search slower, not faster. Builds use ``threads`` (all cores).

All vectors are L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np

from edge.config import MemoryIndexSettings
from edge.errors import StoreError

META_VERSION = 1


class VectorIndex(Protocol):
    """Nearest-neighbour search over (id, vector) pairs by inner product.

    ``search`` takes a (n, dim) float32 array and returns (scores, ids), both
    (n, k), ids -1 where fewer than k vectors exist. ``remove`` raises
    `NotImplementedError` when the structure cannot delete (callers rebuild).
    """

    kind: str
    dim: int

    @property
    def ntotal(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def ids(self) -> np.ndarray: ...


def choose_kind(settings: MemoryIndexSettings, n: int) -> str:
    """The index type to build for ``n`` records."""
    if settings.type == "ivf_flat" and n < 39 * 64:
        return "flat"  # too few vectors to train even the smallest IVF
    if settings.type != "auto":
        return settings.type
    return "flat" if n <= settings.flat_max_records else "hnsw"


def choose_nlist(settings: MemoryIndexSettings, n: int) -> int:
    """IVF cells for ``n`` records: the setting, or a power of two near 4*sqrt(n) in [64, 16384]."""
    if settings.ivf_nlist:
        return settings.ivf_nlist
    target = 4 * math.sqrt(max(n, 1))
    nlist = 2 ** round(math.log2(max(target, 1)))
    # At least ~39 training points per cell, as FAISS recommends.
    while nlist > 64 and n < 39 * nlist:
        nlist //= 2
    return int(min(max(nlist, 64), 16384))


class FaissIndex:
    """A FAISS index with the bookkeeping needed to persist and rebuild it.

    ``trained_at`` is the record count the index was built (and, for IVF,
    trained) for; `wants_rebuild` compares it with the current count.
    """

    def __init__(self, index: Any, kind: str, dim: int, trained_at: int, nprobe: int = 0) -> None:
        self.index = index
        self.kind = kind
        self.dim = dim
        self.trained_at = trained_at
        self.threads = os.cpu_count() or 1
        self.set_search_params(nprobe=nprobe)

    # ------------------------------------------------------------ building

    @classmethod
    def create(
        cls, settings: MemoryIndexSettings, dim: int, n: int, train: np.ndarray | None = None
    ) -> FaissIndex:
        """An empty index of the type ``settings`` choose for ``n`` records.

        IVF needs ``train`` (a sample of the vectors, at least ``nlist`` rows).
        """
        threads = settings.threads or os.cpu_count() or 1
        faiss.omp_set_num_threads(threads)
        kind = choose_kind(settings, n)
        index: Any
        if kind == "flat":
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = settings.hnsw_ef_construction
            index = faiss.IndexIDMap2(hnsw)
        elif kind == "ivf_flat":
            nlist = choose_nlist(settings, n)
            if train is None or len(train) < nlist:
                raise StoreError(
                    f"An IVF index with {nlist} cells needs at least {nlist} training vectors.",
                    "Use memory.index.type = 'auto' or 'flat' for a small memory.",
                )
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.niter = 10
            index.cp.max_points_per_centroid = 64
            index.cp.spherical = True
            index.train(_f32(train))
        else:  # pragma: no cover - guarded by the settings Literal
            raise StoreError(f"Unknown index type {kind!r}.", "Use auto, flat, ivf_flat or hnsw.")
        out = cls(index, kind, dim, trained_at=n, nprobe=settings.ivf_nprobe)
        out.threads = threads
        out.set_search_params(ef_search=settings.hnsw_ef_search)
        return out

    @classmethod
    def build(
        cls, settings: MemoryIndexSettings, dim: int, ids: np.ndarray, vectors: np.ndarray
    ) -> FaissIndex:
        """A new index of the configured type holding ``vectors`` under ``ids``."""
        n = len(ids)
        train = None
        if choose_kind(settings, n) == "ivf_flat":
            step = max(1, n // (40 * choose_nlist(settings, n)))
            train = vectors[::step]
        out = cls.create(settings, dim, n, train)
        out.add(ids, vectors)
        return out

    def set_search_params(self, nprobe: int = 0, ef_search: int = 0) -> None:
        """Tune recall against latency (IVF ``nprobe``, HNSW ``efSearch``)."""
        if self.kind == "ivf_flat" and nprobe:
            self.index.nprobe = nprobe
        if self.kind == "hnsw" and ef_search:
            inner: Any = faiss.downcast_index(self.index.index)
            inner.hnsw.efSearch = ef_search

    def wants_rebuild(self, settings: MemoryIndexSettings, n: int) -> bool:
        """True when ``n`` records call for another type or a retrained IVF."""
        if choose_kind(settings, n) != self.kind:
            return True
        return self.kind == "ivf_flat" and n > settings.retrain_growth * max(self.trained_at, 1)

    # ------------------------------------------------------------ operations

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def nlist(self) -> int:
        """IVF cells (0 for the other types)."""
        return int(self.index.nlist) if self.kind == "ivf_flat" else 0

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        faiss.omp_set_num_threads(self.threads)
        vecs = _f32(vectors)
        if vecs.shape[1] != self.dim:
            raise StoreError(
                f"Vector dimension {vecs.shape[1]} does not match the index ({self.dim}).",
                "The embedder changed; run `proactive memory stats` to rebuild the index.",
            )
        self.index.add_with_ids(vecs, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        if self.kind == "hnsw":
            raise NotImplementedError("HNSW cannot remove vectors; rebuild instead")
        if len(ids):
            self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _f32(np.atleast_2d(queries))
        faiss.omp_set_num_threads(1 if q.shape[0] == 1 else self.threads)
        if self.ntotal == 0:
            n = q.shape[0]
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        scores, ids = self.index.search(q, min(k, self.ntotal))
        return scores, ids

    def ids(self) -> np.ndarray:
        """Every id held, in no particular order."""
        if self.kind in ("flat", "hnsw"):
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        invlists = self.index.invlists
        parts = []
        for lst in range(self.nlist):
            size = invlists.list_size(lst)
            if size:
                ptr = invlists.get_ids(lst)
                parts.append(faiss.rev_swig_ptr(ptr, size).copy())
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    # ------------------------------------------------------------ files

    def save(self, path: Path) -> int:
        """Write the index and its ``.json`` sidecar atomically; return the file size in bytes."""
        tmp = path.with_name(path.name + ".tmp")
        meta = {
            "version": META_VERSION,
            "kind": self.kind,
            "dim": self.dim,
            "trained_at": self.trained_at,
            "ntotal": self.ntotal,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            faiss.write_index(self.index, str(tmp))
            os.replace(tmp, path)
            meta_path(path).write_text(json.dumps(meta), encoding="utf-8")
            return path.stat().st_size
        except (OSError, RuntimeError) as e:
            raise StoreError(
                f"Cannot write the vector index {path}: {e}", "Check free disk space and permissions."
            ) from e

    @classmethod
    def load(cls, path: Path, settings: MemoryIndexSettings) -> FaissIndex:
        """Read an index written by `save`. Raises `StoreError` when missing or unreadable."""
        try:
            meta = json.loads(meta_path(path).read_text(encoding="utf-8"))
            index = faiss.read_index(str(path))
            kind, dim = str(meta["kind"]), int(meta["dim"])
            if meta.get("version") != META_VERSION or index.d != dim or index.ntotal != meta["ntotal"]:
                raise ValueError("index file and sidecar disagree")
        except (OSError, RuntimeError, ValueError, KeyError, TypeError) as e:
            raise StoreError(
                f"The vector index {path} is missing or unreadable: {e}", "It is rebuilt."
            ) from e
        out = cls(index, kind, dim, int(meta["trained_at"]), nprobe=settings.ivf_nprobe)
        out.threads = settings.threads or out.threads
        if kind == "hnsw":
            out.set_search_params(ef_search=settings.hnsw_ef_search)
        return out


def meta_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".json")


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)
