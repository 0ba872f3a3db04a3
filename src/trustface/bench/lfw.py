"""The LFW verification benchmark (standard "unrestricted, labeled outside data" protocol).

``pairs.txt`` holds 10 folds of 300 same-person and 300 different-person pairs. For each
fold the distance threshold that maximises accuracy on the other nine folds is applied to
it; accuracy is the mean over folds. TAR at a FAR uses one global threshold over all pairs.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trustface.bench.parallel import default_workers, map_chunks

#: The box the peer protocol uses when its HOG finds nothing on a 250x250 LFW image
#: (face_recognition order: top, right, bottom, left).
PEER_CENTRE_BOX = (62, 188, 188, 62)


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    fold: int


def image_path(root: Path, name: str, number: int) -> str:
    return str(root / "images" / name / f"{name}_{number:04d}.jpg")


def read_pairs(lfw_dir: Path) -> list[Pair]:
    """Parse pairs.txt: a header "folds n", then per fold n same and n different lines."""
    path = lfw_dir / "pairs.txt"
    lines = path.read_text().split("\n")
    folds, per_fold = (int(x) for x in lines[0].split())
    pairs: list[Pair] = []
    for row, line in enumerate(x for x in lines[1:] if x.strip()):
        parts = line.split()
        fold = row // (2 * per_fold)
        if len(parts) == 3:
            name, i, j = parts[0], int(parts[1]), int(parts[2])
            pairs.append(Pair(image_path(lfw_dir, name, i), image_path(lfw_dir, name, j), True, fold))
        elif len(parts) == 4:
            pairs.append(
                Pair(image_path(lfw_dir, parts[0], int(parts[1])), image_path(lfw_dir, parts[2], int(parts[3])), False, fold)
            )
        else:
            raise ValueError(f"{path}: line {row + 2} is not a pair: {line!r}")
    if len(pairs) != folds * 2 * per_fold:
        raise ValueError(f"{path}: expected {folds * 2 * per_fold} pairs, found {len(pairs)}")
    return pairs


# --- extraction workers (module level so worker processes can import them) -----------------

def trustface_worker(paths: Sequence[str]) -> list[tuple[np.ndarray, bool]]:
    """trustface's pipeline (``engine.files.describe_file``): HOG cascade then CNN fallback,
    the central face, flip averaging."""
    from trustface import engine, imaging
    from trustface.engine.files import describe_files

    out = []
    for path, result in zip(paths, describe_files(paths), strict=False):
        if result.descriptor is not None:
            out.append((result.descriptor, True))
            continue
        # no face: the same centre-box fallback as the peer, so that every pair gets a score
        image = imaging.load_image(path)
        h, w = image.shape[:2]
        centre = engine.Face((w // 4, h // 4, 3 * w // 4, 3 * h // 4), 0.0, "centre")
        out.append((engine.describe(image, [centre])[0], False))
    return out


def sface_worker(paths: Sequence[str]) -> list[tuple[np.ndarray, bool]]:
    """SFace's own pipeline (``engine.sface``): YuNet at the zoo's score threshold 0.9, else
    0.5; the central face; 5-point alignment to the 112x112 template. Where YuNet finds nothing,
    five points placed in the same centre box as the dlib pipeline, so that every pair gets a score."""
    from trustface import imaging
    from trustface.engine import sface, yunet

    chips, found = [], []
    for path in paths:
        image = imaging.load_image(path)
        face = sface.main_face(yunet.detect(image), image.shape) or sface.main_face(
            yunet.detect(image, score_threshold=0.5), image.shape)
        h, w = image.shape[:2]
        points = face.landmarks if face else sface.box_landmarks((w / 4, h / 4, 3 * w / 4, 3 * h / 4))
        chips.append(sface.align(image, points))
        found.append(face is not None)
    vectors = sface.descriptor().describe_chips(np.stack(chips))
    return list(zip(vectors, found, strict=True))


def dual_worker(paths: Sequence[str]) -> list[tuple[np.ndarray, bool, np.ndarray, bool, float, float]]:
    """Both pipelines on the same photos, each timed: (dlib vector, found, SFace vector, found,
    seconds of the dlib pipeline, seconds of the SFace pipeline) per photo (the chunk's seconds
    spread evenly)."""
    start = time.perf_counter()
    ours = trustface_worker(paths)
    middle = time.perf_counter()
    theirs = sface_worker(paths)
    end = time.perf_counter()
    n = max(1, len(paths))
    return [(a, fa, b, fb, (middle - start) / n, (end - middle) / n)
            for (a, fa), (b, fb) in zip(ours, theirs, strict=True)]


def peer_worker(paths: Sequence[str]) -> list[tuple[np.ndarray, bool]]:
    """ageitgey/face_recognition as its README uses it (baselines.md protocol)."""
    import face_recognition

    out = []
    for path in paths:
        image = face_recognition.load_image_file(path)
        boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1)
        found = bool(boxes)
        box = boxes[0] if found else PEER_CENTRE_BOX
        vector = face_recognition.face_encodings(image, known_face_locations=[box])[0]
        out.append((np.asarray(vector, dtype=np.float32), found))
    return out


@dataclass
class Extraction:
    vectors: np.ndarray  # (n, 128) float32
    found: np.ndarray  # (n,) bool
    seconds: float

    @property
    def images_per_s(self) -> float:
        return len(self.found) / self.seconds if self.seconds else 0.0


def extract(
    paths: Sequence[str], worker: Callable, *, workers: int | None = None, on_progress: Callable[[int], None] | None = None
) -> Extraction:
    start = time.perf_counter()
    results = map_chunks(worker, list(paths), workers=workers, on_progress=on_progress)
    seconds = time.perf_counter() - start
    return Extraction(np.stack([r[0] for r in results]).astype(np.float32), np.array([r[1] for r in results]), seconds)


# --- protocol ----------------------------------------------------------------------------

def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold that maximises accuracy of ``distance <= t`` on these pairs."""
    order = np.argsort(distances)
    d, s = distances[order], same[order]
    # accepting the first k pairs: correct = genuine among them + impostors after them
    correct = np.concatenate([[0], np.cumsum(s)]) + (np.sum(~s) - np.concatenate([[0], np.cumsum(~s)]))
    k = int(np.argmax(correct))
    if k == 0:
        return float(d[0]) - 1e-6
    if k == len(d):
        return float(d[-1]) + 1e-6
    return float((d[k - 1] + d[k]) / 2)


