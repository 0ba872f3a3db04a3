"""Same / different person on real photos, descriptors and operating points."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from trustface import engine, imaging
from trustface.errors import TrustfaceError

RESOLUTIONS = ["obama-240p.jpg", "obama-480p.jpg", "obama-720p.jpg", "obama-1080p.jpg"]


@pytest.fixture(scope="module")
def descriptor_of(examples):
    cache: dict[str, np.ndarray] = {}

    def get(name: str) -> np.ndarray:
        if name not in cache:
            face, vector = engine.portrait_descriptor(imaging.load_image(examples / name))
            assert face is not None, name
            cache[name] = vector
        return cache[name]

    return get


def test_descriptor_shape_and_type(descriptor_of):
    vector = descriptor_of("obama.jpg")
    assert vector.shape == (128,) and vector.dtype == np.float32
    assert 0.5 < np.linalg.norm(vector) < 1.5


def test_same_person_at_two_sittings(descriptor_of):
    result = engine.compare(descriptor_of("obama.jpg"), descriptor_of("obama2.jpg"))
    assert result.same and result.similarity > 0.5
    assert result.operating_point == engine.threshold()[0]


def test_different_people(descriptor_of):
    result = engine.compare(descriptor_of("obama.jpg"), descriptor_of("biden.jpg"))
    assert not result.same and result.similarity < 0.5
    assert result.distance > engine.threshold("1e-2")[1]


def test_four_resolutions_agree(descriptor_of):
    for a, b in itertools.combinations(RESOLUTIONS, 2):
        assert engine.compare(descriptor_of(a), descriptor_of(b)).same, (a, b)
    for name in RESOLUTIONS:
        assert engine.compare(descriptor_of(name), descriptor_of("obama.jpg")).same
        assert not engine.compare(descriptor_of(name), descriptor_of("biden.jpg")).same


def test_faces_are_described_in_one_batch_like_one_by_one(examples):
    image = imaging.load_image(examples / "two_people.jpg")
    faces = engine.detect(image)
    batch = engine.describe(image, faces)
    single = np.stack([engine.describe(image, [f])[0] for f in faces])
    assert batch.shape == (2, 128)
    np.testing.assert_allclose(batch, single, atol=1e-5)
    assert not engine.compare(batch[0], batch[1]).same


def test_flip_augmentation_averages_the_mirrored_chip(examples):
    image = imaging.load_image(examples / "obama.jpg")
    chip = engine.aligned_chips(image, engine.detect(image))[0]
    plain = engine.describe_chips([chip], flip=False)[0]
    mirrored = engine.describe_chips([chip[:, ::-1]], flip=False)[0]
    both = engine.describe_chips([chip], flip=True)[0]
    np.testing.assert_allclose(both, (plain + mirrored) / 2, atol=1e-5)
    assert engine.compare(plain, mirrored).same


def test_operating_points_are_ordered_and_bound_to_the_model():
    points = engine.operating_points()
    assert set(points) >= {"1e-2", "1e-3", "1e-4"}
    assert points["1e-4"] < points["1e-3"] < points["1e-2"]
    from trustface.engine.thresholds import calibration

    assert calibration()["model"] == engine.MODEL_VERSION


def test_similarity_is_half_at_the_threshold_and_bounded():
    name, limit = engine.threshold()
    assert engine.similarity(limit, limit) == pytest.approx(0.5)
    assert engine.similarity(0.0, limit) == 1.0
    assert engine.similarity(5.0, limit) == 0.0


def test_unknown_operating_point_is_refused(descriptor_of):
    with pytest.raises(TrustfaceError) as info:
        engine.compare(descriptor_of("obama.jpg"), descriptor_of("obama2.jpg"), fmr="0.5")
    assert info.value.code == "E_INVALID_ARGUMENT"
