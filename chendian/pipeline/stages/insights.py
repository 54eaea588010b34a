"""The insights stage (issue 15): per question, when it was first answered, who would know the open ones,
the points each answer earned, and which answers a later message superseded.

Runs after faq (it reads the entries: which questions count, which are held for review, how often an entry
was asked) and before publish, which shows it on report.html; `chendian report` aggregates the same tables.
"""

from __future__ import annotations

import json

from ...store import Workspace
from ...summarize.qa.insights import PointRules, answer_points, find_superseded, responses, suggest_experts
from . import RunContext, Stage
from .embed import workspace_cache


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    cfg, tz = ws.config.insights, ws.config.tz
    qas = ws.qas(warn=rc.warn)
    entries = ws.faq_entries(include_hidden=True, warn=rc.warn)
    entry_of = {qa: e for e in entries for qa in e.qa_ids}
    # The questions ops see on 待回答: not under a hidden entry, and likely worth an entry at all.
    floor = ws.config.faq.min_worthy_unanswered
    counted = [qa for qa in qas if not (qa.id in entry_of and (entry_of[qa.id].hidden or entry_of[qa.id].worthy < floor))]
    message_ts = dict(ws.db.execute("SELECT id, ts FROM messages"))
    response_rows = responses(counted, message_ts, tz)

    # Who would know: unanswered questions and those whose entry waits for review (low confidence).
    open_qas = [qa for qa in counted if not qa.answers or (qa.id in entry_of and not entry_of[qa.id].published
                                                         and not entry_of[qa.id].approved)]
    answered = [qa for qa in qas if qa.answers]
    thread_topic = ws.thread_topics()
    topic_of = {qa.id: thread_topic[qa.thread_id] for qa in qas if qa.thread_id in thread_topic}
    cache = workspace_cache(ws)
    experts = suggest_experts(open_qas, answered, lambda texts: cache.encode(list(texts))[0], topic_of,
                              min_similarity=cfg.expert_min_similarity, same_topic_weight=cfg.same_topic_weight)

    rules = PointRules(cfg.points_answer, cfg.points_acknowledged, cfg.points_per_repeat, cfg.max_repeats)
    points = answer_points(counted, {qa: e.count for qa, e in entry_of.items()}, rules, tz)

    thread_of, _ = ws.thread_links()
    superseded = find_superseded(qas, ws.messages(), thread_of, window_hours=cfg.supersede_window_hours)

    with ws.transaction():
        ws.db.execute("DELETE FROM question_responses")
        ws.db.executemany("INSERT INTO question_responses VALUES (?, ?, ?, ?, ?)",
                          [(r.qa_id, r.chat, r.week, r.asked_ts, r.first_answer_ts) for r in response_rows])
        ws.db.execute("DELETE FROM expert_suggestions")
        ws.db.executemany("INSERT INTO expert_suggestions VALUES (?, ?, ?, ?, ?, ?)",
                          [(qa_id, rank, e.sender, e.name, e.score, json.dumps(e.similar_qa_ids))
                           for qa_id, found in experts.items() for rank, e in enumerate(found, 1)])
        ws.db.execute("DELETE FROM answer_points")
        ws.db.executemany("INSERT INTO answer_points VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(p.qa_id, p.sender, p.name, p.week, p.points, int(p.acknowledged), p.repeats) for p in points])
        ws.db.execute("DELETE FROM superseded_answers")
        ws.db.executemany("INSERT INTO superseded_answers VALUES (?, ?, ?, ?, ?, ?)",
                          [(s.qa_id, s.answer_message_id, s.answer_sender, s.by_message_id, s.by_ts, s.phrase)
                           for s in superseded])
    return {"questions": len(response_rows), "answered": sum(1 for r in response_rows if r.first_answer_ts is not None),
            "open_with_experts": len(experts), "open": len(open_qas), "scored_answers": len(points),
            "superseded": len(superseded)}


STAGE = Stage("insights", run,
              reads=("messages", "message_threads", "qas", "topic_members", "faq_entries", "embeddings"),
              writes=("question_responses", "expert_suggestions", "answer_points", "superseded_answers"))
