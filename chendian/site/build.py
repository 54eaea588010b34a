"""The publish stage: a static knowledge site built from the workspace, swapped into place atomically.

Reads what earlier stages wrote (SCHEMA.md: faq_entries, qas, threads, message_threads, topics, contributors,
weekly_digests) plus the messages, and writes <ws>/site:

    index.html            recent and popular entries, topics, latest weekly digests
    search.html           client-side search (search-index.js: BM25; search-vectors.js, loaded after it: the
                          semantic student of student.py), or the hybrid API under `chendian serve`
    ops.html              消灭零回复: questions no one answered, oldest first
    entries/<id>.html     one FAQ entry: question, best answers with authors, variants, asked N times, sources
    threads/<id>.html     one conversation: digest and transcript with quotes
    topics/<id>.html      entries and conversations of a topic (topics/index.html lists them)
    weeks/<week>-<chat>.html  weekly digests (weeks/index.html)
    people/<id>.html      what each contributor answered (people/index.html)

Every link is relative, so the site works from file:// and from any static host. Every piece of chat text
goes through privacy (masking, names as configured) and is escaped; recalled messages appear nowhere.
A missing stage table is read as empty, so the site builds at any point of the pipeline.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .. import atomic
from ..model import RECALL, SYSTEM, stable_id
from ..store import Workspace
from .privacy import Privacy
from .render import MarkdownRenderer, plain
from .student import payload_js, t2s_table, workspace_vectors

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
ASSETS = HERE / "assets"
BUILD_VERSION = "3"  # bump when the output changes for the same input, so `run` rebuilds

INDEX_ANSWER_CHARS = 400  # answer text per entry in the browser's search index (bounds the index size)
SNIPPET_CHARS = 140
RECENT, POPULAR = 12, 12
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

def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _rows(db: sqlite3.Connection, table: str, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
    return db.execute(sql, args).fetchall() if _has_table(db, table) else []


# A conversation with its topic and digest, as the topics and summarize stages wrote them.
THREADS_SQL = ("SELECT t.id, t.chat, t.first_ts, t.last_ts, t.size, t.root_id, tm.topic_id, td.digest FROM threads t"
               " LEFT JOIN topic_members tm ON tm.thread_id = t.id LEFT JOIN thread_digests td ON td.thread_id = t.id"
               " ORDER BY t.first_ts, t.id")


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

    def warn(self, message: str) -> None:
        if self.rc is not None and message not in self.warned:
            self.warned.add(message)
            self.rc.warn(message)

    def json(self, value: str | None, default: Any, where: str) -> Any:
        if value in (None, ""):
            return default
        try:
            parsed = json.loads(value)
        except (TypeError, json.JSONDecodeError) as e:
            self.warn(f"{where}: not valid JSON ({e}); read as empty")
            return default
        if not isinstance(parsed, type(default)):
            self.warn(f"{where}: expected a JSON {type(default).__name__}, got {type(parsed).__name__}; read as empty")
            return default
        return parsed

    def scrub(self, text: str | None) -> str:
        """Free text with the words of recalled messages taken out."""
        if not text:
            return ""
        if self.recalled_re is None:
            return text
        return self.recalled_re.sub("（已撤回）", text)

    def text(self, raw: str | None) -> str:
        """Published plain text."""
        return self.privacy.text(self.scrub(raw))

    def markdown(self, raw: str | None):
        """Published Markdown → safe HTML (the mask's stars escaped so they stay stars)."""
        return self.md(self.privacy.text(self.scrub(raw), star="\\*"))

    def when(self, ts: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if ts is None:
            return ""
        return datetime.fromtimestamp(int(ts), self.tz).strftime(fmt)


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


def _known_people(db: sqlite3.Connection) -> list[tuple[str, str]]:
    people = [(r[0], r[1]) for r in db.execute(
        "SELECT sender, sender_name FROM messages WHERE kind != ? GROUP BY sender, sender_name", (SYSTEM,))]
    people += [(r["sender"], r["name"]) for r in _rows(db, "contributors", "SELECT sender, name FROM contributors")]
    return people


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


def _load_site(ctx: _Context) -> Site:
    db = ctx.ws.db
    site = Site(title=ctx.ws.config.site.title)
    chat_names = {r["id"]: ctx.text(r["name"]) for r in db.execute("SELECT id, name FROM chats")}

    def chat_name(chat: str) -> str:
        return chat_names.get(chat) or ctx.text(chat)

    # Topics
    topics = {}
    for r in _rows(db, "topics", "SELECT * FROM topics ORDER BY size DESC, id"):
        keywords = ctx.json(r["keywords"], [], f"topics {r['id']} keywords")
        topics[r["id"]] = {
            "id": r["id"], "url": f"topics/{slug(r['id'], 'k')}.html", "label": ctx.text(r["label"]) or "未命名话题",
            "keywords": [ctx.text(str(k)) for k in keywords if k][:8], "size": r["size"] or 0,
            "entries": [], "threads": [],
        }

    # QAs (answers from recalled messages dropped; questions that were recalled dropped entirely)
    qas = {}
    recalled_qas = set()
    for r in _rows(db, "qas", "SELECT * FROM qas ORDER BY ts, id"):
        if r["question_id"] in ctx.recalled_ids:
            recalled_qas.add(r["id"])
            continue
        answers = []
        for a in ctx.json(r["answers"], [], f"qas {r['id']} answers"):
            if not isinstance(a, dict):
                continue
            if not isinstance(a.get("text"), str) or not a["text"].strip():
                continue
            ids = a.get("message_ids") if isinstance(a.get("message_ids"), list) else []
            if any(mid in ctx.recalled_ids for mid in ids):
                continue
            answers.append(a)
        qas[r["id"]] = {"row": r, "answers": answers}

    # People: everyone who answered, with a page
    contributor_rows = {r["sender"]: r for r in _rows(db, "contributors", "SELECT * FROM contributors")}
    people: dict[str, dict] = {}

    def person(sender: str, name: str | None) -> dict:
        p = people.get(sender)
        if p is None:
            row = contributor_rows.get(sender)
            p = people[sender] = {
                "sender": sender, "name": ctx.privacy.name(sender, (row["name"] if row else None) or name),
                "url": f"people/{stable_id(sender, prefix='p')}.html",
                "questions": row["questions"] if row else 0, "answers": row["answers"] if row else 0,
                "acknowledged": row["acknowledged"] if row else 0, "answered": [], "topics": [],
            }
            if row:
                for t in ctx.json(row["topics"], [], f"contributors {sender} topics"):
                    tid = t.get("id") if isinstance(t, dict) else t
                    if tid in topics:
                        p["topics"].append(topics[tid])
        return p

    authors: list[dict] = []  # every mention of a person; linked to their page once the people are known

    def author(sender: str | None, name: str | None) -> dict:
        a = {"name": ctx.privacy.name(sender, name), "sender": sender, "url": None}
        authors.append(a)
        return a

    # Entries
    entry_cols = _columns(db, "faq_entries") if _has_table(db, "faq_entries") else set()
    # Shown: not hidden, and published under [faq] publish (the rest waits for review on the ops page).
    where = " WHERE COALESCE(hidden, 0) = 0 AND COALESCE(published, 1) = 1"
    qa_entry: dict[str, dict] = {}
    hidden_qas: set[str] = set()
    if "hidden" in entry_cols:
        # Not on the 待回答 list: questions under hidden entries, and those unlikely to be worth an entry.
        for r in db.execute("SELECT qa_ids FROM faq_entries WHERE hidden = 1 OR COALESCE(worthy, 1) < ?",
                            (ctx.ws.config.faq.min_worthy_unanswered,)):
            hidden_qas.update(ctx.json(r["qa_ids"], [], "faq_entries qa_ids"))
    thread_refs: set[str] = set()
    for r in _rows(db, "faq_entries", f"SELECT * FROM faq_entries{where} ORDER BY first_ts, id"):
        qa_ids = [q for q in ctx.json(r["qa_ids"], [], f"faq_entries {r['id']} qa_ids") if isinstance(q, str)]
        if qa_ids and all(q in recalled_qas for q in qa_ids):
            continue  # every question behind the entry was recalled: nothing of it may be published
        thread_ids = [t for t in ctx.json(r["thread_ids"], [], f"faq_entries {r['id']} thread_ids") if isinstance(t, str)]
        thread_refs.update(thread_ids)
        best, seen = [], set()
        for qid in qa_ids:
            qa = qas.get(qid)
            if not qa:
                continue
            for a in qa["answers"]:
                key = re.sub(r"\s+", "", a.get("text", ""))
                if key in seen:
                    continue
                seen.add(key)
                best.append({"author": author(a.get("sender"), a.get("sender_name")), "html": ctx.markdown(a["text"]),
                             "key": key,
                             "acknowledged": bool(a.get("acknowledged")), "thread": qa["row"]["thread_id"]})
        best = best[:BEST_ANSWERS]
        raw_answer = r["answer"] or ""
        if ctx.recalled_re is not None and ctx.recalled_re.search(raw_answer):
            # the FAQ answer came from a message its sender withdrew: show the best answer still standing
            raw_answer = next((a["text"] for q in qa_ids if q in qas for a in qas[q]["answers"]), "")
        main_key = re.sub(r"\s+", "", raw_answer)
        others = [b for b in best if b["key"] != main_key]
        answerers = []
        for a in ctx.json(r["answerers"], [], f"faq_entries {r['id']} answerers"):
            if isinstance(a, dict) and a.get("sender"):
                answerers.append({**author(a["sender"], a.get("name")), "count": a.get("count") or 1})
        question = ctx.text(r["question"])
        if not question.strip():
            ctx.warn(f"faq_entries {r['id']}: no question text; not published")
            continue
        variants = []
        for v in ctx.json(r["variants"], [], f"faq_entries {r['id']} variants"):
            v = ctx.text(str(v))
            if v and v != question and v not in variants:
                variants.append(v)
        answer_plain = ctx.text(raw_answer)
        entry = {
            "id": r["id"], "url": f"entries/{slug(r['id'], 'f')}.html", "question": question,
            "answer_html": ctx.markdown(raw_answer), "answer_plain": answer_plain, "others": others,
            "snippet": _snippet(answer_plain), "variants": variants, "count": r["count"] or 1,
            "topic": topics.get(r["topic_id"]), "qa_ids": qa_ids, "thread_ids": thread_ids,
            "first_ts": r["first_ts"], "last_ts": r["last_ts"], "answered": bool(r["answered"]),
            "pinned": bool(r["pinned"]) if "pinned" in entry_cols else False,
            "answerers": answerers, "best": best, "sources": [],
            "first": ctx.when(r["first_ts"], "%Y-%m-%d"), "last": ctx.when(r["last_ts"], "%Y-%m-%d"),
        }
        site.entries.append(entry)
        for q in qa_ids:
            qa_entry[q] = entry
        if entry["topic"]:
            entry["topic"]["entries"].append(entry)

    # Unanswered questions (oldest first), QAs under hidden entries excluded
    for qid, qa in qas.items():
        r = qa["row"]
        thread_refs.add(r["thread_id"])
        if qid in hidden_qas:
            continue
        if not qa["answers"]:
            site.unanswered.append({
                "id": qid, "question": ctx.text(r["question"]), "asker": author(r["asker"], r["asker_name"]),
                "when": ctx.when(r["ts"]), "ts": r["ts"], "chat": chat_name(r["chat"]), "thread": r["thread_id"],
                "entry": qa_entry.get(qid),
            })
        for a in qa["answers"]:
            if a.get("sender"):
                p = person(a["sender"], a.get("sender_name"))
                p["answered"].append({
                    "question": ctx.text(r["question"]), "snippet": _snippet(ctx.text(a["text"])),
                    "entry": qa_entry.get(qid), "thread": r["thread_id"], "when": ctx.when(r["ts"], "%Y-%m-%d"),
                    "acknowledged": bool(a.get("acknowledged")),
                })
    if not qas and not _has_table(db, "qas"):
        for e in site.entries:  # before the extract stage: FAQ entries flagged unanswered
            if not e["answered"]:
                site.unanswered.append({"id": e["id"], "question": e["question"], "asker": None, "when": e["first"],
                                        "ts": e["first_ts"], "chat": "", "thread": None, "entry": e})
    site.unanswered.sort(key=lambda u: (u["ts"] or 0, u["id"]))
    for sender in contributor_rows:
        person(sender, None)
    for a in authors:
        if a["sender"] in people:
            a["url"] = people[a["sender"]]["url"]

    # Conversations: those behind entries and questions, and any of MIN_THREAD_SIZE messages or more.
    # Their size as published: recalled messages and system notices are not counted (nor shown).
    shown_sizes = dict(_rows(db, "message_threads",
        "SELECT mt.thread_id, count(*) FROM message_threads mt JOIN messages m ON m.id = mt.message_id"
        " WHERE m.recalled = 0 AND m.kind NOT IN (?, ?) GROUP BY mt.thread_id", (RECALL, SYSTEM)))
    has_links = _has_table(db, "message_threads")
    for r in db.execute(THREADS_SQL):
        if r["id"] not in thread_refs and (r["size"] or 0) < MIN_THREAD_SIZE:
            continue
        t = {
            "id": r["id"], "url": f"threads/{slug(r['id'], 't')}.html", "chat": chat_name(r["chat"]),
            "first": ctx.when(r["first_ts"]), "last": ctx.when(r["last_ts"]), "first_ts": r["first_ts"],
            "size": shown_sizes.get(r["id"], 0) if has_links else r["size"] or 0, "digest_html": ctx.markdown(r["digest"]) if r["digest"] else None,
            "digest_plain": _snippet(ctx.text(r["digest"])) if r["digest"] else "",
            "topic": topics.get(r["topic_id"]), "entries": [], "messages": [],
        }
        site.threads[r["id"]] = t
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

    # Weekly digests, newest first
    for r in _rows(db, "weekly_digests", "SELECT * FROM weekly_digests ORDER BY week DESC, chat"):
        week = r["week"] if _WEEK_RE.fullmatch(r["week"] or "") else slug(r["week"] or "", "w")
        site.weeks.append({
            "chat": chat_name(r["chat"]), "week": r["week"],
            "url": f"weeks/{week}-{hashlib.blake2b(r['chat'].encode('utf-8'), digest_size=4).hexdigest()}.html",
            "body_html": ctx.markdown(r["body"]),
        })
    return site


def _thread_messages(ctx: _Context, site: Site, question_ids: set[str], answer_ids: set[str]):
    """(thread, messages) for every published conversation, streamed from the store in one query."""
    db = ctx.ws.db
    if not site.threads or not _has_table(db, "message_threads"):
        return
    by_id: dict[str, dict] = {}
    current, buffer = None, []
    rows = db.execute(
        "SELECT mt.thread_id, m.id, m.ts, m.sender, m.sender_name, m.kind, m.text, m.reply_to, m.quote, m.recalled"
        " FROM message_threads mt JOIN messages m ON m.id = mt.message_id ORDER BY mt.thread_id, m.ts, m.rowid")
    for r in rows:
        if r["thread_id"] != current:
            if current in site.threads:
                yield site.threads[current], buffer
            current, buffer, by_id = r["thread_id"], [], {}
        if current not in site.threads:
            continue
        if r["recalled"] or r["kind"] in (RECALL, SYSTEM) or r["id"] in ctx.recalled_ids:
            continue  # recalled messages are never published; system notices name people who never spoke
        text = r["text"] or ""
        if r["kind"] in MEDIA_LABELS and not text.strip():
            text = MEDIA_LABELS[r["kind"]]
        msg = {"id": r["id"], "anchor": slug(r["id"], "m"), "author": ctx.privacy.name(r["sender"], r["sender_name"]),
               "when": ctx.when(r["ts"], "%m-%d %H:%M"), "html": plain(ctx.text(text)), "quote": None,
               "question": r["id"] in question_ids, "answer": r["id"] in answer_ids}
        quote = None
        if r["reply_to"] and r["reply_to"] in ctx.recalled_ids:
            quote = {"author": "", "text": "（引用的消息已撤回）", "anchor": None}
        elif r["reply_to"] and r["reply_to"] in by_id:
            q = by_id[r["reply_to"]]
            quote = {"author": q["author"], "text": _snippet(q["plain"], 80), "anchor": q["anchor"]}
        elif r["quote"]:
            raw = ctx.json(r["quote"], {}, f"message {r['id']} quote")
            if raw.get("text") or raw.get("sender_name"):
                quote = {"author": ctx.privacy.name(None, raw["sender_name"]) if raw.get("sender_name") else "",
                         "text": _snippet(ctx.text(raw.get("text") or ""), 80), "anchor": None}
        msg["quote"] = quote
        msg["plain"] = ctx.text(text)
        by_id[r["id"]] = msg
        buffer.append(msg)
    if current in site.threads:
        yield site.threads[current], buffer


# -- the search index ----------------------------------------------------------------------------------------

def search_index(site: Site) -> dict:
    """The browser's search index: entries' display text plus the t→s map for the characters that matter."""
    docs = []
    charset: set[str] = set()
    for e in site.entries:
        answer = e["answer_plain"][:INDEX_ANSWER_CHARS]
        doc = {"i": e["id"], "u": e["url"], "q": e["question"], "a": answer, "n": e["count"]}
        if e["variants"]:
            doc["v"] = e["variants"]
        docs.append(doc)
        charset.update(e["question"], answer, *e["variants"])
    table = t2s_table()
    t2s = {t: s for t, s in table.items() if s in charset or t in charset}
    return {"version": 1, "docs": docs, "t2s": "".join(t + s for t, s in sorted(t2s.items()))}


# -- writing ------------------------------------------------------------------------------------------------

def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env


def _render(ws: Workspace, out: Path, rc=None) -> dict[str, int]:
    cfg = ws.config.site
    privacy = Privacy(cfg.names)
    ctx = _Context(ws=ws, rc=rc, privacy=privacy, md=MarkdownRenderer(), tz=ws.config.tz)
    _load_recalled(ctx)
    for sender, name in _known_people(ws.db):
        privacy.name(sender, name)  # registered up front: names inside free text are rewritten everywhere
    site = _load_site(ctx)

    env = _environment()
    built = datetime.now(ctx.tz).strftime("%Y-%m-%d %H:%M")
    common = {"site_title": cfg.title, "built": built, "names_mode": cfg.names}
    pages = 0
    size = 0

    def write(rel: str, template: str, **values) -> None:
        nonlocal pages, size
        depth = rel.count("/")
        html = env.get_template(template).render(root="../" * depth, page=rel, **common, **values)
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = html.encode("utf-8")
        path.write_bytes(data)
        pages += 1
        size += len(data)

    total = 6 + len(site.entries) + len(site.threads) + len(site.topics) + len(site.weeks) + len(site.people)
    bar = rc.progress(total, "pages", unit="page") if rc is not None else None
    tick = bar.update if bar is not None else (lambda n=1: None)
    try:
        for name in ("style.css", "search.js"):
            (out / "assets").mkdir(exist_ok=True)
            shutil.copyfile(ASSETS / name, out / "assets" / name)
        index = search_index(site)
        vectors, vector_stats = workspace_vectors(ws, index, ctx.text, ctx.recalled_ids)
        if "cached" in vector_stats.get("vectors_skipped", ""):
            ctx.warn(f"search: BM25 only, no semantic search ({vector_stats['vectors_skipped']})")
        vector_bytes = b""
        if vectors is not None:
            index["vectors"] = "search-vectors.js"
            vector_bytes = payload_js(vectors)
            (out / "search-vectors.js").write_bytes(vector_bytes)
        index_bytes = ("window.CHENDIAN_INDEX = " + json.dumps(index, ensure_ascii=False, separators=(",", ":"))
                       + ";\n").encode("utf-8")
        (out / "search-index.js").write_bytes(index_bytes)

        recent = sorted(site.entries, key=lambda e: (-(e["last_ts"] or 0), e["id"]))[:RECENT]
        popular = sorted(site.entries, key=lambda e: (not e["pinned"], -e["count"], -(e["last_ts"] or 0), e["id"]))[:POPULAR]
        write("index.html", "home.html", recent=recent, popular=popular, topics=site.topics, weeks=site.weeks[:6],
              stats={"entries": len(site.entries), "threads": len(site.threads), "unanswered": len(site.unanswered),
                     "people": len(site.people)})
        write("search.html", "search.html")
        write("ops.html", "ops.html", unanswered=site.unanswered)
        write("topics/index.html", "topics.html", topics=site.topics)
        write("weeks/index.html", "weeks.html", weeks=site.weeks)
        write("people/index.html", "people.html", people=site.people)
        tick(6)
        for e in site.entries:
            write(e["url"], "entry.html", entry=e)
            tick()
        question_ids: set[str] = set()
        answer_ids: set[str] = set()
        if _has_table(ws.db, "qas"):
            for r in ws.db.execute("SELECT question_id, answers FROM qas"):
                question_ids.add(r["question_id"])
                for a in ctx.json(r["answers"], [], "qas answers"):
                    if isinstance(a, dict):
                        answer_ids.update(a.get("message_ids") or [])
        done = set()
        for t, messages in _thread_messages(ctx, site, question_ids, answer_ids):
            write(t["url"], "thread.html", thread=t, messages=messages)
            done.add(t["id"])
            tick()
        for t in site.threads.values():
            if t["id"] not in done:  # a conversation whose messages are all gone (recalled) still has its digest
                write(t["url"], "thread.html", thread=t, messages=[])
                tick()
        for topic in site.topics:
            write(topic["url"], "topic.html", topic=topic)
            tick()
        for w in site.weeks:
            write(w["url"], "week.html", week=w)
            tick()
        for p in site.people:
            write(p["url"], "person.html", person=p)
            tick()
    finally:
        if bar is not None:
            bar.close()
    size += len(index_bytes) + len(vector_bytes)
    return {**{k: v for k, v in vector_stats.items() if isinstance(v, int)}, "vector_bytes": len(vector_bytes),
            "pages": pages, "entries": len(site.entries), "threads": len(site.threads), "topics": len(site.topics),
            "weeks": len(site.weeks), "people": len(site.people), "unanswered": len(site.unanswered),
            "index_bytes": len(index_bytes), "bytes": size}


def _clean_stale(target: Path) -> None:
    """Leftovers of builds that were killed midway."""
    for leftover in target.parent.glob(f".{target.name}-build-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in target.parent.glob(f".{target.name}-old-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def build_site(ws: Workspace, out_dir: str | os.PathLike | None = None, *, rc=None,
               check: Callable[[Path], None] | None = None) -> dict[str, int]:
    """Build the site into a temporary folder beside `out_dir` (default <ws>/site) and swap it into place.

    A build that fails, or that `check(folder)` rejects by raising (the publish stage's audit), leaves the
    previous site as it was. Returns counts (pages, entries, threads, …, bytes).
    """
    target = Path(out_dir) if out_dir is not None else ws.path("site")
    target = target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-build-", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a web server must be able to read the site
        counts = _render(ws, tmp, rc)
        if check is not None:
            check(tmp)
        atomic.swap_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts
