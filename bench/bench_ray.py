"""The per-chat stages local vs on Ray (issue 17's benchmark): what fanning out costs and buys on one machine.

Run by hand (Ray installed: `pip install -e '.[ray]'`):
`.venv/bin/python bench/bench_ray.py [--messages 20000] [--chats 20] [--workers 2] [--repeat 1]`.
A generated workspace (tests/chatgen.py, as bench/bench_pipeline.py makes it) is ingested once; copies of it run
segment, embed, thread and extract with `executor = local` (this process, BLAS on every core) and on a local Ray
instance with `--workers` CPUs (one actor per CPU, one BLAS thread each), and local once more with BLAS on one
thread (`[embed] threads = 1` and numpy's pool), since on a loaded machine BLAS threads that wait for a core cost
more than they bring and Ray's workers run with one thread each. Ray's start (instance and actors) is
timed apart from the stages. Prints the machine and its load (the box may be shared: say so with the figures),
sizes, per-stage seconds (medians over --repeat), Ray / local per stage, messages per second per worker for
embed, the Ray driver's own CPU seconds per stage (what one driver can feed, whatever the workers), and whether
every table came out identical.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chatgen import generate, write_jsonl  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from chendian.ingest import ingest_paths  # noqa: E402
from chendian.pipeline import run_stages  # noqa: E402
from chendian.pipeline.executor import LocalExecutor, RayExecutor  # noqa: E402
from chendian.schema import TABLES  # noqa: E402
from chendian.store import Workspace  # noqa: E402

STAGES = ["segment", "embed", "thread", "extract"]


def tables(db_path: Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(db_path)
    out = {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in TABLES if t != "imports"}
    db.close()
    return out


def one_run(seed_ws: Path, where: Path, executor, *, one_thread: bool = False) -> dict[str, float]:
    if where.exists():
        shutil.rmtree(where)
    shutil.copytree(seed_ws, where)
    if one_thread:  # BLAS on one core: the embedder's own setting and numpy's (the linker's matrix products)
        config = where / "chendian.toml"
        config.write_text(config.read_text(encoding="utf-8").replace("threads = 0", "threads = 1"), encoding="utf-8")
    wall, driver = {}, {}
    with Workspace(where) as ws, threadpool_limits(limits=1 if one_thread else None):
        for stage in STAGES:  # one at a time, to see what this process itself spends on each
            cpu = time.process_time()
            report = run_stages(ws, [stage], quiet=True, executor=executor)
            driver[stage] = time.process_time() - cpu
            if not report.ok:
                sys.exit(f"{executor.name}: stage {stage} failed: {report.stages[-1].note}")
            wall[stage] = report.stages[-1].seconds
    return {"wall": wall, "driver": driver}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=20_000, help="messages (about)")
    ap.add_argument("--chats", type=int, default=20)
    ap.add_argument("--per-day", type=int, default=2_000, help="messages per weekday over all chats")
    ap.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance (one worker each)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    load = os.getloadavg()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}; load average before {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        days = max(1, args.messages // args.per_day)
        msgs = [m for _, day in generate(days, args.per_day, chats=args.chats, variety=0.8) for m in day]
        n = write_jsonl(tmp / "chats.jsonl", msgs)
        seed = tmp / "seed"
        with Workspace(seed, create=True) as ws:
            ingest_paths(ws, [tmp / "chats.jsonl"])
        print(f"generated: {n:,} messages over {days} days in {args.chats} chats")

        runs: dict[str, list[dict[str, float]]] = {"local": [], "local-1t": [], "ray": []}
        ray_ex = RayExecutor(cpus=args.workers)
        t0 = time.perf_counter()
        ray_ex.start()
        startup = time.perf_counter() - t0
        try:
            for _ in range(args.repeat):  # interleaved, so that the shared box's load drifts over both alike
                runs["local"].append(one_run(seed, tmp / "local", LocalExecutor()))
                runs["local-1t"].append(one_run(seed, tmp / "local-1t", LocalExecutor(), one_thread=True))
                runs["ray"].append(one_run(seed, tmp / "ray", ray_ex))
            workers = ray_ex.worker_stats()
        finally:
            ray_ex.close()
        base = tables(tmp / "local" / "chendian.db")
        identical = base == tables(tmp / "ray" / "chendian.db")
        same_1t = base == tables(tmp / "local-1t" / "chendian.db")
        db = sqlite3.connect(tmp / "local" / "chendian.db")
        embedded = db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        db.close()

    med = {k: {s: statistics.median(r["wall"][s] for r in v) for s in STAGES} for k, v in runs.items()}
    cpu = {s: statistics.median(r["driver"][s] for r in runs["ray"]) for s in STAGES}
    print(f"ray: {len(workers)} workers, started in {startup:.1f}s (instance + actors; not in the stage times); "
          f"jobs per worker {[w['jobs'] for w in workers]}, models per worker {[w['models'] for w in workers]}")
    print(f"\n{'stage':<10} {'local s':>9} {'local-1t s':>11} {'ray s':>9} {'ray/local':>10} {'ray/local-1t':>13}")
    for s in STAGES:
        lo, l1, r = med["local"][s], med["local-1t"][s], med["ray"][s]
        print(f"{s:<10} {lo:>9.1f} {l1:>11.1f} {r:>9.1f} {r / max(lo, 1e-9):>10.2f} {r / max(l1, 1e-9):>13.2f}")
    tl, t1, tr = (sum(med[k].values()) for k in ("local", "local-1t", "ray"))
    print(f"{'total':<10} {tl:>9.1f} {t1:>11.1f} {tr:>9.1f} {tr / tl:>10.2f} {tr / t1:>13.2f}"
          f"   (ray with its start: {tr + startup:.1f}s)")
    for k, what in (("local", f"one process, {os.cpu_count()} BLAS threads"), ("local-1t", "one process, 1 BLAS thread"),
                    ("ray", f"{len(workers)} workers, 1 BLAS thread each")):
        rate = embedded / med[k]["embed"]
        per = f" = {rate / len(workers):,.0f} per worker" if k == "ray" else ""
        print(f"embed {k:<8} {rate:>7,.0f} texts/s{per} ({what}); all four stages {n / sum(med[k].values()):,.0f} msgs/s")
    print(f"({embedded:,} distinct texts embedded of {n:,} messages)")
    print("the Ray run's driver (reading inputs, pickling jobs, writing results), CPU seconds: "
          + ", ".join(f"{s} {cpu[s]:.1f}" for s in STAGES)
          + f"; {n / sum(cpu.values()):,.0f} msgs per driver CPU second through the four stages")
    print(f"identical tables, ray and local (every row, in rowid order): {'yes' if identical else 'NO'}; "
          f"local with 1 BLAS thread and local: {'yes' if same_1t else 'no'}")
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
