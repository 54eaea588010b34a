"""The summarize stage: a digest of every conversation and a Markdown digest per chat and week.

Extractive by default (TextRank + MMR over the sentence vectors); with `[llm] rewrite_digests` and an endpoint,
an OpenAI-compatible model rewrites each digest (failures keep the extractive text and are reported once).

Incremental: a night reads only the conversations the new messages may have changed (thread.changes_since: from
thread.reach() messages before each chat's earliest new message on), and of those digests again only the ones
whose messages (ids, speakers, kinds, texts) and digest settings differ from what their stored digest was made of
(`thread_digests.fingerprint`); the digests of conversations that are gone are deleted. A digest the LLM failed
to rewrite is retried on the next run. A week's digest is made again when its conversations may have changed
(the weeks from each chat's changed region on) or when what it shows besides them changed: its questions, the
answers and confidence the FAQ publishes for them, the chat's name (a signature per week in state
`summarize.weeks`). The topic names in an older week's 热门话题 stay those of the night it was made (topics are
history-dependent anyway, docs/workspace.md). A first run, new digest settings or a re-threading read everything.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

from ...model import CONVERSATIONAL_KINDS, QA, Answer, FaqAnswer, Message
from ...store import Workspace, json_column
from ...summarize import llm
from ...summarize.qa.digest import (DIGEST_VERSION, encoded_sentences, iso_week, sentences, thread_digest,
                                    week_signatures, weekly_digests)
from ...summarize.text.embed import chunks
from . import RunContext, Stage
from .embed import workspace_cache
from .thread import changes_since, conversations_of
from .embed import embed_batches
from .topics import conversations


STATE_KEY = "summarize.threads"  # before fingerprints lived in thread_digests: thread id → fingerprint
MARK_KEY = "summarize.mark"  # thread.changes_since's mark of the last run, and its digest settings
WEEKS_KEY = "summarize.weeks"  # "chat\x1fweek" → signature of what the week shows besides its conversations
RETRY_KEY = "summarize.retry"  # conversations whose LLM rewrite failed: read again next run


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    cache = workspace_cache(ws)

    def encode(texts):
        return cache.encode(list(texts))[0]

    use_llm = ws.config.llm.rewrite_digests and llm.enabled(ws.config.llm)
    rewriter = f"{ws.config.llm.endpoint}\x1f{ws.config.llm.model}" if use_llm else ""
    settings = f"{DIGEST_VERSION}\x1f{cache.embedder.name}\x1f{rewriter}"
    mark = ws.get_state(MARK_KEY)
    changes = changes_since(ws, mark if mark and mark.get("settings") == settings else None)
    retry = ws.get_state(RETRY_KEY) or []
    if changes.full:
        convs = conversations(ws)
        stored = {t: (c, d, k) for t, c, d, k in ws.db.execute(
            "SELECT thread_id, chat, digest, fingerprint FROM thread_digests")}
        legacy = ws.get_state(STATE_KEY) or {}
    else:
        convs = conversations_of(ws, sorted(set(changes.thread_ids(ws)) | set(retry)))
        stored = {t: (c, d, k) for t, c, d, k in ws.db.execute(
            "SELECT thread_id, chat, digest, fingerprint FROM thread_digests"
            " WHERE thread_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(convs)),))}
        legacy = {}
    rows: list[tuple] = []  # digests to write: (thread id, chat, digest, fingerprint or None)
    failed_ids: list[str] = []
    llm_failures = kept = 0
    keys = {tid: conversation_key(settings, ms) for tid, ms in convs.items()}
    todo = [tid for tid in convs if stored.get(tid) is None or keys[tid] not in (stored[tid][2], legacy.get(tid))]
    embed_ahead(ws, rc, cache, [encoded_sentences(sentences(convs[tid])) for tid in todo])
    for tid, ms in convs.items():
        key = keys[tid]
        old = stored.get(tid)
        if old is not None and key in (old[2], legacy.get(tid)):
            kept += 1
            if old[2] != key:
                rows.append((tid, old[0], old[1], key))
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
        if failed:
            failed_ids.append(tid)
        rows.append((tid, ms[0].chat, text, None if failed else key))
    if changes.full:
        gone = [t for t in stored if t not in convs]
    else:
        # Conversations read that have no conversational message left, and those the thread stage removed.
        gone = [t for t in stored if t not in convs]
        for chat in sorted(changes.since):
            gone += [r[0] for r in ws.db.execute(
                "SELECT d.thread_id FROM thread_digests d LEFT JOIN threads t ON t.id = d.thread_id"
                " WHERE d.chat = ? AND t.id IS NULL", (chat,))]
    weekly, dropped, signatures, weeks_made = weekly_rows(ws, rc, changes, convs)
    with ws.transaction():
        if dropped is None:  # every week made again
            ws.db.execute("DELETE FROM weekly_digests")
            dropped = []
        ws.db.executemany("DELETE FROM thread_digests WHERE thread_id = ?", [(t,) for t in sorted(set(gone))])
        ws.db.executemany("INSERT INTO thread_digests (thread_id, chat, digest, fingerprint) VALUES (?, ?, ?, ?)"
                          " ON CONFLICT (thread_id) DO UPDATE SET chat = excluded.chat, digest = excluded.digest,"
                          " fingerprint = excluded.fingerprint", rows)
        ws.db.executemany("DELETE FROM weekly_digests WHERE chat = ? AND week = ?", dropped)
        ws.db.executemany("INSERT INTO weekly_digests (chat, week, body) VALUES (?, ?, ?)"
                          " ON CONFLICT (chat, week) DO UPDATE SET body = excluded.body"
                          " WHERE weekly_digests.body != excluded.body", weekly)
        ws.set_state(WEEKS_KEY, signatures)
        ws.set_state(RETRY_KEY, failed_ids)
        if legacy:
            ws.set_state(STATE_KEY, None)
        ws.set_state(MARK_KEY, changes.mark | {"settings": settings})
    total = ws.db.execute("SELECT count(*) FROM thread_digests").fetchone()[0]
    weeks = ws.db.execute("SELECT count(*) FROM weekly_digests").fetchone()[0]
    return {"thread_digests": total, "digests_read": len(convs), "digests_kept": kept, "weekly_digests": weeks,
            "weekly_digests_made": weeks_made, "llm_failures": llm_failures}


def embed_ahead(ws: Workspace, rc: RunContext, cache, calls: list[list[str]]) -> None:
    """Embed, through the executor's workers, what the calls of cache.encode (one per conversation digested, in
    this order) will embed, in the batches each would form: the digests then read every vector from the cache
    and are what one process makes."""
    uncached = set(cache.missing([t for texts in calls for t in texts]))
    batches = []
    for texts in calls:
        todo = [t for t in dict.fromkeys(texts) if t in uncached]
        uncached.difference_update(todo)  # cached by this call: a later conversation reads it
        batches += chunks(todo)
    embed_batches(ws, rc, cache, batches)


def weekly_rows(ws: Workspace, rc: RunContext, changes, convs) -> tuple[list, list | None, dict, int]:
    """(rows to write, (chat, week) to delete or None for all, the week signatures now, how many weeks were made).
    Every week is made when the conversations were all read (`convs` holds them) or a chat's name changed."""
    tz = ws.config.tz
    chat_names = {r["id"]: r["name"] for r in ws.chats()}
    labels = {t.id: t.label for t in ws.topics(warn=rc.warn)}
    shown = published_answers(ws, rc)
    qa_rows = ws.db.execute("SELECT id, chat, thread_id, question_id, question, asker, asker_name, ts, answers,"
                            " score FROM qas ORDER BY ts, id").fetchall()
    signatures = week_signatures([(r[0], r[1], r[7], r[9], r[8]) for r in qa_rows], shown, chat_names, tz)
    # "": the chats' names (every week's title), whether or not a week has questions
    signatures[""] = hashlib.blake2b(json.dumps(sorted(chat_names.items())).encode("utf-8"),
                                     digest_size=12).hexdigest()
    before = ws.get_state(WEEKS_KEY) or {}
    if changes.full or before.get("") != signatures[""]:
        weekly = weekly_digests(convs if changes.full else conversations(ws), [_qa(r, rc) for r in qa_rows],
                                chat_names, ws.thread_topics(), labels, tz, shown)
        return weekly, None, signatures, len(weekly)
    todo = {tuple(k.split("\x1f", 1)) for k in set(signatures) | set(before)
            if k and signatures.get(k) != before.get(k)}
    for chat, (ts, _) in changes.since.items():  # the weeks whose conversations may have changed
        first, last = ws.db.execute("SELECT min(ts), max(ts) FROM messages WHERE chat = ? AND ts >= ?",
                                    (chat, ts)).fetchone()
        day = first
        while day is not None and day <= last:
            todo.add((chat, iso_week(day, tz)))
            day += 7 * 86400
        if last is not None:
            todo.add((chat, iso_week(last, tz)))
    weekly, dropped = [], []
    qas_of = defaultdict(list)
    for r in qa_rows:
        qas_of[(r[1], iso_week(r[7], tz))].append(r)
    for chat, week in sorted(todo):
        lo, hi = week_bounds(week, tz)
        week_convs: dict[str, list] = defaultdict(list)
        # weekly_digests counts a week's messages and conversations: it reads a message's chat and time only
        for m_chat, m_time, kind, recalled, tid in ws.db.execute(
                "SELECT m.chat, m.time, m.kind, m.recalled, t.thread_id FROM messages m"
                " JOIN message_threads t ON t.message_id = m.id"
                " WHERE m.chat = ? AND m.ts >= ? AND m.ts < ? ORDER BY m.ts, m.rowid", (chat, lo, hi)):
            if kind in CONVERSATIONAL_KINDS and not recalled:
                week_convs[tid].append(Message("", m_chat, datetime.fromisoformat(m_time), "", "", kind, "", ""))
        topic_of = dict(ws.db.execute("SELECT thread_id, topic_id FROM topic_members"
                                      " WHERE thread_id IN (SELECT value FROM json_each(?))",
                                      (json.dumps(sorted(week_convs)),)))
        made = [w for w in weekly_digests(week_convs, [_qa(r, rc) for r in qas_of.get((chat, week), [])],
                                          chat_names, topic_of, labels, tz, shown) if w[:2] == (chat, week)]
        if made:
            weekly += made
        else:
            dropped.append((chat, week))
    return weekly, dropped, signatures, len(todo)


