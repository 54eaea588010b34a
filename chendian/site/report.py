"""The weekly ops report (issue 15): `chendian report [--week] [--json]` and site/report.html read this.

Aggregates the insights stage's tables per chat and ISO week. Names and texts go through the site's privacy
(`[site] names`, personal numbers masked), so the JSON can be shared as freely as the site. docs/report.md
describes every field.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from ..errors import ChendianError
from ..model import CONVERSATIONAL_KINDS, FILE, QA, QUOTE, RECALL, SYSTEM, TEXT
from ..store import Workspace
from ..summarize.qa.extract import ANSWER_WINDOW_MESSAGES
from ..summarize.qa.faq import entry_wording, off_the_open_list
from ..summarize.qa.insights import (URL_RE, Activity, AnswerPoints, Member, MembersError, Response, RoleRules,
                                     iso_week, level_for, member_of, parse_members, shared_parts, role_of, share_kind, shared_urls,
                                     stale_entries, summarize_responses, team_of, team_standings, weekly_kpi)
from .history import Scratch, message_chats
from ..privacy import Privacy

REPORT_VERSION = 2
TOP_CONTRIBUTORS, BEST_ANSWERS = 10, 5
DISCUSSION_SECONDS, MANY_REPLIES = 2 * 3600, 20  # a link's discussion: its conversation's next 2 hours
_FILE_TAIL_RE = re.compile(r"\s+\d+(\.\d+)?\s?[KMG]B\b.*$", re.IGNORECASE | re.DOTALL)
NEW_MEMBER_DAYS = 7  # a first post counts as a new member's only once the chat has this much history before it
# Response-time buckets: (label, upper bound in hours).
BUCKETS = (("<1小时", 1), ("1–4小时", 4), ("4–24小时", 24), ("1–3天", 72), (">3天", float("inf")))
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


class ReportError(ChendianError, ValueError):
    pass


def week_bounds(week: str, tz) -> tuple[int, int]:
    """[start, end) of an ISO week ("2016-W37") as epoch seconds in the workspace's timezone."""
    try:
        start = datetime.strptime(week + "-1", "%G-W%V-%u").replace(tzinfo=tz)
    except ValueError:
        raise ReportError(f"not an ISO week: {week!r} (expected e.g. 2016-W37)") from None
    return int(start.timestamp()), int((start + timedelta(days=7)).timestamp())


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _summary(rows, within_hours: float) -> dict:
    s = summarize_responses(rows, within_hours)
    return {"asked": s.asked, "answered": s.answered, "answered_within": s.answered_within,
            "share_within": None if s.share_within is None else round(s.share_within, 3),
            "median_minutes": _minutes(s.median_seconds), "p90_minutes": _minutes(s.p90_seconds)}


def load_members(ws: Workspace) -> dict[str, Member]:
    """The `[insights] members` file (empty when not set); a missing or malformed file is a ChendianError."""
    rel = ws.config.insights.members
    if not rel:
        return {}
    path = ws.root / rel
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MembersError(f"{path}: members file not found ([insights] members in chendian.toml)") from None
    except UnicodeDecodeError:
        raise MembersError(f"{path}: not UTF-8 text (save the members file as UTF-8)") from None
    return parse_members(text, str(path))


def system_senders(ws: Workspace, chat: str | None = None) -> set[str]:
    """A platform's own accounts (QQ's 10000 posts join notices and group files): nobody to count or rank. One
    that ever wrote a text is a person whose notices an exporter attributed to them, and counts."""
    where = "" if chat is None else "WHERE chat = ? "
    return {row[0] for row in ws.db.execute(
        f"SELECT sender FROM messages {where}GROUP BY sender HAVING sum(CASE WHEN kind = ? THEN 1 ELSE 0 END) > 0"
        " AND sum(CASE WHEN kind IN (?, ?) THEN 1 ELSE 0 END) = 0",
        (*([chat] if chat is not None else []), SYSTEM, TEXT, QUOTE))}


