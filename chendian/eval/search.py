"""`chendian eval search`: retrieval quality on a question-pairs file (DESIGN.md "Evaluation").

Corpus = every distinct sentence of the pairs file; paraphrase clusters = connected components of the
positive pairs; queries = each positive pair's `a`; a hit = a top-k result (never the query itself) in the
query's cluster. Recall@1/5/10 and MRR@10, averaged over queries.
Predictions file: one JSON object per query, {"query", "results": [text, … top 10, query excluded]}.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import EvalError, json_lines  # EvalError is part of this module's interface


@dataclass
class Pair:
    a: str
    b: str
    label: int


def read_pairs(path: str | Path) -> list[Pair]:
    """Question pairs {"a","b","label"}; a bad line is an error naming file and line."""
    pairs = []
    for n, r in json_lines(path, 'a JSON object with "a", "b", "label"'):
        a, b, label = r.get("a"), r.get("b"), r.get("label")
        if not isinstance(a, str) or not isinstance(b, str) or label not in (0, 1, True, False, "0", "1"):
            raise EvalError(f"{path}:{n}: expected \"a\" and \"b\" strings and \"label\" 0 or 1")
        pairs.append(Pair(a, b, int(label)))
    if not pairs:
        raise EvalError(f"{path}: no pairs")
    return pairs


def corpus_and_clusters(pairs: Sequence[Pair]) -> tuple[list[str], np.ndarray]:
    """Distinct sentences (first-seen order) and the paraphrase cluster of each (union-find over positives)."""
    index: dict[str, int] = {}
    for p in pairs:
        for s in (p.a, p.b):
            index.setdefault(s, len(index))
    parent = list(range(len(index)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        if p.label:
            ra, rb = find(index[p.a]), find(index[p.b])
            if ra != rb:
                parent[ra] = rb
    return list(index), np.array([find(i) for i in range(len(index))])


def queries_of(pairs: Sequence[Pair]) -> list[str]:
    """Each positive pair's `a` (repeats kept: every positive pair is one query)."""
    return [p.a for p in pairs if p.label and p.a != p.b]


def score_rankings(queries: Sequence[str], results: Sequence[Sequence[str]], cluster_of: dict[str, int]) -> dict:
    """Recall@1/5/10 and MRR@10 of ranked result texts against the query's cluster."""
    if not queries:
        raise EvalError("no positive pairs: nothing to query")
    r1 = r5 = r10 = mrr = 0.0
    for q, res in zip(queries, results, strict=True):
        target = cluster_of[q]
        rank = next((i for i, t in enumerate([t for t in res if t != q][:10], 1)
                     if cluster_of.get(t) == target), None)
        if rank:
            r1 += rank <= 1
            r5 += rank <= 5
            r10 += rank <= 10
            mrr += 1.0 / rank
    n = len(queries)
    return {"queries": n, "recall@1": r1 / n, "recall@5": r5 / n, "recall@10": r10 / n, "mrr@10": mrr / n}


def read_predictions(path: str | Path) -> dict[str, list[str]]:
    out = {}
    expected = '{"query": str, "results": [str, …]}'
    for n, r in json_lines(path, expected):
        q, res = r.get("query"), r.get("results")
        if not isinstance(q, str) or not isinstance(res, list):
            raise EvalError(f"{path}:{n}: expected {expected}")
        out[q] = [str(t) for t in res]
    return out


def rank_corpus(corpus: Sequence[str], queries: Sequence[str], *, vectors: np.ndarray | None = None,
                weights=None, k: int = 10, progress: Callable[[int], None] | None = None,
                embed_model: str = "use-multilingual", device: str = "cpu",
                vocabulary: bool = False) -> list[list[str]]:
    """Top-k corpus sentences for each query with the product's hybrid index (the query itself excluded)."""
    from ..search.index import HybridIndex, SearchDocument
    from ..search.vocab import learn_vocabulary
    from ..summarize.text.segment import fold

    if vectors is None:
        from ..summarize.text.embed import get_embedder

        vectors = get_embedder(embed_model, device=device).encode([fold(s) for s in corpus])
    docs = [SearchDocument(id=str(i), text=s) for i, s in enumerate(corpus)]
    # the corpus is the "group's text" the workspace vocabulary is learned from, as the index stage does
    # (no merged wordings: those would be the gold pairs)
    vocab = learn_vocabulary(corpus) if vocabulary else {}
    index = HybridIndex.build(docs, vectors=vectors, weights=weights, vocab=vocab)
    position = {s: i for i, s in enumerate(corpus)}
    unique = list(dict.fromkeys(queries))
    qvecs = vectors[[position[q] for q in unique]]  # a query is a corpus sentence: same folded text, same vector
    ranked: dict[str, list[str]] = {}
    for q, qv in zip(unique, qvecs):
        hits = index.search(q, k, query_vector=qv, exclude=[position[q]])
        ranked[q] = [h.doc.text for h in hits]
        if progress:
            progress(1)
    return [ranked[q] for q in queries]


def evaluate_search(pairs_path: str | Path, predictions_path: str | Path | None = None, *,
                    vectors: np.ndarray | None = None, weights=None, embed_model: str = "use-multilingual",
                    device: str = "cpu", vocabulary: bool = False) -> dict:
    """Score the hybrid index on a pairs file; write {"query","results"} lines to `predictions_path` if given.

    `vectors` (one row per distinct sentence, in corpus order) skips embedding, e.g. when iterating."""
    pairs = read_pairs(pairs_path)
    corpus, clusters = corpus_and_clusters(pairs)
    cluster_of = dict(zip(corpus, clusters.tolist()))
    queries = queries_of(pairs)
    results = rank_corpus(corpus, queries, vectors=vectors, weights=weights, embed_model=embed_model, device=device,
                          vocabulary=vocabulary)
    if predictions_path:
        with open(predictions_path, "w", encoding="utf-8") as f:
            seen = set()
            for q, res in zip(queries, results):
                if q not in seen:
                    seen.add(q)
                    f.write(json.dumps({"query": q, "results": res}, ensure_ascii=False) + "\n")
    metrics = score_rankings(queries, results, cluster_of)
    return {"pairs": len(pairs), "corpus": len(corpus)} | metrics


def score_predictions(pairs_path: str | Path, predictions_path: str | Path) -> dict:
    """Re-score a predictions file written by evaluate_search (or by any other system)."""
    pairs = read_pairs(pairs_path)
    corpus, clusters = corpus_and_clusters(pairs)
    cluster_of = dict(zip(corpus, clusters.tolist()))
    queries = queries_of(pairs)
    preds = read_predictions(predictions_path)
    missing = [q for q in queries if q not in preds]
    if missing:
        raise EvalError(f"{predictions_path}: no results for {len(missing)} queries, e.g. {missing[0]!r}")
    return {"pairs": len(pairs), "corpus": len(corpus)} | score_rankings(queries, [preds[q] for q in queries], cluster_of)
