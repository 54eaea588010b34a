"""The site's search index in shards, loaded on demand (as Pagefind does), and its Python reader.

One file per site held every entry's text and the browser built BM25 postings from it on every visit: 1.6 s
to the first result at 20k entries. Now the builder does the BM25 arithmetic and the browser loads only what a
query touches:

    search-index.js        the manifest, loaded with search.html: entry count, shard counts, the t→s map, the
                           relevance floor, what the no-result page offers (open questions, topics)
    search/t/<k>.js        term shards: every term (search.js terms(): Han unigrams and bigrams, Latin/digit
                           words) whose FNV-1a hash falls in shard k, with its postings: the entries holding it and
                           each one's precomputed score contribution, title and answer BM25 and the popularity
                           prior included (the browser adds them up, nothing else)
    search/m/<k>.js        entry metadata (id, url, question, answer snippet, count, trust, h: held for review) of positions
                           k×META_CHUNK …, loaded for the hits shown
    search/d/<k>.js        entry id → position, by hash of the id: for the ranking the hybrid API returns

Every file registers itself by calling CHENDIAN_SHARD(kind, k, data): a <script>, so the search works from
file:// (no fetch there) and from any static host. The site is built in a new folder and swapped in whole, so a
reader never sees shards of two builds.

A term's postings are one binary blob: varint count, varint title count, the positions as varint deltas (those
whose title/variants hold the term first, each part ascending: the coverage check of the relevance floor reads
title membership and the title df from it), zero bytes up to a multiple of 4, then a float32 (little-endian)
contribution per posting. The blob is written in
BLOB_ALPHABET, base64's layout over letters and a few symbols: no digit, '@', '_', '.' or CJK can occur in it,
so no detector of the site audit can fire on it (audit.py scans the terms, and skips the blobs).

The lexical ranking is today's (student.BrowserSearch, the old search.js): the same BM25 with the same
constants, summed per term instead of per field and rounded to float32 per contribution, so scores agree to
~1e-7 and the top-k is the same unless two entries' scores are within that (tests/test_browser_index.py checks
it). `BrowserIndex` reads the built files and ranks exactly as assets/search.js does.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .student import (B, BODY_WEIGHT, COUNT_PRIOR, K1, TITLE_WEIGHT, UNIGRAM_WEIGHT, BrowserSearch, browser_fold,
                      browser_terms, decode_t2s)

FORMAT = 2
MANIFEST = "search-index.js"
FOLDER = "search"
TERM_SHARD_BYTES = 24_000  # mean size a term shard aims at (the count is a power of two)
MAX_TERM_SHARDS = 8192
META_CHUNK = 32  # entries per metadata chunk: a query's 20 hits touch up to 20 chunks of ~4–20 kB
ID_SHARD_ENTRIES = 2048
SNIPPET_CHARS = 140  # search.js shows this much of an answer (snippet())
# base64's 6-bit layout over 64 characters that form no personal number, address or Chinese name
BLOB_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&*+-/=?^"
assert len(BLOB_ALPHABET) == 64 and len(set(BLOB_ALPHABET)) == 64
_ALPHABET_BYTES = np.frombuffer(BLOB_ALPHABET.encode("ascii"), dtype=np.uint8)
_DECODE = {c: i for i, c in enumerate(BLOB_ALPHABET)}
BLOB_RE = re.compile(f"[{re.escape(BLOB_ALPHABET)}]*")
_QUESTION_END_RE = re.compile(r"[?？]\s*$")


def term_key(term: str) -> str:
    """search.js's "b:报销" as shipped: the kind letter, then the text ("b报销")."""
    return term[0] + term[2:]