def link_replies(ws: Workspace, m, replies_to_it: int) -> int:
    """How many messages discussed a shared link `m` (a messages row with its thread_id): later messages of its
    conversation by others within DISCUSSION_SECONDS, or replies quoting it, whichever is more."""
    replies = 0
    if m["thread_id"]:
        # within a while of it: a long-running conversation's later messages are not about the link
        replies = ws.db.execute(
            "SELECT count(*) FROM message_threads mt JOIN messages x ON x.id = mt.message_id WHERE mt.thread_id = ?"
            " AND x.ts >= ? AND x.ts < ? AND x.id != ? AND x.sender != ? AND x.kind NOT IN (?, ?) AND x.recalled = 0",
            (m["thread_id"], m["ts"], m["ts"] + DISCUSSION_SECONDS, m["id"], m["sender"], SYSTEM, RECALL)).fetchone()[0]
    return max(replies, replies_to_it)


def share_title(ws: Workspace, m, extra: dict) -> str:
    """What a shared link is: the card's title, else the words around the link, else the next message its
    sender wrote within 2 minutes (a link pasted first, then explained); "" when none says."""
    title = extra.get("title") if isinstance(extra.get("title"), str) else ""
    if not title:
        title = re.sub(r"\s+", " ", URL_RE.sub(" ", m["text"] or "")).strip(" ：:，,-—")
    if not title:
        nxt = ws.db.execute("SELECT text FROM messages WHERE chat = ? AND sender = ? AND ts >= ? AND ts <= ? AND id != ?"
                            " AND recalled = 0 ORDER BY ts, rowid LIMIT 1",
                            (m["chat"], m["sender"], m["ts"], m["ts"] + 120, m["id"])).fetchone()
        title = re.sub(r"\s+", " ", URL_RE.sub(" ", nxt["text"] if nxt else "")).strip()
    return title


def discussion_label(replies: int) -> str:
    if not replies:
        return "无人回应"
    return f"有讨论（{replies} 条回复）" if replies < MANY_REPLIES else f"有讨论（{MANY_REPLIES}+ 条回复）"


def share_rows(ws: Workspace, chat: str | None, start: int, end: int) -> list:
    """Messages of [start, end) that share a link or a file, with their conversation, oldest first."""
    kinds = sorted(CONVERSATIONAL_KINDS | {FILE})
    # every chat's through the (chat, ts) index: a seek per chat, not a pass over every message
    chats = [chat] if chat is not None else message_chats(ws.db)
    return ws.db.execute(
        "SELECT m.id, m.chat, m.ts, m.sender, m.sender_name, m.kind, m.text, m.extra, mt.thread_id FROM messages m"
        " LEFT JOIN message_threads mt ON mt.message_id = m.id WHERE m.chat IN (SELECT value FROM json_each(?))"
        f" AND m.ts >= ? AND m.ts < ? AND m.recalled = 0 AND m.kind IN ({','.join('?' * len(kinds))})"
        " ORDER BY m.ts, m.rowid", (json.dumps(chats), start, end, *kinds)).fetchall()


def extra_of(m) -> dict:
    return json.loads(m["extra"] or "{}") if (m["extra"] or "").startswith("{") else {}


