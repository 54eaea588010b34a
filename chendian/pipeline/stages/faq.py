"""The faq stage: the same question asked in different threads and days becomes one entry.

Writes faq_entries, faq_members (which entry each question was placed in: a question stays in its entry on
later runs) and contributors. Human curation is stored by entry id in `curation` (chendian/curation.py, which
`chendian faq …`, `chendian review` and the review page call) and re-applied, in order, after every rebuild:
no run loses a human edit. Under `[faq] publish` an entry is published or waits in the review queue.
"""

from __future__ import annotations

import json

import numpy as np

from ...curation import curation_log
from ...model import Contributor, FaqEntry
from ...store import Workspace
from ...summarize.qa.contributors import tally
from ...summarize.qa.faq import FeatureMemo, build_entries, entry_record, publishable
from ...summarize.talks import lecture_questions, qas_for_faq
from . import RunContext, Stage
from .embed import workspace_cache
from .topics import encode as embed_through


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    qas, lecture = talk_aware(ws, ws.qas(warn=rc.warn), rc)
    if not qas:
        rc.warn("no questions extracted (run the extract stage first)")
    cache = workspace_cache(ws)

    # The vectors read this run, each text's read from the store once (clustering, worthiness and answer fit ask
    # for the same texts). Rounded to float16 (what the cache stores and hands back) and kept as float32, exactly
    # those values: converting every call's rows from float16 again was seconds a night.
    seen: dict[str, np.ndarray] = {}

    def encode(texts):  # texts not cached yet are embedded by the executor's workers
        texts = list(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in seen))
        if todo:
            seen.update(zip(todo, embed_through(ws, rc, cache, todo).astype(np.float16).astype(np.float32)))
        if not texts:
            return embed_through(ws, rc, cache, texts)
        return np.array([seen[t] for t in texts], dtype=np.float32)

    previous = {qa: e for qa, e in ws.db.execute("SELECT qa_id, entry_id FROM faq_members")}
    actions = curation_log(ws)
    topics = ws.thread_topics()
    memo = FeatureMemo(dict(ws.db.execute("SELECT key, value FROM faq_features")))
    entries = build_entries(qas, encode if qas else None, previous, topics, actions, rc.warn, memo,
                            asks_nobody=lecture)
    records = [entry_record(e) for e in entries.values()]
    mode, floor = ws.config.faq.publish, ws.config.faq.min_confidence
    for built, record in zip(entries.values(), records):
        record.published = publishable(built, mode, floor)
    members = [(qa_id, e.id) for e in records for qa_id in e.qa_ids]
    people = tally(qas, topics)
    with ws.transaction():
        ws.db.execute("DELETE FROM faq_entries")
        ws.db.executemany("INSERT INTO faq_entries (id, question, answer, answerers, variants, count, topic_id, qa_ids,"
                          " thread_ids, first_ts, last_ts, answered, hidden, pinned, approved, answers, confidence,"
                          " published, worthy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          [entry_row(e) for e in records])
        ws.db.execute("DELETE FROM faq_members")
        ws.db.executemany("INSERT INTO faq_members (qa_id, entry_id) VALUES (?, ?)", members)
        ws.db.execute("DELETE FROM contributors")
        ws.db.executemany("INSERT INTO contributors VALUES (?, ?, ?, ?, ?, ?)", [contributor_row(p) for p in people])
        ws.db.executemany("DELETE FROM faq_features WHERE key = ?", [(k,) for k in memo.stale()])
        ws.db.executemany("INSERT INTO faq_features (key, value) VALUES (?, ?)", list(memo.added.items()))
    return {"entries": len(records), "repeated": sum(1 for e in records if e.count > 1),
            "answered": sum(1 for e in records if e.answered), "hidden": sum(1 for e in records if e.hidden),
            "curation_actions": len(actions), "contributors": len(people),
            "published": sum(1 for e in records if e.published),
            "held_for_review": sum(1 for e in records if e.answered and not e.hidden and not e.published),
            "features_computed": len(memo.added)}


def talk_aware(ws: Workspace, qas, rc: RunContext):
    """The questions with the talks stage's corrections (no lecture lines as answers, no hidden talk's Q&A), and
    the ids of those asked in a lecture's own lines."""
    talks = ws.talks(warn=rc.warn)
    if not talks:
        return qas, set()
    messages = ws.messages_by_id(mid for t in talks for mid, role in t.roles.items() if role == "talk")
    return qas_for_faq(qas, talks, messages), lecture_questions(qas, talks)


STAGE = Stage("faq", run, reads=("messages", "qas", "topic_members", "curation", "embeddings", "talks", "talk_messages"),
              writes=("faq_entries", "faq_members", "contributors", "faq_features"))


def entry_row(e: FaqEntry) -> tuple:
    """An entry as a row of `faq_entries`, in the table's column order (Workspace.faq_entries reads it back)."""
    def encode(value) -> str:
        return json.dumps(value, ensure_ascii=False)

    return (e.id, e.question, e.answer, encode([a.to_json() for a in e.answerers]), encode(e.variants), e.count,
            e.topic_id, json.dumps(e.qa_ids), json.dumps(e.thread_ids), e.first_ts, e.last_ts, int(e.answered),
            int(e.hidden), int(e.pinned), int(e.approved), encode([a.to_json() for a in e.answers]),
            e.confidence, int(e.published), e.worthy)


def contributor_row(p: Contributor) -> tuple:
    """A contributor as a row of `contributors` (Workspace.contributors reads it back)."""
    topics = [{"topic": topic, "count": n} for topic, n in p.topics.items()]
    return (p.sender, p.name, p.questions, p.answers, p.acknowledged, json.dumps(topics, ensure_ascii=False))