def fnv1a(text: str) -> int:
    """32-bit FNV-1a over UTF-16 code units (search.js hash())."""
    h = 0x811C9DC5
    data = text.encode("utf-16-le")
    for i in range(0, len(data), 2):
        h ^= data[i] | (data[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


# -- the blob alphabet -------------------------------------------------------------------------------------

def encode_blob(data: bytes) -> str:
    """Bytes → BLOB_ALPHABET text, 4 characters per 3 bytes, no padding (a 1- or 2-byte tail gives 2 or 3)."""
    n = len(data)
    if not n:
        return ""
    padded = np.frombuffer(data + b"\0" * (-n % 3), dtype=np.uint8).reshape(-1, 3).astype(np.uint32)
    v = (padded[:, 0] << 16) | (padded[:, 1] << 8) | padded[:, 2]
    idx = np.stack([(v >> 18) & 63, (v >> 12) & 63, (v >> 6) & 63, v & 63], axis=1).ravel()
    out = _ALPHABET_BYTES[idx].tobytes().decode("ascii")
    return out[: len(out) - (-n % 3)]


def decode_blob(text: str) -> bytes:
    out = bytearray()
    for i in range(0, len(text), 4):
        group = text[i:i + 4]
        v = 0
        for c in group:
            v = (v << 6) | _DECODE[c]
        v <<= 6 * (4 - len(group))
        out += v.to_bytes(3, "big")[: len(group) - 1]
    return bytes(out)


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LEB128 bytes of non-negative ints, all at once: (bytes, byte count of each value)."""
    values = np.asarray(values, dtype=np.int64)
    n = 1 + (values >= 1 << 7) + (values >= 1 << 14) + (values >= 1 << 21) + (values >= 1 << 28)
    owner = np.repeat(np.arange(len(values)), n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    byte = (values[owner] >> (7 * k)) & 0x7F
    byte |= (k < n[owner] - 1) * 0x80
    return byte.astype(np.uint8), n


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


# -- writing -----------------------------------------------------------------------------------------------

def _field_scores(doc_terms: list[list[str]], term_ids: dict[str, int], weight: float):
    """search.js's BM25 of one field, per (term, doc): (term ids, docs, scores) in document order."""
    n = len(doc_terms)
    terms_col, docs_col, tf_col = [], [], []
    lengths = np.zeros(n, dtype=np.float64)
    for d, ts in enumerate(doc_terms):
        counts: dict[str, int] = {}
        for t in ts:
            counts[t] = counts.get(t, 0) + 1
        lengths[d] = len(ts)
        for t, c in counts.items():
            terms_col.append(term_ids.setdefault(t, len(term_ids)))
            docs_col.append(d)
            tf_col.append(c)
    tid = np.asarray(terms_col, dtype=np.int64)
    doc = np.asarray(docs_col, dtype=np.int64)
    tf = np.asarray(tf_col, dtype=np.float64)
    total = float(lengths.sum())
    avg = total / max(1, n) or 1.0
    df = np.bincount(tid, minlength=len(term_ids)).astype(np.float64)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    unigram = np.array([t.startswith("u:") for t in term_ids], dtype=bool)
    w = weight * idf * np.where(unigram, UNIGRAM_WEIGHT, 1.0)
    score = w[tid] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lengths[doc] / avg))
    return tid, doc, score


def postings(docs: list[dict], t2s: dict[str, str]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every term's postings: (terms, term id, doc, in title, float32 contribution), sorted by term id, then
    title before answer, then doc. A contribution is (title BM25 + answer BM25) × the popularity prior."""
    n = len(docs)
    # x: the vocabulary's equivalents (search/vocab.py), scored as title text, never shown
    title_terms = [browser_terms(browser_fold("\n".join([d["q"], *d.get("v", []), *d.get("x", [])]), t2s)) for d in docs]
    body_terms = [browser_terms(browser_fold(d.get("a", ""), t2s)) for d in docs]
    term_ids: dict[str, int] = {}
    t_tid, t_doc, t_score = _field_scores(title_terms, term_ids, TITLE_WEIGHT)
    b_tid, b_doc, b_score = _field_scores(body_terms, term_ids, BODY_WEIGHT)
    terms = list(term_ids)
    # one posting per (term, doc): title first, then the answer's part added (in that order, as search.js did)
    key = np.concatenate([t_tid * max(1, n) + t_doc, b_tid * max(1, n) + b_doc])
    uniq, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, weights=np.concatenate([t_score, b_score]), minlength=len(uniq))
    in_title = np.bincount(inverse[: len(t_tid)], minlength=len(uniq)) > 0
    tid, doc = uniq // max(1, n), uniq % max(1, n)
    prior = 1 + COUNT_PRIOR * np.log(1 + np.array([d.get("n") or 1 for d in docs], dtype=np.float64))
    contrib = (total * prior[doc]).astype(np.float32)
    order = np.lexsort((doc, ~in_title, tid))
    return terms, tid[order], doc[order], in_title[order], contrib[order]


def _term_blobs(terms: list[str], tid: np.ndarray, doc: np.ndarray, in_title: np.ndarray,
                contrib: np.ndarray) -> list[bytes]:
    """Each term's postings as bytes (the layout in the module docstring)."""
    if not len(tid):
        return [b"" for _ in terms]
    part = tid * 2 + (~in_title)
    start = np.ones(len(tid), dtype=bool)
    start[1:] = part[1:] != part[:-1]
    prev = np.empty_like(doc)
    prev[0] = 0
    prev[1:] = doc[:-1]
    delta = np.where(start, doc, doc - prev)
    vbytes, vlen = _varints(delta)
    voff = np.concatenate([[0], np.cumsum(vlen)])
    bounds = np.searchsorted(tid, np.arange(len(terms) + 1))
    titles = np.bincount(tid[in_title], minlength=len(terms))
    floats = contrib.astype("<f4")
    out = []
    for t in range(len(terms)):
        a, b = bounds[t], bounds[t + 1]
        head = _varint(int(b - a)) + _varint(int(titles[t])) + vbytes[voff[a]:voff[b]].tobytes()
        out.append(head + b"\0" * (-len(head) % 4) + floats[a:b].tobytes())  # floats 4-aligned: a typed-array view
    return out


def _js(kind: str, k: int, data) -> bytes:
    return (f'CHENDIAN_SHARD("{kind}",{k},' + json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            + ");\n").encode("utf-8")


def _pow2_at_least(x: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1.0, x))))


def _snippet_source(answer: str) -> str:
    """What search.js may show of an answer: none when it reads as a question (never shown as an answer),
    else its start, whitespace folded, one character past SNIPPET_CHARS so snippet() still adds its "…"."""
    if not answer or _QUESTION_END_RE.search(answer):
        return ""
    text = re.sub(r"\s+", " ", answer).strip()
    return text[: SNIPPET_CHARS + 1]


def write_same(path: Path, raw: bytes, previous: Path | None) -> bool:
    """Write `raw` at `path`, or, when `previous` (the published site's file) holds these very bytes, hard-link it
    there instead: the file keeps its inode, so the audit knows it without reading it (a night changes few of the
    index's files). True when linked."""
    if previous is not None:
        try:
            if previous.stat().st_size == len(raw) and previous.read_bytes() == raw:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                os.link(previous, path)
                return True
        except OSError:  # gone, unreadable, or no hard links here: written as usual
            pass
    path.write_bytes(raw)
    return False


def write_browser_index(out: Path, index: dict, previous: Path | None = None) -> dict[str, int]:
    """Write the manifest and shards of `index` (build.search_index's dict: docs with q, v, a, …) under `out`;
    a file whose bytes are those of the same file under `previous` (the published site) is linked from there.
    Returns sizes: index_bytes (all files), manifest_bytes, term/meta/id shard counts and bytes, files_kept."""
    docs = index["docs"]
    n = len(docs)
    t2s = decode_t2s(index.get("t2s", ""))
    terms, tid, doc, in_title, contrib = postings(docs, t2s)
    blobs = _term_blobs(terms, tid, doc, in_title, contrib)
    keys = [term_key(t) for t in terms]
    estimate = sum(len(b) for b in blobs) * 4 / 3 + sum(len(k.encode("utf-8")) + 8 for k in keys)
    n_terms = min(MAX_TERM_SHARDS, _pow2_at_least(estimate / TERM_SHARD_BYTES))
    n_meta = max(1, math.ceil(n / META_CHUNK))
    n_ids = _pow2_at_least(n / ID_SHARD_ENTRIES)

    folder = out / FOLDER
    for sub in ("t", "m", "d"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    sizes = {"term_bytes": 0, "meta_bytes": 0, "id_bytes": 0, "files_kept": 0}
    digest = hashlib.blake2b(digest_size=8)

    def write(sub: str, k: int, data, what: str) -> None:
        raw = _js(sub, k, data)
        sizes["files_kept"] += write_same(folder / sub / f"{k}.js", raw,
                                          previous / FOLDER / sub / f"{k}.js" if previous is not None else None)
        sizes[what] += len(raw)
        digest.update(raw)

    by_shard: list[list[int]] = [[] for _ in range(n_terms)]
    for i, key in enumerate(keys):
        by_shard[fnv1a(key) % n_terms].append(i)
    for k, members in enumerate(by_shard):
        members.sort(key=lambda i: keys[i])
        at, data = [], []
        offset = 0
        for i in members:
            text = encode_blob(blobs[i])
            at.append(offset)
            data.append(text)
            offset += len(text)
        write("t", k, {"terms": "\n".join(keys[i] for i in members), "at": at, "data": "".join(data)}, "term_bytes")
    for k in range(n_meta):
        chunk = []
        for d in docs[k * META_CHUNK:(k + 1) * META_CHUNK]:
            m = {"i": d["i"], "u": d["u"], "q": d["q"], "a": _snippet_source(d.get("a", "")), "n": d.get("n") or 1}
            if d.get("t"):
                m["t"] = d["t"]
            if d.get("h"):
                m["h"] = 1  # held for review: search.js labels it 待审核
            chunk.append(m)
        write("m", k, chunk, "meta_bytes")
    ids: list[dict[str, int]] = [{} for _ in range(n_ids)]
    for pos, d in enumerate(docs):
        ids[fnv1a(d["i"]) % n_ids][d["i"]] = pos
    for k, table in enumerate(ids):
        write("d", k, table, "id_bytes")

    manifest = {"version": FORMAT, "n": n, "base": FOLDER + "/", "build": digest.hexdigest(),
                "shards": {"terms": n_terms, "meta": META_CHUNK, "ids": n_ids}}
    manifest |= {k: v for k, v in index.items() if k not in ("docs", "version")}
    raw = ("window.CHENDIAN_INDEX = " + json.dumps(manifest, ensure_ascii=False, separators=(",", ":"))
           + ";\n").encode("utf-8")
    sizes["files_kept"] += write_same(out / MANIFEST, raw, previous / MANIFEST if previous is not None else None)
    kept = sizes.pop("files_kept")
    return {"files_kept": kept, "index_bytes": len(raw) + sum(sizes.values()), "manifest_bytes": len(raw), "term_shards": n_terms,
            "meta_chunks": n_meta, "id_shards": n_ids, "terms": len(terms), "postings": int(len(tid)), **sizes}


# -- reading (the Python reference of search.js) --------------------------------------------------------------

_CALL_RE = re.compile(r'^CHENDIAN_SHARD\("(\w)",(\d+),(.*)\);\s*$', re.S)


def read_js_object(path: Path, name: str) -> dict:
    """A `window.NAME = {...};` data file's object."""
    text = Path(path).read_text(encoding="utf-8")
    prefix = f"window.{name} = "
    if not text.startswith(prefix):
        raise ValueError(f"{path}: does not start with {prefix!r}")
    return json.loads(text[len(prefix):].rstrip().rstrip(";"))


def read_shard_text(text: str):
    """(kind, k, data) of a shard file's text; ValueError when it is not one."""
    m = _CALL_RE.match(text)
    if m is None:
        raise ValueError("not a CHENDIAN_SHARD(kind, k, data) call")
    return m.group(1), int(m.group(2)), json.loads(m.group(3))


def read_shard(path: Path):
    """(kind, k, data) of one search/*/<k>.js file."""
    try:
        return read_shard_text(Path(path).read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


class BrowserIndex(BrowserSearch):
    """A built site's sharded index, read and ranked as assets/search.js does (lexical, or fused with the
    semantic student when `vectors` is given: search-vectors.js's payload)."""

    def __init__(self, site: Path, vectors: dict | None = None):
        self.site = Path(site)
        self.manifest = read_js_object(self.site / MANIFEST, "CHENDIAN_INDEX")
        if self.manifest.get("version") != FORMAT:
            raise ValueError(f"{self.site / MANIFEST}: search index format {self.manifest.get('version')}, not {FORMAT}")
        self.n = int(self.manifest["n"])
        self.t2s = decode_t2s(self.manifest.get("t2s", ""))
        self._shards: dict[int, dict] = {}
        self._postings: dict[str, tuple[np.ndarray, np.ndarray, int] | None] = {}
        self._docs: list[dict] | None = None
        self.vectors = vectors
        if vectors:
            self.t2s.update({k: v for k, v in decode_t2s(vectors.get("t2s", "")).items() if k not in self.t2s})
            self._load_vectors(vectors, self.n)

    @property
    def docs(self) -> list[dict]:
        """Every entry's metadata (i, u, q, a, n, t), in position order."""
        if self._docs is None:
            chunks = math.ceil(self.n / self.manifest["shards"]["meta"]) if self.n else 0
            base = self.site / self.manifest["base"]
            self._docs = [d for k in range(chunks) for d in read_shard(base / "m" / f"{k}.js")[2]]
        return self._docs

    def _shard(self, k: int) -> dict:
        if k not in self._shards:
            _, _, data = read_shard(self.site / self.manifest["base"] / "t" / f"{k}.js")
            terms = data["terms"].split("\n") if data["terms"] else []
            ends = data["at"][1:] + [len(data["data"])]
            self._shards[k] = {t: (a, b, data["data"]) for t, a, b in zip(terms, data["at"], ends)}
        return self._shards[k]

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray, int] | None:
        """(positions, float32 contributions as float64, how many of them hold the term in their title)."""
        if term not in self._postings:
            key = term_key(term)
            found = self._shard(fnv1a(key) % self.manifest["shards"]["terms"]).get(key)
            self._postings[term] = None if found is None else _parse_blob(decode_blob(found[2][found[0]:found[1]]))
        return self._postings[term]

    def bm25(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        qterms = list(dict.fromkeys(browser_terms(self.fold(query))))
        scores = np.zeros(self.n)
        matched = np.zeros(self.n, dtype=bool)
        for t in qterms:
            p = self.postings(t)
            if p is not None:
                scores[p[0]] += p[1]
                matched[p[0]] = True
        return scores, matched

    def shard_bytes(self, queries: Iterable[str]) -> int:
        """Bytes of the term shards these queries load (what the browser reads before ranking)."""
        wanted = {fnv1a(term_key(t)) % self.manifest["shards"]["terms"]
                  for q in queries for t in browser_terms(self.fold(q))}
        return sum((self.site / self.manifest["base"] / "t" / f"{k}.js").stat().st_size for k in wanted)


def _parse_blob(data: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            b = data[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    count, titles = varint(), varint()
    docs = np.empty(count, dtype=np.int64)
    d = 0
    for i in range(count):
        step = varint()
        d = step if i in (0, titles) else d + step
        docs[i] = d
    contrib = np.frombuffer(data, dtype="<f4", count=count, offset=pos + (-pos % 4)).astype(np.float64)
    return docs, contrib, titles
