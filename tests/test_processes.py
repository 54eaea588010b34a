"""`[run] executor = "processes"` (and "auto"): the per-chat stages on a pool of local worker processes.

The pool gives what a local run gives, table by table in rowid order; a job that raises or a worker that dies
is one clear error naming the stage and the chat, with no worker left behind; Ctrl-C and a killed driver leave
no worker behind either.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from chatgen import generate, write_jsonl
from click.testing import CliRunner
from test_ray import PER_CHAT_STAGES, SMALL_BATCHES, _tables, _workspace

from chendian.cli import main
from chendian.errors import ChendianError
from chendian.pipeline import run_stages
from chendian.pipeline.executor import AutoExecutor, ProcessExecutor
from chendian.pipeline.stages import RunContext, embed, segment
from chendian.schema import TABLES
from chendian.store import Workspace

ROOT = Path(__file__).resolve().parent.parent


def pid_of_worker(_: object) -> int:
    """A job: the process it runs in."""
    return os.getpid()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"  # a zombie has exited
    except FileNotFoundError:
        return True


def _wait_gone(pids: list[int], seconds: float = 15) -> list[int]:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not all(_gone(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if not _gone(p)]


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    """A generated workspace's first import and then one more day, per-chat stages, run locally and on a pool
    of 2 worker processes (small batches, so the examples make many jobs); the tables after each night."""
    tmp = tmp_path_factory.mktemp("processes")
    days = list(generate(days=3, messages_per_day=250, chats=5, variety=0.8))
    write_jsonl(tmp / "first.jsonl", [m for _, day in days[:2] for m in day])
    write_jsonl(tmp / "second.jsonl", [m for m in days[2][1]])
    tables: dict[str, list] = {}
    stats: list[dict] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(segment, "BATCH", SMALL_BATCHES["segment"])
        mp.setattr(embed, "BATCH", SMALL_BATCHES["embed"])
        for name in ("local", "processes"):
            root = _workspace(tmp / name, executor="local")
            executor = ProcessExecutor(workers=2) if name == "processes" else None
            try:
                for night in ("first", "second"):
                    (root / "inbox" / f"{night}.jsonl").write_bytes((tmp / f"{night}.jsonl").read_bytes())
                    with Workspace(root) as ws:
                        report = run_stages(ws, PER_CHAT_STAGES, quiet=True, executor=executor)
                    assert report.ok, report.to_json()
                    tables.setdefault(name, []).append(_tables(root, order="rowid"))
                if executor:
                    stats = executor.worker_stats()
                    pids = executor.pids()
            finally:
                if executor:
                    executor.close()
    assert not _wait_gone(pids)  # close() ended the workers
    return tables, stats


def test_a_pool_of_processes_gives_every_table_of_a_local_run(two_days):
    tables, _ = two_days
    for night, (a, b) in enumerate(zip(tables["local"], tables["processes"])):
        assert a["messages"] and a["qas"] and a["message_threads"]
        assert len(a["tokens"]) > 5 * SMALL_BATCHES["segment"] and len(a["embeddings"]) > 5 * SMALL_BATCHES["embed"]
        differing = {t: (len(a[t]), len(b[t])) for t in TABLES if a[t] != b[t]}
        assert not differing, f"night {night + 1}: tables that differ (rows local, processes): {differing}"
    assert len(tables["local"][1]["messages"]) > len(tables["local"][0]["messages"])  # the second night was new


def test_each_worker_loads_its_models_once(two_days):
    _, stats = two_days
    assert len(stats) == 2 and len({w["pid"] for w in stats}) == 2, stats
    assert all(w["jobs"] > 5 for w in stats), stats  # both workers ran many segment and embed batches
    for w in stats:
        assert w["models"] == {"embedders": 1, "segmenters": 1}, w


def test_encode_texts_on_the_pool_gives_the_cache_s_vectors(tmp_path):
    """A global stage (topics) encodes through rc.map: the vectors and cache rows EmbeddingCache.encode gives."""
    texts = [f"第{i}个问题：打印机在三楼{'怎么连' if i % 3 else '坏了吗'}？" for i in range(700)] + ["重复的句子"] * 3
    out = {}
    for name in ("local", "processes"):
        root = _workspace(tmp_path / name, executor="local")
        executor = ProcessExecutor(workers=2) if name == "processes" else None
        try:
            with Workspace(root) as ws:
                rc = RunContext(stage="topics", executor=executor)
                if executor is None:
                    vectors, computed = embed.workspace_cache(ws).encode(texts)
                else:
                    vectors, computed = embed.encode_texts(ws, rc, texts)
                rows = ws.db.execute("SELECT key, vec FROM embeddings ORDER BY rowid").fetchall()
            out[name] = (vectors, computed, rows)
        finally:
            if executor:
                executor.close()
    (a, n_a, rows_a), (b, n_b, rows_b) = out["local"], out["processes"]
    assert n_a == n_b == 701 and a.shape == (703, 512)
    assert np.array_equal(a, b) and rows_a == rows_b


def test_a_job_that_raises_names_the_stage_and_the_chat(tmp_path):
    executor = ProcessExecutor(workers=2)
    rc = RunContext(stage="thread", executor=executor)
    jobs = [({"chat": f"qq:{i}"}, str(i)) for i in range(6)] + [({"chat": "wechat:财务群"}, "七")]
    got = []
    with pytest.raises(ChendianError) as e:
        for meta, n in rc.map(int, jobs, describe=lambda m: f"chat {m['chat']!r}"):
            got.append(n)
    assert got == [0, 1, 2, 3, 4, 5]  # the jobs before it were delivered, in order
    message = str(e.value)
    assert message.startswith("thread: chat 'wechat:财务群' failed: ValueError: invalid literal for int()"), message
    assert not executor.started  # the pool was ended with the failure
    assert "in the worker:\nTraceback" in e.value.__notes__[0]  # shown with CHENDIAN_DEBUG=1, not in the line


def test_a_worker_that_dies_is_an_error_not_a_hang(tmp_path):
    executor = ProcessExecutor(workers=2)
    rc = RunContext(stage="extract", executor=executor)
    pids = []
    jobs = [({"chat": "qq:1"}, None), ({"chat": "qq:2"}, None), ({"chat": "wecom:销售"}, 3)]
    with pytest.raises(ChendianError) as e:
        for meta, pid in rc.map(pid_of_worker, jobs[:2]):
            pids.append(pid)
        pids.extend(executor.pids())
        list(rc.map(os._exit, jobs[2:], describe=lambda m: f"chat {m['chat']!r}"))
    assert str(e.value).startswith("extract: chat 'wecom:销售' failed: its worker process (pid "), str(e.value)
    assert str(e.value).endswith("died: exit code 3")
    assert not _wait_gone(pids)  # the other worker was ended too


def test_a_failing_job_fails_the_run_with_one_line(tmp_path, monkeypatch):
    """Through `chendian run`: a job's error is the stage's failure, one line naming the stage and the batch."""
    root = _workspace(tmp_path / "ws", executor="processes")
    write_jsonl(root / "inbox" / "a.jsonl", [m for _, day in generate(days=1, messages_per_day=40, chats=2)
                                            for m in day])
    # the stopword list the workers are sent is not UTF-8: each worker's Segmenter fails to read it
    monkeypatch.setattr(segment, "segmenter_spec", lambda ws: segment.SegmenterSpec("broken", None, b"\xff\xfe bad"))
    result = CliRunner().invoke(main, ["-w", str(root), "run", "-q"])
    assert result.exit_code == 1
    assert "segment: the batch of " in result.output and " failed: " in result.output, result.output
    assert "Traceback" not in result.output


DRIVER = textwrap.dedent("""
    import sys, time
    from chendian.pipeline.executor import ProcessExecutor

    if __name__ == "__main__":
        executor = ProcessExecutor(workers=2)
        executor.start()
        print(" ".join(map(str, executor.pids())), flush=True)
        try:
            for _ in executor.map(time.sleep, [(i, float(sys.argv[1])) for i in range(20)]):
                pass
        finally:
            executor.close()