def repliers(ws: Workspace, open_qas: Iterable[QA], qas: Iterable[QA], until: int | None = None) -> dict[str, int | None]:
    """For each open question (QA id → count; None without a conversation): how many other people spoke after it in
    its conversation, before someone else asked the next question there (one of `qas`) and within the extractor's
    answer window (ANSWER_WINDOW_MESSAGES). 0 is a question nobody took up (消灭零回复); more means people did
    reply and an answer may be among them unrecognised (most wrong 待回答 items on the labelled groups are answered
    ones), for ops to read in the conversation before asking anyone. `until`: count only what was said by then."""
    asked: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for qa in qas:
        if qa.thread_id:
            asked[qa.thread_id].append((qa.ts, qa.asker))
    out: dict[str, int | None] = {}
    for qa in open_qas:
        if not qa.thread_id:
            out[qa.id] = None
            continue
        cut = min((ts for ts, asker in asked[qa.thread_id] if ts > qa.ts and asker != qa.asker), default=None)
        if until is not None:
            cut = until + 1 if cut is None else min(cut, until + 1)
        rows = ws.db.execute(
            "SELECT m.sender, m.ts, m.kind, m.recalled FROM message_threads t JOIN messages m ON m.id = t.message_id"
            " WHERE t.thread_id = ? AND m.ts >= ? AND m.id != ? ORDER BY m.ts, m.rowid LIMIT ?",
            (qa.thread_id, qa.ts, qa.question_id, ANSWER_WINDOW_MESSAGES)).fetchall()
        out[qa.id] = len({sender for sender, ts, kind, recalled in rows
                          if (cut is None or ts < cut) and sender != qa.asker and not recalled
                          and kind in CONVERSATIONAL_KINDS})
    return out


