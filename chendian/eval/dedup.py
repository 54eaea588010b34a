"""`chendian eval dedup`: the same-question scorer on labelled question pairs (DESIGN.md "Evaluation").

The pairs are scored inside their question set (every distinct sentence of the file), as the faq stage
scores pairs inside all its questions. Average precision of the score over all labelled pairs, and precision/recall/F1 of "same" at the threshold
the faq stage really uses (dedup.SAME_QUESTION_THRESHOLD).
Predictions file: one JSON object per pair, {"a", "b", "score", "same"}.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import EvalError, json_lines
from .search import read_pairs


def score_dedup(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support

    labels = np.asarray(labels, dtype=int)
    if labels.min() == labels.max():
        raise EvalError("average precision needs both same (1) and different (0) pairs")
    p, r, f, _ = precision_recall_fscore_support(labels, np.asarray(scores) >= threshold, average="binary",
                                                 zero_division=0)
    return {"pairs": int(len(labels)), "positives": int(labels.sum()),
            "average_precision": float(average_precision_score(labels, scores)),
            "threshold": float(threshold), "precision": float(p), "recall": float(r), "f1": float(f)}


def evaluate_dedup(pairs_path: str | Path, predictions_path: str | Path | None = None, *,
                   vectors: dict[str, np.ndarray] | None = None) -> dict:
    """Score every pair with dedup.score_pairs; write {"a","b","score","same"} lines if predictions_path.

    `vectors` (text → vector of its folded form) skips embedding, e.g. when iterating."""
    from ..summarize.text import dedup

    pairs = read_pairs(pairs_path)
    a = [p.a for p in pairs]
    b = [p.b for p in pairs]
    # The question set is every distinct sentence of the file (as the faq stage sees all its questions):
    # it gives the scorer's context features (unsupervised: texts only).
    questions = list(dict.fromkeys([*a, *b]))
    if vectors is None:
        vectors = dict(zip(questions, dedup.question_vectors(questions)))
    scores = dedup.score_pairs(a, b, vectors_a=np.array([vectors[t] for t in a]),
                               vectors_b=np.array([vectors[t] for t in b]), context=questions,
                               context_vectors=np.array([vectors[t] for t in questions]))
    threshold = dedup.SAME_QUESTION_THRESHOLD
    if predictions_path:
        with open(predictions_path, "w", encoding="utf-8") as f:
            for x, y, s in zip(a, b, scores):
                f.write(json.dumps({"a": x, "b": y, "score": round(float(s), 6), "same": bool(s >= threshold)},
                                   ensure_ascii=False) + "\n")
    return score_dedup(np.array([p.label for p in pairs]), scores, threshold)


def score_predictions(pairs_path: str | Path, predictions_path: str | Path) -> dict:
    """Re-score a predictions file ({"a","b","score"} per line) against the labels of a pairs file."""
    from ..summarize.text.dedup import SAME_QUESTION_THRESHOLD

    labels = {(p.a, p.b): p.label for p in read_pairs(pairs_path)}
    ys, ss = [], []
    for n, r in json_lines(predictions_path, '{"a", "b", "score"}'):
        try:
            key, score = (r["a"], r["b"]), float(r["score"])
        except (ValueError, KeyError, TypeError) as e:
            raise EvalError(f"{predictions_path}:{n}: expected {{\"a\", \"b\", \"score\"}} ({e})") from None
        if key not in labels:
            raise EvalError(f"{predictions_path}:{n}: pair not in {pairs_path}")
        ys.append(labels[key])
        ss.append(score)
    return score_dedup(np.array(ys), np.array(ss), SAME_QUESTION_THRESHOLD)
