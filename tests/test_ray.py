"""The nightly batch on Ray (`[run] executor = "ray"`) gives what a local run gives, table by table and page by page.

The per-chat stages (segment, embed, thread, extract) hand their partitions to an executor and write the results
back in partition order, so the rows, their order and the state are those of a local run whatever order the
workers finish in. Batches are made small here so that even the bundled examples make many partitions.
"""

from __future__ import annotations

import pickle
import random
import sqlite3
from pathlib import Path

import pytest
from chatgen import generate, write_jsonl
from click.testing import CliRunner

from chendian.cli import main
from chendian.pipeline import run_stages
from chendian.pipeline.executor import PoolExecutor
from chendian.pipeline.stages import embed, segment
from chendian.schema import TABLES
from chendian.store import Workspace

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Run bookkeeping: when and from which file, not what (the two workspaces live in different folders).
BOOKKEEPING = {"imports": {"at", "file"}, "messages": {"source"}}
SMALL_BATCHES = {"segment": 50, "embed": 60}  # rows per partition, instead of thousands


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _tables(root: Path, *, order: str) -> dict[str, list[tuple]]:
    """Every table of chendian/schema.py: rows sorted by primary key (order="key") or as stored (order="rowid")."""
    db = sqlite3.connect(root / "chendian.db")
    out = {}
    for table in TABLES:
        info = db.execute(f"PRAGMA table_info({table})").fetchall()
        cols = [r[1] for r in info if r[1] not in BOOKKEEPING.get(table, set())]
        key = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] or cols
        by = ", ".join(key) if order == "key" else "rowid"
        out[table] = db.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {by}").fetchall()
    db.close()
    return out


def _site(root: Path) -> dict[str, bytes]:
    """Every file of the published site, less the line with the build stamp (生成于 …)."""
    site = root / "site"
    return {str(p.relative_to(site)): b"\n".join(line for line in p.read_bytes().split(b"\n")
                                                 if "生成于".encode() not in line)
            for p in sorted(site.rglob("*")) if p.is_file()}


