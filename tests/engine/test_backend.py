"""The descriptor backends: CPU-flag logic, one setting with its fallbacks, parity on real faces,
and an engine that does nothing at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from trustface.engine._dlib import fast_dir, openblas_coretype

SWITCHES = ("TRUSTFACE_DESCRIPTOR_BACKEND", "TRUSTFACE_DLIB_BACKEND")


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the backend switches, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if k not in SWITCHES}, **extra}

AVX512 = {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"}


@pytest.mark.parametrize(
    "flags, expected",
    [
        (AVX512, "SkylakeX"),
        ({"avx", "avx2", "fma"}, "Haswell"),
        (AVX512 - {"avx512bw"}, "Haswell"),  # partial AVX-512 must not get AVX-512 kernels
        ({"avx", "sse4_2"}, None),  # AVX without AVX2/FMA: OpenBLAS decides
        ({"sse2"}, None),
        (set(), None),
    ],
)
def test_openblas_core_type_is_never_forced_onto_a_cpu_without_the_instructions(flags, expected):
    assert openblas_coretype(flags) == expected


def _probe(env: dict, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_clean_env(**env), timeout=600)


BACKEND_INFO = "from trustface.engine._dlib import dlib_build; b = dlib_build(); print(b.name, '|', b.reason)"


def test_falls_back_to_dlib_bin_when_the_fast_build_is_missing(tmp_path):
    result = _probe({"TRUSTFACE_DLIB_BLAS_DIR": str(tmp_path / "absent"), "TRUSTFACE_DESCRIPTOR_BACKEND": "auto"},
                    BACKEND_INFO)
    assert result.returncode == 0, result.stderr
    backend, reason = result.stdout.strip().split(" | ")
    assert backend == "dlib-bin" and "no fast build" in reason


def test_asking_for_blas_without_it_fails_clearly(tmp_path):
    result = _probe({"TRUSTFACE_DLIB_BLAS_DIR": str(tmp_path / "absent"), "TRUSTFACE_DESCRIPTOR_BACKEND": "blas"},
                    BACKEND_INFO)
    assert result.returncode != 0 and "scripts/fast-dlib.sh" in result.stderr


def test_bin_can_be_forced():
    result = _probe({"TRUSTFACE_DESCRIPTOR_BACKEND": "bin"}, BACKEND_INFO)
    assert result.stdout.startswith("dlib-bin | asked for by TRUSTFACE_DESCRIPTOR_BACKEND=bin"), result.stderr


DESCRIBE = """
import json, sys, numpy as np
from trustface.engine import files
from trustface.engine._dlib import dlib_build
paths = json.loads(sys.stdin.read())
vectors = [r.descriptor.tolist() for r in files.describe_files(paths) if r.descriptor is not None]
print(json.dumps({"backend": dlib_build().name, "vectors": vectors}))
"""


@pytest.mark.slow
def test_fast_backend_gives_the_same_descriptors_as_dlib_bin(lfw_dir):
    if not fast_dir().is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the fast backend is not installed in CI ({fast_dir()}): scripts/fast-dlib.sh failed")
        pytest.skip("fast backend not built here (scripts/fast-dlib.sh)")
    people = sorted(p for p in (lfw_dir / "images").iterdir())[:400:4]
    paths = [str(sorted(p.iterdir())[0]) for p in people]  # 100 faces of 100 people
    out = {}
    for backend in ("bin", "blas"):
        result = subprocess.run([sys.executable, "-c", DESCRIBE], input=json.dumps(paths), capture_output=True,
                                text=True, env=_clean_env(TRUSTFACE_DESCRIPTOR_BACKEND=backend), timeout=900)
        assert result.returncode == 0, result.stderr
        out[backend] = json.loads(result.stdout)
    assert out["bin"]["backend"] == "dlib-bin" and out["blas"]["backend"] == "dlib-blas"
    a, b = np.array(out["bin"]["vectors"]), np.array(out["blas"]["vectors"])
    assert a.shape[0] >= 98 and a.shape == b.shape
    assert np.abs(a - b).max() < 1e-5


# --- onnxruntime: the same network converted from the dlib model file (engine/onnx_net.py) ---

def _lfw_chips(lfw_dir, people: int) -> list[np.ndarray]:
    from trustface import engine, imaging

    chips = []
    for person in sorted((lfw_dir / "images").iterdir())[: people * 7 : 7]:
        image = imaging.load_image(sorted(person.iterdir())[0])
        face = engine.central_face(engine.detect(image, method="hog"), image.shape)
        if face is not None:
            chips.append(engine.aligned_chips(image, [face])[0])
    return chips


@pytest.fixture(scope="module")
def lfw_chips(lfw_dir) -> list[np.ndarray]:
    chips = _lfw_chips(lfw_dir, 16)
    assert len(chips) >= 12
    return chips


def test_the_dlib_model_file_is_read_completely():
    from trustface.engine import dlib_format, onnx_net

    layers, means = dlib_format.read_dlib_net(onnx_net.model_file().read_bytes())
    assert np.allclose(means, (122.782, 117.001, 104.298))  # input_rgb_image_sized's defaults
    convs = [layer for layer in layers if layer.kind == "con"]
    assert len(convs) == 29 and convs[0].params["weight"].shape == (32, 3, 7, 7)
    assert layers[-1].kind == "fc" and layers[-1].params["weight"].shape == (256, 128)


def test_onnx_gives_dlib_descriptors_on_real_faces(lfw_chips):
    from trustface.engine import models, onnx_net

    graph, record = onnx_net.prepare()
    assert record["verified"], record
    session = onnx_net.session(graph)
    chips = lfw_chips + [np.ascontiguousarray(c[:, ::-1]) for c in lfw_chips]
    ours = onnx_net.run(session, chips)
    with models.DLIB_LOCK:
        theirs = np.array(models.face_encoder().compute_face_descriptor(chips, 0), dtype=np.float32)
    assert ours.shape == theirs.shape == (len(chips), 128)
    assert np.abs(ours - theirs).max() < 1e-5


def test_describe_chips_runs_on_onnx_by_default_with_the_same_descriptors(lfw_chips):
    code = """
