"""Semantic search for the static site: a small "student" of the workspace's sentence encoder, run in the browser.

The browser cannot run the teacher (USE, or whatever `embed.model` names), so the site ships a token table
instead: every character unigram / bigram / Latin word of the folded text (the same terms the browser's BM25
uses) gets a `dim`-dimensional row, fitted by ridge least squares so that the idf-weighted, L2-normalised bag of
a text's terms times the table reproduces the teacher's vector of that text after PCA to `dim` dimensions.
The training texts are the workspace's own (message texts whose teacher vectors the embed stage cached, plus
the FAQ wordings), so nothing is embedded twice and the student speaks the group's vocabulary.

In the browser: query terms → idf-weighted sum of table rows → cosine with each entry's teacher vector (PCA'd,
int8) → fused score = cosine + LEXICAL_WEIGHT × BM25 / best BM25. BM25 results show at once; the vector file
(search-vectors.js, a <script> like search-index.js, so it works from file://) is loaded afterwards and the
fused ranking replaces them when it arrives.

`BrowserSearch` is the Python reference of assets/search.js's scoring (same folding, terms, BM25 arithmetic,
quantisation, fusion): the browser test checks that Chromium ranks as it does, and bench/eval_browser_search.py
measures it on labelled question pairs.

Everything here is deterministic: a rebuild of the same workspace writes byte-identical files.
"""

from __future__ import annotations

import base64
import functools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

FORMAT_VERSION = 1
# Figures: bench/eval_browser_search.py on BQ dev, queries unseen by the student (BM25 alone: R@5 0.497, MRR 0.317).
VECTOR_DIM = 64  # fused R@5 / MRR 0.539 / 0.349 at 64 dims, 0.536 / 0.347 at 128: 64 halves the file
MIN_TRAINING_TEXTS = 200  # below this the student learns too little to beat BM25 alone: ship no vector file
MAX_TRAINING_TEXTS = 60_000  # bounds fitting time (a deterministic sample by content beyond it)
MAX_VOCAB = 30_000  # terms kept (most frequent first): bounds the file (~2 MB at 64 dims)
MIN_TERM_TEXTS = 2  # a term must occur in this many training texts (rare terms are noise, and may be private)
MAX_WORD_CHARS = 20  # longer Latin/digit runs (keys, hashes, URLs pieces) never enter the vocabulary
DAMP = 0.05  # ridge damping of the least-squares fit (as scipy lsqr's `damp`)
ITERATIONS = 40  # of conjugate gradients; stopping early regularises (R@5 at 20/40/80/150: .532/.538/.535/.522)
IDF_STEP = 16  # idf is shipped as round(idf × IDF_STEP) in one byte
# fused = cosine + LEXICAL_WEIGHT × BM25 / best BM25; search.js reads it from the file. R@5 / MRR at 0.25: .536 / .344,
# 0.35: .545 / .351, 0.5: .539 / .349, 0.75: .538 / .345, 1.0: .537 / .342 (flat around 0.35–0.75).
LEXICAL_WEIGHT = 0.5
MIN_COSINE = 0.5  # entries no query term matched are shown only from this cosine on
# A night's build reuses the student the site it replaces was built with (its STUDENT_FILE) while fewer than this
# share of the messages the student was fitted on have arrived since: its vocabulary and table then miss at most
# that share of the group's text. Entry vectors are always today's. A refit happens as well when the model, the
# names rewritten or the withdrawn messages changed (fit_key), so nothing a fit must not see stays in the table.
REFIT_GROWTH = 0.10
STUDENT_FILE = ".chendian-student.npz"  # beside the pages; no page suffix, so neither a page nor audited

# search.js's BM25 constants (assets/search.js: K1, B, TITLE_WEIGHT, BODY_WEIGHT, UNIGRAM_WEIGHT).
K1, B, TITLE_WEIGHT, BODY_WEIGHT, UNIGRAM_WEIGHT = 1.2, 0.75, 2.0, 1.0, 0.35
COUNT_PRIOR = 0.03


# -- the browser's text handling, exactly ------------------------------------------------------------------

_HAN_RANGES = ((0x2E80, 0x2E99), (0x2E9B, 0x2EF3), (0x2F00, 0x2FD5), (0x3005, 0x3005), (0x3007, 0x3007),
               (0x3021, 0x3029), (0x3038, 0x303B), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFA6D),
               (0xFA70, 0xFAD9), (0x20000, 0x2A6DF), (0x2A700, 0x2EBE0), (0x2F800, 0x2FA1D), (0x30000, 0x323AF))


def is_han(c: str) -> bool:
    """JavaScript's /\\p{Script=Han}/u for one code point."""
    o = ord(c)
    return any(a <= o <= b for a, b in _HAN_RANGES)


def is_word(c: str) -> bool:
    """JavaScript's /[\\p{L}\\p{N}]/u."""
    return unicodedata.category(c)[0] in "LN"


@functools.lru_cache(maxsize=1)
def t2s_table() -> dict[str, str]:
    """Traditional → simplified, character by character, for the CJK blocks (what the browser can apply)."""
    import opencc

    chars = [chr(c) for c in [*range(0x3400, 0x4DC0), *range(0x4E00, 0xA000), *range(0xF900, 0xFB00)]]
    converted = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):
        return {}
    return {t: s for t, s in zip(chars, converted) if t != s and len(s) == 1}


def browser_fold(text: str, t2s: dict[str, str]) -> str:
    """search.js fold(): NFKC, lower case, traditional → simplified character by character."""
    s = unicodedata.normalize("NFKC", text or "").lower()
    return "".join(t2s.get(c, c) for c in s)


_HAN_CLASS = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in _HAN_RANGES)
# A Han run, or a run of letters/digits (Python's [^\W_] is exactly \p{L}\p{N}) that are not Han.
_RUN_RE = re.compile(f"([{_HAN_CLASS}]+)|((?:(?![{_HAN_CLASS}])[^\\W_])+)")


def browser_terms(folded: str) -> list[str]:
    """search.js terms(): "b:" bigrams and "u:" unigrams of Han runs, "w:" Latin/digit words, in text order."""
    out: list[str] = []
    for han, word in _RUN_RE.findall(folded):
        if han:
            for i, c in enumerate(han):
                out.append("u:" + c)
                if i + 1 < len(han):
                    out.append("b:" + han[i:i + 2])
        else:
            out.append("w:" + word)
    return out


def _browser_terms_slow(folded: str) -> list[str]:
    """search.js terms() transcribed character by character (the test holds browser_terms to it)."""
    out: list[str] = []
    chars = list(folded)
    word = ""
    for i, c in enumerate(chars):
        if is_han(c):
            if word:
                out.append("w:" + word)
                word = ""
            out.append("u:" + c)
            if i + 1 < len(chars) and is_han(chars[i + 1]):
                out.append("b:" + c + chars[i + 1])
        elif is_word(c):
            word += c
        elif word:
            out.append("w:" + word)
            word = ""
    if word:
        out.append("w:" + word)
    return out


def decode_t2s(pairs: str) -> dict[str, str]:
    return {pairs[i]: pairs[i + 1] for i in range(0, len(pairs) - 1, 2)}


# -- fitting ----------------------------------------------------------------------------------------------

@dataclass
class Student:
    terms: list[str]  # vocabulary, row order of `table`
    idf_q: np.ndarray  # (V,) uint8: idf × IDF_STEP, rounded
    table: np.ndarray  # (V, dim) float64
    mean: np.ndarray  # (teacher_dim,) the teacher vectors' mean
    components: np.ndarray  # (teacher_dim, dim) PCA projection

    @property
    def dim(self) -> int:
        return self.table.shape[1]

    def project(self, teacher: np.ndarray) -> np.ndarray:
        """Teacher vectors → the student's space (PCA, not normalised)."""
        return (np.asarray(teacher, dtype=np.float64) - self.mean) @ self.components


def _keep_term(term: str) -> bool:
    return not (term.startswith("w:") and len(term) - 2 > MAX_WORD_CHARS)


def vocabulary(texts_terms: Sequence[set[str]], max_vocab: int = MAX_VOCAB) -> tuple[list[str], np.ndarray]:
    """Terms in at least MIN_TERM_TEXTS texts, the `max_vocab` most frequent (ties by the term), with the
    shipped (quantised) idf."""
    df: Counter = Counter()
    for ts in texts_terms:
        df.update(ts)
    kept = sorted((t for t, n in df.items() if n >= MIN_TERM_TEXTS and _keep_term(t)), key=lambda t: (-df[t], t))
    kept = sorted(kept[:max_vocab])
    n = len(texts_terms)
    idf = np.array([math.log((n + 1) / (df[t] + 1)) + 1 for t in kept], dtype=np.float64)
    idf_q = np.clip(np.rint(idf * IDF_STEP), 1, 255).astype(np.uint8)
    return kept, idf_q


