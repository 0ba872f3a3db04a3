"""Descriptor backends: one protocol, three implementations, chosen by one setting.

A backend maps aligned chips, shape (N, 150, 150, 3) uint8 RGB as ``dlib.get_face_chips`` cuts
them, to descriptors of shape (N, 128) float32. All three run the same dlib ResNet with the same
weights and agree within 1e-5 (tests/engine/test_backend.py):

* ``onnxruntime``: the network converted to ONNX from the shipped model file (``onnx_net``),
  used only once verified against dlib on real faces;
* ``dlib-blas``: dlib built against OpenBLAS by ``scripts/fast-dlib.sh``;
* ``dlib-bin``: the prebuilt dlib wheel, always installed.

``TRUSTFACE_DESCRIPTOR_BACKEND`` = ``auto`` (default: the first of those that works), ``onnx``,
``blas`` or ``bin`` forces one and fails, saying why, where it cannot run. From Python,
:func:`select_backend` does the same. :func:`current_backend` picks on first use (converting and
verifying the ONNX graph where the cache lacks it: a few seconds, once per machine); each backend
says in ``reason`` why it runs, and ``trustface doctor`` and the LFW bench report it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from trustface.engine import models
from trustface.engine._dlib import DlibBuild, dlib_build, loaded_build
from trustface.engine.backend_choice import BackendChoice, current_choice, parse_choice, set_choice

if TYPE_CHECKING:
    from pathlib import Path

    import onnxruntime

__all__ = ["DescriptorBackend", "DlibDescriptor", "OnnxDescriptor", "current_backend", "select_backend"]


@runtime_checkable
class DescriptorBackend(Protocol):
    """Computes 128-D descriptors of aligned face chips."""

    @property
    def name(self) -> str:
        """``onnxruntime``, ``dlib-blas`` or ``dlib-bin``."""
        ...

    @property
    def reason(self) -> str:
        """Why this backend runs in this process (for ``trustface doctor`` and bench reports)."""
        ...

    def describe_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Descriptors (N, 128) float32 of aligned chips uint8 RGB in the backend's own geometry,
        in order: dlib's (N, 150, 150, 3) here; SFace's (N, 112, 112, 3) (``engine.sface``)."""
        ...


class DlibDescriptor:
    """dlib's own ResNet, in whichever build this process loaded (``dlib-blas`` or ``dlib-bin``)."""

    def __init__(self, build: DlibBuild, reason: str) -> None:
        self.name = build.name
        self.reason = reason

    def describe_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        return models.dlib_descriptors(chips)


class OnnxDescriptor:
    """The converted graph on onnxruntime (one thread; work is spread over processes)."""

    name = "onnxruntime"

    def __init__(self, session: onnxruntime.InferenceSession, reason: str) -> None:
        self.session = session
        self.reason = reason

    def describe_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        from trustface.engine import onnx_net

        return onnx_net.run(self.session, chips)


class _UnverifiedOnnx:
    """The converted graph where no real faces were at hand to check it at conversion: the first
    chips described are the check. They are described by dlib; afterwards the process runs on
    onnxruntime (when the graph matched) or stays on dlib (when it did not), and says so."""

    name = "onnxruntime"
    reason = "verification pending (first chips described)"

    def __init__(self, session: onnxruntime.InferenceSession, graph: Path, record: dict[str, Any],
                 record_path: Path) -> None:
        self.session, self.graph, self.record, self.record_path = session, graph, record, record_path

    def describe_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        from trustface.engine import onnx_net

        global _current
        if not len(chips):  # nothing to check on
            return models.dlib_descriptors(chips)
        with _LOCK:
            if _current is self:  # else another thread checked meanwhile
                record = onnx_net.verify(self.session, chips, "first chips described")
                record.update(sha256=self.record.get("sha256"), model_file=self.record.get("model_file"))
                onnx_net.write_record(self.record_path, record)
                if record["verified"]:
                    _current = OnnxDescriptor(self.session, _onnx_reason(record, self.graph))
                else:
                    _current = _dlib_fallback(f"the ONNX graph differs from dlib (max abs {record['max_abs']})")
        return models.dlib_descriptors(chips)


