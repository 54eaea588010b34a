"""The embed stage: a sentence vector for every conversational message, cached by content hash.

Vectors live in the `embeddings` table of EmbeddingCache (key = hash of model name + text), so a rerun
embeds only text it has not seen, and the same sentence said twice is embedded once. The stage also
remembers the last message rowid it covered per model, so a nightly run only looks at new messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ...model import CONVERSATIONAL_KINDS, Message
from ...store import Workspace
from . import RunContext, Stage, worker_cores
from ...summarize.text.embed import EmbeddingCache, chunks, embedder_for, get_embedder

STATE_KEY = "embed.progress"
BATCH = 4096
TEXT_BATCH = 512  # encode_texts' batch: EmbeddingCache.encode's, so vectors equal one process's to the last bit


def workspace_cache(ws: Workspace) -> EmbeddingCache:
    cfg = ws.config.embed
    return EmbeddingCache(ws.db, embedder_for(cfg))


def embeddable(kind: str, text: str) -> bool:
    return kind in CONVERSATIONAL_KINDS and bool(text.strip())


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    cache = workspace_cache(ws)
    model = cache.embedder.name
    state = ws.get_state(STATE_KEY) or {}
    since = int(state.get(model, 0))
    kinds = sorted(CONVERSATIONAL_KINDS)
    rows = ws.db.execute(
        f"SELECT rowid, text FROM messages WHERE rowid > ? AND kind IN ({','.join('?' * len(kinds))})"
        " AND trim(text) != '' ORDER BY rowid", [since, *kinds]).fetchall()
    bar = rc.progress(len(rows), "vectors", unit="msg")
    spec = embedder_spec(ws)
    computed = 0
    pending: list[tuple[list[str], np.ndarray]] = []
    for (last, seen, final, part), vecs in rc.map(embed_texts, _jobs(cache, spec, rows), size=len(rows),
                                                  describe=_batch):
        pending.append((part, vecs))
        if not final:  # a batch's vectors land in one transaction, with the progress mark
            continue
        with ws.transaction():
            for texts, v in pending:
                cache.store(texts, v)
            state[model] = last
            ws.set_state(STATE_KEY, state)
        computed += sum(len(texts) for texts, _ in pending)
        pending = []
        bar.update(seen)
    bar.close()
    return {"messages_seen": len(rows), "embedded": computed, "from_cache": len(rows) - computed}


def _jobs(cache: EmbeddingCache, spec: tuple, rows: list) -> Iterator[tuple[tuple, tuple]]:
    """The embedder's batches, formed exactly as EmbeddingCache.encode forms them batch after batch (a text's
    vector may differ in the last bits with its batch): meta (last rowid, messages, last of its batch?, texts)."""
    earlier: set[str] = set()  # texts of earlier batches: cached by the time a local run reaches this one
    for a in range(0, len(rows), BATCH):
        part = rows[a:a + BATCH]
        todo = [t for t in cache.missing([t for _, t in part]) if t not in earlier]
        earlier.update(todo)
        parts = chunks(todo) or [[]]  # an all-cached batch still moves the progress mark
        for i, texts in enumerate(parts):
            yield (part[-1][0], len(part), i == len(parts) - 1, texts), (spec, texts)


def _batch(meta: tuple) -> str:
    last, _, _, texts = meta
    return f"a batch of {len(texts)} texts (messages up to rowid {last})"


def embedder_spec(ws: Workspace) -> tuple:
    """get_embedder's arguments for a job. threads = 0 is resolved where the job runs (embed_texts): every core
    in this process, the worker's share on a pool."""
    cfg = ws.config.embed
    return (cfg.model, cfg.threads, cfg.batch_size, cfg.device)


def embed_texts(job: tuple[tuple, list[str]]) -> np.ndarray:
    """float16 vectors for one batch of texts (a pure step: in this process or on a worker, whose embedder
    loads once: get_embedder keeps one per process)."""
    (model, threads, batch_size, device), texts = job
    if not texts:
        return np.zeros((0, 0), dtype=np.float16)
    return get_embedder(model, threads or worker_cores(), batch_size, device).encode(texts).astype(np.float16)


def embed_batches(ws: Workspace, rc: RunContext, cache: EmbeddingCache, batches: Sequence[Sequence[str]],
                  progress: Callable[[int], None] | None = None) -> None:
    """Embed and cache each batch of texts (none cached yet) as one call of the embedder, through rc.map: on
    `executor = "processes"` (or auto with enough texts) or Ray, every worker embeds. Stored in batch order."""
    spec = embedder_spec(ws)
    jobs = ((list(part), (spec, list(part))) for part in batches if part)
    for part, vecs in rc.map(embed_texts, jobs, size=sum(len(b) for b in batches),
                             describe=lambda p: f"a batch of {len(p)} texts"):
        with ws.transaction():
            cache.store(part, vecs)
        if progress:
            progress(len(part))


def encode_texts(ws: Workspace, rc: RunContext, texts: Sequence[str], cache: EmbeddingCache | None = None,
                 progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
    """EmbeddingCache.encode with the batches to compute fanned out through embed_batches: the same vectors (row
    i for texts[i], float32 of the cached float16), the same cache rows written in the same order, and how many
    texts had to be computed. For global stages (topics, faq) whose texts are many."""
    cache = cache or workspace_cache(ws)
    todo = cache.missing(texts)
    embed_batches(ws, rc, cache, chunks(todo, TEXT_BATCH), progress)
    return (cache.encode(texts)[0] if texts else np.zeros((0, cache.embedder.dim), np.float32)), len(todo)


STAGE = Stage("embed", run, reads=("messages",), writes=("embeddings",))


def message_vectors(ws: Workspace, messages: Sequence[Message], cache: EmbeddingCache | None = None) -> np.ndarray:
    """Vectors for messages (zero rows for non-conversational ones); text not cached yet is embedded now."""
    cache = cache or workspace_cache(ws)
    idx = [i for i, m in enumerate(messages) if embeddable(m.kind, m.text)]
    out = np.zeros((len(messages), cache.embedder.dim), dtype=np.float32)
    if idx:
        with ws.transaction():
            vecs, _ = cache.encode([messages[i].text for i in idx])
        out[idx] = vecs
    return out
