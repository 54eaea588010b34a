"""Books: an author's manifest (book.toml) and the book built from it as Markdown, HTML, EPUB and PDF.

The manifest names everything by stable id (topics, FAQ entries, conversations) with the current titles beside
them, so an author's choices survive every nightly run: renamed and reordered chapters, dropped entries, written
intros, a preface and edited answers. `update_manifest` only adds: entries the author has never been offered go
at the end of their chapter and are listed in that chapter's `new_entries`; nothing the author wrote changes.

Every piece of chat text goes through the site's privacy (masking, name mode) and recalled messages never appear.
By default only entries published under `[faq] publish` are offered; an entry the author lists by id is used.
A chapter ends with a credit line: everyone whose (not recalled) answers to its entries' questions it holds,
with how many. PDF: WeasyPrint (fonts-noto-cjk through fontconfig, embedded subsets); EPUB 3: written here.
"""

from __future__ import annotations

import html
import json
import re
import tomllib
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..errors import ChendianError
from ..model import FaqEntry
from ..store import Workspace
from .build import TEMPLATES, _Context, _load_recalled, known_people
from ..privacy import Privacy
from .render import MarkdownRenderer

FORMATS = ("md", "html", "epub", "pdf")
DEFAULT_CONVERSATIONS = 2  # highlighted conversations offered per chapter
EXCERPT_MESSAGES = 8  # messages shown of a highlighted conversation
NO_TOPIC = ""  # the chapter of entries no topic holds
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}


class BookError(ChendianError, ValueError):
    """A manifest that cannot be read, or a format that cannot be built."""


# -- the manifest -----------------------------------------------------------------------------------------

@dataclass
class Chapter:
    topic: str  # the topic id the chapter started from (NO_TOPIC for entries without one)
    title: str
    topic_label: str = ""  # the topic's current label, refreshed by --update (the title is the author's)
    intro: str = ""
    entries: list[str] = field(default_factory=list)  # FAQ entry ids, in book order
    new_entries: list[str] = field(default_factory=list)  # added by the last --update, for the author to review
    conversations: list[str] = field(default_factory=list)  # thread ids shown as excerpts
    new: bool = False  # the whole chapter was added by --update
    talk: str = ""  # a talk id (`chendian talks`): the chapter is that talk's article, then its Q&A


@dataclass
class Manifest:
    title: str
    subtitle: str = ""
    authors: list[str] = field(default_factory=list)
    preface: str = ""
    answers: dict[str, str] = field(default_factory=dict)  # entry id → the author's answer
    chapters: list[Chapter] = field(default_factory=list)
    seen_entries: list[str] = field(default_factory=list)  # every entry ever offered: dropped ones stay dropped
    seen_topics: list[str] = field(default_factory=list)


def _entries_by_topic(ws: Workspace, warn) -> tuple[dict[str, list[FaqEntry]], dict[str, str]]:
    """Published, visible entries grouped by topic, most asked first; and the topics' labels."""
    labels = {t.id: t.label for t in ws.topics(warn=warn)}
    groups: dict[str, list[FaqEntry]] = {}
    for e in ws.faq_entries(include_hidden=False, warn=warn):
        if e.published and not e.hidden:
            groups.setdefault(e.topic_id if e.topic_id in labels else NO_TOPIC, []).append(e)
    for entries in groups.values():
        entries.sort(key=lambda e: (-(e.count or 1), -(e.last_ts or 0), e.id))
    return groups, labels


def _top_conversations(ws: Workspace, topic: str, limit: int) -> list[str]:
    """The largest conversations of a topic that have a digest: the default highlights."""
    digests = ws.thread_digests()
    topic_of = ws.thread_topics()
    threads = [t for t in ws.threads() if topic_of.get(t.id) == topic and t.id in digests]
    threads.sort(key=lambda t: (-t.size, t.first_ts, t.id))
    return [t.id for t in threads[:limit]]