import json, sys, numpy as np
from trustface.engine import describe_chips
from trustface.engine.descriptor import descriptor_backend
chips = np.array(json.loads(sys.stdin.read()), dtype=np.uint8)
print(json.dumps({"backend": descriptor_backend(), "vectors": describe_chips(list(chips)).tolist()}))
"""
    payload = json.dumps(np.array(lfw_chips[:6]).tolist())
    out = {}
    for backend in ("auto", "bin"):
        result = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, text=True,
                                env=_clean_env(TRUSTFACE_DESCRIPTOR_BACKEND=backend), timeout=300)
        assert result.returncode == 0, result.stderr
        out[backend] = json.loads(result.stdout)
    assert out["auto"]["backend"][0] == "onnxruntime" and "verified against" in out["auto"]["backend"][1]
    assert out["bin"]["backend"][0] == "dlib-bin"
    a, b = np.array(out["auto"]["vectors"]), np.array(out["bin"]["vectors"])  # flip-averaged
    assert a.shape == (6, 128) and np.abs(a - b).max() < 1e-5


DESCRIPTOR_INFO = """
import sys
if "block" in sys.argv:
    sys.modules["onnxruntime"] = None  # as where onnxruntime is not installed
from trustface.engine.descriptor import descriptor_backend
print(" | ".join(descriptor_backend()))
"""


def _descriptor_probe(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DESCRIPTOR_INFO, *args], capture_output=True, text=True,
                          env=_clean_env(**env), timeout=300)


def test_without_onnxruntime_the_descriptor_falls_back_to_dlib_and_says_why():
    result = _descriptor_probe({}, "block")
    assert result.returncode == 0, result.stderr
    backend, reason = result.stdout.strip().split(" | ", 1)
    assert backend in ("dlib-blas", "dlib-bin")
    assert "onnxruntime backend unavailable" in reason and "ModuleNotFoundError" in reason


def test_asking_for_onnx_without_onnxruntime_fails_clearly():
    result = _descriptor_probe({"TRUSTFACE_DESCRIPTOR_BACKEND": "onnx"}, "block")
    assert result.returncode != 0 and "TRUSTFACE_DESCRIPTOR_BACKEND=onnx but the onnxruntime backend" in result.stderr


def test_one_switch_forces_dlib_for_the_descriptor_and_the_detector():
    result = _descriptor_probe({"TRUSTFACE_DESCRIPTOR_BACKEND": "bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("dlib-bin | dlib asked for by TRUSTFACE_DESCRIPTOR_BACKEND=bin")
    assert "dlib: asked for by TRUSTFACE_DESCRIPTOR_BACKEND=bin" in result.stdout


def test_the_retired_dlib_switch_is_refused_and_names_its_replacement():
    result = _descriptor_probe({"TRUSTFACE_DLIB_BACKEND": "bin"})
    assert result.returncode != 0
    assert "TRUSTFACE_DLIB_BACKEND is no longer read: set TRUSTFACE_DESCRIPTOR_BACKEND=bin" in result.stderr


def test_an_unknown_descriptor_backend_is_refused():
    result = _descriptor_probe({"TRUSTFACE_DESCRIPTOR_BACKEND": "gpu"})
    assert result.returncode != 0 and "use auto, onnx, blas or bin" in result.stderr


def test_a_corrupt_or_missing_cache_is_rebuilt_and_a_failed_check_is_not_used(tmp_path, monkeypatch, lfw_chips):
    from trustface.engine import onnx_net

    monkeypatch.setenv("TRUSTFACE_ONNX_DIR", str(tmp_path))
    chips = lfw_chips[:2]
    graph, record = onnx_net.prepare(chips=chips)
    assert graph.parent == tmp_path and record["verified"] and record["faces"] == 2
    good = graph.read_bytes()

    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte inside the weights
    graph.write_bytes(bytes(damaged))
    rebuilt, record = onnx_net.prepare(chips=chips)
    assert rebuilt == graph and graph.read_bytes() == good and record["verified"]

    graph.with_name(graph.stem + ".verified.json").unlink()
    graph.write_bytes(b"not a graph")
    _, record = onnx_net.prepare(chips=chips)
    assert graph.read_bytes() == good and record["verified"]

    # a graph whose check against dlib failed is never used: the descriptor falls back, and says why
    record_path = graph.with_name(graph.stem + ".verified.json")
    record_path.write_text(json.dumps({**record, "verified": False, "max_abs": 0.25}))
    result = _descriptor_probe({"TRUSTFACE_ONNX_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    backend, reason = result.stdout.strip().split(" | ", 1)
    assert backend.startswith("dlib-") and "differs from dlib (max abs 0.25" in reason


def test_without_real_faces_at_conversion_the_first_chips_described_are_the_check(tmp_path, lfw_chips):
    code = """