def weekly_report(ws: Workspace, week: str | None = None, warn=lambda m: None, *, qas=None, people=None,
                  entries=None, history=None) -> dict:
    """The report for one ISO week (default: the week of the newest question).

    What the caller has read already may be handed in (the site's build does): `qas` (ws.qas()), `people` (the
    (sender, sender_name) pairs of every message but notices, in that order), `entries`
    (ws.faq_entries(include_hidden=False)), and `history`, the whole-history reads (site/history.py: the
    publish stage's Cached; default: Scratch, from the messages)."""

    cfg, tz = ws.config, ws.config.tz
    within = cfg.insights.answer_within_hours
    history = history if history is not None else Scratch(ws.db)
    privacy = Privacy(cfg.site.names)
    if people is None:
        people = ws.db.execute("SELECT sender, sender_name FROM messages WHERE kind != ? GROUP BY sender, sender_name",
                               (SYSTEM,))
    for sender, name in people:
        privacy.name(sender, name)  # registered up front: names inside free text are rewritten too
    chat_names = {r["id"]: r["name"] for r in ws.chats()}
    qas = {qa.id: qa for qa in (qas if qas is not None else ws.qas(warn=warn))}
    points = ws.answer_points()
    chats_ = message_chats(ws.db)
    rows = [Response(r["qa_id"], r["chat"], r["week"], r["asked_ts"], r["first_answer_ts"])
            for r in ws.question_responses()]
    if week is None:
        week = rows[-1].week if rows else iso_week(int(datetime.now(tz).timestamp()), tz)
    start, end = week_bounds(week, tz)
    newest = history.newest_ts() or end
    reference = min(end, newest)  # a week still under way is measured up to the newest message

    def name(sender, raw):
        return privacy.name(sender, raw)

    def text(raw):
        return privacy.text(raw or "")

    def when(ts):
        return datetime.fromtimestamp(ts, tz).isoformat(timespec="minutes") if ts is not None else None

    # Response, per chat: this week, and every week (the trend)
    by_chat_week: dict[tuple[str, str], list[Response]] = defaultdict(list)
    for r in rows:
        by_chat_week[(r.chat, r.week)].append(r)
    this_week = [r for r in rows if r.week == week]
    weeks_of: dict[str, list] = defaultdict(list)  # chat → its (week, rows), oldest first: sorted once, not per chat
    for (c, w), rs in sorted(by_chat_week.items()):
        weeks_of[c].append((w, rs))
    chats = []
    for chat in sorted({r.chat for r in rows}):
        chats.append({"chat": chat, "name": text(chat_names.get(chat, chat)),
                      "this_week": _summary([r for r in this_week if r.chat == chat], within),
                      "weeks": [{"week": w, **_summary(rs, within)} for w, rs in weeks_of[chat]]})

    experts = ws.expert_suggestions()

    def suggested(qa_id):
        out, shown = [], set()
        for e in experts.get(qa_id, []):
            shown_name = name(e["sender"], e["name"])
            if shown_name in shown:  # one person under two platforms' ids (a WeChat and a QQ group): list them once
                continue
            shown.add(shown_name)
            out.append({"name": shown_name, "score": round(e["score"], 3),
                        "similar_questions": [text(qas[q].question) for q in e["similar_qa_ids"] if q in qas]})
        return out

    # Unanswered by the reference time, asked this week or before: oldest first, with their age; as the site's
    # 待回答 list, none that an entry already answers and one item per entry (faq.off_the_open_list)
    if entries is None:
        entries = ws.faq_entries(include_hidden=False, warn=warn)
    not_listed = off_the_open_list(entries, cfg.faq.min_worthy_unanswered,
                                   {q for q, qa in qas.items() if not qa.answers})
    unanswered = []
    for r in rows:
        if r.asked_ts < end and (r.first_answer_ts is None or r.first_answer_ts > reference) and r.qa_id in qas \
                and r.qa_id not in not_listed:
            qa = qas[r.qa_id]
            unanswered.append({"qa_id": r.qa_id, "chat": text(chat_names.get(r.chat, r.chat)),
                               "question": text(entry_wording(qa.question)), "asker": name(qa.asker, qa.asker_name),
                               "asked_at": when(r.asked_ts), "age_hours": round(max(reference - r.asked_ts, 0) / 3600, 1),
                               "experts": suggested(r.qa_id)})
    replied = repliers(ws, [qas[u["qa_id"]] for u in unanswered], qas.values(), until=reference)
    for u in unanswered:
        u["repliers"] = replied[u["qa_id"]]
    answered_ids = {r.qa_id for r in rows if r.first_answer_ts is not None}
    review = [{"qa_id": q, "question": text(entry_wording(qas[q].question)), "asked_at": when(qas[q].ts), "experts": suggested(q)}
              for q in experts if q in answered_ids and q in qas and start <= qas[q].ts < end]

    # Response-time distribution this week
    hist = Counter()
    for r in this_week:
        if r.seconds is None:
            hist["未回答"] += 1
        else:
            hist[next(label for label, hours in BUCKETS if r.seconds < hours * 3600)] += 1
    distribution = [{"bucket": label, "count": hist[label]} for label, _ in BUCKETS] + [
        {"bucket": "未回答", "count": hist["未回答"]}]

    # Recognition
    points_rows = [p for p in points if p["week"] == week]
    people: dict[str, dict] = {}
    for p in points_rows:
        d = people.setdefault(p["sender"], {"name": name(p["sender"], p["name"]), "points": 0.0, "answers": 0,
                                            "acknowledged": 0, "repeats": 0})
        d["points"] += p["points"]
        d["answers"] += 1
        d["acknowledged"] += p["acknowledged"]
        d["repeats"] += p["repeats"]
    top = sorted(people.values(), key=lambda d: (-d["points"], -d["acknowledged"], d["name"]))[:TOP_CONTRIBUTORS]
    to_date: dict[str, float] = defaultdict(float)  # the level counts every week up to this one
    for p in points:
        if p["week"] <= week:
            to_date[p["sender"]] += p["points"]
    for sender, d in people.items():
        d["level"] = level_for(to_date[sender], cfg.insights.levels)
    best = []
    for p in sorted(points_rows, key=lambda p: (-p["points"], p["qa_id"], p["sender"])):
        qa = qas.get(p["qa_id"])
        answer = next((a for a in qa.answers if a.sender == p["sender"]), None) if qa else None
        if answer is None:
            continue
        best.append({"qa_id": qa.id, "question": text(qa.question), "answerer": name(p["sender"], p["name"]),
                     "answer": text(answer.text), "points": p["points"], "acknowledged": bool(p["acknowledged"]),
                     "repeats": p["repeats"]})
        if len(best) == BEST_ANSWERS:
            break

    # Freshness: answers a later message superseded (all of them up to the week's end)
    message_ts = {}
    superseded = []
    for s in ws.superseded_answers():
        if s["by_ts"] >= end or s["qa_id"] not in qas:
            continue
        qa = qas[s["qa_id"]]
        answer = next((a for a in qa.answers if s["answer_message_id"] in a.message_ids), None)
        by = ws.db.execute("SELECT sender, sender_name, text, ts FROM messages WHERE id = ?", (s["by_message_id"],)).fetchone()
        row = ws.db.execute("SELECT ts FROM messages WHERE id = ?", (s["answer_message_id"],)).fetchone()
        message_ts[s["answer_message_id"]] = row["ts"] if row else None
        superseded.append({"qa_id": qa.id, "question": text(qa.question),
                           "answer": text(answer.text if answer else ""),
                           "answerer": name(answer.sender, answer.sender_name) if answer else "",
                           "answered_at": when(message_ts[s["answer_message_id"]]),
                           "superseded_by": text(by["text"]) if by else "",
                           "superseded_by_name": name(by["sender"], by["sender_name"]) if by else "",
                           "superseded_at": when(s["by_ts"]), "phrase": s["phrase"]})

    # Activity this week (what people wrote: no notices, nothing recalled)
    by_day, by_hour = [0] * 7, [0] * 24
    for (ts,) in ws.db.execute("SELECT ts FROM messages WHERE chat IN (SELECT value FROM json_each(?)) AND ts >= ?"
                               " AND ts < ? AND kind NOT IN (?, ?) AND recalled = 0",
                               (json.dumps(chats_), start, end, SYSTEM, RECALL)):
        t = datetime.fromtimestamp(ts, tz)
        by_day[t.weekday()] += 1
        by_hour[t.hour] += 1

    community = _community(ws, week, start, end, reference, qas, name, text, when, warn, points=points,
                           entries=entries, history=history, chats=chats_)

    return {
        "version": REPORT_VERSION, "week": week, "week_start": when(start), "week_end": when(end),
        "reference_time": when(reference), "answer_within_hours": within,
        "totals": _summary(this_week, within), "chats": chats,
        "response_time_distribution": distribution,
        "unanswered": unanswered, "needs_review": review,
        "points_rules": {"answer": cfg.insights.points_answer, "acknowledged": cfg.insights.points_acknowledged,
                         "per_repeat": cfg.insights.points_per_repeat, "max_repeats": cfg.insights.max_repeats},
        "top_contributors": top, "best_answers": best, "superseded": superseded,
        "activity": {"messages": sum(by_day), "by_weekday": dict(zip(WEEKDAYS, by_day)),
                     "by_hour": {f"{h:02d}": n for h, n in enumerate(by_hour)}},
        "weeks": sorted({r.week for r in rows}, reverse=True),
        **community,
    }


