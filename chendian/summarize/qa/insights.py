"""Community insights for ops (issue 15): response times, who would know, points, and answers gone stale.

Pure functions over the records the earlier stages wrote; the insights stage (pipeline/stages/insights.py)
feeds them and stores what they return, the report (site/report.py) aggregates it per chat and ISO week.
"""

from __future__ import annotations

import csv
import io
import math
import re
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import numpy as np

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
    open_vecs, past_vecs = vecs[:len(open_qas)], vecs[len(open_qas):]
    # Every (answered question, member who answered it) pair once, grouped by question (CSR), with the name that
    # question's answer gave the member; members and topics as integer codes. A big group has tens of thousands
    # of open and answered questions, most of them similar to many others: no Python loop over pairs of them.
    codes: dict[str, int] = {}
    pair_sender, pair_name, starts = [], [], [0]
    for past in answered_qas:
        for sender in sorted({a.sender for a in past.answers if a.sender}):
            pair_sender.append(codes.setdefault(sender, len(codes)))
            pair_name.append(next(a.sender_name for a in past.answers if a.sender == sender) or sender)
        starts.append(len(pair_sender))
    senders = list(codes)
    pair_sender_a = np.array(pair_sender, dtype=np.int64)
    starts_a = np.array(starts, dtype=np.int64)
    topic_codes: dict[str, int] = {}
    past_topic = np.array([topic_codes.setdefault(topic_of[p.id], len(topic_codes)) if topic_of.get(p.id) else -1
                           for p in answered_qas], dtype=np.int64)  # -1: in no topic
    past_rank = np.empty(len(answered_qas), dtype=np.int64)  # the order of the ids, for ties
    past_rank[sorted(range(len(answered_qas)), key=lambda j: answered_qas[j].id)] = np.arange(len(answered_qas))
    past_ids = np.array([p.id for p in answered_qas], dtype=object)
    out: dict[str, list[Expert]] = {}
    sims = None
    for i, q in enumerate(open_qas):
        if i % _EXPERT_BLOCK == 0:  # similarities a block of open questions at a time: memory stays bounded
            sims = open_vecs[i:i + _EXPERT_BLOCK] @ past_vecs.T
        row = sims[i % _EXPERT_BLOCK]
        js = np.flatnonzero(row >= min_similarity)
        js = js[past_ids[js] != q.id]
        if not len(js):
            continue
        topic = topic_codes.get(topic_of.get(q.id) or "", -2)  # -2: no answered question shares it
        weights = row[js].astype(np.float64) * np.where(past_topic[js] == topic, same_topic_weight, 1.0)
        counts = starts_a[js + 1] - starts_a[js]
        total = int(counts.sum())
        if not total:
            continue
        first = np.repeat(starts_a[js], counts)
        pairs = first + np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        of_j = np.repeat(np.arange(len(js)), counts)
        asker = codes.get(q.asker, -1)
        keep = pair_sender_a[pairs] != asker
        pairs, of_j = pairs[keep], of_j[keep]
        if not len(pairs):
            continue
        who, w, j_of = pair_sender_a[pairs], weights[of_j], js[of_j]
        # A member's evidence: their best matches, by weight then question id (as a sort of (-w, id) would give).
        order = np.lexsort((past_rank[j_of], -w, who))
        who_s = who[order]
        bounds = np.flatnonzero(np.r_[True, who_s[1:] != who_s[:-1], True])
        # The name each member is shown with: from the last (highest index) matching question, as before.
        last = np.lexsort((j_of, who))
        who_l = who[last]
        last_of = last[np.flatnonzero(np.r_[who_l[1:] != who_l[:-1], True])]
        name_of = {int(who[k]): pair_name[int(pairs[k])] for k in last_of}
        experts = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            best = order[a:min(b, a + evidence)]
            sender = int(who_s[a])
            experts.append(Expert(senders[sender], name_of[sender], round(sum(float(w[k]) for k in best), 4),
                                  [past_ids[j_of[k]] for k in best]))
        experts.sort(key=lambda e: (-e.score, e.sender))
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
