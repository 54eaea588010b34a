"""Where a stage's per-partition work runs: in this process (`[run] executor = "local"`), on a pool of local
worker processes (`"processes"`), one or the other by the size of the work (`"auto"`), or on Ray (`"ray"`).

A stage that fans out splits its work into jobs, `(meta, payload)` pairs read from the store by the driver (this
process). `payload` goes to a pure function (`fn(payload) -> result`, a module-level function so it pickles
by reference); `meta` stays here. `map` yields `(meta, result)` in the order the jobs were given, whatever order
the workers finish in, so the driver writes results in the same order as a local run: same rows, same row order,
same state. Models are not in the payload: the functions load them through per-process caches
(`get_embedder`, the segmenter cache), and every worker (a process of the pool, a Ray actor) stays up for the
run, so a model loads once per worker, not per job. A worker runs one BLAS thread (its share of the cores):
one Python process keeps about one core busy, so two single-threaded workers beat one process with two threads.

Ray is optional (`pip install "chendian[ray]"`) and imported only when a run first fans out.
"""

from __future__ import annotations

import collections
import importlib.util
import itertools
import logging
import multiprocessing
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
    """Every job in this process, one after the other."""

    name = "local"
    workers = 1
    cores_per_worker = 0  # 0: a worker may use every core (BLAS threads), as a plain local run does

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[tuple[Any, Any]], *,
            describe: Callable[[Any], str] | None = None, size: int | None = None) -> Iterator[tuple[Any, Any]]:
        for meta, payload in jobs:
            yield meta, fn(payload)

    def close(self) -> None:
        pass


class JobFailed(Exception):
    """Raised by a pool's _submit/_wait/_result: the job behind `handle` failed; PoolExecutor.map names it."""

    def __init__(self, handle: Any, reason: str, worker_traceback: str = ""):
        super().__init__(reason)
        self.handle, self.reason, self.worker_traceback = handle, reason, worker_traceback


class PoolExecutor:
    """Jobs handed to a pool of workers, results delivered in job order.

    Subclasses say how to submit a job, wait for any one to finish and fetch its result; the windows and the
    reordering live here, so every backend (processes, Ray, and the tests' shuffling fake) delivers the same way.
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

    def _abandon(self) -> None:
        """map stopped before every job was delivered (a failure, the driver's own error, Ctrl-C)."""

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[tuple[Any, Any]], *,
            describe: Callable[[Any], str] | None = None, size: int | None = None) -> Iterator[tuple[Any, Any]]:
        jobs = iter(jobs)
        metas: dict[int, Any] = {}
        pending: dict[Any, int] = {}  # handle → job number
        done: dict[int, Any] = {}
        submitted = delivered = 0
        exhausted = finished = False
        try:
            while True:
                while not exhausted and len(pending) < self.slots and submitted - delivered < self.ahead:
                    job = next(jobs, None)
                    if job is None:
                        exhausted = True
                        break
                    metas[submitted], payload = job
                    try:
                        handle = self._submit(fn, payload)
                    except JobFailed as f:
                        raise self._failure(f, metas[submitted], describe) from None
                    pending[handle] = submitted
                    submitted += 1
                if delivered in done:
                    result = done.pop(delivered)
                    if isinstance(result, JobFailed):  # raised in job order: the jobs before it are delivered
                        raise self._failure(result, metas[delivered], describe)
                    yield metas.pop(delivered), result
                    delivered += 1
                elif pending:
                    try:
                        handle = self._wait(list(pending))
                    except JobFailed as f:  # a worker died: what it held is lost, so now
                        raise self._failure(f, metas[pending[f.handle]], describe) from None
                    try:
                        done[pending[handle]] = self._result(handle)
                    except JobFailed as f:
                        done[pending[handle]] = f
                    del pending[handle]
                else:
                    finished = True
                    return
        finally:
            if not finished:
                self._abandon()

    @staticmethod
    def _failure(f: JobFailed, meta: Any, describe: Callable[[Any], str] | None) -> ExecutorError:
        e = ExecutorError(f"{describe(meta) if describe else 'a job'} failed: {f.reason}")
        if f.worker_traceback:  # a note: not in the one-line message, but printed with CHENDIAN_DEBUG=1
            e.add_note("in the worker:\n" + f.worker_traceback.rstrip())
        return e