def default_manifest(ws: Workspace, warn=lambda m: None) -> Manifest:
    """Every topic a chapter (most asked first), its published entries most asked first."""
    groups, labels = _entries_by_topic(ws, warn)
    order = sorted(groups, key=lambda t: (t == NO_TOPIC, -sum(e.count or 1 for e in groups[t]), t))
    m = Manifest(title=ws.config.site.title)
    for topic in order:
        label = labels.get(topic, "其他问题")
        m.chapters.append(Chapter(topic=topic, title=label, topic_label=label,
                                  entries=[e.id for e in groups[topic]],
                                  conversations=_top_conversations(ws, topic, DEFAULT_CONVERSATIONS) if topic else []))
    m.seen_entries = [eid for c in m.chapters for eid in c.entries]
    m.seen_topics = [c.topic for c in m.chapters]
    return m


def update_manifest(ws: Workspace, old: Manifest, warn=lambda m: None) -> tuple[Manifest, dict[str, int]]:
    """The author's manifest with what is new since it was written appended; nothing of theirs changed."""
    fresh = default_manifest(ws, warn)
    seen_entries, seen_topics = set(old.seen_entries), set(old.seen_topics)
    fresh_by_topic = {c.topic: c for c in fresh.chapters}
    topic_of_entry = {eid: c.topic for c in fresh.chapters for eid in c.entries}
    added = Counter()
    for chapter in old.chapters:
        if chapter.topic in fresh_by_topic:
            chapter.topic_label = fresh_by_topic[chapter.topic].topic_label
    for topic_chapter in fresh.chapters:
        new_ids = [eid for eid in topic_chapter.entries if eid not in seen_entries]
        if not new_ids:
            continue
        # Its topic's chapter; else the chapter the author merged that topic's entries into.
        home = next((c for c in old.chapters if c.topic == topic_chapter.topic), None)
        if home is None:
            home = next((c for c in old.chapters if any(topic_of_entry.get(e) == topic_chapter.topic for e in c.entries)), None)
        if home is None and topic_chapter.topic not in seen_topics:
            home = Chapter(topic=topic_chapter.topic, title=topic_chapter.title, topic_label=topic_chapter.topic_label,
                           conversations=topic_chapter.conversations, new=True)
            old.chapters.append(home)
            old.seen_topics.append(topic_chapter.topic)
            added["chapters"] += 1
        if home is None:
            added["skipped_dropped_chapter"] += len(new_ids)  # the author dropped this topic's chapter
        else:
            home.entries.extend(new_ids)
            home.new_entries.extend(new_ids)
            added["entries"] += len(new_ids)
        old.seen_entries.extend(new_ids)
    return old, dict(added)


