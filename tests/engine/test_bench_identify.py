"""``trustface bench identify`` (issue 16, item 1; ISO19795-1, R26): the open-set measures on a small
real LFW protocol (FPIR, FNIR, rank-1, the FPIR-targeted threshold, DET points and plot), and the
command's refusals. The full run is in docs/benchmarks.md, not here."""

from __future__ import annotations

import numpy as np
import pytest

from trustface.bench import identify


@pytest.fixture(scope="module")
def small(lfw_dir):
    """12 people with >= 2 photos (first photo enrolled, second the mated probe), 12 one-photo
    distractors in the gallery and 24 one-photo strangers, described with the production pipeline."""
    from trustface.bench.gallery import lfw_people
    from trustface.engine.files import describe_files

    pairs = [files[:2] for _, files in lfw_people(lfw_dir, 2)[::140][:12]]
    singles = [files[0] for _, files in identify.single_people(lfw_dir)[::110][:36]]
    paths = [p for a, b in pairs for p in (a, b)] + singles
    v = np.stack([r.descriptor if r.descriptor is not None else np.full(128, np.nan, np.float32)
                  for r in describe_files(paths)])
    firsts, seconds, rest = v[0:24:2], v[1:24:2], v[24:]
    return {"gallery": np.concatenate([firsts, rest[:12]]), "gallery_person": np.array(list(range(12)) + [-1] * 12),
            "mated": seconds, "mated_person": np.arange(12), "non_mated": rest[12:],
            "non_mated_paths": singles[12:]}


def test_open_set_measures_on_real_descriptors(small):
    s = identify.scores(small, 24, 1)
    assert len(s["mated_d"]) == 12 and len(s["non_d"]) == 24 and int(s["gallery_size"]) == 24
    out = identify.summarise(s, {"wide": 10.0, "none": 0.0})
    assert out["decisions"]["wide"]["fpir"] == 1.0 and out["decisions"]["none"]["fpir"] == 0.0
    assert out["decisions"]["none"]["fnir"] == 1.0
    # at an unbounded threshold the misses are exactly the rank-1 errors
    assert out["decisions"]["wide"]["fnir"] == pytest.approx(1 - out["rank1"], abs=1e-4)
    assert out["rank1"] >= 0.75  # the same person's second photo is nearest for most of these people
    for target in identify.TARGET_FPIRS:
        assert out[f"at_fpir_{target:g}"]["fpir"] <= target
    det = np.array(out["det"])
    assert np.all(np.diff(det[:, 1]) >= 0) and np.all(np.diff(det[:, 2]) <= 0)  # FPIR up, FNIR down


def test_smaller_galleries_keep_only_their_own_mates(small):
    s = identify.scores(small, 6, 4, seed=3)
    assert int(s["gallery_size"]) == 6 and len(s["non_d"]) == 4 * 24
    assert len(s["mated_d"]) <= 4 * 6  # a mated probe counts only when its person was drawn


def test_the_det_plot_is_a_png(small, tmp_path):
    out = identify.summarise(identify.scores(small, 24, 1), {})
    path = tmp_path / "det.png"
    identify.det_png({"trustface N=24": out["det"]}, path, "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, says", [(["--sizes", "ten"], "--sizes"), (["--sizes", "-5"], "--sizes"),
                                        (["--budget", "0.5"], "E_FPIR_BUDGET_INVALID")])
def test_the_command_refuses_bad_options(cli, args, says, lfw_dir):
    result = cli("bench", "identify", "--data", str(lfw_dir.parent), *args)
    assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr
