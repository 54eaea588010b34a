"""The summarize stage: a digest of every conversation and a Markdown digest per chat and week.

Extractive by default (TextRank + MMR over the sentence vectors); with `[llm] rewrite_digests` and an endpoint,
an OpenAI-compatible model rewrites each digest (failures keep the extractive text and are reported once).

Incremental per conversation: a conversation whose messages (ids, speakers, kinds, texts) and digest settings are what
they were at the last run keeps its digest (fingerprints in state `summarize.threads`); only new and changed
conversations are digested again. A digest the LLM failed to rewrite is retried on the next run.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from ...model import Answer
from ...store import Workspace
from ...summarize import llm
from ...summarize.qa.digest import DIGEST_VERSION, thread_digest, weekly_digests
from . import RunContext, Stage
from .embed import workspace_cache
from .topics import conversations


STATE_KEY = "summarize.threads"


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    convs = conversations(ws)
    cache = workspace_cache(ws)

    def encode(texts):
        return cache.encode(list(texts))[0]

    use_llm = ws.config.llm.rewrite_digests and llm.enabled(ws.config.llm)
    rewriter = f"{ws.config.llm.endpoint}\x1f{ws.config.llm.model}" if use_llm else ""
    settings = f"{DIGEST_VERSION}\x1f{cache.embedder.name}\x1f{rewriter}"
    before = ws.get_state(STATE_KEY) or {}
    stored = {t: (c, d) for t, c, d in ws.db.execute("SELECT thread_id, chat, digest FROM thread_digests")}
    digests: dict[str, tuple[str, str]] = {}
    fingerprints: dict[str, str] = {}
    llm_failures = kept = 0
    for tid, ms in convs.items():
        key = conversation_key(settings, ms)
        if before.get(tid) == key and tid in stored:
            digests[tid] = stored[tid]
            fingerprints[tid] = key
            kept += 1
            continue
        text = thread_digest(ms, encode)
        failed = False
        if use_llm and text and len(ms) >= 3:
            try:
                text = llm.rewrite(ws.config.llm, text)
            except llm.LLMError as e:
                failed = True
                llm_failures += 1
                if llm_failures == 1:
                    rc.warn(f"LLM rewrite failed, extractive digests kept: {e}")
        digests[tid] = (ms[0].chat, text)
        if not failed:
            fingerprints[tid] = key

    chat_names = {r["id"]: r["name"] for r in ws.chats()}
    labels = {t.id: t.label for t in ws.topics(warn=rc.warn)}
    weekly = weekly_digests(convs, ws.qas(warn=rc.warn), chat_names, ws.thread_topics(), labels, ws.config.tz,
                            published_answers(ws, rc))
    with ws.transaction():
        ws.db.execute("DELETE FROM thread_digests")
        ws.db.executemany("INSERT INTO thread_digests (thread_id, chat, digest) VALUES (?, ?, ?)",
                          [(t, c, d) for t, (c, d) in digests.items()])
        ws.db.execute("DELETE FROM weekly_digests")
        ws.db.executemany("INSERT INTO weekly_digests (chat, week, body) VALUES (?, ?, ?)", weekly)
        ws.set_state(STATE_KEY, fingerprints)
    return {"thread_digests": len(digests), "digests_kept": kept, "weekly_digests": len(weekly),
            "llm_failures": llm_failures}


def conversation_key(settings: str, messages) -> str:
    """What a conversation's digest is made of: its messages (ids, speakers, kinds, texts), and the settings."""
    h = hashlib.blake2b(settings.encode("utf-8"), digest_size=12)
    for m in messages:
        h.update(f"\x1e{m.id}\x1f{m.sender}\x1f{m.sender_name}\x1f{m.kind}\x1f{m.recalled:d}\x1f{m.text}".encode("utf-8"))
    return h.hexdigest()


STAGE = Stage("summarize", run, reads=("messages", "message_threads", "qas", "topics", "topic_members", "embeddings",
                                      "faq_entries"),
              writes=("thread_digests", "weekly_digests"))


def published_answers(ws: Workspace, rc: RunContext) -> dict[str, tuple[float, Answer]]:
    """QA id → (the entry's confidence, the answer it shows) for the questions of published entries, where the
    shown answer is one this question got (the weekly page features only what the FAQ publishes)."""
    out = {}
    for e in ws.faq_entries(include_hidden=False, warn=rc.warn):
        if e.published and e.answers and e.answer:
            best = e.answers[0]
            # a curator's edit of the answer is what the site shows, so what the week shows too
            out[best.qa_id] = (e.confidence, replace(best.answer, text=e.answer))
    return out
