"""Reads dlib's own serialization of the face ResNet (dlib_face_recognition_resnet_model_v1.dat).

Pure Python, following dlib 20.0.1's ``serialize.h``, ``dnn/core.h``, ``dnn/layers.h``,
``dnn/input.h`` and ``dnn/loss.h``. The layers come back input side first, each with its weights
as float32 arrays in dlib's layout (conv weights (filters, k, nr, nc); batch norm already folded
into per-channel ``gamma``/``beta``), ready for ``onnx_net.build_graph``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


class FormatError(ValueError):
    """The model file is not the dlib network this converter knows."""


class _Reader:
    """A cursor over the file's bytes; each method reads one serialized value."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read_byte(self) -> int:
        if self.pos >= len(self.data):
            raise FormatError("unexpected end of file")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def read_int(self) -> int:
        """serialize.h pack_int: a control byte (size in the low 4 bits, 0x80 = negative), then LE bytes."""
        control = self.read_byte()
        size = control & 0x0F
        if size == 0 or size > 8:
            raise FormatError(f"bad integer control byte {control:#x} at {self.pos - 1}")
        raw = self.data[self.pos:self.pos + size]
        self.pos += size
        value = int.from_bytes(raw, "little")
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        """float_details: (int64 mantissa, int16 exponent) = mantissa * 2**exponent."""
        if self.data[self.pos] & 0x70:
            raise FormatError("old ASCII float format is not supported")
        mantissa, exponent = self.read_int(), self.read_int()
        if exponent in (32000, 32001, 32002):  # inf, -inf, nan
            return {32000: math.inf, 32001: -math.inf, 32002: math.nan}[exponent]
        return math.ldexp(mantissa, exponent)

    def read_bool(self) -> bool:
        ch = self.read_byte()
        if ch not in (0x30, 0x31):
            raise FormatError(f"bad bool at {self.pos - 1}")
        return ch == 0x31

    def read_string(self) -> str:
        size = self.read_int()
        raw = self.data[self.pos:self.pos + size]
        self.pos += size
        return raw.decode("latin-1")

    def read_tensor(self) -> NDArray[np.float32]:
        """resizable_tensor: version 2, num_samples, k, nr, nc (long long), then float32 LE."""
        if self.read_int() != 2:
            raise FormatError("unexpected tensor version")
        shape = tuple(self.read_int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.reshape(shape).astype(np.float32)

    def read_alias(self) -> tuple[int, ...]:
        if self.read_int() != 1:
            raise FormatError("unexpected alias_tensor version")
        return tuple(self.read_int() for _ in range(4))

    def expect(self, *versions: str) -> str:
        version = self.read_string()
        if version not in versions:
            raise FormatError(f"expected {' or '.join(versions)}, found {version!r} at {self.pos}")
        return version


@dataclass
class Layer:
    """One layer of the network: its kind, geometry and weights (``params``, filled by the reader)."""

    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, fc, tag, skip
    tag: int = 0
    size: tuple[int, int] = (0, 0)  # window (nr, nc) for con/pool; 0, 0 = the whole image
    stride: int = 1
    padding: int = 0
    filters: int = 0
    params: dict[str, NDArray[np.float32]] = field(default_factory=dict)


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
        params = r.read_tensor()
        filters, nr, nc, sy, sx, py, px = (r.read_int() for _ in range(7))
        if (filters, (nr, nc), sy, sx, py, px) != (layer.filters, layer.size, layer.stride, layer.stride,
                                                   layer.padding, layer.padding):
            raise FormatError(f"con layer geometry {filters, nr, nc, sy, sx, py, px} is not the expected one")
        wshape, _bshape = r.read_alias(), r.read_alias()
        for _ in range(4):
            r.read_float()
        use_bias = r.read_bool() if version in ("con_5", "con_6") else True
        if version == "con_6" and r.read_bool():
            raise FormatError("fused relu in con_ is not supported")
        flat = params.reshape(-1)
        wsize = int(np.prod(wshape))
        layer.params["weight"] = flat[:wsize].reshape(wshape)
        layer.params["bias"] = flat[wsize:wsize + filters].copy() if use_bias else np.zeros(filters, np.float32)
    elif kind == "affine":
        version = r.expect("affine_", "affine_2", "bn_con2")
        params = r.read_tensor().reshape(-1)
        gshape, _bshape = r.read_alias(), r.read_alias()
        if gshape[2:] != (1, 1):
            raise FormatError("affine layer in FC mode where a conv-mode one was expected")
        k = gshape[1]
        gamma, beta = params[:k].copy(), params[k:2 * k].copy()
        if version == "bn_con2":  # affine_(const bn_&): gamma / sqrt(running_var + eps), beta - g * running_mean
            for _ in range(2):
                r.read_tensor()
            running_means, running_vars = r.read_tensor().reshape(-1), r.read_tensor().reshape(-1)
            r.read_int(), r.read_int()
            for _ in range(4):
                r.read_float()
            eps = np.float32(r.read_float())
            gamma = (gamma / np.sqrt(running_vars + eps)).astype(np.float32)
            beta = (beta - gamma * running_means).astype(np.float32)
        else:
            if r.read_int() != 0:  # layer_mode: CONV_MODE = 0, FC_MODE = 1
                raise FormatError("affine layer in FC mode where a conv-mode one was expected")
            if version == "affine_2" and r.read_bool():
                raise FormatError("disabled affine layer")
        layer.params["gamma"], layer.params["beta"] = gamma, beta
    elif kind == "relu":
        if r.expect("relu_", "relu_2") == "relu_2" and r.read_bool():
            raise FormatError("disabled relu layer")
    elif kind in ("max_pool", "avg_pool"):
        r.expect(f"{kind}_2")
        nr, nc, sy, sx, py, px = (r.read_int() for _ in range(6))
        if ((nr, nc), sy, sx, py, px) != (layer.size, layer.stride, layer.stride, layer.padding, layer.padding):
            raise FormatError(f"{kind} geometry {nr, nc, sy, sx, py, px} is not the expected one")
    elif kind == "add_prev":
        r.expect("add_prev_")
    elif kind == "fc":
        version = r.expect("fc_2", "fc_3")
        outputs, inputs = r.read_int(), r.read_int()
        params = r.read_tensor().reshape(-1)
        wshape, _ = r.read_alias(), r.read_alias()
        bias_mode = r.read_int()
        for _ in range(4):
            r.read_float()
        if version == "fc_3":
            r.read_bool()
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

    if r.read_int() != 1:  # add_loss_layer
        raise FormatError("not a dlib add_loss_layer")
    if r.expect("loss_metric_", "loss_metric_2") == "loss_metric_2":
        r.read_float(), r.read_float()

    def parse(i: int) -> None:
        layer = layers[i]
        version = r.read_int()
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
            means.extend(r.read_float() for _ in range(3))
            if (r.read_int(), r.read_int()) != (150, 150):
                raise FormatError("the input is not 150x150")
        elif version not in (1, 2):
            raise FormatError("unexpected add_layer version")
        else:
            parse(i + 1)
        _read_details(r, layer)
        for _ in range(3):
            r.read_bool()
        r.read_tensor(), r.read_tensor()  # x_grad, cached_output
        if innermost:
            r.read_tensor()  # grad_final
            if version >= 3:
                r.read_int()
        elif version == 2:
            r.read_tensor()  # params_grad

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(layers) + 100))
    try:
        parse(0)
    finally:
        sys.setrecursionlimit(limit)
    if r.pos != len(data):
        raise FormatError(f"{len(data) - r.pos} bytes left after the network")
    return layers[::-1], (means[0], means[1], means[2])
