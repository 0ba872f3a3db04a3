"""Real frames for liveness tests, from the shared data set (never copied into the repo).

The active-liveness sequences are *photo sequences*: real LFW photos of one person (George W. Bush,
deep-funneled 250x250) chosen because their 68-point landmarks show the pose a step asks for:
facing the camera, eyes closed (a blink), head turned to his left / right, looking up, mouth open.
They come from different sittings, not one video, which makes the same-face check harder than a
real burst, not easier. ``mirrored`` frames are synthesised honestly: a photo turned to his left,
mirrored, is a photo turned to his right.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from conftest_data import require_data  # noqa: F401  (re-exported for tests)
from PIL import Image

from trustface import imaging

PERSON = "George_W_Bush"
NEUTRAL = ["George_W_Bush_0008", "George_W_Bush_0037", "George_W_Bush_0099", "George_W_Bush_0078"]
STEP_FRAMES = {"blink": "George_W_Bush_0065", "turn_left": "George_W_Bush_0077", "turn_right": "George_W_Bush_0004",
               "look_up": "George_W_Bush_0124", "open_mouth": "George_W_Bush_0056"}
OTHER_PERSON = "Colin_Powell_0029"


def lfw_path(name: str):
    person = name.rsplit("_", 1)[0]
    return require_data("lfw", "images", person, f"{name}.jpg")


@functools.cache
def lfw_bytes(name: str) -> bytes:
    return lfw_path(name).read_bytes()


def pixels(name: str) -> np.ndarray:
    return imaging.load_image(lfw_bytes(name))


def jpeg(array: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def mirrored(name: str) -> bytes:
    return jpeg(pixels(name)[:, ::-1])


def sequence(steps, *, order=None) -> list[bytes]:
    """[facing, step 1, facing, step 2, facing, ...] as the bytes of real photos; ``order`` performs
    the steps in another order than asked."""
    performed = list(order or steps)
    frames = [lfw_bytes(NEUTRAL[0])]
    for i, step in enumerate(performed):
        frames.append(lfw_bytes(STEP_FRAMES[step]))
        frames.append(lfw_bytes(NEUTRAL[(i + 1) % len(NEUTRAL)]))
    return frames


def times(n: int, step_ms: float = 150.0) -> list[float]:
    return [round(i * step_ms, 1) for i in range(n)]


def first_photos(person: str, n: int) -> list[bytes]:
    """The first ``n`` photos of an LFW person (real frames nobody has sent to the gate yet)."""
    folder = require_data("lfw", "images", person)
    return [p.read_bytes() for p in sorted(folder.glob("*.jpg"))[:n]]
