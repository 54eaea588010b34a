"""answer_fits and _summarise on a workspace's questions, in process CPU seconds, memo warm (issue 16).

Read-only on the workspace: the feature memo is made in the process (a first, cold answer_fits), then each of
--repeat runs starts from it, so a checkout's own fingerprint never meets another's kept features. Run the
same script under two checkouts' PYTHONPATH back to back for a before/after:

    PYTHONPATH=. python bench/bench_faq_fits.py /tmp/me/ws1m

Prints the machine, the load average, the sizes and the median (and every run) of each.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from chendian.pipeline.stages import RunContext
from chendian.pipeline.stages import faq as stage
from chendian.pipeline.stages.embed import workspace_cache
from chendian.pipeline.stages.topics import encode as embed_through
from chendian.store import Workspace
from chendian.summarize.qa import faq


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workspace")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    ws = Workspace(args.workspace)
    rc = RunContext(quiet=True)
    qas = stage.talk_aware(ws, ws.qas(warn=rc.warn), rc)
    cache, seen = workspace_cache(ws), {}

    def encode(texts):  # as the faq stage's: float16 values, each text read once
        texts = list(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in seen))
        if todo:
            seen.update(zip(todo, embed_through(ws, rc, cache, todo).astype(np.float16).astype(np.float32)))
        return np.array([seen[t] for t in texts], dtype=np.float32)

    cold = faq.FeatureMemo({})
    fits = faq.answer_fits(qas, encode, cold)
    fit_times = []
    for _ in range(args.repeat):
        memo = faq.FeatureMemo(dict(cold.added))
        t = time.process_time()
        again = faq.answer_fits(qas, encode, memo)
        fit_times.append(time.process_time() - t)
        assert again == fits and not memo.added
    members = dict(ws.db.execute("SELECT qa_id, entry_id FROM faq_members"))
    groups: dict[str, list] = {}
    for q in qas:
        groups.setdefault(members.get(q.id, q.id), []).append(q)
    summary_times = []
    for _ in range(args.repeat):
        entries = [faq.Entry(id=k, qas=v) for k, v in groups.items()]
        t = time.process_time()
        for e in entries:
            faq._summarise(e, encode, fits)
        summary_times.append(time.process_time() - t)
    print(f"{platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {len(qas)} questions, "
          f"{len(fits)} answer pairs, {len(groups)} entries")
    for name, times in (("answer_fits (memo warm)", fit_times), ("_summarise (every entry)", summary_times)):
        print(f"{name}: median {statistics.median(times):.2f} CPU s, runs {[round(x, 2) for x in times]}")


if __name__ == "__main__":
    main()
