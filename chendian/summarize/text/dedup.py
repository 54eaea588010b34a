"""The same-question scorer: are two questions asking the same thing? (used by the faq stage to merge)

A logistic regression over cheap, general features of a pair of questions:
sentence-vector cosine, character / character-bigram / pinyin Jaccard, IDF-weighted word overlap (IDF from
jieba's general-corpus table, so a pair's score does not depend on the rest of the set), length ratio and
difference, and flags for mismatched negation, numbers and question type (为什么 vs 怎么 vs 多久 …),
which separate the typical near-miss pairs ("额度为什么降低" vs "怎么降低额度").

The weights were fitted on BQ dev question pairs (Chinese banking questions), the only labelled Chinese
pairs available here; 5-fold held-out (folds grouped by connected sentences) AP 0.785 vs 0.762 for the
cosine alone (training/fit_dedup.py, which writes them to dedup_weights.npz beside this module).
Inside a question set (score_pairs(..., context=texts), same_question_pairs) seven unsupervised context
features join: mutual neighbour rank, TF-IDF and LSA cosines of character n-grams and words with the set's
own statistics, hubness-corrected cosine (CSLS), and the overlap of the two questions' neighbourhoods.
Weights also fitted on bq-dev: grouped 5-fold held-out AP 0.7999, in-sample 0.804. Refit with `fit_weights` on labelled pairs from your own domain when you have them.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import analyze
from .segment import fold, segmenter

FEATURES = ("cosine", "char_jaccard", "char_ngram_jaccard", "word_idf_jaccard", "pinyin_jaccard",
            "length_ratio", "length_diff", "negation_mismatch", "number_mismatch", "question_type_mismatch")
CONTEXT_FEATURES = ("mutual_rank", "char_tfidf_cosine", "char_lsa_cosine", "csls", "full_char_jaccard",
                    "word_tfidf_cosine", "neighbour_profile")  # computed inside a question set (see below)
# The learned weights, with the feature names they were fitted for, in one file beside this module:
# training/fit_dedup.py writes it (fitted on bq-dev, all 10k pairs, after 5-fold CV chose the feature set).
WEIGHTS_FILE = Path(__file__).with_name("dedup_weights.npz")
with np.load(WEIGHTS_FILE) as _weights:
    if tuple(_weights["features"]) != FEATURES or tuple(_weights["context_features"]) != CONTEXT_FEATURES:
        raise RuntimeError(f"{WEIGHTS_FILE} was fitted for other features; rerun training/fit_dedup.py")
    WEIGHTS = _weights["weights"]
    INTERCEPT = float(_weights["intercept"])
    CONTEXT_WEIGHTS = _weights["context_weights"]  # over FEATURES + CONTEXT_FEATURES
    CONTEXT_INTERCEPT = float(_weights["context_intercept"])
# Pairs scoring at least this are the same question: the faq stage merges at this score, and `chendian eval
# dedup` reports P/R/F1 here. Precision first: a wrong merge puts one question's answer under another (seen on
# the bundled example chat at 0.5: 工位号 merged with 工牌 and 值班表), a missed merge is one `chendian faq
# merge` away. bq-dev (in-sample): 0.7 gives P 0.82 R 0.43 (context-free), P 0.83 R 0.47 (with context);
# 0.5 gives P 0.72-0.74 R 0.72. The weights are fitted on banking questions (BQ); on the questions of two real
# Chinese work groups (every pair of gold questions, cleaned as FAQ entries show them) 0.7 merges pairs of which
# only 58% (qq-dev) and 36% (wechat-dev) ask the same thing; 0.9 merges 100% / 88% right at recall 0.10 / 0.06.
# Merges are what users trust least (two questions' answers under one title), so the FAQ merges only from 0.9.
SAME_QUESTION_THRESHOLD = 0.9

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
    import jieba

    table = {}
    # jieba.analyse's own table, found without importing jieba.analyse (that loads its POS tagger: seconds)
    path = os.path.join(os.path.dirname(jieba.__file__), "analyse", "idf.txt")
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


# -- context features: the faq stage scores pairs inside a whole question set, and the set itself tells which
# words are rare there and which questions crowd together (unsupervised, never labels).
# CONTEXT_WEIGHTS (in dedup_weights.npz, loaded above) were fitted by training/fit_dedup.py on bq-dev (all 10k
# pairs, context = its 6,921 distinct sentences): grouped 5-fold held-out AP 0.7999 (in-sample 0.804) vs 0.785
# for the context-free scorer; held-out at 0.5: P 0.737 R 0.715 F1 0.726.
# Below this many distinct questions the set says too little (every question is someone's nearest
# neighbour in a small, varied set, and the context features then call unrelated questions the same):
# the context-free scorer is used. Checked on the bundled example chat (80 questions: context scores 0.8-0.9
# for clearly different questions) and a 1,095-sentence slice of bq-dev (context AP 0.81 vs 0.81 without).
MIN_CONTEXT = 500
_RANK_CAP = 200
_PROFILE_K = 100
_CSLS_K = 10
_MARGIN = 8  # extra float32 candidates per row, rescored exactly
_SEARCH_BATCH = 2048  # rows searched per faiss call (bounds the rescoring's gathered vectors)


class QuestionContext:
    """Statistics of a question set (texts with their vectors) for the context features of pairs inside it."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, word_tokens=None):
        """`word_tokens(folded) -> list[str]`: analyze.word_tokens under the default segmenter, or a memo of it
        (the faq stage keeps them between runs: jieba over every question was most of a night's context)."""
        import faiss
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        seg = segmenter()
        self.at = {t: i for i, t in enumerate(texts)}
        n = len(texts)
        folded = [fold(t) for t in texts]
        chars = [analyze.full_char_ngrams(f) or ["\x00"] for f in folded]
        self.char_sets = [frozenset(c) for c in chars]
        tv = TfidfVectorizer(analyzer=lambda x: x, sublinear_tf=True)
        self.char_tfidf = tv.fit_transform(chars).tocsr()
        tokens_of = word_tokens or (lambda f: analyze.word_tokens(f, seg))
        words = [tokens_of(f) or ["\x00"] for f in folded]
        self.word_tfidf = TfidfVectorizer(analyzer=lambda x: x, sublinear_tf=True).fit_transform(words).tocsr()
        dims = max(1, min(128, n - 1, self.char_tfidf.shape[1] - 1))
        z = TruncatedSVD(dims, random_state=0).fit_transform(self.char_tfidf)
        self.lsa = (z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9)).astype(np.float32)
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        self.vectors = v
        self.n = n
        self.index = faiss.IndexFlatIP(v.shape[1])
        self.index.add(v)
        self.k = min(n, _RANK_CAP + 1)
        # Each question's nearest questions are searched when a pair first needs them (`neighbours`): a night
        # scores its new questions against their candidates, a few thousand rows, where searching every question
        # against every other cost n² (the most of a night's context at 1M messages). For that, a row must not
        # depend on which other rows were searched with it; a float32 search does (BLAS blocks the sums by the
        # batch's shape), so its candidates are rescored exactly (`_exact`).
        norms = np.linalg.norm(v, axis=1) if n else np.zeros(0)
        self._exact = bool(n) and np.array_equal(v, v.astype(np.float16).astype(np.float32)) and norms.max() < 4
        self._slack = 2 * v.shape[1] * 2.0 ** -24 * (norms * norms.max() if n else norms)  # float32 error bound
        self._sims: dict[int, np.ndarray] = {}  # position → cosines of its nearest questions, best first
        self._ids: dict[int, np.ndarray] = {}
        if not self._exact:  # other vectors (not what the faq stage gives): the whole set at once, as before
            self._search(list(range(n)))

    def _search(self, todo: list[int]) -> None:
        """Fill _sims/_ids for these positions.

        With float16-valued vectors (the faq stage's, read back from the float16 embedding cache) every
        similarity is exact: each component is a multiple of 2⁻²⁴, so each product is a multiple of 2⁻⁴⁸, and
        with norms below 4 every partial sum is below 2⁴ (Cauchy–Schwarz): float64 holds each sum exactly in any
        order. faiss's float32 search proposes _MARGIN more candidates than needed, they are rescored so, then
        rounded to float32 once; ties go to the lower position. A row whose candidates might miss one of its true
        nearest (the last candidate's float32 score within the float32 error bound of the cut) is computed
        against every question. So a row is the same bits whether it was searched alone, with a night's rows,
        or with the whole set (tests/test_faq_context.py)."""
        v = self.vectors
        for start in range(0, len(todo), _SEARCH_BATCH):
            chunk = todo[start:start + _SEARCH_BATCH]
            if not self._exact:
                sims, nbrs = self.index.search(v[chunk], self.k)
                for i, srow, nrow in zip(chunk, sims, nbrs):
                    keep = nrow != i  # drop the question itself from its own list
                    self._sims[i] = srow[keep][:self.k - 1].astype(np.float32)
                    self._ids[i] = nrow[keep][:self.k - 1]
                continue
            kk = min(self.n, self.k + _MARGIN)
            sims32, nbrs = self.index.search(v[chunk], kk)
            # 32 rows' candidates gathered at a time (14 MB): larger gathers cost more than they save
            exact = np.concatenate([np.einsum("mkd,md->mk", v[nbrs[s:s + 32]], v[chunk[s:s + 32]], dtype=np.float64)
                                    for s in range(0, len(chunk), 32)])
            for r, i in enumerate(chunk):
                ids, vals = nbrs[r], exact[r]
                keep = ids != i
                ids, vals = ids[keep], vals[keep]
                order = np.lexsort((ids, -vals))[:self.k - 1]
                if kk < self.n and len(order) and not vals[order[-1]] > sims32[r, -1] + self._slack[i]:
                    vals = np.einsum("nd,d->n", v, v[i], dtype=np.float64)
                    ids = np.arange(self.n)
                    vals, ids = vals[ids != i], ids[ids != i]
                    order = np.lexsort((ids, -vals))[:self.k - 1]
                self._sims[i] = vals[order].astype(np.float32)
                self._ids[i] = ids[order].astype(np.int64)

    def neighbours(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """(sims, ids) of the given positions' nearest questions (each question itself left out), a row each."""
        rows = np.asarray(rows, dtype=np.int64)
        todo = [i for i in dict.fromkeys(rows.tolist()) if i not in self._sims]
        if todo:
            self._search(todo)
        return (np.array([self._sims[i] for i in rows.tolist()], dtype=np.float32).reshape(len(rows), self.k - 1),
                np.array([self._ids[i] for i in rows.tolist()], dtype=np.int64).reshape(len(rows), self.k - 1))

    def _profiles(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Second-order similarity: each question as its sparse profile of cosines to its nearest questions
        (itself 1), L2-normalised; one row per position given, as CSR arrays (indptr, indices, data) with sorted
        columns: scipy.sparse on a handful of rows cost more in checks than in sums (most of a cold faq run)."""
        sims, ids = self.neighbours(rows)
        m = len(rows)
        pk = min(_PROFILE_K, ids.shape[1])
        cols = np.column_stack([np.asarray(rows, dtype=np.int64), ids[:, :pk]])
        vals = np.column_stack([np.ones(m, np.float32), sims[:, :pk]])
        order = np.argsort(cols, axis=1, kind="stable")  # a row's columns are distinct (itself left out of ids)
        cols, vals = np.take_along_axis(cols, order, 1), np.take_along_axis(vals, order, 1)
        indptr = np.arange(m + 1, dtype=np.int64) * (pk + 1)
        # the float32 norms and scaling of the scipy formulation (sum over the nonzero squares, then 1/norm · row)
        norms = np.sqrt(_row_sums(indptr, (vals * vals).ravel()))
        scaled = (vals * (1 / np.maximum(norms, 1e-9))[:, None]).ravel()
        return indptr, cols.ravel(), scaled

    def features(self, ia: np.ndarray, ib: np.ndarray, cos: np.ndarray) -> np.ndarray:
        """Context features (CONTEXT_FEATURES order) of the pairs (ia[i], ib[i]) of positions in the set."""
        ia, ib = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
        rows = np.array(list(dict.fromkeys([*ia.tolist(), *ib.tolist()])), dtype=np.int64)
        at = {int(r): j for j, r in enumerate(rows)}
        pa = np.array([at[int(i)] for i in ia], dtype=np.int64)
        pb = np.array([at[int(i)] for i in ib], dtype=np.int64)
        nbr_sims, _ = self.neighbours(rows)
        hub = nbr_sims[:, :_CSLS_K].mean(1)

        def rank(p, c):  # how many questions are closer to the pair's one question than its other
            return (nbr_sims[p] > c[:, None]).sum(1)

        mutual = -(np.log1p(rank(pa, cos)) + np.log1p(rank(pb, cos))) / 2
        jac = np.array([len(self.char_sets[x] & self.char_sets[y]) / max(1, len(self.char_sets[x] | self.char_sets[y]))
                        for x, y in zip(ia, ib)])
        char, word = self.char_tfidf, self.word_tfidf
        return np.column_stack([mutual, _pair_dots(char.indptr, char.indices, char.data, char.shape[1], ia, ib),
                                np.einsum("ij,ij->i", self.lsa[ia], self.lsa[ib]),
                                2 * cos - hub[pa] - hub[pb], jac,
                                _pair_dots(word.indptr, word.indices, word.data, word.shape[1], ia, ib),
                                _pair_dots(*self._profiles(rows), self.n, pa, pb)])


# Sparse row dot products on CSR arrays (distinct columns per row), for the few pairs a call scores.
# Bit for bit what `m[a].multiply(m[b]).sum(1)` gives (tests/test_faq_context.py compares them): the products of
# the shared columns in column order, zero products dropped, each pair's summed by np.add.reduceat as scipy's
# row sum does (its pairwise summation groups by count, so the order and the dropped zeros matter).

def _row_sums(indptr: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Per-row sums of data (rows by indptr) over its nonzero entries, as scipy's csr.sum(1) adds them."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    keep = data != 0
    return _segment_sums(rows[keep], data[keep], len(indptr) - 1)


def _segment_sums(seg: np.ndarray, vals: np.ndarray, n: int) -> np.ndarray:
    """out[s] = np.add.reduceat of vals where seg == s (seg ascending), 0 where none."""
    out = np.zeros(n, dtype=vals.dtype)
    if len(vals):
        present, first = np.unique(seg, return_index=True)
        out[present] = np.add.reduceat(vals, first)
    return out


def _gather(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions into indices/data of the given rows' entries, concatenated; the given row's ordinal each)."""
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    ends = np.cumsum(lens)
    pos = np.repeat(starts - ends + lens, lens) + np.arange(int(ends[-1]) if len(ends) else 0)
    return pos, np.repeat(np.arange(len(rows)), lens)


def _pair_dots(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, width: int, a: np.ndarray,
               b: np.ndarray) -> np.ndarray:
    """Dot products of CSR rows a[i] and b[i] (distinct columns below `width`), one per pair."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    pos_a, pair_a = _gather(indptr, a)
    pos_b, pair_b = _gather(indptr, b)
    # (pair, column) keys are distinct within each side and sort by pair, then column
    keys, at_a, at_b = np.intersect1d(pair_a * width + indices[pos_a], pair_b * width + indices[pos_b],
                                      assume_unique=True, return_indices=True)
    pair = keys // width
    # scipy multiplies sorted rows in column order, unsorted ones (sklearn's tf-idf rows are) through a linked
    # list that gives a's shared entries in reverse storage order
    ca, cb = indices[pos_a], indices[pos_b]
    if not ((np.diff(ca) > 0) | (np.diff(pair_a) != 0)).all() or not ((np.diff(cb) > 0) | (np.diff(pair_b) != 0)).all():
        order = np.lexsort((-at_a, pair))
        pair, at_a, at_b = pair[order], at_a[order], at_b[order]
    prods = data[pos_a[at_a]] * data[pos_b[at_b]]
    keep = prods != 0
    return _segment_sums(pair[keep], prods[keep], len(a))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def score_features(X: np.ndarray) -> np.ndarray:
    """Scores of feature rows: FEATURES alone (context-free) or FEATURES + CONTEXT_FEATURES."""
    X = np.asarray(X, dtype=np.float64)
    if X.shape[1] == len(FEATURES) + len(CONTEXT_FEATURES):
        return _sigmoid(X @ CONTEXT_WEIGHTS + CONTEXT_INTERCEPT)
    return _sigmoid(X @ WEIGHTS + INTERCEPT)


def pair_feature_matrix(a: Sequence[str], b: Sequence[str], vectors_a: np.ndarray, vectors_b: np.ndarray,
                        context: "QuestionContext | None" = None,
                        features: dict[str, QuestionFeatures] | None = None) -> np.ndarray:
    """Feature rows of the pairs; with a context (holding every text of a and b) the context features too.
    `features`: text → QuestionFeatures kept across calls (a caller scoring many batches segments a text once)."""
    cos = np.einsum("ij,ij->i", vectors_a, vectors_b)
    feats = {} if features is None else features
    for t in dict.fromkeys([*a, *b]):
        if t not in feats:
            feats[t] = QuestionFeatures(t)
    X = np.array([pair_features(feats[x], feats[y], float(c)) for x, y, c in zip(a, b, cos)])
    if context is None:
        return X
    ia = np.array([context.at[t] for t in a])
    ib = np.array([context.at[t] for t in b])
    return np.column_stack([X, context.features(ia, ib, cos)])


def score_pairs(a: Sequence[str], b: Sequence[str], *, vectors_a: np.ndarray | None = None,
                vectors_b: np.ndarray | None = None, embedder=None,
                context: "Sequence[str] | QuestionContext | None" = None,
                context_vectors: np.ndarray | None = None,
                features: dict[str, QuestionFeatures] | None = None) -> np.ndarray:
    """Probability-like score in [0, 1] that a[i] and b[i] ask the same question (row i for pair i).

    `context`: the whole question set the pairs come from (e.g. every question the faq stage clusters; the
    texts of a and b are added to it), with `context_vectors` in its order when known. It adds the context
    features when it holds at least MIN_CONTEXT questions; without it (or smaller) the context-free scorer
    is used. Pass the same set for every call: the scores depend on it. A prebuilt QuestionContext (holding
    every text of a and b) is used as it is, so a caller scoring many batches builds it once (and passes a dict
    as `features`, so that each text's QuestionFeatures are computed once too)."""
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
    if isinstance(context, QuestionContext):
        return score_features(pair_feature_matrix(a, b, vectors_a, vectors_b, context, features))
    texts = list(dict.fromkeys([*context, *a, *b])) if context is not None else []
    ctx = None
    if len(texts) >= MIN_CONTEXT:
        known = {t: v for t, v in zip(a, vectors_a)} | {t: v for t, v in zip(b, vectors_b)}
        if context is not None and context_vectors is not None:
            known |= {t: v for t, v in zip(context, context_vectors)}
        missing = [t for t in texts if t not in known]
        if missing:
            known |= dict(zip(missing, question_vectors(missing, embedder)))
        ctx = QuestionContext(texts, np.array([known[t] for t in texts]))
    return score_features(pair_feature_matrix(a, b, vectors_a, vectors_b, ctx, features))


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
    if n >= MIN_CONTEXT and len(set(texts)) == n:
        ctx = QuestionContext(list(texts), vectors)
        ia, ib = (np.array(c) for c in zip(*keys))
        X = np.column_stack([X, ctx.features(ia, ib, np.array([cand[k] for k in keys]))])
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
