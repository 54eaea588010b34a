"""Community insights for ops (issue 15): response times, who would know, points, and answers gone stale.

Pure functions over the records the earlier stages wrote; the insights stage (pipeline/stages/insights.py)
feeds them and stores what they return, the report (site/report.py) aggregates it per chat and ISO week.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import numpy as np

from ...model import QA, Message


def iso_week(ts: int, tz: tzinfo) -> str:
    """"2016-W37": the ISO week of an instant, in the workspace's timezone (weeks start on Monday)."""
    year, week, _ = datetime.fromtimestamp(ts, tz).isocalendar()
    return f"{year}-W{week:02d}"


# -- response ------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Response:
    """How soon one question got its first answer (`first_answer_ts` None: no answer yet)."""

    qa_id: str
    chat: str
    week: str
    asked_ts: int
    first_answer_ts: int | None

    @property
    def seconds(self) -> int | None:
        return None if self.first_answer_ts is None else self.first_answer_ts - self.asked_ts


def responses(qas: Iterable[QA], message_ts: dict[str, int], tz: tzinfo) -> list[Response]:
    """Time to first answer = the earliest message of any answer − the question's time (never negative: an
    answer the extractor placed before a late re-wording of the question counts as immediate)."""
    out = []
    for qa in qas:
        times = [message_ts[m] for a in qa.answers for m in a.message_ids if m in message_ts]
        first = max(min(times), qa.ts) if times else None
        out.append(Response(qa.id, qa.chat, iso_week(qa.ts, tz), qa.ts, first))
    return out


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by nearest rank (p90 of 10 values is the 9th smallest): always a value that occurred."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(slots=True)
class ResponseSummary:
    asked: int
    answered: int
    answered_within: int  # first answer within the configured hours
    median_seconds: float | None
    p90_seconds: float | None

    @property
    def share_within(self) -> float | None:
        """Of the questions asked (not only those answered): an unanswered question is not answered in time."""
        return None if not self.asked else self.answered_within / self.asked


def summarize_responses(rows: Iterable[Response], within_hours: float) -> ResponseSummary:
    rows = list(rows)
    seconds = [r.seconds for r in rows if r.seconds is not None]
    return ResponseSummary(asked=len(rows), answered=len(seconds),
                           answered_within=sum(1 for s in seconds if s <= within_hours * 3600),
                           median_seconds=nearest_rank(seconds, 0.5), p90_seconds=nearest_rank(seconds, 0.9))


# -- who would know -------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Expert:
    sender: str
    name: str
    score: float  # sum of the similarity (× the topic weight) of their best-matching answered questions
    similar_qa_ids: list[str] = field(default_factory=list)  # most similar first


def suggest_experts(open_qas: Sequence[QA], answered_qas: Sequence[QA], encode: Callable[[list[str]], np.ndarray],
                    topic_of: dict[str, str], *, min_similarity: float, same_topic_weight: float,
                    top: int = 3, evidence: int = 3) -> dict[str, list[Expert]]:
    """qa id → the members who answered the most similar questions, best first.

    A member's score sums their `evidence` most similar answered questions (similarity of the sentence vectors,
    × `same_topic_weight` when the two questions share a topic), so one close match outweighs many loose ones
    and answering a lot about other things earns nothing. The asker is never suggested to themself.
    """
    if not open_qas or not answered_qas:
        return {}
    vecs = encode([q.question for q in open_qas] + [q.question for q in answered_qas])
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
    sims = vecs[:len(open_qas)] @ vecs[len(open_qas):].T
    out: dict[str, list[Expert]] = {}
    for i, q in enumerate(open_qas):
        matches: dict[str, list[tuple[float, str]]] = defaultdict(list)
        names: dict[str, str] = {}
        topic = topic_of.get(q.id)
        for j, past in enumerate(answered_qas):
            sim = float(sims[i, j])
            if past.id == q.id or sim < min_similarity:
                continue
            weight = sim * (same_topic_weight if topic and topic_of.get(past.id) == topic else 1.0)
            for sender in {a.sender for a in past.answers if a.sender and a.sender != q.asker}:
                matches[sender].append((weight, past.id))
                names[sender] = next(a.sender_name for a in past.answers if a.sender == sender) or sender
        experts = []
        for sender, found in matches.items():
            found.sort(key=lambda x: (-x[0], x[1]))
            best = found[:evidence]
            experts.append(Expert(sender, names[sender], round(sum(w for w, _ in best), 4), [qa for _, qa in best]))
        experts.sort(key=lambda e: (-e.score, e.sender))
        if experts:
            out[q.id] = experts[:top]
    return out


