"""Where a stage's per-partition work runs: in this process (`[run] executor = "local"`) or on Ray (`"ray"`).

A stage that fans out splits its work into jobs, `(meta, payload)` pairs read from the store by the driver (this
process). `payload` goes to a pure function (`fn(payload) -> result`, a module-level function so Ray can pickle it
by reference); `meta` stays here. `map` yields `(meta, result)` in the order the jobs were given, whatever order
the workers finish in, so the driver writes results in the same order as a local run: same rows, same row order,
same state. Models are not in the payload: the functions load them through per-process caches
(`get_embedder`, the segmenter cache), and on Ray each worker is a long-lived actor, so a model loads once per
worker, not per job.

Ray is optional (`pip install "chendian[ray]"`) and imported only when a run first fans out.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..config import RunConfig
from ..errors import ChendianError


class ExecutorError(ChendianError, RuntimeError):
    pass


RAY_MISSING = ('[run] executor = "ray" needs Ray, which is not installed: pip install "chendian[ray]" '
               '(or set executor = "local")')


class LocalExecutor:
    """Every job in this process, one after the other (the default)."""

    name = "local"
    workers = 1
    cores_per_worker = 0  # 0: a worker may use every core (BLAS threads), as a plain local run does

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        for meta, payload in jobs:
            yield meta, fn(payload)

    def close(self) -> None:
        pass


class PoolExecutor:
    """Jobs handed to a pool of workers, results delivered in job order.

    Subclasses say how to submit a job, wait for any one to finish and fetch its result; the windows and the
    reordering live here, so every backend (Ray, and the tests' shuffling fake) delivers the same way.
    At most `slots` jobs are in flight, and at most `ahead` jobs past the oldest undelivered one are read from
    the store, so the driver's memory stays bounded when one partition is slow.
    """

    name = "pool"
    workers = 1
    cores_per_worker = 1

    @property
    def slots(self) -> int:
        return 2 * self.workers  # one running and one queued per worker: the driver's reading overlaps the work

    @property
    def ahead(self) -> int:
        return 4 * self.workers  # a chat's job holds its messages and vectors: keep few of them read ahead

    def _submit(self, fn: Callable, payload: Any) -> Any:
        raise NotImplementedError

    def _wait(self, handles: list) -> Any:
        """One handle of `handles` whose job has finished."""
        raise NotImplementedError

    def _result(self, handle: Any) -> Any:
        raise NotImplementedError

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        jobs = iter(jobs)
        metas: dict[int, Any] = {}
        pending: dict[Any, int] = {}  # handle → job number
        done: dict[int, Any] = {}
        submitted = delivered = 0
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.slots and submitted - delivered < self.ahead:
                job = next(jobs, None)
                if job is None:
                    exhausted = True
                    break
                metas[submitted], payload = job
                pending[self._submit(fn, payload)] = submitted
                submitted += 1
            if delivered in done:
                yield metas.pop(delivered), done.pop(delivered)
                delivered += 1
            elif pending:
                handle = self._wait(list(pending))
                done[pending.pop(handle)] = self._result(handle)
            else:
                return


class _Worker:
    """A Ray actor: a process that stays up for the whole run, so the models it loads are loaded once."""

    def __init__(self):
        self.jobs = 0

    def call(self, fn: Callable[[Any], Any], payload: Any) -> Any:
        self.jobs += 1
        return fn(payload)

    def stats(self) -> dict:
        return {"pid": os.getpid(), "jobs": self.jobs, "models": models_loaded()}


def models_loaded() -> dict[str, int]:
    """The models this process holds in its per-process caches (a worker's should not grow with its jobs)."""
    from ..summarize.text import embed
    from .stages import segment

    return {"embedders": len(embed._EMBEDDERS), "segmenters": len(segment._SEGMENTERS)}


class RayExecutor(PoolExecutor):
    """Jobs as calls on Ray actors, one actor per CPU of the cluster (or of the local instance it starts)."""

    name = "ray"

    def __init__(self, address: str = "", cpus: int = 0):
        self.address = address
        self.cpus = cpus
        self._ray = None
        self._started = False  # this process started (or connected to) Ray and must shut it down
        self._actors: list = []
        self._load: dict = {}  # actor → jobs in flight
        self._actor_of: dict = {}  # handle → actor

    @property
    def workers(self) -> int:
        self.start()
        return len(self._actors)

    def start(self) -> None:
        if self._ray is not None:
            return
        try:
            import ray
        except ImportError:
            raise ExecutorError(RAY_MISSING) from None
        if not ray.is_initialized():
            if self.address:
                _check_reachable(self.address)
            options = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
            try:
                if self.address:
                    ray.init(address=self.address, **options)
                else:
                    ray.init(num_cpus=self.cpus or os.cpu_count() or 1, **options)
            except (ConnectionError, ValueError, RuntimeError) as e:
                where = f"the Ray cluster at [run] ray_address = {self.address!r}" if self.address else \
                    "a local Ray instance"
                raise ExecutorError(f"cannot start {where}: {e}") from None
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise ExecutorError(f"the Ray cluster{' at ' + self.address if self.address else ''} has no CPUs")
        # Jobs are pure, so a job whose worker died (a lost node, the OOM killer) may simply run again.
        actor = ray.remote(num_cpus=1, max_restarts=2, max_task_retries=2)(_Worker)
        self._actors = [actor.remote() for _ in range(cpus)]
        self._load = {a: 0 for a in self._actors}
        self._ray = ray

    def map(self, fn, jobs):
        jobs = iter(jobs)
        first = next(jobs, None)
        if first is None:  # nothing to do tonight: no reason to start Ray
            return iter(())
        self.start()
        return super().map(fn, itertools.chain([first], jobs))

    def _submit(self, fn, payload):
        actor = min(self._actors, key=self._load.__getitem__)  # the least busy; ties: the first
        self._load[actor] += 1
        handle = actor.call.remote(fn, payload)
        self._actor_of[handle] = actor
        return handle

    def _wait(self, handles):
        ready, _ = self._ray.wait(handles, num_returns=1)
        return ready[0]

    def _result(self, handle):
        self._load[self._actor_of.pop(handle)] -= 1
        try:
            return self._ray.get(handle)
        except self._ray.exceptions.RayTaskError as e:
            raise e.as_instanceof_cause() from None  # the worker's own exception (a ChendianError stays one)

    def worker_stats(self) -> list[dict]:
        """Every worker's process id, jobs run and models loaded (models load once per worker, not per job)."""
        self.start()
        return self._ray.get([a.stats.remote() for a in self._actors])

    def close(self) -> None:
        if self._ray is None:
            return
        for a in self._actors:
            self._ray.kill(a)
        self._actors, self._load, self._actor_of = [], {}, {}
        if self._started:
            self._ray.shutdown()
        self._ray, self._started = None, False


def _check_reachable(address: str) -> None:
    """Fail in seconds on an address nobody answers at (ray.init retries it for minutes)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"[run] ray_address = {address!r}: expected host:port, ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise ExecutorError(f"cannot reach the Ray cluster at [run] ray_address = {address!r}: {e}") from None


def executor_for(config: RunConfig):
    """The executor `[run]` asks for; Ray is not started until a stage first fans out."""
    if config.executor == "ray":
        if importlib.util.find_spec("ray") is None:  # said before the run starts, not as a failed stage
            raise ExecutorError(RAY_MISSING)
        return RayExecutor(config.ray_address, config.ray_cpus)
    return LocalExecutor()
