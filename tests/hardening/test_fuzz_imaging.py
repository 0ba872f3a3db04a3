"""Hypothesis over ``imaging.load_image`` and ``imaging.image_info`` (issue 9, part 4): random bytes
and real photos mutated (bytes flipped or overwritten in the header, cut short, chunks spliced
in, width/height fields rewritten, two files glued together) must decode to an RGB uint8 array
or be refused with ``E_IMAGE_INVALID`` / ``E_IMAGE_TOO_LARGE``; never any other exception.

The seeds are a real JPEG from the data set (obama_small.jpg) and a real PNG (alex-lacamoire.png),
plus a 96x96 crop of the photo re-encoded as WebP, BMP and PPM. Fuzzed inputs are decoded with a
4-megapixel limit so a mutated header claiming 40 MP does not make one example take seconds
(the limit's own behaviour is tested in tests/test_imaging.py).

Default: 600 examples per property (seconds); outcomes are Hypothesis events, so
``--hypothesis-show-statistics`` counts them. More with
``TRUSTFACE_FUZZ_IMAGES=5000 .venv/bin/pytest tests/hardening/test_fuzz_imaging.py``.
"""

from __future__ import annotations

import io
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from trustface import imaging
from trustface.errors import TrustfaceError

# 2,400 decodes and more: part of the default suite, left out of the quick subset
pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("TRUSTFACE_FUZZ_IMAGES", "600"))
LIMIT = 4_000_000
ALLOWED = {"E_IMAGE_INVALID", "E_IMAGE_TOO_LARGE"}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def seeds(examples) -> dict[str, bytes]:
    jpeg = (examples / "obama_small.jpg").read_bytes()
    png = (examples / "alex-lacamoire.png").read_bytes()
    crop = Image.open(io.BytesIO(jpeg)).convert("RGB").crop((0, 0, 96, 96))
    out = {"jpeg": jpeg, "png": png}
    for name, fmt in (("webp", "WEBP"), ("bmp", "BMP"), ("ppm", "PPM"), ("small_png", "PNG")):
        buf = io.BytesIO()
        crop.save(buf, fmt)
        out[name] = buf.getvalue()
    return out


def decodes_or_refuses(data: bytes, *, record: bool = True) -> str:
    """Decode; the outcome ('ok' or the error code) or a test failure for anything else."""
    try:
        array = imaging.load_image(data, max_pixels=LIMIT)
    except TrustfaceError as exc:
        assert exc.code in ALLOWED, (exc.code, exc.message)
        outcome = exc.code
    else:
        assert isinstance(array, np.ndarray) and array.dtype == np.uint8, type(array)
        assert array.ndim == 3 and array.shape[2] == 3 and array.shape[0] * array.shape[1] <= LIMIT, array.shape
        assert array.flags.c_contiguous and array.flags.writeable
        outcome = "ok"
    if record:
        event(f"load_image: {outcome}")
    try:
        info = imaging.image_info(data, max_pixels=LIMIT)
    except TrustfaceError as exc:
        assert exc.code in ALLOWED, (exc.code, exc.message)
    else:
        assert info["width"] * info["height"] <= LIMIT
    return outcome


@FUZZ
@given(st.binary(min_size=1, max_size=4096))
def test_random_bytes(data):
    decodes_or_refuses(data)


@FUZZ
@given(prefix=st.sampled_from([b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM",
                               b"P6\n", b"P5\n", b"GIF89a", b"II*\x00", b"\x00\x00\x00\x0cjP  "]),
       rest=st.binary(max_size=2048))
def test_magic_numbers_with_random_bodies(prefix, rest):
    decodes_or_refuses(prefix + rest)


def _mutate(data: bytes, ops: list) -> bytes:
    buf = bytearray(data)
    for kind, where, value in ops:
        if not buf:
            break
        at = where % len(buf)
        if kind == "flip":
            buf[at] ^= 1 << (value % 8)
        elif kind == "set":
            buf[at] = value % 256
        elif kind == "cut":
            del buf[at:]
        elif kind == "splice":
            buf[at:at] = value.to_bytes(4, "big") * (1 + value % 8)
        elif kind == "size":  # overwrite 4 bytes with a big-endian number, e.g. a width or height field
            buf[at:at + 4] = struct.pack(">I", value)
        elif kind == "drop":
            del buf[at:at + 1 + value % 64]
    return bytes(buf)


MUTATION = st.tuples(st.sampled_from(["flip", "set", "cut", "splice", "size", "drop"]),
                     st.one_of(st.integers(0, 600), st.integers(0, 1 << 20)),  # mostly in the header
                     st.integers(0, 0xFFFFFFFF))


@FUZZ
@given(name=st.sampled_from(["jpeg", "png", "webp", "bmp", "ppm", "small_png"]),
       ops=st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_real_images(seeds, name, ops):
    decodes_or_refuses(_mutate(seeds[name], ops))


@FUZZ
@given(first=st.sampled_from(["jpeg", "small_png", "webp", "bmp"]), second=st.sampled_from(["jpeg", "png", "ppm"]),
       cut=st.integers(0, 4096))
def test_glued_files(seeds, first, second, cut):
    """Polyglot-style inputs: one file cut somewhere, then another whole file."""
    head = seeds[first]
    decodes_or_refuses(head[: max(1, len(head) - cut)] + seeds[second])


def test_unmutated_seeds_decode(seeds):
    for name, data in seeds.items():
        assert decodes_or_refuses(data, record=False) == "ok", name
