"""The faq stage: the same question asked in different threads and days becomes one entry.

Writes faq_entries, faq_members (which entry each question was placed in: a question stays in its entry on
later runs) and contributors. Human curation is stored by entry id in `curation` (chendian/curation.py, which
`chendian faq …`, `chendian review` and the review page call) and re-applied, in order, after every rebuild:
no run loses a human edit.
"""

from __future__ import annotations

import json

from ...store import Workspace
from ...summarize.qa.contributors import tally
from ...curation import curation_log
from ...summarize.qa.faq import answerers_of, build_entries, publishable
from ..stage import RunContext, Stage
from .embed import workspace_cache
from .extract import load_qas


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    qas = load_qas(ws)
    if not qas:
        rc.warn("no questions extracted (run the extract stage first)")
    cache = workspace_cache(ws)

    def encode(texts):
        return cache.encode(list(texts))[0]

    previous = {qa: e for qa, e in ws.db.execute("SELECT qa_id, entry_id FROM faq_members")}
    actions = curation_log(ws)
    topics = ws.thread_topics()
    entries = build_entries(qas, encode if qas else None, previous, topics, actions, rc.warn)
    rows, members = [], []
    for e in entries.values():
        qas_sorted = sorted(e.qas, key=lambda q: (q.ts, q.question_id))
        rows.append((e.id, e.question, e.answer, json.dumps(answerers_of(e), ensure_ascii=False),
                     json.dumps(e.variants, ensure_ascii=False), len(e.qas), e.topic_id,
                     json.dumps([q.id for q in qas_sorted]), json.dumps(sorted({q.thread_id for q in e.qas if q.thread_id})),
                     qas_sorted[0].ts, qas_sorted[-1].ts, int(any(q.answers for q in e.qas)), int(e.hidden),
                     int(e.pinned), int(e.approved), json.dumps(e.answers, ensure_ascii=False), e.confidence,
                     int(publishable(e, ws.config.faq.publish, ws.config.faq.min_confidence)), e.worthy))
        members.extend((q.id, e.id) for q in e.qas)
    people = tally(qas, topics)
    with ws.transaction():
        ws.db.execute("DELETE FROM faq_entries")
        ws.db.executemany("INSERT INTO faq_entries (id, question, answer, answerers, variants, count, topic_id, qa_ids,"
                          " thread_ids, first_ts, last_ts, answered, hidden, pinned, approved, answers, confidence, published, worthy)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        ws.db.execute("DELETE FROM faq_members")
        ws.db.executemany("INSERT INTO faq_members (qa_id, entry_id) VALUES (?, ?)", members)
        ws.db.execute("DELETE FROM contributors")
        ws.db.executemany("INSERT INTO contributors VALUES (?, ?, ?, ?, ?, ?)",
                          [(s, p["name"], p["questions"], p["answers"], p["acknowledged"],
                            json.dumps(p["topics"], ensure_ascii=False)) for s, p in people.items()])
    return {"entries": len(entries), "repeated": sum(1 for e in entries.values() if len(e.qas) > 1),
            "answered": sum(1 for e in entries.values() if any(q.answers for q in e.qas)),
            "hidden": sum(1 for e in entries.values() if e.hidden), "curation_actions": len(actions),
            "published": sum(1 for r in rows if r[17]),
            "held_for_review": sum(1 for r in rows if not r[17] and r[11] and not r[12]),
            "contributors": len(people)}


STAGE = Stage("faq", run, reads=("qas", "topic_members", "curation", "embeddings"),
              writes=("faq_entries", "faq_members", "contributors"))


# -- reading the stage's tables ---------------------------------------------------------------------------

def top_contributors(ws: Workspace, limit: int = 10) -> list[dict]:
    """People by answers given (acknowledged answers first), for reports and the weekly digest."""
    rows = ws.db.execute("SELECT sender, name, questions, answers, acknowledged, topics FROM contributors"
                         " ORDER BY answers DESC, acknowledged DESC, sender LIMIT ?", (limit,)).fetchall()
    return [{"sender": r[0], "name": r[1], "questions": r[2], "answers": r[3], "acknowledged": r[4],
             "topics": json.loads(r[5] or "[]")} for r in rows]


# -- the review queue (what `[faq] publish` held back) -----------------------------------------------------

CONTEXT_MESSAGES = 2  # messages shown before and after the question, as evidence


def review_queue(ws: Workspace, limit: int | None = None) -> list[dict]:
    """Entries with an answer that are not published, not hidden and not yet approved, most confident first,
    each with its evidence: the messages around its question and every candidate answer with its author."""
    rows = ws.db.execute(
        "SELECT id, question, answer, answers, qa_ids, count, confidence, worthy FROM faq_entries"
        " WHERE answered = 1 AND COALESCE(published, 1) = 0 AND COALESCE(hidden, 0) = 0 AND COALESCE(approved, 0) = 0"
        " ORDER BY confidence DESC, count DESC, id" + (" LIMIT ?" if limit else ""), (limit,) if limit else ()).fetchall()
    queue = []
    for r in rows:
        qa_ids = json.loads(r["qa_ids"] or "[]")
        first = ws.db.execute("SELECT question_id, chat FROM qas WHERE id = ?", (qa_ids[0],)).fetchone() if qa_ids else None
        queue.append({
            "id": r["id"], "question": r["question"], "answer": r["answer"], "asked": r["count"],
            "confidence": r["confidence"], "worthy": r["worthy"],
            "context": _around(ws, first["question_id"]) if first else [],
            "answers": [{"sender_name": a.get("sender_name") or a.get("sender"), "text": a.get("text", ""),
                         "score": a.get("score"), "message_ids": a.get("message_ids") or []}
                        for a in json.loads(r["answers"] or "[]")],
        })
    return queue


def _around(ws: Workspace, message_id: str) -> list[dict]:
    """The question's message with CONTEXT_MESSAGES before and after it in its chat."""
    row = ws.db.execute("SELECT rowid, chat, ts FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        return []
    before = ws.db.execute("SELECT id, ts, sender_name, text FROM messages WHERE chat = ? AND (ts, rowid) < (?, ?)"
                           " ORDER BY ts DESC, rowid DESC LIMIT ?", (row["chat"], row["ts"], row["rowid"], CONTEXT_MESSAGES))
    after = ws.db.execute("SELECT id, ts, sender_name, text FROM messages WHERE chat = ? AND (ts, rowid) >= (?, ?)"
                          " ORDER BY ts, rowid LIMIT ?", (row["chat"], row["ts"], row["rowid"], CONTEXT_MESSAGES + 1))
    out = [dict(r) for r in reversed(before.fetchall())] + [dict(r) for r in after.fetchall()]
    for m in out:
        m["is_question"] = m["id"] == message_id
    return out
