"""The nightly run on SQLite and on PostgreSQL (`[store] url`), stage by stage, on the same machine.

Run by hand: `.venv/bin/python bench/bench_store.py [--repeat 3] [--inbox examples/wechat examples/qq]`, or on
generated Chinese group chats (tests/chatgen.py, as bench_pipeline.py): `--generated 20000 --chats 10`.
Needs PostgreSQL's binaries (Debian's postgresql-NN; CHENDIAN_PG_BIN to point elsewhere) and chendian[postgres].
The server is started here on 127.0.0.1 with its default durability (fsync on), in a temporary folder. Each
repeat runs a fresh workspace per store (a fresh database for PostgreSQL), the two stores alternating, in this
process (models are loaded once, by a warm-up run first). Prints the machine, the sizes, per-stage medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chatgen import generate, write_jsonl  # noqa: E402
from pg_server import PostgresServer, find_bin  # noqa: E402
from chendian.pipeline import run_stages  # noqa: E402
from chendian.store import Workspace  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def one_run(folder: Path, inbox: list[Path], url: str | None) -> tuple[dict[str, float], float, int]:
    ws = Workspace(folder, create=True, store_url=url)
    try:
        for src in inbox:
            shutil.copytree(src, folder / "inbox" / src.name)
        t0 = time.perf_counter()
        report = run_stages(ws, quiet=True)
        total = time.perf_counter() - t0
        assert report.ok, report.to_json()
        return {s.name: s.seconds for s in report.stages}, total, ws.count_messages()
    finally:
        ws.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--inbox", nargs="+", default=[str(ROOT / "examples" / "wechat"), str(ROOT / "examples" / "qq")])
    ap.add_argument("--generated", type=int, default=0, help="messages of generated chats instead of --inbox (about)")
    ap.add_argument("--chats", type=int, default=10)
    args = ap.parse_args()
    bin_dir = find_bin()
    if bin_dir is None:
        sys.exit("PostgreSQL binaries not found (apt install postgresql, or set CHENDIAN_PG_BIN)")
    examples = [ROOT / "examples" / "wechat", ROOT / "examples" / "qq"]
    inbox = [Path(p).resolve() for p in args.inbox]
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()},"
          f" load average {os.getloadavg()[0]:.2f} at start; PostgreSQL from {bin_dir}")
    server = PostgresServer(bin_dir, durable=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        if args.generated:
            per_day = 2000
            days = max(2, args.generated // per_day)
            (tmp / "generated").mkdir()
            write_jsonl(tmp / "generated" / "chats.jsonl",
                        [m for _, ms in generate(days, per_day, chats=args.chats, variety=0.8) for m in ms])
            inbox = [tmp / "generated"]
        one_run(tmp / "warmup", examples, None)  # model loading, caches of the interpreter
        times: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
        totals: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
        messages = 0
        for r in range(args.repeat):
            for store in ("sqlite", "postgresql") if r % 2 == 0 else ("postgresql", "sqlite"):
                url = server.create_database(f"bench{r}") if store == "postgresql" else None
                stages, total, messages = one_run(tmp / f"{store}{r}", inbox, url)
                times[store].append(stages)
                totals[store].append(total)
        what = (f"generated chats ({args.chats})" if args.generated else
                ", ".join(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in inbox))
        print(f"input: {what};"
              f" {messages} messages; {args.repeat} runs per store, median seconds; load average"
              f" {os.getloadavg()[0]:.2f} at the end")
        print(f"{'stage':<12}{'sqlite':>10}{'postgresql':>12}{'ratio':>8}")
        for name in times["sqlite"][0]:
            a = statistics.median(t[name] for t in times["sqlite"])
            b = statistics.median(t[name] for t in times["postgresql"])
            print(f"{name:<12}{a:>10.2f}{b:>12.2f}{(b / a if a > 0.005 else float('nan')):>8.2f}")
        a, b = statistics.median(totals["sqlite"]), statistics.median(totals["postgresql"])
        print(f"{'total':<12}{a:>10.2f}{b:>12.2f}{b / a:>8.2f}")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
