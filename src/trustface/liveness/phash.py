"""Perceptual and exact hashes of probe frames (numpy + Pillow only).

* :func:`phash`: a DCT perceptual hash. The frame is turned grey, resized to 64x64 (Pillow's
  LANCZOS), a 2-D DCT-II is taken, and the 16x16 lowest frequencies (the DC term included, as in
  the usual pHash) are compared with their median: 256 bits, written as 64 hex digits. The usual
  pHash keeps 8x8 = 64 bits; on the real video of the data set that small hash put 2.3 % of pairs
  of *different* frames (half a second or more apart, same scene, fixed camera) within 4 bits of
  each other, while the 256-bit hash put none within 6 bits (and 0.03 % within 8), and a
  re-encoded copy stays within 4 bits (docs/liveness.md).
* :func:`pixel_digest`: SHA-256 of the decoded pixels (shape + RGB bytes): the same picture in
  another container (PNG of a JPEG's pixels) has the same digest.
* :func:`byte_digest`: SHA-256 of the uploaded bytes.

None of these can be turned back into a face: 256 bits of low-frequency structure of the
whole frame, or a cryptographic digest. They are what trustface shares as attack indicators.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
from PIL import Image

HASH_SIZE = 16
_RESIZE = 64


@functools.cache
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix of size n x n."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


def _grey(pixels: np.ndarray) -> Image.Image:
    if pixels.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(pixels.astype(np.uint8)), "L")
    return Image.fromarray(np.ascontiguousarray(pixels[:, :, :3].astype(np.uint8)), "RGB").convert("L")


def phash_bits(pixels: np.ndarray) -> np.ndarray:
    """The 256 pHash bits (bool array of shape (256,)) of an RGB or grey uint8 image."""
    small = np.asarray(_grey(pixels).resize((_RESIZE, _RESIZE), Image.Resampling.LANCZOS), dtype=np.float64)
    d = _dct_matrix(_RESIZE)
    coeffs = d @ small @ d.T
    low = coeffs[:HASH_SIZE, :HASH_SIZE].ravel()
    return low > np.median(low)


def phash(pixels: np.ndarray) -> str:
    """The 256-bit DCT perceptual hash as 64 lowercase hex digits."""
    bits = phash_bits(pixels)
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return f"{value:064x}"


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex pHashes of the same length."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def pixel_digest(pixels: np.ndarray) -> str:
    arr = np.ascontiguousarray(pixels)
    h = hashlib.sha256(f"{arr.shape}|{arr.dtype}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def byte_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
