"""The segment stage: jieba tokens of every message's folded text, in `tokens(message_id, tokens)`.

Incremental: only messages without tokens are segmented, looked for past the rowid the last run reached (state
`segment.rowid`). Changing the user dictionary or the stopword list
(their content, not just their path) re-segments everything, since every token may change.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...errors import ChendianError
from ...store import Workspace
from . import RunContext, Stage
from ...summarize.text.segment import Segmenter

STATE_KEY = "segment.fingerprint"
ROWID_KEY = "segment.rowid"  # every message up to this rowid has its tokens
BATCH = 5000


class SegmentConfigError(ChendianError, ValueError):
    pass


def workspace_segmenter(ws: Workspace) -> tuple[Segmenter, str]:
    """The Segmenter the workspace config asks for, and a fingerprint of its dictionary and stopwords."""
    paths, fingerprint = _dictionary_files(ws)
    seg = Segmenter(paths["segment.user_dict"], paths["segment.stopwords"])
    return seg, fingerprint


def _dictionary_files(ws: Workspace) -> tuple[dict[str, str | None], str]:
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
    return paths, h.hexdigest()


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    spec = segmenter_spec(ws)
    fingerprint = spec.fingerprint
    cleared = 0
    if ws.get_state(STATE_KEY) != fingerprint:
        with ws.transaction():
            cleared = ws.db.execute("DELETE FROM tokens").rowcount
            ws.set_state(STATE_KEY, fingerprint)
            ws.set_state(ROWID_KEY, 0)
    # Messages are only ever added (a recall sets a flag, never the text) and only this stage deletes tokens,
    # so those up to the last run's rowid have theirs: a night looks at its own messages, not a million.
    seen = int(ws.get_state(ROWID_KEY, 0) or 0)
    top = ws.db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
    # Materialised first: writing while a SELECT over the same table is still open is fragile in SQLite.
    rows = ws.db.execute("SELECT id, text FROM messages m WHERE rowid > ? AND NOT EXISTS "
                         "(SELECT 1 FROM tokens t WHERE t.message_id = m.id) ORDER BY rowid", (seen,)).fetchall()
    bar = rc.progress(len(rows), "tokens", unit="msg")
    done = 0
    # Batches of rowids are the partitions: a message's tokens depend on its text alone.
    jobs = (([mid for mid, _ in rows[a:a + BATCH]], (spec, [text for _, text in rows[a:a + BATCH]]))
            for a in range(0, len(rows), BATCH))
    for ids, tokens in rc.map(segment_texts, jobs, size=len(rows),
                              describe=lambda ids: f"the batch of {len(ids)} messages from {ids[0]}"):
        with ws.transaction():
            ws.db.executemany("INSERT OR REPLACE INTO tokens (message_id, tokens) VALUES (?, ?)",
                              list(zip(ids, tokens)))
        done += len(ids)
        bar.update(len(ids))
    bar.close()
    ws.set_state(ROWID_KEY, top)
    total = ws.db.execute("SELECT count(*) FROM tokens").fetchone()[0]
    return {"segmented": done, "tokens_rows": total, "resegmented_after_dictionary_change": cleared}


@dataclass(frozen=True)
class SegmenterSpec:
    """The workspace's segmenter as a worker elsewhere can rebuild it: the files' text, not their paths."""

    fingerprint: str
    user_dict: bytes | None
    stopwords: bytes | None


def segmenter_spec(ws: Workspace) -> SegmenterSpec:
    paths, fingerprint = _dictionary_files(ws)
    data = [Path(p).read_bytes() if p else None for p in (paths["segment.user_dict"], paths["segment.stopwords"])]
    return SegmenterSpec(fingerprint, *data)


_SEGMENTERS: dict[str, Segmenter] = {}  # per process: a worker builds the segmenter once, not per job


def segment_texts(job: tuple[SegmenterSpec, list[str]]) -> list[str]:
    """The tokens column for each text (a pure step: in this process or on a worker)."""
    spec, texts = job
    seg = _SEGMENTERS.get(spec.fingerprint)
    if seg is None:
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for name, data in (("user_dict.txt", spec.user_dict), ("stopwords.txt", spec.stopwords)):
                if data is None:
                    paths.append(None)
                    continue
                (Path(tmp) / name).write_bytes(data)
                paths.append(Path(tmp) / name)
            seg = _SEGMENTERS[spec.fingerprint] = Segmenter(*paths)  # reads both files now
    return [" ".join(seg.tokens(text)) for text in texts]


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
