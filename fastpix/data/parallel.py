"""Running data-set work in worker processes.

Workers are *spawned*, not forked: a process forked after torch has started its OpenMP
threads can hang on its first parallel operation, and the writers run inside training
scripts and test sessions that have.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_processes(
    fn: Callable[[Item], Result], items: Sequence[Item], workers: int, chunksize: int = 1
) -> list[Result]:
    """``[fn(item) for item in items]``, computed by ``workers`` spawned processes (in this
    process when ``workers`` is 1 or there is a single item). ``fn`` must be importable (a
    module-level function)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(items) <= 1:
        return [fn(item) for item in items]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(items)), mp_context=context) as pool:
        return list(pool.map(fn, items, chunksize=chunksize))
