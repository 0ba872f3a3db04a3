"""LFW figures of the three engines (dlib, SFace, fused) from one dual extraction, and the
calibration files of SFace and of the fused score.

The fused score of a pair is z_dlib + z_sface, each model's cosine standardised by the mean and
standard deviation of that model's cosines over impostor pairs. In the 10-fold protocol those
statistics come from the impostor pairs of the nine training folds only, as the threshold does;
TAR at FAR uses the statistics of all the protocol's impostor pairs (one global threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trustface.bench.lfw import Pair, best_threshold, figures, tar_at_far

TARGET_FMRS = ("1e-2", "1e-3", "1e-4")


def cosines(vectors: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    v = vectors.astype(np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return np.sum(v[a] * v[b], axis=1)


def _z(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return (values - reference.mean()) / reference.std()


def fused_figures(dlib_cos: np.ndarray, sface_cos: np.ndarray, same: np.ndarray, folds: np.ndarray,
                  images: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Protocol figures of the fused score (statistics and threshold fitted on the training folds)."""
    per_fold = []
    for f in np.unique(folds):
        train = folds != f if len(np.unique(folds)) > 1 else np.ones_like(same)  # one fold: fitted on itself
        score = _z(dlib_cos, dlib_cos[train & ~same]) + _z(sface_cos, sface_cos[train & ~same])
        t = best_threshold(-score[train], same[train])
        per_fold.append(float(np.mean((-score[folds == f] <= t) == same[folds == f])))
    score = _z(dlib_cos, dlib_cos[~same]) + _z(sface_cos, sface_cos[~same])
    out: dict = {
        "accuracy": round(float(np.mean(per_fold)), 5), "accuracy_std": round(float(np.std(per_fold)), 5),
        "fold_accuracies": [round(x, 5) for x in per_fold],
        "tar_at_far_1e-3": round(tar_at_far(-score, same, 1e-3), 5),
        "tar_at_far_1e-2": round(tar_at_far(-score, same, 1e-2), 5)}
    out["cascade"] = cascade_figures(dlib_cos, sface_cos, same, folds, images)
    return out


#: The cost control's tolerance: the share of the fused score's accepted (rejected) calibration
#: pairs whose dlib z-score may fall below (above) the band, and the band's widening.
CASCADE_QUANTILE, CASCADE_MARGIN = 0.005, 0.25
#: In the calibrated band, the upper edge is at least the dlib z-score that this share of all
#: impostor pairs exceed: the pairs dlib accepts alone must not eat the operating point's FMR.
CASCADE_DLIB_FMR = 1e-4


def dlib_band(z_dlib: np.ndarray, score: np.ndarray, limit: float, quantile: float = CASCADE_QUANTILE,
              margin: float = CASCADE_MARGIN) -> tuple[float, float]:
    """The band of dlib z-scores where SFace can change the fused decision, on these pairs: from
    the ``quantile`` of the dlib z-scores of the pairs the fused score accepts to the 1 -
    ``quantile`` one of those it rejects (0: the extremes), widened by ``margin`` (in impostor
    standard deviations) on each side."""
    accepted, rejected = z_dlib[score >= limit], z_dlib[score < limit]
    low = float(np.quantile(accepted, quantile)) if len(accepted) else np.inf
    high = float(np.quantile(rejected, 1 - quantile)) if len(rejected) else -np.inf
    return low - margin, high + margin


def cascade_figures(dlib_cos: np.ndarray, sface_cos: np.ndarray, same: np.ndarray, folds: np.ndarray,
                    images: tuple[np.ndarray, np.ndarray] | None = None, quantile: float = CASCADE_QUANTILE,
                    margin: float = CASCADE_MARGIN) -> dict:
    """The cost control measured: per test fold, the band of dlib z-scores where SFace changed
    a fused decision on the training folds (:func:`dlib_band`); test pairs outside it are decided
    by dlib's z-score alone (SFace never runs for them), those inside by the fused score.
    Accuracy and the share of pairs that needed SFace; with ``images`` (the two image indices of
    each pair), also the share of images that had to be described by SFace."""
    correct, needed = 0, 0
    inside_all = np.zeros(len(same), dtype=bool)
    for f in np.unique(folds):
        test = folds == f
        train = ~test if len(np.unique(folds)) > 1 else test
        impostor = train & ~same
        z_d, z_s = _z(dlib_cos, dlib_cos[impostor]), _z(sface_cos, sface_cos[impostor])
        score = z_d + z_s
        t = -best_threshold(-score[train], same[train])  # accept score >= t
        low, high = dlib_band(z_d[train], score[train], t, quantile, margin)
        inside = (z_d[test] >= low) & (z_d[test] <= high)
        accept = np.where(inside, score[test] >= t, z_d[test] > high)
        needed += int(np.sum(inside))
        correct += int(np.sum(accept == same[test]))
        inside_all[np.flatnonzero(test)[inside]] = True
    out = {"accuracy": round(correct / len(same), 5), "pairs_needing_sface": round(needed / len(same), 4)}
    if images is not None:
        described = np.union1d(images[0][inside_all], images[1][inside_all])
        out["images_needing_sface"] = round(len(described) / len(np.union1d(*images)), 4)
    return out


