"""The one place that imports dlib, so the choice of backend lives in one spot.

Two builds of the same dlib can serve the engine:

* ``dlib-blas``: dlib 20.0.1 built from source against Debian's OpenBLAS by
  ``scripts/fast-dlib.sh`` into ``<venv>/lib/trustface-dlib-blas``; the ResNet runs 4-6x
  faster with the same descriptors (within 1e-5);
* ``dlib-bin``: the prebuilt wheel from PyPI (no BLAS), always installed as the fallback.

The descriptor network itself may run on onnxruntime instead (``descriptor.py``,
``onnx_net.py``); dlib always runs detection, landmarks and chip extraction. Where a verified
ONNX graph is cached, ``auto`` loads ``dlib-bin``: its HOG detector runs ~2x faster than the
source build's (measured, docs/benchmarks.md), and the source build's BLAS no longer matters.

``TRUSTFACE_DLIB_BACKEND`` = ``auto`` (default: the fast build when present), ``blas`` (fail
if absent) or ``bin`` (where it is unset, ``TRUSTFACE_DESCRIPTOR_BACKEND=blas|bin`` counts);
``TRUSTFACE_DLIB_BLAS_DIR`` moves the fast build. ``BACKEND`` and ``BACKEND_REASON`` say what runs and why
(``trustface doctor`` prints them).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FAST_DIR = Path(os.environ.get("TRUSTFACE_DLIB_BLAS_DIR") or Path(sys.prefix) / "lib" / "trustface-dlib-blas")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def openblas_coretype(flags: set[str]) -> str | None:
    """The OpenBLAS kernel family a CPU can run, or None to let OpenBLAS decide.

    Debian's OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs and falls back to
    generic kernels (2x slower here); naming the family fixes that. A family is only named
    when every instruction set it uses is present, so it is never forced onto a CPU that
    lacks them.
    """
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma", "avx"} <= flags:
        return "Haswell"
    return None


def _onnx_ready() -> bool:
    """Whether a verified ONNX graph of the descriptor network is cached (engine/onnx_net.py), so
    dlib will only detect, find landmarks and cut chips. Cheap: file checks, no onnxruntime import."""
    import importlib.util

    try:
        if importlib.util.find_spec("onnxruntime") is None:
            return False
        from trustface.engine import onnx_net

        graph, record_path = onnx_net.cached_paths()
        record = onnx_net.read_record(record_path)
        return bool(record and record.get("verified")) and graph.is_file()
    except Exception:  # noqa: BLE001 - any doubt: keep the dlib build that describes fastest
        return False


def _load():
    # TRUSTFACE_DESCRIPTOR_BACKEND=blas|bin (descriptor.py) names a dlib build too.
    descriptor = os.environ.get("TRUSTFACE_DESCRIPTOR_BACKEND")
    wanted = os.environ.get("TRUSTFACE_DLIB_BACKEND") or (descriptor if descriptor in ("blas", "bin") else "auto")
    if wanted not in ("auto", "blas", "bin"):
        raise RuntimeError(f"TRUSTFACE_DLIB_BACKEND={wanted!r}: use auto, blas or bin")
    if wanted == "auto" and FAST_DIR.is_dir() and descriptor in (None, "", "auto", "onnx") and _onnx_ready():
        import dlib as module

        return module, "dlib-bin", ("the descriptor runs on onnxruntime, and dlib-bin's HOG detector is ~2x faster "
                                    "than the dlib-blas build's (9 vs 16 ms per 250x250 photo, docs/benchmarks.md)")
    if wanted != "bin" and FAST_DIR.is_dir():
        coretype = openblas_coretype(cpu_flags())
        if coretype and "OPENBLAS_CORETYPE" not in os.environ:
            os.environ["OPENBLAS_CORETYPE"] = coretype
        # One BLAS thread per process: work is spread over processes, and more threads
        # made no measurable difference for this network (baselines.md).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        sys.path.insert(0, str(FAST_DIR))
        try:
            import dlib as module
        finally:
            sys.path.remove(str(FAST_DIR))
        if getattr(module, "DLIB_USE_BLAS", False):
            core = os.environ.get("OPENBLAS_CORETYPE", "chosen by OpenBLAS")
            return module, "dlib-blas", f"built against OpenBLAS in {FAST_DIR} (core type {core})"
        raise RuntimeError(f"{FAST_DIR} holds a dlib without BLAS; rerun scripts/fast-dlib.sh")
    if wanted == "blas":
        raise RuntimeError(f"TRUSTFACE_DLIB_BACKEND=blas but {FAST_DIR} is missing; run scripts/fast-dlib.sh")
    import dlib as module

    reason = "asked for by the environment (bin)" if wanted == "bin" else f"no fast build at {FAST_DIR}"
    return module, "dlib-bin", reason


dlib, BACKEND, BACKEND_REASON = _load()