def _worker_environment(cores: int) -> dict[str, str]:
    """What a worker's BLAS and OpenMP read when they load: its share of the cores, not every core (set before
    the worker starts, for libraries it loads later, as torch does)."""
    n = str(cores)
    return {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n, "VECLIB_MAXIMUM_THREADS": n,
            "NUMEXPR_NUM_THREADS": n}


def _serve(tasks, results, cores: int) -> None:
    """A pool worker's life: jobs from `tasks`, results (with this process's model counts) to `results`, until
    the driver says stop or goes away (its end of `tasks` closes: a killed driver leaves no worker behind)."""
    import pickle
    import queue
    import signal
    import threading
    import traceback

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it then ends the pool
    from threadpoolctl import threadpool_limits

    from .stages import set_worker_cores

    set_worker_cores(cores)
    threadpool_limits(limits=cores)  # BLAS already loaded by the imports above
    inbox: queue.SimpleQueue = queue.SimpleQueue()

    def read() -> None:
        # Jobs are read as they come, so the driver never blocks sending one while this process sends a result.
        try:
            while True:
                inbox.put(tasks.recv_bytes())
        except (EOFError, OSError):
            inbox.put(None)

    threading.Thread(target=read, daemon=True).start()
    jobs = 0
    while (message := inbox.get()) is not None:
        jobs += 1
        try:
            fn, payload = pickle.loads(message)
            answer = ("ok", fn(payload), {"pid": os.getpid(), "jobs": jobs, "models": models_loaded()})
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # the job's own error, or a result that cannot be pickled
            where = traceback.extract_tb(e.__traceback__)[-1:]
            at = f" (at {os.path.basename(where[0].filename)}:{where[0].lineno})" if where else ""
            reason = str(e) if isinstance(e, ChendianError) else f"{type(e).__name__}: {e}{at}"
            data = pickle.dumps(("error", reason, traceback.format_exc()))
        try:
            results.send_bytes(data)
        except OSError:  # the driver is gone
            return


class _Process:
    def __init__(self, process, tasks, results):
        self.process, self.tasks, self.results = process, tasks, results
        self.running: collections.deque = collections.deque()  # handles sent, in the order it runs them
        self.stats: dict = {"pid": process.pid, "jobs": 0, "models": {}}


class ProcessExecutor(PoolExecutor):
    """Jobs on a pool of local worker processes (`[run] executor = "processes"`): `workers` of them (0: one per
    core), each with one BLAS thread (its share of the cores), started with spawn (no forked copy of the
    driver's BLAS or torch state) when a stage first fans out, and kept for the run, so each loads its models once.
    """

    name = "processes"

    def __init__(self, workers: int = 0):
        self._n = workers or os.cpu_count() or 1
        self._procs: list[_Process] = []
        self._done: dict[int, tuple] = {}
        self._count = itertools.count()

    @property
    def workers(self) -> int:
        return self._n

    @property
    def cores_per_worker(self) -> int:
        return max(1, (os.cpu_count() or 1) // self._n)

    @property
    def started(self) -> bool:
        return bool(self._procs)

    def start(self) -> None:
        if self._procs:
            return
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        saved = {k: os.environ.get(k) for k in _worker_environment(1)}
        os.environ.update(_worker_environment(self.cores_per_worker))  # inherited by the workers as they start
        try:
            for i in range(self._n):
                tasks_r, tasks_w = ctx.Pipe(duplex=False)
                results_r, results_w = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_serve, args=(tasks_r, results_w, self.cores_per_worker), daemon=True,
                                name=f"chendian-worker-{i}")
                p.start()
                tasks_r.close()  # the worker's ends: closed here, so each side sees the other go
                results_w.close()
                self._procs.append(_Process(p, tasks_w, results_r))
        except BaseException:
            self.close()
            raise
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def map(self, fn, jobs, *, describe=None, size=None):
        jobs = iter(jobs)
        first = next(jobs, None)
        if first is None:  # nothing to do: no reason to start the workers
            return iter(())
        self.start()
        return super().map(fn, itertools.chain([first], jobs), describe=describe, size=size)

    def _submit(self, fn, payload):
        import pickle

        handle = next(self._count)
        worker = min(self._procs, key=lambda w: len(w.running))  # the least busy; ties: the first
        try:
            data = pickle.dumps((fn, payload), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            raise JobFailed(handle, f"its input cannot be sent to a worker ({type(e).__name__}: {e})") from None
        try:
            worker.tasks.send_bytes(data)
        except OSError:
            worker.running.append(handle)
            raise JobFailed(handle, self._death(worker)) from None
        worker.running.append(handle)
        return handle

    def _wait(self, handles):
        from multiprocessing.connection import wait

        for h in handles:
            if h in self._done:
                return h
        busy = [w for w in self._procs if w.running]
        while True:
            ready = set(wait([w.results for w in busy] + [w.process.sentinel for w in busy]))
            for w in busy:
                if w.results in ready or w.process.sentinel in ready:
                    if w.results.poll():  # a result first: a worker may send its last one and then exit
                        try:
                            answer = w.results.recv()
                        except (EOFError, OSError):
                            raise JobFailed(w.running[0], self._death(w)) from None
                        handle = w.running.popleft()
                        self._done[handle] = answer
                        if answer[0] == "ok":
                            w.stats = answer[2]
                        return handle
                    if not w.process.is_alive():
                        raise JobFailed(w.running[0], self._death(w))

    def _death(self, worker: _Process) -> str:
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        if code is not None and code < 0:
            import signal

            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
            if -code == signal.SIGKILL:
                how += " (out of memory? see dmesg)"
        else:
            how = f"exit code {code}" if code is not None else "it stopped answering"
        return f"its worker process (pid {worker.process.pid}) died: {how}"

    def _result(self, handle):
        answer = self._done.pop(handle)
        if answer[0] == "error":
            raise JobFailed(handle, answer[1], answer[2])
        return answer[1]

    def _abandon(self) -> None:
        self.close()  # results still in flight would reach the next map: start afresh instead

    def worker_stats(self) -> list[dict]:
        """Every worker's process id, jobs run and models loaded, as of its last result."""
        return [dict(w.stats) for w in self._procs]

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._procs]

    def close(self) -> None:
        procs, self._procs = self._procs, []
        for w in procs:
            w.tasks.close()  # idle workers read the end of their input and exit
        for w in procs:
            w.process.join(timeout=2 if not w.running else 0)
            if w.process.is_alive():  # busy (a failure, Ctrl-C) or stuck: stop it
                w.process.terminate()
                w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.results.close()
        self._done.clear()


