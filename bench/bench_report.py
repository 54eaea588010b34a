"""The publish stage's whole-history reads on a kept workspace, from scratch and from the kept history.

Run by hand: `.venv/bin/python bench/bench_report.py WS [--repeat 3]` (WS: a workspace the publish stage has run
on, e.g. bench_pipeline.py --snapshot DIR leaves DIR/ws; it is copied, never changed). Times, back to back on the
copy: the conversations' signatures by one grouped query (build.thread_signatures) against update_history with
its mark current (a night with nothing new: what a night pays besides its own rows), and the ops report from the
messages (site/history.Scratch, as `chendian report`) against the report from the kept tables (Cached). Prints
the machine, the load average, sizes and medians; the two reports must be equal (checked).
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chendian.pipeline.stages.publish import update_history  # noqa: E402
from chendian.site.build import known_people, thread_signatures  # noqa: E402
from chendian.site.history import Cached  # noqa: E402
from chendian.site.report import weekly_report  # noqa: E402
from chendian.store import Workspace  # noqa: E402


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    with tempfile.TemporaryDirectory(dir=args.workspace.parent) as scratch:
        ws_dir = Path(scratch) / "ws"
        shutil.copytree(args.workspace, ws_dir, symlinks=True, ignore=shutil.ignore_patterns("site", ".site-*"))
        ws = Workspace(ws_dir)
        try:
            messages = ws.count_messages()
            seconds, delta = _timed(lambda: update_history(ws))
            print(f"messages {messages:,}; update_history from {'nothing' if delta.full else 'its mark'}: {seconds:.1f}s"
                  f" (load {os.getloadavg()[0]:.2f})")
            contributors = ws.contributors(warn=lambda m: None)
            known = known_people(ws.db, contributors)
            qas = ws.qas(warn=lambda m: None)
            entries = ws.faq_entries(include_hidden=False, warn=lambda m: None)
            times: dict[str, list[float]] = {k: [] for k in ("signatures", "update_history", "report", "report_cached")}
            reports = {}
            for _ in range(args.repeat):  # alternating, back to back
                times["signatures"].append(_timed(lambda: thread_signatures(ws.db))[0])
                seconds, delta = _timed(lambda: update_history(ws))
                times["update_history"].append(seconds)
                seconds, reports["scratch"] = _timed(lambda: weekly_report(ws, None))
                times["report"].append(seconds)
                seconds, reports["cached"] = _timed(lambda: weekly_report(
                    ws, None, qas=qas, people=known[:len(known) - len(contributors)], entries=entries,
                    history=Cached(ws.db, delta.newest_ts)))
                times["report_cached"].append(seconds)
                print(f"  load {os.getloadavg()[0]:.2f}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
                      flush=True)
            if reports["scratch"] != reports["cached"]:
                sys.exit("the report from the kept history differs from the report from the messages")
            print(f"threads {len(delta.thread_sigs):,}, week {reports['cached']['week']}; medians: "
                  + ", ".join(f"{k} {statistics.median(v):.2f}s" for k, v in times.items()))
        finally:
            ws.close()


if __name__ == "__main__":
    main()
