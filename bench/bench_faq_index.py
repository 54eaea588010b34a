"""The faq and index stages of one night, timed (and optionally profiled) on a prepared workspace.

Run by hand on a copy of a bench_pipeline snapshot after the night's earlier stages (issue 16):

    cp -a /tmp/s10/snap1m/ws /tmp/me/ws1m
    python -m chendian -w /tmp/me/ws1m stage faq index        # once: fills faq_features and the index's tokens.json
    python -m chendian -w /tmp/me/ws1m ingest /tmp/s10/snap1m/new-day.jsonl
    python -m chendian -w /tmp/me/ws1m stage segment embed thread topics extract talks
    python bench/bench_faq_index.py /tmp/me/ws1m [--profile /tmp/me/night.prof]

(the index keeps the last build's tokens only when it rebuilds: delete the state key index.hash before the
first `stage index` to make it rebuild once). Prints the machine, the load average before and after, the
workspace's sizes and each stage's seconds and counts. Run the same script under another checkout's PYTHONPATH
for a before/after on the same state (restore `faq_members` and the index in between: the faq stage reads the
placements it wrote).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--stages", default="faq,index")
    ap.add_argument("--profile", metavar="FILE", help="write a cProfile of the stages here (and print the top)")
    args = ap.parse_args()

    import jieba

    from chendian.pipeline import run_stages
    from chendian.store import Workspace
    from chendian.summarize.text.embed import get_embedder

    # what a nightly run has loaded before these stages (segment, embed): not counted here either
    from chendian.summarize.text.segment import segmenter

    jieba.initialize()
    segmenter().tokens("预热")
    get_embedder()
    ws = Workspace(args.workspace)
    sizes = {t: ws.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
             for t in ("messages", "qas", "faq_entries", "faq_members")}
    print(f"machine: {platform.platform()}, {os.cpu_count()} cpus, python {platform.python_version()}; "
          f"code: {Path(sys.modules['chendian'].__file__).parent}")
    print("sizes: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    profile = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    if profile:
        profile.enable()
    report = run_stages(ws, args.stages.split(","), quiet=True)
    if profile:
        profile.disable()
    total = time.perf_counter() - t0
    for s in report.stages:
        print(f"  {s.name:<8} {s.seconds:7.2f}s  {s.status}  {getattr(s, 'counts', '') or s.note or ''}")
    print(f"total {total:.2f}s; load average after: {os.getloadavg()[0]:.2f}")
    ws.close()
    if profile:
        profile.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
