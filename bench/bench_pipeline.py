"""The nightly job at scale: a generated workspace through every stage, then one new day (issue 16's benchmark).

Run by hand: `.venv/bin/python bench/bench_pipeline.py [--messages 100000] [--day 2000] [--chats 20]`.
The chat is tests/chatgen.py's: Chinese workplace groups with bursts and silences, a few experts, repeated
needs in other words, quotes, @mentions and thanks, and a detail on most messages so that texts are as unique
as in a real group (the embedding cache gets no free ride). Days 1..N-1 are imported and run as one full run;
then the last day (`--day` messages) is imported and run as the next night's job. Prints the machine, sizes,
per-stage seconds of both runs, the new day's share of the full run's time, and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chatgen import generate, write_jsonl  # noqa: E402

from chendian.ingest import ingest_paths  # noqa: E402
from chendian.pipeline import STAGE_NAMES, run_stages  # noqa: E402
from chendian.store import Workspace  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    """The largest finished child process (e.g. executor = processes' workers, counted once they exit)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def stage_line(s) -> None:
    print(f"  {s.name:<10} {s.seconds:8.1f}s  RSS {peak_rss_mb():,.0f} MB", flush=True)


def snapshot(tmp: Path, dest: Path) -> None:
    """The workspace after the full run, plus the new day's file, copied with `cp -a` (hard links kept)."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(tmp / "ws"), str(tmp / "new-day.jsonl"), str(dest)], check=True)
    print(f"snapshot: {dest}")


def new_day_again(snap: Path) -> None:
    """Time the new day once more on a copy of a snapshot; the snapshot itself is left as it was."""
    with tempfile.TemporaryDirectory(dir=snap.parent) as scratch:
        subprocess.run(["cp", "-a", str(snap / "ws"), scratch], check=True)
        ws = Workspace(Path(scratch) / "ws")
        print(f"new day on a copy of {snap}; executor: {ws.config.run.executor}")
        t0 = time.perf_counter()
        ingest_paths(ws, [snap / "new-day.jsonl"])
        seconds = {"ingest": time.perf_counter() - t0}
        report = run_stages(ws, [s for s in STAGE_NAMES if s != "ingest"], quiet=True, on_stage=stage_line)
        wall = time.perf_counter() - t0
        ws.close()
        failed = [s for s in report.stages if s.status != "ok"]
        if failed:
            sys.exit(f"new day: stage {failed[0].name} failed: {failed[0].note}")
        seconds |= {s.name: s.seconds for s in report.stages}
        print(f"new day: {wall:.1f}s wall (stages' own seconds add up to {sum(seconds.values()):.1f}: "
              f"{_together(report)}; ingest {seconds['ingest']:.1f}s), "
              f"peak RSS {peak_rss_mb():,.0f} MB (largest child process: {children_peak_rss_mb():,.0f} MB)")


def _together(report) -> str:
    """Which stages ran at once (pipeline.stage_groups), or that they ran one by one."""
    if not report.together:
        return "one stage at a time"
    return "at once: " + "; ".join(" + ".join(group) for group in report.together)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=100_000, help="messages before the new day (about)")
    ap.add_argument("--day", type=int, default=2_000, help="messages of the new day (about)")
    ap.add_argument("--chats", type=int, default=20)
    ap.add_argument("--variety", type=float, default=0.8)
    ap.add_argument("--keep", metavar="DIR", help="build the workspace in DIR and keep it (to profile stages later)")
    ap.add_argument("--snapshot", metavar="DIR", help="copy the workspace to DIR after the full run (then "
                    "--new-day-on DIR times the new day again without rebuilding)")
    ap.add_argument("--new-day-on", metavar="DIR", help="copy a --snapshot DIR and time only its new day")
    ap.add_argument("--executor", default="", help="[run] executor for the workspace (default: the config's default)")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}")
    if args.new_day_on:
        new_day_again(Path(args.new_day_on))
        return
    days = max(2, args.messages // args.day)
    while days % 7 >= 5:  # the new day is a weekday (chatgen's days start on a Monday; weekends are quieter)
        days += 1
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(args.keep or scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        generated = list(generate(days + 1, args.day, chats=args.chats, variety=args.variety))
        earlier = [m for _, ms in generated[:-1] for m in ms]
        n_old = write_jsonl(tmp / "earlier.jsonl", earlier)
        n_new = write_jsonl(tmp / "new-day.jsonl", generated[-1][1])
        del generated, earlier  # peak RSS is the pipeline's, not the generator's
        print(f"generated: {n_old:,} messages over {days} days in {args.chats} chats, then a new day of {n_new:,}")
        ws = Workspace(tmp / "ws", create=True)
        if args.executor:
            ws.close()
            toml = tmp / "ws" / "chendian.toml"
            text = toml.read_text(encoding="utf-8")
            old = text[text.index("\nexecutor = "):].split("\n", 2)[1]
            toml.write_text(text.replace(old, f'executor = "{args.executor}"', 1), encoding="utf-8")
            ws = Workspace(tmp / "ws")
        print(f"executor: {ws.config.run.executor}")
        stages = [s for s in STAGE_NAMES if s != "ingest"]
        runs, walls = {}, {}
        for label, path in (("full", tmp / "earlier.jsonl"), ("new day", tmp / "new-day.jsonl")):
            t0 = time.perf_counter()
            ingest_paths(ws, [path])
            ingest_s = time.perf_counter() - t0
            report = run_stages(ws, stages, quiet=True, on_stage=stage_line)
            walls[label] = time.perf_counter() - t0
            failed = [s for s in report.stages if s.status != "ok"]
            if failed:
                sys.exit(f"{label}: stage {failed[0].name} failed: {failed[0].note}")
            runs[label] = {"ingest": ingest_s} | {s.name: s.seconds for s in report.stages}
            print(f"{label}: {walls[label]:.1f}s wall ({_together(report)}), peak RSS so far {peak_rss_mb():,.0f} MB")
            if label == "full" and args.snapshot:
                ws.close()
                snapshot(tmp, Path(args.snapshot))
                ws = Workspace(tmp / "ws")
        ws.close()
    full, day = runs["full"], runs["new day"]
    print(f"\n{'stage':<10} {'full s':>9} {'new day s':>10} {'day/full':>9}")
    for name in ["ingest", *stages]:
        print(f"{name:<10} {full[name]:>9.1f} {day[name]:>10.1f} {day[name] / max(full[name], 1e-9):>9.2f}")
    total_full, total_day = sum(full.values()), sum(day.values())
    print(f"{'sum':<10} {total_full:>9.1f} {total_day:>10.1f} {total_day / total_full:>9.2f}")
    # stages that ran at once overlap: the wall clock is what a night costs
    print(f"{'wall':<10} {walls['full']:>9.1f} {walls['new day']:>10.1f} {walls['new day'] / walls['full']:>9.2f}")
    print(f"messages: full {n_old:,}, new day {n_new:,} ({n_new / n_old:.3f} of the full run's); "
          f"peak RSS {peak_rss_mb():,.0f} MB (largest child process: {children_peak_rss_mb():,.0f} MB)")


if __name__ == "__main__":
    main()
