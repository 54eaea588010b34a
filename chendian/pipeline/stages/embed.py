"""The embed stage: a sentence vector for every conversational message, cached by content hash.

Vectors live in the `embeddings` table of EmbeddingCache (key = hash of model name + text), so a rerun
embeds only text it has not seen, and the same sentence said twice is embedded once. The stage also
remembers the last message rowid it covered per model, so a nightly run only looks at new messages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...model import CONVERSATIONAL_KINDS, Message
from ...store import Workspace
from . import RunContext, Stage
from ...summarize.text.embed import EmbeddingCache, embedder_for

STATE_KEY = "embed.progress"
BATCH = 4096


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
    computed = 0
    last = since
    for a in range(0, len(rows), BATCH):
        part = rows[a:a + BATCH]
        with ws.transaction():
            _, n = cache.encode([t for _, t in part])
            last = part[-1][0]
            state[model] = last
            ws.set_state(STATE_KEY, state)
        computed += n
        bar.update(len(part))
    bar.close()
    return {"messages_seen": len(rows), "embedded": computed, "from_cache": len(rows) - computed}


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
