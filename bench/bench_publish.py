"""The publish stage alone on a kept workspace (bench_pipeline.py --keep DIR leaves DIR/ws): a full build.

Run by hand: `.venv/bin/python bench/bench_publish.py DIR/ws [--workers 1 2] [--repeat 3]`. Each run copies the
workspace, removes its site and the publish state (so the build renders and audits every page) and times the
stage with `[site] workers` at each value given. Prints the machine, the load average, sizes and the median
seconds per worker count; the sites must be the same whatever the count (checked, build stamp aside).
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

from chendian.pipeline import run_stages  # noqa: E402
from chendian.store import Workspace  # noqa: E402


def _pages(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): b"\n".join(line for line in p.read_bytes().split(b"\n")
                                                  if "生成于".encode() not in line)
            for p in site.rglob("*") if p.is_file()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    with tempfile.TemporaryDirectory(dir=args.workspace.parent) as scratch:
        sites, seconds = {}, {w: [] for w in args.workers}
        for r in range(args.repeat):
            for w in args.workers:  # back to back, alternating
                ws_dir = Path(scratch) / f"ws-{w}"
                shutil.rmtree(ws_dir, ignore_errors=True)
                shutil.copytree(args.workspace, ws_dir, symlinks=True, ignore=shutil.ignore_patterns("site", ".site-*"))
                ws = Workspace(ws_dir)
                with ws.transaction():
                    ws.db.execute("DELETE FROM state WHERE key LIKE 'publish.%'")
                ws.config.site.workers = w
                t0 = time.perf_counter()
                report = run_stages(ws, ["publish"], quiet=True)
                seconds[w].append(time.perf_counter() - t0)
                stage = report.stages[0]
                ws.close()
                if stage.status != "ok":
                    sys.exit(f"publish failed: {stage.note}")
                print(f"  workers {w}: {seconds[w][-1]:.1f}s, load {os.getloadavg()[0]:.2f}; pages {stage.counts['pages']},"
                      f" threads {stage.counts['threads']}, entries {stage.counts['entries']},"
                      f" {stage.counts['bytes'] / 1e6:.0f} MB", flush=True)
                if r == 0:
                    sites[w] = _pages(ws_dir / "site")
        first = sites[args.workers[0]]
        same = all(s == first for s in sites.values())
    print(f"{'workers':>8} {'median s':>9}")
    for w in args.workers:
        print(f"{w:>8} {statistics.median(seconds[w]):>9.1f}")
    print(f"sites equal whatever the workers: {same}")


if __name__ == "__main__":
    main()