class AutoExecutor:
    """`[run] executor = "auto"`: a stage's jobs in this process when they hold little work (a nightly day), on
    the process pool when they hold at least `threshold` messages or texts (a first import, a re-run), and on
    the pool for the rest of the run once it is started (its workers are warm)."""

    name = "auto"

    def __init__(self, workers: int = 0, threshold: int = 20000):
        self.pool = ProcessExecutor(workers)
        self.local = LocalExecutor()
        self.threshold = threshold

    @property
    def workers(self) -> int:
        return self.pool.workers

    @property
    def cores_per_worker(self) -> int:
        return self.pool.cores_per_worker if self.pool.started else 0

    def choose(self, size: int | None):
        """The executor for jobs that hold `size` messages or texts (None: unknown, so the pool only if warm)."""
        if self.pool.started:
            return self.pool
        if size is not None and size >= self.threshold and self.pool.workers > 1:
            return self.pool
        return self.local

    def map(self, fn, jobs, *, describe=None, size=None):
        return self.choose(size).map(fn, jobs, describe=describe, size=size)

    def concurrent_stages(self, pending: int | None) -> int:
        """How many independent stages may run at once (pipeline.stage_groups): on a night, when `pending`
        messages are waiting and fewer than the threshold, the stages themselves are the parallel work (their
        jobs would all run here anyway), one forked process each; else one at a time, the pool sharing out."""
        if pending is None or pending >= self.threshold or self.pool.started or self.pool.workers < 2:
            return 1
        if "fork" not in multiprocessing.get_all_start_methods():
            return 1
        return self.pool.workers

    def close(self) -> None:
        self.pool.close()


class _Worker:
    """A Ray actor: a process that stays up for the whole run, so the models it loads are loaded once."""

    def __init__(self):
        from .stages import set_worker_cores

        set_worker_cores(1)  # num_cpus=1: one BLAS thread (the embedder's threads = 0 resolves to it)
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

    def map(self, fn, jobs, *, describe=None, size=None):
        jobs = iter(jobs)
        first = next(jobs, None)
        if first is None:  # nothing to do tonight: no reason to start Ray
            return iter(())
        self.start()
        return super().map(fn, itertools.chain([first], jobs), describe=describe, size=size)

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
    if config.executor == "processes":
        return ProcessExecutor(config.workers)
    if config.executor == "auto":
        return AutoExecutor(config.workers, config.auto_messages)
    return LocalExecutor()
