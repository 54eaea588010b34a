"""The insights stage (issue 15): per question, when it was first answered, who would know the open ones,
the points each answer earned, and which answers a later message superseded.

Runs after faq (it reads the entries: which questions count, which are held for review, how often an entry
was asked) and before publish, which shows it on report.html; `chendian report` aggregates the same tables.

A night costs what the day touched (issue 16): each question's inputs are kept as digests (`insights_inputs`),
and only the questions whose inputs changed get their response and points rows again; an open question's
experts are redone when it changed or when an answered question like it came, went or changed in a way that
can move its list (summarize.qa.insights.experts_to_redo); the messages with a correcting phrase are remembered
(`insights.corrections` in `state`: only the messages added since are looked at) and only the answers near one
are read. Only the rows of questions whose inputs changed, the lists that differ and the corrections that
differ are written. Changed settings (or a workspace from before) redo all.
"""

from __future__ import annotations

import json

import numpy as np

from ...model import QA, Answer
from ...store import Workspace, json_column
from ...summarize.qa.insights import (CORRECTION_WORDS, AnsweredPool, Expert, PointRules, QuestionInputs, Said,
                                      answer_points, answerers, answers_near, correction_phrase, credited_repeats, digest,
                                      experts_for, experts_to_redo, inputs_again, question_inputs, responses, supersessions,
                                      unit_rows)
from ...summarize.text.embed import content_key
from . import RunContext, Stage
from .embed import workspace_cache

