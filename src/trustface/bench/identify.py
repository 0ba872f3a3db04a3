"""The open-set identification benchmark (``trustface bench identify``) over all 13,233 LFW images.

Protocol (ISO/IEC 19795-1 open-set identification; figures in docs/benchmarks.md):

* gallery: the first photo of each of the 1,680 people with >= 2 photos, plus 2,034 one-photo
  people as distractors (3,714 residents);
* mated probes: the second photo of each of the 1,680;
* non-mated probes: the other 2,035 one-photo people, never enrolled.

The one-photo people are split by their place in name order: odd places are distractors, even
places give the non-mated probes. Smaller galleries (100, 1,000) are seeded random draws of the
3,714 residents, repeated and pooled (``DRAWS``); a mated probe counts only when its person was
drawn. A photo whose face was not found is not enrolled (failure to enrol); a mated probe whose
face was not found is a miss (FNIR counts failures to acquire), a non-mated one is no false positive.

FPIR(t): share of non-mated probes whose nearest resident is within t. FNIR(t): share of mated
probes whose nearest resident is not their own mate within t. Rank-1: share of mated probes whose
nearest resident is their mate, whatever the distance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trustface.bench.gallery import lfw_descriptors, lfw_people
from trustface.bench.parallel import map_chunks

SINGLES_CACHE = "lfw_people1_descriptors.npz"
PEER_CACHE = "lfw_peer_all_descriptors.npz"
QUALITY_CACHE = "lfw_probe_quality.npz"
#: the peer's default tolerance (face_recognition.compare_faces)
PEER_TOLERANCE = 0.6
#: gallery size -> how many seeded random draws are pooled
DRAWS = {100: 20, 1000: 5}
TARGET_FPIRS = (0.01, 0.001)
#: one-photo LFW people who are a gallery person under another name (transliterations, a title) or
#: share a photo with one: seen by eye among the strangers nearest the gallery (2026-12-08). They
#: stay in the protocol; ``fpir_clean`` is the FPIR without them, beside the raw figure.
LFW_SAME_PERSON = frozenset({"Bart_Hendricks", "James_Becker", "Andrew_Gilligan", "Noer_Muis", "Dai_Chul_Chyung",
                             "Yingfan_Wang", "Prince_Felipe"})


def _pipeline() -> str:
    from trustface.engine import MODEL_VERSION
    from trustface.engine.thresholds import calibration

    return f"{MODEL_VERSION} / {calibration().get('pipeline', '')}"


def single_people(lfw_dir: Path) -> list[tuple[str, list[str]]]:
    """(name, [path]) of the LFW people with exactly one photo, sorted by name."""
    return [(n, files) for n, files in lfw_people(lfw_dir, 1) if len(files) == 1]


def _describe_cached(paths: Sequence[str], names: Sequence[str], person: Sequence[int], cache: Path, pipeline: str,
                     worker: Callable, lfw_dir: Path, workers: int | None,
                     on_progress: Callable[[int], None] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Descriptors of ``paths`` in the format of :func:`trustface.bench.gallery.lfw_descriptors`
    (vectors with NaN rows where no face was found, person index, names), cached at ``cache``."""
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        if "pipeline" in data.files and str(data["pipeline"]) == pipeline and len(data["vectors"]) == len(paths):
            return data["vectors"], data["person"], data["names"]
    t0 = time.perf_counter()
    results = map_chunks(worker, list(paths), workers=workers, on_progress=on_progress)
    elapsed = time.perf_counter() - t0
    vectors = np.full((len(paths), 128), np.nan, dtype=np.float32)
    for i, r in enumerate(results):
        vector = r.descriptor if hasattr(r, "descriptor") else r
        if vector is not None:
            vectors[i] = vector
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, person=np.array(person, dtype=np.int32), names=np.array(list(names)),
             model=np.array(pipeline.split(" / ")[0]), pipeline=np.array(pipeline), seconds=np.array(elapsed),
             paths=np.array([str(Path(p).relative_to(lfw_dir)) for p in paths]))
    return vectors, np.array(person, dtype=np.int32), np.array(list(names))


def single_descriptors(lfw_dir: Path, cache_dir: Path, *, workers: int | None = None,
                       on_progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Descriptors of the one-photo LFW people (trustface's pipeline), cached like the >= 2 photo set."""
    from trustface.engine.files import describe_files

    people = single_people(lfw_dir)
    paths = [files[0] for _, files in people]
    return _describe_cached(paths, [n for n, _ in people], range(len(people)), Path(cache_dir) / SINGLES_CACHE,
                            _pipeline(), describe_files, lfw_dir, workers, on_progress)


def peer_one(paths: Sequence[str]) -> list[np.ndarray | None]:
    """face_recognition as its README uses it; None where its HOG finds no face (module level for workers)."""
    import face_recognition

    out: list[np.ndarray | None] = []
    for path in paths:
        image = face_recognition.load_image_file(path)
        boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1)
        out.append(np.asarray(face_recognition.face_encodings(image, known_face_locations=boxes[:1])[0],
                              dtype=np.float32) if boxes else None)
    return out


def peer_descriptors(lfw_dir: Path, cache_dir: Path, paths: Sequence[str], *, workers: int | None = None,
                     on_progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The peer's descriptors of ``paths`` (NaN rows where it finds no face), cached."""
    vectors, _, _ = _describe_cached(paths, [str(p) for p in paths], range(len(paths)), Path(cache_dir) / PEER_CACHE,
                                     "face_recognition 1.3.0 / HOG upsample 1, 1 jitter", peer_one, lfw_dir,
                                     workers, on_progress)
    return vectors


def quality_one(paths: Sequence[str]) -> list[np.ndarray]:
    """(size, sharpness, frontalness) of the main face of each photo as a gate probe finds it (HOG,
    the face nearest the centre); NaN where none is found (module level for workers)."""
    from trustface import engine, imaging
    from trustface.engine.detector import PORTRAIT_MIN_FACE

    out = []
    for path in paths:
        image = imaging.load_image(path)
        face = engine.central_face(engine.detect(image, method="hog", min_face=PORTRAIT_MIN_FACE), image.shape)
        q = engine.assess(image, face) if face is not None else None
        out.append(np.array([q.size, q.sharpness, q.frontalness] if q else [np.nan] * 3, dtype=np.float32))
    return out


def probe_quality(lfw_dir: Path, cache_dir: Path, paths: Sequence[str], *, workers: int | None = None) -> np.ndarray:
    """(len(paths), 3) quality measures of the probes (size, sharpness, frontalness), cached."""
    cache = Path(cache_dir) / QUALITY_CACHE
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        if len(data["quality"]) == len(paths):
            return np.asarray(data["quality"])
    rows: list[np.ndarray] = map_chunks(quality_one, list(paths), workers=workers)
    quality = np.stack(rows)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, quality=quality, paths=np.array([str(Path(p).relative_to(lfw_dir)) for p in paths]))
    return quality


# --- the protocol ---------------------------------------------------------------------------------

def protocol(lfw_dir: Path, cache_dir: Path, *, workers: int | None = None,
             on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The images of the protocol, by role, from the cached descriptors (computed once):
    gallery vectors, gallery person ids (-1 for distractors), mated probes and their person ids,
    non-mated probes; the paths of each, for the peer; and failure-to-enrol counts."""
    v2, person2, _ = lfw_descriptors(lfw_dir, cache_dir, workers=workers, on_progress=on_progress)
    v1, _, names1 = single_descriptors(lfw_dir, cache_dir, workers=workers, on_progress=on_progress)
    paths2 = [f for _, files in lfw_people(lfw_dir, 2) for f in files]
    first: dict[int, int] = {}
    second: dict[int, int] = {}
    for i, p in enumerate(person2.tolist()):
        if p not in first:
            first[p] = i
        elif p not in second:
            second[p] = i
    people = sorted(first)
    singles = [files[0] for _, files in single_people(lfw_dir)]
    distractors = list(range(1, len(singles), 2))     # 2,034
    strangers = list(range(0, len(singles), 2))       # 2,035
    return {
        "gallery": np.concatenate([v2[[first[p] for p in people]], v1[distractors]]),
        "gallery_person": np.array(people + [-1] * len(distractors), dtype=np.int64),
        "gallery_paths": [paths2[first[p]] for p in people] + [singles[i] for i in distractors],
        "mated": v2[[second[p] for p in people]], "mated_person": np.array(people, dtype=np.int64),
        "mated_paths": [paths2[second[p]] for p in people],
        "non_mated": v1[strangers], "non_mated_paths": [singles[i] for i in strangers],
        "counts": {"people_with_2_photos": len(people), "distractors": len(distractors),
                   "non_mated_probes": len(strangers), "images": len(v2) + len(v1)},
    }


def nearest(probes: np.ndarray, gallery: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, gallery row) of each probe's nearest gallery vector; inf / -1 for a NaN probe."""
    best_d = np.full(len(probes), np.inf)
    best_j = np.full(len(probes), -1, dtype=np.int64)
    ok = ~np.isnan(probes[:, 0])
    g = gallery.astype(np.float64)
    gsq = np.einsum("ij,ij->i", g, g)
    rows = np.flatnonzero(ok)
    for s in range(0, len(rows), 512):
        r = rows[s:s + 512]
        q = probes[r].astype(np.float64)
        d2 = np.einsum("ij,ij->i", q, q)[:, None] + gsq[None, :] - 2.0 * q @ g.T
        j = d2.argmin(axis=1)
        best_d[r] = np.sqrt(np.maximum(d2[np.arange(len(r)), j], 0.0))
        best_j[r] = j
    return best_d, best_j


def scores(data: dict[str, Any], size: int, draws: int, seed: int = 16, *, key: str = "") -> dict[str, np.ndarray]:
    """Pooled top-1 results over ``draws`` seeded galleries of ``size`` residents: mated distances
    and whether the nearest is the mate; non-mated distances."""
    gallery, owner = data[f"gallery{key}"], data["gallery_person"]
    enrolled = np.flatnonzero(~np.isnan(gallery[:, 0]))             # failure to enrol: not in the gallery
    rng = np.random.default_rng(seed)
    mated_d, mated_ok, non_d, mated_idx = [], [], [], []
    for _ in range(draws):
        rows = enrolled if size >= len(enrolled) else np.sort(rng.choice(enrolled, size, replace=False))
        present = set(owner[rows].tolist()) - {-1}
        which = np.array([p in present for p in data["mated_person"].tolist()])
        mated_idx.append(np.flatnonzero(which))
        d, j = nearest(data[f"mated{key}"][which], gallery[rows])
        mated_d.append(d)
        mated_ok.append((j >= 0) & (owner[rows][np.maximum(j, 0)] == data["mated_person"][which]))
        non_d.append(nearest(data[f"non_mated{key}"], gallery[rows])[0])
    clean = np.array([Path(p).parent.name not in LFW_SAME_PERSON for p in data["non_mated_paths"]])
    return {"mated_d": np.concatenate(mated_d), "mated_ok": np.concatenate(mated_ok), "non_d": np.concatenate(non_d),
            "clean": np.tile(clean, draws), "gallery_size": np.array(min(size, len(enrolled))),
            "mated_idx": np.concatenate(mated_idx), "draws": np.array(draws)}


def quality_study(s: dict[str, np.ndarray], passed_mated: np.ndarray, passed_non: np.ndarray,
                  decisions: dict[str, float]) -> dict[str, Any]:
    """Quality-aware refusal: probes under the engine's QUALITY_FLOORS refused before the search.
    Per decision: FPIR and FNIR among the probes that pass, and FNIR counting a refusal as a miss."""
    pm = passed_mated[s["mated_idx"]]
    pn = np.tile(passed_non, int(s["draws"]))
    out: dict[str, Any] = {"refused_mated": round(float(1 - pm.mean()), 4),
                           "refused_non_mated": round(float(1 - pn.mean()), 4)}
    for name, t in decisions.items():
        hit = s["mated_ok"] & (s["mated_d"] <= t)
        out[name] = {"fpir_passed": round(float(np.mean(s["non_d"][pn] <= t)), 5),
                     "fpir_clean_passed": round(float(np.mean(s["non_d"][pn & s["clean"]] <= t)), 5),
                     "fnir_passed": round(float(1 - hit[pm].mean()), 4),
                     "fnir_refusal_counted": round(float(1 - (hit & pm).mean()), 4)}
    return out


def fpir_fnir(s: dict[str, np.ndarray], t: float) -> tuple[float, float]:
    return (float(np.mean(s["non_d"] <= t)),
            float(1.0 - np.mean(s["mated_ok"] & (s["mated_d"] <= t))))


def threshold_at_fpir(non_d: np.ndarray, fpir: float) -> float:
    """The largest threshold whose FPIR is at most ``fpir`` (just under the next stranger's distance)."""
    d = np.sort(non_d[np.isfinite(non_d)])
    allowed = int(np.floor(fpir * len(non_d)))
    return float(np.nextafter(d[allowed], 0)) if allowed < len(d) else float("inf")


def det_points(s: dict[str, np.ndarray], steps: int = 60) -> list[list[float]]:
    """DET curve: (threshold, FPIR, FNIR) at thresholds through the non-mated distance range."""
    finite = s["non_d"][np.isfinite(s["non_d"])]
    lo, hi = float(np.quantile(finite, 1e-4)) * 0.8, float(np.quantile(finite, 0.999))
    return [[round(t, 4), *(round(x, 5) for x in fpir_fnir(s, t))] for t in np.linspace(lo, hi, steps)]


def summarise(s: dict[str, np.ndarray], decisions: dict[str, float]) -> dict[str, Any]:
    """The figures of one gallery size: rank-1, FPIR/FNIR at each named decision threshold, FNIR at
    FPIR 1 % and 0.1 %, and the DET points."""
    out: dict[str, Any] = {"gallery_size": int(s["gallery_size"]), "mated_probes": int(len(s["mated_d"])),
                           "non_mated_probes": int(len(s["non_d"])),
                           "rank1": round(float(np.mean(s["mated_ok"])), 4), "decisions": {}}
    for name, t in decisions.items():
        fpir, fnir = fpir_fnir(s, t)
        clean = float(np.mean(s["non_d"][s["clean"]] <= t))
        out["decisions"][name] = {"threshold": round(t, 4), "fpir": round(fpir, 5), "fnir": round(fnir, 4),
                                  "fpir_clean": round(clean, 5)}
    for target in TARGET_FPIRS:
        t = threshold_at_fpir(s["non_d"], target)
        fpir, fnir = fpir_fnir(s, t)
        out[f"at_fpir_{target:g}"] = {"threshold": round(t, 4), "fpir": round(fpir, 5), "fnir": round(fnir, 4)}
    out["det"] = det_points(s)
    return out


# --- calibration of the open-set section of thresholds.json ---------------------------------------

def calibrate_open_set(lfw_dir: Path, cache_dir: Path, *, p_u: float = 1e-4,
                       workers: int | None = None) -> dict[str, Any]:
    """The ``open_set`` section of thresholds.json, from images the benchmark never uses: the third
    and later photos of the LFW people with >= 3 photos (5,804 images, ~16.6 M impostor pairs).
    Impostor quantiles at FMR 10^(-j/8) while at least 100 pairs lie below; a generalized Pareto fit
    of the impostor distances below the ``p_u`` quantile; the genuine CDF, each person weighted equally."""
    from trustface.bench.lfw import impostor_distances
    from trustface.engine.open_set import fit_tail

    vectors, person, _ = lfw_descriptors(lfw_dir, cache_dir, workers=workers)
    by_person: dict[int, list[int]] = {}
    for i, p in enumerate(person.tolist()):
        by_person.setdefault(p, []).append(i)
    held = np.array([i for idx in by_person.values() if len(idx) >= 3 for i in idx[2:]])
    held = held[~np.isnan(vectors[held, 0])]
    impostor = np.sort(impostor_distances(vectors[held], person[held].astype(str)))
    quantiles, j = [], 8
    while 10 ** (-j / 8) * len(impostor) >= 100:
        fmr = 10 ** (-j / 8)
        quantiles.append([float(f"{fmr:.4g}"), round(float(np.quantile(impostor, fmr)), 5)])
        j += 1
    genuine, weights = [], []
    for p in sorted({int(x) for x in person[held]}):
        rows = held[person[held] == p]
        if len(rows) < 2:
            continue
        v = vectors[rows].astype(np.float64)
        d = np.linalg.norm(v[:, None, :] - v[None, :, :], axis=2)[np.triu_indices(len(rows), 1)]
        genuine.append(d)
        weights.append(np.full(len(d), 1.0 / len(d)))
    g, w = np.concatenate(genuine), np.concatenate(weights)
    grid = np.round(np.arange(0.20, 0.9001, 0.01), 2)
    cdf = [[float(x), round(float(w[g <= x].sum() / w.sum()), 5)] for x in grid]
    tail = fit_tail(impostor, p_u)
    check = {f"{f:g}": {"empirical": round(float(impostor[int(f * len(impostor))]), 4),
                        "extrapolated": round(_tail(f, tail), 4)} for f in (3e-5, 1e-5, 3e-6, 1e-6)}
    return {"data": "LFW deep-funneled: the 3rd and later photos of the 901 people with >= 3 photos (never used "
                    "by trustface bench identify)", "images": int(len(held)), "impostor_pairs": int(len(impostor)),
            "genuine_pairs": int(len(g)), "genuine_people": len(genuine),
            "impostor_quantiles": quantiles,
            "tail": {**tail, "method": "generalized Pareto fit of the impostor distances below u, probability-"
                                       "weighted moments (Hosking and Wallis 1987); used below p_u"},
            "tail_check": check, "genuine_cdf": cdf,
            "genuine_weighting": "each person's pairs weigh 1/(their pair count): every person counts once"}


def _tail(fmr: float, tail: dict[str, float]) -> float:
    from trustface.engine.open_set import tail_quantile

    return tail_quantile(fmr, tail)


# --- the DET plot (Pillow, already a dependency) --------------------------------------------------

def det_png(curves: dict[str, list[list[float]]], path: Path, title: str) -> None:
    """A DET plot (FNIR against FPIR, both on log axes from 1e-4 to 1) of ``curves`` (name ->
    [threshold, fpir, fnir] rows), written as a PNG."""
    from PIL import Image, ImageDraw

    width, height, left, top, right, bottom = 900, 640, 80, 40, 230, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    pw, ph = width - left - right, height - top - bottom

    def xy(fpir: float, fnir: float) -> tuple[float, float]:
        fx = (np.log10(max(fpir, 1e-4)) + 4) / 4
        fy = (np.log10(max(fnir, 1e-3)) + 3) / 3
        return left + fx * pw, top + (1 - fy) * ph

    for e in range(-4, 1):
        x, _ = xy(10.0 ** e, 1)
        draw.line([(x, top), (x, top + ph)], fill=(225, 225, 225))
        draw.text((x - 12, top + ph + 6), f"1e{e}" if e else "1", fill="black")
    for e in range(-3, 1):
        _, y = xy(1, 10.0 ** e)
        draw.line([(left, y), (left + pw, y)], fill=(225, 225, 225))
        draw.text((left - 40, y - 6), f"1e{e}" if e else "1", fill="black")
    draw.rectangle([left, top, left + pw, top + ph], outline="black")
    draw.text((left + 160, 12), title, fill="black")
    draw.text((left + pw // 2 - 100, height - 28), "FPIR (strangers matched to someone)", fill="black")
    draw.text((8, top - 24), "FNIR (residents missed)", fill="black")
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
    for k, (name, rows) in enumerate(curves.items()):
        colour = colours[k % len(colours)]
        points = [xy(r[1], r[2]) for r in sorted(rows, key=lambda r: r[1]) if r[1] > 0]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        ly = top + 10 + 18 * k
        draw.line([(left + pw + 12, ly + 6), (left + pw + 36, ly + 6)], fill=colour, width=3)
        draw.text((left + pw + 42, ly), name, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")


# --- the whole benchmark --------------------------------------------------------------------------

def run(*, lfw_dir: Path, cache_dir: Path, sizes: Sequence[int] = (100, 1000, 0), budget: float | None = None,
        peer: bool = False, det: Path | None = None, quality: bool = False, workers: int | None = None,
        on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The open-set benchmark; ``0`` in ``sizes`` means the whole gallery (3,714). Decisions: the
    fixed identify default (the 1e-4 point, before the budget), the stranger-admission budget's
    threshold for each size (after), and with ``peer`` face_recognition's descriptors at its 0.6."""
    from trustface import engine
    from trustface.engine.open_set import DEFAULT_FPIR_BUDGET, identify_threshold
    from trustface.engine.thresholds import calibration

    budget = DEFAULT_FPIR_BUDGET if budget is None else budget
    data = protocol(lfw_dir, cache_dir, workers=workers, on_progress=on_progress)
    if peer:
        everything = data["gallery_paths"] + data["mated_paths"] + data["non_mated_paths"]
        pv = peer_descriptors(lfw_dir, cache_dir, everything, workers=workers, on_progress=on_progress)
        a, b = len(data["gallery_paths"]), len(data["gallery_paths"]) + len(data["mated_paths"])
        data.update(gallery_peer=pv[:a], mated_peer=pv[a:b], non_mated_peer=pv[b:])
    if quality:
        from trustface.engine import QUALITY_FLOORS

        q = probe_quality(lfw_dir, cache_dir, data["mated_paths"] + data["non_mated_paths"], workers=workers)
        ok = np.all(q >= np.array([QUALITY_FLOORS[k] for k in ("size", "sharpness", "frontalness")]), axis=1)
        passed_mated, passed_non = ok[:len(data["mated_paths"])], ok[len(data["mated_paths"]):]
    fixed_name, fixed = engine.threshold("1e-4")
    has_budget = "open_set" in calibration()
    report: dict[str, Any] = {
        "protocol": data["counts"], "model": engine.MODEL_VERSION, "fixed_default": {"operating_point": fixed_name,
                                                                                    "threshold": fixed},
        "fpir_budget": budget if has_budget else None,
        "failures_to_enrol": int(np.isnan(data["gallery"][:, 0]).sum()),
        "failures_to_acquire": {"mated": int(np.isnan(data["mated"][:, 0]).sum()),
                                "non_mated": int(np.isnan(data["non_mated"][:, 0]).sum())},
        "sizes": [],
    }
    if not has_budget:
        report["note"] = "thresholds.json has no open_set section: the budget decision is left out"
    curves: dict[str, list[list[float]]] = {}
    for size in sizes:
        size = size or len(data["gallery"])
        draws = DRAWS.get(size, 1)
        s = scores(data, size, draws)
        n = int(s["gallery_size"])
        decisions = {"fixed_default": fixed}
        entry: dict[str, Any] = {"size": n, "draws": draws}
        if has_budget:
            chosen = identify_threshold(n, budget)
            decisions["budget"] = chosen.threshold
            entry["budget_threshold"] = chosen.to_dict()
        entry["trustface"] = summarise(s, decisions)
        curves[f"trustface N={n}"] = entry["trustface"]["det"]
        if quality:
            entry["quality_refusal"] = quality_study(s, passed_mated, passed_non, decisions)
        if peer:
            sp = scores(data, size, draws, key="_peer")
            entry["peer"] = summarise(sp, {"peer_default_0.6": PEER_TOLERANCE})
            entry["peer"]["failures_to_enrol"] = int(np.isnan(data["gallery_peer"][:, 0]).sum())
            curves[f"peer N={n}"] = entry["peer"]["det"]
        report["sizes"].append(entry)
    if det is not None:
        det_png(curves, det, "trustface bench identify: open-set LFW (13,233 images)")
        report["det_png"] = str(det)
    return report