def _workspace(root: Path, *, executor: str) -> Path:
    _cli("init", str(root))
    config = root / "chendian.toml"
    text = config.read_text(encoding="utf-8")
    assert 'executor = "auto"' in text and "ray_cpus = 0" in text  # the init template names the keys
    config.write_text(text.replace('executor = "auto"', f'executor = "{executor}"')
                      .replace("ray_cpus = 0", "ray_cpus = 2"), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def local_and_ray(tmp_path_factory):
    """The examples through `chendian run` twice: executor local, and ray on a local instance of 2 CPUs that the
    run starts and shuts down itself; the ray run's worker statistics are recorded before the shutdown."""
    pytest.importorskip("ray")
    import ray

    from chendian.pipeline import executor as executor_module

    tmp = tmp_path_factory.mktemp("ray")
    stats: list[list[dict]] = []
    real_close = executor_module.RayExecutor.close

    def close_and_record(self):
        if self._ray is not None:
            stats.append(self.worker_stats())
        real_close(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(segment, "BATCH", SMALL_BATCHES["segment"])
        mp.setattr(embed, "BATCH", SMALL_BATCHES["embed"])
        mp.setattr(executor_module.RayExecutor, "close", close_and_record)
        roots = {}
        for name in ("local", "ray"):
            root = roots[name] = _workspace(tmp / name, executor=name)
            for chats in ("wechat", "qq"):
                _cli("-w", str(root), "ingest", str(EXAMPLES / chats))
            output = _cli("-w", str(root), "run", "-q")
            assert "✗" not in output, output
    assert not ray.is_initialized()  # the run shut down the instance it started
    return roots["local"], roots["ray"], stats


@pytest.mark.slow  # the module's two runs of the examples: 65–75 s on 2 shared cores, Ray's start included
def test_ray_gives_every_table_of_a_local_run(local_and_ray):
    local, on_ray, _ = local_and_ray
    a, b = _tables(local, order="key"), _tables(on_ray, order="key")
    assert a["messages"] and a["qas"] and a["faq_entries"] and a["embeddings"]
    differing = {t: (len(a[t]), len(b[t])) for t in TABLES if a[t] != b[t]}
    assert not differing, f"tables that differ (rows local, ray): {differing}"
    # written in the same order too: same rowids, byte for byte (the float16 vectors included)
    assert _tables(local, order="rowid") == _tables(on_ray, order="rowid")


@pytest.mark.slow
def test_ray_builds_the_same_site(local_and_ray):
    local, on_ray, _ = local_and_ray
    a, b = _site(local), _site(on_ray)
    assert "index.html" in a and a.keys() == b.keys()
    differing = [name for name in a if a[name] != b[name]]
    assert not differing, f"{len(differing)} file(s) differ, e.g. {differing[:5]}"


@pytest.mark.slow
def test_ray_workers_load_each_model_once(local_and_ray):
    *_, stats = local_and_ray
    assert len(stats) == 1 and len(stats[0]) == 2, stats  # one executor for the run, one worker per CPU
    workers = stats[0]
    jobs = sum(w["jobs"] for w in workers)
    # segment 10 and embed 8 batches of the examples' 462 messages, thread and extract 2 chats each
    assert jobs >= 20, workers
    assert all(w["jobs"] > 1 for w in workers), workers  # both workers were used
    # each worker ran several segment and embed jobs and holds one segmenter and one embedder: loaded once
    for w in workers:
        assert w["models"] == {"embedders": 1, "segmenters": 1}, w


class ShuffledExecutor(PoolExecutor):
    """Jobs finish in a random order: each payload goes through pickle (as to a worker) and runs when a random
    one of the jobs in flight is waited for."""

    name = "shuffled"

    def __init__(self, workers: int, seed: int):
        self.workers = workers
        self.rng = random.Random(seed)
        self.finished_out_of_order = 0
        self._jobs: dict[int, tuple] = {}
        self._next = 0

    def _submit(self, fn, payload):
        self._next += 1
        self._jobs[self._next] = (fn, pickle.dumps(payload))
        return self._next

    def _wait(self, handles):
        handle = self.rng.choice(handles)
        self.finished_out_of_order += handle != min(handles)
        return handle

    def _result(self, handle):
        fn, payload = self._jobs.pop(handle)
        return pickle.loads(pickle.dumps(fn(pickle.loads(payload))))

    def close(self):
        pass


PER_CHAT_STAGES = ["ingest", "segment", "embed", "thread", "extract"]


def local_and_shuffled(tmp_path, stages, *, chats: int, workers: int, seed: int):
    """Two days of generated chats run through `stages` locally and on a ShuffledExecutor: (the messages, the two
    workspace roots, each run's stage counts, the shuffled executor)."""
    messages = [m for _, day in generate(days=2, messages_per_day=300, chats=chats, variety=0.8) for m in day]
    write_jsonl(tmp_path / "chats.jsonl", messages)
    roots, counts = {}, {}
    shuffled = ShuffledExecutor(workers=workers, seed=seed)
    for name, executor in (("local", None), ("shuffled", shuffled)):
        root = roots[name] = _workspace(tmp_path / name, executor="local")
        (root / "inbox" / "chats.jsonl").write_bytes((tmp_path / "chats.jsonl").read_bytes())
        with Workspace(root) as ws:
            report = run_stages(ws, stages, quiet=True, executor=executor)
        assert report.ok, report.to_json()
        counts[name] = {s.name: s.counts for s in report.stages}
    return messages, roots, counts, shuffled


def test_results_do_not_depend_on_the_order_jobs_finish(tmp_path, monkeypatch):
    monkeypatch.setattr(segment, "BATCH", SMALL_BATCHES["segment"])
    monkeypatch.setattr(embed, "BATCH", SMALL_BATCHES["embed"])
    messages, roots, _, shuffled = local_and_shuffled(tmp_path, PER_CHAT_STAGES, chats=5, workers=3, seed=7)
    assert shuffled.finished_out_of_order > 10  # the jobs really finished out of order
    a, b = _tables(roots["local"], order="rowid"), _tables(roots["shuffled"], order="rowid")
    assert len(a["messages"]) == len(messages) and len(a["qas"]) > 20 and len({r[1] for r in a["messages"]}) == 5
    assert len(a["tokens"]) > 5 * SMALL_BATCHES["segment"] and len(a["embeddings"]) > 5 * SMALL_BATCHES["embed"]
    differing = [t for t in TABLES if a[t] != b[t]]
    assert not differing, f"tables that differ with jobs finishing out of order: {differing}"


def test_a_night_without_work_does_not_start_ray(tmp_path):
    from chendian.pipeline.executor import RayExecutor

    executor = RayExecutor(cpus=2)
    with Workspace(_workspace(tmp_path / "ws", executor="ray")) as ws:
        report = run_stages(ws, PER_CHAT_STAGES, quiet=True, executor=executor)
    assert report.ok and executor._ray is None


def test_executor_ray_without_ray_is_one_clear_line(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    root = _workspace(tmp_path / "ws", executor="ray")
    result = CliRunner().invoke(main, ["-w", str(root), "run", "-q"])
    assert result.exit_code == 1
    assert 'pip install "chendian[ray]"' in result.output and "Traceback" not in result.output


def test_an_unknown_executor_names_the_file_and_the_choices(tmp_path):
    root = _workspace(tmp_path / "ws", executor="spark")
    result = CliRunner().invoke(main, ["-w", str(root), "run", "-q"])
    assert result.exit_code == 1
    assert "chendian.toml" in result.output
    assert "run.executor must be one of local, processes, auto, ray, not 'spark'" in result.output


def test_an_unreachable_cluster_fails_the_run_in_seconds(tmp_path):
    pytest.importorskip("ray")
    root = _workspace(tmp_path / "ws", executor="ray")
    config = root / "chendian.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('ray_address = ""', 'ray_address = "127.0.0.1:1"'),
                      encoding="utf-8")
    _cli("-w", str(root), "ingest", str(EXAMPLES / "qq"))
    result = CliRunner().invoke(main, ["-w", str(root), "stage", "segment"])
    assert result.exit_code == 1
    assert "cannot reach the Ray cluster at [run] ray_address = '127.0.0.1:1'" in result.output, result.output