def _one_line(text: str, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _toml_text(value: str) -> str:
    """A multi-line basic string an author can edit in place."""
    escaped = value.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return '"""\n' + escaped + ('\n' if escaped and not escaped.endswith("\n") else "") + '"""'


def _toml_ids(ids: list[str], titles: dict[str, str], indent: str = "  ") -> str:
    if not ids:
        return "[]"
    lines = [f"{indent}{_toml_str(i)},  # {_one_line(titles.get(i, '?'))}" for i in ids]
    return "[\n" + "\n".join(lines) + "\n]"


MANIFEST_HEADER = """\
# chendian book manifest. Edit freely: `chendian book init --update` keeps everything you write here and
# only appends what is new (new entries at the end of their chapter, listed in `new_entries`; new topics as
# chapters with `new = true`). Comments are rewritten on update: write in the fields, not in comments.
#  - reorder chapters by moving [[chapters]] blocks, rename with `title`, write an `intro`;
#  - drop an entry by deleting its line (it stays dropped), move it to another chapter to merge;
#  - add any entry by its id (`chendian faq list --all`), even one waiting for review;
#  - edit an answer under [answers]:  f0123456789abcdef0123 = \"\"\"your answer\"\"\"
#  - make a talk (分享) a chapter: a [[chapters]] block with  talk = "k…"  (the talks are listed below).
"""


def dump_manifest(m: Manifest, ws: Workspace, warn=lambda m: None) -> str:
    entries = {e.id: e for e in ws.faq_entries(include_hidden=True, warn=warn)}
    titles = {eid: f"{e.question} (×{e.count or 1})" for eid, e in entries.items()}
    digests = ws.thread_digests()
    thread_titles = {t: digests.get(t, "") for t in {t for c in m.chapters for t in c.conversations}}
    out = [MANIFEST_HEADER,
           f"title = {_toml_str(m.title)}", f"subtitle = {_toml_str(m.subtitle)}",
           f"authors = [{', '.join(_toml_str(a) for a in m.authors)}]", f"preface = {_toml_text(m.preface)}", "",
           "# Every entry and topic ever offered (kept by --update so a dropped entry is not offered again).",
           "[seen]", f"entries = {json.dumps(m.seen_entries)}", f"topics = {json.dumps(m.seen_topics)}", "",
           "# The author's answers, by entry id; they replace the FAQ's answer in the book.", "[answers]"]
    for eid, text in m.answers.items():
        out.append(f"# {_one_line(titles.get(eid, '?'))}")
        out.append(f"{_toml_str(eid)} = {_toml_text(text)}")
    talks = ws.talks(include_hidden=False, warn=warn)
    if talks:
        out += ["", "# Talks that can be chapters (talk = \"<id>\" in a [[chapters]] block):"]
        out += [f"#   {t.id}  {t.day} {_one_line(t.speaker_name, 20)}《{_one_line(t.title)}》" for t in talks]
    for c in m.chapters:
        out += ["", "[[chapters]]", f"topic = {_toml_str(c.topic)}  # topic now called: {_one_line(c.topic_label)}",
                f"title = {_toml_str(c.title)}", f"topic_label = {_toml_str(c.topic_label)}",
                f"intro = {_toml_text(c.intro)}"]
        if c.new:
            out.append("new = true  # added by --update: delete this line once reviewed")
        if c.talk:
            out.append(f"talk = {_toml_str(c.talk)}")
        out.append(f"entries = {_toml_ids(c.entries, titles)}")
        out.append(f"new_entries = {_toml_ids(c.new_entries, titles)}  # added by --update: clear once reviewed")
        out.append(f"conversations = {_toml_ids(c.conversations, thread_titles)}")
    return "\n".join(out) + "\n"


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BookError(f"book manifest: {where} must be a list of strings")
    return list(value)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BookError(f"book manifest: {where} must be a string")
    return value


def parse_manifest(text: str, where: str = "book.toml") -> Manifest:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BookError(f"{where}: not valid TOML ({e})") from None
    seen = data.get("seen") or {}
    answers = data.get("answers") or {}
    if not isinstance(answers, dict) or not all(isinstance(v, str) for v in answers.values()):
        raise BookError(f"{where}: [answers] maps entry ids to answer text")
    m = Manifest(title=_string(data.get("title", "沉淀"), "title"), subtitle=_string(data.get("subtitle", ""), "subtitle"),
                 authors=_strings(data.get("authors", []), "authors"), preface=_string(data.get("preface", ""), "preface"),
                 answers={k: v.strip() for k, v in answers.items()},
                 seen_entries=_strings(seen.get("entries", []), "seen.entries"),
                 seen_topics=_strings(seen.get("topics", []), "seen.topics"))
    for n, c in enumerate(data.get("chapters") or [], 1):
        if not isinstance(c, dict):
            raise BookError(f"{where}: chapter {n} is not a table")
        m.chapters.append(Chapter(
            topic=_string(c.get("topic", NO_TOPIC), f"chapter {n} topic"),
            title=_string(c.get("title", f"第{n}章"), f"chapter {n} title"),
            topic_label=_string(c.get("topic_label", ""), f"chapter {n} topic_label"),
            intro=_string(c.get("intro", ""), f"chapter {n} intro"),
            entries=_strings(c.get("entries", []), f"chapter {n} entries"),
            new_entries=_strings(c.get("new_entries", []), f"chapter {n} new_entries"),
            conversations=_strings(c.get("conversations", []), f"chapter {n} conversations"),
            new=bool(c.get("new", False)), talk=_string(c.get("talk", ""), f"chapter {n} talk")))
    return m


def read_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    try:
        return parse_manifest(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as e:
        raise BookError(f"cannot read the book manifest {path}: {e}") from None


# -- the book's content ---------------------------------------------------------------------------------

@dataclass
class BookContent:
    title: str
    subtitle: str
    authors: list[str]
    preface_html: str
    preface_md: str
    chapters: list[dict]
    index: list[dict]  # person → chapters where they answered, with counts
    colophon: dict
    names_mode: str


def book_content(ws: Workspace, manifest: Manifest | None = None, *, names: str | None = None,
                 warn=lambda m: None) -> BookContent:
    """What the book shows, privacy applied: chapters with their sections, credits, the index, the colophon."""
    manifest = manifest or default_manifest(ws, warn)
    mode = names or ws.config.site.names
    privacy = Privacy(mode)
    # XHTML output serves both the EPUB (which must be XML) and the HTML/PDF pages.
    ctx = _Context(ws=ws, rc=SimpleNamespace(warn=warn), privacy=privacy, md=MarkdownRenderer("xhtml"), tz=ws.config.tz)
    _load_recalled(ctx)
    contributors = ws.contributors(warn=warn)
    for sender, name in known_people(ws.db, contributors):
        privacy.name(sender, name)  # registered first: names inside free text are rewritten everywhere
    entries = {e.id: e for e in ws.faq_entries(include_hidden=True, warn=warn)}
    qas = {qa.id: qa for qa in ws.qas(warn=warn)}
    digests = ws.thread_digests()
    threads = {t.id: t for t in ws.threads()}

    def answers_of(qa_id: str):
        """The answers to a question that may be published: none when the question was recalled."""
        qa = qas.get(qa_id)
        if qa is None or qa.question_id in ctx.recalled_ids:
            return None
        return [a for a in qa.answers if a.text.strip() and not any(m in ctx.recalled_ids for m in a.message_ids)]

    talks = {t.id: t for t in ws.talks(warn=warn)}
    chapters, index = [], {}
    # A person is named as their contributor record names them (as on the site), else as their answer did.
    answer_names = {c.sender: c.name for c in contributors if c.name}
    used: set[str] = set()
    first_ts, last_ts = None, None
    for n, c in enumerate(manifest.chapters, 1):
        anchor = f"ch{n}"
        sections, credits = [], Counter()
        for eid in c.entries:
            e = entries.get(eid)
            if e is None:
                warn(f"book: entry {eid} (chapter {c.title!r}) is not in the workspace (merged away?); left out")
                continue
            if e.hidden:
                warn(f"book: entry {eid} was hidden by a moderator; left out")
                continue
            if eid in used:
                continue  # listed twice: the first place wins
            standing = {q: answers_of(q) for q in e.qa_ids}
            if e.qa_ids and all(v is None for v in standing.values()):
                continue  # every question behind it was recalled
            published = [a for v in standing.values() if v for a in v]
            raw_answer = manifest.answers.get(eid) or e.answer
            if eid not in manifest.answers and ctx.recalled_re is not None and ctx.recalled_re.search(raw_answer):
                raw_answer = published[0].text if published else ""  # the FAQ answer was withdrawn
            question = ctx.text(e.question)
            if not question.strip():
                continue
            used.add(eid)
            for a in published:
                if a.sender:
                    credits[a.sender] += 1
                    answer_names.setdefault(a.sender, a.sender_name)
            variants = []
            for v in e.variants:
                v = ctx.text(v)
                if v and v != question and v not in variants:
                    variants.append(v)
            sections.append({"id": eid, "anchor": f"{anchor}-{len(sections) + 1}", "question": question,
                             "answer_html": ctx.markdown(raw_answer), "answer_md": ctx.privacy.text(ctx.scrub(raw_answer), star="\\*"),
                             "variants": variants, "count": e.count or 1, "edited": eid in manifest.answers})
            for ts in (e.first_ts, e.last_ts):
                if ts:
                    first_ts = min(first_ts or ts, ts)
                    last_ts = max(last_ts or ts, ts)
        talk = None
        if c.talk:
            talk = _talk_chapter(ctx, talks.get(c.talk), c, qas, warn)
            for a in talk["answerers"] if talk else []:
                credits[a["sender"]] += a["count"]
                answer_names.setdefault(a["sender"], a["raw_name"])
        conversations = [conv for t in c.conversations if (conv := _conversation(ctx, t, threads, digests))]
        names_of = {s: privacy.name(s, answer_names.get(s)) for s in credits}
        credit_list = [{"sender": s, "name": names_of[s], "count": k}
                       for s, k in sorted(credits.items(), key=lambda kv: (-kv[1], names_of[kv[0]]))]
        chapter = {"n": n, "anchor": anchor, "title": ctx.text(c.title) or f"第{n}章", "intro_html": ctx.markdown(c.intro),
                   "intro_md": ctx.privacy.text(c.intro, star="\\*"), "sections": sections,
                   "conversations": conversations, "credits": credit_list, "talk": talk}
        chapters.append(chapter)
        for cr in credit_list:
            person = index.setdefault(cr["sender"], {"name": cr["name"], "chapters": [], "total": 0})
            person["chapters"].append({"title": chapter["title"], "anchor": anchor, "n": n, "count": cr["count"]})
            person["total"] += cr["count"]
    people = sorted(index.values(), key=lambda p: (-p["total"], p["name"]))
    when = lambda ts: datetime.fromtimestamp(ts, ws.config.tz).strftime("%Y-%m-%d") if ts else "?"
    colophon = {"chats": [ctx.text(r["name"] or r["id"]) for r in ws.chats()], "period": f"{when(first_ts)} — {when(last_ts)}",
                "entries": sum(len(c["sections"]) for c in chapters), "people": len(people),
                "built": datetime.now(ws.config.tz).strftime("%Y-%m-%d"), "names_mode": mode}
    return BookContent(title=ctx.text(manifest.title), subtitle=ctx.text(manifest.subtitle),
                       authors=[ctx.text(a) for a in manifest.authors], preface_html=ctx.markdown(manifest.preface),
                       preface_md=privacy.text(manifest.preface, star="\\*"), chapters=chapters, index=people,
                       colophon=colophon, names_mode=mode)


def _talk_chapter(ctx: _Context, talk, chapter: Chapter, qas: dict, warn) -> dict | None:
    """A talk's article as a chapter's body: its paragraphs and slides, then its Q&A. The speaker is credited for
    the talk (and each answer), the other answerers for theirs."""
    from .talks import talk_article

    if talk is None:
        warn(f"book: talk {chapter.talk} (chapter {chapter.title!r}) is not in the workspace; left out")
        return None
    if talk.hidden:
        warn(f"book: talk {chapter.talk} was hidden (the speaker asked it stay in the group); left out")
        return None
    messages = {m.id: m for m in ctx.ws.messages(talk.chat) if m.id in talk.roles}
    chat_names = {r["id"]: r["name"] for r in ctx.ws.chats()}
    article = talk_article(ctx, talk, messages, qas, chat_names)
    answerers = [{"sender": talk.speaker, "raw_name": talk.speaker_name, "count": 1}]
    raw = {q.id: q for q in qas.values() if q.id in talk.qa_ids}
    counted: Counter = Counter()
    for q in raw.values():
        for a in q.answers:
            if a.sender and not any(m in ctx.recalled_ids for m in a.message_ids):
                counted[(a.sender, a.sender_name)] += 1
    for (sender, name), k in counted.items():
        if sender == talk.speaker:
            answerers[0]["count"] += k
        else:
            answerers.append({"sender": sender, "raw_name": name, "count": k})
    article["answerers"] = answerers
    return article


def _conversation(ctx: _Context, thread_id: str, threads: dict, digests: dict) -> dict | None:
    """A highlighted conversation: its digest and its first messages (recalled ones and notices never)."""
    thread = threads.get(thread_id)
    if thread is None:
        return None
    rows = ctx.ws.db.execute(
        "SELECT m.id, m.ts, m.sender, m.sender_name, m.kind, m.text, m.recalled FROM message_threads mt"
        " JOIN messages m ON m.id = mt.message_id WHERE mt.thread_id = ? ORDER BY m.ts, m.rowid", (thread_id,))
    messages = []
    for r in rows:
        if r["recalled"] or r["kind"] in ("recall", "system") or r["id"] in ctx.recalled_ids or not (r["text"] or "").strip():
            continue
        messages.append({"author": ctx.privacy.name(r["sender"], r["sender_name"]), "text": ctx.text(r["text"]),
                         "when": ctx.when(r["ts"], "%m-%d %H:%M")})
        if len(messages) >= EXCERPT_MESSAGES:
            break
    digest = digests.get(thread_id)
    return {"id": thread_id, "digest": ctx.text(digest) if digest else "", "messages": messages,
            "date": ctx.when(thread.first_ts, "%Y-%m-%d")}


# -- writing --------------------------------------------------------------------------------------------

def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES / "book")), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def _xml_safe(markup: str) -> str:
    """Named HTML entities (&nbsp; typed in chat) are not XML: write them as characters."""
    return re.sub(r"&([A-Za-z][A-Za-z0-9]*);",
                  lambda m: m.group(0) if m.group(1) in _XML_ENTITIES else html.escape(html.unescape(m.group(0)), quote=False),
                  markup)


