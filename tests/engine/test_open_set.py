"""The stranger-admission budget (issue 16, item 2; ISO19795-1, NIST-FRTE, R26): identify thresholds
derived from the calibrated impostor tail for the gallery's size, monotone, and holding their FPIR
bound on real LFW impostor scores the calibration never saw (one-photo people)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trustface.engine import open_set, threshold
from trustface.errors import TrustfaceError

SIZES = (1, 2, 5, 10, 11, 30, 100, 300, 1000, 3714, 10_000, 100_000, 1_000_000)


def test_the_per_comparison_fmr_keeps_the_budget_over_the_gallery():
    for n in SIZES:
        fmr = open_set.per_comparison_fmr(1e-3, n)
        assert 1 - (1 - fmr) ** n == pytest.approx(1e-3, rel=1e-6)
    assert open_set.per_comparison_fmr(1e-3, 1) == pytest.approx(1e-3)
    assert open_set.per_comparison_fmr(1e-3, 0) == open_set.per_comparison_fmr(1e-3, 1)  # empty gallery: one


def test_thresholds_are_monotone_in_gallery_size_and_budget():
    for budget in (1e-5, 1e-4, 1e-3, 1e-2, 0.05):
        values = [open_set.identify_threshold(n, budget).threshold for n in SIZES]
        assert all(a >= b for a, b in zip(values[:-1], values[1:], strict=True)), (budget, values)
        fnirs = [open_set.identify_threshold(n, budget).expected_fnir for n in SIZES]
        assert all(a <= b for a, b in zip(fnirs[:-1], fnirs[1:], strict=True))
    for n in SIZES:
        values = [open_set.identify_threshold(n, b).threshold for b in (1e-5, 1e-4, 1e-3, 1e-2, 0.05)]
        assert all(a <= b for a, b in zip(values[:-1], values[1:], strict=True)), (n, values)
    # a fine sweep too: no step where the empirical quantiles meet the extrapolated tail
    fine = [open_set.identify_threshold(n).threshold for n in range(1, 400)]
    assert all(a >= b for a, b in zip(fine[:-1], fine[1:], strict=True))


def test_small_galleries_keep_the_old_identify_point_and_large_ones_extrapolate():
    cap = threshold("1e-4")[1]
    small = open_set.identify_threshold(3)
    assert small.threshold == cap and small.method.startswith("capped")
    big = open_set.identify_threshold(1000)
    assert big.method == "extrapolated (GPD)" and big.threshold < cap
    assert big.fmr == pytest.approx(1e-6, rel=1e-3) and big.name == "fpir<=0.001@N=1000"
    tail = open_set._open_set()["tail"]
    # the extrapolation is continuous where it takes over from the empirical quantiles
    assert open_set.tail_quantile(tail["p_u"] * 0.999, tail) == pytest.approx(tail["u"], abs=1e-3)
    # and it agrees with the held-out empirical quantiles it was checked against at calibration
    for fmr, pair in open_set._open_set()["tail_check"].items():
        assert abs(pair["extrapolated"] - pair["empirical"]) < 0.01, fmr


@pytest.mark.parametrize("bad", [0, -1e-3, 0.5, 1.0, float("nan"), float("inf"), "0.001", True, None])
def test_a_bad_budget_is_refused_with_its_code(bad):
    with pytest.raises(TrustfaceError) as caught:
        open_set.validate_budget(bad)
    assert caught.value.code == open_set.E_FPIR_BUDGET_INVALID and caught.value.http_status == 422


def test_the_useful_gallery_limit_follows_the_budget():
    strict, loose = open_set.largest_gallery(1e-4), open_set.largest_gallery(1e-2)
    assert strict <= open_set.largest_gallery(1e-3) <= loose
    if loose:
        assert open_set.identify_threshold(loose, 1e-2).useful
        assert not open_set.identify_threshold(loose + 1, 1e-2).useful


@pytest.mark.slow
def test_the_fpir_bound_holds_on_real_lfw_impostor_scores(lfw_dir):
    """240 one-photo LFW people (never in the calibration, which uses the 3rd and later photos of
    people with >= 3): each in turn is a stranger at a gallery of the other 239. At each budget the
    share of strangers matched to someone stays within the budget plus three binomial sigmas."""
    from trustface.bench.identify import single_people
    from trustface.engine.files import describe_files

    people = single_people(lfw_dir)[::17][:240]
    described = describe_files([files[0] for _, files in people])
    v = np.stack([r.descriptor for r in described if r.descriptor is not None]).astype(np.float64)
    assert len(v) >= 230
    d = np.linalg.norm(v[:, None, :] - v[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    nearest = d.min(axis=1)
    n = len(v) - 1
    for budget in (0.05, 0.02, 1e-2):
        chosen = open_set.identify_threshold(n, budget)
        fpir = float(np.mean(nearest <= chosen.threshold))
        assert fpir <= budget + 3 * math.sqrt(budget * (1 - budget) / len(v)), (budget, chosen, fpir)
    # per comparison: the share of the 27,000-odd impostor pairs under each threshold stays near its FMR
    pairs = d[np.triu_indices(len(v), 1)]
    for size in (1, 30, 300):
        chosen = open_set.identify_threshold(size, 1e-2)
        expected = chosen.fmr * len(pairs)
        assert np.sum(pairs <= chosen.threshold) <= expected + 3 * math.sqrt(expected) + 3, (size, chosen)
