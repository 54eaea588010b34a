"""Community insights for ops (issue 15): response times, who would know, points, and answers gone stale.

Pure functions over the records the earlier stages wrote; the insights stage (pipeline/stages/insights.py)
feeds them and stores what they return, the report (site/report.py) aggregates it per chat and ISO week.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import numpy as np
from threadpoolctl import threadpool_limits

from ...errors import ChendianError
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


_EXPERT_BLOCK = 512
# Scores within this of the cut-off are decided by Python's round(), as the scores are stored (numpy rounds
# slightly differently at the fifth decimal).
_ROUND_MARGIN = 2e-4
_FIRST_LOOK = 64  # who would know looks at this many best matches first, more only when they do not settle it
_CELLS = 4_000_000  # (question, answered question) similarities held at once when checking one member


def answerers(qa: QA) -> list[tuple[str, str]]:
    """(sender, the name this question's answer gave them) of each member who answered it, by sender id."""
    return [(sender, next(a.sender_name for a in qa.answers if a.sender == sender) or sender)
            for sender in sorted({a.sender for a in qa.answers if a.sender})]


def unit_rows(vecs: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero)."""
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)


class AnsweredPool:
    """The answered questions as who-would-know scores them: every (answered question, member who answered it)
    pair once, grouped by question (CSR), with the name that question's answer gave the member; members and
    topics as integer codes. A big group has tens of thousands of open and answered questions, most of them
    similar to many others: no Python loop over pairs of them."""

    def __init__(self, answered_qas: Sequence[QA], vecs: np.ndarray, topic_of: dict[str, str],
                 pairs: Sequence[list[tuple[str, str]]] | None = None):
        self.vecs = vecs  # unit rows, row j for answered_qas[j]
        self.index = {p.id: j for j, p in enumerate(answered_qas)}
        codes: dict[str, int] = {}
        pair_sender, self.pair_name, starts = [], [], [0]
        for j, past in enumerate(answered_qas):
            for sender, name in (pairs[j] if pairs is not None else answerers(past)):
                pair_sender.append(codes.setdefault(sender, len(codes)))
                self.pair_name.append(name)
            starts.append(len(pair_sender))
        self.codes, self.senders = codes, list(codes)
        self.pair_sender = np.array(pair_sender, dtype=np.int64)
        self.starts = np.array(starts, dtype=np.int64)
        self.topic_codes: dict[str, int] = {}
        self.topic = np.array([self.topic_codes.setdefault(topic_of[p.id], len(self.topic_codes))
                               if topic_of.get(p.id) else -1 for p in answered_qas], dtype=np.int64)  # -1: none
        n = len(answered_qas)
        self.rank = np.empty(n, dtype=np.int64)  # the order of the ids, for ties
        self.rank[sorted(range(n), key=lambda j: answered_qas[j].id)] = np.arange(n)
        self.ids = np.array([p.id for p in answered_qas], dtype=object)
        # Each member's answered questions (ascending), for checking one member's score without the others.
        pair_q = np.repeat(np.arange(n), np.diff(self.starts))
        order = np.argsort(self.pair_sender, kind="stable")
        self.by_sender_q = pair_q[order]
        self.by_sender_pair = order
        self.by_sender_start = np.searchsorted(self.pair_sender[order], np.arange(len(codes) + 1))

    def topic_code(self, topic: str | None) -> int:
        return self.topic_codes.get(topic or "", -2)  # -2: no answered question shares it

    def rank_experts(self, row: np.ndarray, qa_id: str, asker: str, topic: str | None, *, min_similarity: float,
                     same_topic_weight: float, top: int, evidence: int) -> list[Expert]:
        """One open question's experts, from `row`, its similarity to every answered question."""
        js = np.flatnonzero(row >= min_similarity)
        own = self.index.get(qa_id, -1)
        js = js[js != own]
        if not len(js):
            return []
        weights = row[js].astype(np.float64) * np.where(self.topic[js] == self.topic_code(topic), same_topic_weight, 1.0)
        asker_code = self.codes.get(asker, -1)
        look = _FIRST_LOOK
        while look < len(js):
            # The best `look` matches and any as good as the last of them: a member with `evidence` of those is
            # scored exactly, and when nobody else can reach the list the other matches need no look.
            bound = float(np.partition(weights, len(weights) - look)[len(weights) - look])
            picked = weights >= bound
            found = self._ranked(js[picked], weights[picked], row, own, asker_code, min_similarity, top, evidence, bound)
            if found is not None:
                return found
            look *= 4
        return self._ranked(js, weights, row, own, asker_code, min_similarity, top, evidence, None)

    def _ranked(self, js: np.ndarray, weights: np.ndarray, row: np.ndarray, own: int, asker_code: int,
                min_similarity: float, top: int, evidence: int, bound: float | None) -> list[Expert] | None:
        """The experts from the matches `js` (weights given); with `bound`, every other match weighs less than it
        and the answer is None when those could still change the list."""
        counts = self.starts[js + 1] - self.starts[js]
        total = int(counts.sum())
        pairs = np.repeat(self.starts[js], counts) + np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        of_j = np.repeat(np.arange(len(js)), counts)
        keep = self.pair_sender[pairs] != asker_code
        pairs, of_j = pairs[keep], of_j[keep]
        if not len(pairs):
            return [] if bound is None else None
        who, w, j_of = self.pair_sender[pairs], weights[of_j], js[of_j]
        # A member's evidence: their best matches, by weight then question id (as a sort of (-w, id) would give).
        order = np.lexsort((self.rank[j_of], -w, who))
        who_s, w_s = who[order], w[order]
        first = np.flatnonzero(np.r_[True, who_s[1:] != who_s[:-1]])
        size = np.diff(np.r_[first, len(who_s)])
        # The score as Python's sum() adds a member's best `evidence` weights: ((0 + w0) + w1) + w2.
        score = w_s[first].copy()
        for e in range(1, evidence):
            score = score + np.where(size > e, w_s[np.minimum(first + e, len(w_s) - 1)], 0.0)
        if bound is None:
            chosen = np.arange(len(first))
            if len(first) > top:
                cut = np.partition(score, -top)[-top]
                chosen = np.flatnonzero(score >= cut - _ROUND_MARGIN)
        else:
            complete = size >= evidence
            if complete.sum() < top:
                return None
            cut = np.partition(score[complete], -top)[-top]
            # the most anyone else can score: what they have here plus `bound` for each match still missing
            rest = max(evidence * bound, float(np.max(score[~complete] + (evidence - size[~complete]) * bound,
                                                      initial=-np.inf)))
            if rest >= cut - _ROUND_MARGIN:
                return None
            chosen = np.flatnonzero(complete & (score >= cut - _ROUND_MARGIN))
        ranked = sorted(((-round(float(score[g]), 4), self.senders[int(who_s[first[g]])], int(g)) for g in chosen))[:top]
        out = []
        for neg, sender, g in ranked:
            best = order[first[g]:first[g] + min(int(size[g]), evidence)]
            out.append(Expert(sender, self.shown_name(int(who_s[first[g]]), row, own, min_similarity), -neg,
                              [self.ids[j_of[k]] for k in best]))
        return out

    def shown_name(self, code: int, row: np.ndarray, own: int, min_similarity: float) -> str:
        """The name a member is shown with: the one from their last (highest index) matching question."""
        a, b = self.by_sender_start[code], self.by_sender_start[code + 1]
        js = self.by_sender_q[a:b]
        last = np.flatnonzero((row[js] >= min_similarity) & (js != own))[-1]
        return self.pair_name[int(self.by_sender_pair[a + last])]

    def member_scores(self, rows: np.ndarray, own: np.ndarray, topics: np.ndarray, sender: str, *,
                      min_similarity: float, same_topic_weight: float,
                      evidence: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What rank_experts would give one member for each of some open questions (unit vectors `rows`, their
        own index among the answered or -1, their topic codes), scoring only that member's answered questions:
        (score, unrounded, NaN where nothing of theirs is similar enough; their evidence, answered indexes best
        first, -1 padded; the pair whose name they are shown with)."""
        n = len(rows)
        code = self.codes.get(sender)
        if code is None or not n:
            return np.full(n, np.nan), np.full((n, evidence), -1), np.full(n, -1)
        a, b = self.by_sender_start[code], self.by_sender_start[code + 1]
        step = max(1, _CELLS // (b - a))
        if n > step:  # a member who answered thousands, checked on thousands: a block of questions at a time
            parts = [self.member_scores(rows[i:i + step], own[i:i + step], topics[i:i + step], sender,
                                        min_similarity=min_similarity, same_topic_weight=same_topic_weight,
                                        evidence=evidence) for i in range(0, n, step)]
            return tuple(np.concatenate(x) for x in zip(*parts))
        js, pair_of = self.by_sender_q[a:b], self.by_sender_pair[a:b]
        sims = rows @ self.vecs[js].T
        ok = (sims >= min_similarity) & (js[None, :] != own[:, None])
        same = self.topic[js][None, :] == topics[:, None]
        w = np.where(ok, sims.astype(np.float64) * np.where(same, same_topic_weight, 1.0), -np.inf)
        order = np.lexsort((np.broadcast_to(self.rank[js], w.shape), -w), axis=-1)[:, :evidence]
        wb = np.take_along_axis(w, order, axis=1)
        valid = wb > -np.inf
        score = np.where(valid[:, 0], wb[:, 0], np.nan)
        for e in range(1, order.shape[1]):
            score = score + np.where(valid[:, e], wb[:, e], 0.0)
        best = np.where(valid, js[order], -1)
        if best.shape[1] < evidence:
            best = np.pad(best, ((0, 0), (0, evidence - best.shape[1])), constant_values=-1)
        any_ok = ok.any(axis=1)
        last = np.where(any_ok, pair_of[len(js) - 1 - np.argmax(ok[:, ::-1], axis=1)], -1)
        return score, best, last


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
    vecs = unit_rows(encode([q.question for q in open_qas] + [q.question for q in answered_qas]))
    pool = AnsweredPool(answered_qas, vecs[len(open_qas):], topic_of)
    return experts_for(open_qas, vecs[:len(open_qas)], pool, topic_of, min_similarity=min_similarity,
                       same_topic_weight=same_topic_weight, top=top, evidence=evidence)


def experts_for(open_qas: Sequence[QA], open_vecs: np.ndarray, pool: AnsweredPool, topic_of: dict[str, str], *,
                min_similarity: float, same_topic_weight: float, top: int = 3,
                evidence: int = 3) -> dict[str, list[Expert]]:
    """suggest_experts for open questions whose unit vectors are given, against a pool already built."""
    out: dict[str, list[Expert]] = {}
    sims = None
    for i, q in enumerate(open_qas):
        if i % _EXPERT_BLOCK == 0:  # similarities a block of open questions at a time: memory stays bounded
            sims = open_vecs[i:i + _EXPERT_BLOCK] @ pool.vecs.T
        found = pool.rank_experts(sims[i % _EXPERT_BLOCK], q.id, q.asker, topic_of.get(q.id),
                                  min_similarity=min_similarity, same_topic_weight=same_topic_weight, top=top,
                                  evidence=evidence)
        if found:
            out[q.id] = found
    return out


# -- nightly: what a new day can change ---------------------------------------------------------------------

def digest(*parts) -> str:
    return hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=12).hexdigest()


@dataclass(slots=True)
class QuestionInputs:
    """What one question's insights rows were computed from, as digests: the insights stage keeps them (table
    `insights_inputs`) and on the next night redoes only the rows whose inputs changed."""

    source: str  # its row of `qas` (unchanged: nothing of it needs reading again)
    rows: str | None  # its response and points rows (None: not counted)
    open: str | None  # as an open question (None: not open)
    answered: str | None  # as an answered question (None: no answer)
    topic: str | None
    question_key: str  # its question's key in the embedding cache (the vector it was scored with)
    answerers: str  # answerers(qa) as "sender\x1fname" lines (\x1e)

    def pairs(self) -> list[tuple[str, str]]:
        return [tuple(p.split("\x1f", 1)) for p in self.answerers.split("\x1e")] if self.answerers else []


def question_inputs(source: str, question: str, asker: str, ts: int, pairs: list[tuple[str, str]], answered: bool,
                    counted: bool, repeats: int, is_open: bool, topic: str | None, question_key: str) -> QuestionInputs:
    """A question's inputs as responses, answer_points and suggest_experts read them (settings aside): `source` a
    digest of its stored row, `pairs` answerers(qa), `repeats` as credited (an entry asked 300 times and then 301
    changes nobody's points)."""
    return QuestionInputs(source, digest(source, repeats) if counted else None,
                          digest(question, asker) if is_open else None,
                          digest(question, ts, pairs) if answered else None, topic, question_key,
                          "\x1e".join(f"{sender}\x1f{name}" for sender, name in pairs))


def inputs_again(before: QuestionInputs, question: str, asker: str, counted: bool, repeats: int, is_open: bool,
                 topic: str | None) -> QuestionInputs:
    """question_inputs of a question whose stored row is unchanged since `before` (same settings): what the row
    alone decides (answered, question key, answerers) is what it was; its FAQ entry, openness and topic are read
    again. Equal to question_inputs with the row read whole (tests/test_insights_nightly.py)."""
    return QuestionInputs(before.source, digest(before.source, repeats) if counted else None,
                          (before.open or digest(question, asker)) if is_open else None, before.answered, topic,
                          before.question_key, before.answerers)


# When more than this share of the answered questions came, went or changed, checking costs more than redoing.
_REDO_ALL_SHARE = 0.25


def experts_to_redo(open_qas: Sequence[QA], open_vecs: np.ndarray, pool: AnsweredPool, topic_of: dict[str, str],
                    now: dict[str, QuestionInputs], before: dict[str, QuestionInputs],
                    old_vecs: dict[str, np.ndarray], shown: dict[str, list[Expert]], *, min_similarity: float,
                    same_topic_weight: float, top: int = 3, evidence: int = 3) -> set[str]:
    """The open questions whose experts may differ from `shown` (what suggest_experts gave them last time, when
    the questions were `before`): suggest_experts over the rest would give them what they have.

    An open question is redone when it is new or changed (its text, asker or topic), or when an answered question
    at least `min_similarity` like it came, went or changed (`old_vecs`: question key → unit vector, for those
    that went or changed) in a way that can move its list: an answerer it shows lost a question, or a member's
    best matches, scored again on their own answered questions, now differ from what it shows or could enter it.
    """
    near = min_similarity - 1e-4  # products in another block shape may differ in the last bits
    n = len(open_qas)
    redo = np.array([q.id not in before or before[q.id].open != now[q.id].open or before[q.id].topic != now[q.id].topic
                     for q in open_qas], dtype=bool)
    went = [(qid, b) for qid, b in before.items() if b.answered is not None and
            (qid not in now or now[qid].answered != b.answered or now[qid].topic != b.topic)]
    came = [j for qid, j in pool.index.items() if qid not in before or before[qid].answered != now[qid].answered
            or before[qid].topic != now[qid].topic]
    if not n or not (went or came):
        return {q.id for q, r in zip(open_qas, redo) if r}
    if len(went) + len(came) > len(pool.index) * _REDO_ALL_SHARE:  # e.g. topics re-clustered: cheaper to redo all
        return {q.id for q in open_qas}
    # What each open question shows: its members as codes (-1: a member the pool no longer has, or no one).
    listed = [shown.get(q.id, []) for q in open_qas]
    codes = dict(pool.codes)
    for found in listed:
        for e in found:
            codes.setdefault(e.sender, len(codes))
    shown_codes = np.full((n, max(top, 1)), -1, dtype=np.int64)
    for i, found in enumerate(listed):
        shown_codes[i, :len(found[:top])] = [codes[e.sender] for e in found[:top]]
    n_shown = np.array([len(found) for found in listed])
    cut = np.array([found[top - 1].score if len(found) >= top else -np.inf for found in listed])
    own = np.array([pool.index.get(q.id, -1) for q in open_qas])
    asker = np.array([codes.get(q.asker, -2) for q in open_qas])
    ids = np.array([q.id for q in open_qas], dtype=object)
    # An answered question that went or changed: its old answerers lose it; one shown may drop or change name.
    for qid, b in went:
        v = old_vecs.get(b.question_key)  # not in the cache any more: every open question counts as like it
        like = (open_vecs @ v >= near) if v is not None else np.ones(n, dtype=bool)
        theirs = np.isin(shown_codes, [codes[s] for s, _ in b.pairs() if s in codes]).any(axis=1)
        redo |= like & theirs & (ids != qid)
    # An answered question that came: each of its answerers may now score higher for the questions like it.
    touched: dict[int, list[np.ndarray]] = defaultdict(list)  # member → open questions to check them on
    for a in range(0, len(came), _EXPERT_BLOCK):  # a block of columns at a time: memory stays bounded
        hits = open_vecs @ pool.vecs[came[a:a + _EXPERT_BLOCK]].T >= near
        for k, j in enumerate(came[a:a + _EXPERT_BLOCK]):
            rows = np.flatnonzero(hits[:, k] & (own != j))
            for p in range(pool.starts[j], pool.starts[j + 1]):
                c = int(pool.pair_sender[p])
                touched[c].append(rows[asker[rows] != c])
    topics = np.array([pool.topic_code(topic_of.get(q.id)) for q in open_qas])
    with threadpool_limits(1):  # many small products: BLAS threads cost more to wake than they save
        _check_members(touched, redo, open_vecs, pool, own, topics, listed, shown_codes, n_shown, cut,
                       min_similarity=min_similarity, same_topic_weight=same_topic_weight, top=top, evidence=evidence)
    return {q.id for q, r in zip(open_qas, redo) if r}


def _check_members(touched, redo, open_vecs, pool, own, topics, listed, shown_codes, n_shown, cut, *,
                   min_similarity, same_topic_weight, top, evidence) -> None:
    """experts_to_redo's second half: each member an answered question that came was theirs, scored again on the
    open questions like it; marks in `redo` those whose list they can change."""
    for c in sorted(touched, key=lambda c: pool.senders[c]):
        rows = np.unique(np.concatenate(touched[c]))
        rows = rows[~redo[rows]]
        if not len(rows):
            continue
        sender = pool.senders[c]
        score, best, last = pool.member_scores(open_vecs[rows], own[rows], topics[rows], sender,
                                               min_similarity=min_similarity, same_topic_weight=same_topic_weight,
                                               evidence=evidence)
        mine = (shown_codes[rows] == c).any(axis=1)
        # not shown: it matters only if it can now reach the list
        redo[rows[~mine & ~np.isnan(score) & ((n_shown[rows] < top) | (score >= cut[rows] - _ROUND_MARGIN))]] = True
        for r in np.flatnonzero(mine):  # shown: its score, evidence or name may have changed
            e = next(e for e in listed[rows[r]] if e.sender == sender)
            if np.isnan(score[r]) or round(float(score[r]), 4) != e.score \
                    or [pool.ids[j] for j in best[r] if j >= 0] != e.similar_qa_ids \
                    or pool.pair_name[int(last[r])] != e.name:
                redo[rows[r]] = True


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


def credited_repeats(entry_count: int, rules: PointRules) -> int:
    """The further times an answer's entry was asked that earn points: capped at `max_repeats`."""
    return min(max(entry_count - 1, 0), rules.max_repeats)


def answer_points(qas: Iterable[QA], entry_count: dict[str, int], rules: PointRules, tz: tzinfo) -> list[AnswerPoints]:
    """One row per (question, answerer): `entry_count` is qa id → how many questions its FAQ entry holds."""
    out = []
    for qa in qas:
        repeats = credited_repeats(entry_count.get(qa.id, 1), rules)
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


# Every phrase CORRECTION_RE matches contains one of these (tests/test_insights.py enumerates its matches), so a
# store can hand over only the messages that contain one, rather than every message of the workspace.
CORRECTION_WORDS = ("不用", "改", "变", "更新", "为准", "更正", "说错", "之前", "适用", "作废")


@dataclass(slots=True)
class Said:
    """What find_superseded reads of a message."""

    id: str
    chat: str
    ts: int
    sender: str
    text: str
    reply_to: str | None = None
    recalled: bool = False


def find_superseded(qas: Sequence[QA], messages: Iterable[Message], thread_of: dict[str, str],
                    *, window_hours: float) -> list[Supersession]:
    """Answers a later correcting message supersedes, the latest such answer before it, found in this order:
    the answer the message quotes; else the latest earlier answer in its conversation; else the latest answer
    its sender gave in the chat within `window_hours` ("刚才说错了" corrects oneself)."""
    said = (Said(m.id, m.chat, int(m.time.timestamp()), m.sender, m.text, m.reply_to, m.recalled) for m in messages)
    return supersessions(qas, said, thread_of, window_hours=window_hours)


def supersessions(qas: Sequence[QA], said: Iterable[Said], thread_of: dict[str, str],
                  *, window_hours: float) -> list[Supersession]:
    """find_superseded over `said` in chat/time order: it needs only the answers' messages and the messages with
    a CORRECTION_WORDS word (the others change nothing), and `thread_of` only for those."""
    said = list(said)
    ids = {m.id for m in said} | {m.reply_to for m in said if m.reply_to}
    answer_of: dict[str, tuple[QA, int]] = {}  # answer message id → (its question, which answer), of those given
    for qa in qas:
        for k, a in enumerate(qa.answers):
            for mid in a.message_ids:
                if mid in ids:
                    answer_of[mid] = (qa, k)
    # The answers seen so far (by their first message), latest last: per conversation and per (chat, answerer),
    # so that finding the latest one that fits is a look at the end of a list, not a walk over the chat.
    in_thread: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    by_sender: dict[tuple[str, str], list[str]] = defaultdict(list)
    first_msg: dict[tuple[str, int], str] = {}
    ts_of: dict[str, int] = {}
    out: list[Supersession] = []
    done: set[tuple[str, int]] = set()
    window = window_hours * 3600

    def latest(mids: list[str], own_qa: str | None) -> str | None:
        return next((mid for mid in reversed(mids) if answer_of[mid][0].id != own_qa), None)

    for m in said:  # chat/time order
        ts = m.ts
        ts_of[m.id] = ts
        own_qa = None
        if m.id in answer_of:
            qa, k = answer_of[m.id]
            own_qa = qa.id
            if (qa.id, k) not in first_msg:
                first_msg[(qa.id, k)] = m.id
                in_thread[(m.chat, thread_of.get(m.id))].append(m.id)
                by_sender[(m.chat, qa.answers[k].sender)].append(m.id)
        phrase = correction_phrase(m.text) if not m.recalled else None
        if not phrase:
            continue
        # a correction may itself answer a later asking of the question: it supersedes the earlier answers
        target = None
        if m.reply_to and m.reply_to in answer_of and answer_of[m.reply_to][0].id != own_qa:
            target = m.reply_to
        if target is None and m.id in thread_of:
            target = latest(in_thread.get((m.chat, thread_of[m.id]), []), own_qa)
        if target is None:
            # a chat's answers come in time order: when its sender's latest is too old, so are the others
            mine = latest(by_sender.get((m.chat, m.sender), []), own_qa)
            target = mine if mine is not None and ts - ts_of[mine] <= window else None
        if target is None:
            continue
        qa, k = answer_of[target]
        if (qa.id, k) in done:
            continue
        done.add((qa.id, k))
        out.append(Supersession(qa.id, first_msg.get((qa.id, k), target), qa.answers[k].sender, m.id, ts, phrase))
    return out


def answers_near(qas: Iterable[QA], corrections: Sequence[Said], in_their_threads: set[str]) -> set[str]:
    """The answer messages supersessions needs to place `corrections`: every message of each answer one of them
    quotes, that has a message in one of their conversations (`in_their_threads`: those conversations' message
    ids), or that a correcting member gave in that chat. The other answers are in no list a correction looks at."""
    quoted = {c.reply_to for c in corrections if c.reply_to}
    senders = {(c.chat, c.sender) for c in corrections}
    out: set[str] = set()
    for qa in qas:
        for a in qa.answers:
            if (qa.chat, a.sender) in senders or any(m in quoted or m in in_their_threads for m in a.message_ids):
                out.update(a.message_ids)
    return out


# -- members and teams --------------------------------------------------------------------------------------

class MembersError(ChendianError, ValueError):
    pass


@dataclass(slots=True)
class Member:
    """One row of the members file: `key` is a sender id or a display name (either matches)."""

    key: str
    title: str = ""  # 职位 (often with the company: hidden on a big group's directory)
    expertise: list[str] = field(default_factory=list)  # 擅长领域
    team: str = ""


# Column names a members file may use, Chinese or English.
_MEMBER_COLUMNS = {"key": ("id", "sender", "name", "成员", "昵称", "姓名", "群昵称"), "title": ("职位", "title", "role"),
                   "expertise": ("擅长领域", "擅长", "expertise", "skills"), "team": ("team", "团队", "部门", "小组")}
_LIST_SPLIT_RE = re.compile(r"[、,，;；/|]\s*")


def _member(row: dict, where: str) -> Member:
    def get(col):
        value = next((row[k] for k in _MEMBER_COLUMNS[col] if row.get(k) not in (None, "")), "")
        if isinstance(value, list) and col == "expertise":
            return [str(v).strip() for v in value if str(v).strip()]
        if not isinstance(value, (str, int)):
            raise MembersError(f"{where}: {col} must be text, not {type(value).__name__}")
        return str(value).strip()
    key = get("key")
    if not key:
        raise MembersError(f"{where}: no sender id or name (expected a column id/name/昵称)")
    expertise = get("expertise")
    if isinstance(expertise, str):
        expertise = [x for x in _LIST_SPLIT_RE.split(expertise) if x]
    return Member(key, get("title"), expertise, get("team"))


def parse_members(text: str, path: str) -> dict[str, Member]:
    """A members file (CSV with a header row, or TOML with [[member]] tables) → key → Member.

    CSV columns: id or name (required), 职位, 擅长领域 (several split on 、 , ;), team (or 部门). A key listed
    twice, a row with no key or an unknown column is an error naming the file and line."""
    rows: list[tuple[str, dict]] = []
    if path.lower().endswith(".toml"):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise MembersError(f"{path}: not valid TOML ({e})") from None
        if set(data) - {"member"} or not isinstance(data.get("member", []), list):
            raise MembersError(f"{path}: expected only [[member]] tables (id/name, 职位, 擅长领域, team)")
        rows = [(f"{path}: member #{i}", m) for i, m in enumerate(data.get("member", []), 1)]
    else:
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        known = {c for cols in _MEMBER_COLUMNS.values() for c in cols}
        header = [h.strip() for h in reader.fieldnames or []]
        unknown = [h for h in header if h not in known]
        if not header or unknown or not any(h in _MEMBER_COLUMNS["key"] for h in header):
            raise MembersError(f"{path}:1: expected a header with id or name and optionally 职位, 擅长领域, team"
                               + (f"; unknown column {unknown[0]!r}" if unknown else ""))
        reader.fieldnames = header
        for row in reader:
            if None in row:
                raise MembersError(f"{path}:{reader.line_num}: more fields than the header's {len(header)}")
            rows.append((f"{path}:{reader.line_num}", row))
    out: dict[str, Member] = {}
    for where, row in rows:
        if not isinstance(row, dict):
            raise MembersError(f"{where}: expected a table of fields")
        unknown = [k for k in row if k not in {c for cols in _MEMBER_COLUMNS.values() for c in cols}]
        if unknown:
            raise MembersError(f"{where}: unknown field {unknown[0]!r} (expected id/name, 职位, 擅长领域, team)")
        m = _member(row, where)
        if m.key in out:
            raise MembersError(f"{where}: {m.key!r} is listed twice")
        out[m.key] = m
    return out


# "大数据-张三", "陈静-HRBP", "产品部｜李四", "【运营】王五": two parts around a separator, or a bracketed prefix.
_SPLIT_RE = re.compile(r"^\s*(?P<a>[\u4e00-\u9fffA-Za-z0-9]{1,10})\s*[-－—_·|｜/]\s*(?P<b>[^-－—_·|｜/]{1,12}?)\s*$")
_BRACKET_RE = re.compile(r"^\s*[【\[（(](?P<t>[^】\]）)]{1,10})[】\]）)]\s*\S")
# What a department looks like when a nickname puts it after the name ("赵婷-财务", "王磊-SRE").
_DEPT_WORD_RE = re.compile(r"[A-Za-z]{2,}|(部|组|中心|团队|事业群|科|处|室)$|^(财务|人事|行政|法务|市场|销售|运营|产品|设计|"
                           r"研发|开发|测试|运维|前端|后端|架构|算法|数据|大数据|客服|采购|商务|品牌|技术|IT|HR)")
_TAGGED_RE = re.compile(r"^\s*[【\[（(][^】\]）)]{1,10}[】\]）)]\s*(?P<p>\S.{0,20})$")
_ROLE_TAG_RE = re.compile(r"管理|群主|助教|老师|嘉宾|讲师|班长|志愿者|新人|VIP", re.IGNORECASE)
_PERSON_RE = re.compile(r"^[\u4e00-\u9fff]{2,4}$")


def _parts(name: str | None) -> tuple[str, str] | None:
    m = _SPLIT_RE.match(name or "")
    return (m.group("a"), m.group("b")) if m else None


def team_from_name(name: str | None, shared: frozenset[str] = frozenset()) -> str | None:
    """The department in a nickname, or None. In order: a bracketed prefix ("【运营】王五"); the one side of
    "A-B" that looks like a department ("陈静-HRBP", "赵婷-财务", "产品部-李四"); the side other nicknames
    share (`shared`: "星火-张三" and "星火-王五"); the prefix when the rest looks like a Chinese name
    ("大数据-张三"). A number is no team ("2016-张三")."""
    m = _BRACKET_RE.match(name or "")
    if m:  # "【管理员】林晓燕" tags a group role, not a department
        return None if m.group("t").isdigit() or _ROLE_TAG_RE.search(m.group("t")) else m.group("t")
    parts = _parts(name)
    if not parts:
        return None
    a, b = parts
    a_dept, b_dept = bool(_DEPT_WORD_RE.search(a)), bool(_DEPT_WORD_RE.search(b))
    if a_dept != b_dept:  # first: one person's two nicknames ("马骏-IT", "马骏-IT支持") share their name
        team = a if a_dept else b
    elif a in shared or b in shared:
        team = a if a in shared else b
    else:
        team = a if _PERSON_RE.match(b) else None  # the "大数据-张三": the prefix
    return None if not team or team.isdigit() else team


def name_without_team(name: str | None) -> str | None:
    """The person in a department nickname ("大数据-张三" → 张三, "陈静-HRBP" → 陈静, "【管理员】林晓燕" →
    林晓燕), or None."""
    tagged = _TAGGED_RE.match(name or "")
    if tagged:
        return tagged.group("p").strip()
    parts = _parts(name)
    team = team_from_name(name)
    if not parts or not team or team not in parts:
        return None
    return parts[1] if team == parts[0] else parts[0]


def shared_parts(names: Iterable[str]) -> frozenset[str]:
    """Parts of "A-B" nicknames that two or more distinct nicknames share: those are departments, not names."""
    seen: dict[str, set[str]] = defaultdict(set)
    for n in set(names):
        parts = _parts(n)
        if parts:
            for side in parts:
                seen[side].add(n)
    return frozenset(side for side, ns in seen.items() if len(ns) >= 2)


def member_of(sender: str, name: str | None, members: dict[str, Member]) -> Member | None:
    return members.get(sender) or (members.get(name) if name else None)


def team_of(sender: str, name: str | None, members: dict[str, Member], shared: frozenset[str] = frozenset()) -> str | None:
    """The members file's team, else the nickname's department."""
    m = member_of(sender, name, members)
    return (m.team if m and m.team else None) or team_from_name(name, shared)


@dataclass(slots=True)
class TeamStanding:
    team: str
    members: int  # who earned points
    points: float
    answers: int
    confirmed: int  # acknowledged by the asker, or its entry was asked again


def team_standings(points: Iterable[AnswerPoints], team: Callable[[str, str], str | None]) -> list[TeamStanding]:
    """Points, answers and confirmed answers per team, most points first; members in no team are left out."""
    acc: dict[str, TeamStanding] = {}
    who: dict[str, set[str]] = defaultdict(set)
    for p in points:
        t = team(p.sender, p.name)
        if not t:
            continue
        s = acc.setdefault(t, TeamStanding(t, 0, 0.0, 0, 0))
        s.points += p.points
        s.answers += 1
        s.confirmed += int(p.acknowledged or p.repeats > 0)
        who[t].add(p.sender)
    for t, s in acc.items():
        s.members = len(who[t])
    return sorted(acc.values(), key=lambda s: (-s.points, -s.confirmed, s.team))


# -- levels and the 群管 KPI ----------------------------------------------------------------------------------

DEFAULT_LEVELS = ((0.0, "新手"), (5.0, "热心群友"), (15.0, "答疑达人"), (40.0, "领域专家"), (100.0, "群智囊"))


def level_for(points: float, levels: Sequence[tuple[float, str]] = DEFAULT_LEVELS) -> str:
    """The highest level whose threshold the points reach (levels sorted by threshold)."""
    name = levels[0][1]
    for threshold, label in levels:
        if points >= threshold:
            name = label
    return name


@dataclass(slots=True)
class WeekKPI:
    week: str
    answerers: int  # distinct members who answered someone else's question
    answers: int
    confirmed: int  # answers the asker acknowledged or whose entry was asked again


def weekly_kpi(points: Iterable[AnswerPoints]) -> list[WeekKPI]:
    by_week: dict[str, list[AnswerPoints]] = defaultdict(list)
    for p in points:
        by_week[p.week].append(p)
    return [WeekKPI(w, len({p.sender for p in ps}), len(ps), sum(1 for p in ps if p.acknowledged or p.repeats > 0))
            for w, ps in sorted(by_week.items())]


# -- roles --------------------------------------------------------------------------------------------------

ROLES = ("组织者", "积极分子", "参与者", "潜水者")  # organiser, advocate, participant, observer


@dataclass(slots=True)
class Activity:
    """What one member did in a period: every count is of messages anyone can find in the transcript."""

    sender: str
    name: str
    messages: int = 0  # written (no notices, nothing recalled)
    started: int = 0  # conversations they opened that someone else then joined
    answers: int = 0  # others' questions they answered
    shares: int = 0  # links or files


@dataclass(slots=True)
class RoleRules:
    organiser_started: int = 3  # opened at least this many conversations others joined
    advocate_contributions: int = 3  # answers + shares at least this many
    observer_max_messages: int = 2  # at most this many messages, none an answer or a share


def role_of(a: Activity, rules: RoleRules) -> str:
    """组织者 before 积极分子 before 参与者; 潜水者: said next to nothing and gave nothing (answers, shares)."""
    if a.started >= rules.organiser_started:
        return "组织者"
    if a.answers + a.shares >= rules.advocate_contributions:
        return "积极分子"
    if a.messages <= rules.observer_max_messages and not a.answers and not a.shares:
        return "潜水者"
    return "参与者"


# -- shares -------------------------------------------------------------------------------------------------

# A link in a message's text (no CJK punctuation or brackets after it).
URL_RE = re.compile(r"https?://[^\s<>\"'\u3000-\u303f\uff00-\uffef（）【】《》“”‘’]+", re.IGNORECASE)
# 公众号 articles: mp.weixin.qq.com links.
ARTICLE_RE = re.compile(r"^https?://mp\.weixin\.qq\.com/", re.IGNORECASE)


def shared_urls(text: str | None, extra: dict) -> list[str]:
    """The links a message shares: a card's url first (公众号 shares arrive as cards), then those in its text."""
    urls = [u.rstrip(".,;:!?") for u in URL_RE.findall(text or "")]
    card = extra.get("url")
    if isinstance(card, str) and card.startswith(("http://", "https://")):
        urls.insert(0, card)
    return list(dict.fromkeys(urls))


def share_kind(url: str | None) -> str:
    """文章 (a 公众号 article), 链接, or 文件 (no url: a file was sent)."""
    if not url:
        return "文件"
    return "文章" if ARTICLE_RE.match(url) else "链接"


# -- staleness ----------------------------------------------------------------------------------------------

def stale_entries(as_of: dict[str, int], reference: int, max_age_days: float) -> list[tuple[str, float]]:
    """(entry id, age in days) of entries whose newest standing answer is older than `max_age_days` at
    `reference`, oldest first."""
    out = [(e, (reference - ts) / 86400) for e, ts in as_of.items() if reference - ts > max_age_days * 86400]
    return sorted(out, key=lambda x: (-x[1], x[0]))
