"""Face analysis on real photos: only what the shipped models support, honest refusals otherwise."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from trustface import engine, imaging
from trustface.audit.chain import check_payload
from trustface.engine import analysis
from trustface.errors import E_ATTRIBUTE_UNSUPPORTED, E_INVALID_ARGUMENT, E_NO_FACE, TrustfaceError
from trustface.policy.vocab import ALLOWED_ATTRIBUTES, DENY_ATTRIBUTES

# Measured on these photos: frontal obama-480p yaw 0..4, roll < 2; alex-lacamoire and
# obama2 turned about 28 degrees, mirrored -28..-30. Tolerances leave room for landmark noise.
FRONTAL_MAX_YAW = 10.0
TURNED_MIN_YAW = 15.0
MIRROR_TOLERANCE = 6.0
ROLL_TOLERANCE = 4.0


def code_of(call) -> str:
    with pytest.raises(TrustfaceError) as info:
        call()
    return info.value.code


@pytest.fixture(scope="module")
def frontal(examples) -> np.ndarray:
    return imaging.load_image(examples / "obama-480p.jpg")


def labelled_counts(detection_dir) -> list[tuple[str, int]]:
    """(file, number of hand-labelled faces) for the group photos of dlib's example set."""
    out = []
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(detection_dir / name).getroot().iter("image"):
            boxes = [b for b in image.iter("box") if b.get("ignore") != "1"]
            out.append((image.get("file"), len(boxes)))
    return out


def test_face_count_matches_the_labelled_group_photos(detection_dir):
    counted = labelled = 0
    for name, truth in labelled_counts(detection_dir):
        found = analysis.analyze(imaging.load_image(detection_dir / name), ["face_count"])["face_count"]
        assert abs(found - truth) <= 1, (name, found, truth)
        counted, labelled = counted + found, labelled + truth
    assert labelled == 43 and abs(counted - labelled) <= 2


def test_face_count_is_zero_without_a_face_and_two_on_two_people(detection_dir, examples):
    assert analysis.analyze(imaging.load_image(detection_dir / "dogs.jpg"), ["face_count"]) == {"face_count": 0}
    assert engine.analyze_face(imaging.load_image(examples / "two_people.jpg"), ["face_count"]) == {"face_count": 2}


def test_head_pose_of_a_frontal_portrait_is_near_zero(frontal):
    pose = analysis.analyze(frontal, ["head_pose"])["head_pose"]
    assert set(pose) == {"yaw", "pitch", "roll"}
    assert abs(pose["yaw"]) < FRONTAL_MAX_YAW and abs(pose["roll"]) < ROLL_TOLERANCE and abs(pose["pitch"]) < 20


@pytest.mark.parametrize("name, sign", [("alex-lacamoire.png", 1), ("obama2.jpg", -1)])
def test_yaw_changes_sign_on_the_mirrored_image(examples, name, sign):
    """alex-lacamoire faces the image's right (yaw > 0), obama2 its left (yaw < 0)."""
    image = imaging.load_image(examples / name)
    yaw = analysis.analyze(image, ["head_pose"])["head_pose"]["yaw"]
    mirrored = analysis.analyze(np.ascontiguousarray(image[:, ::-1]), ["head_pose"])["head_pose"]["yaw"]
    assert sign * yaw > TURNED_MIN_YAW
    assert sign * mirrored < -TURNED_MIN_YAW
    assert abs(yaw + mirrored) < MIRROR_TOLERANCE


def test_roll_follows_a_clockwise_rotation(frontal):
    rotated = np.asarray(Image.fromarray(frontal).rotate(-15, resample=Image.BICUBIC, fillcolor=(128, 128, 128)))
    result = analysis.analyze(rotated, ["head_pose", "image_quality"])
    assert abs(result["head_pose"]["roll"] - 15) < ROLL_TOLERANCE
    assert abs(result["image_quality"]["roll_degrees"] - 15) < ROLL_TOLERANCE  # same convention


def test_pitch_and_yaw_signs_on_moved_landmarks(frontal):
    """Pure geometry: the nose tip moved towards the eyes reads as chin up, moved right as yaw right."""
    face = analysis.main_face(engine.detect(frontal), frontal.shape)
    points = engine.landmarks(frontal, face, 68)
    base = analysis.head_pose(points)
    eye_to_mouth = float(np.linalg.norm((points[48] + points[54]) / 2 - (points[36] + points[45]) / 2))
    up, right = points.copy(), points.copy()
    up[30, 1] -= 0.1 * eye_to_mouth
    right[30, 0] += 0.1 * eye_to_mouth
    assert analysis.head_pose(up)["pitch"] > base["pitch"] + 5
    assert analysis.head_pose(right)["yaw"] > base["yaw"] + 5
    assert code_of(lambda: analysis.head_pose(points[:5])) == E_INVALID_ARGUMENT


def test_image_quality_reports_the_main_face(frontal):
    quality = analysis.analyze(frontal, ["image_quality"])["image_quality"]
    assert set(quality) == {"size", "sharpness", "frontalness", "roll_degrees", "failures", "enrolment_ready",
                            "floors"}
    assert quality["size"] >= engine.QUALITY_FLOORS["size"] and 0.8 <= quality["frontalness"] <= 1
    assert quality["sharpness"] > 0 and quality["failures"] == [] and quality["enrolment_ready"] is True


def test_results_are_plain_json_with_no_vectors(frontal):
    result = analysis.analyze(frontal, ["image_quality", "face_count", "head_pose", "face_count"])
    assert list(result) == ["image_quality", "face_count", "head_pose"]  # request order, de-duplicated
    check_payload(result)  # the audit chain's own biometric filter accepts it


@pytest.mark.parametrize("name", sorted(analysis.UNSUPPORTED_ATTRIBUTES))
def test_allowed_attributes_without_a_model_are_refused_not_faked(frontal, name):
    assert code_of(lambda: analysis.analyze(frontal, ["face_count", name])) == E_ATTRIBUTE_UNSUPPORTED


def test_the_engine_knows_exactly_the_policy_allow_list():
    assert set(analysis.SUPPORTED_ATTRIBUTES) | set(analysis.UNSUPPORTED_ATTRIBUTES) == ALLOWED_ATTRIBUTES
    assert not set(analysis.SUPPORTED_ATTRIBUTES) & set(analysis.UNSUPPORTED_ATTRIBUTES)


@pytest.mark.parametrize("attributes", [["race"], ["face_count", "age"], [], "head_pose", [3], None])
def test_unknown_or_malformed_attributes_are_invalid(frontal, attributes):
    assert code_of(lambda: analysis.analyze(frontal, attributes)) == E_INVALID_ARGUMENT


def test_deny_listed_names_are_never_computed(frontal):
    for name in sorted(DENY_ATTRIBUTES):
        assert code_of(lambda name=name: analysis.check_attributes([name])) == E_INVALID_ARGUMENT


@pytest.mark.parametrize("attribute", ["head_pose", "image_quality"])
def test_no_face_is_refused_when_a_face_is_needed(detection_dir, attribute):
    dogs = imaging.load_image(detection_dir / "dogs.jpg")
    assert code_of(lambda: analysis.analyze(dogs, ["face_count", attribute])) == E_NO_FACE
