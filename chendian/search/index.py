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

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..summarize.segment import fold, segmenter
from . import analyze

INDEX_FORMAT = 2  # 2: the char channel keeps question words (analyze.full_char_ngrams)
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

    def wordings(self) -> list[str]:
        return list(dict.fromkeys([self.text, *[v for v in self.variants if v and v.strip()]]))


@dataclass
class RawHit:
    doc: SearchDocument
    score: float
    parts: dict[str, float]


class IndexError_(RuntimeError):
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
                 faiss_index, embedder_name: str, weights: FusionWeights | None = None, user_dict: str = ""):
        self.docs = docs
        self.vectors = vectors  # (rows, dim) float32, L2-normalised; row r belongs to docs[row_doc[r]]
        self.row_doc = row_doc
        self.bm25 = bm25  # channel name → bm25s.BM25
        self.faiss = faiss_index
        self.embedder_name = embedder_name
        self.weights = weights or FusionWeights()
        self.user_dict = user_dict
        self._embedder = None
        self._seg = segmenter(user_dict)

    # -- building --------------------------------------------------------------------------------------
    @classmethod
    def build(cls, docs: Sequence[SearchDocument], *, embedder=None, vectors: np.ndarray | None = None,
              encode=None, weights: FusionWeights | None = None, user_dict: str = "") -> "HybridIndex":
        """Index `docs`. Vectors of the wordings come from `encode(texts) -> array` when given (e.g. an
        EmbeddingCache), else from `embedder.encode`, else `vectors` must hold one row per wording in
        order (doc by doc, `SearchDocument.wordings()`)."""
        docs = list(docs)
        seg = segmenter(user_dict)
        wordings = [d.wordings() for d in docs]
        row_doc = np.repeat(np.arange(len(docs), dtype=np.int32), [len(w) for w in wordings])
        flat = [fold(w) for ws in wordings for w in ws]
        if vectors is None:
            if encode is None:
                if embedder is None:
                    from ..summarize.embed import get_embedder

                    embedder = get_embedder()
                encode = embedder.encode
            vectors = encode(flat) if flat else np.zeros((0, 512), np.float32)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(vectors) != len(flat):
            raise ValueError(f"expected {len(flat)} vectors (one per wording), got {len(vectors)}")
        folded_titles = [fold("\n".join(ws)) for ws in wordings]
        bm25 = {
            "word": _bm25([analyze.word_tokens(t, seg) for t in folded_titles]),
            "char": _bm25([analyze.full_char_ngrams(t) for t in folded_titles]),
            "pinyin": _bm25([analyze.pinyin_tokens(t, seg) for t in folded_titles]),
        }
        if any(d.body for d in docs):
            bm25["body"] = _bm25([analyze.word_tokens(fold(d.body), seg) if d.body else [] for d in docs])
        name = getattr(embedder, "name", "") if embedder is not None else ""
        return cls(docs, vectors, row_doc, bm25, _faiss_index(vectors), name, weights, user_dict)

    # -- searching -------------------------------------------------------------------------------------
    def embed_query(self, folded_query: str) -> np.ndarray:
        if self._embedder is None:
            from ..summarize.embed import get_embedder

            self._embedder = get_embedder(self.embedder_name or "use-multilingual")
        return self._embedder.encode([folded_query])[0]

    def search(self, query: str, k: int = 10, *, query_vector: np.ndarray | None = None,
               exclude: Iterable[int] = (), candidates: int = 100) -> list[RawHit]:
        """The k best documents for `query`, best first. `exclude` holds document positions to leave out."""
        n = len(self.docs)
        q = fold(query).strip()
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
        return [RawHit(self.docs[cand[i]], float(fused[i]), {c: float(v[i]) for c, v in parts.items()})
                for i in order]

    def _dense_scores(self, qv: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Best cosine over each candidate document's wordings."""
        starts = self._row_starts()
        out = np.empty(len(cand), dtype=np.float32)
        for i, d in enumerate(cand):
            out[i] = float((self.vectors[starts[d]:starts[d + 1]] @ qv).max())
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
                f.write(json.dumps(asdict(d), ensure_ascii=False) + "\n")
        np.save(folder / "vectors.npy", self.vectors.astype(np.float16))
        np.save(folder / "row_doc.npy", self.row_doc)
        faiss.write_index(self.faiss, str(folder / "dense.faiss"))
        for name, model in self.bm25.items():
            model.save(str(folder / f"bm25_{name}"), show_progress=False)
        info = {"format": INDEX_FORMAT, "documents": len(self.docs), "rows": int(len(self.vectors)),
                "embedder": self.embedder_name, "user_dict": self.user_dict, "channels": sorted(self.bm25),
                "weights": asdict(self.weights), "faiss": type(self.faiss).__name__} | (meta or {})
        (folder / "meta.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "HybridIndex":
        import bm25s
        import faiss

        folder = Path(folder)
        meta_path = folder / "meta.json"
        if not meta_path.exists():
            raise IndexError_(f"no search index at {folder}; run `chendian stage index` (or `chendian run`)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != INDEX_FORMAT:
            raise IndexError_(f"{folder}: index format {meta.get('format')} is not {INDEX_FORMAT}; "
                              "rebuild it with `chendian stage index`")
        with open(folder / "docs.jsonl", encoding="utf-8") as f:
            docs = [SearchDocument(**json.loads(line)) for line in f]
        vectors = np.load(folder / "vectors.npy").astype(np.float32)
        row_doc = np.load(folder / "row_doc.npy")
        bm25 = {name: bm25s.BM25.load(str(folder / f"bm25_{name}"), load_corpus=False)
                for name in meta["channels"]}
        weights = FusionWeights(**meta.get("weights", {}))
        return cls(docs, vectors, row_doc, bm25, faiss.read_index(str(folder / "dense.faiss")),
                   meta.get("embedder", ""), weights, meta.get("user_dict", ""))


# -- the `index` stage -----------------------------------------------------------------------------------

INDEX_LINK = "index"
VERSIONS_DIR = ".index-versions"


def _table_exists(ws, name: str) -> bool:
    return ws.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def _json_list(value) -> list:
    if not value:
        return []
    try:
        v = json.loads(value)
    except (TypeError, ValueError):
        return []
    return v if isinstance(v, list) else []


def workspace_documents(ws) -> tuple[str, list[SearchDocument]]:
    """What the index holds: FAQ entries that are not hidden; else extracted questions; else messages that
    look like questions. Returns (source kind, documents)."""
    if _table_exists(ws, "faq_entries"):
        rows = ws.db.execute("SELECT * FROM faq_entries WHERE COALESCE(hidden, 0) = 0 "
                             "ORDER BY COALESCE(pinned, 0) DESC, count DESC, id").fetchall()
        if rows:
            docs = [SearchDocument(
                id=r["id"], text=r["question"] or "", variants=[v for v in _json_list(r["variants"]) if isinstance(v, str)],
                body=r["answer"] or "",
                fields={"kind": "faq", "count": r["count"], "thread_ids": _json_list(r["thread_ids"]),
                        "answered": bool(r["answered"]), "last_ts": r["last_ts"]})
                for r in rows]
            return "faq", docs
    if _table_exists(ws, "qas"):
        rows = ws.db.execute("SELECT * FROM qas ORDER BY ts, id").fetchall()
        if rows:
            docs = []
            for r in rows:
                answers = [a for a in _json_list(r["answers"]) if isinstance(a, dict)]
                docs.append(SearchDocument(
                    id=r["id"], text=r["question"] or "", body=(answers[0].get("text") or "") if answers else "",
                    fields={"kind": "qa", "thread_ids": [r["thread_id"]] if r["thread_id"] else [],
                            "chat": r["chat"], "ts": r["ts"], "asker": r["asker_name"]}))
            return "qa", docs
    docs = []
    for m in ws.messages():
        if m.kind == "text" and not m.recalled and analyze.is_question_like(m.text):
            docs.append(SearchDocument(id=m.id, text=m.text.strip(), fields={
                "kind": "message", "chat": m.chat, "ts": int(m.time.timestamp()), "asker": m.sender_name}))
    return "message", docs


def documents_hash(docs: Sequence[SearchDocument], extra: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{INDEX_FORMAT}\x1f{extra}\x1e".encode())
    for d in docs:
        h.update(json.dumps(asdict(d), ensure_ascii=False, sort_keys=True).encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()


def index_folder(ws) -> Path:
    return ws.path(INDEX_LINK)


def swap_into_place(ws_root: Path, built: Path) -> None:
    """Point <ws>/index at `built` with one rename (atomic on POSIX), then delete older versions."""
    link = ws_root / INDEX_LINK
    if link.exists() and not link.is_symlink():
        # An index folder from elsewhere (copied by hand): move it aside, the link replaces it.
        os.replace(link, ws_root / VERSIONS_DIR / f"legacy-{int(time.time())}")
    tmp_link = ws_root / f".{INDEX_LINK}.link-{os.getpid()}"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(os.path.relpath(built, ws_root), tmp_link)
    os.replace(tmp_link, link)
    for old in (ws_root / VERSIONS_DIR).iterdir():
        if old.resolve() != built.resolve():
            shutil.rmtree(old, ignore_errors=True)


def run(ws, rc) -> dict[str, int]:
    """The `index` stage."""
    from ..summarize.embed import EmbeddingCache, embedder_for

    source, docs = workspace_documents(ws)
    cfg = ws.config
    user_dict = str(ws.path(cfg.segment.user_dict)) if cfg.segment.user_dict else ""
    doc_hash = documents_hash(docs, f"{cfg.embed.model}\x1f{user_dict}\x1f{source}")
    link = index_folder(ws)
    if (link / "meta.json").exists() and ws.get_state("index.hash") == doc_hash:
        return {"documents": len(docs), "rebuilt": 0, "embedded": 0}
    if not docs:  # a first night with an empty inbox, or every entry hidden: nothing to index is no failure
        rc.warn("no FAQ entries, questions or question-like messages to index yet")
        if link.is_symlink():  # an index of entries since hidden must not go on answering searches
            link.unlink()
            shutil.rmtree(ws.path(VERSIONS_DIR), ignore_errors=True)
        ws.set_state("index.hash", doc_hash)
        return {"documents": 0, "rebuilt": 0, "embedded": 0}
    embedder = embedder_for(cfg.embed)
    cache = EmbeddingCache(ws.db, embedder)
    embedded = 0
    bar = rc.progress(sum(len(d.wordings()) for d in docs), "embed wordings", unit="text")

    def encode(texts):
        nonlocal embedded
        with ws.transaction():
            vecs, embedded = cache.encode(texts, progress=bar.update)
        return vecs

    t0 = time.perf_counter()
    index = HybridIndex.build(docs, encode=encode, user_dict=user_dict)
    index.embedder_name = embedder.name
    bar.close()
    versions = ws.path(VERSIONS_DIR)
    versions.mkdir(exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=f"{doc_hash[:8]}-", dir=versions))
    try:
        index.save(built, {"hash": doc_hash, "source": source, "built_seconds": round(time.perf_counter() - t0, 3)})
        swap_into_place(ws.root, built)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    ws.set_state("index.hash", doc_hash)
    return {"documents": len(docs), "rebuilt": 1, "embedded": embedded, "rows": int(len(index.vectors))}
