"""Contributors: who asks, who answers, whose answers the askers acknowledged, and on which topics."""

from __future__ import annotations

import json
from collections import Counter, defaultdict



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
