"""Active liveness on real frames: sequences built from real photos pass; a single still repeated,
a wrong order, a changed face mid-sequence fail (issue 8). The expired nonce is in
test_liveness_service.py (it needs a challenge in a database)."""

import functools

import numpy as np
import pytest
from lvframes import NEUTRAL, OTHER_PERSON, STEP_FRAMES, pixels

from trustface.liveness import active, geometry


@functools.cache
def reading(name: str, mirror: bool = False) -> active.Reading:
    image = pixels(name)
    if mirror:
        image = np.ascontiguousarray(image[:, ::-1])
    return active.read_frames([image])[0]


def readings(names) -> list[active.Reading]:
    out = []
    for i, n in enumerate(names):
        r = reading(*n) if isinstance(n, tuple) else reading(n)
        out.append(active.Reading(i, r.pose, r.descriptor, r.box))
    return out


def frames_for(order):
    names = [NEUTRAL[0]]
    for i, step in enumerate(order):
        names += [STEP_FRAMES[step], NEUTRAL[(i + 1) % len(NEUTRAL)]]
    return names


def test_measures_on_real_faces():
    facing = reading(NEUTRAL[0]).pose
    assert abs(facing.yaw) < 0.1 and facing.ear > 0.25 and facing.mar < 0.1
    assert reading(STEP_FRAMES["blink"]).pose.ear < 0.18
    left = reading(STEP_FRAMES["turn_left"]).pose
    assert left.yaw > 0.5  # nose towards the image's right: his own left
    assert reading(STEP_FRAMES["turn_left"], True).pose.yaw < -0.5  # mirrored: his right
    assert reading(STEP_FRAMES["turn_right"]).pose.yaw < -0.5
    assert reading(STEP_FRAMES["look_up"]).pose.pitch < facing.pitch - 0.1
    assert reading(STEP_FRAMES["open_mouth"]).pose.mar > 0.45
    with pytest.raises(ValueError):
        geometry.measure(np.zeros((5, 2)))


@pytest.mark.parametrize("steps", [["blink", "turn_left", "open_mouth"], ["turn_right", "look_up", "blink"],
                                   ["open_mouth", "turn_right", "turn_left"], list(active.STEPS)])
def test_real_sequences_pass(steps):
    result = active.evaluate(steps, readings(frames_for(steps)))
    assert result.passed, result.reasons
    assert [d["step"] for d in result.done] == steps
    assert result.max_distance < 0.607


def test_mirrored_turn_is_the_other_turn():
    # a synthesised frame: the left turn mirrored is a right turn (said so in lvframes)
    names = [NEUTRAL[0], (STEP_FRAMES["turn_left"], True), NEUTRAL[1], STEP_FRAMES["turn_left"], NEUTRAL[2]]
    assert active.evaluate(["turn_right", "turn_left"], readings(names)).passed
    assert not active.evaluate(["turn_left", "turn_right"], readings(names)).passed


def test_a_single_still_repeated_fails():
    result = active.evaluate(["blink", "turn_left", "look_up"], readings([NEUTRAL[0]] * 7))
    assert not result.passed and "blink" in result.reasons[0]


def test_wrong_order_fails():
    asked = ["turn_left", "open_mouth", "blink"]
    result = active.evaluate(asked, readings(frames_for(["open_mouth", "turn_left", "blink"])))
    assert not result.passed and "open_mouth" in result.reasons[0]
    assert [d["step"] for d in result.done] == ["turn_left"]


def test_changed_face_mid_sequence_fails():
    steps = ["blink", "turn_left", "open_mouth"]
    names = frames_for(steps)
    names[2] = OTHER_PERSON  # someone else steps in after the blink
    result = active.evaluate(steps, readings(names))
    assert not result.passed and result.reasons == ["a different face in frame 2"]


def test_too_few_frames_or_no_face_or_turned_start_fail():
    assert "at least" in active.evaluate(["blink", "look_up"], readings([NEUTRAL[0], NEUTRAL[1]])).reasons[0]
    blank = active.Reading(1, None)
    r = readings([NEUTRAL[0], NEUTRAL[1], NEUTRAL[2]])
    assert active.evaluate(["blink"], [r[0], blank, r[2]]).reasons == ["no face in frame 1"]
    turned = readings([STEP_FRAMES["turn_left"], NEUTRAL[1], STEP_FRAMES["blink"], NEUTRAL[2]])
    assert active.evaluate(["blink"], turned).reasons == ["the first frame must face the camera"]


def test_blink_needs_the_eyes_to_open_again():
    closed_last = readings([NEUTRAL[0], STEP_FRAMES["blink"]])
    assert not active.evaluate(["blink"], closed_last).passed


def test_challenges_are_random_distinct_steps():
    seen = {tuple(active.new_steps()) for _ in range(50)}
    assert len(seen) > 10
    assert all(len(set(s)) == active.CHALLENGE_LENGTH and set(s) <= set(active.STEPS) for s in seen)
