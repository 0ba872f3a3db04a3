"""The descriptor backends: CPU-flag logic, selection and fallback, parity on real faces."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from trustface.engine._dlib import FAST_DIR, openblas_coretype

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
                          env={**os.environ, **env}, timeout=600)


BACKEND_INFO = "from trustface.engine._dlib import BACKEND, BACKEND_REASON; print(BACKEND, '|', BACKEND_REASON)"


def test_falls_back_to_dlib_bin_when_the_fast_build_is_missing(tmp_path):
    result = _probe({"TRUSTFACE_DLIB_BLAS_DIR": str(tmp_path / "absent"), "TRUSTFACE_DLIB_BACKEND": "auto"}, BACKEND_INFO)
    assert result.returncode == 0, result.stderr
    backend, reason = result.stdout.strip().split(" | ")
    assert backend == "dlib-bin" and "no fast build" in reason


def test_asking_for_blas_without_it_fails_clearly(tmp_path):
    result = _probe({"TRUSTFACE_DLIB_BLAS_DIR": str(tmp_path / "absent"), "TRUSTFACE_DLIB_BACKEND": "blas"}, BACKEND_INFO)
    assert result.returncode != 0 and "scripts/fast-dlib.sh" in result.stderr


def test_bin_can_be_forced():
    result = _probe({"TRUSTFACE_DLIB_BACKEND": "bin"}, BACKEND_INFO)
    assert result.stdout.startswith("dlib-bin | asked for")


DESCRIBE = """
import json, sys, numpy as np
from trustface.engine import files
from trustface.engine._dlib import BACKEND
paths = json.loads(sys.stdin.read())
vectors = [r.descriptor.tolist() for r in files.describe_files(paths) if r.descriptor is not None]
print(json.dumps({"backend": BACKEND, "vectors": vectors}))
"""


@pytest.mark.slow
def test_fast_backend_gives_the_same_descriptors_as_dlib_bin(lfw_dir):
    if not FAST_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the fast backend is not installed in CI ({FAST_DIR}): scripts/fast-dlib.sh failed")
        pytest.skip("fast backend not built here (scripts/fast-dlib.sh)")
    people = sorted(p for p in (lfw_dir / "images").iterdir())[:400:4]
    paths = [str(sorted(p.iterdir())[0]) for p in people]  # 100 faces of 100 people
    out = {}
    for backend in ("bin", "blas"):
        result = subprocess.run([sys.executable, "-c", DESCRIBE], input=json.dumps(paths), capture_output=True,
                                text=True, env={**os.environ, "TRUSTFACE_DLIB_BACKEND": backend}, timeout=900)
        assert result.returncode == 0, result.stderr
        out[backend] = json.loads(result.stdout)
    assert out["bin"]["backend"] == "dlib-bin" and out["blas"]["backend"] == "dlib-blas"
    a, b = np.array(out["bin"]["vectors"]), np.array(out["blas"]["vectors"])
    assert a.shape[0] >= 98 and a.shape == b.shape
    assert np.abs(a - b).max() < 1e-5
