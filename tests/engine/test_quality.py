"""The enrolment gate: one good face, or E_NO_FACE / E_MULTIPLE_FACES / E_FACE_QUALITY."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from trustface import engine, imaging
from trustface.engine.quality import _pose
from trustface.errors import TrustfaceError


def refusal(image) -> str:
    with pytest.raises(TrustfaceError) as info:
        engine.enrolment_face(image)
    assert info.value.message
    return info.value.code


def test_a_good_portrait_passes(examples):
    face, quality = engine.enrolment_face(imaging.load_image(examples / "obama.jpg"))
    assert quality.size >= 200 and quality.frontalness > 0.7 and quality.failures() == []
    assert abs(quality.roll_degrees) < 20


def test_no_face(detection_dir):
    assert refusal(imaging.load_image(detection_dir / "dogs.jpg")) == "E_NO_FACE"


def test_two_people_are_refused(examples):
    assert refusal(imaging.load_image(examples / "two_people.jpg")) == "E_MULTIPLE_FACES"


def test_blurred_face_is_refused(examples):
    blurred = Image.open(examples / "obama-480p.jpg").convert("RGB").filter(ImageFilter.GaussianBlur(6))
    assert refusal(np.asarray(blurred)) == "E_FACE_QUALITY"


def test_tiny_face_is_refused(examples):
    image = Image.open(examples / "obama.jpg").convert("RGB")
    tiny = image.resize((image.width // 5, image.height // 5))  # face about 50 px
    assert refusal(np.asarray(tiny)) in {"E_FACE_QUALITY", "E_NO_FACE"}
    face = engine.detect(np.asarray(tiny))[0]
    assert engine.assess(np.asarray(tiny), face).size < engine.QUALITY_FLOORS["size"]


def test_pose_from_five_points():
    frontal = np.array([[70, 50], [60, 50], [30, 50], [40, 50], [50, 80]], dtype=np.float32)
    turned = frontal.copy()
    turned[4, 0] = 68  # nose base far towards one eye: head turned
    front_score, roll = _pose(frontal)
    turned_score, _ = _pose(turned)
    assert front_score == pytest.approx(1.0) and abs(roll) < 1e-6
    assert turned_score < 0.5