SETTINGS_KEY = "insights.settings"  # digest of the settings the stored rows were computed with
CORRECTIONS_KEY = "insights.corrections"  # {"rowid": the last message looked at, "ids": those with a correction}
VERSION = 4  # bump when what a row holds changes: the next run redoes every row


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    cfg, tz = ws.config.insights, ws.config.tz
    floor = ws.config.faq.min_worthy_unanswered
    cache = workspace_cache(ws)
    model = cache.embedder.name
    settings = digest(VERSION, str(tz), floor, model, cfg.expert_min_similarity, cfg.same_topic_weight,
                      cfg.points_answer, cfg.points_acknowledged, cfg.points_per_repeat, cfg.max_repeats,
                      cfg.supersede_window_hours)
    fresh = ws.get_state(SETTINGS_KEY) != settings
    before = {} if fresh else _inputs(ws)

    # The questions, read whole only where their row changed (or where a correction needs them all).
    raw = ws.db.execute("SELECT id, chat, thread_id, question_id, question, asker, asker_name, ts, answers, score"
                        " FROM qas ORDER BY ts, id").fetchall()
    source = {r[0]: digest(*r) for r in raw}
    whole: dict[str, QA] = {r[0]: _qa(r, rc.warn) for r in raw if r[0] not in before or before[r[0]].source != source[r[0]]}
    qas = [whole.get(r[0]) or QA(r[0], r[1], r[2], r[3], r[4] or "", r[5], r[6], int(r[7] or 0)) for r in raw]
    pairs = {qa.id: answerers(qa) if qa.id in whole else before[qa.id].pairs() for qa in qas}
    has_answers = {qa.id for qa in qas if (qa.answers if qa.id in whole else before[qa.id].answered is not None)}
    entry_of = _entries(ws, rc.warn)  # qa id → (hidden, worthy, count, published, approved) of its FAQ entry
    # The questions ops see on 待回答: not under a hidden entry, and likely worth an entry at all.
    counted = {qa.id for qa in qas if not (qa.id in entry_of and (entry_of[qa.id][0] or entry_of[qa.id][1] < floor))}
    # Who would know: unanswered questions and those whose entry waits for review (low confidence).
    open_qas = [qa for qa in qas if qa.id in counted and (qa.id not in has_answers or (
        qa.id in entry_of and not entry_of[qa.id][3] and not entry_of[qa.id][4]))]
    open_ids = {qa.id for qa in open_qas}
    answered = [qa for qa in qas if qa.id in has_answers]
    thread_topic = ws.thread_topics()
    topic_of = {qa.id: thread_topic[qa.thread_id] for qa in qas if qa.thread_id in thread_topic}
    rules = PointRules(cfg.points_answer, cfg.points_acknowledged, cfg.points_per_repeat, cfg.max_repeats)
    now = {qa.id: question_inputs(source[qa.id], qa.question, qa.asker, qa.ts, pairs[qa.id], qa.id in has_answers,
                                  qa.id in counted, credited_repeats(entry_of[qa.id][2] if qa.id in entry_of else 1, rules),
                                  qa.id in open_ids, topic_of.get(qa.id), content_key(model, qa.question))
           if qa.id in whole else
           # its row is as it was: the digests of the row alone are the stored ones (most of a night's questions)
           inputs_again(before[qa.id], qa.question, qa.asker, qa.id in counted,
                        credited_repeats(entry_of[qa.id][2] if qa.id in entry_of else 1, rules), qa.id in open_ids,
                        topic_of.get(qa.id))
           for qa in qas}

    def read_whole(ids) -> None:
        for r in raw:
            if r[0] in ids and r[0] not in whole:
                whole[r[0]] = _qa(r, rc.warn)

    # -- responses and points: per question, from its own inputs -------------------------------------------
    redo_ids = {qa.id for qa in qas if now[qa.id].rows is not None and (qa.id not in before or before[qa.id].rows != now[qa.id].rows)}
    read_whole(redo_ids)
    rows_redo = [whole[qa.id] for qa in qas if qa.id in redo_ids]
    rows_drop = [qid for qid, b in before.items() if b.rows is not None and (qid not in now or now[qid].rows != b.rows)]
    message_ts = _message_ts(ws, [m for qa in rows_redo for a in qa.answers for m in a.message_ids])
    response_rows = responses(rows_redo, message_ts, tz)
    points = answer_points(rows_redo, {qa.id: entry_of[qa.id][2] for qa in rows_redo if qa.id in entry_of}, rules, tz)

    # -- who would know ------------------------------------------------------------------------------------
    experts: dict[str, list[Expert]] = {}
    shown = {} if fresh else _shown(ws)
    redo = set(open_ids)  # with no answered question (or none open) nobody is suggested: every list goes
    if open_qas and answered:
        vecs = unit_rows(cache.encode([q.question for q in open_qas] + [q.question for q in answered])[0])
        open_vecs = vecs[:len(open_qas)]
        pool = AnsweredPool(answered, vecs[len(open_qas):], topic_of, [pairs[qa.id] for qa in answered])
        if before:
            went = [b.question_key for qid, b in before.items() if b.answered is not None and now.get(qid) != b]
            redo = experts_to_redo(open_qas, open_vecs, pool, topic_of, now, before, _vectors(ws, went), shown,
                                   min_similarity=cfg.expert_min_similarity, same_topic_weight=cfg.same_topic_weight)
        picked = [i for i, q in enumerate(open_qas) if q.id in redo]
        experts = experts_for([open_qas[i] for i in picked], open_vecs[picked], pool, topic_of,
                              min_similarity=cfg.expert_min_similarity, same_topic_weight=cfg.same_topic_weight)
    # rows to drop: questions no longer open, and those redone whose list changed
    experts_drop = {qid for qid in shown if qid not in open_ids or (qid in redo and shown[qid] != experts.get(qid))}
    experts_new = {qid: found for qid, found in experts.items() if shown.get(qid) != found}

    # -- answers a later message corrected -----------------------------------------------------------------
    correcting, corrections_state = _corrections(ws, fresh)
    if correcting:  # a correction can reach any answer: every question read whole
        read_whole(source)
        qas = [whole[qa.id] for qa in qas]
    said, thread_of = _said(ws, qas, correcting) if correcting else ([], {})
    superseded = {(s.qa_id, s.answer_message_id, s.answer_sender, s.by_message_id, s.by_ts, s.phrase)
                  for s in supersessions(qas, said, thread_of, window_hours=cfg.supersede_window_hours)}
    stored = set() if fresh else {tuple(r) for r in ws.db.execute(
        "SELECT qa_id, answer_message_id, answer_sender, by_message_id, by_ts, phrase FROM superseded_answers")}

    inputs_new = [(qid, x) for qid, x in now.items() if before.get(qid) != x]
    inputs_gone = [qid for qid in before if qid not in now]
    with ws.transaction():
        if fresh:
            for table in ("question_responses", "answer_points", "expert_suggestions", "superseded_answers",
                          "insights_inputs"):
                ws.db.execute(f"DELETE FROM {table}")
        for table in ("question_responses", "answer_points"):
            _delete(ws, table, "qa_id", rows_drop)
        ws.db.executemany("INSERT INTO question_responses VALUES (?, ?, ?, ?, ?)",
                          [(r.qa_id, r.chat, r.week, r.asked_ts, r.first_answer_ts) for r in response_rows])
        ws.db.executemany("INSERT INTO answer_points VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(p.qa_id, p.sender, p.name, p.week, p.points, int(p.acknowledged), p.repeats) for p in points])
        _delete(ws, "expert_suggestions", "qa_id", sorted(experts_drop | set(experts_new)))
        ws.db.executemany("INSERT INTO expert_suggestions VALUES (?, ?, ?, ?, ?, ?)",
                          [(qa_id, rank, e.sender, e.name, e.score, json.dumps(e.similar_qa_ids))
                           for qa_id, found in sorted(experts_new.items()) for rank, e in enumerate(found, 1)])
        ws.db.executemany("DELETE FROM superseded_answers WHERE qa_id = ? AND answer_message_id = ?",
                          [s[:2] for s in sorted(stored - superseded)])
        ws.db.executemany("INSERT INTO superseded_answers VALUES (?, ?, ?, ?, ?, ?)", sorted(superseded - stored))
        _delete(ws, "insights_inputs", "qa_id", inputs_gone + [qid for qid, _ in inputs_new])
        ws.db.executemany("INSERT INTO insights_inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          [(qid, x.source, x.rows, x.open, x.answered, x.topic, x.question_key, x.answerers)
                           for qid, x in inputs_new])
        ws.set_state(CORRECTIONS_KEY, corrections_state)
        ws.set_state(SETTINGS_KEY, settings)
    questions, answered_n = ws.db.execute(
        "SELECT count(*), sum(CASE WHEN first_answer_ts IS NOT NULL THEN 1 ELSE 0 END) FROM question_responses").fetchone()
    return {"questions": questions, "answered": answered_n or 0,
            "open_with_experts": ws.db.execute("SELECT count(DISTINCT qa_id) FROM expert_suggestions").fetchone()[0],
            "open": len(open_qas), "scored_answers": ws.db.execute("SELECT count(*) FROM answer_points").fetchone()[0],
            "superseded": len(superseded), "questions_redone": len(rows_redo), "experts_redone": len(redo)}


