"""The gallery benchmark (``trustface bench gallery``): enrolment, rebuild, 1:N search, open-set
identification on LFW. Figures and method: docs/gallery.md, docs/benchmarks.md."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from trustface.bench.parallel import map_chunks

CACHE_NAME = "lfw_people2_descriptors.npz"


def lfw_people(lfw_dir: Path, min_images: int = 2) -> list[tuple[str, list[str]]]:
    """(name, [image paths]) for LFW people with at least ``min_images`` images, sorted by name."""
    out = []
    for person in sorted(p for p in (Path(lfw_dir) / "images").iterdir() if p.is_dir()):
        files = sorted(str(f) for f in person.glob("*.jpg"))
        if len(files) >= min_images:
            out.append((person.name, files))
    return out


def lfw_descriptors(lfw_dir: Path, cache_dir: Path, *, workers: int | None = None,
                    on_progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Descriptors of every image of LFW people with >= 2 images, cached in ``cache_dir``.

    Returns (vectors (N, 128) float32 with NaN rows for failed images, person index (N,), names)."""
    from trustface.engine import MODEL_VERSION
    from trustface.engine.files import describe_files
    from trustface.engine.thresholds import calibration

    pipeline = f"{MODEL_VERSION} / {calibration().get('pipeline', '')}"
    cache = Path(cache_dir) / CACHE_NAME
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        if "pipeline" in data.files and str(data["pipeline"]) == pipeline:
            return data["vectors"], data["person"], data["names"]
    people = lfw_people(lfw_dir, 2)
    paths, person = [], []
    for k, (_, files) in enumerate(people):
        paths += files
        person += [k] * len(files)
    t0 = time.perf_counter()
    results = map_chunks(describe_files, paths, workers=workers, on_progress=on_progress)
    elapsed = time.perf_counter() - t0
    vectors = np.full((len(paths), 128), np.nan, dtype=np.float32)
    for i, r in enumerate(results):
        if r.descriptor is not None:
            vectors[i] = r.descriptor
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, person=np.array(person, dtype=np.int32),
             names=np.array([n for n, _ in people]), model=np.array(MODEL_VERSION), pipeline=np.array(pipeline),
             seconds=np.array(elapsed), paths=np.array([str(Path(p).relative_to(lfw_dir)) for p in paths]))
    return vectors, np.array(person, dtype=np.int32), np.array([n for n, _ in people])


# --- pieces of the benchmark -----------------------------------------------------------------------

