"""Continuity (issue 17): a burst passes only if its frames are one capture. A genuine burst of the
data set's video passes every check; five well-chosen photos of one person from different sittings
(each showing a prompted pose) do not, with signal ``continuity``; neither does a burst without
capture times. Pure computation on real frames (no database)."""

import numpy as np
import pytest
from lvframes import (
    NEUTRAL,
    STEP_FRAMES,
    VIDEO_BURST,
    VIDEO_STEPS,
    lfw_bytes,
    pixels,
    video_burst,
    video_frame,
)

from trustface import imaging
from trustface.liveness import active, continuity, passive
from trustface.liveness import judge as judging
from trustface.liveness import pad as pad_models


def frames_of(data, stamps):
    return [passive.Frame(imaging.load_image(d), d, t) for d, t in zip(data, stamps, strict=True)]


def verdict(steps, frames):
    return judging.judge(list(steps), "nonce", frames, passive.Verdict([]), [], model=pad_models.MoireModel())


def test_a_genuine_burst_of_the_video_passes():
    data, stamps = video_burst()
    out = verdict(VIDEO_STEPS, frames_of(data, stamps))
    assert out.passed, out.reasons
    assert [d["step"] for d in out.steps_done] == VIDEO_STEPS
    measures = out.continuity
    assert measures["background"] <= continuity.MAX_BACKGROUND and measures["layout"] <= continuity.MAX_LAYOUT
    assert len([m for m in out.marks if m]) == judging.MARKED_FRAMES  # near-copy marks to remember


def test_five_photos_of_one_person_chosen_for_the_poses_fail_continuity():
    """Five real photos of George W. Bush from different events: facing, turned to his left,
    facing, mouth open, facing. The active check alone passes them (same person, poses in order);
    continuity refuses them: the background and light jump between frames."""
    steps = ["turn_left", "open_mouth"]
    names = [NEUTRAL[0], STEP_FRAMES["turn_left"], NEUTRAL[1], STEP_FRAMES["open_mouth"], NEUTRAL[3]]
    frames = frames_of([lfw_bytes(n) for n in names], [0.0, 450.0, 900.0, 1350.0, 1800.0])
    out = verdict(steps, frames)
    assert not out.passed
    assert out.first_reason["code"] == "E_LIVENESS_FAILED"
    signals = {r["signal"] for r in out.reasons}
    assert signals == {"continuity"}, out.reasons  # the steps themselves were found
    assert [d["step"] for d in out.steps_done] == steps
    assert {r["species"] for r in out.reasons} == {"photo_set"}


@pytest.mark.parametrize("stamps", [None, "gaps"])
def test_times_are_required_and_consistent(stamps):
    data, real = video_burst()
    if stamps == "gaps":  # the same frames claimed 2 s apart: not one capture
        times = [i * 2000.0 for i in range(len(data))]
    else:
        times = [None] * len(data)
    out = verdict(VIDEO_STEPS, frames_of(data, times))
    assert not out.passed and "continuity" in {r["signal"] for r in out.reasons}


def test_the_video_frames_jump_when_cut_together():
    """Frames of two shots of the video spliced into one burst: the scene changes."""
    picks = VIDEO_BURST[:4] + [220, 224, 228, 232]
    data = [imaging.load_image(video_frame(i)) for i in picks]
    readings = active.read_frames(data)
    looks = [continuity.look(f, r.box) for f, r in zip(data, readings, strict=True)]
    found = continuity.check([i * 133.0 for i in range(len(picks))], looks, [r.descriptor for r in readings], steps=3)
    assert not found.ok


def test_looks_are_numbers_only():
    look = continuity.look(pixels(NEUTRAL[0]), (70, 70, 180, 180))
    assert look.background.shape == (3,) and np.isfinite(look.light)
