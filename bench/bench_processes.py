"""The nightly job with `[run] executor = "local"` against "processes" (and "auto"), back to back, on one machine.

Run by hand: `.venv/bin/python bench/bench_processes.py [--messages 80000] [--day 2000] [--chats 20]
[--executors local,processes] [--workers 0]`. The workspace is bench/bench_pipeline.py's (tests/chatgen.py's Chinese
work groups): days 1..N-1 imported and run as one full run, then the last day as the next night's run. Each
executor gets its own copy of the same inputs; the full runs go back to back, then the new days back to back, so
the two compare under the same load. Prints the machine, the load average before each run (the box may be
shared: say so with the figures), per-stage seconds, and whether every table came out identical.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chatgen import generate, write_jsonl  # noqa: E402

from chendian.ingest import ingest_paths  # noqa: E402
from chendian.pipeline import STAGE_NAMES, run_stages  # noqa: E402
from chendian.schema import TABLES  # noqa: E402
from chendian.store import Workspace  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def tables(db_path: Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(db_path)
    out = {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in TABLES if t != "imports"}
    db.close()
    return out


def use_executor(root: Path, executor: str, workers: int) -> None:
    config = root / "chendian.toml"
    text = config.read_text(encoding="utf-8")
    assert 'executor = "auto"' in text and "workers = 0" in text
    config.write_text(text.replace('executor = "auto"', f'executor = "{executor}"')
                      .replace("workers = 0", f"workers = {workers}"), encoding="utf-8")


def night(root: Path, path: Path, label: str, stages: list[str]) -> dict[str, float]:
    with Workspace(root) as ws:
        t0 = time.perf_counter()
        ingest_paths(ws, [path])
        seconds = {"ingest": time.perf_counter() - t0}
        report = run_stages(ws, stages, quiet=True,
                            on_stage=lambda s: print(f"    {s.name:<10} {s.seconds:8.1f}s", flush=True))
    failed = [s for s in report.stages if s.status != "ok"]
    if failed:
        sys.exit(f"{label}: stage {failed[0].name} failed: {failed[0].note}")
    seconds |= {s.name: s.seconds for s in report.stages}
    print(f"  {label}: {sum(seconds.values()):.1f}s (load after {load()})", flush=True)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=80_000, help="messages before the new day (about)")
    ap.add_argument("--day", type=int, default=2_000, help="messages of the new day (about)")
    ap.add_argument("--chats", type=int, default=20)
    ap.add_argument("--executors", default="local,processes")
    ap.add_argument("--workers", type=int, default=0, help="[run] workers (0: this machine's cores)")
    ap.add_argument("--keep", metavar="DIR", help="build the workspaces in DIR and keep them")
    ap.add_argument("--per-chat", action="store_true",
                    help="only the stages that fan out (segment, embed, thread, extract): the others run the same "
                         "code in the driver whatever the executor")
    args = ap.parse_args()
    executors = args.executors.split(",")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}")
    days = max(2, args.messages // args.day)
    while days % 7 >= 5:  # the new day is a weekday, as in bench_pipeline
        days += 1
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(args.keep or scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        generated = list(generate(days + 1, args.day, chats=args.chats, variety=0.8))
        n_old = write_jsonl(tmp / "earlier.jsonl", [m for _, ms in generated[:-1] for m in ms])
        n_new = write_jsonl(tmp / "new-day.jsonl", generated[-1][1])
        del generated
        print(f"generated: {n_old:,} messages over {days} days in {args.chats} chats, then a new day of {n_new:,}")
        stages = ["ingest", *(s for s in STAGE_NAMES if s != "ingest"
                              and (not args.per_chat or s in ("segment", "embed", "thread", "extract")))]
        roots = {}
        for name in executors:
            roots[name] = tmp / f"ws-{name}"
            Workspace(roots[name], create=True).close()
            use_executor(roots[name], name, args.workers)
        runs: dict[str, dict[str, dict[str, float]]] = {name: {} for name in executors}
        for label, path in (("full", tmp / "earlier.jsonl"), ("new day", tmp / "new-day.jsonl")):
            for name in executors:
                print(f"{label}, {name} (load before {load()})", flush=True)
                runs[name][label] = night(roots[name], path, f"{label}, {name}", stages[1:])
        first = tables(roots[executors[0]] / "chendian.db")
        for name in executors[1:]:
            other = tables(roots[name] / "chendian.db")
            differing = [t for t in first if first[t] != other[t]]
            print(f"tables {executors[0]} vs {name}: {'identical' if not differing else 'DIFFER: ' + str(differing)}")
    for label in ("full", "new day"):
        print(f"\n{label}: {'stage':<10}" + "".join(f"{n:>11}" for n in executors)
              + "".join(f" {n}/{executors[0]}" for n in executors[1:]))
        for stage in [*stages, "total"]:
            row = [sum(runs[n][label].values()) if stage == "total" else runs[n][label].get(stage, 0.0)
                   for n in executors]
            print(f"{'':<{len(label) + 2}}{stage:<10}" + "".join(f"{x:>11.1f}" for x in row)
                  + "".join(f" {x / max(row[0], 1e-9):>{len(n) + len(executors[0]) + 1}.2f}"
                            for n, x in zip(executors[1:], row[1:])))
    print(f"messages: full {n_old:,}, new day {n_new:,}")


if __name__ == "__main__":
    main()
