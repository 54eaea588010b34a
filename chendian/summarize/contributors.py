"""Contributors: who asks, who answers, whose answers the askers acknowledged, and on which topics."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

SCHEMA = """
CREATE TABLE IF NOT EXISTS contributors (
    sender TEXT PRIMARY KEY, name TEXT, questions INTEGER, answers INTEGER, acknowledged INTEGER, topics TEXT
);
"""


def tally(qas, topics: dict[str, str] | None = None) -> dict[str, dict]:
    """sender → {"name","questions","answers","acknowledged","topics": [{"topic","count"}]} from QA rows."""
    topics = topics or {}
    people: dict[str, dict] = defaultdict(lambda: {"name": "", "questions": 0, "answers": 0, "acknowledged": 0,
                                                   "_topics": Counter()})
    for qa in qas:
        p = people[qa.asker]
        p["name"] = qa.asker_name or p["name"] or qa.asker
        p["questions"] += 1
        topic = topics.get(qa.thread_id) if qa.thread_id else None
        if topic:
            p["_topics"][topic] += 1
        for a in qa.answers:
            p = people[a["sender"]]
            p["name"] = a.get("sender_name") or p["name"] or a["sender"]
            p["answers"] += 1
            p["acknowledged"] += int(bool(a.get("acknowledged")))
            if topic:
                p["_topics"][topic] += 1
    out = {}
    for sender, p in people.items():
        t = p.pop("_topics")
        p["topics"] = [{"topic": k, "count": n} for k, n in sorted(t.items(), key=lambda x: (-x[1], x[0]))[:10]]
        out[sender] = p
    return out


def write_contributors(ws, qas, topics: dict[str, str] | None = None) -> int:
    """Rewrite the contributors table (call inside the faq stage's transaction). Returns how many people."""
    ws.db.executescript(SCHEMA) if not ws.db.in_transaction else ws.db.execute(SCHEMA.strip().rstrip(";"))
    people = tally(qas, topics)
    ws.db.execute("DELETE FROM contributors")
    ws.db.executemany("INSERT INTO contributors VALUES (?, ?, ?, ?, ?, ?)",
                      [(s, p["name"], p["questions"], p["answers"], p["acknowledged"],
                        json.dumps(p["topics"], ensure_ascii=False)) for s, p in people.items()])
    return len(people)


def top_contributors(ws, limit: int = 10) -> list[dict]:
    """People by answers given (acknowledged answers first), for reports and the weekly digest."""
    ws.db.executescript(SCHEMA)
    rows = ws.db.execute("SELECT sender, name, questions, answers, acknowledged, topics FROM contributors"
                         " ORDER BY answers DESC, acknowledged DESC, sender LIMIT ?", (limit,)).fetchall()
    return [{"sender": r[0], "name": r[1], "questions": r[2], "answers": r[3], "acknowledged": r[4],
             "topics": json.loads(r[5] or "[]")} for r in rows]