def rss_bytes() -> int:
    """This process's resident set size in bytes (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def _split(vectors: np.ndarray, person: np.ndarray, names: np.ndarray) -> dict[int, list[int]]:
    """People whose images all described. Gallery people: even index; others give non-mated probes."""
    ok = ~np.isnan(vectors[:, 0])
    by_person: dict[int, list[int]] = {}
    for i in np.flatnonzero(ok):
        by_person.setdefault(int(person[i]), []).append(int(i))
    return {p: idx for p, idx in by_person.items() if len(idx) >= 2}


def template_policy(vectors, person, names, limit: float) -> dict:
    """One mean template vs one template per photo, people with >= 3 images: enrol the first two
    images, probe with the rest; rank-1 and FNIR at the operating point over the whole gallery."""
    people = {p: idx for p, idx in _split(vectors, person, names).items() if len(idx) >= 3}
    keys = sorted(people)
    mean_t = np.stack([vectors[people[p][:2]].mean(axis=0) for p in keys])
    multi_t = np.concatenate([vectors[people[p][:2]] for p in keys])
    multi_owner = np.repeat(np.arange(len(keys)), 2)
    probe_rows: list[np.ndarray] = []
    truth_ids: list[int] = []
    for k, p in enumerate(keys):
        for i in people[p][2:]:
            probe_rows.append(vectors[i])
            truth_ids.append(k)
    probes, truth = np.stack(probe_rows), np.array(truth_ids)
    out: dict[str, Any] = {"people": len(keys), "probes": int(len(probes)), "enrolment_photos": 2}
    for name, templates, owner in (("mean", mean_t, np.arange(len(keys))), ("multi", multi_t, multi_owner)):
        best_d = np.empty(len(probes))
        best_o = np.empty(len(probes), dtype=np.int64)
        for s in range(0, len(probes), 256):
            block = np.linalg.norm(probes[s:s + 256, None, :] - templates[None, :, :], axis=2)
            j = block.argmin(axis=1)
            best_d[s:s + 256] = block[np.arange(len(j)), j]
            best_o[s:s + 256] = owner[j]
        rank1 = float(np.mean(best_o == truth))
        hit = float(np.mean((best_o == truth) & (best_d <= limit)))
        out[name] = {"rank1": round(rank1, 4), "tpir_at_threshold": round(hit, 4), "fnir_at_threshold": round(1 - hit, 4)}
    return out


def identification(vectors, person, names, limit: float, policy: str = "mean") -> dict:
    """Open-set identification on LFW people with >= 2 images: half of them enrolled (first image,
    or the mean of the first two when they have >= 3), the other half give non-mated probes."""
    people = _split(vectors, person, names)
    keys = sorted(people)
    enrolled = keys[0::2]
    others = keys[1::2]
    template_rows: list[np.ndarray] = []
    mated: list[int] = []
    truth_ids: list[int] = []
    for k, p in enumerate(enrolled):
        idx = people[p]
        n_enrol = 2 if len(idx) >= 3 else 1
        template_rows.append(vectors[idx[:n_enrol]].mean(axis=0) if policy == "mean" else vectors[idx[0]])
        mated += idx[n_enrol:]
        truth_ids += [k] * (len(idx) - n_enrol)
    templates = np.stack(template_rows)
    non_mated = [i for p in others for i in people[p]]

    def top1(qs):
        d = np.linalg.norm(vectors[qs][:, None, :] - templates[None], axis=2)
        j = d.argmin(axis=1)
        return d[np.arange(len(j)), j], j

    md, mj = top1(mated)
    nd, _ = top1(non_mated)
    truth = np.array(truth_ids)
    fpir_t = float(np.quantile(nd, 0.01))
    correct = mj == truth
    return {
        "gallery_subjects": len(enrolled), "mated_probes": len(mated), "non_mated_probes": len(non_mated),
        "rank1": round(float(correct.mean()), 4),
        "fnir_at_fpir_1pct": round(float(1 - np.mean(correct & (md <= fpir_t))), 4),
        "threshold_at_fpir_1pct": round(fpir_t, 4),
        "at_operating_point": {"threshold": limit, "fnir": round(float(1 - np.mean(correct & (md <= limit))), 4),
                               "fpir": round(float(np.mean(nd <= limit)), 4)},
        "_templates": templates, "_mated": np.array(mated), "_truth": truth, "_non_mated": np.array(non_mated),
    }


def filler(vectors: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """Synthetic gallery filler: a Gaussian fitted to the real LFW descriptors (mean and covariance),
    so that filler-vs-probe distances look like real impostor distances."""
    ok = vectors[~np.isnan(vectors[:, 0])].astype(np.float64)
    mu, cov = ok.mean(axis=0), np.cov(ok, rowvar=False)
    chol = np.linalg.cholesky(cov + 1e-9 * np.eye(cov.shape[0]))
    rng = np.random.default_rng(seed)
    out = np.empty((n, 128), dtype=np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        out[s:s + m] = (mu + rng.standard_normal((m, 128)) @ chol.T).astype(np.float32)
    return out


def _latencies(search, queries, repeat_first: int = 5) -> tuple[float, float]:
    for q in queries[:repeat_first]:
        search(q)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        search(q)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def scale(size: int, ident: dict, vectors, limit: float, *, queries: int = 400, recall_queries: int = 2000,
          compare_usearch: bool = False, exact_limit: int | None = None, rerank: int | None = None) -> dict:
    """One gallery size: real enrolled LFW templates inside synthetic filler; the index the gallery
    uses at that size, its build time, per-query latency, memory, and recall@1 against exact search.

    Latency: ``queries`` LFW probes (half mated, half not), one at a time. Recall@1: ``recall_queries``
    probes (all mated and non-mated LFW probes when fewer), each compared with exact search."""
    import faiss

    from trustface.gallery import index as gindex

    exact_limit = gindex.EXACT_LIMIT if exact_limit is None else exact_limit
    rerank = gindex.RERANK if rerank is None else rerank
    real = ident["_templates"].astype(np.float32)
    n_fill = max(0, size - len(real))
    gallery = np.concatenate([real, filler(vectors, n_fill)]) if n_fill else real[:size]
    ids = np.arange(1, len(gallery) + 1, dtype=np.int64)
    subjects = [f"s{i}" for i in range(len(gallery))]
    rng = np.random.default_rng(7)
    mated = ident["_mated"][rng.choice(len(ident["_mated"]), queries // 2, replace=False)]
    non = ident["_non_mated"][rng.choice(len(ident["_non_mated"]), queries // 2, replace=False)]
    q = np.ascontiguousarray(vectors[np.concatenate([mated, non])], dtype=np.float32)
    # recall set: the latency queries first, then more probes, mated and non-mated alternately
    rest_m = np.setdiff1d(ident["_mated"], mated)
    rest_n = np.setdiff1d(ident["_non_mated"], non)
    extra = max(0, recall_queries - len(q))
    more = np.concatenate([rng.permutation(rest_m)[:extra // 2], rng.permutation(rest_n)[:extra - extra // 2]])
    q = np.concatenate([q, np.ascontiguousarray(vectors[more], dtype=np.float32)])
    is_mated = np.concatenate([np.ones(len(mated), bool), np.zeros(len(non), bool),
                               np.isin(more, ident["_mated"])])
    approximate = size > exact_limit
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    index = gindex.VectorIndex.build(ids, gallery, subjects, exact_limit=exact_limit, rerank=rerank)
    build_s = time.perf_counter() - t0
    overhead = (rss_bytes() - rss0) / len(gallery) - 128 * 4  # the subject id strings are counted too
    # ground truth: exact, batched
    flat = faiss.IndexFlatL2(128)
    flat.add(gallery)
    gt_d, gt_i = flat.search(q, 1)
    del flat
    p50, p99 = _latencies(lambda v, index=index: index.search(v, 16), np.concatenate([q[:100], q[len(mated):len(mated) + 100]]))
    top = [index.search(v, 1) for v in q]
    got = np.array([i[0] - 1 for _, i in top])
    got_d = np.array([d[0] for d, _ in top])
    agree = got == gt_i[:, 0]
    decision_exact = np.sqrt(np.maximum(gt_d[:, 0], 0)) <= limit
    decision = np.where(got_d <= limit, got, -1)
    # approximate distances are never below exact ones, so a disagreement can only be a missed match
    out: dict[str, Any] = {
        "size": int(size), "index": "pq-fastscan+rerank" if approximate else "exact", "query_p50_ms": round(p50, 3),
        "query_p99_ms": round(p99, 3), "recall_at_1": round(float(agree.mean()), 5),
        "recall_at_1_mated": round(float(agree[is_mated].mean()), 5),
        "recall_misses": int((~agree).sum()),
        "recall_at_1_on_exact_matches": round(float(agree[decision_exact].mean()), 5)
        if decision_exact.any() else None,
        "decision_agreement": round(float(np.mean(decision == np.where(decision_exact, gt_i[:, 0], -1))), 5),
        "build_s": round(build_s, 2), "bytes_per_template": round(float(overhead), 1),
        "real_templates": int(min(len(real), size)), "latency_queries": 200, "recall_queries": int(len(q))}
    if approximate:
        out.update(rerank=rerank, fast_scan=gindex.PQ_SPEC)
    del index
    if compare_usearch or not approximate and size >= 100_000:
        out["exact_alternatives"] = _exact_alternatives(gallery, q[:100])
    if compare_usearch:
        out["approximate_alternatives"] = _approx_alternatives(gallery, q, gt_i[:, 0], limit)
    return out


def _exact_alternatives(gallery, q) -> dict:
    import faiss
    from usearch.index import search as usearch_search

    flat = faiss.IndexFlatL2(128)
    flat.add(gallery)
    f50, _ = _latencies(lambda v: flat.search(v.reshape(1, -1), 16), q)
    u50, _ = _latencies(lambda v: usearch_search(gallery, v, 16, metric="l2sq", exact=True), q)
    return {"faiss_flat_p50_ms": round(f50, 3), "usearch_exact_p50_ms": round(u50, 3)}


def _approx_alternatives(gallery, q, truth, limit) -> dict:
    import faiss
    from usearch.index import Index

    out: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    u = Index(ndim=128, metric="l2sq", dtype="f32", connectivity=16, expansion_add=128, expansion_search=64)
    u.add(np.arange(len(gallery)), gallery, threads=2)
    build = time.perf_counter() - t0
    p50, p99 = _latencies(lambda v, u=u: u.search(v, 16), q[:200])
    got = np.array([int(u.search(v, 1).keys[0]) for v in q])
    out["usearch_hnsw_m16"] = {"build_s": round(build, 2), "query_p50_ms": round(p50, 3),
                               "recall_at_1": round(float(np.mean(got == truth)), 5)}
    del u
    t0 = time.perf_counter()
    h = faiss.IndexHNSWFlat(128, 32)
    h.hnsw.efConstruction = 40
    h.add(gallery)
    build = time.perf_counter() - t0
    h.hnsw.efSearch = 64
    p50, p99 = _latencies(lambda v: h.search(v.reshape(1, -1), 16), q[:200])
    got = h.search(q, 1)[1][:, 0]
    out["faiss_hnsw_m32_ef64"] = {"build_s": round(build, 2), "query_p50_ms": round(p50, 3),
                                  "recall_at_1": round(float(np.mean(got == truth)), 5),
                                  "note": "no real remove_ids: erasure would leave the vector in the graph"}
    return out


def run(*, lfw_dir: Path, cache_dir: Path, sizes: list[int], enrol_photos: int = 200, rebuild_sizes=None,
        rebuild: bool = True, workers: int | None = None, compare_at: int = 100_000) -> dict:
    import datetime as dt
    import os
    import platform
    import shutil
    import sys
    import tempfile

    from trustface import engine
    from trustface.bench.gallery_deployment import enrolment, rebuild_from_store
    from trustface.gallery import index as gindex
    from trustface.gallery.enrolment import TEMPLATE_POLICY

    vectors, person, names = lfw_descriptors(lfw_dir, cache_dir, workers=workers)
    op, limit = engine.threshold(None)
    report: dict = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                    "command": " ".join(["trustface", *sys.argv[1:]]),
                    "model": engine.MODEL_VERSION, "operating_point": op, "threshold": limit,
                    "exact_limit": gindex.EXACT_LIMIT, "rerank": gindex.RERANK, "fast_scan": gindex.PQ_SPEC,
                    "template_policy": TEMPLATE_POLICY}
    report["template_policy_measurement"] = template_policy(vectors, person, names, limit)
    ident = identification(vectors, person, names, limit)
    report["identification"] = {k: v for k, v in ident.items() if not k.startswith("_")}
    report["sizes"] = []
    for size in sizes:
        report["sizes"].append(scale(size, ident, vectors, limit, compare_usearch=size == compare_at))
        print(json.dumps(report["sizes"][-1]), file=sys.stderr, flush=True)
    work = Path(tempfile.mkdtemp(prefix="tf-gallery-bench-", dir=cache_dir))
    try:
        if rebuild:
            report["rebuild"] = []
            for size in (rebuild_sizes or sizes):
                real = ident["_templates"].astype(np.float32)
                vec = np.concatenate([real, filler(vectors, max(0, size - len(real)))])[:size]
                report["rebuild"].append(rebuild_from_store(vec, work))
                del vec
                print(json.dumps(report["rebuild"][-1]), file=sys.stderr, flush=True)
        if enrol_photos:
            report["enrolment"] = enrolment(lfw_dir, work, enrol_photos)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report
