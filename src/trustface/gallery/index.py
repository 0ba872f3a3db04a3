"""The in-memory 1:N search index of one gallery (site x purpose x mode), over protected templates.

* Up to :data:`EXACT_LIMIT` templates: exact search, faiss ``IndexIDMap2(IndexFlatL2)``.
* Above it: two stages. A 4-bit product-quantisation fast-scan index (faiss ``PQ64x4fs``: 32 bytes
  per template, scanned with SIMD table lookups) proposes the :data:`RERANK` nearest candidates;
  their full vectors, kept in an exact ``IndexIDMap2(IndexFlatL2)``, give the exact distances that
  are returned. The quantiser is trained at build time on a sample of the gallery itself (about a
  second at 1M). Recall@1 against exact search and the latency are measured by
  ``trustface bench gallery`` (docs/gallery.md): at 1M, p50 ~3.5 ms with recall@1 1.0.

Both stages really delete on ``remove`` (faiss compacts the flat array and the fast-scan codes),
so an erased template does not linger in memory. The index is never written to disk: it is
rebuilt from the encrypted store at start-up (docs/gallery.md has the timing), so there is no
index file that could keep an erased subject's vector.

Faiss was chosen over usearch by measurement (docs/gallery.md): faster exact search, a
really-deleting ``remove_ids``, and a build that fits the 60 s start-up budget at 1M on two cores,
where HNSW graph construction (faiss or usearch) does not. An IVF index (measured first) could not
reach 99.9% recall@1 under 5 ms on the realistic filler: the descriptors fill their space too
evenly for a coarse partition; PQ fast-scan looks at every template instead.
"""

from __future__ import annotations

import threading
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

DIM = 128
#: largest gallery searched exactly (docs/gallery.md: 100k exact p50 measured on 2 cores)
EXACT_LIMIT = 100_000
#: candidates the fast-scan stage proposes for exact re-ranking (recall@1 vs exact in docs/gallery.md)
RERANK = 128
#: the fast-scan code: 64 sub-quantisers of 4 bits (2 dimensions each), 32 bytes per template
PQ_SPEC = "PQ64x4fs"
#: sample of the gallery used to train the product quantiser
TRAIN_SAMPLE = 100_000
MIN_TRAIN = 1024


#: OpenMP threads for one query: a single query gains nothing from a second thread and loses ~2x to
#: thread wake-ups on a busy 2-core machine (measured: 100k exact 5.7 ms with 1 thread, 11.6 with 2)
SEARCH_THREADS = 1
_BUILD_THREADS = faiss.omp_get_max_threads()

RowIds = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]