def _inputs(ws: Workspace) -> dict[str, QuestionInputs]:
    return {r[0]: QuestionInputs(*r[1:]) for r in ws.db.execute(
        "SELECT qa_id, source, rows_key, open_key, answered_key, topic, question_key, answerers FROM insights_inputs")}


def _qa(r, warn) -> QA:
    """A row of `qas` as Workspace.qas reads it."""
    return QA(id=r[0], chat=r[1], thread_id=r[2], question_id=r[3], question=r[4] or "", asker=r[5], asker_name=r[6],
              ts=int(r[7] or 0), answers=[Answer.from_json(a) for a in json_column(r[8], list, f"qas {r[0]} answers", warn)
                                          if isinstance(a, dict)], score=float(r[9] or 0))


def _entries(ws: Workspace, warn) -> dict[str, tuple[bool, float, int, bool, bool]]:
    """qa id → (hidden, worthy, count, published, approved) of the FAQ entry that holds it (the later one, in
    the order Workspace.faq_entries reads them, when two do): the columns this stage needs, as it reads them."""
    out = {}
    for eid, qa_ids, hidden, worthy, count, published, approved in ws.db.execute(
            "SELECT id, qa_ids, hidden, worthy, count, published, approved FROM faq_entries ORDER BY first_ts, id"):
        value = (bool(hidden), 1.0 if worthy is None else float(worthy), count or 0,
                 bool(1 if published is None else published), bool(approved))
        for qid in json_column(qa_ids, list, f"faq_entries {eid} qa_ids", warn):
            if isinstance(qid, str):
                out[qid] = value
    return out


