"""The weekly digest ops post back into the group (issue 21): a long image, a page and paste-ready text.

`gather()` reads what the stages wrote for one chat and one period (an ISO week or a day) and returns plain,
published values: every text through the site's privacy (masking, `[site] names`), nothing held for review.
`render_*()` turn that into Markdown, paste-ready text (within WeChat's message length), HTML for a phone, and
PNG parts; `write_digest()` writes them, auditing the group version first (site/audit.py) and refusing to
write one that leaks.

Two audiences: `group` (what goes back into the chat) and `ops` (adds the review queue, stale answers and slow
answers). The figures degrade gracefully: without the insights stage's tables the counted questions are the
extract stage's, recognition is the answers the asker confirmed or whose question came back.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from .. import atomic
from ..model import FILE, RECALL, SYSTEM
from ..store import Workspace
from ..summarize.qa.insights import iso_week, nearest_rank, shared_urls
from .audit import LeakError, audit_site, names_to_hide
from .build import _Context, _load_recalled, _snippet, known_people, slug
from ..privacy import Privacy
from .render import MarkdownRenderer
from ..summarize.qa.faq import off_the_open_list, unlisted
from ..summarize.text.analyze import unaddressed
from .report import ReportError, discussion_label, share_title, system_senders, extra_of, link_replies, share_rows, week_bounds

DIGEST_VERSION = 1
AUDIENCES = ("group", "ops")
FORMATS = ("png", "html", "md")
# Paste-ready text: the strictest documented limit a group message meets is the WeCom group robot's text
# message, "最长不超过2048个字节" (UTF-8); WeChat publishes none for a typed message. Kept under it, the text can be
# pasted by hand or pushed by a bot. About 680 Chinese characters.
TEXT_LIMIT_BYTES = 2048
# The image: laid out at a phone's 375 CSS px, shot at 2× → 750 px wide; WeChat shows an image taller than about
# 8,000 px as an unreadable strip, so it is cut into parts at section boundaries below that.
IMAGE_CSS_WIDTH, IMAGE_SCALE, MAX_PART_PX = 375, 2, 8000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HOW_TO_GET_IMAGES = ("未生成长图：需要 playwright 和 Chromium（pip install 'chendian[image]'；"
                     "Debian: apt install chromium fonts-noto-cjk）")
TOP_ENTRIES, TOP_PEOPLE, TOP_RECOGNIZED, TOP_OPEN, TOP_LINKS, TOP_OUTLIERS = 5, 3, 3, 5, 8, 5
MIN_ANSWER_CHARS = 4  # a one-word reply ("关") is no answer to put in front of the group
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


# -- the period ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    kind: str  # "week" | "day"
    label: str  # "2016-W37" | "2016-09-12"
    start: int  # [start, end) epoch seconds in the workspace's timezone
    end: int
    prev_start: int
    prev_end: int
    title: str  # 2016年第37周（9月12日–9月18日）
    prev_name: str  # 上周 | 前一天


def _md(ts: int, tz) -> str:
    d = datetime.fromtimestamp(ts, tz)
    return f"{d.month}月{d.day}日"


def week_period(week: str, tz) -> Period:
    start, end = week_bounds(week, tz)
    prev = (datetime.fromtimestamp(start, tz) - timedelta(days=7)).isocalendar()
    prev_start, prev_end = week_bounds(f"{prev[0]}-W{prev[1]:02d}", tz)
    year, number = week.split("-W")
    return Period("week", week, start, end, prev_start, prev_end,
                  f"{year}年第{int(number)}周（{_md(start, tz)}–{_md(end - 1, tz)}）", "上周")


def day_period(day: str, tz) -> Period:
    try:
        d = date.fromisoformat(day) if _DAY_RE.fullmatch(day or "") else None
    except ValueError:
        d = None
    if d is None:
        raise ReportError(f"not a day: {day!r} (expected e.g. 2016-09-12)")

    def at(x: date) -> int:
        return int(datetime(x.year, x.month, x.day, tzinfo=tz).timestamp())

    return Period("day", day, at(d), at(d + timedelta(days=1)), at(d - timedelta(days=1)), at(d),
                  f"{d.year}年{d.month}月{d.day}日", "前一天")


def latest_complete_week(ws: Workspace, now: float | None = None) -> Period:
    """The newest ISO week that has ended by `now` and holds messages."""
    tz = ws.config.tz
    now = time.time() if now is None else now
    this_week, _ = week_bounds(iso_week(int(now), tz), tz)
    newest = ws.db.execute("SELECT max(ts) FROM messages WHERE ts < ? AND kind != ?", (this_week, SYSTEM)).fetchone()[0]
    if newest is None:
        raise ReportError("no complete week with messages yet: import an export first, or pass --week / --day")
    return week_period(iso_week(newest, tz), tz)


def resolve_period(ws: Workspace, week: str | None = None, day: str | None = None, now: float | None = None) -> Period:
    if week and day:
        raise ReportError("give --week or --day, not both")
    if day:
        return day_period(day, ws.config.tz)
    if week:
        return week_period(week, ws.config.tz)
    return latest_complete_week(ws, now)


def resolve_chats(ws: Workspace, period: Period, chat: str | None = None) -> list[tuple[str, str]]:
    """(chat id, name) to make a digest for: the one named (id or name), else every chat active in the period."""
    chats = {r["id"]: r["name"] for r in ws.chats()}
    if chat:
        found = [(c, n) for c, n in chats.items() if chat in (c, n)]
        if not found:
            raise ReportError(f"no chat named {chat!r}; chats: {', '.join(sorted(set(chats.values()))) or '(none)'}")
        return found
    active = [r[0] for r in ws.db.execute("SELECT DISTINCT chat FROM messages WHERE ts >= ? AND ts < ? AND kind != ?",
                                          (period.start, period.end, SYSTEM))]
    return [(c, chats.get(c, c)) for c in sorted(active)]


# -- gathering -------------------------------------------------------------------------------------------------

def _change(now: float | None, before: float | None, *, kind: str, better: str, prev_name: str) -> dict:
    """A card's change against the previous period: text, direction, and whether that is good news."""
    if now is None or before is None:
        return {"text": f"{prev_name}无数据", "trend": "none", "good": None}
    delta = now - before
    if abs(delta) < (1 if kind == "minutes" else 1e-9):  # under a minute apart: the same, as shown
        return {"text": f"与{prev_name}持平", "trend": "flat", "good": None}
    trend = "up" if delta > 0 else "down"
    good = (delta > 0) == (better == "up")
    if kind == "count":
        pct = f"（{delta / before:+.0%}）" if before else ""
        text = f"较{prev_name} {delta:+.0f}{pct}"
    elif kind == "share":
        text = f"较{prev_name} {delta * 100:+.0f} 个百分点"
    else:  # minutes
        text = f"较{prev_name}{'慢' if delta > 0 else '快'} {_duration(abs(delta) * 60)}"
    return {"text": text, "trend": trend, "good": good}


