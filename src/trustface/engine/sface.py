"""SFace: the second descriptor (OpenCV model zoo, 2021dec), with its own detection and alignment.

Pipeline: YuNet finds the faces and their five landmarks (``engine.yunet``); a similarity
transform (rotation, uniform scale, translation; least squares, Umeyama 1991) maps the five
points onto the 112x112 template SFace was trained with (the ArcFace/InsightFace template,
the one OpenCV's ``FaceRecognizerSF.alignCrop`` uses); the chip is cut by bilinear sampling
(zero outside the image, as OpenCV's ``warpAffine``); the network (fp32 graph, ``engine.zoo``)
maps RGB 0..255 chips to 128 values, L2-normalised here. Compare by cosine (a dot product).

Nothing here uses dlib or OpenCV. :class:`SFaceDescriptor` is a ``DescriptorBackend`` whose
chips are this module's 112x112 chips, not dlib's 150x150 ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from trustface.engine import yunet, zoo

MODEL_VERSION = "face_recognition_sface_2021dec"
CHIP_SIZE = 112
#: Where the eyes, nose tip and mouth corners sit in the 112x112 chip SFace was trained on.
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def similarity_transform(source: NDArray[np.floating], target: NDArray[np.floating]) -> NDArray[np.float64]:
    """The 2x3 matrix M of the similarity transform (no reflection) minimising
    sum |M [s; 1] - t|^2 over the point pairs (Umeyama's closed form)."""
    src, dst = np.asarray(source, np.float64), np.asarray(target, np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.array([1.0, 1.0 if np.linalg.det(u) * np.linalg.det(vt) >= 0 else -1.0])
    rotation = u @ np.diag(d) @ vt
    variance = (src_c ** 2).sum() / len(src)
    scale = float(s @ d / variance) if variance > 1e-12 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def warp(image: NDArray[np.uint8], matrix: NDArray[np.float64], size: int = CHIP_SIZE) -> NDArray[np.uint8]:
    """The ``size`` x ``size`` chip whose pixel (x, y) is the image at M^-1 (x, y), bilinear,
    zero outside the image (OpenCV ``warpAffine``, ``INTER_LINEAR``, constant border)."""
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    sx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    sy = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    height, width = image.shape[:2]
    padded = np.zeros((height + 2, width + 2, image.shape[2]), np.float32)
    padded[1:-1, 1:-1] = image
    x0, y0 = np.clip(x0 + 1, 0, width + 1), np.clip(y0 + 1, 0, height + 1)  # outside -> the zero border
    x1, y1 = np.clip(x0 + 1, 0, width + 1), np.clip(y0 + 1, 0, height + 1)
    top = padded[y0, x0] * (1 - fx) + padded[y0, x1] * fx
    bottom = padded[y1, x0] * (1 - fx) + padded[y1, x1] * fx
    chip: NDArray[np.uint8] = np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)
    return chip


def align(image: NDArray[np.uint8], landmarks: NDArray[np.floating]) -> NDArray[np.uint8]:
    """The 112x112 RGB chip of the face whose five YuNet landmarks are given."""
    return warp(image, similarity_transform(np.asarray(landmarks).reshape(5, 2), TEMPLATE))


def box_landmarks(box: tuple[float, float, float, float]) -> NDArray[np.float32]:
    """Five points placed in a face box as the template places them in its chip: for a face
    the detector missed (a box from elsewhere), so that a chip can still be cut."""
    left, top, right, bottom = box
    unit = (TEMPLATE - [8.0, 0.0]) / 96.0  # the template's face spans x 8..104 and y 0..112, roughly
    return np.stack([left + unit[:, 0] * (right - left), top + TEMPLATE[:, 1] / 112.0 * (bottom - top)],
                    axis=1).astype(np.float32)


class SFaceDescriptor:
    """SFace on onnxruntime (one thread): chips (N, 112, 112, 3) uint8 RGB -> (N, 128) float32, unit length."""

    name = "sface-onnxruntime"
    chip_size = CHIP_SIZE

    def __init__(self) -> None:
        self.session = zoo.session(zoo.SFACE)
        self.reason = (f"{MODEL_VERSION} ({zoo.PACKAGE}=={zoo.PACKAGE_VERSION}, int8bq expanded to fp32, "
                       f"SHA-256 checked), onnxruntime, 1 thread")

    def describe_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        chips = np.asarray(chips, dtype=np.uint8).reshape(-1, CHIP_SIZE, CHIP_SIZE, 3)
        if not len(chips):
            return np.zeros((0, 128), np.float32)
        out = self.session.run(None, {"data": chips.transpose(0, 3, 1, 2).astype(np.float32)})[0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: NDArray[np.float32] = (out / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit


_descriptor: SFaceDescriptor | None = None


def descriptor() -> SFaceDescriptor:
    """The process's SFace backend (loaded, hash-checked and converted where needed, on first use)."""
    global _descriptor
    if _descriptor is None:
        _descriptor = SFaceDescriptor()
    return _descriptor


def main_face(detections: Sequence[yunet.Detection], shape: tuple[int, ...]) -> yunet.Detection | None:
    """The detection whose box centre is nearest the image centre (a portrait's subject)."""
    if not detections:
        return None
    cy, cx = shape[0] / 2, shape[1] / 2
    return min(detections, key=lambda d: ((d.box[0] + d.box[2]) / 2 - cx) ** 2 + ((d.box[1] + d.box[3]) / 2 - cy) ** 2)


def describe(image: NDArray[np.uint8], landmarks: Sequence[NDArray[np.floating]]) -> NDArray[np.float32]:
    """Descriptors (N, 128) of the faces with these five-point landmarks, in order."""
    chips = np.stack([align(image, points) for points in landmarks]) if len(landmarks) else np.zeros((0, 112, 112, 3), np.uint8)
    return descriptor().describe_chips(chips)


def portrait_descriptor(image: NDArray[np.uint8]) -> tuple[yunet.Detection | None, NDArray[np.float32] | None]:
    """The main face of a portrait and its SFace descriptor, or (None, None) when YuNet finds none."""
    face = main_face(yunet.detect(image), image.shape)
    if face is None:
        return None, None
    return face, describe(image, [face.landmarks])[0]