def _onnx_reason(record: dict[str, Any], graph: Path) -> str:
    return (f"dlib ResNet converted to ONNX ({graph}), verified against {record['against']} on "
            f"{record['faces']} real faces (max abs {record['max_abs']:.1e} <= {record['tolerance']:.0e}); "
            f"onnxruntime {record['onnxruntime']}, 1 thread")


def _dlib_fallback(why: str) -> DlibDescriptor:
    build = dlib_build()
    return DlibDescriptor(build, f"{why}; dlib: {build.reason}")


def _choose(asked: BackendChoice) -> DescriptorBackend:
    """The backend for a choice: the one asked for, or for ``auto`` the first that works."""
    if asked.choice in ("blas", "bin"):
        build = dlib_build()
        if build.name != f"dlib-{asked.choice}":
            raise RuntimeError(f"descriptor backend {asked.choice} asked for ({asked.source}), "
                               f"but dlib is {build.name}: {build.reason}")
        return DlibDescriptor(build, f"dlib asked for by {asked.source}; dlib: {build.reason}")
    try:
        import onnxruntime  # noqa: F401 - its absence is the commonest reason to fall back

        from trustface.engine import onnx_net

        graph, record = onnx_net.prepare()
        session = onnx_net.session(graph)
    except Exception as error:  # noqa: BLE001 - any failure means: use the next backend, and say why
        why = f"onnxruntime backend unavailable ({type(error).__name__}: {error})"
        if asked.choice == "onnx":
            raise RuntimeError(f"{asked.source} but the {why}") from error
        return _dlib_fallback(why)
    _, record_path = onnx_net.cached_paths()
    if record.get("verified"):
        return OnnxDescriptor(session, _onnx_reason(record, graph))
    if record.get("verified") is None:
        return _UnverifiedOnnx(session, graph, record, record_path)
    why = f"the ONNX graph differs from dlib (max abs {record.get('max_abs')}, record {record_path})"
    if asked.choice == "onnx":
        raise RuntimeError(f"{asked.source} but {why}")
    return _dlib_fallback(why)


_LOCK = threading.RLock()
_current: DescriptorBackend | None = None


def current_backend() -> DescriptorBackend:
    """The backend that computes descriptors in this process: the one :func:`select_backend`
    chose, else the one ``TRUSTFACE_DESCRIPTOR_BACKEND`` asks for (read here, at the first call).

    Raises RuntimeError where a forced backend cannot run, or the setting is not a backend.
    """
    global _current
    backend = _current  # the common case, without the lock
    if backend is not None:
        return backend
    with _LOCK:
        if _current is None:
            _current = _choose(current_choice())
        return _current


def select_backend(name: str) -> DescriptorBackend:
    """Choose the backend from Python: ``auto``, ``onnx``, ``blas`` or ``bin``, as the environment
    variable would. Takes effect now and returns the backend; raises RuntimeError (and keeps the
    previous choice) where it cannot run. ``blas`` and ``bin`` name a dlib build, which must be
    chosen before dlib is first used: a process cannot swap one dlib for another.
    """
    global _current
    asked = parse_choice(name, f"select_backend({name!r})")
    loaded = loaded_build()
    if loaded is not None and asked.choice in ("blas", "bin") and loaded.name != f"dlib-{asked.choice}":
        raise RuntimeError(f"{asked.source}: this process already runs {loaded.name} ({loaded.reason}); "
                           f"choose {asked.choice} before first use, or set TRUSTFACE_DESCRIPTOR_BACKEND={asked.choice}")
    with _LOCK:
        previous_choice, previous_backend = set_choice(asked), _current
        try:
            _current = _choose(asked)
        except BaseException:
            set_choice(previous_choice)
            _current = previous_backend
            raise
        return _current


def backend_report() -> dict[str, Any]:
    """What runs and why, for ``trustface doctor``: the descriptor backend and the dlib build."""
    backend = current_backend()
    build = dlib_build()
    return {"backend": backend.name, "backend_reason": backend.reason, "dlib_backend": build.name,
            "dlib_backend_reason": build.reason, "dlib": build.module.__version__,
            "dlib_use_blas": bool(getattr(build.module, "DLIB_USE_BLAS", False))}