def week_bounds(week: str, tz) -> tuple[int, int]:
    """The first second of an ISO week ("2024-W07") in tz and the first of the next."""
    year, w = week.split("-W")
    monday = datetime.fromisocalendar(int(year), int(w), 1)
    start = monday.replace(tzinfo=tz)
    end = (monday + timedelta(days=7)).replace(tzinfo=tz)
    return int(start.timestamp()), int(end.timestamp())


def _qa(r, rc: RunContext) -> QA:
    """A row of qas (the columns weekly_rows reads) as Workspace.qas reads it."""
    answers = json_column(r[8], list, f"qas {r[0]} answers", rc.warn)
    return QA(id=r[0], chat=r[1], thread_id=r[2], question_id=r[3], question=r[4] or "", asker=r[5],
              asker_name=r[6], ts=int(r[7] or 0),
              answers=[Answer.from_json(a) for a in answers if isinstance(a, dict)], score=float(r[9] or 0))


def conversation_key(settings: str, messages) -> str:
    """What a conversation's digest is made of: its messages (ids, speakers, kinds, texts), and the settings."""
    h = hashlib.blake2b(settings.encode("utf-8"), digest_size=12)
    for m in messages:
        h.update(f"\x1e{m.id}\x1f{m.sender}\x1f{m.sender_name}\x1f{m.kind}\x1f{m.recalled:d}\x1f{m.text}".encode("utf-8"))
    return h.hexdigest()