# -- recognition --------------------------------------------------------------------------------------------

@dataclass(slots=True)
class PointRules:
    """Points for one answer. Volume earns nothing by itself: an answer counts once however many messages it
    took, and what others did with it (the asker confirmed it, the question keeps coming back) counts more."""

    answer: float = 1
    acknowledged: float = 3  # the asker said it helped
    per_repeat: float = 1  # per further time its FAQ entry was asked …
    max_repeats: int = 5  # … up to this many


@dataclass(slots=True)
class AnswerPoints:
    qa_id: str
    sender: str
    name: str
    week: str
    points: float
    acknowledged: bool
    repeats: int  # further times its entry was asked (credited, capped)


def answer_points(qas: Iterable[QA], entry_count: dict[str, int], rules: PointRules, tz: tzinfo) -> list[AnswerPoints]:
    """One row per (question, answerer): `entry_count` is qa id → how many questions its FAQ entry holds."""
    out = []
    for qa in qas:
        repeats = min(max(entry_count.get(qa.id, 1) - 1, 0), rules.max_repeats)
        seen: set[str] = set()
        for a in qa.answers:
            if not a.sender or a.sender == qa.asker or a.sender in seen:
                continue
            seen.add(a.sender)
            acknowledged = any(b.acknowledged for b in qa.answers if b.sender == a.sender)
            points = rules.answer + rules.acknowledged * acknowledged + rules.per_repeat * repeats
            out.append(AnswerPoints(qa.id, a.sender, a.sender_name or a.sender, iso_week(qa.ts, tz), points,
                                    acknowledged, repeats))
    return out


# -- freshness ----------------------------------------------------------------------------------------------

# What people write when an earlier answer no longer holds.
CORRECTION_RE = re.compile(
    r"现在不用(这样|这么)?[了啦]|不用(这样|这么)[了啦]|已经改[了啦]|(已|早就?)(改|变|更新)[了啦]|规则(改|变)[了啦]"
    r"|以(最?新|最新的)(通知|规定|版本|公告)为准|更正一下|更正[:：]|刚才说错[了啦]|之前说错[了啦]|我说错[了啦]"
    r"|之前(说|讲)的(不对|作废)|(不再|已不)适用|已经?作废")
# A question about a change ("已经改了吗？") corrects nothing.
_QUESTION_END_RE = re.compile(r"[?？吗嘛么]\s*$")


@dataclass(slots=True)
class Supersession:
    qa_id: str
    answer_message_id: str  # the superseded answer's first message
    answer_sender: str
    by_message_id: str
    by_ts: int
    phrase: str


def correction_phrase(text: str) -> str | None:
    """The correcting phrase in `text`, or None (also for a question that merely mentions a change)."""
    if _QUESTION_END_RE.search(text.strip()):
        return None
    m = CORRECTION_RE.search(text)
    return m.group(0) if m else None


def find_superseded(qas: Sequence[QA], messages: Iterable[Message], thread_of: dict[str, str],
                    *, window_hours: float) -> list[Supersession]:
    """Answers a later correcting message supersedes, the latest such answer before it, found in this order:
    the answer the message quotes; else the latest earlier answer in its conversation; else the latest answer
    its sender gave in the chat within `window_hours` ("刚才说错了" corrects oneself)."""
    answer_of: dict[str, tuple[QA, int]] = {}  # answer message id → (its question, which answer)
    for qa in qas:
        for k, a in enumerate(qa.answers):
            for mid in a.message_ids:
                answer_of[mid] = (qa, k)
    seen_answers: dict[str, list[tuple[int, str]]] = defaultdict(list)  # chat → (ts, first answer message id)
    first_msg: dict[tuple[str, int], str] = {}
    ts_of: dict[str, int] = {}
    out: list[Supersession] = []
    done: set[tuple[str, int]] = set()
    for m in messages:  # chat/time order
        ts = int(m.time.timestamp())
        ts_of[m.id] = ts
        own_qa = None
        if m.id in answer_of:
            qa, k = answer_of[m.id]
            own_qa = qa.id
            if (qa.id, k) not in first_msg:
                first_msg[(qa.id, k)] = m.id
                seen_answers[m.chat].append((ts, m.id))
        phrase = correction_phrase(m.text) if not m.recalled else None
        if not phrase:
            continue
        # a correction may itself answer a later asking of the question: it supersedes the earlier answers
        candidates = [mid for _, mid in reversed(seen_answers[m.chat]) if answer_of[mid][0].id != own_qa]
        target = None
        if m.reply_to and m.reply_to in answer_of and answer_of[m.reply_to][0].id != own_qa:
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