def design_matrix(texts_terms: Sequence[set[str]], index: dict[str, int], idf: np.ndarray) -> sparse.csr_matrix:
    """Rows: idf-weighted bags of each text's known terms, L2-normalised (what the browser computes, up to scale)."""
    indptr, cols = [0], []
    for ts in texts_terms:
        row = sorted(index[t] for t in ts if t in index)
        cols.extend(row)
        indptr.append(len(cols))
    cols_a = np.asarray(cols, dtype=np.int64)
    data = idf[cols_a] if len(cols_a) else np.zeros(0)
    a = sparse.csr_matrix((data, cols_a, np.asarray(indptr)), shape=(len(texts_terms), len(index)))
    norms = np.sqrt(np.asarray(a.multiply(a).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ a)


def _pca(teacher: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top `dim` principal directions, each signed so its largest entry is positive."""
    mean = teacher.mean(axis=0)
    centred = teacher - mean
    cov = centred.T @ centred
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(-values, kind="stable")[:dim]
    comps = vectors[:, order]
    signs = np.sign(comps[np.abs(comps).argmax(axis=0), np.arange(comps.shape[1])])
    signs[signs == 0] = 1
    return mean, comps * signs


def _ridge_cgls(a: sparse.csr_matrix, y: np.ndarray, damp: float, iterations: int) -> np.ndarray:
    """min ‖A X − Y‖² + damp² ‖X‖², all columns at once (conjugate gradients on the normal equations: in exact
    arithmetic what scipy's lsqr computes column by column, at the cost of one sparse × dense product a step)."""
    at = sparse.csr_matrix(a.T)
    x = np.zeros((a.shape[1], y.shape[1]))
    r = y.copy()
    s = at @ r
    p = s.copy()
    gamma = np.einsum("ij,ij->j", s, s)
    d2 = damp * damp
    for _ in range(iterations):
        q = a @ p
        delta = np.einsum("ij,ij->j", q, q) + d2 * np.einsum("ij,ij->j", p, p)
        delta[delta == 0] = 1.0
        alpha = gamma / delta
        x += alpha * p
        r -= alpha * q
        s = at @ r - d2 * x
        new = np.einsum("ij,ij->j", s, s)
        if not new.any():
            break
        beta = new / np.where(gamma == 0, 1.0, gamma)
        p = s + beta * p
        gamma = new
    return x


def fit_student(texts: Sequence[str], teacher: np.ndarray, t2s: dict[str, str], dim: int = VECTOR_DIM,
                max_vocab: int = MAX_VOCAB, iterations: int = ITERATIONS) -> Student:
    """Fit the student on `texts` (published text) and their teacher vectors (row i for texts[i])."""
    teacher = np.asarray(teacher, dtype=np.float64)
    if len(texts) != len(teacher):
        raise ValueError(f"{len(texts)} texts but {len(teacher)} teacher vectors")
    terms_of = [set(browser_terms(browser_fold(t, t2s))) for t in texts]
    vocab, idf_q = vocabulary(terms_of, max_vocab)
    index = {t: i for i, t in enumerate(vocab)}
    a = design_matrix(terms_of, index, idf_q.astype(np.float64) / IDF_STEP)
    dim = min(dim, teacher.shape[1], max(1, len(texts) - 1))
    mean, comps = _pca(teacher, dim)
    target = (teacher - mean) @ comps
    table = _ridge_cgls(a, target, DAMP, iterations) if vocab else np.zeros((0, dim))
    return Student(vocab, idf_q, table, mean, comps)


# -- the shipped file ---------------------------------------------------------------------------------------

def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _unb64(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).astype(np.float64)


def quantise_rows(v: np.ndarray) -> np.ndarray:
    """Entry vectors: L2-normalised, then × 127 in int8 (the cosine needs no scale)."""
    v = np.asarray(v, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.clip(np.rint(v / norms * 127), -127, 127).astype(np.int8)


def quantise_table(table: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """The table in int8 with one scale per dimension (rounded to 6 digits: the file and the reference agree)."""
    peak = np.abs(table).max(axis=0) if len(table) else np.ones(table.shape[1])
    scale = [float(f"{(p / 127 if p > 0 else 1.0):.6g}") for p in peak]
    q = np.clip(np.rint(table / np.asarray(scale)), -127, 127).astype(np.int8)
    return q, scale


def vectors_payload(student: Student, entry_teacher: np.ndarray, extra_t2s: str = "") -> dict:
    """What search-vectors.js holds: vocabulary, idf, int8 table and scales, int8 entry vectors (index order)."""
    table_q, scale = quantise_table(student.table)
    if len(entry_teacher):
        entries = quantise_rows(student.project(entry_teacher))
    else:
        entries = np.zeros((0, student.dim), np.int8)
    return {
        "version": FORMAT_VERSION, "dim": student.dim, "lexical": LEXICAL_WEIGHT, "minCosine": MIN_COSINE,
        "idfStep": IDF_STEP, "n": int(len(entries)),
        # "u:报" is shipped as "u报": the term's kind letter then its text
        "terms": "\n".join(t[0] + t[2:] for t in student.terms),
        "idf": _b64(student.idf_q), "scale": scale, "table": _b64(table_q), "entries": _b64(entries),
        "t2s": extra_t2s,
    }


def payload_js(payload: dict) -> bytes:
    import json

    return ("window.CHENDIAN_VECTORS = " + json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            + ";\n").encode("utf-8")


# -- the Python reference of search.js ------------------------------------------------------------------------

class _Field:
    """One BM25 field of search.js, with numpy postings (the same operations in the same order per document)."""

    def __init__(self, n_docs: int):
        self.lists: dict[str, list[tuple[int, int]]] = {}
        self.len = np.zeros(n_docs, dtype=np.float64)
        self.total = 0

    def add(self, doc: int, ts: list[str]) -> None:
        counts: dict[str, int] = {}
        for t in ts:
            counts[t] = counts.get(t, 0) + 1
        for t, n in counts.items():
            self.lists.setdefault(t, []).append((doc, n))
        self.len[doc] = len(ts)
        self.total += len(ts)

    def freeze(self) -> None:
        self.post = {t: (np.array([d for d, _ in p], dtype=np.int64), np.array([n for _, n in p], dtype=np.float64))
                     for t, p in self.lists.items()}
        del self.lists

    def score(self, qterms: list[str], scores: np.ndarray, matched: np.ndarray, weight: float, ndocs: int) -> None:
        avg = self.total / max(1, ndocs) or 1
        for t in qterms:
            p = self.post.get(t)
            if p is None:
                continue
            docs, tf = p
            df = len(docs)
            idf = math.log(1 + (ndocs - df + 0.5) / (df + 0.5))
            w = weight * idf * (UNIGRAM_WEIGHT if t.startswith("u:") else 1.0)
            scores[docs] += w * tf * (K1 + 1) / (tf + K1 * (1 - B + B * self.len[docs] / avg))
            matched[docs] = True


class BrowserSearch:
    """search.js's local ranking in Python: BM25 alone, or fused with the student when `vectors` is given.
    Computed from the entries' text, as search.js did before its index came in shards: the reference the
    sharded index (browser_index.BrowserIndex) is held to."""

    def __init__(self, index: dict, vectors: dict | None = None):
        self.docs = index["docs"]
        self.t2s = decode_t2s(index.get("t2s", ""))
        self.vectors = vectors
        if vectors:
            self.t2s.update({k: v for k, v in decode_t2s(vectors.get("t2s", "")).items() if k not in self.t2s})
        n = len(self.docs)
        self.title, self.body = _Field(n), _Field(n)
        for d, doc in enumerate(self.docs):
            # x: the workspace vocabulary's equivalents of its terms (search/vocab.py), matched, never shown
            self.title.add(d, browser_terms(self.fold("\n".join([doc["q"], *doc.get("v", []), *doc.get("x", [])]))))
            self.body.add(d, browser_terms(self.fold(doc.get("a", ""))))
        self.title.freeze()
        self.body.freeze()
        self.prior = 1 + COUNT_PRIOR * np.log(1 + np.array([d.get("n") or 1 for d in self.docs], dtype=np.float64))
        if vectors:
            self._load_vectors(vectors, n)

    def _load_vectors(self, vectors: dict, n: int) -> None:
        dim = vectors["dim"]
        terms = vectors["terms"].split("\n") if vectors["terms"] else []
        self.row = {t[0] + ":" + t[1:]: i for i, t in enumerate(terms)}
        self.idf = _unb64(vectors["idf"], np.uint8) / vectors["idfStep"]
        self.table = _unb64(vectors["table"], np.int8).reshape(-1, dim)
        self.scale = np.asarray(vectors["scale"], dtype=np.float64)
        self.entries = _unb64(vectors["entries"], np.int8).reshape(-1, dim)
        norms = np.sqrt((self.entries * self.entries).sum(axis=1))
        norms[norms == 0] = 1.0
        self.entry_norms = norms
        if len(self.entries) != n:
            raise ValueError(f"search vectors hold {len(self.entries)} entries, the index {n}")

    def fold(self, text: str) -> str:
        return browser_fold(text, self.t2s)

    def bm25(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 score of every doc with search.js's popularity prior, and which docs a query term matched."""
        qterms = list(dict.fromkeys(browser_terms(self.fold(query))))
        n = len(self.docs)
        scores = np.zeros(n)
        matched = np.zeros(n, dtype=bool)
        if qterms:
            self.title.score(qterms, scores, matched, TITLE_WEIGHT, n)
            self.body.score(qterms, scores, matched, BODY_WEIGHT, n)
        return scores * self.prior, matched

    def query_vector(self, query: str) -> np.ndarray | None:
        qterms = list(dict.fromkeys(browser_terms(self.fold(query))))
        v = np.zeros(self.table.shape[1])
        hit = False
        for t in qterms:
            r = self.row.get(t)
            if r is not None:
                v += self.idf[r] * self.table[r]
                hit = True
        if not hit:
            return None
        v *= self.scale
        norm = math.sqrt(float(v @ v))
        return v / norm if norm > 0 else None

    def cosines(self, query: str) -> np.ndarray | None:
        q = self.query_vector(query)
        if q is None:
            return None
        return (self.entries @ q) / self.entry_norms

    def search(self, query: str, k: int = 20, semantic: bool = True,
               exclude: int | None = None) -> list[tuple[int, float]]:
        """(doc position, score), best first, as search.js ranks them. `exclude`: a doc left out as if it were not
        in the index (an evaluation's query sentence), its BM25 score included."""
        lexical, matched = self.bm25(query)
        if exclude is not None:
            matched[exclude] = False
        cos = self.cosines(query) if semantic and self.vectors else None
        if cos is None:
            score, shown = lexical, matched
        else:
            best = lexical[matched].max() if matched.any() else 0.0
            score = cos + self.vectors["lexical"] * (lexical / (best or 1.0))
            shown = matched | (cos >= self.vectors["minCosine"])
            if exclude is not None:
                shown[exclude] = False
        docs = np.flatnonzero(shown)
        order = np.lexsort((docs, -score[docs]))[:k]
        return [(int(docs[i]), float(score[docs[i]])) for i in order]


# -- from a workspace ------------------------------------------------------------------------------------------

def save_student(path, student: Student, meta: dict) -> None:
    """The fitted student and what it was fitted on (`meta`: fit_key, messages, top rowid, training texts)."""
    import json

    with open(path, "wb") as f:
        np.savez(f, terms=np.array("\n".join(student.terms)), idf_q=student.idf_q, table=student.table,
                 mean=student.mean, components=student.components, meta=np.array(json.dumps(meta, sort_keys=True)))


def load_student(path) -> tuple[Student, dict] | None:
    """save_student's student and meta, or None when there is no readable file."""
    import json
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            terms = str(z["terms"])
            student = Student(terms.split("\n") if terms else [], z["idf_q"], z["table"], z["mean"], z["components"])
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # none, or a damaged one: fit anew
        return None
    return (student, meta) if isinstance(meta, dict) else None


def workspace_vectors(ws, index: dict, publish, recalled_ids: set[str] = frozenset(), *,
                      dim: int = VECTOR_DIM, min_texts: int = MIN_TRAINING_TEXTS, previous=None, keep=None,
                      fit_key: str = "") -> tuple[dict | None, dict]:
    """The search-vectors payload for the site's search index (`index`: build.search_index's dict), or None
    with the reason in the stats when fewer than `min_texts` distinct messages have cached teacher vectors.

    Training texts: conversational messages whose vectors the embed stage cached (recalled ones never), plus
    every entry's question and variants. The table learns from their published form (`publish`: the site's
    privacy rewrite), so no masked number or hidden name can enter the shipped vocabulary. Entry vectors are
    the teacher's of the folded wordings (what the index stage embedded; any missing are embedded now through
    the cache), averaged per entry.

    `previous`: the student file of the site this build replaces; it is reused under the same `fit_key` (what
    the training texts' published form depends on) while the messages grew by less than REFIT_GROWTH since its
    fit. `keep`: where this build's student file goes (a link to `previous` when reused).
    """
    from ..model import CONVERSATIONAL_KINDS
    from ..summarize.text.embed import cached_vectors, content_key
    from ..summarize.text.segment import fold

    stats = {"vector_training_texts": 0, "vector_terms": 0}
    docs = index["docs"]
    if not docs:
        return None, stats | {"vectors_skipped": "no entries"}
    model = ws.config.embed.model
    fit_key = f"{FORMAT_VERSION}\x1f{model}\x1f{dim}\x1f{min_texts}\x1f{fit_key}"
    count, top = ws.db.execute("SELECT count(*), coalesce(max(rowid), 0) FROM messages").fetchone()
    student, meta = None, None
    saved = load_student(previous) if previous is not None else None
    if saved is not None and saved[1].get("fit_key") == fit_key:
        arrived = ws.db.execute("SELECT count(*) FROM messages WHERE rowid > ?", (int(saved[1]["top"]),)).fetchone()[0]
        if arrived < REFIT_GROWTH * int(saved[1]["messages"]):
            student, meta = saved
    wordings = [[d["q"], *d.get("v", [])] for d in docs]
    if student is None:
        kinds = sorted(CONVERSATIONAL_KINDS)
        raw = ws.db.execute(
            f"SELECT id, text FROM messages WHERE kind IN ({','.join('?' * len(kinds))}) AND recalled = 0"
            " AND trim(text) != '' ORDER BY rowid", kinds).fetchall()
        texts = list(dict.fromkeys(r[1] for r in raw if r[0] not in recalled_ids))
        if len(texts) < min_texts:
            return None, stats | {"vectors_skipped": "too few messages"}
        # Which texts have vectors, by key alone: a big workspace's vectors (a million messages: 2 GB as float32)
        # are never all loaded; only the sample's are.
        keys = {t: content_key(model, t) for t in texts}
        stored = {k for (k,) in ws.db.execute("SELECT key FROM embeddings")}
        texts = [t for t in texts if keys[t] in stored]
        if len(texts) > MAX_TRAINING_TEXTS:  # a sample fixed by content, not by arrival order
            texts = sorted(texts, key=keys.__getitem__)[:MAX_TRAINING_TEXTS]
        del stored
        cached = cached_vectors(ws.db, model, texts)
        texts = [t for t in texts if t in cached]
        if len(texts) < min_texts:  # the embed stage has not run: embedding everything here is not this stage's job
            return None, stats | {"vectors_skipped": "too few messages with cached vectors (run the embed stage)"}

    folded = list(dict.fromkeys(fold(w) for ws_ in wordings for w in ws_))
    have = cached_vectors(ws.db, model, folded)
    missing = [t for t in folded if t not in have]
    if missing:
        from ..summarize.text.embed import EmbeddingCache, embedder_for

        cache = EmbeddingCache(ws.db, embedder_for(ws.config.embed))
        with ws.transaction():
            vecs, _ = cache.encode(missing)
        have.update(zip(missing, vecs))
    entry_teacher = np.stack([np.mean([have[fold(w)] for w in ws_], axis=0, dtype=np.float64) for ws_ in wordings])

    if student is None:
        train_texts = [publish(t) for t in texts] + [w for ws_ in wordings for w in ws_]
        train_vecs = np.vstack([np.stack([cached[t] for t in texts]) if texts else np.zeros((0, entry_teacher.shape[1])),
                                np.stack([have[fold(w)] for ws_ in wordings for w in ws_])])
        student = fit_student(train_texts, train_vecs, t2s_table(), dim=dim)
        meta = {"fit_key": fit_key, "messages": int(count), "top": int(top), "training_texts": len(train_texts)}
        if keep is not None:
            save_student(keep, student, meta)
        refit = 1
    else:
        if keep is not None:
            _link_or_copy(previous, keep)
        refit = 0
    full_t2s = t2s_table()
    shipped = decode_t2s(index.get("t2s", ""))
    vocab_chars = {c for t in student.terms for c in t[2:]}
    extra = "".join(t + s for t, s in sorted(full_t2s.items()) if s in vocab_chars and t not in shipped)
    payload = vectors_payload(student, entry_teacher, extra)
    return payload, stats | {"vector_training_texts": int(meta["training_texts"]), "vector_terms": len(student.terms),
                             "vector_refit": refit}


def _link_or_copy(old, new) -> None:
    import os
    import shutil

    try:
        os.link(old, new)
    except OSError:
        shutil.copyfile(old, new)