STAGE = Stage("summarize", run, reads=("messages", "chats", "message_threads", "threads", "qas", "topics", "topic_members",
                                      "embeddings", "faq_entries"),
              writes=("thread_digests", "weekly_digests"))


def published_answers(ws: Workspace, rc: RunContext) -> dict[str, tuple[float, Answer]]:
    """QA id → (the entry's confidence, the answer it shows) for the questions of published entries, where the
    shown answer is one this question got (the weekly page features only what the FAQ publishes).

    Reads the published entries only (Workspace.faq_entries parses every entry's JSON, and most of a big FAQ is
    held for review), in its order: a question in two entries takes the later one's, as there."""
    out = {}
    for eid, answer, answers, confidence in ws.db.execute(
            "SELECT id, answer, answers, confidence FROM faq_entries"
            " WHERE COALESCE(hidden, 0) = 0 AND COALESCE(published, 1) != 0 ORDER BY first_ts, id"):
        best = next((a for a in json_column(answers, list, f"faq_entries {eid} answers", rc.warn)
                     if isinstance(a, dict)), None)
        if answer and best is not None:
            best = FaqAnswer.from_json(best)
            # a curator's edit of the answer is what the site shows, so what the week shows too
            out[best.qa_id] = (1.0 if confidence is None else float(confidence), replace(best.answer, text=answer))
    return out
