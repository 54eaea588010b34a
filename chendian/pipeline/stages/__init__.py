"""One file per stage of the nightly batch, named as `chendian stage <name>` names it, and what a stage is.

A stage is a name, the tables it reads and writes, and `run(ws, rc) -> counts`. Like a luigi task that owns its
outputs or a dbt model that declares its inputs: the runner can check that every table has one writer and that
each stage runs after the stages whose tables it reads. Stage lives here, not in chendian.pipeline, so that the
stage files import nothing of the runner that imports them (no cycle between the two folders).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...errors import ChendianError


class StageError(ChendianError, RuntimeError):
    pass


_WORKER_CORES = 0  # set in a worker process (processes, Ray) to its share of the cores; 0 here: all of them


def worker_cores() -> int:
    """BLAS threads a job may use where it runs: 0 (every core) in the process that runs `chendian run`, the
    worker's share (usually 1) in a pool's worker. Job functions read it, not the driver: with executor = "auto"
    the same job may run here or on a worker."""
    return _WORKER_CORES


def set_worker_cores(cores: int) -> None:
    global _WORKER_CORES
    _WORKER_CORES = cores


@dataclass
class RunContext:
    """What a stage gets besides the workspace: progress bars, a place for warnings, and where its per-chat
    work runs (`executor`, from chendian/pipeline/executor.py; None: in this process)."""

    warnings: list[str] = field(default_factory=list)
    quiet: bool = False
    stage: str = ""
    executor: Any = None

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[tuple[Any, Any]], *,
            describe: Callable[[Any], str] | None = None, size: int | None = None) -> Iterator[tuple[Any, Any]]:
        """(meta, fn(payload)) for each (meta, payload) of jobs, in their order, wherever `fn` runs. `fn` is a
        pure module-level function (pickled by reference); its models come from per-process caches.
        `describe(meta)` names a job in the error when one fails on a worker ("chat 'qq:…'"); `size` is the
        work the jobs hold (messages or texts), by which `executor = "auto"` picks this process or the pool."""
        if self.executor is None:
            return ((meta, fn(payload)) for meta, payload in jobs)
        stage = self.stage or "a stage"

        def named(meta: Any) -> str:
            return f"{stage}: {describe(meta) if describe else 'a job'}"

        return self.executor.map(fn, jobs, describe=named, size=size)

    @property
    def cores_per_worker(self) -> int:
        """BLAS threads a job may use: 0 (all cores) in this process, the worker's share on a pool. A job
        function itself asks worker_cores(), which knows where it runs (auto picks per map)."""
        return 0 if self.executor is None else self.executor.cores_per_worker

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.stage}: {message}")

    def progress(self, total: int | None, desc: str, unit: str = "it"):
        from tqdm import tqdm

        return tqdm(total=total, desc=f"{self.stage}: {desc}", unit=unit, leave=False, file=sys.stderr,
                    disable=True if self.quiet else None)


@dataclass(frozen=True)
class Stage:
    """One step of the nightly batch. Incrementality is the stage's own: most compare a state key
    (`<name>.<what>` in the `state` table) with the store and skip work that is already done."""

    name: str
    run: Callable[..., dict[str, int]]
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # workspace folders it writes (swapped into place whole)
    doc: str = ""