def render_markdown(book: BookContent) -> str:
    def esc(text: str) -> str:
        return re.sub(r"([\\`*_\[\]#<>])", r"\\\1", text)

    out = [f"# {esc(book.title)}", ""]
    if book.subtitle:
        out += [f"*{esc(book.subtitle)}*", ""]
    if book.authors:
        out += ["作者：" + "、".join(esc(a) for a in book.authors), ""]
    if book.preface_md.strip():
        out += ["## 前言", "", book.preface_md.strip(), ""]
    for c in book.chapters:
        out += [f"## 第{c['n']}章 {esc(c['title'])}", ""]
        if c["intro_md"].strip():
            out += [c["intro_md"].strip(), ""]
        if c["talk"]:
            t = c["talk"]
            out += [f"*主讲：{esc(t['speaker'])} · {t['day']} {t['start']}–{t['end']} · {esc(t['chat'])}*", ""]
            for b in t["blocks"]:
                out += [f"### {esc(b['text'])}" if b["kind"] == "heading" else
                        "**提纲**\n\n" + "\n".join(f"- {esc(line)}" for line in b["lines"]) if b["kind"] == "outline" else
                        f"［图片 {b['when']}］" if b["kind"] == "image" else
                        f"［{'语音' if b['kind'] == 'voice' else '视频'} {b['when']}］{esc(b['text'])}" if b["kind"] in ("voice", "video") else
                        f"［文件］{esc(b['text'])}" if b["kind"] == "file" else esc(b["text"]), ""]
            if t["qas"]:
                out += ["### 主题分享 Q&A", ""]
            for q in t["qas"]:
                out += [f"**问：**{esc(q['question'])}（{esc(q['asker'])}）", ""]
                out += [f"**答：**{esc(a['text'])}（{esc(a['name'])}{'，主讲人' if a['speaker'] else ''}）" for a in q["answers"]]
                out += [""]
        for s in c["sections"]:
            out += [f"### {esc(s['question'])}", "", s["answer_md"].strip() or "（暂无回答）", ""]
            if s["variants"]:
                out += ["其他问法：" + "；".join(esc(v) for v in s["variants"]), ""]
        for conv in c["conversations"]:
            out += [f"> **对话摘录 {conv['date']}**" + (f"：{esc(conv['digest'])}" if conv["digest"] else ""), ">"]
            out += [f"> {esc(m['author'])}：{esc(m['text'])}  " for m in conv["messages"]] + [""]
        if c["credits"]:
            out += ["本章回答者：" + "、".join(f"{esc(p['name'])}（{p['count']}）" for p in c["credits"]), ""]
    out += ["## 贡献者索引", ""]
    out += [f"- {esc(p['name'])}：" + "，".join(f"第{ch['n']}章 {esc(ch['title'])}（{ch['count']}）" for ch in p["chapters"])
            for p in book.index]
    col = book.colophon
    out += ["", "## 版本说明", "", f"来源：{esc('、'.join(col['chats']))}；时间：{col['period']}；"
            f"{col['entries']} 个问题，{col['people']} 位回答者；{col['built']} 由 chendian 整理生成。", ""]
    return "\n".join(out)


