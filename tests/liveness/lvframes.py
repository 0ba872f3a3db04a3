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


# --- the data set's video: a real, continuous capture ----------------------------------------------

#: Lin-Manuel Miranda in photos/examples/short_hamilton_clip.mp4 (29.97 fps): from frame 147 he
#: faces the camera, turns to his left (~frame 159), opens his mouth (~195) and turns to his right
#: (~203). Every 4th frame (~7.5 fps) is a burst a kiosk could have taken.
VIDEO_STEPS = ["turn_left", "open_mouth", "turn_right"]
VIDEO_BURST = list(range(147, 208, 4))
VIDEO_PERSON_PHOTO = ("photos", "examples", "lin-manuel-miranda.png")


@functools.cache
def video() -> tuple:
    """(frames RGB, times in ms) of the data set's video, decoded with ffmpeg."""
    import shutil

    from trustface.bench.pad import decode_video

    path = require_data("photos", "examples", "short_hamilton_clip.mp4")
    if shutil.which("ffmpeg") is None:
        import pytest

        pytest.skip("ffmpeg is not installed (apt-get install -y ffmpeg)")
    frames, times_ms, _ = decode_video(path)
    return frames, times_ms


@functools.cache
def video_frame(i: int, quality: int = 92) -> bytes:
    return jpeg(video()[0][i], quality)


def video_burst(indices=None) -> tuple[list[bytes], list[float]]:
    """A genuine burst: JPEG frames of the video and their capture times (ms, from the first)."""
    indices = list(indices or VIDEO_BURST)
    times_ms = video()[1]
    return [video_frame(i) for i in indices], [round(times_ms[i] - times_ms[indices[0]], 1) for i in indices]


def video_person_photo() -> bytes:
    return require_data(*VIDEO_PERSON_PHOTO).read_bytes()


def near_copies(pixels_: np.ndarray) -> dict[str, bytes]:
    """The common edits an attacker makes to a used frame before replaying it (issue 17), as JPEG or
    PNG bytes: brightness and contrast +-15 %, crops of 6 px, scaling, mirroring, rotation by 4
    degrees, re-encoding, noise."""
    from PIL import ImageEnhance

    rng = np.random.default_rng(17)
    im = Image.fromarray(pixels_)
    h, w = pixels_.shape[:2]
    out = {
        "brightness+15": np.asarray(ImageEnhance.Brightness(im).enhance(1.15)),
        "brightness-15": np.asarray(ImageEnhance.Brightness(im).enhance(0.85)),
        "contrast+15": np.asarray(ImageEnhance.Contrast(im).enhance(1.15)),
        "contrast-15": np.asarray(ImageEnhance.Contrast(im).enhance(0.85)),
        "crop6": np.ascontiguousarray(pixels_[6:, 6:]),
        "crop6-sides": np.ascontiguousarray(pixels_[:-6, 3:-3]),
        "scale0.8": np.asarray(im.resize((int(w * 0.8), int(h * 0.8)), Image.Resampling.BICUBIC)),
        "scale1.25": np.asarray(im.resize((int(w * 1.25), int(h * 1.25)), Image.Resampling.BICUBIC)),
        "mirror": np.ascontiguousarray(pixels_[:, ::-1]),
        "rotate+4": np.asarray(im.rotate(4, resample=Image.Resampling.BICUBIC)),
        "rotate-4": np.asarray(im.rotate(-4, resample=Image.Resampling.BICUBIC)),
        "noise": np.clip(pixels_ + rng.normal(0, 4, pixels_.shape), 0, 255).astype(np.uint8),
    }
    encoded = {name: jpeg(a, 90) for name, a in out.items()}
    encoded["reencoded-q60"] = jpeg(pixels_, 60)
    buf = io.BytesIO()
    Image.fromarray(pixels_).save(buf, "PNG")
    encoded["png"] = buf.getvalue()
    return encoded