def _shown(ws: Workspace) -> dict[str, list[Expert]]:
    """The experts stored for each question (as Workspace.expert_suggestions reads them), best first."""
    out: dict[str, list[Expert]] = {}
    for qid, sender, name, score, similar in ws.db.execute(
            "SELECT qa_id, sender, name, score, similar_qa_ids FROM expert_suggestions ORDER BY qa_id, rank"):
        out.setdefault(qid, []).append(Expert(sender, name or sender, score, json.loads(similar or "[]")))
    return out


def _vectors(ws: Workspace, keys: list[str]) -> dict[str, np.ndarray]:
    """Unit vectors from the embedding cache by key (the questions' texts as they were)."""
    out = {}
    for k, blob in ws.db.execute("SELECT key, vec FROM embeddings WHERE key IN (SELECT value FROM json_each(?))",
                                 (json.dumps(sorted(set(keys))),)):
        v = np.frombuffer(blob, dtype=np.float16).astype(np.float32)[None, :]
        out[k] = unit_rows(v)[0]
    return out


def _message_ts(ws: Workspace, ids: list[str]) -> dict[str, int]:
    return dict(ws.db.execute("SELECT id, ts FROM messages WHERE id IN (SELECT value FROM json_each(?))",
                              (json.dumps(sorted(set(ids))),)))


def _corrections(ws: Workspace, fresh: bool) -> tuple[list[str], dict]:
    """The messages with a correcting phrase: those found before (`state`) and those among the messages added
    since (a recalled one is left out where they are read)."""
    seen = {} if fresh else (ws.get_state(CORRECTIONS_KEY) or {})
    since, found = int(seen.get("rowid", 0)), set(seen.get("ids", []))
    words = " OR ".join("instr(text, ?) > 0" for _ in CORRECTION_WORDS)
    for mid, text in ws.db.execute(f"SELECT id, text FROM messages WHERE rowid > ? AND ({words})",
                                   (since, *CORRECTION_WORDS)):
        if correction_phrase(text):
            found.add(mid)
    top = ws.db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
    return sorted(found), {"rowid": top, "ids": sorted(found)}


def _said(ws: Workspace, qas: list, correcting: list[str]) -> tuple[list[Said], dict[str, str]]:
    """What find_superseded needs, in chat/time order, and their conversations: the correcting messages and the
    answers near them (summarize.qa.insights.answers_near)."""
    rows = {r[0]: r for r in _message_rows(ws, correcting) if not r[7]}
    corrections = [Said(r[0], r[1], r[2], r[4], r[5], r[6], bool(r[7])) for r in rows.values()]
    threads = sorted({r[8] for r in rows.values() if r[8] is not None})
    in_threads = {mid for mid, in ws.db.execute(
        "SELECT message_id FROM message_threads WHERE thread_id IN (SELECT value FROM json_each(?))",
        (json.dumps(threads),))} if threads else set()
    rows.update((r[0], r) for r in _message_rows(ws, answers_near(qas, corrections, in_threads)))
    ordered = sorted(rows.values(), key=lambda r: (r[1], r[2], r[3]))
    return ([Said(r[0], r[1], r[2], r[4], r[5], r[6], bool(r[7])) for r in ordered],
            {r[0]: r[8] for r in ordered if r[8] is not None})


def _message_rows(ws: Workspace, ids) -> list[tuple]:
    ids = sorted(set(ids))
    if not ids:
        return []
    return ws.db.execute(
        "SELECT m.id, m.chat, m.ts, m.rowid, m.sender, m.text, m.reply_to, m.recalled, mt.thread_id FROM messages m"
        " LEFT JOIN message_threads mt ON mt.message_id = m.id WHERE m.id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),)).fetchall()


def _delete(ws: Workspace, table: str, column: str, ids) -> None:
    ids = sorted(set(ids))
    if ids:
        ws.db.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))", (json.dumps(ids),))


STAGE = Stage("insights", run,
              reads=("messages", "message_threads", "qas", "topic_members", "faq_entries", "embeddings"),
              writes=("question_responses", "expert_suggestions", "answer_points", "superseded_answers",
                      "insights_inputs"))