import json, sys, numpy as np
from trustface.engine import describe_chips
from trustface.engine.descriptor import descriptor_backend
chips = list(np.array(json.loads(sys.stdin.read()), dtype=np.uint8))
before = descriptor_backend()
describe_chips(chips, flip=False)
print(json.dumps([before, descriptor_backend()]))
"""
    env = _clean_env(TRUSTFACE_ONNX_DIR=str(tmp_path / "cache"), TRUSTFACE_DATA=str(tmp_path / "no-data"))
    result = subprocess.run([sys.executable, "-c", code], input=json.dumps(np.array(lfw_chips[:2]).tolist()),
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    before, after = json.loads(result.stdout)
    assert before == ["onnxruntime", "verification pending (first chips described)"]
    assert after[0] == "onnxruntime" and "on 2 real faces" in after[1]
    record = json.loads(next((tmp_path / "cache").glob("*.verified.json")).read_text())
    assert record["verified"] and record["source"] == "first chips described"


# --- no import-time side effects; the programmatic switch ---

IMPORT_ONLY = """
import json, os, sys
environ, path = dict(os.environ), list(sys.path)
import trustface.engine
from trustface.engine import _dlib, backend_choice, backends, descriptor, detector, dlib_format, models, onnx_net
print(json.dumps({"environ": dict(os.environ) == environ, "path": sys.path == path,
                  "loaded": sorted(m for m in ("dlib", "_dlib_pybind11", "onnxruntime") if m in sys.modules)}))