class VectorIndex:
    """Template vectors (float32, 128) keyed by int64 row ids, with the subject of each id."""

    def __init__(self, *, exact_limit: int = EXACT_LIMIT, rerank: int = RERANK) -> None:
        self.exact_limit = exact_limit
        self.rerank = rerank
        self.lock = threading.RLock()
        self._index = faiss.IndexIDMap2(faiss.IndexFlatL2(DIM))   # full vectors: exact distances
        self._coarse: Any = None                                    # fast-scan candidates when approximate
        self.approximate = False
        self._ids = np.zeros(0, dtype=np.int64)      # sorted row ids
        self._subj = np.zeros(0, dtype=np.int32)     # subject number of each id
        self._subjects: list[str] = []               # subject number -> subject id
        self._subject_no: dict[str, int] = {}

    # --- building ------------------------------------------------------------------------------
    @classmethod
    def build(cls, ids: npt.ArrayLike, vectors: npt.ArrayLike, subjects: list[str], *,
              exact_limit: int = EXACT_LIMIT, rerank: int = RERANK, approximate: bool | None = None) -> "VectorIndex":
        """A new index over ``vectors`` (N, 128) with row ``ids`` (N,) and ``subjects`` (N subject ids)."""
        self = cls(exact_limit=exact_limit, rerank=rerank)
        row_ids = np.ascontiguousarray(ids, dtype=np.int64)
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if approximate is None:
            approximate = len(row_ids) > exact_limit
        if approximate and len(row_ids):
            self._coarse = faiss.IndexIDMap2(self._fast_scan(matrix))
            self.approximate = True
        self._add(row_ids, matrix, subjects)
        return self

    @staticmethod
    def _fast_scan(vectors: Vectors) -> Any:
        index = faiss.index_factory(DIM, PQ_SPEC)
        rng = np.random.default_rng(0)
        train = vectors[rng.choice(len(vectors), TRAIN_SAMPLE, replace=False)] if len(vectors) > TRAIN_SAMPLE \
            else vectors
        if len(train) < MIN_TRAIN:
            # k-means needs >= 16 points per sub-quantiser: pad a tiny gallery with jittered copies (the
            # quantiser hardly matters there: a gallery of <= RERANK templates is re-ranked whole)
            copies = np.repeat(train, -(-MIN_TRAIN // len(train)), axis=0)
            train = copies + rng.normal(0, 1e-3, copies.shape).astype(np.float32)
        faiss.omp_set_num_threads(_BUILD_THREADS)
        try:
            index.train(np.ascontiguousarray(train))
        finally:
            faiss.omp_set_num_threads(SEARCH_THREADS)
        return index

    def _add(self, ids: RowIds, vectors: Vectors, subjects: list[str]) -> None:
        if not len(ids):
            return
        numbers = np.empty(len(ids), dtype=np.int32)
        for i, s in enumerate(subjects):
            n = self._subject_no.get(s)
            if n is None:
                n = self._subject_no[s] = len(self._subjects)
                self._subjects.append(s)
            numbers[i] = n
        faiss.omp_set_num_threads(_BUILD_THREADS)
        try:
            self._index.add_with_ids(vectors, ids)
            if self._coarse is not None:
                self._coarse.add_with_ids(vectors, ids)
        finally:
            faiss.omp_set_num_threads(SEARCH_THREADS)
        all_ids = np.concatenate([self._ids, ids])
        all_subj = np.concatenate([self._subj, numbers])
        order = np.argsort(all_ids, kind="stable")
        self._ids, self._subj = all_ids[order], all_subj[order]

    # --- keeping in step -----------------------------------------------------------------------
    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, subjects: list[str]) -> None:
        """Add (or replace) vectors (n, 128) with row ``ids`` (n,) and the subject of each."""
        with self.lock:
            row_ids = np.ascontiguousarray(ids, dtype=np.int64)
            keep = ~np.isin(row_ids, self._ids)
            if not keep.all():
                self.remove(row_ids[~keep])
            self._add(row_ids, np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, DIM), list(subjects))

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove the vectors of row ``ids``; returns how many were there."""
        with self.lock:
            row_ids = np.ascontiguousarray(ids, dtype=np.int64)
            if not len(row_ids):
                return 0
            removed = int(self._index.remove_ids(faiss.IDSelectorBatch(row_ids)))
            if self._coarse is not None:
                self._coarse.remove_ids(faiss.IDSelectorBatch(row_ids))
            keep = ~np.isin(self._ids, row_ids)
            self._ids, self._subj = self._ids[keep], self._subj[keep]
            return removed

    # --- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def ids(self) -> RowIds:
        return self._ids

    def subject_of(self, ids: RowIds) -> list[str | None]:
        pos = np.searchsorted(self._ids, ids)
        out: list[str | None] = []
        for p, i in zip(pos, ids, strict=False):
            out.append(self._subjects[self._subj[p]] if p < len(self._ids) and self._ids[p] == i else None)
        return out

    def search(self, probe: npt.ArrayLike, k: int) -> tuple[Vectors, RowIds]:
        """(Euclidean distances, row ids) of the ``k`` nearest templates, nearest first."""
        with self.lock:
            if len(self) == 0:
                return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
            k = min(k, len(self))
            faiss.omp_set_num_threads(SEARCH_THREADS)
            query = np.ascontiguousarray(probe, dtype=np.float32).reshape(1, DIM)
            if self._coarse is None:
                d2, ids = self._index.search(query, k)
                ok = ids[0] >= 0
                return np.sqrt(np.maximum(d2[0][ok], 0.0)), ids[0][ok]
            _, found = self._coarse.search(query, min(len(self), max(self.rerank, 4 * k)))
            candidates = found[0][found[0] >= 0]
            full = self._index.reconstruct_batch(candidates)
        d2 = np.sum((full - query) ** 2, axis=1)
        order = np.argsort(d2, kind="stable")[:k]
        return np.sqrt(np.maximum(d2[order], 0.0)), candidates[order]

    def vectors(self) -> Vectors:
        """The stored vectors in id order (rotation tests and re-indexing only)."""
        with self.lock:
            return np.stack([self._index.reconstruct(int(i)) for i in self._ids]) if len(self._ids) else \
                np.zeros((0, DIM), dtype=np.float32)
