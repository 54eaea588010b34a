"""The faq stage: the same question asked in different threads and days becomes one entry.

Writes faq_entries, faq_members (which entry each question was placed in: a question stays in its entry on
later runs) and contributors. Human curation is stored by entry id in `curation` (written by the functions
below, which `chendian faq …` calls) and re-applied, in order, after every rebuild: no run loses a human edit.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from ...store import Workspace
from ...summarize.qa.contributors import tally
from ...summarize.qa.faq import CURATION_ACTIONS, CurationError, answerers_of, build_entries
from . import RunContext, Stage
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
                     int(e.pinned), int(e.approved), json.dumps(e.answers, ensure_ascii=False)))
        members.extend((q.id, e.id) for q in e.qas)
    people = tally(qas, topics)
    with ws.transaction():
        ws.db.execute("DELETE FROM faq_entries")
        ws.db.executemany("INSERT INTO faq_entries (id, question, answer, answerers, variants, count, topic_id, qa_ids,"
                          " thread_ids, first_ts, last_ts, answered, hidden, pinned, approved, answers)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        ws.db.execute("DELETE FROM faq_members")
        ws.db.executemany("INSERT INTO faq_members (qa_id, entry_id) VALUES (?, ?)", members)
        ws.db.execute("DELETE FROM contributors")
        ws.db.executemany("INSERT INTO contributors VALUES (?, ?, ?, ?, ?, ?)",
                          [(s, p["name"], p["questions"], p["answers"], p["acknowledged"],
                            json.dumps(p["topics"], ensure_ascii=False)) for s, p in people.items()])
    return {"entries": len(entries), "repeated": sum(1 for e in entries.values() if len(e.qas) > 1),
            "answered": sum(1 for e in entries.values() if any(q.answers for q in e.qas)),
            "hidden": sum(1 for e in entries.values() if e.hidden), "curation_actions": len(actions),
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


# -- curation (the `curation` table: people write it, this stage applies it) -----------------------------

def record_curation(ws, entry_id: str, action: str, value: str | dict | None = None) -> None:
    """Store one human curation action; the faq stage re-applies all of them, in order, on every run.

    approve/unapprove/hide/unhide/pin/unpin: no value. edit: {"question": …, "answer": …} (either).
    merge: value = the entry id that absorbs `entry_id`. split: value = the QA id (qas.id) to take out of
    `entry_id` into an entry of its own.
    """
    if action not in CURATION_ACTIONS:
        raise CurationError(f"unknown curation action {action!r}; actions are: {', '.join(CURATION_ACTIONS)}")
    if not re.fullmatch(r"f[0-9a-f]{20}", entry_id or ""):
        raise CurationError(f"{entry_id!r} is not a FAQ entry id (f + 20 hex digits)")
    if action == "edit":
        if not isinstance(value, dict) or not set(value) <= {"question", "answer"} or not value:
            raise CurationError('edit needs {"question": …} and/or {"answer": …}')
        value = json.dumps(value, ensure_ascii=False)
    elif action in ("merge", "split"):
        if not value or not isinstance(value, str):
            raise CurationError(f"{action} needs a value ({'target entry id' if action == 'merge' else 'QA id'})")
        if action == "merge" and value == entry_id:
            raise CurationError("cannot merge an entry into itself")
    elif value not in (None, ""):
        raise CurationError(f"{action} takes no value")
    exists = ws.db.execute("SELECT 1 FROM faq_entries WHERE id = ?", (entry_id,)).fetchone()
    if not exists:
        raise CurationError(f"no FAQ entry {entry_id}; run the faq stage first or check the id")
    ws.db.execute("INSERT INTO curation (entry_id, action, value, at) VALUES (?, ?, ?, ?)",
                  (entry_id, action, value or "", datetime.now(timezone.utc).isoformat(timespec="seconds")))


def approve(ws, entry_id: str) -> None:
    record_curation(ws, entry_id, "approve")


def hide(ws, entry_id: str) -> None:
    record_curation(ws, entry_id, "hide")


def pin(ws, entry_id: str) -> None:
    record_curation(ws, entry_id, "pin")


def edit(ws, entry_id: str, question: str | None = None, answer: str | None = None) -> None:
    value = {k: v for k, v in (("question", question), ("answer", answer)) if v is not None}
    record_curation(ws, entry_id, "edit", value)


def merge(ws, source_id: str, target_id: str) -> None:
    record_curation(ws, source_id, "merge", target_id)


def split(ws, entry_id: str, qa_id: str) -> None:
    record_curation(ws, entry_id, "split", qa_id)


def curation_log(ws) -> list[dict]:
    return [dict(r) for r in ws.db.execute("SELECT rowid, entry_id, action, value, at FROM curation ORDER BY rowid")]
