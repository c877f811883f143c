"""Predicting on every core: `predict` hands its runs of work (consecutive rows of a chunk, as arrow tables) to
worker processes forked from the parent, so a worker starts in milliseconds; each checks, simulates and formats
its run, and only the tables in and the encoded predictions out (for CSV, the name of the spill file holding
them) are pickled.

Each run is computed exactly as it would be in the parent, so the output is bit-identical for any number of
workers. Runs are computed in the parent where `fork` is not available (Windows), when one worker is asked for, and in a
process that has imported jax, whose runtime threads make a fork unsafe (jax says so itself).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterator[Any]]

MAX_DEFAULT_WORKERS = 8  # beyond this, reading and writing the file (one process) dominates
MAX_WORKERS = 256


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers() -> int:
    return min(available_cores(), MAX_DEFAULT_WORKERS)


def _serial(function: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    return map(function, items)


@contextmanager
def worker_map(workers: int) -> Iterator[Mapper]:
    """A `map` that keeps the order of its items and runs them on `workers` forked processes (created on first
    use, so a small job never forks)."""
    forkable = "fork" in multiprocessing.get_all_start_methods() and os.name == "posix" and "jax" not in sys.modules
    if workers <= 1 or not forkable:
        yield _serial
        return
    pool: Any = None

    def parallel(function: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        nonlocal pool
        listed = list(items)
        if len(listed) < 2:
            return map(function, listed)
        if pool is None:
            pool = multiprocessing.get_context("fork").Pool(workers)
        return pool.imap(function, listed)

    try:
        yield parallel
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
