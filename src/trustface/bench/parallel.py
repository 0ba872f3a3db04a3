"""Spread per-image work over worker processes, each loading its models once."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")

CHUNK = 16


def default_workers() -> int:
    """One process per core: dlib-bin runs the network on one core without BLAS threads."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def map_chunks(
    worker: Callable[[Sequence], list[T]],
    items: Sequence,
    *,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[T]:
    """Apply ``worker`` (a module-level function: list of items -> list of results) to
    chunks of ``items`` in ``workers`` processes; results come back in input order."""
    workers = workers or default_workers()
    chunks = [items[k : k + CHUNK] for k in range(0, len(items), CHUNK)]
    results: list[T] = []
    if workers == 1:
        for chunk in chunks:
            results.extend(worker(chunk))
            if on_progress:
                on_progress(len(chunk))
        return results
    # spawn, not fork: workers start clean and load their own models (dlib is not fork-safe
    # once its models hold threads or large buffers).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for chunk, out in zip(chunks, pool.map(worker, chunks), strict=False):
            results.extend(out)
            if on_progress:
                on_progress(len(chunk))
    return results
