"""The static site's browser search on labelled question pairs: character BM25 alone vs fused with the student.

    OMP_NUM_THREADS=1 .venv/bin/python bench/eval_browser_search.py [../shared/data/search/bq-dev.pairs.jsonl]
        [--dims 64,128] [--lexical 0.5] [--vectors /tmp/bq-use.npy]

Scores chendian.site.student.BrowserSearch, the Python reference of assets/search.js (same folding, BM25,
quantisation and fusion as the browser). Protocol as `chendian eval` search (DESIGN.md): corpus = distinct
sentences, queries = each positive pair's `a`, the query itself excluded. The student is trained on the
corpus minus every query sentence (queries unseen, as a reader's query is); entry vectors are the teacher's
(USE) vectors of the corpus sentences, as the site ships them. `--vectors` caches the teacher vectors.
Skips (exit 0) when the pairs file is absent.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from chendian.eval.search import corpus_and_clusters, queries_of, read_pairs, score_rankings
from chendian.site import student as st
from chendian.summarize.text.segment import fold

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "search" / "bq-dev.pairs.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs", nargs="?", default=str(DEFAULT))
    ap.add_argument("--dims", default="64,128")
    ap.add_argument("--lexical", default="0.5,0.75,1.0")
    ap.add_argument("--vectors", help="teacher vectors cache (.npy), written when absent")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not Path(args.pairs).exists():
        print(f"skipped: {args.pairs} not found")
        return
    print(platform.platform(), os.cpu_count(), "cpus", flush=True)
    pairs = read_pairs(args.pairs)
    corpus, clusters = corpus_and_clusters(pairs)
    cluster_of = dict(zip(corpus, clusters.tolist()))
    queries = queries_of(pairs)
    unique = list(dict.fromkeys(queries))

    if args.vectors and Path(args.vectors).exists():
        teacher = np.load(args.vectors)
    else:
        from chendian.summarize.text.embed import get_embedder

        t = time.perf_counter()
        teacher = get_embedder(threads=args.threads).encode([fold(s) for s in corpus])
        print(f"teacher vectors: {len(corpus)} in {time.perf_counter() - t:.1f}s", flush=True)
        if args.vectors:
            np.save(args.vectors, teacher)

    table = st.t2s_table()
    chars = set("".join(corpus))
    index = {"docs": [{"i": str(i), "u": "", "q": s, "a": "", "n": 1} for i, s in enumerate(corpus)],
             "t2s": "".join(t + s for t, s in sorted(table.items()) if t in chars or s in chars)}
    query_set = set(unique)
    position = {s: i for i, s in enumerate(corpus)}
    train = [i for i, s in enumerate(corpus) if s not in query_set]
    print(f"pairs {len(pairs)}, corpus {len(corpus)}, queries {len(queries)} ({len(unique)} distinct), "
          f"student training texts {len(train)} (queries unseen)", flush=True)

    def score(search: st.BrowserSearch, semantic: bool) -> dict:
        ranked = {q: [corpus[d] for d, _ in search.search(q, 10, semantic=semantic, exclude=position[q])]
                  for q in unique}
        return score_rankings(queries, [ranked[q] for q in queries], cluster_of)

    def show(label: str, m: dict) -> None:
        print(f"{label:<44} R@1 {m['recall@1']:.3f}  R@5 {m['recall@5']:.3f}  R@10 {m['recall@10']:.3f}"
              f"  MRR@10 {m['mrr@10']:.3f}", flush=True)

    show("browser BM25 alone", score(st.BrowserSearch(index), False))
    for dim in [int(d) for d in args.dims.split(",")]:
        t = time.perf_counter()
        student = st.fit_student([corpus[i] for i in train], teacher[train], table, dim=dim)
        fit_s = time.perf_counter() - t
        payload = st.vectors_payload(student, teacher)
        size = len(st.payload_js(payload))
        print(f"dim {dim}: vocabulary {len(student.terms)} terms, fit {fit_s:.1f}s, search-vectors.js "
              f"{size / 1e6:.2f} MB ({len(corpus)} entries)", flush=True)
        for w in [float(x) for x in args.lexical.split(",")]:
            search = st.BrowserSearch(index, dict(payload, lexical=w))
            show(f"  fused, lexical weight {w}", score(search, True))
        show("  student cosine alone", score(st.BrowserSearch(index, dict(payload, lexical=0.0)), True))


if __name__ == "__main__":
    sys.exit(main())