def cross_validate(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[float, float, list[float]]:
    """Mean and std of per-fold accuracy, thresholds fitted on the other folds."""
    accuracies = []
    fold_ids = np.unique(folds)
    for f in fold_ids:
        test = folds == f
        t = best_threshold(distances[~test], same[~test])
        accuracies.append(float(np.mean((distances[test] <= t) == same[test])))
    return float(np.mean(accuracies)), float(np.std(accuracies)), accuracies


def tar_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> float:
    """True-accept rate at the largest global threshold whose false-accept rate is <= far."""
    impostor = np.sort(distances[~same])
    allowed = int(np.floor(far * len(impostor)))  # impostors that may fall below the threshold
    limit = impostor[allowed] if allowed < len(impostor) else np.inf
    return float(np.mean(distances[same] < limit))


def peak_rss_mb() -> float:
    """Peak resident memory of this process plus the largest worker, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + child) / 1024, 1)


def figures(distances: np.ndarray, same: np.ndarray, folds: np.ndarray, fixed_threshold: float | None) -> dict:
    """Protocol figures of pair scores where lower means more alike (a distance, or minus a similarity)."""
    if len(np.unique(folds)) > 1:
        accuracy, std, per_fold = cross_validate(distances, same, folds)
    else:  # one fold: nothing to fit on, so use the given fixed threshold (None: fitted on the fold itself)
        limit = best_threshold(distances, same) if fixed_threshold is None else fixed_threshold
        per_fold = [float(np.mean((distances <= limit) == same))]
        accuracy, std = per_fold[0], 0.0
    return {
        "accuracy": round(accuracy, 5),
        "accuracy_std": round(std, 5),
        "fold_accuracies": [round(x, 5) for x in per_fold],
        "tar_at_far_1e-3": round(tar_at_far(distances, same, 1e-3), 5),
        "tar_at_far_1e-2": round(tar_at_far(distances, same, 1e-2), 5),
    }


def evaluate(pairs: Sequence[Pair], index: dict[str, int], extraction: Extraction, fixed_threshold: float | None) -> dict:
    a = np.array([index[p.a] for p in pairs])
    b = np.array([index[p.b] for p in pairs])
    distances = np.linalg.norm(extraction.vectors[a] - extraction.vectors[b], axis=1)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    return {
        **figures(distances, same, folds, fixed_threshold),
        "fta": int(np.sum(~extraction.found)),
        "images": len(extraction.found),
        "images_per_s": round(extraction.images_per_s, 2),
        "pairs": len(pairs),
    }


def run(
    lfw_dir: Path,
    *,
    folds: int = 10,
    peer: bool = False,
    workers: int | None = None,
    on_stage: Callable[[str, int], Callable[[int], None]] | None = None,
    engine: str | None = None,
) -> tuple[dict, dict]:
    """Run the benchmark. Returns (report, extras) where extras holds the raw extraction
    (for calibration). ``on_stage(name, total)`` returns a progress callback.

    ``engine`` (default: ``TRUSTFACE_ENGINE``, see ``engine.backend_choice.engine_choice``):
    ``dlib`` runs the dlib pipeline alone; ``fused`` and ``sface`` run both pipelines on every
    photo and report all three engines under ``engines``; the top-level figures are those of
    the engine asked for. Per-engine images/s share the run's wall time by each pipeline's
    measured seconds (decoding counted in both); the fused engine's is the wall time itself."""
    from trustface.engine import threshold
    from trustface.engine.backend_choice import engine_choice

    engine = engine or engine_choice()
    if engine != "dlib":  # fail now, saying how to install the weights, not in a worker later
        from trustface.engine import zoo

        for model in (zoo.YUNET, zoo.SFACE):
            zoo.cached_graph(model)
    all_pairs = read_pairs(lfw_dir)
    pairs = [p for p in all_pairs if p.fold < folds]
    paths = sorted({p.a for p in pairs} | {p.b for p in pairs})
    index = {path: i for i, path in enumerate(paths)}
    progress = (lambda name: on_stage(name, len(paths))) if on_stage else (lambda name: None)

    if engine == "dlib":
        ours = extract(paths, trustface_worker, workers=workers, on_progress=progress("trustface"))
        # With fewer than two folds nothing is left to fit a threshold on: the calibrated 1e-2
        # operating point stands in (on LFW it sits where pair accuracy peaks, 0.605 vs 0.607).
        report = {"engine": "dlib", **evaluate(pairs, index, ours, threshold("1e-2")[1])}
        extras: dict = {"paths": paths, "trustface": ours}
    else:
        report, extras = _run_dual(pairs, index, paths, engine, workers, progress("trustface (dlib + sface)"))
    if peer:
        theirs = extract(paths, peer_worker, workers=workers, on_progress=progress("face_recognition"))
        peer_report = evaluate(pairs, index, theirs, 0.6)
        report.update({
            "peer_accuracy": peer_report["accuracy"],
            "peer_accuracy_std": peer_report["accuracy_std"],
            "peer_tar_at_far_1e-3": peer_report["tar_at_far_1e-3"],
            "peer_fta": peer_report["fta"],
            "peer_images_per_s": peer_report["images_per_s"],
            "speedup": round(report["images_per_s"] / theirs.images_per_s, 3),
        })
        for figures_of in report.get("engines", {}).values():
            figures_of["speedup"] = round(figures_of["images_per_s"] / theirs.images_per_s, 3)
    report["workers"] = workers or default_workers()
    report["peak_rss_mb"] = peak_rss_mb()
    return report, extras


def _run_dual(pairs: Sequence[Pair], index: dict[str, int], paths: list[str], engine: str,
              workers: int | None, on_progress: Callable[[int], None] | None) -> tuple[dict, dict]:
    from trustface.bench.lfw_fusion import engine_reports

    start = time.perf_counter()
    rows = map_chunks(dual_worker, paths, workers=workers, on_progress=on_progress)
    wall = time.perf_counter() - start
    dlib = Extraction(np.stack([r[0] for r in rows]).astype(np.float32), np.array([r[1] for r in rows]), 0.0)
    sface = Extraction(np.stack([r[2] for r in rows]).astype(np.float32), np.array([r[3] for r in rows]), 0.0)
    dlib_s, sface_s = float(sum(r[4] for r in rows)), float(sum(r[5] for r in rows))
    dlib.seconds, sface.seconds = wall * dlib_s / (dlib_s + sface_s), wall * sface_s / (dlib_s + sface_s)
    fused = Extraction(dlib.vectors, dlib.found, wall)
    engines = engine_reports(pairs, index, dlib.vectors, sface.vectors)
    for name, extraction in (("dlib", dlib), ("sface", sface), ("fused", fused)):
        busy = dlib_s * (name != "sface") + sface_s * (name != "dlib")
        engines[name].update(images_per_s=round(extraction.images_per_s, 2),
                             ms_per_image_per_worker=round(1000 * busy / len(rows), 2))
    engines["dlib"]["fta"], engines["sface"]["fta"] = int(np.sum(~dlib.found)), int(np.sum(~sface.found))
    engines["fused"]["fta"] = int(np.sum(~dlib.found | ~sface.found))  # a centre box stood in for either
    cascade = engines["fused"]["cascade"]  # dlib for every photo, SFace for the share that needed it
    cascade["images_per_s_estimate"] = round(len(rows) / (dlib.seconds + sface.seconds * cascade["images_needing_sface"]), 2)
    report = {"engine": engine, **engines[engine], "images": len(rows), "pairs": len(pairs), "engines": engines}
    return report, {"paths": paths, "pairs": pairs, "trustface": dlib, "sface": sface, "fused": fused}


# --- calibration -------------------------------------------------------------------------

TARGET_FMRS = ("1e-2", "1e-3", "1e-4")


def impostor_distances(vectors: np.ndarray, identities: Sequence[str]) -> np.ndarray:
    """Distances of every pair of images of different people (float32, about 30 M for LFW)."""
    ids = np.unique(np.asarray(identities), return_inverse=True)[1]
    v = vectors.astype(np.float32)
    sq = np.einsum("ij,ij->i", v, v)
    chunks = []
    for start in range(0, len(v), 512):
        block = v[start : start + 512]
        d2 = sq[start : start + 512, None] + sq[None, :] - 2.0 * block @ v.T
        rows = np.arange(start, start + len(block))[:, None]
        mask = (np.arange(len(v))[None, :] > rows) & (ids[start : start + len(block), None] != ids[None, :])
        chunks.append(np.sqrt(np.maximum(d2[mask], 0.0)))
    return np.concatenate(chunks)


def calibrate(vectors: np.ndarray, paths: Sequence[str]) -> tuple[dict[str, float], int]:
    """Thresholds (Euclidean distance) at which each share of impostor comparisons in
    :data:`TARGET_FMRS` is accepted, and how many impostor pairs they were measured on.

    ``vectors``: (N, 128) descriptors of the images at ``paths`` (one folder per identity)."""
    identities = [Path(p).parent.name for p in paths]
    impostor = impostor_distances(vectors, identities)
    points: dict[str, float] = {}
    for name in TARGET_FMRS:
        points[name] = round(float(np.quantile(impostor, float(name))), 4)
    return points, int(len(impostor))


def write_engine_calibrations(extras: dict, target: Path, provenance: dict) -> list[Path]:
    """Beside ``target`` (dlib's calibration): ``<stem>-sface.json``, ``<stem>-fused.json``,
    ``<stem>-dlib-cosine.json`` (the block to add to thresholds.json) and ``<stem>-vectors.npz``
    (both models' descriptors of every image, to re-score without describing again). Nothing
    where the run described with dlib alone."""
    import json

    from trustface.bench.lfw_fusion import calibrate as calibrate_engines
    from trustface.bench.lfw_fusion import cosines

    if "sface" not in extras:
        return []
    paths, pairs = extras["paths"], extras["pairs"]
    index = {path: i for i, path in enumerate(paths)}
    a, b = np.array([index[p.a] for p in pairs]), np.array([index[p.b] for p in pairs])
    dlib_v, sface_v = extras["trustface"].vectors, extras["sface"].vectors
    records = calibrate_engines(dlib_v, sface_v, paths, (cosines(dlib_v, a, b), cosines(sface_v, a, b)),
                                {"date": provenance.get("date"), "command": provenance.get("command")})
    written = []
    for key, suffix in (("sface", "sface"), ("fused", "fused"), ("dlib_impostor_cosine", "dlib-cosine")):
        out = target.with_name(f"{target.stem}-{suffix}.json")
        out.write_text(json.dumps(records[key], indent=2) + "\n")
        written.append(out)
    vectors = target.with_name(f"{target.stem}-vectors.npz")
    np.savez_compressed(vectors, paths=np.array(paths), dlib=dlib_v, sface=sface_v,
                        dlib_found=extras["trustface"].found, sface_found=extras["sface"].found)
    return [*written, vectors]
