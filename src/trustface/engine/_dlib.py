"""The one place that imports dlib, at first use, in the build the backend choice asks for.

Two builds of the same dlib can serve the engine:

* ``dlib-blas``: dlib 20.0.1 built from source against Debian's OpenBLAS by
  ``scripts/fast-dlib.sh`` into ``<venv>/lib/trustface-dlib-blas`` (``$TRUSTFACE_DLIB_BLAS_DIR``
  moves it); the ResNet runs 4-6x faster with the same descriptors (within 1e-5);
* ``dlib-bin``: the prebuilt wheel from PyPI (no BLAS), always installed as the fallback.

The descriptor network itself may run on onnxruntime instead (``backends``, ``onnx_net``); dlib
always runs detection, landmarks and chip extraction. Which build loads follows the one backend
switch (``backend_choice``): ``blas`` needs the fast build; ``bin`` and ``onnx`` take the wheel,
whose HOG detector runs ~2x faster than the source build's (docs/benchmarks.md); ``auto`` takes
the fast build when present, except where a verified ONNX graph is cached: then the wheel too.

Importing this module does nothing: :func:`dlib_build` loads dlib on its first call (and only
then sets ``OPENBLAS_CORETYPE`` / ``OPENBLAS_NUM_THREADS``, which OpenBLAS reads as it loads).
``sys.path`` is never changed: the fast build is imported from its folder by path.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from trustface.engine.backend_choice import BackendChoice, current_choice

#: dlib's compiled module; its Python package re-exports it (``from _dlib_pybind11 import *``).
_EXTENSION = "_dlib_pybind11"


@dataclass(frozen=True)
class DlibBuild:
    """name: ``dlib-blas`` or ``dlib-bin``; reason: why this build was loaded; module: ``dlib``."""

    name: str
    reason: str
    module: ModuleType


def fast_dir() -> Path:
    """Where ``scripts/fast-dlib.sh`` installs the OpenBLAS build (a location, not a choice)."""
    return Path(os.environ.get("TRUSTFACE_DLIB_BLAS_DIR") or Path(sys.prefix) / "lib" / "trustface-dlib-blas")


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
    try:
        if importlib.util.find_spec("onnxruntime") is None:
            return False
        from trustface.engine import onnx_net

        graph, record_path = onnx_net.cached_paths()
        record = onnx_net.read_record(record_path)
        return bool(record and record.get("verified")) and graph.is_file()
    except Exception:  # noqa: BLE001 - any doubt: keep the dlib build that describes fastest
        return False


def _import_from(folder: Path) -> ModuleType:
    """Import ``dlib`` (and its compiled module) from ``folder`` without putting it on sys.path."""
    for name in (_EXTENSION, "dlib"):  # dlib/__init__.py imports the extension by its top-level name
        if name in sys.modules:
            continue
        spec = importlib.machinery.PathFinder.find_spec(name, [str(folder)])
        if spec is None or spec.loader is None:
            raise RuntimeError(f"{folder} holds no {name}; rerun scripts/fast-dlib.sh")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules["dlib"]


def _load_blas(folder: Path) -> DlibBuild:
    coretype = openblas_coretype(cpu_flags())
    if coretype and "OPENBLAS_CORETYPE" not in os.environ:
        os.environ["OPENBLAS_CORETYPE"] = coretype
    # One BLAS thread per process: work is spread over processes, and more threads
    # made no measurable difference for this network (baselines.md).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    module = _import_from(folder)
    if not getattr(module, "DLIB_USE_BLAS", False):
        raise RuntimeError(f"{folder} holds a dlib without BLAS (or dlib-bin was imported first); "
                           "rerun scripts/fast-dlib.sh")
    core = os.environ.get("OPENBLAS_CORETYPE", "chosen by OpenBLAS")
    return DlibBuild("dlib-blas", f"built against OpenBLAS in {folder} (core type {core})", module)


def _load(asked: BackendChoice) -> DlibBuild:
    folder = fast_dir()
    if asked.choice == "onnx" or (asked.choice == "auto" and folder.is_dir() and _onnx_ready()):
        import dlib

        return DlibBuild("dlib-bin", f"the descriptor runs on onnxruntime ({asked.source}), and dlib-bin's HOG detector "
                                     "is ~2x faster than the dlib-blas build's (9 vs 16 ms per 250x250 photo, "
                                     "docs/benchmarks.md)", dlib)
    if asked.choice != "bin" and folder.is_dir():
        return _load_blas(folder)
    if asked.choice == "blas":
        raise RuntimeError(f"{asked.source} but {folder} is missing; run scripts/fast-dlib.sh")
    import dlib

    reason = f"asked for by {asked.source}" if asked.choice == "bin" else f"no fast build at {folder}"
    return DlibBuild("dlib-bin", reason, dlib)


_LOCK = threading.RLock()
_build: DlibBuild | None = None


def dlib_build() -> DlibBuild:
    """The dlib build this process runs, loaded on the first call for the backend choice in force
    (one per process: two dlib builds cannot share one interpreter)."""
    global _build
    with _LOCK:
        if _build is None:
            _build = _load(current_choice())
        return _build


def loaded_build() -> DlibBuild | None:
    """The dlib build already loaded, or None before first use."""
    return _build


def dlib() -> ModuleType:
    """The ``dlib`` module (loading it on the first call)."""
    return dlib_build().module
