"""The summarize stage: a digest of every conversation and a Markdown digest per chat and week.

Extractive by default (TextRank + MMR over the sentence vectors); with `[llm] rewrite_digests` and an endpoint,
an OpenAI-compatible model rewrites each digest (failures keep the extractive text and are reported once).
"""

from __future__ import annotations

from dataclasses import replace

from ...model import Answer
from ...store import Workspace
from ...summarize import llm
from ...summarize.qa.digest import thread_digest, weekly_digests
from . import RunContext, Stage
from .embed import workspace_cache
from .topics import conversations


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    convs = conversations(ws)
    cache = workspace_cache(ws)

    def encode(texts):
        return cache.encode(list(texts))[0]

    use_llm = ws.config.llm.rewrite_digests and llm.enabled(ws.config.llm)
    digests: dict[str, tuple[str, str]] = {}
    llm_failures = 0
    for tid, ms in convs.items():
        text = thread_digest(ms, encode)
        if use_llm and text and len(ms) >= 3:
            try:
                text = llm.rewrite(ws.config.llm, text)
            except llm.LLMError as e:
                llm_failures += 1
                if llm_failures == 1:
                    rc.warn(f"LLM rewrite failed, extractive digests kept: {e}")
        digests[tid] = (ms[0].chat, text)

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
    return {"thread_digests": len(digests), "weekly_digests": len(weekly), "llm_failures": llm_failures}


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
