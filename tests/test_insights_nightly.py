"""Issue 16 for the insights stage: a night redoes what the day touched, and gives what recomputing all gives.

The algorithms are held to their definitions on random inputs (who would know, redone only where a change can
move a list, against scoring everything again; the corrections, looked up per conversation and answerer, against
walking every earlier answer), and the stage on a generated workspace to a recomputation from scratch.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections import defaultdict
from datetime import datetime, timedelta
from re import _constants as sre_constants, _parser as sre_parse  # the regex's tree (Python 3.11+)
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from chatgen import generate, write_jsonl
from click.testing import CliRunner

from chendian.cli import main
from chendian.model import QA, Answer, Message
from chendian.summarize.qa.insights import (CORRECTION_RE, CORRECTION_WORDS, AnsweredPool, Said, Supersession,
                                            answerers, answers_near, digest, correction_phrase, experts_for, experts_to_redo,
                                            find_superseded, question_inputs, suggest_experts, supersessions,
                                            unit_rows)

SH = ZoneInfo("Asia/Shanghai")


# -- the corrections ------------------------------------------------------------------------------------------

def _language(pattern) -> set[str]:
    """Every string a regex without unbounded repeats matches (sre_parse's tree, expanded)."""
    out = {""}
    for op, arg in pattern:
        if op is sre_constants.LITERAL:
            alts = {chr(arg)}
        elif op is sre_constants.IN:
            alts = set()
            for kind, value in arg:
                assert kind is sre_constants.LITERAL, kind
                alts.add(chr(value))
        elif op is sre_constants.SUBPATTERN:
            alts = _language(arg[-1])
        elif op is sre_constants.BRANCH:
            alts = set().union(*(_language(b) for b in arg[1]))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, sub = arg
            assert high <= 3, "unbounded repeat"
            one = _language(sub)
            alts, level = set(), {""}
            for n in range(high + 1):
                if n >= low:
                    alts |= level
                level = {a + b for a in level for b in one}
        else:
            raise AssertionError(f"unexpected regex node {op}")
        out = {a + b for a in out for b in alts}
    return out


def test_every_correction_contains_a_correction_word():
    # the stage reads only messages with one of CORRECTION_WORDS (and the answers): none that matches may be missed
    phrases = _language(sre_parse.parse(CORRECTION_RE.pattern))
    assert len(phrases) > 50 and "刚才说错了" in phrases
    missing = [p for p in phrases if not any(w in p for w in CORRECTION_WORDS)]
    assert not missing, missing[:5]


def _superseded_by_walking(qas, messages, thread_of, window_hours):
    """The definition (the rule as first written): every earlier answer of the chat, latest first."""
    answer_of = {}
    for qa in qas:
        for k, a in enumerate(qa.answers):
            for mid in a.message_ids:
                answer_of[mid] = (qa, k)
    seen, first_msg, ts_of, out, done = defaultdict(list), {}, {}, [], set()
    for m in messages:
        ts = int(m.time.timestamp())
        ts_of[m.id] = ts
        own = None
        if m.id in answer_of:
            qa, k = answer_of[m.id]
            own = qa.id
            if (qa.id, k) not in first_msg:
                first_msg[(qa.id, k)] = m.id
                seen[m.chat].append((ts, m.id))
        phrase = correction_phrase(m.text) if not m.recalled else None
        if not phrase:
            continue
        candidates = [mid for _, mid in reversed(seen[m.chat]) if answer_of[mid][0].id != own]
        target = None
        if m.reply_to and m.reply_to in answer_of and answer_of[m.reply_to][0].id != own:
            target = m.reply_to
        if target is None and m.id in thread_of:
            target = next((mid for mid in candidates if thread_of.get(mid) == thread_of[m.id]), None)
        if target is None:
            target = next((mid for mid in candidates if ts - ts_of[mid] <= window_hours * 3600
                           and answer_of[mid][0].answers[answer_of[mid][1]].sender == m.sender), None)
        if target is None:
            continue
        qa, k = answer_of[target]
        if (qa.id, k) in done:
            continue
        done.add((qa.id, k))
        out.append(Supersession(qa.id, first_msg.get((qa.id, k), target), qa.answers[k].sender, m.id, ts, phrase))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_corrections_equal_walking_every_earlier_answer(seed):
    rng = random.Random(seed)
    t0 = datetime(2024, 3, 4, 9, tzinfo=SH)
    people = [f"u{i}" for i in range(6)]
    texts = ["好的", "三楼", "周五交", "刚才说错了，是四楼", "已经改了，走新流程", "以最新通知为准", "更正一下：周四",
             "已经改了吗？", "之前说的作废", "不用这样了"]
    messages, qas = [], []
    minutes = 0
    for chat in ("c1", "c2"):
        ids = []
        for i in range(160):
            minutes += rng.choice([0, 1, 5, 30, 600, 3000])  # same-minute messages too (rowid order decides)
            mid = f"{chat}-{i}"
            reply = rng.choice(ids) if ids and rng.random() < 0.2 else None
            messages.append(Message(mid, chat, t0 + timedelta(minutes=minutes), rng.choice(people), "名", "text",
                                    rng.choice(texts), "t:1", reply_to=reply, recalled=rng.random() < 0.03))
            ids.append(mid)
        for k in range(30):  # questions whose answers are some of the chat's messages, some of several messages
            picks = sorted(rng.sample(range(len(ids)), rng.randint(1, 4)))
            answers = [Answer([ids[p] for p in picks[a:a + 2]], rng.choice(people), "名", "答", 1.0)
                       for a in range(0, len(picks), 2)]
            qas.append(QA(f"q-{chat}-{k}", chat, None, f"{chat}-q{k}", "问", rng.choice(people), "问", 0, answers))
    thread_of = {m.id: f"t{rng.randint(0, 12)}" for m in messages if rng.random() < 0.8}
    messages.sort(key=lambda m: (m.chat, m.time))  # stable: the list order stands for rowid
    want = _superseded_by_walking(qas, messages, thread_of, 72)
    assert len(want) >= 5
    assert find_superseded(qas, messages, thread_of, window_hours=72) == want
    # only the answers' messages and those with a correcting word, as the stage hands them over
    answer_ids = {m for qa in qas for a in qa.answers for m in a.message_ids}
    some = [m for m in messages if m.id in answer_ids or any(w in m.text for w in CORRECTION_WORDS)]
    assert find_superseded(qas, some, {m: t for m, t in thread_of.items() if m in {x.id for x in some}},
                           window_hours=72) == want
    # only the correcting messages and the answers near them, as the stage reads them
    said = [Said(m.id, m.chat, int(m.time.timestamp()), m.sender, m.text, m.reply_to, m.recalled) for m in messages]
    corrections = [x for x in said if not x.recalled and correction_phrase(x.text)]
    threads = {thread_of[c.id] for c in corrections if c.id in thread_of}
    near = answers_near(qas, corrections, {m for m, t in thread_of.items() if t in threads})
    kept = [x for x in said if x.id in near or x in corrections]
    assert len(kept) < len(said) * 0.9
    assert supersessions(qas, kept, {m: thread_of[m] for m in (x.id for x in kept) if m in thread_of},
                         window_hours=72) == want


# -- who would know: looking at the best matches first ----------------------------------------------------------

def _experts_pair_by_pair(open_qas, answered, vec, topic_of, min_similarity=0.5, weight=1.5):
    """The definition: every (open, answered) pair scored on its own (as in test_insights.py)."""
    want = {}
    for q in open_qas:
        matches, names = defaultdict(list), {}
        for past in answered:
            sim = float(np.float32(vec[q.question] @ vec[past.question]))
            if past.id == q.id or sim < min_similarity:
                continue
            w = sim * (weight if topic_of.get(q.id) and topic_of.get(past.id) == topic_of.get(q.id) else 1.0)
            for sender in {a.sender for a in past.answers if a.sender and a.sender != q.asker}:
                matches[sender].append((w, past.id))
                names[sender] = next(a.sender_name for a in past.answers if a.sender == sender)
        experts = sorted((-round(sum(x for x, _ in sorted(f, key=lambda y: (-y[0], y[1]))[:3]), 4), s,
                          [i for _, i in sorted(f, key=lambda y: (-y[0], y[1]))[:3]]) for s, f in matches.items())
        if experts:
            want[q.id] = [(s, names[s], -score, ids) for score, s, ids in experts[:3]]
    return want


@pytest.mark.parametrize("centres,members,spread", [(2, 6, 0.3), (3, 60, 0.5), (1, 400, 0.2), (4, 25, 0.8)])
def test_looking_at_the_best_matches_first_equals_scoring_every_pair(centres, members, spread):
    # hundreds of matches per open question, few members answering many or many answering few: the first look
    # settles some lists and not others
    rng = np.random.default_rng(centres * 1000 + members)
    middle = rng.normal(size=(centres, 16))
    vec = {}

    def qa(i, answered):
        v = middle[rng.integers(centres)] + spread * rng.normal(size=16)
        vec[f"问题{i}"] = (v / np.linalg.norm(v)).astype(np.float32)
        answers = [Answer([f"a{i}-{k}"], f"u{rng.integers(members)}", f"名{rng.integers(3)}", "答", 1.0)
                   for k in range(rng.integers(1, 3))] if answered else []
        return QA(id=f"q{i:04d}", chat="c", thread_id=None, question_id=f"m{i}", question=f"问题{i}",
                  asker=f"u{rng.integers(members)}", asker_name="问", ts=i, answers=answers)

    answered = [qa(i, True) for i in range(700)]
    open_qas = [qa(i, False) for i in range(700, 760)] + answered[:10]
    topic_of = {q.id: f"t{rng.integers(2)}" for q in open_qas + answered if rng.random() < 0.7}
    got = suggest_experts(open_qas, answered, lambda texts: np.stack([vec[t] for t in texts]), topic_of,
                          min_similarity=0.5, same_topic_weight=1.5)
    want = _experts_pair_by_pair(open_qas, answered, vec, topic_of)
    assert len(want) > 40
    # (a score may round the other way in its last digit: a pair scored alone and in a matrix product can differ
    # in the last bit of a float32)
    assert {k: [(e.sender, e.name, e.similar_qa_ids) for e in v] for k, v in got.items()} == \
        {k: [(s, n, ids) for s, n, _, ids in v] for k, v in want.items()}
    assert all(abs(e.score - w[2]) <= 1.01e-4 for k, v in got.items() for e, w in zip(v, want[k]))


# -- who would know, night after night ------------------------------------------------------------------------

class World:
    """Random questions around a few needs: open ones, answered ones (several answerers, names that change),
    topics, askers who also answer."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.centres = self.rng.normal(size=(6, 16))
        self.vec: dict[str, np.ndarray] = {}
        self.n = 0

    def text(self) -> str:
        v = self.centres[self.rng.integers(6)] + 0.45 * self.rng.normal(size=16)
        self.n += 1
        t = f"问题{self.n}"
        self.vec[t] = v.astype(np.float32)
        return t

    def answers(self, k: int | None = None) -> list[Answer]:
        k = k or int(self.rng.integers(1, 4))
        return [Answer([f"a{self.n}-{i}"], f"u{self.rng.integers(10)}", f"名{self.rng.integers(4)}", "答", 1.0)
                for i in range(k)]

    def qa(self, ts: int, answered: bool) -> QA:
        text = self.text()
        return QA(id=f"q{self.n:04d}", chat="c", thread_id=None, question_id=f"m{self.n}", question=text,
                  asker=f"u{self.rng.integers(10)}", asker_name="问", ts=ts, answers=self.answers() if answered else [])

    def encode(self, texts):
        return np.stack([self.vec[t] for t in texts])


def _night(world, qas, open_ids, topic_of, before, shown):
    """What the stage does for who would know on a night: redo what can have moved, keep the rest."""
    ordered = sorted(qas, key=lambda q: (q.ts, q.id))
    open_qas = [q for q in ordered if q.id in open_ids]
    answered = [q for q in ordered if q.answers]
    now = {q.id: question_inputs(digest(q.question, q.asker, q.ts, [(a.message_ids, a.sender, a.sender_name)
                                                                     for a in q.answers]),
                                 q.question, q.asker, q.ts, answerers(q), bool(q.answers), True, 0, q.id in open_ids,
                                 topic_of.get(q.id), q.question) for q in ordered}
    if not open_qas or not answered:
        return {}, now, set()
    vecs = unit_rows(world.encode([q.question for q in open_qas] + [q.question for q in answered]))
    pool = AnsweredPool(answered, vecs[len(open_qas):], topic_of)
    old = {b.question_key: unit_rows(world.vec[b.question_key][None, :])[0] for b in before.values()}
    redo = experts_to_redo(open_qas, vecs[:len(open_qas)], pool, topic_of, now, before, old, shown,
                           min_similarity=0.5, same_topic_weight=1.5) if before else set(open_ids)
    picked = [i for i, q in enumerate(open_qas) if q.id in redo]
    found = experts_for([open_qas[i] for i in picked], vecs[:len(open_qas)][picked], pool, topic_of,
                        min_similarity=0.5, same_topic_weight=1.5)
    kept = {qid: v for qid, v in shown.items() if qid in open_ids and qid not in redo}
    return kept | found, now, redo


def _all_again(world, qas, open_ids, topic_of):
    ordered = sorted(qas, key=lambda q: (q.ts, q.id))
    return suggest_experts([q for q in ordered if q.id in open_ids], [q for q in ordered if q.answers], world.encode,
                           topic_of, min_similarity=0.5, same_topic_weight=1.5)


@pytest.mark.parametrize("seed", range(8))
def test_a_night_redoes_only_what_can_move_and_equals_scoring_all_again(seed):
    world = World(seed)
    rng = random.Random(seed)
    qas = {}
    for i in range(160):
        q = world.qa(ts=i, answered=rng.random() < 0.65)
        qas[q.id] = q
    open_ids = {qid for qid, q in qas.items() if not q.answers} | set(rng.sample(sorted(qas), 10))  # held for review
    topic_of = {qid: f"t{rng.randint(0, 3)}" for qid in qas if rng.random() < 0.8}
    shown, before, _ = _night(world, list(qas.values()), open_ids, topic_of, {}, {})
    assert shown == _all_again(world, list(qas.values()), open_ids, topic_of)
    redone = []
    for day in range(1, 5):  # four nights, each with every kind of change
        ts = 1000 * day
        for _ in range(6):  # new questions, answered and not
            q = world.qa(ts=ts + rng.randint(0, 99), answered=rng.random() < 0.6)
            qas[q.id] = q
            if not q.answers:
                open_ids.add(q.id)
            if rng.random() < 0.7:
                topic_of[q.id] = f"t{rng.randint(0, 3)}"
        for qid in rng.sample(sorted(open_ids), 3):  # open questions answered at last
            if not qas[qid].answers:
                qas[qid].answers = world.answers()
                open_ids.discard(qid)
        for qid in rng.sample(sorted(q.id for q in qas.values() if q.answers), 3):  # another answerer, a new name
            qas[qid].answers = qas[qid].answers + world.answers(1)
        gone = rng.choice(sorted(q.id for q in qas.values() if q.answers and q.id not in open_ids))
        del qas[gone]  # the extractor no longer finds it
        topic_of.pop(gone, None)
        for qid in rng.sample(sorted(qas), 2):  # a conversation moved to another topic
            topic_of[qid] = f"t{rng.randint(0, 3)}"
        reworded = rng.choice(sorted(open_ids))  # the asker added to the question
        qas[reworded].question = world.text()
        open_ids.add(rng.choice(sorted(q.id for q in qas.values() if q.answers)))  # an entry back in review
        shown, before, redo = _night(world, list(qas.values()), open_ids, topic_of, before, shown)
        assert shown == _all_again(world, list(qas.values()), open_ids, topic_of), f"night {day}"
        redone.append(len(redo) / len(open_ids))
    assert min(redone) < 0.9, redone  # not everything, every night


def test_a_member_who_now_answers_more_alike_enters_an_old_list():
    world = World(0)
    v = np.ones(16, dtype=np.float32)
    for t in ("开放", "旧1", "旧2", "旧3", "新1", "新2"):  # all alike
        world.vec[t] = v
    mk = lambda qid, text, ts, *senders: QA(qid, "c", None, qid, text, "asker", "问", ts,  # noqa: E731
                                            [Answer([f"{qid}-{s}"], s, s, "答", 1.0) for s in senders])
    qas = [mk("o", "开放", 0), mk("p1", "旧1", 1, "a"), mk("p2", "旧2", 2, "b"), mk("p3", "旧3", 3, "c"),
           mk("p4", "旧1", 4, "d")]
    shown, before, _ = _night(world, qas, {"o"}, {}, {}, {})
    assert [e.sender for e in shown["o"]] == ["a", "b", "c"]  # equal scores: by id; d is not shown
    qas += [mk("n1", "新1", 5, "d"), mk("n2", "新2", 6, "d")]  # d answers two more like it: three matches now
    shown, before, redo = _night(world, qas, {"o"}, {}, before, shown)
    assert redo == {"o"} and shown["o"][0].sender == "d"
    assert shown == _all_again(world, qas, {"o"}, {})


# -- the stage: a night equals recomputing everything ----------------------------------------------------------

def _cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


INSIGHT_TABLES = ("question_responses", "expert_suggestions", "answer_points", "superseded_answers", "insights_inputs")


def _insight_rows(root):
    db = sqlite3.connect(root / "chendian.db")
    out = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in INSIGHT_TABLES}
    db.close()
    return out


def test_the_stage_at_night_equals_the_stage_from_scratch(tmp_path):
    days = list(generate(days=3, messages_per_day=150, chats=2, variety=0.5))
    write_jsonl(tmp_path / "a.jsonl", [m for _, ms in days[:-1] for m in ms])
    last = days[-1][1]
    ws = tmp_path / "w"
    _cli("init", str(ws))
    _cli("-w", str(ws), "ingest", str(tmp_path / "a.jsonl"))
    _cli("-w", str(ws), "run", "-q")
    # the new day also corrects an answer of the days before, quoting it
    db = sqlite3.connect(ws / "chendian.db")
    answer = max((json.loads(a)[0]["message_ids"][0] for a, in db.execute(
        "SELECT answers FROM qas WHERE chat = '群01' AND answers != '[]'")), key=lambda mid: db.execute(
        "SELECT ts FROM messages WHERE id = ?", (mid,)).fetchone()[0])
    quoted = db.execute("SELECT platform_id FROM messages WHERE id = ?", (answer,)).fetchone()[0]
    db.close()
    last.append({"chat": "群01", "id": "群01-fix", "time": last[-1]["time"], "sender": "wxid_x", "sender_name": "王磊",
                 "text": "以最新通知为准，之前说的作废", "reply_to": quoted})
    write_jsonl(tmp_path / "b.jsonl", last)
    _cli("-w", str(ws), "ingest", str(tmp_path / "b.jsonl"))
    _cli("-w", str(ws), "run", "-q")
    report = json.loads((ws / "reports" / "latest.json").read_text(encoding="utf-8"))
    counts = next(s for s in report["stages"] if s["name"] == "insights")["counts"]
    assert 0 < counts["questions_redone"] < counts["questions"]
    night = _insight_rows(ws)
    assert night["expert_suggestions"] and night["superseded_answers"] and night["answer_points"]
    # a curator hides an entry: its questions leave 待回答 and the points (only those rows change)
    db = sqlite3.connect(ws / "chendian.db")
    entry = db.execute("SELECT id FROM faq_entries WHERE count > 1 ORDER BY id LIMIT 1").fetchone()[0]
    db.close()
    _cli("-w", str(ws), "faq", "hide", entry)
    _cli("-w", str(ws), "stage", "-q", "faq", "insights")
    curated = _insight_rows(ws)
    assert curated != night
    db = sqlite3.connect(ws / "chendian.db")
    db.execute("UPDATE state SET value = '\"x\"' WHERE key = 'insights.settings'")  # what changed settings do
    db.commit()
    db.close()
    _cli("-w", str(ws), "stage", "-q", "insights")
    assert _insight_rows(ws) == curated