""")


def _driver(tmp_path: Path, sleep: float) -> tuple[subprocess.Popen, list[int]]:
    (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # SIGINT as a terminal leaves it: a test run before this one may have left it ignored in this process, and an
    # ignored signal stays ignored across exec (the driver would never see its Ctrl-C).
    p = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(sleep)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    pids = [int(x) for x in p.stdout.readline().split()]
    assert len(pids) == 2, p.stderr.read()
    # Spawned workers import for a while (seconds on a fresh, busy machine): wait until each is serving (it
    # ignores SIGINT from then on) before the test signals, or the signal lands in a worker still starting.
    deadline = time.monotonic() + 60
    while not all(_ignores_sigint(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the workers are inside their jobs
    return p, pids


def _ignores_sigint(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # no /proc (or gone): nothing to wait for
        return True
    mask = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigIgn:")), 0)
    return bool(mask & (1 << (signal.SIGINT - 1)))


def test_ctrl_c_leaves_no_worker_behind(tmp_path):
    p, pids = _driver(tmp_path, sleep=60)
    os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    try:
        p.wait(timeout=30)
    finally:
        p.kill()
    assert "KeyboardInterrupt" in p.stderr.read()
    assert not _wait_gone(pids, 5)


def test_a_killed_driver_leaves_no_worker_behind(tmp_path):
    p, pids = _driver(tmp_path, sleep=1)
    p.kill()  # SIGKILL: no cleanup in the driver at all
    p.wait(timeout=10)
    assert not _wait_gone(pids, 15)  # each worker sees its input close and exits after its job


def test_auto_runs_a_small_stage_here_and_a_large_one_on_the_pool():
    executor = AutoExecutor(workers=2, threshold=1000)
    try:
        small = {pid for _, pid in executor.map(pid_of_worker, [(i, None) for i in range(4)], size=999)}
        assert small == {os.getpid()} and not executor.pool.started
        assert executor.cores_per_worker == 0  # a stage here may use every core
        large = {pid for _, pid in executor.map(pid_of_worker, [(i, None) for i in range(8)], size=1000)}
        assert os.getpid() not in large and executor.pool.started and executor.cores_per_worker == 1
        # once the workers are up (and their models loaded), the rest of the run uses them
        warm = {pid for _, pid in executor.map(pid_of_worker, [(i, None) for i in range(4)], size=1)}
        assert warm <= set(executor.pool.pids())
    finally:
        executor.close()


@pytest.mark.parametrize("line, expected", [
    ('executor = "threads"', "run.executor must be one of local, processes, auto, ray, not 'threads'"),
    ("workers = -1", "run.workers must be 0 (this machine's cores) or more, not -1"),
    ('workers = "two"', "workers"),
    ("auto_messages = 0", "run.auto_messages must be 1 or more, not 0"),
])
def test_bad_run_settings_name_the_file_and_what_is_expected(tmp_path, line, expected):
    root = _workspace(tmp_path / "ws", executor="local")
    config = root / "chendian.toml"
    key = line.split(" =")[0]
    text = config.read_text(encoding="utf-8")
    lines = [line if ln.startswith(f"{key} =") else ln for ln in text.splitlines()]
    assert lines != text.splitlines()  # the template names the key
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["-w", str(root), "run", "-q"])
    assert result.exit_code == 1
    assert "chendian.toml" in result.output and expected in result.output, result.output
    assert "Traceback" not in result.output
