"""The same-question scorer: are two questions asking the same thing? (used by the faq stage to merge)

A logistic regression over cheap, general features of a pair of questions:
sentence-vector cosine, character / character-bigram / pinyin Jaccard, IDF-weighted word overlap (IDF from
jieba's general-corpus table, so a pair's score does not depend on the rest of the set), length ratio and
difference, and flags for mismatched negation, numbers and question type (为什么 vs 怎么 vs 多久 …),
which separate the typical near-miss pairs ("额度为什么降低" vs "怎么降低额度").

The weights were fitted on BQ dev question pairs (Chinese banking questions), the only labelled Chinese
pairs available here; 5-fold held-out (folds grouped by connected sentences) AP 0.785 vs 0.762 for the
cosine alone (bench/fit_dedup.py). Refit with `fit_weights` on labelled pairs from your own domain when you have them.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence

import numpy as np

from ..search import analyze
from .segment import fold, segmenter

FEATURES = ("cosine", "char_jaccard", "char_ngram_jaccard", "word_idf_jaccard", "pinyin_jaccard",
            "length_ratio", "length_diff", "negation_mismatch", "number_mismatch", "question_type_mismatch")
# Fitted by fit_weights on bq-dev (all 10k pairs, after 5-fold CV chose the feature set); see module doc.
WEIGHTS = np.array([3.324, 1.774, 1.065, -1.306, 2.153, -0.569, -0.103, -0.565, -0.504, -0.358])
INTERCEPT = -1.583
# Pairs scoring at least this are the same question. On held-out bq-dev folds: P 0.72 R 0.71 F1 0.72 (0.4
# gives F1 0.74 with P 0.67: merging two different questions costs more than a missed merge).
SAME_QUESTION_THRESHOLD = 0.5

_NEGATION = re.compile("[不没未无别非]")
_NUMBER = re.compile(r"\d+")
_QUESTION_TYPES = (
    ("why", re.compile("为什么|为啥|怎么会|咋会|为何|什么原因|原因")),
    ("when", re.compile("什么时候|多久|几天|何时|多长时间|几点")),
    ("how_much", re.compile("多少|几")),
    ("can", re.compile("能不能|可以|能否|可否|可不可以|能吗|行吗|会不会")),
    ("how", re.compile("怎么|如何|怎样|咋|方法|步骤|流程")),
    ("where", re.compile("哪里|哪儿|在哪|哪个|哪些")),
)


@functools.lru_cache(maxsize=1)
def _idf() -> tuple[dict[str, float], float]:
    import jieba.analyse

    table = {}
    path = os.path.join(os.path.dirname(jieba.analyse.__file__), "idf.txt")
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                table[parts[0]] = float(parts[1])
    return table, float(np.median(list(table.values())))


class QuestionFeatures:
    """What the scorer needs of one question, computed once (clustering compares each question many times)."""

    __slots__ = ("folded", "chars", "ngrams", "words", "pinyin", "negated", "numbers", "qtypes")

    def __init__(self, text: str):
        seg = segmenter()
        f = fold(text)
        self.folded = f
        self.chars = frozenset(analyze.char_units(f))
        self.ngrams = frozenset(analyze.char_ngrams(f, seg))
        self.words = frozenset(analyze.word_tokens(f, seg))
        self.pinyin = frozenset(analyze.pinyin_tokens(f, seg))
        self.negated = bool(_NEGATION.search(f))
        self.numbers = frozenset(_NUMBER.findall(f))
        self.qtypes = frozenset(name for name, pat in _QUESTION_TYPES if pat.search(f))


def _jaccard(x: frozenset, y: frozenset) -> float:
    return len(x & y) / len(x | y) if (x or y) else 0.0


def pair_features(a: QuestionFeatures, b: QuestionFeatures, cosine: float) -> list[float]:
    idf, default = _idf()
    weight = lambda s: sum(idf.get(t, default) for t in s)  # noqa: E731
    union = a.words | b.words
    la, lb = len(a.folded), len(b.folded)
    return [cosine, _jaccard(a.chars, b.chars), _jaccard(a.ngrams, b.ngrams),
            weight(a.words & b.words) / weight(union) if union else 0.0,
            _jaccard(a.pinyin, b.pinyin), min(la, lb) / max(la, lb, 1), abs(la - lb) / 10,
            float(a.negated != b.negated), float(a.numbers != b.numbers), float(a.qtypes != b.qtypes)]


def question_vectors(texts: Sequence[str], embedder=None, encode=None) -> np.ndarray:
    """L2-normalised sentence vectors of the folded questions (pass an EmbeddingCache's encode to reuse)."""
    folded = [fold(t) for t in texts]
    if encode is None:
        if embedder is None:
            from .embed import get_embedder

            embedder = get_embedder()
        encode = embedder.encode
    return np.asarray(encode(folded), dtype=np.float32)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def score_features(X: np.ndarray) -> np.ndarray:
    return _sigmoid(np.asarray(X, dtype=np.float64) @ WEIGHTS + INTERCEPT)


def score_pairs(a: Sequence[str], b: Sequence[str], *, vectors_a: np.ndarray | None = None,
                vectors_b: np.ndarray | None = None, embedder=None) -> np.ndarray:
    """Probability-like score in [0, 1] that a[i] and b[i] ask the same question (row i for pair i)."""
    if len(a) != len(b):
        raise ValueError(f"score_pairs needs two lists of the same length, got {len(a)} and {len(b)}")
    if not a:
        return np.zeros(0)
    if vectors_a is None or vectors_b is None:
        unique = list(dict.fromkeys([*a, *b]))
        vecs = question_vectors(unique, embedder)
        at = {t: i for i, t in enumerate(unique)}
        vectors_a = vecs[[at[t] for t in a]]
        vectors_b = vecs[[at[t] for t in b]]
    cos = np.einsum("ij,ij->i", vectors_a, vectors_b)
    feats = {t: QuestionFeatures(t) for t in dict.fromkeys([*a, *b])}
    X = np.array([pair_features(feats[x], feats[y], float(c)) for x, y, c in zip(a, b, cos)])
    return score_features(X)


def same_question_pairs(texts: Sequence[str], vectors: np.ndarray, *, threshold: float = SAME_QUESTION_THRESHOLD,
                        neighbours: int = 20, min_cosine: float = 0.5) -> list[tuple[int, int, float]]:
    """Pairs (i, j, score), i < j, scoring at least `threshold`, for clustering a set of questions.

    Only each question's `neighbours` nearest by cosine (and at least `min_cosine`) are scored, so the cost is
    n × neighbours pair scores, not n²; faiss finds the neighbours."""
    import faiss

    n = len(texts)
    if n < 2:
        return []
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    sims, nbrs = index.search(vectors, min(n, neighbours + 1))
    cand = {(min(i, int(j)), max(i, int(j))): float(s) for i in range(n)
            for j, s in zip(nbrs[i], sims[i]) if j >= 0 and j != i and s >= min_cosine}
    if not cand:
        return []
    feats = [QuestionFeatures(t) for t in texts]
    keys = list(cand)
    X = np.array([pair_features(feats[i], feats[j], cand[(i, j)]) for i, j in keys])
    scores = score_features(X)
    return [(i, j, float(s)) for (i, j), s in zip(keys, scores) if s >= threshold]


def fit_weights(a: Sequence[str], b: Sequence[str], labels: Sequence[int], embedder=None):
    """Fit (weights, intercept) of the logistic regression on labelled pairs (e.g. from your own domain)."""
    from sklearn.linear_model import LogisticRegression

    unique = list(dict.fromkeys([*a, *b]))
    vecs = question_vectors(unique, embedder)
    at = {t: i for i, t in enumerate(unique)}
    feats = {t: QuestionFeatures(t) for t in unique}
    X = np.array([pair_features(feats[x], feats[y], float(vecs[at[x]] @ vecs[at[y]])) for x, y in zip(a, b)])
    model = LogisticRegression(max_iter=2000).fit(X, np.asarray(labels))
    return model.coef_[0], float(model.intercept_[0]), X