def _community(ws: Workspace, week, start, end, reference, qas, name, text, when, warn, *, points, entries, history,
               chats) -> dict:
    """Teams, levels, the 群管 KPI, roles, new members, shares and stale entries (docs/report.md)."""
    cfg = ws.config.insights
    members = load_members(ws)
    all_points = [AnswerPoints(p["qa_id"], p["sender"], p["name"], p["week"], p["points"], bool(p["acknowledged"]),
                               p["repeats"]) for p in points]
    week_points = [p for p in all_points if p.week == week]
    display = {}
    for sender, raw in history.display():
        display[sender] = raw  # the newest name each sender wrote under (a nickname's department may change)

    system = history.system()
    for sender in system:
        display.pop(sender, None)
    shared = shared_parts(display.values())

    def team(sender, raw):
        if ws.config.site.names != "real":  # a nickname's department is part of a name the site does not show
            m = member_of(sender, display.get(sender, raw), members)
            return m.team if m and m.team else None
        return team_of(sender, display.get(sender, raw), members, shared)

    standings = [{"team": text(s.team), "members": s.members, "points": s.points, "answers": s.answers,
                  "confirmed": s.confirmed} for s in team_standings(week_points, team)]
    total_points: dict[str, float] = defaultdict(float)
    for p in all_points:
        if p.week <= week:
            total_points[p.sender] += p.points
    by_shown: dict[str, float] = defaultdict(float)  # one person under two platforms' ids: counted once
    for s, pts in total_points.items():
        by_shown[name(s, display.get(s))] += pts
    levels = [{"name": n, "points": pts, "level": level_for(pts, cfg.levels)}
              for n, pts in sorted(by_shown.items(), key=lambda x: (-x[1], x[0]))]
    kpi = [{"week": k.week, "answerers": k.answerers, "answers": k.answers, "confirmed": k.confirmed}
           for k in weekly_kpi(all_points)]

    # Roles this week, from counts anyone can check in the transcript
    acts: dict[str, Activity] = {}

    def act(sender, raw):
        return acts.setdefault(sender, Activity(sender, raw or sender))

    for sender, raw, n in ws.db.execute(  # each sender's messages this week, with the name of their newest one
            "SELECT sender, sender_name, n FROM (SELECT sender, sender_name, count(*) OVER (PARTITION BY sender) AS n,"
            " row_number() OVER (PARTITION BY sender ORDER BY ts DESC, rowid DESC) AS k FROM messages"
            " WHERE chat IN (SELECT value FROM json_each(?)) AND ts >= ? AND ts < ? AND kind NOT IN (?, ?)"
            " AND recalled = 0 AND sender != '') w WHERE k = 1",
            (json.dumps(chats), start, end, SYSTEM, RECALL)):
        if sender not in system:
            act(sender, raw).messages = n
    questions = {q.question_id for q in qas.values()}
    for sender, first_id in ws.db.execute(
            # the first message of each conversation that began this week, when someone else wrote in it too
            # (only conversations that overlap the week are numbered, their messages found through the thread
            # index: 30× faster than a subquery per message, and than a pass over every message)
            "SELECT f.sender, f.id FROM (SELECT m.sender, m.id, m.ts, mt.thread_id, row_number() OVER"
            "  (PARTITION BY mt.thread_id ORDER BY m.ts, m.rowid) AS k FROM message_threads mt"
            "  JOIN messages m ON m.id = mt.message_id"
            "  WHERE mt.thread_id IN (SELECT t.id FROM threads t WHERE t.first_ts < ? AND t.last_ts >= ?)"
            "  AND m.kind NOT IN (?, ?) AND m.recalled = 0) f"
            " WHERE f.k = 1 AND f.ts >= ? AND f.ts < ? AND EXISTS (SELECT 1 FROM message_threads t3"
            "  JOIN messages y ON y.id = t3.message_id WHERE t3.thread_id = f.thread_id AND y.sender != f.sender"
            "  AND y.kind NOT IN (?, ?) AND y.recalled = 0)",
            (end, start, SYSTEM, RECALL, start, end, SYSTEM, RECALL)):
        if sender in acts and first_id not in questions:  # asking a question organises nothing
            acts[sender].started += 1
    for p in week_points:
        act(p.sender, p.name).answers += 1

    by_name = {raw: s for s, raw in display.items()}
    by_name.update({s: s for s in display})
    # Shares: links (公众号 articles) and files, and whether a discussion followed
    shares, seen_urls = [], set()
    replied = dict(ws.db.execute("SELECT reply_to, count(*) FROM messages WHERE chat IN (SELECT value FROM json_each(?))"
                                 " AND ts >= ? AND recalled = 0 AND reply_to IS NOT NULL GROUP BY reply_to",
                                 (json.dumps(chats), start)))
    for m in share_rows(ws, None, start, end):
        extra = extra_of(m)
        urls = shared_urls(m["text"], extra)
        if not urls and m["kind"] != FILE:
            continue
        sender, raw = m["sender"], m["sender_name"]
        if sender in system and isinstance(extra.get("shared_by"), str):  # QQ's 10000 posts the files people share
            sender = by_name.get(extra["shared_by"])  # None: someone who never wrote (only their number is known)
            raw = display.get(sender, "群成员")
        if sender and sender not in system:
            act(sender, raw).shares += 1
        key = next((u for u in urls if u not in seen_urls), None) if urls else f"file:{extra.get('name') or m['text']}"
        if key is None or key in seen_urls:
            continue  # the same link or file again: its first share is the one listed
        seen_urls.add(key)
        url = key if urls else None
        replies = link_replies(ws, m, replied.get(m["id"], 0))
        title = (extra["name"] if not urls and isinstance(extra.get("name"), str) and extra["name"]
                 else share_title(ws, m, extra)) or "（没有说明）"
        title = _FILE_TAIL_RE.sub("", title) or title  # "x.pdf 412.6KB C:\Users\…": the size and local path go
        shares.append({"kind": share_kind(url), "title": text(title)[:60], "url": text(url) if url else None,
                       "sharer": name(sender, raw) if sender else "群成员", "shared_at": when(m["ts"]),
                       "replies": replies, "discussed": replies > 0, "discussion": discussion_label(replies)})
    rules = RoleRules()
    for sender, m in members.items():  # listed members who wrote nothing this week are observers too
        if not any(sender in (a.sender, a.name) for a in acts.values()):
            acts[sender] = Activity(sender, sender)
    roles: dict[str, list[str]] = {r: [] for r in ("组织者", "积极分子", "参与者", "潜水者")}
    for a in sorted(acts.values(), key=lambda a: (-a.started, -(a.answers + a.shares), -a.messages, a.sender)):
        roles[role_of(a, rules)].append(name(a.sender, display.get(a.sender, a.name)))

    # New members: their first message ever in a chat falls in this week, after a week of the chat's history
    new_members, chat_firsts = [], {}
    for chat, sender, first in history.first_posts(start, end):
        if chat not in chat_firsts:
            chat_firsts[chat] = ws.db.execute("SELECT min(ts) FROM messages WHERE chat = ?", (chat,)).fetchone()[0]
        if first - chat_firsts[chat] < NEW_MEMBER_DAYS * 86400 or sender in system:
            continue
        # the name and text of the earliest message they wrote at that second
        raw, body = ws.db.execute("SELECT sender_name, text FROM messages WHERE chat = ? AND sender = ? AND ts = ?"
                                  " ORDER BY rowid LIMIT 1", (chat, sender, first)).fetchone()
        new_members.append({"name": name(sender, raw), "first_post_at": when(first), "first_post": text(body)[:80]})

    # Stale: published entries whose newest standing answer is older than stale_after_days at reference
    superseded_ids = {s["answer_message_id"] for s in ws.superseded_answers()}
    message_ts = {}
    if entries is None:
        entries = ws.faq_entries(include_hidden=False, warn=warn)
    entries = {e.id: e for e in entries if e.published and e.answered}
    wanted = {m for e in entries.values() for q in e.qa_ids if q in qas for a in qas[q].answers for m in a.message_ids}
    for mid, ts in ws.db.execute("SELECT id, ts FROM messages WHERE id IN (SELECT value FROM json_each(?))",
                                 (json.dumps(sorted(wanted)),)):
        message_ts[mid] = ts
    as_of = {}
    for e in entries.values():
        times = []
        for q in e.qa_ids:
            for a in (qas[q].answers if q in qas else []):
                given = [message_ts[m] for m in a.message_ids if m in message_ts]
                if given and min(given) < end and not (set(a.message_ids) & superseded_ids):
                    times.append(min(given))
        if times:
            as_of[e.id] = max(times)
    stale = [{"entry_id": e, "question": text(entries[e].question), "as_of": when(as_of[e])[:10],
              "age_days": round(age, 1)} for e, age in stale_entries(as_of, reference, cfg.stale_after_days)]

    return {"team_standings": standings, "levels": levels,
            "level_rules": [{"points": p, "level": n} for p, n in cfg.levels], "kpi": kpi,
            "roles": [{"role": r, "count": len(v), "members": v} for r, v in roles.items()],
            "new_members": new_members,
            "shares": {"total": len(shares), "discussed": sum(1 for x in shares if x["discussed"]),
                       "articles": sum(1 for x in shares if x["kind"] == "文章"), "items": shares},
            "stale_after_days": cfg.stale_after_days, "stale": stale,
            "members_file": bool(members)}


