"""Near-copy replay: a used frame shown again after common edits (issue 17).

Byte and pixel digests catch an exact replay; the whole-frame perceptual hash a re-encoded one. An
attacker who brightens a granted frame by 15 %, crops 6 px, scales, mirrors, rotates it by a few
degrees or adds noise defeats both. What survives those edits is the *face itself*. A :class:`Mark`
keeps, for each frame that opened a gate (or belonged to a burst that passed):

* ``chip``: the 256-bit DCT perceptual hash (:func:`trustface.liveness.phash.phash`) of the face
  chip aligned on its 68 landmarks (``engine.aligned_chips``: rotation, scale, crop and position
  are undone by the alignment; brightness and contrast do not move a median-threshold DCT hash); a
  probe is compared as seen and mirrored (mirror-normalised);
* ``descriptor``: the face descriptor averaged over the chip and its mirror image (so a mirrored
  copy has the same one), quantised to int8 (1/256 steps). The network is trained to ignore light,
  small shifts and compression, so an edited copy stays very close (mostly 0.03-0.18 on the data
  set).

A probe is a near copy of a remembered mark when its descriptor is within :data:`COPY_DISTANCE`,
or within :data:`NEAR_DISTANCE` with the chip within :data:`CHIP_BITS` bits. A new camera frame
of the same person moves both: on the data set's video, frames a third of a second apart are
0.21 or more apart by descriptor and 46 bits or more by chip (docs/liveness.md, "Near copies").
Frames 33-66 ms apart can be identical (a video repeats frames): nothing can tell those from a copy.

The marks are derived from a face, so they are kept only as long as the replay window, only for
frames that opened a gate or passed a burst, at that gate, and never leave the deployment (they
are not shared as indicators).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock

import numpy as np

from trustface.engine.detector import PORTRAIT_MIN_FACE
from trustface.liveness import phash as ph

#: a descriptor this close is the same picture whatever the chip says ...
COPY_DISTANCE = 0.20
#: ... and this close, with the aligned chips within CHIP_BITS of 256 bits, too
NEAR_DISTANCE = 0.36
CHIP_BITS = 40
#: smallest face looked for (px): the gate's own (engine.PORTRAIT_MIN_FACE). A smaller face is not
#: found by the gate's search either, so it cannot open the gate and need not be marked; looking for
#: it would upsample every frame up to 1 MP (4x the detection work) for nothing
MIN_FACE = PORTRAIT_MIN_FACE


@dataclass(frozen=True)
class Mark:
    """The near-copy features of one face: chip pHash (64 hex) and int8 descriptor (hex), as stored."""

    chip: str
    descriptor: str


@dataclass(frozen=True)
class Probe:
    """A frame's features ready for comparison: as seen and mirrored."""

    mark: Mark
    chips: tuple[int, int] = field(repr=False)
    vector: np.ndarray = field(repr=False)


def encode(vector: np.ndarray) -> str:
    return np.clip(np.round(np.asarray(vector, np.float64) * 256.0), -128, 127).astype(np.int8).tobytes().hex()


def decode(text: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(text), dtype=np.int8).astype(np.float64) / 256.0


_CACHE: OrderedDict[str, Probe | None] = OrderedDict()
_CACHE_LOCK = Lock()
_CACHE_SIZE = 64


def probe(pixels: np.ndarray) -> Probe | None:
    """The near-copy features of the largest face of an RGB frame (None without a face). Cached by
    the frame's pixel digest, so the face work done before a transaction is not repeated in it."""
    key = ph.pixel_digest(pixels)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    out = _compute(pixels)
    _remember(key, out)
    return out


def _remember(key: str, out: Probe | None) -> None:
    with _CACHE_LOCK:
        _CACHE[key] = out
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


def _compute(pixels: np.ndarray) -> Probe | None:
    from trustface import engine

    faces = engine.detect(pixels, method="hog", min_face=MIN_FACE)
    if not faces:
        return None
    chip = engine.aligned_chips(pixels, [faces[0]])[0]
    return _of_chip(chip, engine.describe_chips([chip], flip=True)[0])


def _of_chip(chip: np.ndarray, vector: np.ndarray) -> Probe:
    """The probe of an aligned chip and its flip-averaged descriptor (mirror-proof)."""
    chip_hash, flipped_hash = ph.phash(chip), ph.phash(np.ascontiguousarray(chip[:, ::-1]))
    text = encode(vector)
    return Probe(Mark(chip_hash, text), (int(chip_hash, 16), int(flipped_hash, 16)), decode(text))


def probe_and_portrait(pixels: np.ndarray) -> tuple[Probe | None, np.ndarray | None]:
    """The near-copy probe of a gate frame and the descriptor of its portrait face (what
    ``engine.portrait_descriptor(method="hog")`` returns; None without a face), from one face
    detection and one network pass (the largest face, which the screen marks, is most often the
    portrait face too): the single-frame gate path used to detect, align and describe it twice."""
    from trustface import engine

    key = ph.pixel_digest(pixels)
    faces = engine.detect(pixels, method="hog", min_face=MIN_FACE)  # MIN_FACE is the portrait minimum
    if not faces:
        _remember(key, None)
        return None, None
    portrait = engine.central_face(faces, pixels.shape) or faces[0]  # faces is not empty: never None
    chosen = [faces[0]] if portrait is faces[0] else [faces[0], portrait]
    vectors = engine.describe_chips(chips := engine.aligned_chips(pixels, chosen), flip=True)
    out = _of_chip(chips[0], vectors[0])
    _remember(key, out)
    return out, vectors[-1]


def distance(p: Probe, known: Mark) -> tuple[float, int]:
    """(descriptor distance, chip bits) of a probe to a remembered mark (chips: the better of as seen
    and mirrored; the descriptor is the mean over the chip and its mirror, so mirroring does not move it)."""
    value = int(known.chip, 16)
    return (float(np.linalg.norm(p.vector - decode(known.descriptor))),
            min(bin(c ^ value).count("1") for c in p.chips))


def is_copy(p: Probe, known: Mark) -> bool:
    d, bits = distance(p, known)
    return d <= COPY_DISTANCE or (d <= NEAR_DISTANCE and bits <= CHIP_BITS)


def copied(p: Probe | None, known: list[Mark]) -> bool:
    """Whether ``p`` is a near copy of any remembered mark."""
    return p is not None and any(is_copy(p, k) for k in known)