"""


def test_importing_the_engine_changes_nothing_and_loads_no_dlib():
    # the switch holds nonsense, so an import that read it would fail; OPENBLAS_* must not appear either
    env = {k: v for k, v in _clean_env(TRUSTFACE_DESCRIPTOR_BACKEND="gpu").items() if not k.startswith("OPENBLAS_")}
    result = subprocess.run([sys.executable, "-c", IMPORT_ONLY], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"environ": True, "path": True, "loaded": []}


SELECT = """
import json, sys, numpy as np
from trustface import engine
chips = np.array(json.loads(sys.stdin.read()), dtype=np.uint8)
out = {}
first = engine.select_backend("bin")  # before first use: the environment's nonsense is never read
out["bin"] = [first.name, first.reason, first.describe_chips(chips).tolist(), str(first.describe_chips(chips).dtype)]
try:
    engine.select_backend("blas")  # dlib-bin is loaded: another dlib cannot replace it
except RuntimeError as error:
    out["blas_refused"] = str(error)
out["after_refusal"] = engine.current_backend().name
onnx = engine.select_backend("onnx")
out["onnx"] = [onnx.name, onnx.reason, onnx.describe_chips(chips).tolist()]
out["protocol"] = [isinstance(b, engine.DescriptorBackend) for b in (first, onnx)]
out["empty"] = list(onnx.describe_chips(chips[:0]).shape) + list(first.describe_chips(chips[:0]).shape)
out["current"] = engine.current_backend().name
print(json.dumps(out))
"""


def test_select_backend_chooses_from_python_and_every_backend_keeps_the_protocol(lfw_chips):
    payload = json.dumps(np.array(lfw_chips[:3]).tolist())
    result = subprocess.run([sys.executable, "-c", SELECT], input=payload, capture_output=True, text=True,
                            env=_clean_env(TRUSTFACE_DESCRIPTOR_BACKEND="gpu"), timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    name, reason, bin_vectors, dtype = out["bin"]
    assert name == "dlib-bin" and "select_backend('bin')" in reason and dtype == "float32"
    assert "already runs dlib-bin" in out["blas_refused"] and "before first use" in out["blas_refused"]
    assert out["after_refusal"] == "dlib-bin"  # a refused choice leaves the previous one in force
    name, reason, onnx_vectors = out["onnx"]
    assert name == "onnxruntime" and "verified against" in reason
    assert out["protocol"] == [True, True] and out["current"] == "onnxruntime"
    assert out["empty"] == [0, 128, 0, 128]
    a, b = np.array(bin_vectors), np.array(onnx_vectors)
    assert a.shape == b.shape == (3, 128) and np.abs(a - b).max() < 1e-5


def test_describe_chips_refuses_what_is_not_an_aligned_chip(lfw_chips):
    from trustface import engine
    from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError

    for bad in ([lfw_chips[0][:100]], [lfw_chips[0].astype(np.float32)], np.zeros((2, 150, 150), np.uint8)):
        with pytest.raises(TrustfaceError) as refused:
            engine.describe_chips(bad)
        assert refused.value.code == E_INVALID_ARGUMENT
    assert engine.describe_chips([]).shape == (0, 128)
