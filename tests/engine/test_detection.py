"""Detection on hand-labelled group photos (dlib's example set, PASCAL VOC photos)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from trustface import engine, imaging
from trustface.errors import TrustfaceError

# Measured 2026-11-27 with the default detector (HOG, min_face 40 -> one upsampling on these
# 500x375 photos): 43 of 43 labelled faces found, no false face. Floors leave room for noise.
RECALL_FLOOR = 0.95
PRECISION_FLOOR = 0.95


def iou(a, b) -> float:
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, right - left) * max(0, bottom - top)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def labelled_images(detection_dir):
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(detection_dir / name).getroot().iter("image"):
            boxes = [
                (int(b.get("left")), int(b.get("top")),
                 int(b.get("left")) + int(b.get("width")), int(b.get("top")) + int(b.get("height")))
                for b in image.iter("box") if b.get("ignore") != "1"
            ]
            yield detection_dir / image.get("file"), boxes


def test_recall_and_precision_at_iou_half(detection_dir):
    tp = fp = fn = 0
    for path, truth in labelled_images(detection_dir):
        image = imaging.load_image(path)
        matched: set[int] = set()
        for face in engine.detect(image):
            hit = next((i for i, box in enumerate(truth) if i not in matched and iou(face.box, box) >= 0.5), None)
            if hit is None:
                fp += 1
            else:
                matched.add(hit)
                tp += 1
        fn += len(truth) - len(matched)
    assert tp + fn == 43
    assert tp / (tp + fn) >= RECALL_FLOOR
    assert tp / (tp + fp) >= PRECISION_FLOOR


@pytest.mark.parametrize("method", ["hog", "auto"])
def test_dogs_have_no_human_face(detection_dir, method):
    assert engine.detect(imaging.load_image(detection_dir / "dogs.jpg"), method=method) == []


def test_boxes_are_clipped_sorted_and_scored(examples):
    image = imaging.load_image(examples / "two_people.jpg")
    faces = engine.detect(image)
    assert len(faces) == 2
    h, w = image.shape[:2]
    for face in faces:
        left, top, right, bottom = face.box
        assert 0 <= left < right <= w and 0 <= top < bottom <= h
        assert face.score > 0
    assert faces[0].width * faces[0].height >= faces[1].width * faces[1].height


@pytest.mark.parametrize("side", [100, 128, 150])
def test_tight_crop_still_yields_a_face(lfw_dir, side):
    """ID photos and pre-aligned crops: the face fills the frame, with no context around it."""
    image = imaging.load_image(lfw_dir / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg")
    face = engine.detect(image)[0]
    shrink = face.width // 10  # cut inside the detector's own box
    left, top, right, bottom = face.box
    crop = image[top + shrink : bottom - shrink, left + shrink : right - shrink]
    crop = np.asarray(Image.fromarray(crop).resize((side, side)))
    found = engine.detect(crop)
    assert len(found) == 1
    assert found[0].size >= side // 2


def test_cnn_detector_finds_the_face(examples):
    image = imaging.load_image(examples / "obama-240p.jpg")
    faces = engine.detect(image, method="cnn")
    assert len(faces) == 1 and faces[0].detector == "cnn"
    hog = engine.detect(image)[0]
    assert iou(faces[0].box, hog.box) > 0.3


def test_landmarks_have_the_documented_shapes(examples):
    image = imaging.load_image(examples / "obama.jpg")
    face = engine.detect(image)[0]
    for points in (5, 68):
        marks = engine.landmarks(image, face, points)
        assert marks.shape == (points, 2)
        left, top, right, bottom = face.box
        margin = face.width * 0.3
        assert np.all(marks[:, 0] > left - margin) and np.all(marks[:, 0] < right + margin)
        assert np.all(marks[:, 1] > top - margin) and np.all(marks[:, 1] < bottom + margin)
    chips = engine.aligned_chips(image, [face])
    assert chips[0].shape == (150, 150, 3) and chips[0].dtype == np.uint8


@pytest.mark.parametrize(
    "array, method",
    [(np.zeros((10, 10), dtype=np.uint8), "hog"), (np.zeros((10, 10, 3), dtype=np.float32), "hog"),
     (np.zeros((10, 10, 3), dtype=np.uint8), "nope")],
)
def test_bad_arguments_are_refused_with_a_code(array, method):
    with pytest.raises(TrustfaceError) as info:
        engine.detect(array, method=method)
    assert info.value.code == "E_INVALID_ARGUMENT"
