"""The hybrid search index: lexical BM25 channels and dense vectors, fused by a weighted sum.

Channels (each a bm25s index over tokens of the folded, boilerplate-free text, see analyze.py):
- word:   jieba search-mode words;
- char:   character unigrams + bigrams of the whole folded text, question words kept (colloquial Chinese
          segments badly; typos break words, not bigrams; 为什么 vs 怎么 is intent);
- pinyin: toneless syllables + syllable pairs (queries typed as "baoxiao", homophone typos);
- body:   jieba words of the answer (FAQ entries), a weak signal;
- dense:  sentence vectors (USE multilingual by default) in faiss, one row per wording (question and each
          variant); a document scores its best wording.
Each lexical score is divided by the best score of that channel for the query (so 1.0 = the best lexical
match), the dense score is the cosine; the fused score is their weighted sum (weights in FusionWeights).

The `index` stage writes the index as plain files (bm25s folders, faiss index, .npy, docs.jsonl, meta.json)
into a fresh folder and then points the <ws>/index symlink at it with one atomic rename: a crash at any
moment leaves the previous index serving. An unchanged document set (same hash) skips the rebuild; vectors
come from the workspace EmbeddingCache, so a rebuild embeds only new wordings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ChendianError
from ..summarize.text.segment import fold, segmenter
from ..summarize.text import HERE as TEXT_DIR, analyze, code_fingerprint
from .vocab import expansions

INDEX_FORMAT = 3  # 2: the char channel keeps question words (analyze.full_char_ngrams); 3: @mentions left out
LEXICAL_CHANNELS = ("word", "char", "pinyin", "body")
# From this many vector rows on, faiss uses HNSW (approximate, ~ms per query at 1M) instead of exact search.
HNSW_FROM_ROWS = 100_000


@dataclass
class FusionWeights:
    """Weights of the normalised channel scores in the fused score. Chosen on BQ dev from a small grid (the
    result is flat: lexical weights 0.1–0.3 all give R@5 0.553–0.559); the pinyin weight rises for queries
    typed in pinyin."""

    dense: float = 1.0
    word: float = 0.1
    char: float = 0.2
    pinyin: float = 0.1
    body: float = 0.1
    pinyin_query: float = 1.0  # pinyin weight when the whole query is pinyin (the dense channel is then off)


@dataclass
class SearchDocument:
    """One searchable entry: `text` is the main wording (an FAQ question), `variants` other wordings of
    it, `body` a longer text that also matches weakly (the answer), `fields` anything to show with a hit."""

    id: str
    text: str
    variants: list[str] = field(default_factory=list)
    body: str = ""
    fields: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """dataclasses.asdict of the document without its deep copy (a tenth of an index rebuild at 12k entries):
        the same keys, in the same order, so the same JSON."""
        return {"id": self.id, "text": self.text, "variants": self.variants, "body": self.body, "fields": self.fields}

    def wordings(self) -> list[str]:
        return list(dict.fromkeys([self.text, *[v for v in self.variants if v and v.strip()]]))


@dataclass
class RawHit:
    doc: SearchDocument
    score: float
    parts: dict[str, float]
    relevance: float | None = None  # see HybridIndex.relevance; None when it cannot be judged (pinyin query)


# Relevance (is this hit about the query at all?) = dense cosine + COVERAGE_WEIGHT × the idf-weighted share of
# the query's character bigrams found in the document's wordings. The fused score cannot say it: each
# lexical channel is divided by its best score, so the best lexical match of any query scores 1. Fitted with
# `chendian eval repeat` on the labelled QQ and WeChat groups against queries they never discussed.
COVERAGE_WEIGHT = 0.5


def query_bigrams(folded: str) -> set[str]:
    """Character bigrams (Latin/digit runs count as one character) of a folded text, @mentions left out:
    a name is not evidence that two questions are about the same thing."""
    out = set()
    for part in analyze.char_units_runs(analyze.strip_mentions(folded)):
        out.update(a + b for a, b in zip(part, part[1:]))
    return out


class SearchIndexError(ChendianError, RuntimeError):
    """The index is missing or unreadable (message says what to run)."""


def _bm25(corpus_tokens: list[list[str]]):
    import bm25s

    model = bm25s.BM25(k1=1.2, b=0.75)
    # bm25s needs at least one token per document; an empty document gets a token no query produces.
    model.index([toks or ["\x00"] for toks in corpus_tokens], show_progress=False)
    return model


def _faiss_index(vectors: np.ndarray):
    import faiss

    dim = vectors.shape[1]
    if len(vectors) >= HNSW_FROM_ROWS:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


class HybridIndex:
    """An in-memory hybrid index over SearchDocuments; `build` it, `search` it, `save`/`load` it."""

    def __init__(self, docs: list[SearchDocument], vectors: np.ndarray, row_doc: np.ndarray, bm25: dict,
                 faiss_index, embedder_name: str, weights: FusionWeights | None = None, user_dict: str = "",
                 vocab: dict[str, list[str]] | None = None):
        self.docs = docs
        self.vocab = vocab or {}  # the workspace vocabulary (vocab.py): term → equivalents, expands documents
        self.vectors = vectors  # (rows, dim) float32, L2-normalised; row r belongs to docs[row_doc[r]]
        self.row_doc = row_doc
        self.bm25 = bm25  # channel name → bm25s.BM25
        self.faiss = faiss_index
        self.embedder_name = embedder_name
        self.weights = weights or FusionWeights()
        self.user_dict = user_dict
        self._embedder = None
        self._seg = segmenter(user_dict)
        self.token_cache: TokenCache | None = None  # set by build: the tokens it used, saved beside the index

    # -- building --------------------------------------------------------------------------------------
    @classmethod
    def build(cls, docs: Sequence[SearchDocument], *, embedder=None, vectors: np.ndarray | None = None,
              encode=None, weights: FusionWeights | None = None, user_dict: str = "",
              vocab: dict[str, list[str]] | None = None, token_cache: "TokenCache | None" = None) -> "HybridIndex":
        """Index `docs`. Vectors of the wordings come from `encode(texts) -> array` when given (e.g. an
        EmbeddingCache), else from `embedder.encode`, else `vectors` must hold one row per wording in
        order (doc by doc, `SearchDocument.wordings()`). `token_cache`: the tokens of an earlier build
        (TokenCache.load), so only new or changed texts are segmented; the index is the same without it."""
        docs = list(docs)
        seg = segmenter(user_dict)
        wordings = [d.wordings() for d in docs]
        row_doc = np.repeat(np.arange(len(docs), dtype=np.int32), [len(w) for w in wordings])
        # @mentions are left out of every channel: a name is not what a question is about
        flat = [analyze.strip_mentions(fold(w)) for ws in wordings for w in ws]
        if vectors is None:
            if encode is None:
                if embedder is None:
                    from ..summarize.text.embed import get_embedder

                    embedder = get_embedder()
                encode = embedder.encode
            vectors = encode(flat) if flat else np.zeros((0, 512), np.float32)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(vectors) != len(flat):
            raise ValueError(f"expected {len(flat)} vectors (one per wording), got {len(vectors)}")
        # each document's wordings, and the equivalents of the vocabulary terms they hold (vocab.py)
        folded_titles = [analyze.strip_mentions(fold("\n".join([*ws, *expansions(ws, vocab or {})]))) for ws in wordings]
        tokens = TokenCache(user_dict) if token_cache is None else token_cache
        bodies = [fold(d.body) if d.body else "" for d in docs]
        bm25 = {
            "word": _bm25(tokens.tokens("word", folded_titles, lambda t: analyze.word_tokens(t, seg))),
            "char": _bm25([analyze.full_char_ngrams(t) for t in folded_titles]),
            "pinyin": _bm25(tokens.tokens("pinyin", folded_titles, lambda t: analyze.pinyin_tokens(t, seg))),
        }
        if any(d.body for d in docs):
            bm25["body"] = _bm25(tokens.tokens("body", bodies, lambda t: analyze.word_tokens(t, seg) if t else []))
        name = getattr(embedder, "name", "") if embedder is not None else ""
        index = cls(docs, vectors, row_doc, bm25, _faiss_index(vectors), name, weights, user_dict, vocab)
        index.token_cache = tokens.used(folded_titles, bodies)
        return index

    # -- searching -------------------------------------------------------------------------------------
    def embed_query(self, folded_query: str) -> np.ndarray:
        if self._embedder is None:
            from ..summarize.text.embed import get_embedder

            self._embedder = get_embedder(self.embedder_name or "use-multilingual")
        return self._embedder.encode([folded_query])[0]

    def search(self, query: str, k: int = 10, *, query_vector: np.ndarray | None = None,
               exclude: Iterable[int] = (), candidates: int = 100) -> list[RawHit]:
        """The k best documents for `query`, best first. `exclude` holds document positions to leave out."""
        n = len(self.docs)
        q = analyze.strip_mentions(fold(query)).strip()
        # Punctuation, emoji or control characters alone ask for nothing: no letter or digit, no results
        # (the dense channel would otherwise return the nearest neighbours of noise).
        if n == 0 or not any(c.isalnum() for c in q):
            return []
        w = self.weights
        share = analyze.pinyin_share(q)
        weights = {"dense": w.dense * (1 - share), "word": w.word, "char": w.char,
                   "pinyin": w.pinyin + (w.pinyin_query - w.pinyin) * share, "body": w.body}
        token_fns = {"word": analyze.word_tokens, "char": lambda t, _seg: analyze.full_char_ngrams(t),
                     "pinyin": analyze.pinyin_tokens, "body": analyze.word_tokens}
        excluded = np.fromiter(exclude, dtype=np.int64)
        lexical: dict[str, np.ndarray] = {}
        pool: list[np.ndarray] = []
        for name, model in self.bm25.items():
            if weights.get(name, 0) <= 0:
                continue
            tokens = token_fns[name](q, self._seg)
            if not tokens:  # bm25s fails on an empty query; this channel has nothing to score
                continue
            scores = np.asarray(model.get_scores(tokens), dtype=np.float32)
            if len(excluded):
                scores[excluded] = 0
            top = float(scores.max())
            if top <= 0:
                continue
            lexical[name] = scores / top
            m = min(candidates, n)
            pool.append(np.argpartition(-scores, m - 1)[:m])
        dense_on = weights["dense"] > 0 and len(self.vectors)
        if dense_on:
            qv = query_vector if query_vector is not None else self.embed_query(q)
            qv = np.asarray(qv, dtype=np.float32).reshape(1, -1)
            m = min(len(self.vectors), candidates * 2)
            _, rows = self.faiss.search(qv, m)
            pool.append(self.row_doc[rows[0][rows[0] >= 0]])
        if not pool:
            return []
        cand = np.unique(np.concatenate(pool))
        if len(excluded):
            cand = cand[~np.isin(cand, excluded)]
        fused = np.zeros(len(cand), dtype=np.float32)
        parts: dict[str, np.ndarray] = {}
        for name, norm in lexical.items():
            parts[name] = norm[cand]
            fused += weights[name] * parts[name]
        if dense_on:
            parts["dense"] = self._dense_scores(qv[0], cand)
            fused += weights["dense"] * parts["dense"]
        order = np.argsort(-fused, kind="stable")[:k]
        hits = [RawHit(self.docs[cand[i]], float(fused[i]), {c: float(v[i]) for c, v in parts.items()})
                for i in order]
        if dense_on:
            qgrams = query_bigrams(q)
            for h in hits:
                h.relevance = h.parts["dense"] + COVERAGE_WEIGHT * self.coverage(qgrams, h.doc)
        return hits

    def coverage(self, query_grams: set[str], doc: SearchDocument) -> float:
        """The idf-weighted share of the query's bigrams that occur in one of the document's wordings."""
        if not query_grams:
            return 0.0
        df = self._bigram_df()
        n = len(self.docs)
        doc_grams = self._doc_bigrams(doc)
        weight = {g: math.log(1 + n / (1 + df.get(g, 0))) for g in query_grams}
        return sum(w for g, w in weight.items() if g in doc_grams) / sum(weight.values())

    def _bigram_df(self) -> dict[str, int]:
        """How many documents hold each bigram (computed once, on the first search)."""
        if getattr(self, "_df", None) is None:
            from collections import Counter

            df: Counter = Counter()
            for d in self.docs:
                df.update(self._doc_bigrams(d))
            self._df = dict(df)
        return self._df

    def _doc_bigrams(self, doc: SearchDocument) -> set[str]:
        wordings = doc.wordings()
        return set().union(*(query_bigrams(fold(w)) for w in [*wordings, *expansions(wordings, self.vocab)]))

    def _dense_scores(self, qv: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Best cosine over each candidate document's wordings (all candidates' rows in one product: a Python
        loop over ~500 candidates cost 2 ms a query at 100k entries)."""
        starts = self._row_starts()
        lo, hi = starts[cand], starts[cand + 1]
        counts = hi - lo
        out = np.full(len(cand), -np.inf, dtype=np.float32)
        has = counts > 0
        if not has.any():
            return out
        offsets = np.concatenate([[0], np.cumsum(counts[has])[:-1]])
        rows = np.repeat(lo[has] - offsets, counts[has]) + np.arange(int(counts[has].sum()))
        sims = self.vectors[rows] @ qv
        out[has] = np.maximum.reduceat(sims, offsets)
        return out

    def _row_starts(self) -> np.ndarray:
        if getattr(self, "_starts", None) is None:
            self._starts = np.searchsorted(self.row_doc, np.arange(len(self.docs) + 1)).astype(np.int64)
        return self._starts

    # -- files -----------------------------------------------------------------------------------------
    def save(self, folder: Path, meta: dict | None = None) -> None:
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "docs.jsonl", "w", encoding="utf-8") as f:
            for d in self.docs:
                f.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")
        np.save(folder / "vectors.npy", self.vectors.astype(np.float16))
        np.save(folder / "row_doc.npy", self.row_doc)
        faiss.write_index(self.faiss, str(folder / "dense.faiss"))
        for name, model in self.bm25.items():
            model.save(str(folder / f"bm25_{name}"), show_progress=False)
        info = {"format": INDEX_FORMAT, "documents": len(self.docs), "rows": int(len(self.vectors)),
                "embedder": self.embedder_name, "user_dict": self.user_dict, "channels": sorted(self.bm25),
                "weights": asdict(self.weights), "faiss": type(self.faiss).__name__} | (meta or {})
        if self.token_cache is not None:
            self.token_cache.save(folder / TOKENS_FILE)
        if self.vocab:
            (folder / VOCAB_FILE).write_text(json.dumps(self.vocab, ensure_ascii=False, indent=0), encoding="utf-8")
        (folder / "meta.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "HybridIndex":
        import bm25s
        import faiss

        folder = Path(folder)
        meta_path = folder / "meta.json"
        if not meta_path.exists():
            raise SearchIndexError(f"no search index at {folder}; run `chendian stage index` (or `chendian run`)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != INDEX_FORMAT:
            raise SearchIndexError(f"{folder}: index format {meta.get('format')} is not {INDEX_FORMAT}; "
                              "rebuild it with `chendian stage index`")
        with open(folder / "docs.jsonl", encoding="utf-8") as f:
            docs = [SearchDocument(**json.loads(line)) for line in f]
        vectors = np.load(folder / "vectors.npy").astype(np.float32)
        row_doc = np.load(folder / "row_doc.npy")
        bm25 = {name: bm25s.BM25.load(str(folder / f"bm25_{name}"), load_corpus=False)
                for name in meta["channels"]}
        weights = FusionWeights(**meta.get("weights", {}))
        vocab_path = folder / VOCAB_FILE
        vocab = json.loads(vocab_path.read_text(encoding="utf-8")) if vocab_path.exists() else {}
        return cls(docs, vectors, row_doc, bm25, faiss.read_index(str(folder / "dense.faiss")),
                   meta.get("embedder", ""), weights, meta.get("user_dict", ""), vocab)


# Where a workspace keeps its index: <ws>/index, a symlink into <ws>/.index-versions/ (pipeline/stages/index.py).
INDEX_LINK = "index"
VOCAB_FILE = "vocab.json"  # the workspace vocabulary the index was built with (the site's search reads it too)
VERSIONS_DIR = ".index-versions"
TOKENS_FILE = "tokens.json"  # the word, pinyin and answer tokens of each document (TokenCache), for the next build


class TokenCache:
    """The segmented tokens of the texts an index was built from, so that the next build (a night that
    changed a few entries) segments only new texts: jieba and pypinyin over every document were most of a
    rebuild. A token list is a pure function of its text and the segmenter's dictionary, so a build from the
    cache is the build without it (tests/test_search_incremental.py). The file holds the texts of one build
    in document order, written with the index into its new folder (swapped in whole)."""

    def __init__(self, user_dict: str = "", texts: dict[str, dict[str, list[str]]] | None = None):
        self.key = self.cache_key(user_dict)
        self.texts: dict[str, dict[str, list[str]]] = texts or {}  # channel → text → tokens
        self.computed = 0

    @staticmethod
    def cache_key(user_dict: str) -> str:
        """What the tokens depend on besides the text: the format, the segmenting and pinyin code and the
        versions of jieba and pypinyin (a changed analyzer segments everything again), the user dictionary."""
        files = [TEXT_DIR / "analyze.py", TEXT_DIR / "segment.py", TEXT_DIR / "stopwords_zh.txt"]
        if user_dict and Path(user_dict).is_file():
            files.append(Path(user_dict))
        return f"{INDEX_FORMAT}\x1f{user_dict}\x1f{code_fingerprint(files, packages=('jieba', 'pypinyin'))}"

    def tokens(self, channel: str, texts: Sequence[str], fn) -> list[list[str]]:
        known = self.texts.setdefault(channel, {})
        out = []
        for t in texts:
            toks = known.get(t)
            if toks is None:
                toks = known[t] = fn(t)
                self.computed += 1
            out.append(toks)
        return out

    def used(self, titles: Sequence[str], bodies: Sequence[str]) -> "TokenCache":
        """Only what this build used, in document order (the file does not grow with texts long gone)."""
        out = TokenCache.__new__(TokenCache)
        out.key, out.computed = self.key, self.computed
        out.texts = {c: {t: self.texts[c][t] for t in (bodies if c == "body" else titles) if t in self.texts[c]}
                     for c in self.texts}
        return out

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"key": self.key, "texts": self.texts}, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, user_dict: str = "") -> "TokenCache":
        """The tokens saved with an earlier index; empty when there are none or they were made otherwise."""
        cache = cls(user_dict)
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cache  # no earlier index (or an unreadable file): every text is segmented
        if isinstance(saved, dict) and saved.get("key") == cache.key and isinstance(saved.get("texts"), dict):
            cache.texts = {c: dict(v) for c, v in saved["texts"].items() if isinstance(v, dict)}
        return cache