def render_html(book: BookContent, medium: str = "screen") -> str:
    return _xml_safe(_environment().get_template("book.html").render(book=book, medium=medium, href=lambda ch: f"#{ch['anchor']}"))


def write_epub(book: BookContent, path: Path) -> None:
    """EPUB 3: one XHTML document per part, a navigation document, the package file; mimetype stored first."""
    env = _environment()
    ident = "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "chendian-book:" + book.title))
    parts = [("title", "title.xhtml", book.title)]
    if book.preface_md.strip():
        parts.append(("preface", "preface.xhtml", "前言"))
    parts += [("chapter", f"{c['anchor']}.xhtml", f"第{c['n']}章 {c['title']}") for c in book.chapters]
    parts += [("index", "people.xhtml", "贡献者索引"), ("colophon", "colophon.xhtml", "版本说明")]
    modified = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        deflate = {"compress_type": zipfile.ZIP_DEFLATED}
        z.writestr("META-INF/container.xml", env.get_template("container.xml").render(), **deflate)
        z.writestr("OEBPS/style.css", (TEMPLATES / "book" / "book.css").read_text(encoding="utf-8"), **deflate)
        for kind, name, title in parts:
            chapter = next((c for c in book.chapters if f"{c['anchor']}.xhtml" == name), None)
            doc = env.get_template("part.xhtml").render(book=book, kind=kind, title=title, chapter=chapter,
                                                         href=lambda ch: f"{ch['anchor']}.xhtml")
            z.writestr(f"OEBPS/{name}", _xml_safe(doc), **deflate)
        z.writestr("OEBPS/nav.xhtml", _xml_safe(env.get_template("nav.xhtml").render(book=book, parts=parts)), **deflate)
        z.writestr("OEBPS/content.opf", env.get_template("content.opf").render(
            book=book, parts=parts, ident=ident, modified=modified), **deflate)


