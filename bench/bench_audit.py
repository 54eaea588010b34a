"""The privacy audit of a night's pages: CPU and wall time of audit_site on the files one publish wrote.

Run by hand: `.venv/bin/python bench/bench_audit.py WORKSPACE [--files LIST] [--repeat 3] [--workers 1,2]
[--previous DIR]`.
WORKSPACE is a published workspace; LIST names the site's files to audit, one relative path a line (default:
the files with one link in WORKSPACE/site, i.e. those the last publish wrote rather than linked from the site
before: `find site -type f -links 1`). They are copied to a scratch folder and audited there with no trusted
previous site, under the workspace's names to hide. With --previous (the site the last publish replaced, e.g.
WORKSPACE/.site-spare) the site itself is audited as publish audits it: files linked from DIR pass by inode, and
DIR's version of a page vouches for the strings they share. Prints machine, load, sizes and medians (CPU of this
process and of its workers; wall for each worker count).
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

from chendian.site.audit import audit_site, names_to_hide, same_page
from chendian.store import Workspace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workspace")
    ap.add_argument("--files")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--previous")
    args = ap.parse_args()
    ws_dir = Path(args.workspace)
    site = ws_dir / "site"
    if args.files:
        rels = [line.strip() for line in Path(args.files).read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        rels = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file() and p.stat().st_nlink == 1)
    with Workspace(ws_dir) as ws:
        names = names_to_hide(ws)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        root, trusted = Path(tmp) / "site", None
        if args.previous:
            root, trusted = site, same_page(Path(args.previous))
        size = 0
        for rel in rels:
            if not args.previous:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(site / rel, root / rel)
            size += (root / rel).stat().st_size
        print(f"files: {len(rels)}, {size / 1e6:.1f} MB; names to hide: {len(names)}"
              + (f"; audited in place against {args.previous}" if args.previous else ""))
        reference = None
        for workers in (int(w) for w in args.workers.split(",")):
            cpu, wall, children = [], [], []
            for _ in range(args.repeat):
                load = os.getloadavg()[0]
                c0, w0, t0 = time.process_time(), time.perf_counter(), os.times()
                report = audit_site(root, names, trusted, workers)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
                t1 = os.times()
                children.append(t1.children_user - t0.children_user + t1.children_system - t0.children_system)
                reference = reference or report.findings
                assert report.findings == reference
            print(f"workers={workers}: scanned {report.files} files, {len(report.findings)} findings; "
                  f"median cpu {statistics.median(cpu):.2f} s (+ workers {statistics.median(children):.2f} s), wall {statistics.median(wall):.2f} s "
                  f"(load {load:.2f})")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
