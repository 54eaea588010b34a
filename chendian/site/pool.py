"""Pages rendered and audited in several processes: the site's pages are pure Python (Jinja, Markdown, the
privacy rewrite, the audit's HTML parser), so one core does all of it unless the work is shared out.

`ordered_map(fn, items, workers)` yields fn(item) for every item in the order given. With workers > 1 the
items go in chunks to forked processes: `fn`, and everything it reads (the site's model, the frozen privacy
rules, the templates), is inherited at the fork, so only the items and the results cross a pipe. The results
come back in order and the caller (this process) writes them, so the files, their bytes and the warnings are
those of a run in one process. Where fork is not available (Windows, macOS's default) it runs in this process.

`fn` must not touch the store: a forked child may not use its parent's database connection.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

CHUNK = 16  # items per message to a worker: fewer round trips, still an even share at the end
MAX_WORKERS = 8

_FN: Callable[[Any], Any] | None = None  # what the forked workers run: set just before the pool starts


def _run_chunk(chunk: list) -> list:
    assert _FN is not None
    return [_FN(item) for item in chunk]


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def default_workers(configured: int = 0) -> int:
    """`[run] workers` (the executor's too): 0 = this machine's cores (at most MAX_WORKERS)."""
    if configured > 0:
        return configured
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def ordered_map(fn: Callable[[Any], Any], items: Iterable[Any], workers: int, chunk: int | None = None) -> Iterator[Any]:
    """fn(item) for each item, in order; in `workers` forked processes when there are more than one."""
    global _FN
    chunk = chunk or CHUNK
    items = iter(items)
    first = list(itertools.islice(items, chunk))
    if workers <= 1 or not can_fork() or len(first) < chunk:  # a handful of pages: not worth a fork
        for item in itertools.chain(first, items):
            yield fn(item)
        return
    if _FN is not None:  # one pool at a time (a nested map runs in the calling process)
        for item in itertools.chain(first, items):
            yield fn(item)
        return
    _FN = fn
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            pending: deque = deque([pool.submit(_run_chunk, first)])
            for batch in iter(lambda: list(itertools.islice(items, chunk)), []):
                pending.append(pool.submit(_run_chunk, batch))
                while len(pending) > 2 * workers:  # bounded read-ahead: results are written as they come
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
    finally:
        _FN = None