def write_pdf(html_text: str, path: Path) -> None:
    try:
        import weasyprint
    except ImportError:  # pragma: no cover - a dependency of the package
        raise BookError("PDF needs WeasyPrint: pip install weasyprint") from None

    def offline(url: str, *args, **kwargs):
        raise BookError(f"the book refers to {url!r}: nothing is fetched while building")  # the offline rule

    weasyprint.HTML(string=html_text, base_url=str(TEMPLATES / "book"), url_fetcher=offline).write_pdf(path)


def build_book(ws: Workspace, out_dir: str | Path, formats: list[str], manifest: Manifest | None = None, *,
               names: str | None = None, warn=lambda m: None) -> dict[str, Any]:
    """Write book.md / book.html / book.epub / book.pdf into out_dir; returns what was written and counts."""
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise BookError(f"book formats are {', '.join(FORMATS)}; not {', '.join(bad) or 'none'}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    book = book_content(ws, manifest, names=names, warn=warn)
    written = {}
    if "md" in formats:
        (out / "book.md").write_text(render_markdown(book), encoding="utf-8")
        written["md"] = out / "book.md"
    if "html" in formats:
        (out / "book.html").write_text(render_html(book, "screen"), encoding="utf-8")
        written["html"] = out / "book.html"
    if "epub" in formats:
        write_epub(book, out / "book.epub")
        written["epub"] = out / "book.epub"
    if "pdf" in formats:
        write_pdf(render_html(book, "print"), out / "book.pdf")
        written["pdf"] = out / "book.pdf"
    return {"files": {k: str(v) for k, v in written.items()}, "chapters": len(book.chapters),
            "entries": book.colophon["entries"], "people": len(book.index)}