def _line(value: str, n: int) -> str:
    """One line of at most n characters (questions and answers span lines)."""
    flat = " ".join(value.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def report_text(report: dict) -> str:
    """The report as lines a person reads in a terminal."""
    t = report["totals"]

    def share(v):
        return "—" if v is None else f"{v:.0%}"

    def mins(v):
        return "—" if v is None else (f"{v:.0f} 分钟" if v < 120 else f"{v / 60:.1f} 小时")

    lines = [f"周报 {report['week']}（{report['week_start'][:10]} 起，统计到 {report['reference_time']}）",
             f"提问 {t['asked']}，已回答 {t['answered']}，{report['answer_within_hours']:g} 小时内回答 "
             f"{t['answered_within']}（{share(t['share_within'])}），首答用时中位数 {mins(t['median_minutes'])}，"
             f"P90 {mins(t['p90_minutes'])}"]
    for c in report["chats"]:
        w = c["this_week"]
        if w["asked"]:
            lines.append(f"  {c['name']}: 提问 {w['asked']}，已回答 {w['answered']}，中位数 {mins(w['median_minutes'])}")
    lines.append(f"未回答 {len(report['unanswered'])}：")
    for u in report["unanswered"]:
        who = "、".join(e["name"] for e in u["experts"]) or "—"
        took = {0: "  · 无人回复", None: ""}.get(u.get("repliers"), f"  · 讨论里 {u.get('repliers')} 人接过话")
        lines.append(f"  [{u['age_hours']:.0f} 小时] {_line(u['question'], 40)}{took}  · 可以问：{who}")
    if report["needs_review"]:
        lines.append(f"待复核（答案把握不大）{len(report['needs_review'])}：")
        for r in report["needs_review"]:
            lines.append(f"  {_line(r['question'], 40)}  · 可以问：{'、'.join(e['name'] for e in r['experts'])}")
    lines.append("本周贡献：" + ("，".join(f"{p['name']} {p['points']:g} 分" for p in report["top_contributors"]) or "—"))
    for b in report["best_answers"][:3]:
        lines.append(f"  最佳回答 {b['answerer']}（{b['points']:g} 分）：{_line(b['question'], 30)} → {_line(b['answer'], 40)}")
    for s in report["superseded"]:
        lines.append(f"已过时：{_line(s['question'], 30)} · {s['answerer']} {s['answered_at'][:10]} 的回答被"
                     f" {s['superseded_at'][:10]}「{_line(s['superseded_by'], 30)}」更正")
    if report["team_standings"]:
        lines.append("团队积分：" + "，".join(f"{s['team']} {s['points']:g} 分（回答 {s['answers']}，被确认 {s['confirmed']}）"
                                          for s in report["team_standings"]))
    k = next((k for k in report["kpi"] if k["week"] == report["week"]), None)
    if k:
        lines.append(f"群管 KPI：回答人数 {k['answerers']}，回答 {k['answers']}，被确认 {k['confirmed']}")
    lines.append("角色：" + "，".join(f"{r['role']} {r['count']}" for r in report["roles"]))
    for n in report["new_members"]:
        lines.append(f"  新成员 {n['name']}（{n['first_post_at'][:10]}）：{_line(n['first_post'], 40)}")
    sh = report["shares"]
    lines.append(f"分享 {sh['total']}（公众号文章 {sh['articles']}），引发讨论 {sh['discussed']}")
    for x in sh["items"]:
        lines.append(f"  [{x['kind']}] {_line(x['title'], 30)} · {x['sharer']} · {x['discussion']}")
    if report["stale"]:
        lines.append(f"可能过时（超过 {report['stale_after_days']:g} 天）{len(report['stale'])}：")
        for x in report["stale"]:
            lines.append(f"  {_line(x['question'], 40)}  · 截至 {x['as_of']}")
    return "\n".join(lines)


def report_json(report: dict) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2)