# What a chat export writes for a sticker or a picture says nothing in a digest.
_PLACEHOLDER_RE = re.compile(r"\[(?:[\u4e00-\u9fff]{1,4}|emoji)\]", re.IGNORECASE)  # [图片] [表情] [偷笑]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = seconds / 60
    if minutes < 1:
        return "不到 1 分钟"
    if minutes < 120:
        return f"{minutes:.0f} 分钟"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} 小时"
    return f"{minutes / 1440:.1f} 天"


def _share(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


class _Reader:
    """One digest's view of the workspace: privacy, recalled messages, questions counted, entries."""

    def __init__(self, ws: Workspace, warn=lambda m: None):
        self.ws, self.cfg, self.tz = ws, ws.config, ws.config.tz
        self.ctx = _Context(ws=ws, rc=None, privacy=Privacy(ws.config.site.names), md=MarkdownRenderer(), tz=self.tz)
        _load_recalled(self.ctx)
        self.warn = warn
        contributors = ws.contributors(warn=warn)
        for sender, name in known_people(ws.db, contributors):
            self.ctx.privacy.name(sender, name)  # registered up front: names inside free text are rewritten
        self.qas = {q.id: q for q in ws.qas(warn=warn)}
        self.entries = ws.faq_entries(include_hidden=True, warn=warn)
        self.entry_of = {q: e for e in self.entries for q in e.qa_ids}
        floor = self.cfg.faq.min_worthy_unanswered
        self.not_listed = {q for e in self.entries if unlisted(e, floor) for q in e.qa_ids}
        # as the site's 待回答 list: nor those an entry already answers, and one item per entry
        self.not_open = off_the_open_list(self.entries, floor, {q.id for q in self.qas.values() if not q.answers})
        self.responses = [dict(r) for r in ws.question_responses()]
        self.has_insights = bool(self.responses)  # the insights stage has counted questions
        self.experts = ws.expert_suggestions()
        self.points = [dict(r) for r in ws.answer_points()]
        self.newest = ws.db.execute("SELECT max(ts) FROM messages").fetchone()[0] or 0
        self._system: dict[str, set[str]] = {}
        ids = [m for q in self.qas.values() for a in q.answers for m in a.message_ids]
        self.message_ts = dict(ws.db.execute("SELECT id, ts FROM messages WHERE id IN (SELECT value FROM json_each(?))",
                                             (json.dumps(ids),)))

    def system_senders(self, chat: str) -> set[str]:
        if chat not in self._system:
            self._system[chat] = system_senders(self.ws, chat)  # as the ops report counts them
        return self._system[chat]

    def name(self, sender, name) -> str:
        return self.ctx.privacy.name(sender, name)

    def text(self, raw, n: int | None = None) -> str:
        t = self.ctx.text(unaddressed(_PLACEHOLDER_RE.sub("", raw or ""), keep_bare=False))
        return _snippet(t, n) if n else t

    def shown(self, e) -> bool:
        """What the group may see of an entry: published under [faq] publish and confirmed, never hidden."""
        return (not e.hidden and e.published and e.answered and e.trust(self.cfg.faq.min_confidence) == "confirmed")

    def standing_answers(self, qa):
        """A question's answers that may be shown: not recalled, not the asker's own."""
        if qa.question_id in self.ctx.recalled_ids:
            return []
        return [a for a in qa.answers if a.text.strip() and a.sender != qa.asker
                and not any(m in self.ctx.recalled_ids for m in a.message_ids)]

    def counted(self, chat: str, start: int, end: int) -> list[dict]:
        """The questions the cards count, asked in [start, end): the insights stage's (worthy, not hidden), or
        without it the extract stage's outside hidden and unlikely-worthy entries."""
        if self.has_insights:
            return [{"qa_id": r["qa_id"], "asked_ts": r["asked_ts"], "first_answer_ts": r["first_answer_ts"]}
                    for r in self.responses if r["chat"] == chat and start <= r["asked_ts"] < end]
        out = []
        for q in self.qas.values():
            if q.chat != chat or not start <= q.ts < end or q.id in self.not_listed:
                continue
            times = [self.message_ts[m] for a in q.answers for m in a.message_ids if m in self.message_ts]
            out.append({"qa_id": q.id, "asked_ts": q.ts, "first_answer_ts": max(min(times), q.ts) if times else None})
        return out


def _activity(ws: Workspace, chat: str, start: int, end: int, system: set[str]) -> tuple[int, int]:
    """(messages people wrote, people who wrote them): no notices, nothing recalled, no system account."""
    senders = Counter(row[0] for row in ws.db.execute(
        "SELECT sender FROM messages WHERE chat = ? AND ts >= ? AND ts < ? AND kind NOT IN (?, ?) AND recalled = 0",
        (chat, start, end, SYSTEM, RECALL)) if row[0] not in system)
    return sum(senders.values()), len(senders)


def _answer_figures(rows: list[dict], reference: int) -> dict:
    seconds = [r["first_answer_ts"] - r["asked_ts"] for r in rows
               if r["first_answer_ts"] is not None and r["first_answer_ts"] <= reference]
    asked = len(rows)
    return {"asked": asked, "answered": len(seconds), "share": len(seconds) / asked if asked else None,
            "median": nearest_rank(seconds, 0.5), "p90": nearest_rank(seconds, 0.9), "seconds": seconds}


def gather(ws: Workspace, period: Period, chat: str, audience: str = "group", *, warn=lambda m: None,
           reader: _Reader | None = None) -> dict:
    """Everything one digest shows, as published values (see the module docstring)."""
    if audience not in AUDIENCES:
        raise ReportError(f"audience must be group or ops, not {audience!r}")
    r = reader or _Reader(ws, warn)
    cfg, tz = r.cfg, r.tz
    chat_name = next((row["name"] for row in ws.chats() if row["id"] == chat), chat)
    # answers count up to the newest message (a question asked on Sunday night and answered on Monday is answered)
    reference = r.newest or period.end
    ops = audience == "ops"

    # Data cards, each against the previous period
    system = r.system_senders(chat)
    msgs, members = _activity(ws, chat, period.start, period.end, system)
    prev_msgs, prev_members = _activity(ws, chat, period.prev_start, period.prev_end, system)
    rows = r.counted(chat, period.start, period.end)
    prev_rows = r.counted(chat, period.prev_start, period.prev_end)
    fig, prev_fig = _answer_figures(rows, reference), _answer_figures(prev_rows, reference)
    has_prev = prev_msgs > 0
    pn = period.prev_name

    def card(label, value, raw, prev_raw, kind, better):
        return {"label": label, "value": value, "raw": raw, "prev": prev_raw if has_prev else None,
                "change": _change(raw, prev_raw if has_prev else None, kind=kind, better=better, prev_name=pn)}

    med = None if fig["median"] is None else fig["median"] / 60
    prev_med = None if prev_fig["median"] is None else prev_fig["median"] / 60
    cards = [card("消息", f"{msgs}", msgs, prev_msgs, "count", "up"),
             card("活跃成员", f"{members}", members, prev_members, "count", "up"),
             card("提问", f"{fig['asked']}", fig["asked"], prev_fig["asked"], "count", "up"),
             card("已回答", _share(fig["share"]), fig["share"], prev_fig["share"], "share", "up"),
             card("首答用时中位数", _duration(fig["median"]), med, prev_med, "minutes", "down")]
    if ops:
        within = cfg.insights.answer_within_hours
        share_in = (sum(1 for s in fig["seconds"] if s <= within * 3600) / fig["asked"]) if fig["asked"] else None
        prev_in = ((sum(1 for s in prev_fig["seconds"] if s <= within * 3600) / prev_fig["asked"])
                   if prev_fig["asked"] else None)
        cards += [card(f"{within:g} 小时内回答", _share(share_in), share_in, prev_in, "share", "up"),
                  card("首答用时 P90", _duration(fig["p90"]), None if fig["p90"] is None else fig["p90"] / 60,
                       None if prev_fig["p90"] is None else prev_fig["p90"] / 60, "minutes", "down")]

    in_period = [q for q in r.qas.values() if q.chat == chat and period.start <= q.ts < period.end]
    base = cfg.site.base_url.rstrip("/")

    # 本周精华: answered entries asked this period, published and confirmed, best first
    picked: dict[str, dict] = {}
    for q in in_period:
        e = r.entry_of.get(q.id)
        if e is None or not r.shown(e):
            continue
        item = picked.setdefault(e.id, {"entry": e, "qas": [], "acknowledged": 0})
        item["qas"].append(q)
        item["acknowledged"] += sum(a.acknowledged for a in r.standing_answers(q))
    best = []
    for item in sorted(picked.values(), key=lambda i: (not i["entry"].pinned, not i["entry"].approved,
                                                      -i["acknowledged"], -i["entry"].count, -i["entry"].confidence,
                                                      i["entry"].id)):
        e = item["entry"]
        credited, seen = [], set()
        for q in item["qas"]:
            for a in r.standing_answers(q):
                shown = r.name(a.sender, a.sender_name)
                if shown not in seen:
                    seen.add(shown)
                    credited.append(shown)
        if not credited:
            credited = [r.name(a.sender, a.name) for a in e.answerers if a.sender][:3]
        answer = e.answer
        if r.ctx.recalled_re is not None and r.ctx.recalled_re.search(answer or ""):
            standing = [a for q in item["qas"] for a in r.standing_answers(q)]
            answer = standing[0].text if standing else ""
        if len(re.sub(r"[\W_]+", "", unaddressed(answer, keep_bare=False))) < MIN_ANSWER_CHARS:
            continue
        best.append({"id": e.id, "question": r.text(e.question, 60), "answer": r.text(answer, 120),
                     "answerers": credited, "count": e.count, "acknowledged": item["acknowledged"] > 0,
                     "url": f"{base}/entries/{slug(e.id, 'f')}.html" if base else ""})
        if len(best) == TOP_ENTRIES:
            break

    # Recognition: the answers that earned most (insights' points), else those the asker confirmed or reused
    def visible(q) -> bool:
        e = r.entry_of.get(q.id)
        return ops or (e is not None and r.shown(e))

    period_ids = {q.id for q in in_period}
    scored = [p for p in r.points if p["qa_id"] in period_ids]
    if not scored:  # no insights stage: confirmed answers, and answers to questions asked again
        rules = cfg.insights
        for q in in_period:
            e = r.entry_of.get(q.id)
            repeats = min(max((e.count if e else 1) - 1, 0), rules.max_repeats)
            for a in {a.sender: a for a in reversed(r.standing_answers(q))}.values():
                if a.acknowledged or repeats:
                    scored.append({"qa_id": q.id, "sender": a.sender, "name": a.sender_name, "acknowledged": a.acknowledged,
                                   "repeats": repeats, "points": rules.points_answer + rules.points_acknowledged
                                   * a.acknowledged + rules.points_per_repeat * repeats})
    # one line per person, their best answer as the example: the award goes to people, not messages
    people: dict[str, dict] = {}
    for p in sorted(scored, key=lambda p: (-p["points"], p["qa_id"], p["sender"])):
        q = r.qas.get(p["qa_id"])
        if q is None or not visible(q):
            continue
        a = next((a for a in r.standing_answers(q) if a.sender == p["sender"]), None)
        if a is None or not (p["acknowledged"] or p["repeats"] or ops):
            continue
        who = people.setdefault(p["sender"], {"name": r.name(p["sender"], p["name"]), "points": 0.0, "answers": 0,
                                              "acknowledged": 0, "repeats": 0, "question": r.text(q.question, 40),
                                              "answer": r.text(a.text, 60)})
        who["points"] += p["points"]
        who["answers"] += 1
        who["acknowledged"] += int(bool(p["acknowledged"]))
        who["repeats"] += p["repeats"]
    recognized = []
    for who in sorted(people.values(), key=lambda w: (-w["points"], -w["acknowledged"], w["name"]))[:TOP_RECOGNIZED]:
        why = []
        if who["acknowledged"]:
            why.append(f"{who['acknowledged']} 个回答被提问者确认有帮助")
        if who["repeats"]:
            why.append(f"答过的问题又被问了 {who['repeats']} 次")
        recognized.append({**who, "why": "，".join(why) or f"回答了 {who['answers']} 个问题"})

    # 活跃榜: most answers, most questions, most shares
    answers_by, questions_by = Counter(), Counter()
    names: dict[str, str] = {}
    counted_ids = {row["qa_id"] for row in rows}
    for q in in_period:
        if q.id not in counted_ids:  # chit-chat the cards do not count earns no place either
            continue
        questions_by[q.asker] += 1
        names.setdefault(q.asker, q.asker_name)
        for a in {a.sender: a for a in r.standing_answers(q)}.values():
            answers_by[a.sender] += 1
            names.setdefault(a.sender, a.sender_name)
    shares_by = Counter()
    links = []
    link_rows = share_rows(ws, chat, period.start, period.end)
    seen_urls: set[str] = set()
    for m in link_rows:
        if m["id"] in r.ctx.recalled_ids:
            continue
        extra = extra_of(m)
        urls = shared_urls(m["text"], extra)
        if not urls and m["kind"] != FILE:
            continue
        shares_by[m["sender"]] += 1
        names.setdefault(m["sender"], m["sender_name"])
        for url in urls:
            if url in seen_urls:
                continue
            seen_urls.add(url)
            links.append((m, url, extra))
    # only the links shown are looked into (their title and discussion): a busy week shares hundreds
    replied = dict(ws.db.execute("SELECT reply_to, count(*) FROM messages WHERE chat = ? AND ts >= ? AND recalled = 0"
                                 " AND reply_to IS NOT NULL GROUP BY reply_to", (chat, period.start)))
    shown_links = [_link(ws, r, m, url, extra, replied.get(m["id"], 0)) for m, url, extra in links[:TOP_LINKS]]
    def board(counter):
        ranked = sorted(((s, n) for s, n in counter.items() if s not in system),
                        key=lambda x: (-x[1], r.name(x[0], names.get(x[0]))))
        return [{"name": r.name(s, names.get(s)), "count": n} for s, n in ranked[:TOP_PEOPLE]]

    leaderboard = {"answers": board(answers_by), "questions": board(questions_by), "shares": board(shares_by)}

    # 待回答: counted questions of the period with no answer yet, oldest first, with who might know
    open_questions = []
    for row in sorted(rows, key=lambda x: (x["asked_ts"], x["qa_id"])):
        if row["first_answer_ts"] is not None and row["first_answer_ts"] <= reference:
            continue
        q = r.qas.get(row["qa_id"])
        if q is None or q.question_id in r.ctx.recalled_ids or q.id in r.not_open:
            continue
        experts, shown = [], set()
        for e in r.experts.get(q.id, []):
            n = r.name(e["sender"], e["name"])
            if n not in shown:
                shown.add(n)
                experts.append(n)
        open_questions.append({"question": r.text(q.question, 60), "asker": r.name(q.asker, q.asker_name),
                               "asked": r.ctx.when(q.ts, "%m-%d %H:%M"),
                               "age": _duration(max(reference - q.ts, 0)), "experts": experts[:2]})
    open_total = len(open_questions)

    digest = {
        "version": DIGEST_VERSION, "audience": audience, "period": period.label, "period_kind": period.kind,
        "title": period.title, "prev_name": pn, "chat": chat, "chat_name": r.text(chat_name),
        "site_title": cfg.site.title, "names_mode": cfg.site.names, "base_url": base,
        "made": datetime.now(tz).strftime("%Y-%m-%d %H:%M"), "reference": r.ctx.when(reference),
        "cards": cards, "best": best, "recognized": recognized, "leaderboard": leaderboard,
        "open": open_questions[:TOP_OPEN], "open_total": open_total,
        "links": shown_links, "links_total": len(links),
        "insights": r.has_insights,
    }
    if ops:
        digest["ops"] = _ops_figures(r, chat, period, fig, reference)
    return digest


def _link(ws: Workspace, r: _Reader, m, url: str, extra: dict, replies_to_it: int) -> dict:
    """A shared link: its title (the card's, else the words around it, else the next message of its sender)
    and whether a discussion followed (later messages of its conversation by others, or replies to it)."""
    title = share_title(ws, m, extra)
    replies = link_replies(ws, m, replies_to_it)
    return {"url": r.text(url), "title": r.text(title, 50) or "（没有说明）", "sharer": r.name(m["sender"], m["sender_name"]),
            "when": r.ctx.when(m["ts"], "%m-%d"), "replies": replies, "discussion": discussion_label(replies)}


def _ops_figures(r: _Reader, chat: str, period: Period, fig: dict, reference: int) -> dict:
    """What only ops see: the review queue, answers a later message corrected, the slowest first answers."""
    held = [e for e in r.entries if not e.hidden and not e.published and e.answered]
    held_now = [e for e in held if any(r.qas[q].chat == chat and period.start <= r.qas[q].ts < period.end
                                       for q in e.qa_ids if q in r.qas)]
    stale = []
    for s in r.ws.superseded_answers():
        q = r.qas.get(s["qa_id"])
        if q is None or q.chat != chat or s["by_ts"] >= period.end:
            continue
        e = r.entry_of.get(q.id)
        if e is None or e.hidden:
            continue
        by = r.ws.db.execute("SELECT text FROM messages WHERE id = ?", (s["by_message_id"],)).fetchone()
        stale.append({"question": r.text(e.question, 50), "by": r.text(by["text"] if by else "", 50),
                      "when": r.ctx.when(s["by_ts"], "%m-%d"), "new": period.start <= s["by_ts"] < period.end})
    stale.sort(key=lambda s: not s["new"])
    within = r.cfg.insights.answer_within_hours * 3600
    slow = []
    for row in r.counted(chat, period.start, period.end):
        first = row["first_answer_ts"]
        wait = (first if first is not None and first <= reference else reference) - row["asked_ts"]
        if wait > within and row["qa_id"] in r.qas:
            slow.append({"question": r.text(r.qas[row["qa_id"]].question, 50), "wait": _duration(wait),
                         "seconds": wait, "answered": first is not None and first <= reference})
    slow.sort(key=lambda s: -s["seconds"])
    return {"held": len(held), "held_this_period": len(held_now), "stale": stale[:TOP_OUTLIERS],
            "stale_total": len(stale), "slow": slow[:TOP_OUTLIERS], "slow_total": len(slow),
            "within_hours": r.cfg.insights.answer_within_hours,
            "p90": _duration(fig["p90"]), "no_base_url": not r.cfg.site.base_url}


# -- rendering ---------------------------------------------------------------------------------------------

def _heading(d: dict) -> str:
    """本周 or 当日: how the sections name the period."""
    return "本周" if d["period_kind"] == "week" else "当日"


def render_markdown(d: dict) -> str:
    """The full digest as Markdown (for a wiki, an e-mail or the site)."""
    w = _heading(d)
    lines = [f"# {d['chat_name']} · {w}群报", "", f"{d['title']}" + ("（运营版）" if d["audience"] == "ops" else ""), "",
             "## 数据", ""]
    for c in d["cards"]:
        lines.append(f"- {c['label']}：**{c['value']}**（{c['change']['text']}）")
    lines += ["", f"## {w}精华", ""]
    for i, b in enumerate(d["best"], 1):
        link = f" [查看]({b['url']})" if b["url"] else ""
        lines.append(f"{i}. **{b['question']}**{link}")
        lines.append(f"   {b['answer']} —— {'、'.join(b['answerers'])}")
    if not d["best"]:
        lines.append(f"{w}没有可发布的问答。")
    lines += ["", f"## {w}表彰", ""]
    for p in d["recognized"]:
        lines.append(f"- **{p['name']}**：「{p['question']}」（{p['why']}）")
    if not d["recognized"]:
        lines.append("暂无。")
    lines += ["", "## 活跃榜", ""]
    for key, label, unit in (("answers", "回答最多", "个"), ("questions", "提问最多", "个"), ("shares", "分享最多", "次")):
        ppl = d["leaderboard"][key]
        lines.append(f"- {label}：" + ("，".join(f"{p['name']} {p['count']} {unit}" for p in ppl) or "—"))
    lines += ["", f"## 待回答（{d['open_total']}）", ""]
    for o in d["open"]:
        who = f" · 可以问：{'、'.join(o['experts'])}" if o["experts"] else ""
        lines.append(f"- {o['question']}（{o['asker']}，已等 {o['age']}）{who}")
    if not d["open"]:
        lines.append("都有人回答了 👍")
    lines += ["", f"## 链接清单（{d['links_total']}）", ""]
    for ln in d["links"]:
        lines.append(f"- {ln['title']} <{ln['url']}>（{ln['sharer']} 分享，{ln['discussion']}）")
    if not d["links"]:
        lines.append("没有人分享链接。")
    if d["audience"] == "ops":
        o = d["ops"]
        lines += ["", "## 运营看板", "", f"- 待审核条目：{o['held']}（其中{w}有人问到的 {o['held_this_period']}）",
                  f"- 答案已过时（后来有人更正）：{o['stale_total']}"]
        lines += [f"  - {s['question']} ← {s['when']}「{s['by']}」" for s in o["stale"]]
        lines.append(f"- 超过 {o['within_hours']:g} 小时才回答或仍未回答：{o['slow_total']}")
        lines += [f"  - {s['question']}（{s['wait']}{'' if s['answered'] else '，仍未回答'}）" for s in o["slow"]]
        if o["no_base_url"]:
            lines.append("- 精华没有链接：在 chendian.toml 的 [site] 里设 base_url（知识站的网址）")
    lines += ["", f"—— 由 chendian 统计，截至 {d['reference']}"]
    return "\n".join(lines) + "\n"


def _text_version(d: dict, n_items: int, width: int) -> str:
    w = _heading(d)

    def cut(s: str, n: int) -> str:
        return s if len(s) <= n else s[: n - 1] + "…"

    head = f"【{d['chat_name']} · {w}群报】{d['title']}" + ("（运营版）" if d["audience"] == "ops" else "")
    cards = "｜".join(f"{c['label']} {c['value']}" + ("" if c["change"]["trend"] in ("none", "flat")
                                                       else ("↑" if c["change"]["trend"] == "up" else "↓"))
                     for c in d["cards"])
    cards = cards.replace("首答用时中位数", "首答中位")
    out = [head, f"📊 {cards}（↑↓ 较{d['prev_name']}；用时↑即变慢）"]
    if d["best"]:
        out.append(f"⭐ {w}精华")
        for i, b in enumerate(d["best"][:n_items], 1):
            out.append(f"{i}. {cut(b['question'], width)}")
            out.append(f"   答（{'、'.join(b['answerers'][:2])}）：{cut(b['answer'], width + 10)}"
                       + (f" {b['url']}" if b["url"] else ""))
    if d["recognized"]:
        out.append(f"🏅 {w}表彰：" + "；".join(f"{p['name']}（{p['why']}）" for p in d["recognized"][:n_items]))
    board = []
    for key, label in (("answers", "答"), ("questions", "问"), ("shares", "享")):
        if d["leaderboard"][key]:
            board.append(f"{label}：" + "、".join(f"{p['name']}（{p['count']}）" for p in d["leaderboard"][key][:n_items]))
    if board:
        out.append("🔥 活跃榜 " + "；".join(board))
    if d["open_total"]:
        out.append(f"❓ 待回答 {d['open_total']} 个，知道的帮忙答一下")
        for o in d["open"][:n_items]:
            who = f"（@{'、@'.join(o['experts'])} 可能知道）" if o["experts"] else ""
            out.append(f"· {cut(o['question'], width)} 已等{o['age']}{who}")
    if d["links_total"]:
        out.append(f"🔗 链接 {d['links_total']} 个")
        for ln in d["links"][:n_items]:
            out.append(f"· {cut(ln['title'], 20)} {ln['url']}")
    if d["audience"] == "ops":
        o = d["ops"]
        out.append(f"🛠 待审核 {o['held']}，答案过时 {o['stale_total']}，超 {o['within_hours']:g} 小时 {o['slow_total']}")
    return "\n".join(out)


def render_text(d: dict, limit_bytes: int = TEXT_LIMIT_BYTES) -> str:
    """Paste-ready text (no Markdown: WeChat shows it as typed), shortened until it fits `limit_bytes` UTF-8."""
    for n_items, width in ((3, 40), (3, 28), (2, 24), (2, 16), (1, 16), (1, 10), (0, 10)):
        text = _text_version(d, n_items, width)
        if len(text.encode("utf-8")) <= limit_bytes:
            return text
    data = text.encode("utf-8")[: limit_bytes - 3]
    return data.decode("utf-8", errors="ignore") + "…"


def _environment():
    from .build import _environment as site_environment  # the site's: autoescaped, strict

    return site_environment()


def render_html(d: dict) -> str:
    return _environment().get_template("digest.html").render(d=d, width=IMAGE_CSS_WIDTH)


# -- the long image ----------------------------------------------------------------------------------------------

def split_points(bottoms: list[float], total: float, limit: float) -> list[tuple[float, float]]:
    """Cut [0, total) into parts no taller than `limit`, each cut at a block's bottom edge where one fits (a
    block taller than the limit is cut through)."""
    parts, top = [], 0.0
    edges = sorted(b for b in set(bottoms) if 0 < b < total)
    while total - top > limit:
        fits = [b for b in edges if top < b <= top + limit]
        cut = fits[-1] if fits else top + limit
        parts.append((top, cut))
        top = cut
    parts.append((top, total))
    return parts


def image_renderer(chromium: str = CHROMIUM) -> str | None:
    """None when the long image can be made here, else the one line that says how to get it."""
    if importlib.util.find_spec("playwright") is None:
        return HOW_TO_GET_IMAGES
    if not Path(chromium).exists():
        return HOW_TO_GET_IMAGES + f"（{chromium} 不存在）"
    return None


class Shooter:
    """One headless Chromium for every image of a run (a launch costs about a second), started on first use."""

    def __init__(self, chromium: str = CHROMIUM):
        self.chromium = chromium
        self._playwright = None
        self._browser = None

    def __enter__(self) -> "Shooter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._playwright.stop()
            self._browser = self._playwright = None

    def shoot(self, html_path: Path, out_dir: Path, stem: str = "digest", *,
              max_part_px: int = MAX_PART_PX) -> list[Path]:
        """The page at 375 CSS px × 2, cut into parts under `max_part_px` at the edges of its blocks."""
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(executable_path=self.chromium, args=CHROMIUM_ARGS)
        page = self._browser.new_page(viewport={"width": IMAGE_CSS_WIDTH, "height": 800},
                                      device_scale_factor=IMAGE_SCALE)
        out = []
        try:
            page.goto(Path(html_path).absolute().as_uri())
            page.evaluate("document.fonts.ready.then(() => true)")
            total = page.evaluate("document.documentElement.scrollHeight")
            bottoms = page.evaluate("Array.from(document.querySelectorAll('.block')).map("
                                    "e => e.getBoundingClientRect().bottom + window.scrollY)")
            # cut in the gap below a block, not on its last line of pixels
            parts = split_points([b + 6 for b in bottoms], total, max_part_px / IMAGE_SCALE)
            for i, (top, bottom) in enumerate(parts, 1):
                path = Path(out_dir) / (f"{stem}.png" if len(parts) == 1 else f"{stem}-{i}.png")
                page.screenshot(path=str(path), full_page=True,
                                clip={"x": 0, "y": top, "width": IMAGE_CSS_WIDTH, "height": bottom - top})
                out.append(path)
        finally:
            page.close()
        return out


def render_png(html_path: Path, out_dir: Path, stem: str = "digest", *, chromium: str = CHROMIUM,
               max_part_px: int = MAX_PART_PX) -> list[Path]:
    """One page's long image, in a browser of its own (Shooter shares one between pages)."""
    with Shooter(chromium) as shooter:
        return shooter.shoot(html_path, out_dir, stem, max_part_px=max_part_px)


# -- writing ---------------------------------------------------------------------------------------------------

def folder_name(d: dict) -> str:
    chat = re.sub(r"[\\/:*?\"<>|\s]+", "_", d["chat_name"]).strip("._")[:40] or slug(d["chat"], "c")
    return f"{d['period']}-{chat}-{d['audience']}"


def parse_formats(value: str | list[str] | None) -> list[str]:
    items = value if isinstance(value, list) else [v.strip() for v in (value or ",".join(FORMATS)).split(",")]
    bad = [v for v in items if v not in FORMATS]
    if bad or not items:
        raise ReportError(f"unknown digest format(s) {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")
    return [f for f in FORMATS if f in items]


@dataclass
class Written:
    folder: Path
    files: list[Path]
    note: str = ""  # why the image is missing, when it is


def write_digest(ws: Workspace, d: dict, out_dir: Path, formats: list[str], *,
                 chromium: str = CHROMIUM, shooter: Shooter | None = None) -> Written:
    """Write one digest into `out_dir`/<period>-<chat>-<audience>/, swapped into place whole.

    The group version is audited first (site/audit.py: phone numbers, addresses, ids, real names outside the
    name mode) and not written at all when anything is found (LeakError)."""
    target = Path(out_dir).absolute() / folder_name(d)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    note = ""
    try:
        html = render_html(d)
        (tmp / "digest.html").write_text(html, encoding="utf-8")
        if "md" in formats:
            (tmp / "digest.md").write_text(render_markdown(d), encoding="utf-8")
            (tmp / "digest.txt").write_text(render_text(d) + "\n", encoding="utf-8")
        if d["audience"] == "group":
            report = audit_site(tmp, names_to_hide(ws))
            if not report.ok:
                first = "; ".join(str(f) for f in report.findings[:3])
                raise LeakError(f"digest not written: the audit of the group version found {report.summary()} — {first}")
        if "png" in formats:
            note = image_renderer(shooter.chromium if shooter else chromium) or ""
            if not note and shooter is not None:
                shooter.shoot(tmp / "digest.html", tmp)
            elif not note:
                render_png(tmp / "digest.html", tmp, chromium=chromium)
        if "html" not in formats:
            (tmp / "digest.html").unlink()
        for p in tmp.iterdir():
            p.chmod(0o644)
        tmp.chmod(0o755)
        atomic.swap_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Written(target, sorted(target.iterdir()), note)


def digest_fingerprint(digests: list[dict], formats: list[str]) -> str:
    """What the nightly digest is made of: its content (less the time it was made), formats and the template."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([{k: v for k, v in d.items() if k != "made"} for d in digests], ensure_ascii=False,
                        sort_keys=True).encode("utf-8"))
    h.update(",".join(formats).encode())
    h.update((Path(__file__).parent / "templates" / "digest.html").read_bytes())
    return h.hexdigest()


def make_digests(ws: Workspace, *, week: str | None = None, day: str | None = None, chat: str | None = None,
                 audiences: tuple[str, ...] | list[str] = ("group",), now: float | None = None,
                 warn=lambda m: None) -> list[dict]:
    """Gather the digests of one period: every chat active in it (or the one named) × every audience."""
    period = resolve_period(ws, week, day, now)
    chats = resolve_chats(ws, period, chat)
    if not chats:
        raise ReportError(f"no messages in {period.label}" + (f" in {chat}" if chat else ""))
    reader = _Reader(ws, warn)
    return [gather(ws, period, c, a, reader=reader, warn=warn) for c, _ in chats for a in audiences]


__all__ = ["AUDIENCES", "FORMATS", "Period", "ReportError", "TEXT_LIMIT_BYTES", "digest_fingerprint",
           "gather", "image_renderer", "latest_complete_week", "make_digests", "parse_formats", "render_html",
           "render_markdown", "render_png", "Shooter", "render_text", "resolve_period", "split_points", "write_digest"]
