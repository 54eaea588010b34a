"""The index stage: the hybrid search index of the FAQ, built into a new folder and swapped in atomically.

What it holds: FAQ entries that are published (and, labelled, those held for review: search/held.py); before there are any, extracted questions; before those,
messages that look like questions. A rebuild happens only when the documents (or the model) changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ... import atomic
from ...store import Warn, Workspace
from ...summarize.text import analyze
from ...summarize.text.embed import EmbeddingCache, embedder_for
from ...search.held import searchable_held
from ...search.vocab import learn_vocabulary
from ...search.index import INDEX_FORMAT, INDEX_LINK, TOKENS_FILE, VERSIONS_DIR, HybridIndex, SearchDocument, TokenCache
from . import RunContext, Stage


def workspace_documents(ws: Workspace, warn: Warn) -> tuple[str, list[SearchDocument]]:
    """What the index holds: FAQ entries that are not hidden; else extracted questions; else messages that
    look like questions. Returns (source kind, documents)."""
    # what the site shows: not hidden, and published under [faq] publish; and, labelled, what waits for review
    # (search/held.py)
    entries = sorted((e for e in ws.faq_entries(include_hidden=False, warn=warn)
                      if e.published or searchable_held(e, ws.config)),
                     key=lambda e: (not e.pinned, -e.count, e.id))
    if entries:
        return "faq", [SearchDocument(
            id=e.id, text=e.question, variants=e.variants, body=e.answer,
            fields={"kind": "faq", "count": e.count, "thread_ids": e.thread_ids, "answered": e.answered,
                    "last_ts": e.last_ts, "trust": e.trust(ws.config.faq.min_confidence)}
            | ({} if e.published else {"held": True}))
            for e in entries] + talk_documents(ws, warn)
    qas = ws.qas(warn=warn)
    if qas:
        return "qa", [SearchDocument(
            id=qa.id, text=qa.question, body=qa.answers[0].text if qa.answers else "",
            fields={"kind": "qa", "thread_ids": [qa.thread_id] if qa.thread_id else [], "chat": qa.chat, "ts": qa.ts,
                    "asker": qa.asker_name})
            for qa in qas]
    docs = []
    for m in ws.messages():
        if m.kind == "text" and not m.recalled and analyze.is_question_like(m.text):
            docs.append(SearchDocument(id=m.id, text=m.text.strip(), fields={
                "kind": "message", "chat": m.chat, "ts": int(m.time.timestamp()), "asker": m.sender_name}))
    return "message", docs


TALK_BODY_CHARS = 2000  # of a talk's text matched (weakly, as an answer is) besides its title


def talk_documents(ws: Workspace, warn: Warn) -> list[SearchDocument]:
    """Talks that are not hidden, found by their title (and weakly by what was said in them)."""
    talks = ws.talks(include_hidden=False, warn=warn)
    if not talks:
        return []
    wanted = {mid for t in talks for mid in t.message_ids}
    text = {mid: m.text for mid, m in ws.messages_by_id(wanted).items() if not m.recalled}
    return [SearchDocument(id=t.id, text=t.title or t.speaker_name,
                           body=" ".join(text[m] for m in t.message_ids if text.get(m))[:TALK_BODY_CHARS],
                           fields={"kind": "talk", "speaker": t.speaker_name, "day": t.day, "chat": t.chat,
                                   "ts": t.start_ts})
            for t in talks]


def workspace_vocabulary(ws: Workspace, docs: Sequence[SearchDocument]) -> dict[str, list[str]]:
    """The vocabulary (search/vocab.py) of the group's text messages and its entries' merged wordings."""
    texts = (r[0] for r in ws.db.execute("SELECT text FROM messages WHERE kind = 'text' AND recalled = 0"))
    names = {r[0] for r in ws.db.execute("SELECT DISTINCT sender_name FROM messages") if r[0]}
    merged = [d.wordings() for d in docs if d.fields.get("kind") == "faq" and d.variants]
    return learn_vocabulary(texts, merged, names)


def documents_hash(docs: Sequence[SearchDocument], extra: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{INDEX_FORMAT}\x1f{extra}\x1e".encode())
    for d in docs:
        h.update(json.dumps(d.to_json(), ensure_ascii=False, sort_keys=True).encode("utf-8"))
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
    atomic.swap_symlink(link, os.path.relpath(built, ws_root))
    for old in (ws_root / VERSIONS_DIR).iterdir():
        if old.resolve() != built.resolve():
            shutil.rmtree(old, ignore_errors=True)


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    source, docs = workspace_documents(ws, rc.warn)
    cfg = ws.config
    user_dict = str(ws.path(cfg.segment.user_dict)) if cfg.segment.user_dict else ""
    # the vocabulary is learned on a rebuild only (a night whose documents are unchanged reads no messages)
    doc_hash = documents_hash(docs, f"{cfg.embed.model}\x1f{user_dict}\x1f{source}\x1f{int(cfg.search.vocabulary)}")
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
    vocab = workspace_vocabulary(ws, docs) if cfg.search.vocabulary else {}
    # the last index's tokens: a night segments only the entries it changed
    tokens = TokenCache.load(link / TOKENS_FILE, user_dict)
    index = HybridIndex.build(docs, encode=encode, user_dict=user_dict, vocab=vocab, token_cache=tokens)
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
    return {"documents": len(docs), "rebuilt": 1, "embedded": embedded, "rows": int(len(index.vectors)),
            "held": sum(1 for d in docs if d.fields.get("held")), "vocabulary": len(vocab),
            "texts_segmented": tokens.computed}


STAGE = Stage("index", run, reads=("faq_entries", "qas", "messages", "embeddings", "talks", "talk_messages"), files=(INDEX_LINK, VERSIONS_DIR))
