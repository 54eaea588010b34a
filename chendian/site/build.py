"""The publish stage: a static knowledge site built from the workspace, swapped into place atomically.

Reads what earlier stages wrote (SCHEMA.md: faq_entries, qas, threads, message_threads, topics, contributors,
weekly_digests) plus the messages, and writes <ws>/site:

    index.html            recent and popular entries, topics, latest weekly digests
    search.html           client-side search (search-index.js, a manifest, and search/: the BM25 index in shards
                          loaded on demand, browser_index.py; search-vectors.js, loaded after the first results:
                          the semantic student of student.py), or the hybrid API under `chendian serve`
    ops.html              消灭零回复: the OPEN_TOP questions asked last that no one answered, oldest first, with who
                          would know; open/<year>-W<nn>.html: all of them, a page per ISO week of asking
    review.html           待审核: the first REVIEW_TOP entries [faq] publish held back, with their evidence and
                          approve/reject buttons; review/<yyyy-mm-dd>.html: all of them, by the day first asked
    report.html           the weekly ops report (site/report.py) with static SVG charts (site/charts.py)
    entries/<id>.html     one FAQ entry: question, best answers with authors, variants, asked N times, sources
    threads/<id>.html     one conversation: digest and transcript with quotes
    topics/<id>.html      entries and the newest TOPIC_PAGE_THREADS conversations of a topic (topics/index.html
                          lists them); topics/<id>.<k>.html: its older conversations, TOPIC_PAGE_THREADS a page
                          from the oldest (a new conversation never changes them)
    weeks/<week>-<chat>.html  weekly digests (weeks/index.html)
    people/<id>.html      what each contributor answered (people/index.html)

Every link is relative, so the site works from file:// and from any static host. Every piece of chat text
goes through privacy (masking, names as configured) and is escaped; recalled messages appear nowhere.
An empty stage table is read as such, so the site builds at any point of the pipeline.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import jinja2
import markdown
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .. import atomic
from ..model import QA, RECALL, SYSTEM, Answer, Contributor, stable_id
from ..store import Workspace, json_column
from .charts import bar_chart, hbar_chart
from .history import Scratch, thread_signatures
from ..privacy import Privacy
from ..summarize.qa.faq import entry_wording, off_the_open_list, unlisted
from ..summarize.qa.insights import level_for, member_of, shared_parts, team_of
from ..summarize.text.analyze import unaddressed
from .report import load_members, repliers, weekly_report
from .pool import default_workers, ordered_map
from .render import MarkdownRenderer, plain
from ..search.held import searchable_held
from ..search.index import INDEX_LINK, VOCAB_FILE
from ..search.vocab import expansions
from .browser_index import write_browser_index, write_same
from .student import STUDENT_FILE, payload_js, t2s_table, workspace_vectors
from .talks import talk_pages

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
ASSETS = HERE / "assets"
BUILD_VERSION = "9"  # bump when the output changes for the same input, so `run` rebuilds
# Beside the pages, each build leaves what every conversation page was made of (a digest of its inputs): the
# next build links a page whose inputs are unchanged from the site it replaces instead of rendering it again.
PAGE_KEYS = ".chendian-pages"  # no page suffix: neither served as a page nor scanned by the audit (only digests)
PAGE_KEYS_FORMAT = 1
# The folders of the pages with keys. The site a build replaces is kept beside it (.<site>-spare) and becomes the
# next build's folder: its pages there are mostly the very files the published site links, so a night neither
# links every unchanged page anew nor deletes the replaced site file by file.
PAGE_FOLDERS = ("entries", "threads", "topics", "weeks", "people", "review", "open")

INDEX_ANSWER_CHARS = 400  # answer text per entry in the browser's search index (bounds the index size)
INDEX_OPEN_QUESTIONS = 300  # newest 待回答 questions the no-result page can offer
# search.js's relevance floor, as the hybrid index's (search/query.py RELEVANCE_FLOOR): student cosine +
# coverage × the idf-weighted share of the query's bigrams in the entry's wordings; with BM25 alone (no
# vector file yet) the bigram share must reach `lexical`. The student approximates the encoder's cosine,
# so the server's floor is reused; it was not fitted on the student separately.
# An entry held for review (search/held.py) must reach the server's HELD_FLOOR; with BM25 alone, twice the share
# (not fitted: the held floor was chosen on the server's relevance).
BROWSER_FLOOR = {"relevance": 0.40, "coverage": 0.5, "lexical": 0.15, "heldRelevance": 0.55, "heldLexical": 0.30}
SNIPPET_CHARS = 140
RECENT, POPULAR = 12, 12
# A topic page lists its newest conversations; the older ones are on archive pages of this many, numbered from the
# oldest, so a new conversation changes the topic page (and, when a page fills, one new archive page), never the
# archive pages before it (at 1M messages a topic has up to 14k conversations: 2.5 MB on one page).
TOPIC_PAGE_THREADS = 100
# review.html shows the first of the review queue (the most likely to be publishable); every held entry is on the
# page of the day it was first asked (review/<day>.html, ~15 entries at 1M messages), which changes only when one
# of its entries does (a night changes ~80 of 9,000 held entries, spread over all days).
REVIEW_TOP = 50
# ops.html shows the newest open questions; all of them are on the page of the ISO week they were asked in
# (open/<week>.html, oldest first), which changes only when one of its questions does (answered, new experts).
OPEN_TOP = 50
BEST_ANSWERS = 5
MIN_THREAD_SIZE = 3  # conversations published even when no question came out of them
MIN_RECALLED_CHARS = 6  # shorter recalled texts ("好的") are too common to scrub from free text

_SAFE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,80}")
_WEEK_RE = re.compile(r"\d{4}-W\d{2}")

MEDIA_LABELS = {
    "image": "[图片]", "voice": "[语音]", "video": "[视频]", "file": "[文件]", "redpacket": "[红包]",
    "pat": "[拍一拍]", "other": "[其他消息]",
}


# -- reading the workspace -------------------------------------------------------------------------------

def slug(value: str, prefix: str = "x") -> str:
    """A file-name-safe form of an id: stable ids pass as they are; anything else is hashed."""
    return value if _SAFE_ID_RE.fullmatch(value or "") else stable_id(value or "", prefix=prefix)


@dataclass
class _Context:
    ws: Workspace
    rc: Any
    privacy: Privacy
    md: MarkdownRenderer
    tz: Any
    recalled_ids: set[str] = field(default_factory=set)
    recalled_re: re.Pattern | None = None
    warned: set[str] = field(default_factory=set)
    thread_sigs: dict[str, tuple] = field(default_factory=dict)  # thread_signatures()
    sink: Callable[[str], None] | None = None  # while a page renders (maybe in a worker): its warnings go here
    texts: dict[str, str] = field(default_factory=dict)  # text(): raw → published, under this build's frozen rules
    offsets: dict[int, int | None] = field(default_factory=dict)  # when(): hour → the zone's UTC offset through it
    stamps: dict[tuple, str] = field(default_factory=dict)  # when(): (local day, its format) → text

    def warn(self, message: str) -> None:
        if self.sink is not None:
            self.sink(message)  # the parent warns, in page order, as one process would
            return
        if self.rc is not None and message not in self.warned:
            self.warned.add(message)
            self.rc.warn(message)

    def scrub(self, text: str | None) -> str:
        """Free text with the words of recalled messages taken out."""
        if not text:
            return ""
        if self.recalled_re is None:
            return text
        return self.recalled_re.sub("（已撤回）", text)

    def text(self, raw: str | None) -> str:
        """Published plain text (remembered: a question is shown on its entry, on 待回答 and under each answerer)."""
        if not raw:
            return ""
        if not self.privacy.frozen:  # a name registered later would rewrite the same text otherwise (book, digest)
            return self.privacy.text(self.scrub(raw))
        published = self.texts.get(raw)
        if published is None:
            published = self.texts[raw] = self.privacy.text(self.scrub(raw))
        return published

    def markdown(self, raw: str | None):
        """Published Markdown → safe HTML (the mask's stars escaped so they stay stars)."""
        return self.md(self.privacy.text(self.scrub(raw), star="\\*"))

    def when(self, ts: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if ts is None:
            return ""
        ts = int(ts)
        unit = _STAMP_UNITS.get(fmt)
        if unit is None:
            return datetime.fromtimestamp(ts, self.tz).strftime(fmt)
        # A site formats ~400k timestamps, a few formats at minute or day precision: each local day is formatted
        # once, the hour and minute are arithmetic. The zone's offset is read per hour (no zone changes it twice
        # within one).
        hour = ts // 3600
        offset = self.offsets[hour] if hour in self.offsets else self._offset(hour)
        if offset is None:  # the offset changes within this hour
            return datetime.fromtimestamp(ts, self.tz).strftime(fmt)
        local = ts + offset
        day_fmt = _DAY_PART.get(fmt, fmt)
        key = (local // 86400, day_fmt)
        text = self.stamps.get(key)
        if text is None:
            text = self.stamps[key] = (_EPOCH + timedelta(days=key[0])).strftime(day_fmt)
        if unit == 86400:
            return text
        minute = local % 86400 // 60  # the hour and minute as strftime writes them, without a strftime each
        return f"{text} {minute // 60:02d}:{minute % 60:02d}"

    def _offset(self, hour: int) -> int | None:
        start = datetime.fromtimestamp(hour * 3600, self.tz).utcoffset()
        end = datetime.fromtimestamp(hour * 3600 + 3599, self.tz).utcoffset()
        offset = self.offsets[hour] = int(start.total_seconds()) if start is not None and start == end else None
        return offset


# _Context.when's formats that show nothing finer than a minute (or a day): format → seconds of precision
_STAMP_UNITS = {"%Y-%m-%d %H:%M": 60, "%m-%d %H:%M": 60, "%Y-%m-%d": 86400}
_DAY_PART = {"%Y-%m-%d %H:%M": "%Y-%m-%d", "%m-%d %H:%M": "%m-%d"}  # each minute format: its day, then " %H:%M"
_EPOCH = datetime(1970, 1, 1)


def _snippet(text: str, n: int = SNIPPET_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def _load_recalled(ctx: _Context) -> None:
    db = ctx.ws.db
    texts = set()
    for row in db.execute("SELECT id, text, kind, recalled FROM messages WHERE recalled = 1 OR kind = ?", (RECALL,)):
        ctx.recalled_ids.add(row["id"])
        if row["recalled"] and len((row["text"] or "").strip()) >= MIN_RECALLED_CHARS:
            texts.add(row["text"].strip())
    if texts:
        ordered = sorted(texts, key=len, reverse=True)
        ctx.recalled_re = re.compile("|".join(re.escape(t) for t in ordered))
    # A hidden talk stays inside the group (its speaker asked): its words appear nowhere, as if withdrawn.
    for (mid,) in db.execute("SELECT tm.message_id FROM talk_messages tm JOIN talks t ON t.id = tm.talk_id"
                             " WHERE t.hidden = 1 AND tm.role IN ('talk', 'answer')"):
        ctx.recalled_ids.add(mid)


def known_people(db: sqlite3.Connection, contributors: list[Contributor], history=None) -> list[tuple[str, str]]:
    """(sender id, display name) of everyone who wrote or is credited: the names privacy rewrites and the audit hunts.
    `history`: the publish stage's site.history.Cached (else a pass over the messages)."""
    people = (history if history is not None else Scratch(db)).names()
    return people + [(c.sender, c.name) for c in contributors]


# -- the model of the site --------------------------------------------------------------------------------

@dataclass
class Site:
    title: str
    entries: list[dict] = field(default_factory=list)
    threads: dict[str, dict] = field(default_factory=dict)
    topics: list[dict] = field(default_factory=list)
    weeks: list[dict] = field(default_factory=list)
    people: list[dict] = field(default_factory=list)
    unanswered: list[dict] = field(default_factory=list)
    held: list[dict] = field(default_factory=list)  # search-only: entries held for review (search/held.py)
    faq: list = field(default_factory=list)  # ws.faq_entries(include_hidden=True) as read (the report reads them too)


def _held_search_doc(ctx: _Context, e, qa_by_id: dict[str, QA], recalled_qas: set[str]) -> dict | None:
    """An entry held for review as the site's search shows it (search/held.py): no entry page, so its link is
    its first standing question in its conversation (published: every question's conversation is)."""
    if not searchable_held(e, ctx.ws.config):
        return None
    qa = next((qa_by_id[q] for q in e.qa_ids if q in qa_by_id and q not in recalled_qas and qa_by_id[q].thread_id), None)
    question = ctx.text(e.question)
    if qa is None or not question.strip() or (ctx.recalled_re is not None and ctx.recalled_re.search(e.answer)):
        return None
    return {"id": e.id, "url": f"threads/{slug(qa.thread_id, 't')}.html#{slug(qa.question_id, 'm')}",
            "question": question, "answer_plain": ctx.text(unaddressed(e.answer)), "count": e.count or 1,
            "variants": [v for v in dict.fromkeys(ctx.text(v) for v in e.variants) if v and v != question],
            "trust": e.trust(ctx.ws.config.faq.min_confidence)}


def _load_site(ctx: _Context, qas: list[QA], contributors: list[Contributor], history=None) -> Site:
    ws = ctx.ws
    site = Site(title=ws.config.site.title)
    chat_names = {r["id"]: ctx.text(r["name"]) for r in ws.chats()}

    def chat_name(chat: str) -> str:
        return chat_names.get(chat) or ctx.text(chat)

    topics = {t.id: {"id": t.id, "url": f"topics/{slug(t.id, 'k')}.html", "label": ctx.text(t.label) or "未命名话题",
                     "keywords": [ctx.text(k) for k in t.keywords if k][:8], "size": t.size, "entries": [], "threads": []}
              for t in ws.topics(warn=ctx.warn)}

    # What may be published of each question: none of it when it was recalled, no answer that was recalled
    answers_of: dict[str, list[Answer]] = {}
    recalled_qas: set[str] = set()
    for qa in qas:
        if qa.question_id in ctx.recalled_ids:
            recalled_qas.add(qa.id)
            continue
        answers_of[qa.id] = [a for a in qa.answers if a.text.strip()
                             and not any(mid in ctx.recalled_ids for mid in a.message_ids)]
    qa_by_id = {qa.id: qa for qa in qas}

    # People: everyone who answered, with a page
    contributor_of = {c.sender: c for c in contributors}
    people: dict[str, dict] = {}

    def person(sender: str, name: str | None) -> dict:
        if sender not in people:
            c = contributor_of.get(sender)
            people[sender] = {
                "sender": sender, "name": ctx.privacy.name(sender, (c.name if c else None) or name),
                "url": f"people/{stable_id(sender, prefix='p')}.html", "questions": c.questions if c else 0,
                "answers": c.answers if c else 0, "acknowledged": c.acknowledged if c else 0, "answered": [],
                "topics": [],  # the topics of the questions they answered (_directory)
            }
        return people[sender]

    authors: list[dict] = []  # every mention of a person; linked to their page once the people are known

    def author(sender: str | None, name: str | None) -> dict:
        a = {"name": ctx.privacy.name(sender, name), "sender": sender, "url": None}
        authors.append(a)
        return a

    # Freshness: answers a later message corrected, and when each answer was given
    superseded: dict[tuple[str, str], dict] = {}
    for s in ws.superseded_answers():
        by = ws.db.execute("SELECT text FROM messages WHERE id = ?", (s["by_message_id"],)).fetchone()
        superseded[(s["qa_id"], s["answer_message_id"])] = {
            "when": ctx.when(s["by_ts"], "%Y-%m-%d"), "text": _snippet(ctx.text(by["text"] if by else ""), 80)}
    answer_ids = [m for qa in qas for a in qa.answers for m in a.message_ids]
    answer_ts = dict(ws.db.execute("SELECT id, ts FROM messages WHERE id IN (SELECT value FROM json_each(?))",
                                   (json.dumps(answer_ids),)))

    def correction(qa: QA, a: Answer) -> dict | None:
        return next((superseded[(qa.id, m)] for m in a.message_ids if (qa.id, m) in superseded), None)

    # Entries
    entries = site.faq = ws.faq_entries(include_hidden=True, warn=ctx.warn)
    # Neither on the 待回答 list nor under their answerers: questions under hidden entries, and those unlikely to be
    # worth an entry. Nor on 待回答: those an entry already answers, and an entry's later unanswered askings.
    floor = ws.config.faq.min_worthy_unanswered
    hidden_qas = {q for e in entries if unlisted(e, floor) for q in e.qa_ids}
    # an entry answers its askings only with an answer still standing (not every one of them recalled)
    standing = [SimpleNamespace(hidden=e.hidden, worthy=e.worthy, qa_ids=e.qa_ids,
                                answer=e.answer if any(answers_of.get(q) for q in e.qa_ids) else "") for e in entries]
    not_open = off_the_open_list(standing, floor, {q for q, given in answers_of.items() if not given})
    qa_entry: dict[str, dict] = {}
    thread_refs: set[str] = set()
    for e in entries:
        if e.hidden or not e.published or (e.qa_ids and all(q in recalled_qas for q in e.qa_ids)):
            # hidden, waiting for review under [faq] publish, or every question behind it was recalled
            held = _held_search_doc(ctx, e, qa_by_id, recalled_qas)
            if held:
                site.held.append(held)
            continue
        thread_refs.update(e.thread_ids)
        published = [(qa_by_id[q], a) for q in e.qa_ids if q in answers_of for a in answers_of[q]]
        best, seen = [], set()
        for qa, a in published:
            key = re.sub(r"\s+", "", a.text)
            if key not in seen:
                seen.add(key)
                given = [answer_ts[m] for m in a.message_ids if m in answer_ts]
                best.append({"author": author(a.sender, a.sender_name), "raw": unaddressed(a.text), "html": None, "key": key,
                             "acknowledged": a.acknowledged, "thread": qa.thread_id, "corrected": correction(qa, a),
                             "ts": min(given) if given else None, "when": ctx.when(min(given), "%Y-%m-%d") if given else ""})
        best.sort(key=lambda b: b["corrected"] is not None)  # stable: the current answers first, in their order
        best = best[:BEST_ANSWERS]
        current = ([b["ts"] for b in best if b["ts"] and b["corrected"] is None]
                   or [b["ts"] for b in best if b["ts"]])
        raw_answer = e.answer
        if ctx.recalled_re is not None and ctx.recalled_re.search(raw_answer):
            # the FAQ answer came from a message its sender withdrew: show the best answer still standing
            raw_answer = published[0][1].text if published else ""
        main_key = re.sub(r"\s+", "", raw_answer)
        raw_answer = unaddressed(raw_answer)  # whom it answered ("@刘洋 …", "…。@某人?") says nothing on an entry page
        answerers = [{**author(a.sender, a.name), "count": a.count or 1} for a in e.answerers if a.sender]
        question = ctx.text(e.question)
        if not question.strip():
            ctx.warn(f"faq_entries {e.id}: no question text; not published")
            continue
        variants = []
        for v in e.variants:
            v = ctx.text(v)
            if v and v != question and v not in variants:
                variants.append(v)
        answer_plain = ctx.text(raw_answer)
        entry = {
            "id": e.id, "url": f"entries/{slug(e.id, 'f')}.html", "question": question,
            # HTML is made when the page is rendered (_render): a page linked from the last build needs none
            "answer_raw": raw_answer, "answer_html": None, "answer_plain": answer_plain,
            "others": [b for b in best if b["key"] != main_key], "snippet": _snippet(answer_plain),
            "variants": variants, "count": e.count or 1, "topic": topics.get(e.topic_id), "qa_ids": e.qa_ids,
            "thread_ids": e.thread_ids, "first_ts": e.first_ts, "last_ts": e.last_ts, "answered": e.answered,
            "pinned": e.pinned, "answerers": answerers, "best": best, "sources": [],
            "trust": e.trust(ws.config.faq.min_confidence),
            "first": ctx.when(e.first_ts, "%Y-%m-%d"), "last": ctx.when(e.last_ts, "%Y-%m-%d"),
            # as of: the newest answer that still stands; the main answer's correction when a later message made one
            "as_of": ctx.when(max(current), "%Y-%m-%d") if current else "",
            "corrected": next((b["corrected"] for b in best if b["key"] == main_key and b["corrected"]), None),
        }
        site.entries.append(entry)
        for q in e.qa_ids:
            qa_entry[q] = entry
        if entry["topic"]:
            entry["topic"]["entries"].append(entry)

    # Unanswered questions (oldest first), QAs under hidden entries excluded
    for qa in qas:
        if qa.id not in answers_of:
            continue
        thread_refs.add(qa.thread_id)
        if qa.id in hidden_qas:
            continue
        if not answers_of[qa.id] and qa.id not in not_open:
            site.unanswered.append({
                "id": qa.id, "question": ctx.text(entry_wording(qa.question)), "asker": author(qa.asker, qa.asker_name),
                "when": ctx.when(qa.ts), "ts": qa.ts, "chat": chat_name(qa.chat), "thread": qa.thread_id,
                "entry": qa_entry.get(qa.id),
            })
        for a in answers_of[qa.id]:
            if a.sender:
                person(a.sender, a.sender_name)["answered"].append({
                    "question": ctx.text(entry_wording(qa.question)), "snippet": _snippet(ctx.text(unaddressed(a.text))),
                    "entry": qa_entry.get(qa.id), "thread": qa.thread_id, "when": ctx.when(qa.ts, "%Y-%m-%d"),
                    "acknowledged": a.acknowledged,
                })
    site.unanswered.sort(key=lambda u: (u["ts"] or 0, u["id"]))
    replied = repliers(ws, [qa_by_id[u["id"]] for u in site.unanswered], qa_by_id.values())
    for u in site.unanswered:
        u["repliers"] = replied[u["id"]]
    for c in contributors:
        person(c.sender, None)
    for a in authors:
        # only people with a page (site.people below: they answered) are linked; an asker may have none
        p = people.get(a["sender"])
        if p is not None and (p["answered"] or p["answers"]):
            a["url"] = p["url"]

    # Conversations: those behind entries and questions, and any of MIN_THREAD_SIZE messages or more.
    # Their size as published: recalled messages and system notices are not counted (nor shown).
    shown_sizes = {t: sig[0] for t, sig in ctx.thread_sigs.items()}
    topic_of = ws.thread_topics()
    digests = ws.thread_digests()
    for tid, tchat, first_ts, last_ts, tsize in ws.thread_tuples():
        if tid not in thread_refs and tsize < MIN_THREAD_SIZE:
            continue
        t = {
            "id": tid, "url": f"threads/{slug(tid, 't')}.html", "chat": chat_name(tchat),
            "first": ctx.when(first_ts), "last": ctx.when(last_ts), "first_ts": first_ts,
            # the digest as HTML and as a topic page's snippet are made when a page showing them is rendered (a page
            # linked from the last build needs neither)
            "size": shown_sizes.get(tid, 0), "digest_raw": digests.get(tid), "digest_html": None, "digest_plain": None,
            "topic": topics.get(topic_of.get(tid)), "entries": [], "messages": [],
        }
        site.threads[tid] = t
        if t["topic"]:
            t["topic"]["threads"].append(t)
    for e in site.entries:
        e["sources"] = [site.threads[t] for t in e["thread_ids"] if t in site.threads]
        for t in e["sources"]:
            t["entries"].append(e)
        for b in e["best"]:
            b["thread"] = site.threads.get(b["thread"])
    for u in site.unanswered:
        u["thread"] = site.threads.get(u["thread"]) if u["thread"] else None
    for p in people.values():
        for a in p["answered"]:
            a["thread"] = site.threads.get(a["thread"])

    site.topics = list(topics.values())
    site.people = sorted((p for p in people.values() if p["answered"] or p["answers"]),
                         key=lambda p: (-len(p["answered"]), -(p["answers"] or 0), p["name"]))
    _directory(ws, ctx, site.people, history)

    # Weekly digests, newest first
    for chat, week, body in ws.weekly_digests():
        week_slug = week if _WEEK_RE.fullmatch(week or "") else slug(week or "", "w")
        site.weeks.append({
            "chat": chat_name(chat), "week": week,
            "url": f"weeks/{week_slug}-{hashlib.blake2b(chat.encode('utf-8'), digest_size=4).hexdigest()}.html",
            "body_raw": body, "body_html": None,
        })
    return site


_ROW_COLUMNS = "mt.thread_id, m.id, m.ts, m.sender, m.sender_name, m.kind, m.text, m.reply_to, m.quote, m.recalled"
THREAD_ID, ID, TS, SENDER, SENDER_NAME, KIND, TEXT, REPLY_TO, QUOTE, RECALLED = range(10)


def _thread_rows(ctx: _Context, site: Site, only: set[str] | None = None):
    """(thread, rows) for every published conversation (or those in `only`), its messages' rows (plain tuples,
    _ROW_COLUMNS) in the order the page shows them, streamed from the store in one query."""
    db = ctx.ws.db
    wanted = site.threads if only is None else {t: site.threads[t] for t in only if t in site.threads}
    if not wanted:
        return
    current, buffer = None, []
    columns = f"SELECT {_ROW_COLUMNS} FROM message_threads mt JOIN messages m ON m.id = mt.message_id"
    order = " ORDER BY mt.thread_id, m.ts, m.rowid"
    if len(wanted) == len(site.threads):
        rows = db.execute(columns + order)
    else:  # a night's few conversations, through the thread_id index
        rows = db.execute(columns + " WHERE mt.thread_id IN (SELECT value FROM json_each(?))" + order,
                          (json.dumps(sorted(wanted)),))
    for r in rows:
        if r[THREAD_ID] != current:
            if current in wanted:
                yield wanted[current], buffer
            current, buffer = r[THREAD_ID], []
        if current in wanted:
            buffer.append(tuple(r))
    if current in wanted:
        yield wanted[current], buffer


def _thread_messages(ctx: _Context, rows: list[tuple], question_ids: set[str], answer_ids: set[str]) -> list[dict]:
    """A conversation's messages as its page shows them (from _thread_rows' rows)."""
    by_id: dict[str, dict] = {}
    out = []
    for r in rows:
        if r[RECALLED] or r[KIND] in (RECALL, SYSTEM) or r[ID] in ctx.recalled_ids:
            continue  # recalled messages are never published; system notices name people who never spoke
        text = r[TEXT] or ""
        if r[KIND] in MEDIA_LABELS and not text.strip():
            text = MEDIA_LABELS[r[KIND]]
        published = ctx.text(text)
        msg = {"id": r[ID], "anchor": slug(r[ID], "m"), "author": ctx.privacy.name(r[SENDER], r[SENDER_NAME]),
               "when": ctx.when(r[TS], "%m-%d %H:%M"), "html": plain(published), "quote": None,
               "question": r[ID] in question_ids, "answer": r[ID] in answer_ids}
        quote = None
        if r[REPLY_TO] and r[REPLY_TO] in ctx.recalled_ids:
            quote = {"author": "", "text": "（引用的消息已撤回）", "anchor": None}
        elif r[REPLY_TO] and r[REPLY_TO] in by_id:
            q = by_id[r[REPLY_TO]]
            quote = {"author": q["author"], "text": _snippet(q["plain"], 80), "anchor": q["anchor"]}
        elif r[QUOTE]:
            raw = json_column(r[QUOTE], dict, f"message {r[ID]} quote", ctx.warn)
            if raw.get("text") or raw.get("sender_name"):
                quote = {"author": ctx.privacy.name(None, raw["sender_name"]) if raw.get("sender_name") else "",
                         "text": _snippet(ctx.text(raw.get("text") or ""), 80), "anchor": None}
        msg["quote"] = quote
        msg["plain"] = published
        by_id[r[ID]] = msg
        out.append(msg)
    return out


# -- what a conversation page is made of ---------------------------------------------------------------------

def _thread_marks(ctx: _Context, question_ids: set[str], answer_ids: set[str]) -> dict[str, list]:
    """thread id → what its page shows of its messages beyond their rows: which are questions and answers, which
    are withdrawn with a hidden talk, which quote a message withdrawn elsewhere."""
    db = ctx.ws.db
    marks: dict[str, list] = {}
    ids = ctx.recalled_ids | question_ids | answer_ids
    for mid, tid in db.execute("SELECT message_id, thread_id FROM message_threads"
                               " WHERE message_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(ids)),)):
        marks.setdefault(tid, []).append((mid, mid in ctx.recalled_ids, mid in question_ids, mid in answer_ids))
    if ctx.recalled_ids:
        for tid, mid in db.execute(
                "SELECT mt.thread_id, m.id FROM messages m JOIN message_threads mt ON mt.message_id = m.id"
                " WHERE m.reply_to IN (SELECT value FROM json_each(?))", (json.dumps(sorted(ctx.recalled_ids)),)):
            marks.setdefault(tid, []).append((mid, "quotes a withdrawn message"))
    for v in marks.values():
        v.sort(key=repr)
    return marks


def _global_key(ctx: _Context) -> str:
    """What every page is made of besides its own inputs: the build's version, templates and assets, the site's
    settings, the names rewritten inside text and the words of recalled messages (scrubbed wherever they are)."""
    cfg = ctx.ws.config
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{BUILD_VERSION}\x1f{PAGE_KEYS_FORMAT}\x1f{cfg.site.title}\x1f{cfg.site.names}\x1f{cfg.ingest.timezone}"
             f"\x1f{jinja2.__version__}\x1f{markdown.__version__}".encode())
    for folder in (TEMPLATES, ASSETS):
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(ctx.privacy.rewrite_key().encode())
    h.update((ctx.recalled_re.pattern if ctx.recalled_re is not None else "").encode("utf-8"))
    return h.hexdigest()


def _page_key(*parts) -> str:
    return hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=16).hexdigest()


def _topic_ref(x: dict) -> tuple | None:
    return (x["topic"]["url"], x["topic"]["label"]) if x["topic"] else None


# Each page kind's key holds every value its template reads (the chat text before it is made into HTML); a
# value left out would let a stale page stand, so tests/test_publish_incremental.py changes each and compares.

def _thread_key(t: dict, sig: tuple | None, marks: list) -> str:
    """thread.html: the conversation's fields, the entries made from it, and its messages by signature."""
    entries = [(e["url"], e["question"]) for e in t["entries"]]
    return _page_key(t["url"], t["chat"], t["first"], t["last"], t["size"], t["digest_raw"], _topic_ref(t), entries,
                     sig, marks)


def _entry_key(e: dict) -> str:
    """entry.html."""
    others = [(b["raw"], b["author"]["name"], b["author"]["url"], b["when"], b["acknowledged"], b["corrected"],
               b["thread"]["url"] if b["thread"] else None) for b in e["others"]]
    return _page_key(e["url"], e["question"], e["count"], e["answered"], e["first"], e["last"], e["as_of"],
                     e["corrected"], e["answer_raw"], [(a["name"], a["url"], a["count"]) for a in e["answerers"]],
                     others, e["variants"], [(t["url"], t["chat"], t["first"], t["size"]) for t in e["sources"]],
                     _topic_ref(e))


def topic_archive(threads: list[dict]) -> tuple[list[dict], list[list[dict]]]:
    """A topic's conversations (oldest first) as its pages show them: the newest TOPIC_PAGE_THREADS, newest first,
    on the topic page; the full runs of TOPIC_PAGE_THREADS from the oldest on archive pages 1, 2, … (the newest
    part of the last run is on both: the topic page always shows a full page when there is one)."""
    n = TOPIC_PAGE_THREADS
    return threads[::-1][:n], [threads[k:k + n] for k in range(0, len(threads) - n + 1, n)]


def topic_page_url(topic: dict, number: int) -> str:
    # "." is not in a slug (_SAFE_ID_RE): no archive page can be another topic's page
    return topic["url"][:-len(".html")] + f".{number}.html"


def _archive_page(topic: dict, number: int, threads: list[dict]) -> dict:
    return {"url": topic_page_url(topic, number), "first": threads[0]["first"][:10], "last": threads[-1]["first"][:10],
            "size": len(threads)}


def _topic_parts(topic: dict) -> list[tuple[str, str]]:
    """(url, key) of a topic's page and of its archive pages: each key holds what that page shows."""
    newest, archive = topic_archive(topic["threads"])

    def shown(threads):
        return [(t["url"], t["chat"], t["first"], t["digest_raw"]) for t in threads]

    entries = [(e["url"], e["question"], e["pinned"], e["count"], e["snippet"]) for e in topic["entries"]]
    parts = [(topic["url"], _page_key(topic["url"], topic["label"], topic["keywords"], entries, shown(newest),
                                      len(topic["threads"]),
                                      [tuple(_archive_page(topic, k, c).values()) for k, c in enumerate(archive, 1)]))]
    for k, chunk in enumerate(archive, 1):
        url = topic_page_url(topic, k)
        parts.append((url, _page_key(url, topic["url"], topic["label"], k, shown(chunk))))
    return parts


def _iso_week(ts: int | None, tz) -> str:
    if ts is None:
        return "undated"
    year, number, _ = datetime.fromtimestamp(ts, tz).isocalendar()
    return f"{year}-W{number:02d}"


def _week_label(week: str) -> str:
    return "日期不明" if week == "undated" else f"{week[:4]} 年第 {int(week[6:])} 周"


def _newest_first(periods) -> list[str]:
    return sorted(periods, key=lambda w: (w != "undated", w), reverse=True)


def open_pages(unanswered: list[dict], tz) -> list[dict]:
    """The open questions (site.unanswered, oldest first) by the ISO week they were asked in, newest week first:
    url, label, open (its questions) and the page key (what ops_item shows of each)."""
    weeks: dict[str, list[dict]] = {}
    for u in unanswered:
        weeks.setdefault(_iso_week(u["ts"], tz), []).append(u)
    parts = []
    for week in _newest_first(weeks):
        url, label = f"open/{week}.html", _week_label(week)
        shown = [(u["id"], u["question"], u["asker"]["name"] if u["asker"] else None,
                  u["asker"]["url"] if u["asker"] else None, u["when"], u["chat"],
                  u["thread"]["url"] if u["thread"] else None, u["entry"]["url"] if u["entry"] else None,
                  [e["name"] for e in u.get("experts") or []], u.get("repliers")) for u in weeks[week]]
        parts.append({"url": url, "label": label, "open": weeks[week], "key": _page_key(url, label, shown)})
    return parts


def review_pages(held: list[dict], entries, tz) -> list[dict]:
    """The review queue by the day its entries were first asked, newest day first, each day's in the order they
    were asked: url, label, held (its items) and the page key (everything the page shows). Not the confidence: it
    moves a little for most held entries every night (faq's whole-set statistics), which would re-render every page;
    review.html shows it, for the entries it lists."""
    first = {e.id: e.first_ts for e in entries}
    days: dict[str, list[dict]] = {}
    for item in held:
        ts = first.get(item["id"])
        day = datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d") if ts is not None else "undated"
        days.setdefault(day, []).append((ts or 0, item["id"], item))
    parts = []
    for day in _newest_first(days):
        url, label = f"review/{day}.html", "日期不明" if day == "undated" else day
        items = [item for _, _, item in sorted(days[day], key=lambda x: x[:2])]
        shown = [{k: v for k, v in item.items() if k != "confidence"} for item in items]
        parts.append({"url": url, "label": label, "held": items,
                      "key": _page_key(url, label, json.dumps(shown, ensure_ascii=False, sort_keys=True))})
    return parts


def _person_key(p: dict) -> str:
    """person.html. Recent activity (the day last seen, the messages of the last RECENT_DAYS) is not on it: it
    moves every night for everyone who spoke, or for everyone, so it is on people/index.html, rebuilt anyway."""
    answered = [(a["question"], a["entry"]["url"] if a["entry"] else None, a["thread"]["url"] if a["thread"] else None,
                 a["acknowledged"], a["snippet"], a["when"]) for a in p["answered"]]
    return _page_key(p["url"], p["name"], p["answers"], len(p["answered"]), p["acknowledged"], p["questions"],
                     p["level"], p["points"], p["member"], p["topics"],
                     [(e["url"], e["question"], e["as_of"]) for e in p["entries"]], answered)


def _previous_keys(previous: Path | None, global_key: str) -> tuple[dict[str, str], dict[str, int]]:
    """The page keys (and sizes) of the site this build replaces, when it was built under the same global key."""
    if previous is None:
        return {}, {}
    try:
        saved = json.loads((previous / PAGE_KEYS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, {}
    if not isinstance(saved, dict) or saved.get("format") != PAGE_KEYS_FORMAT or saved.get("global") != global_key:
        return {}, {}
    pages, sizes = saved.get("pages"), saved.get("sizes")  # no sizes: a site built before they were kept
    return (pages if isinstance(pages, dict) else {}), (sizes if isinstance(sizes, dict) else {})


def _inodes(folder: Path) -> dict[str, int]:
    """name → inode of a folder's entries, read with the directory (no stat each)."""
    try:
        with os.scandir(folder) as entries:
            return {e.name: e.inode() for e in entries}
    except OSError:
        return {}


def _remove(entry: os.DirEntry) -> None:
    if entry.is_dir(follow_symlinks=False):
        shutil.rmtree(entry.path)
    else:
        os.unlink(entry.path)


def _link(old: str, new: str, size: int | None = None) -> int | None:
    """Put the previous build's page at `new` (a hard link: no bytes copied); its size (`size` when the
    previous build recorded it), or None when it is gone."""
    try:
        try:
            os.link(old, new)
        except FileExistsError:  # an older version of the page in the spare folder
            os.unlink(new)
            os.link(old, new)
    except FileNotFoundError:
        return None
    except OSError:  # a file system without hard links
        try:
            shutil.copyfile(old, new)
        except OSError:
            return None
        size = None
    return size if isinstance(size, int) else os.stat(new).st_size


# -- the search index ----------------------------------------------------------------------------------------

def search_index(site: Site, talks: list[dict] = (), vocab: dict[str, list[str]] | None = None) -> dict:
    """The browser's search index: entries' (and talks') display text plus the t→s map for the characters that
    matter; `vocab` (the index stage's, search/vocab.py) adds each entry's equivalents as `x`."""
    docs = []
    charset: set[str] = set()
    for e in site.entries:
        answer = e["answer_plain"][:INDEX_ANSWER_CHARS]
        doc = {"i": e["id"], "u": e["url"], "q": e["question"], "a": answer, "n": e["count"]}
        if e["variants"]:
            doc["v"] = e["variants"]
        if e.get("trust", "confirmed") != "confirmed":
            doc["t"] = e["trust"]  # search.js says so beside the result
        docs.append(doc)
        charset.update(e["question"], answer, *e["variants"])
    for t in talks:  # after the entries: an entry's position in docs stays what it was
        text = t["text_plain"][:INDEX_ANSWER_CHARS]
        docs.append({"i": t["id"], "u": t["url"], "q": t["title"], "a": text, "n": 1})
        charset.update(t["title"], text)
    for e in site.held:  # held for review: found, labelled 待审核 (search.js), linked to the conversation
        answer = e["answer_plain"][:INDEX_ANSWER_CHARS]
        doc = {"i": e["id"], "u": e["url"], "q": e["question"], "a": answer, "n": e["count"], "h": 1}
        if e["variants"]:
            doc["v"] = e["variants"]
        if e["trust"] != "confirmed":
            doc["t"] = e["trust"]
        docs.append(doc)
        charset.update(e["question"], answer, *e["variants"])
    if vocab:
        for doc in docs:
            extra = expansions([doc["q"], *doc.get("v", [])], vocab)
            if extra:
                doc["x"] = extra
                charset.update(*extra)
    # What a search that found nothing offers instead: the open questions (someone else is waiting too),
    # newest first and bounded, and the topics with their keywords.
    open_questions = [[u["question"], u["thread"]["url"] if u["thread"] else "ops.html"]
                      for u in reversed(site.unanswered[-INDEX_OPEN_QUESTIONS:])]
    topics = [[t["label"], t["url"], " ".join(t["keywords"])] for t in site.topics]
    for q, *_ in open_questions:
        charset.update(q)
    for label, _, keywords in topics:
        charset.update(label, keywords)
    table = t2s_table()
    t2s = {t: s for t, s in table.items() if s in charset or t in charset}
    return {"version": 1, "docs": docs, "t2s": "".join(t + s for t, s in sorted(t2s.items())),
            "open": open_questions, "topics": topics, "floor": BROWSER_FLOOR}


def site_vocabulary(ws: Workspace, publish: Callable[[str], str]) -> dict[str, list[str]]:
    """The vocabulary the index stage learned (<ws>/index/vocab.json), terms the privacy rewrite would change left out."""
    path = ws.path(INDEX_LINK) / VOCAB_FILE
    if not path.exists():
        return {}
    vocab = json.loads(path.read_text(encoding="utf-8"))
    ok = {t for t in {t for k, v in vocab.items() for t in [k, *v]} if publish(t) == t}
    return {k: [t for t in v if t in ok] for k, v in vocab.items() if k in ok and any(t in ok for t in v)}


def _review_items(ctx: _Context, entries=None) -> list[dict]:
    """What `[faq] publish` held back, with its evidence, as the review page shows it (through privacy).
    `entries`: ws.faq_entries(include_hidden=False), when read already."""
    from ..curation import review_queue

    items = []
    for item in review_queue(ctx.ws, entries=entries):
        e = item.entry
        # which candidate (答1, 答2, … as `chendian review` numbers them) a message of the conversation belongs to
        answer_of = {mid: n for n, a in enumerate(e.answers, 1) for mid in a.answer.message_ids}
        items.append({
            "id": e.id, "question": ctx.text(e.question), "confidence": e.confidence, "worthy": e.worthy,
            "count": e.count,
            "context": [{"when": ctx.when(int(m.time.timestamp())), "name": ctx.privacy.name(m.sender, m.sender_name),
                         "text": _snippet(ctx.text(m.text), 200), "is_question": m.id == item.question_id,
                         "answer": answer_of.get(m.id)}
                        for m in item.context if m.id not in ctx.recalled_ids],
            "answers": [{"name": ctx.privacy.name(a.answer.sender, a.answer.sender_name),
                         "text": _snippet(ctx.text(a.answer.text), 300)} for a in e.answers],
        })
    return items


# -- writing ------------------------------------------------------------------------------------------------

def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env


def _quoted_names(ws: Workspace) -> list[str]:
    """The names quotes carry (a quoted sender may never have written in the export)."""
    names = set()
    for (raw,) in ws.db.execute("SELECT quote FROM messages WHERE quote IS NOT NULL AND quote != ''"):
        try:
            q = json.loads(raw)
        except ValueError:
            continue  # _thread_messages warns about it
        if isinstance(q, dict) and isinstance(q.get("sender_name"), str) and q["sender_name"]:
            names.add(q["sender_name"])
    return sorted(names)


def _render(ws: Workspace, out: Path, rc=None, previous: Path | None = None,
            thread_sigs: dict[str, tuple] | None = None, history=None, spare: bool = False) -> dict[str, int]:
    """Build the site into `out`. `spare`: `out` is the site the published one replaced (build_site), whose
    files may be hard links of the published site's: every file is removed before it is written (never written
    through), the pages not kept are removed at the end, and everything else was cleared before."""
    cfg = ws.config.site
    privacy = Privacy(cfg.names)
    ctx = _Context(ws=ws, rc=rc, privacy=privacy, md=MarkdownRenderer(), tz=ws.config.tz,
                   thread_sigs=thread_sigs if thread_sigs is not None else thread_signatures(ws.db))
    _load_recalled(ctx)
    qas = ws.qas(warn=ctx.warn)
    contributors = ws.contributors(warn=ctx.warn)
    # Every name is registered up front and the set frozen: names inside free text are rewritten alike on every
    # page, whichever pages this build renders and in whatever order.
    history = history if history is not None else Scratch(ws.db)
    known = known_people(ws.db, contributors, history)
    for sender, name in known:
        privacy.name(sender, name)
    if cfg.names != "real":
        for name in _quoted_names(ws):
            privacy.name(None, name)
    privacy.freeze()
    site = _load_site(ctx, qas, contributors, history)

    env = _environment()
    workers = default_workers(ws.config.run.workers)
    built = datetime.now(ctx.tz).strftime("%Y-%m-%d %H:%M")
    common = {"site_title": cfg.title, "built": built, "names_mode": cfg.names}
    pages = 0
    size = 0
    reused = 0

    def render(rel: str, template: str, **values) -> bytes:
        depth = rel.count("/")
        return env.get_template(template).render(root="../" * depth, page=rel, **common, **values).encode("utf-8")

    sizes: dict[str, int] = {}  # page → bytes, kept beside the page keys: a page linked next time needs no stat

    def save(rel: str, data: bytes) -> None:
        nonlocal pages, size
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if spare:  # maybe the published site's own file: a new one, never written through
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        path.write_bytes(data)
        pages += 1
        size += len(data)
        sizes[rel] = len(data)

    def write(rel: str, template: str, **values) -> None:
        save(rel, render(rel, template, **values))

    total = 7 + len(site.entries) + len(site.threads) + len(site.topics) + len(site.weeks) + len(site.people)
    bar = rc.progress(total, "pages", unit="page") if rc is not None else None
    tick = bar.update if bar is not None else (lambda n=1: None)
    try:
        for name in ("style.css", "search.js", "review.js"):
            (out / "assets").mkdir(exist_ok=True)
            shutil.copyfile(ASSETS / name, out / "assets" / name)
        talks = talk_pages(ctx, qas)
        index = search_index(site, talks, site_vocabulary(ws, ctx.text))
        # The student learns from text as published: a change of the names rewritten or the withdrawn messages refits it.
        fit_key = hashlib.blake2b("\x1f".join([privacy.rewrite_key(), *sorted(ctx.recalled_ids)]).encode("utf-8"),
                                  digest_size=16).hexdigest()
        vectors, vector_stats = workspace_vectors(
            ws, index, ctx.text, ctx.recalled_ids, previous=previous / STUDENT_FILE if previous is not None else None,
            keep=out / STUDENT_FILE, fit_key=fit_key)
        if "cached" in vector_stats.get("vectors_skipped", ""):
            ctx.warn(f"search: BM25 only, no semantic search ({vector_stats['vectors_skipped']})")
        vector_bytes = b""
        if vectors is not None:
            index["vectors"] = "search-vectors.js"
            vector_bytes = payload_js(vectors)
            write_same(out / "search-vectors.js", vector_bytes,
                       previous / "search-vectors.js" if previous is not None else None)
        index_sizes = write_browser_index(out, index, previous)

        recent = sorted(site.entries, key=lambda e: (-(e["last_ts"] or 0), e["id"]))[:RECENT]
        popular = sorted(site.entries, key=lambda e: (not e["pinned"], -e["count"], -(e["last_ts"] or 0), e["id"]))[:POPULAR]
        write("index.html", "home.html", recent=recent, popular=popular, topics=site.topics, weeks=site.weeks[:6],
              stats={"entries": len(site.entries), "threads": len(site.threads), "unanswered": len(site.unanswered),
                     "people": len(site.people)})
        write("search.html", "search.html")
        # the report's own reads: what this build read already, and what spans all history from `history`
        shown_entries = [e for e in site.faq if not e.hidden]  # ws.faq_entries(include_hidden=False), not read again
        report = weekly_report(ws, None, ctx.warn, qas=qas, people=known[:len(known) - len(contributors)],
                               entries=shown_entries, history=history)
        experts = {q: r["experts"] for r in report["unanswered"] + report["needs_review"] for q in [r["qa_id"]]}
        for u in site.unanswered:
            u["experts"] = experts.get(u["id"], [])
        held = _review_items(ctx, shown_entries)
        entry_url = {e["id"]: e["url"] for e in site.entries}
        for x in report["stale"]:
            x["url"] = entry_url.get(x["entry_id"])
        open_parts = open_pages(site.unanswered, ctx.tz)
        write("ops.html", "ops.html", unanswered=site.unanswered[-OPEN_TOP:], total=len(site.unanswered),
              parts=[{k: p[k] for k in ("url", "label")} | {"size": len(p["open"])} for p in open_parts],
              review=report["needs_review"], held=len(held),
              teams=report["team_standings"], stale=report["stale"], stale_after_days=report["stale_after_days"])
        review_parts = review_pages(held, shown_entries, ctx.tz)
        write("review.html", "review.html", held=held[:REVIEW_TOP], total=len(held),
              parts=[{"url": p["url"], "month": p["label"][:7], "day": p["label"][8:] or p["label"], "size": len(p["held"])}
                     for p in review_parts[::-1]])
        write("report.html", "report.html", report=report, charts=report_charts(report))
        write("topics/index.html", "topics.html", topics=site.topics)
        write("weeks/index.html", "weeks.html", weeks=site.weeks)
        write("people/index.html", "people.html", people=site.people)
        tick(7)
        # An entry, conversation, topic, week or person page whose inputs (its key) are those of the page the
        # published site has is linked from it; the others are rendered.
        global_key = _global_key(ctx)
        old_keys, old_sizes = _previous_keys(previous, global_key)
        keys: dict[str, str] = {}
        for folder in PAGE_FOLDERS:
            (out / folder).mkdir(exist_ok=True)
        # Paths as strings: a night links most of a big site's pages (168k at 1M messages), one os.link each,
        # unless the spare folder has the published file there already (the same inode).
        old_root, new_root = f"{previous}{os.sep}", f"{out}{os.sep}"
        here = {f: _inodes(out / f) for f in PAGE_FOLDERS} if spare and old_keys else {}
        there = {f: _inodes(previous / f) for f in PAGE_FOLDERS} if here else {}

        def reuse(rel: str, key: str) -> bool:
            nonlocal pages, size, reused
            keys[rel] = key
            if old_keys.get(rel) != key:
                return False
            folder, _, name = rel.partition("/")
            inode = here[folder].get(name) if folder in here else None
            if inode is not None and inode == there[folder].get(name):
                known = old_sizes.get(rel)
                linked = known if isinstance(known, int) else os.stat(new_root + rel).st_size
            else:
                linked = _link(old_root + rel, new_root + rel, old_sizes.get(rel))
            if linked is None:
                return False
            sizes[rel] = linked
            pages += 1
            size += linked
            reused += 1
            tick()
            return True

        question_ids = {qa.question_id for qa in qas}
        answer_ids = {mid for qa in qas for a in qa.answers for mid in a.message_ids}
        marks = _thread_marks(ctx, question_ids, answer_ids) if site.threads else {}

        def page(job: tuple) -> tuple[str, bytes, list[str]]:
            """One page of those that are rendered: (path, bytes, warnings). Runs in a worker process
            (pool.ordered_map): it reads the model built above and the rows in the job, never the store."""
            kind, ref, rows = job
            warnings: list[str] = []
            ctx.sink = warnings.append
            try:
                if kind == "entry":
                    e = site.entries[ref]
                    e["answer_html"] = ctx.markdown(e["answer_raw"])
                    for b in e["others"]:
                        b["html"] = ctx.markdown(b["raw"])
                    return e["url"], render(e["url"], "entry.html", entry=e), warnings
                if kind == "thread":
                    t = site.threads[ref]
                    messages = _thread_messages(ctx, rows, question_ids, answer_ids)
                    t["digest_html"] = ctx.markdown(t["digest_raw"]) if t["digest_raw"] else None
                    return t["url"], render(t["url"], "thread.html", thread=t, messages=messages), warnings
                if kind == "topic":
                    i, part = ref
                    topic = site.topics[i]
                    newest, archive = topic_archive(topic["threads"])
                    shown = newest if part == 0 else archive[part - 1]
                    for t in shown:
                        t["digest_plain"] = _snippet(ctx.text(t["digest_raw"])) if t["digest_raw"] else ""
                    if part == 0:
                        pages = [_archive_page(topic, k, chunk) for k, chunk in enumerate(archive, 1)]
                        return topic["url"], render(topic["url"], "topic.html", topic=topic, newest=newest,
                                                    archive=pages[::-1]), warnings
                    url = topic_page_url(topic, part)
                    return url, render(url, "topic_archive.html", topic=topic, number=part,
                                       threads=shown), warnings
                if kind == "week":
                    w = site.weeks[ref]
                    w["body_html"] = ctx.markdown(w["body_raw"])
                    return w["url"], render(w["url"], "week.html", week=w), warnings
                if kind == "person":
                    p = site.people[ref]
                    return p["url"], render(p["url"], "person.html", person=p), warnings
                if kind == "review":
                    part = review_parts[ref]
                    return part["url"], render(part["url"], "review_day.html", part=part), warnings
                if kind == "open":
                    part = open_parts[ref]
                    return part["url"], render(part["url"], "open_week.html", part=part), warnings
                if kind == "talks":
                    return "talks/index.html", render("talks/index.html", "talks.html", talks=talks), warnings
                t = talks[ref]
                return t["url"], render(t["url"], "talk.html", talk=t), warnings
            finally:
                ctx.sink = None

        def jobs():
            """The pages to render, in the order they are written; the others are linked as they come."""
            for i, e in enumerate(site.entries):
                if not reuse(e["url"], _entry_key(e)):
                    yield "entry", i, None
            todo = {t["id"] for t in site.threads.values()
                    if not reuse(t["url"], _thread_key(t, ctx.thread_sigs.get(t["id"]), marks.get(t["id"], [])))}
            done = set()
            for t, rows in _thread_rows(ctx, site, only=todo):
                done.add(t["id"])
                yield "thread", t["id"], rows
            for t in site.threads.values():
                if t["id"] in todo and t["id"] not in done:
                    yield "thread", t["id"], []  # a conversation whose messages are all gone (recalled) keeps its digest
            for i, topic in enumerate(site.topics):
                for part, (url, key) in enumerate(_topic_parts(topic)):
                    if not reuse(url, key):
                        yield "topic", (i, part), None
            for i, w in enumerate(site.weeks):
                if not reuse(w["url"], _page_key(w["url"], w["week"], w["chat"], w["body_raw"])):
                    yield "week", i, None
            for i, p in enumerate(site.people):
                if not reuse(p["url"], _person_key(p)):
                    yield "person", i, None
            for i, part in enumerate(review_parts):
                if not reuse(part["url"], part["key"]):
                    yield "review", i, None
            for i, part in enumerate(open_parts):
                if not reuse(part["url"], part["key"]):
                    yield "open", i, None
            yield "talks", None, None
            for i in range(len(talks)):
                yield "talk", i, None

        for rel, data, warnings in ordered_map(page, jobs(), workers):
            for w in warnings:
                ctx.warn(w)
            save(rel, data)
            if rel != "talks/index.html" and not rel.startswith("talks/"):
                tick()
        if spare:  # pages of the replaced site that this one neither kept nor wrote (a conversation gone)
            for folder in PAGE_FOLDERS:
                for entry in os.scandir(out / folder):
                    if f"{folder}/{entry.name}" not in sizes:
                        _remove(entry)
        # In key order, sorted once for both maps (json's sort_keys sorts each: 1 s of string compares at 170k pages);
        # the top-level keys are written in their sorted order too, so the bytes are sort_keys' own.
        order = sorted(keys)
        (out / PAGE_KEYS).write_text(json.dumps({"format": PAGE_KEYS_FORMAT, "global": global_key,
                                                 "pages": {rel: keys[rel] for rel in order},
                                                 "sizes": {rel: sizes[rel] for rel in order if rel in sizes}},
                                                separators=(",", ":")) + "\n", encoding="utf-8")
    finally:
        if bar is not None:
            bar.close()
    size += index_sizes["index_bytes"] + len(vector_bytes)
    return {**{k: v for k, v in vector_stats.items() if isinstance(v, int)}, "vector_bytes": len(vector_bytes),
            **{f"index_{k}" if not k.startswith("index") else k: v for k, v in index_sizes.items()},
            "pages": pages, "pages_linked": reused, "entries": len(site.entries), "threads": len(site.threads), "topics": len(site.topics),
            "weeks": len(site.weeks), "people": len(site.people), "talks": len(talks), "unanswered": len(site.unanswered),
            "bytes": size}


RECENT_DAYS = 28  # people/index.html's recent activity: the last four weeks of the chat's history


def _directory(ws: Workspace, ctx: _Context, people: list[dict], history=None) -> None:
    """The member directory on each person page: topics they answer, entries they contributed, their level, and
    the members file's fields (recent activity: people/index.html). Names follow `[site] names` like every page;
    职位 (it often names the company) is shown only under real names and while the group has at most
    `[insights] directory_private_above` members, team likewise."""
    cfg = ws.config.insights
    members = load_members(ws)
    history = history if history is not None else Scratch(ws.db)
    newest = history.newest_ts() or 0
    # everyone who wrote (the directory's size), and each one's recent activity (what they said and did not withdraw)
    senders, recent = history.activity(newest - RECENT_DAYS * 86400)
    open_directory = ws.config.site.names == "real" and senders <= cfg.directory_private_above
    points: dict[str, float] = {}
    for p in ws.answer_points():
        points[p["sender"]] = points.get(p["sender"], 0.0) + p["points"]
    raw_names = dict(history.raw_names())
    shared = shared_parts(raw_names.values())
    for p in people:
        sender = p["sender"]
        counts: dict[str, list] = {}
        entries: dict[str, dict] = {}
        for a in p["answered"]:
            topic = a["thread"]["topic"] if a["thread"] else None
            if topic:
                counts.setdefault(topic["id"], [topic, 0])[1] += 1
            if a["entry"]:
                entries.setdefault(a["entry"]["id"], a["entry"])
        p["topics"] = [{"label": t["label"], "url": t["url"], "count": n}
                       for t, n in sorted(counts.values(), key=lambda x: (-x[1], x[0]["label"]))]
        p["entries"] = list(entries.values())
        n, last = recent.get(sender, (0, None))
        p["recent"] = {"messages": n or 0, "days": RECENT_DAYS, "last": ctx.when(last, "%Y-%m-%d") if last else ""}
        p["points"] = points.get(sender, 0.0)
        p["level"] = level_for(p["points"], cfg.levels)
        m = member_of(sender, raw_names.get(sender), members)
        team = team_of(sender, raw_names.get(sender), members, shared)
        p["member"] = {"title": ctx.text(m.title) if m and open_directory else "",
                       "expertise": [ctx.text(x) for x in m.expertise] if m else [],
                       "team": ctx.text(team) if team and open_directory else ""}


def report_charts(report: dict) -> list[dict]:
    """The report page's charts, each with its text alternative (the same figures as a table)."""
    dist = report["response_time_distribution"]
    top = report["top_contributors"]
    days, hours = report["activity"]["by_weekday"], report["activity"]["by_hour"]
    specs = [("activity-day", "本周每天的消息数", list(days), list(days.values()), 1, " 条"),
             ("activity-hour", "本周各时段的消息数（时）", list(hours), list(hours.values()), 4, " 条"),
             ("response-time", "本周首次回答用时分布（问题数）", [d["bucket"] for d in dist], [d["count"] for d in dist], 1, " 个"),
             ("top-contributors", "本周贡献积分", [p["name"] for p in top], [p["points"] for p in top], 1, " 分")]
    if report["team_standings"]:  # only where members belong to teams
        teams = report["team_standings"]
        specs.append(("team-standings", "本周团队积分", [t["team"] for t in teams], [t["points"] for t in teams], 1, " 分"))
    return [{"id": cid, "title": title, "rows": list(zip(labels, values)), "unit": unit,
             "svg": (hbar_chart(cid, title, labels, values, unit=unit) if cid in ("top-contributors", "team-standings")
                     else bar_chart(cid, title, labels, values, label_every=every, unit=unit))}
            for cid, title, labels, values, every, unit in specs]


@contextmanager
def collector_paused():
    """No cyclic garbage collection inside: a build holds millions of long-lived objects (the site model, the page
    keys) that the collector would scan again and again as they are made, 3.4 s of publish's 25 s CPU at 1M
    messages; the few cycles made meanwhile (the model's own: a conversation and its entries) are left to its next pass."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _clean_stale(target: Path) -> None:
    """Leftovers of builds that were killed midway."""
    for leftover in target.parent.glob(f".{target.name}-build-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in target.parent.glob(f".{target.name}-old-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def build_site(ws: Workspace, out_dir: str | os.PathLike | None = None, *, rc=None,
               check: Callable[[Path], None] | None = None, thread_sigs: dict[str, tuple] | None = None,
               history=None) -> dict[str, int]:
    """Build the site into a temporary folder beside `out_dir` (default <ws>/site) and swap it into place.

    A build that fails, or that `check(folder)` rejects by raising (the publish stage's audit), leaves the
    previous site as it was. The conversation pages whose inputs are unchanged since the site at `out_dir` was
    built are hard links to its files (PAGE_KEYS). Returns counts (pages, entries, threads, …, bytes).
    `thread_sigs`: thread_signatures(ws.db), when the caller has read them already; `history`: the publish
    stage's site.history.Cached (the report's whole-history reads), else they are computed from the messages.
    """
    with collector_paused():
        return _build_site(ws, out_dir, rc=rc, check=check, thread_sigs=thread_sigs, history=history)


def _build_site(ws: Workspace, out_dir, *, rc, check, thread_sigs, history) -> dict[str, int]:
    target = Path(out_dir) if out_dir is not None else ws.path("site")
    target = target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(target)
    spare = target.with_name(f".{target.name}-spare")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-build-", dir=target.parent))
    first = not target.is_dir()
    reusing = spare.is_dir() and not first
    if reusing:  # under the fresh build name: a build killed midway leaves it to _clean_stale
        os.rmdir(tmp)
        os.rename(spare, tmp)
    elif spare.exists():
        shutil.rmtree(spare, ignore_errors=True)
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a web server must be able to read the site
        if reusing:
            for entry in os.scandir(tmp):  # only the keyed pages stay (checked one by one as they are reused)
                if entry.name not in PAGE_FOLDERS or not entry.is_dir(follow_symlinks=False):
                    _remove(entry)
        counts = _render(ws, tmp, rc, previous=target if target.is_dir() else None, thread_sigs=thread_sigs,
                         history=history, spare=reusing)
        if check is not None:
            check(tmp)
        atomic.swap_dir(tmp, target, keep_old=spare)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if first:
        _seed_spare(target, spare)
    return counts


def _seed_spare(site: Path, spare: Path) -> None:
    """After a first build, the spare folder the next one builds in: the keyed pages as hard links of the published
    files (the first night then costs what every later night does, not a link per page)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{site.name}-build-", dir=site.parent))
    try:
        for folder in PAGE_FOLDERS:
            if not (site / folder).is_dir():
                continue
            (tmp / folder).mkdir()
            src, dst = f"{site / folder}{os.sep}", f"{tmp / folder}{os.sep}"
            with os.scandir(src) as entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False):
                        os.link(src + entry.name, dst + entry.name)
        os.rename(tmp, spare)
    except OSError:  # no hard links on this file system: the next build links (copies) each page as before
        shutil.rmtree(tmp, ignore_errors=True)
