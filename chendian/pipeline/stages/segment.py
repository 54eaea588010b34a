"""The segment stage: jieba tokens of every message's folded text, in `tokens(message_id, tokens)`.

Incremental: only messages without tokens are segmented. Changing the user dictionary or the stopword list
(their content, not just their path) re-segments everything, since every token may change.
"""

from __future__ import annotations

import hashlib

from ...errors import ChendianError
from ...store import Workspace
from . import RunContext, Stage
from ...summarize.text.segment import Segmenter

STATE_KEY = "segment.fingerprint"
BATCH = 5000


class SegmentConfigError(ChendianError, ValueError):
    pass


def workspace_segmenter(ws: Workspace) -> tuple[Segmenter, str]:
    """The Segmenter the workspace config asks for, and a fingerprint of its dictionary and stopwords."""
    cfg = ws.config.segment
    h = hashlib.blake2b(digest_size=8)
    paths = {}
    for what, rel in (("segment.user_dict", cfg.user_dict), ("segment.stopwords", cfg.stopwords)):
        if not rel:
            paths[what] = None
            h.update(b"-")
            continue
        p = ws.path(rel)
        if not p.is_file():
            raise SegmentConfigError(f"{what} = {rel!r}: no such file {p} (one word per line expected)")
        h.update(p.read_bytes())
        paths[what] = str(p)
    seg = Segmenter(paths["segment.user_dict"], paths["segment.stopwords"])
    return seg, h.hexdigest()


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    seg, fingerprint = workspace_segmenter(ws)
    cleared = 0
    if ws.get_state(STATE_KEY) != fingerprint:
        with ws.transaction():
            cleared = ws.db.execute("DELETE FROM tokens").rowcount
            ws.set_state(STATE_KEY, fingerprint)
    todo = ws.db.execute("SELECT count(*) FROM messages m WHERE NOT EXISTS "
                         "(SELECT 1 FROM tokens t WHERE t.message_id = m.id)").fetchone()[0]
    bar = rc.progress(todo, "tokens", unit="msg")
    done = 0
    # Materialised first: writing while a SELECT over the same table is still open is fragile in SQLite.
    rows = ws.db.execute("SELECT id, text FROM messages m WHERE NOT EXISTS "
                         "(SELECT 1 FROM tokens t WHERE t.message_id = m.id) ORDER BY rowid").fetchall()
    for a in range(0, len(rows), BATCH):
        part = rows[a:a + BATCH]
        out = [(mid, " ".join(seg.tokens(text))) for mid, text in part]
        with ws.transaction():
            ws.db.executemany("INSERT OR REPLACE INTO tokens (message_id, tokens) VALUES (?, ?)", out)
        done += len(part)
        bar.update(len(part))
    bar.close()
    total = ws.db.execute("SELECT count(*) FROM tokens").fetchone()[0]
    return {"segmented": done, "tokens_rows": total, "resegmented_after_dictionary_change": cleared}


STAGE = Stage("segment", run, reads=("messages",), writes=("tokens",))


def load_tokens(ws: Workspace, message_ids: list[str]) -> dict[str, list[str]]:
    """Stored tokens by message id (missing ids are simply absent)."""
    out: dict[str, list[str]] = {}
    for a in range(0, len(message_ids), 900):
        part = message_ids[a:a + 900]
        q = f"SELECT message_id, tokens FROM tokens WHERE message_id IN ({','.join('?' * len(part))})"
        for mid, toks in ws.db.execute(q, part):
            out[mid] = toks.split()
    return out