def engine_reports(pairs: Sequence[Pair], index: dict[str, int], dlib_vectors: np.ndarray,
                   sface_vectors: np.ndarray) -> dict[str, dict]:
    """Figures per engine: dlib (Euclidean, as shipped), SFace (cosine), fused."""
    a = np.array([index[p.a] for p in pairs])
    b = np.array([index[p.b] for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    dlib_cos, sface_cos = cosines(dlib_vectors, a, b), cosines(sface_vectors, a, b)
    dlib_distance = np.linalg.norm(dlib_vectors[a] - dlib_vectors[b], axis=1)
    return {
        "dlib": figures(dlib_distance, same, folds, 0.607),
        "sface": figures(-sface_cos, same, folds, None),
        "fused": fused_figures(dlib_cos, sface_cos, same, folds, (a, b)),
    }


# --- calibration over every impostor pair of the images ------------------------------------

def impostor_cosines(vectors: np.ndarray, identities: Sequence[str]) -> np.ndarray:
    """Cosines (float32) of every pair of images of different people, in a fixed order."""
    ids = np.unique(np.asarray(identities), return_inverse=True)[1]
    v = vectors.astype(np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    chunks = []
    for start in range(0, len(v), 512):
        block = v[start:start + 512]
        rows = np.arange(start, start + len(block))[:, None]
        mask = (np.arange(len(v))[None, :] > rows) & (ids[start:start + len(block), None] != ids[None, :])
        chunks.append((block @ v.T)[mask])
    return np.concatenate(chunks)


def _points(scores: np.ndarray) -> dict[str, float]:
    """Score thresholds (accept >= t) at which each share in TARGET_FMRS of impostors is accepted."""
    return {name: round(float(np.quantile(scores, 1.0 - float(name))), 4) for name in TARGET_FMRS}


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(values.mean(dtype=np.float64)), 6), "std": round(float(values.std(dtype=np.float64)), 6)}


def calibrate(dlib_vectors: np.ndarray, sface_vectors: np.ndarray, paths: Sequence[str],
              pair_cosines: tuple[np.ndarray, np.ndarray], provenance: dict) -> dict[str, dict]:
    """Calibration records: ``dlib_impostor_cosine`` (the block to add to thresholds.json),
    ``sface`` (thresholds-sface.json) and ``fused`` (thresholds-fused.json). The cost control's
    band of dlib z-scores (:func:`dlib_band` at the default point) is measured on the protocol's
    pairs, genuine and impostor (``pair_cosines``: dlib's and SFace's cosines of each pair)."""
    from trustface.engine.fusion import DLIB_MODEL, FUSED_MODEL, SFACE_MODEL

    identities = [Path(p).parent.name for p in paths]
    dlib_cos = impostor_cosines(dlib_vectors, identities)
    dlib_stats = _stats(dlib_cos)
    fused = (dlib_cos - dlib_stats["mean"]) / dlib_stats["std"]
    del dlib_cos
    dlib_z_cap = float(np.quantile(fused, 1 - CASCADE_DLIB_FMR))  # dlib's branch alone accepts no more impostors
    sface_cos = impostor_cosines(sface_vectors, identities)
    sface_stats = _stats(sface_cos)
    fused += (sface_cos - sface_stats["mean"]) / sface_stats["std"]
    count = int(len(fused))
    data = {"data": "LFW deep-funneled: the 7,701 images named in pairs.txt", "impostor_pairs": count, **provenance}
    points = _points(fused)
    pair_zd = (np.asarray(pair_cosines[0]) - dlib_stats["mean"]) / dlib_stats["std"]
    pair_score = pair_zd + (np.asarray(pair_cosines[1]) - sface_stats["mean"]) / sface_stats["std"]
    low, high = dlib_band(pair_zd, pair_score, points["1e-3"])
    high = max(high, dlib_z_cap)
    sface = {"model": SFACE_MODEL,
             "pipeline": "YuNet 2023mar (score >= 0.9, else >= 0.5), 5-point similarity alignment to the 112x112 template",
             "metric": "cosine (accept >= threshold)", "default": "1e-3", "operating_points": _points(sface_cos),
             "impostor_cosine": sface_stats,
             "calibration": {**data, "method": "quantile of the cosines of all pairs of images of different people"}}
    fused_record = {"model": FUSED_MODEL,
                    "metric": "z_dlib + z_sface (accept >= threshold); z = (cosine - impostor mean) / impostor std",
                    "default": "1e-3", "operating_points": points,
                    "standardisation": {DLIB_MODEL: dlib_stats, SFACE_MODEL: sface_stats},
                    "cascade": {"operating_point": "1e-3", "dlib_z_low": round(low, 4), "dlib_z_high": round(high, 4),
                                "method": f"dlib z-scores outside [low, high] decide alone: the {CASCADE_QUANTILE} quantile of "
                                          "the dlib z-scores of the pairs the fused score accepts, the 1 - "
                                          f"{CASCADE_QUANTILE} one of those it rejects, over the 6,000 protocol pairs, "
                                          f"+/- {CASCADE_MARGIN}; the upper edge raised to the dlib z-score that only "
                                          f"{CASCADE_DLIB_FMR} of all LFW impostor pairs exceed"},
                    "calibration": {**data, "method": "quantile of the fused scores of all pairs of images of different people"}}
    return {"dlib_impostor_cosine": {**dlib_stats, "impostor_pairs": count}, "sface": sface, "fused": fused_record}
