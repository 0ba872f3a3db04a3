"""The one switch that picks the descriptor backend, read once, at first use.

``TRUSTFACE_DESCRIPTOR_BACKEND`` = ``auto`` (default), ``onnx``, ``blas`` or ``bin``; or, from
Python, :func:`trustface.engine.backends.select_backend`. This module is the only place that
reads the variable, and it reads it when the engine first needs a backend, never at import.

The choice covers both things that run dlib's ResNet: which descriptor backend computes the
128-D vectors, and which dlib build (``dlib-blas`` or ``dlib-bin``) detects and cuts chips.
``TRUSTFACE_ENGINE`` (:func:`engine_choice`) is the other switch read here: which recognition
engine compares photos (``fused``, ``dlib`` or ``sface``).

The retired ``TRUSTFACE_DLIB_BACKEND`` is refused by name, with the value to use instead: a
switch that is silently ignored would leave a deployment on a backend nobody chose.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Literal

Choice = Literal["auto", "onnx", "blas", "bin"]

#: Every accepted value, in the order of the ``auto`` preference (onnxruntime > dlib-blas > dlib-bin).
CHOICES: tuple[Choice, ...] = ("auto", "onnx", "blas", "bin")

ENVIRONMENT_VARIABLE = "TRUSTFACE_DESCRIPTOR_BACKEND"

#: Chose the dlib build before the single switch existed; now refused with its replacement.
RETIRED_VARIABLE = "TRUSTFACE_DLIB_BACKEND"


@dataclass(frozen=True)
class BackendChoice:
    """choice: what was asked for; source: who asked, quoted in reasons and errors
    (``TRUSTFACE_DESCRIPTOR_BACKEND=onnx``, ``select_backend('bin')``, ``the default (auto)``)."""

    choice: Choice
    source: str


def parse_choice(value: str, source: str) -> BackendChoice:
    """Validate ``value``; raises RuntimeError naming ``source`` and the accepted values."""
    if value not in CHOICES:
        raise RuntimeError(f"{source}: {value!r} is not a descriptor backend; use {', '.join(CHOICES[:-1])} or {CHOICES[-1]}")
    return BackendChoice(value, source)


def from_environment() -> BackendChoice:
    """The choice the environment makes (``auto`` where the variable is unset or empty)."""
    retired = os.environ.get(RETIRED_VARIABLE)
    if retired:
        replacement = f"{ENVIRONMENT_VARIABLE}={retired}" if retired in CHOICES else f"{ENVIRONMENT_VARIABLE}"
        raise RuntimeError(f"{RETIRED_VARIABLE} is no longer read: set {replacement} instead "
                           "(one setting now chooses the descriptor backend and its dlib build)")
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    if not value:
        return BackendChoice("auto", "the default (auto)")
    return parse_choice(value, f"{ENVIRONMENT_VARIABLE}={value}")


_LOCK = threading.Lock()
_chosen: BackendChoice | None = None


def current_choice() -> BackendChoice:
    """The choice in force: the one set last by :func:`set_choice`, else the environment's
    (read on the first call and kept for the life of the process)."""
    global _chosen
    with _LOCK:
        if _chosen is None:
            _chosen = from_environment()
        return _chosen


def set_choice(choice: BackendChoice | None) -> BackendChoice | None:
    """Replace the choice in force (None: read the environment again at the next use);
    returns the one it replaces (None where the environment was not read yet)."""
    global _chosen
    with _LOCK:
        previous, _chosen = _chosen, choice
        return previous


# --- which recognition engine: dlib alone, SFace alone, or both fused -----------------------

Engine = Literal["fused", "dlib", "sface"]

#: Accepted values of ``TRUSTFACE_ENGINE``; the first is the default.
ENGINES: tuple[Engine, ...] = ("fused", "dlib", "sface")

ENGINE_VARIABLE = "TRUSTFACE_ENGINE"

_engine: Engine | None = None


def engine_choice() -> Engine:
    """The recognition engine for 1:1 comparisons of photos and ``trustface bench lfw``:
    ``fused`` (default: dlib and SFace, scores standardised and summed, ``engine.fusion``),
    ``dlib`` (the dlib ResNet alone: no SFace weights needed) or ``sface``. Read from
    ``TRUSTFACE_ENGINE`` at the first call, else set by :func:`set_engine`. Gallery templates
    stay dlib descriptors whatever this says (they carry no model version yet)."""
    global _engine
    with _LOCK:
        if _engine is None:
            value = os.environ.get(ENGINE_VARIABLE) or ENGINES[0]
            if value not in ENGINES:
                raise RuntimeError(f"{ENGINE_VARIABLE}={value}: not an engine; use {', '.join(ENGINES[:-1])} or {ENGINES[-1]}")
            _engine = value
        return _engine


def set_engine(value: str | None) -> None:
    """Choose the engine from Python (None: read ``TRUSTFACE_ENGINE`` again at the next use)."""
    global _engine
    if value is not None and value not in ENGINES:
        raise RuntimeError(f"set_engine({value!r}): not an engine; use {', '.join(ENGINES[:-1])} or {ENGINES[-1]}")
    with _LOCK:
        _engine = value
