"""Telegram Desktop "Export chat history" in its default HTML layout: messages.html, messages2.html, …

One chat per export folder, split into pages of about 1000 messages. The chat name is in
`.page_header .text.bold` (the export holds no chat id, so the name is the chat id). Inside `div.history`:

- `div.message.service` with `div.body.details`: a date separator (negative id `message-1`, text like
  "23 August 2023": dropped and counted as an event) or a service line ("X joined the group", "X pinned …",
  positive id: kept as a system message at the time of the message before it; service lines carry no time).
- `div.message.default` with id `messageN` (N is Telegram's message id, as in result.json), and in its
  `div.body`: `div.pull_right.date.details[title]` ("23.08.2023 13:11:23 UTC-08:00"; older exports have no
  offset → the ingest timezone), `div.from_name` (absent on a "joined" continuation: the sender is the one
  before, possibly on the previous page), `div.reply_to.details` with `<a href="#go_to_messageN">` (or
  `messages2.html#go_to_messageN` across pages), `div.forwarded.body` (its own from_name, text and media),
  `div.media_wrap` (photo, video, voice, file, sticker …) and `div.text` (`<br>` line breaks, entities escaped).

Parsed with the standard library's html.parser into a small element tree, so every message keeps its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser

from ..model import FILE, FORWARD, IMAGE, OTHER, SYSTEM, TEXT, VIDEO, VOICE, Message, Quote
from .base import ReadContext, Reader, SourceFile, UnreadableFile, extract_mentions

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})
_PAGE_RE = re.compile(r"^messages(\d*)\.html$")
_TITLE_RE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?:\s*UTC\s*([+-])(\d{1,2}):?(\d{2}))?\s*$")
_GO_TO_RE = re.compile(r"go_to_message(\d+)")
_DATE_HEADER_RE = re.compile(r"^\s*(\d{1,2}) ([A-Z][a-z]+) (\d{4})\s*$")
_MONTHS = {m: i for i, m in enumerate(("January", "February", "March", "April", "May", "June", "July", "August",
                                       "September", "October", "November", "December"), 1)}
# Media blocks by the class tdesktop gives them (an included file's link, or the "not included" placeholder).
MEDIA_KIND = (
    (("photo_wrap", "media_photo"), IMAGE, "[图片]"),
    (("sticker_wrap", "media_sticker"), IMAGE, "[表情]"),
    (("animated_wrap", "media_animation"), VIDEO, "[动图]"),
    (("video_file_wrap", "media_video", "video_message_wrap", "media_video_message"), VIDEO, "[视频]"),
    (("media_voice_message",), VOICE, "[语音]"),
    (("media_audio_file",), VOICE, "[音频]"),
    (("media_file",), FILE, "[文件]"),
    (("media_contact",), OTHER, "[联系人]"),
    (("media_location", "media_venue", "media_live_location"), OTHER, "[位置]"),
    (("media_poll",), OTHER, "[投票]"),
    (("media_game", "media_invoice"), OTHER, "[其他]"),
)


# -- a small element tree ----------------------------------------------------------------------------

@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list = field(default_factory=list)  # Elements and text strings
    closed: bool = False

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def has(self, *names: str) -> bool:
        return set(names) <= self.classes

    def elements(self) -> Iterator[Element]:
        return (c for c in self.children if isinstance(c, Element))

    def child(self, *names: str) -> Element | None:
        return next((c for c in self.elements() if c.has(*names)), None)

    def find(self, *names: str, skip: tuple[str, ...] = ()) -> Element | None:
        """The first descendant with all these classes, not looking inside elements with a `skip` class."""
        for c in self.elements():
            if c.has(*names):
                return c
            if skip and c.classes & set(skip):
                continue
            hit = c.find(*names, skip=skip)
            if hit is not None:
                return hit
        return None

    def plain(self) -> str:
        return " ".join("".join(_texts(self)).split())


def _texts(el: Element) -> Iterator[str]:
    for c in el.children:
        if isinstance(c, str):
            yield c
        else:
            yield from _texts(c)


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, 1)
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        el = Element(tag, {k: v or "" for k, v in attrs}, self.getpos()[0])
        self.stack[-1].children.append(el)
        if tag in _VOID:
            el.closed = True
        else:
            self.stack.append(el)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:  # close it and anything left open inside it
                for el in self.stack[depth:]:
                    el.closed = True
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse_html(text: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


# -- sniffing -----------------------------------------------------------------------------------------

def sniff(src: SourceFile) -> bool:
    head = src.head(20000)
    return head.lstrip("\ufeff").lstrip()[:1] == "<" and 'class="page_wrap"' in head and 'class="history"' in head


def page_number(basename: str) -> int | None:
    """messages.html → 1, messages2.html → 2; None for other names."""
    m = _PAGE_RE.match(basename)
    return (int(m.group(1)) if m.group(1) else 1) if m else None


def page_name(number: int) -> str:
    return "messages.html" if number == 1 else f"messages{number}.html"


# -- pieces of a message ------------------------------------------------------------------------------

def parse_title(title: str, tz) -> datetime:
    """tdesktop's date title: "23.08.2023 13:11:23 UTC-08:00" (day first), the offset missing in old exports."""
    m = _TITLE_RE.match(title)
    if not m:
        raise ValueError(f"expected a date title like 23.08.2023 13:11:23 UTC+08:00, got {title[:40]!r}")
    d, mo, y, h, mi, s, sign, oh, om = m.groups()
    tzinfo = tz
    if sign:
        offset = timedelta(hours=int(oh), minutes=int(om))
        tzinfo = timezone(offset if sign == "+" else -offset)
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=tzinfo)
    except ValueError as e:
        raise ValueError(f"not a real date-time {title[:40]!r} ({e})") from None


def _date_header(text: str) -> date | None:
    m = _DATE_HEADER_RE.match(text)
    if not m or m.group(2) not in _MONTHS:
        return None
    try:
        return date(int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1)))
    except ValueError:
        return None


def _name(el: Element | None) -> str:
    """A from_name without its nested details ("via @bot", a forward's date)."""
    if el is None:
        return ""
    parts = [c for c in el.children if isinstance(c, str)]
    parts += ["".join(_texts(c)) for c in el.elements() if "details" not in c.classes]
    return " ".join("".join(parts).split())


class _Text:
    """A `div.text` as plain text: `<br>` → newline, other whitespace collapsed as a browser does, links kept."""

    def __init__(self):
        self.parts: list[str] = []
        self.urls: list[str] = []
        self.mentions: list[str] = []

    def add(self, el: Element, pre: bool = False) -> None:
        for c in el.children:
            if isinstance(c, str):
                self.parts.append(c if pre else re.sub(r"\s+", " ", c))
            elif c.tag == "br":
                self.parts.append("\n")
            elif c.tag == "a":
                label = "".join(_texts(c))
                label = label if pre else " ".join(label.split())
                href = c.attrs.get("href", "")
                if "ShowMentionName" in c.attrs.get("onclick", ""):
                    if label.lstrip("@") and label.lstrip("@") not in self.mentions:
                        self.mentions.append(label.lstrip("@"))
                    self.parts.append(label)
                elif href.startswith(("http://", "https://", "mailto:", "tg://")):
                    self.urls.append(href)
                    # A typed link shows (part of) its URL; a text link shows a label, so keep the URL beside it.
                    self.parts.append(label if not label or label in href else f"{label} ({href})")
                else:
                    self.parts.append(label)
            else:
                self.add(c, pre or c.tag in ("pre", "code"))

    def text(self) -> str:
        lines = "".join(self.parts).split("\n")
        return "\n".join(line.strip() for line in lines).strip()


@dataclass
class _State:
    """What carries from one message to the next."""

    sender_name: str = ""
    time: datetime | None = None
    day: date | None = None


def _previous_sender(src: SourceFile, number: int) -> str:
    """The last named sender on the pages before this one, for a page that opens with a joined message."""
    for n in range(number - 1, 0, -1):
        raw = src.siblings(page_name(n))
        if raw is None:
            return ""
        try:
            history = parse_html(SourceFile(name=page_name(n), data=raw).text).find("history")
        except UnreadableFile:
            return ""
        for el in reversed(list(history.elements()) if history else []):
            if el.has("message", "default"):
                name = _name((el.child("body") or el).child("from_name"))
                if name:
                    return name
    return ""


# -- reading ------------------------------------------------------------------------------------------

def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    ctx.platform = "telegram"
    root = parse_html(src.text)
    history = root.find("history")
    if history is None:
        raise UnreadableFile("expected a Telegram Desktop HTML export page (div.page_wrap with div.history)")
    header = root.find("page_header")
    title = header.find("text", "bold") if header else None
    chat_name = title.plain() if title else ""
    if not chat_name:  # a page without its header: the export folder is all that names the chat
        parts = src.name.replace("\\", "/").split("!")[-1].rsplit("/", 2)
        chat_name = parts[-2] if len(parts) >= 2 else src.stem
    chat = chat_name
    number = page_number(src.basename) or 1
    state = _State()
    if number > 1:  # only a page that opens with a joined message needs the sender from the page before
        first = next((el for el in history.elements() if el.has("message", "default")), None)
        if first is not None and first.has("joined"):
            state.sender_name = _previous_sender(src, number)
    waiting: list[tuple[Element, str]] = []  # service lines seen before any time is known
    for el in history.elements():
        if not el.has("message"):
            continue
        if not el.closed:
            ctx.issue(el.line, f"the file ends inside message {el.attrs.get('id', '')!r} (truncated export?); "
                               "expected its closing </div>")
            continue
        if el.has("service"):
            body = el.find("body") or el
            text = _Text()
            text.add(body)
            line = text.text()
            day = _date_header(line)
            if el.attrs.get("id", "").startswith("message-") or day is not None:
                ctx.event()  # a date separator
                if day is not None:
                    state.day = day
                continue
            if not line:
                ctx.issue(el.line, "expected text in a service message (div.body.details)")
                continue
            if state.time is None or (state.day is not None and state.time.date() < state.day):
                waiting.append((el, line))  # no time of its own: it takes the next message's
                continue
            yield _service(ctx, el, line, chat, chat_name, state)
            continue
        if not el.has("default"):
            ctx.issue(el.line, f"expected a message of class default or service, got {el.attrs.get('class', '')!r}")
            continue
        m = _message(ctx, src, el, chat, chat_name, state)
        if m is None:
            continue
        for service_el, line in waiting:  # they came before this message: give them its time
            yield _service(ctx, service_el, line, chat, chat_name, state)
        waiting.clear()
        yield m
    for service_el, line in waiting:  # none came after them: the last date separator, else the last message
        if state.day is None and state.time is None:
            ctx.issue(service_el.line, f"expected a dated message or a date separator near the service line {line[:30]!r}")
            continue
        if state.day is not None and (state.time is None or state.time.date() < state.day):
            state.time = datetime(state.day.year, state.day.month, state.day.day, tzinfo=ctx.tz)
        yield _service(ctx, service_el, line, chat, chat_name, state)


def _service(ctx: ReadContext, el: Element, line: str, chat: str, chat_name: str, state: _State) -> Message:
    time = state.time
    pid = el.attrs.get("id", "")
    pid = pid[len("message"):] if pid.startswith("message") and pid[len("message"):].isdigit() else None
    return ctx.message(chat=chat, time=time, sender="service", sender_name="service", kind=SYSTEM, text=line,
                       line=el.line, platform_id=pid, chat_name=chat_name, mentions=[])


def _message(ctx: ReadContext, src: SourceFile, el: Element, chat: str, chat_name: str,
             state: _State) -> Message | None:
    element_id = el.attrs.get("id", "")
    pid = element_id[len("message"):] if element_id.startswith("message") else ""
    if not pid.isdigit():
        ctx.issue(el.line, f"expected a message id like id=\"message123\", got {element_id!r}")
        return None
    body = el.child("body") or el
    date_el = body.child("date", "details")
    if date_el is None or not date_el.attrs.get("title"):
        ctx.issue(el.line, f"message {pid}: expected a date (div.pull_right.date.details with a title)")
        return None
    try:
        time = parse_title(date_el.attrs["title"], ctx.tz)
    except ValueError as e:
        ctx.issue(date_el.line, f"message {pid}: {e}")
        return None
    sender_name = _name(body.child("from_name"))
    if not sender_name:
        if not el.has("joined") or not state.sender_name:
            ctx.issue(el.line, f"message {pid}: expected a sender (div.from_name), or a joined message after one")
            return None
        sender_name = state.sender_name
    state.sender_name, state.time = sender_name, time

    extra: dict = {}
    kind = TEXT
    content = body
    forwarded = body.child("forwarded", "body")
    if forwarded is not None:
        kind = FORWARD
        extra["forwarded_from"] = _name(forwarded.child("from_name"))
        content = forwarded
    text = _Text()
    text_el = content.child("text")
    if text_el is not None:
        text.add(text_el)
    body_text = text.text()
    placeholder = ""
    media = content.child("media_wrap")
    if media is not None:
        found = media.find("media") or next(media.elements(), None)
        classes = set().union(*(e.classes for e in _descendants(media)))
        for names, media_kind, shown in MEDIA_KIND:
            if classes & set(names):
                placeholder = shown
                if media_kind == FILE:
                    title_el = found.find("title", "bold") if found else None
                    fname = title_el.plain() if title_el else found.attrs.get("href", "").rsplit("/", 1)[-1]
                    if fname:
                        placeholder = f"[文件] {fname}"
                        extra["name"] = fname
                if kind != FORWARD:
                    kind = media_kind
                break
        else:
            placeholder = "[媒体]"
            if kind != FORWARD:
                kind = OTHER
    if placeholder:
        body_text = f"{placeholder}\n{body_text}" if body_text else placeholder
        if kind not in (FILE, FORWARD) and body_text != placeholder:
            kind = TEXT  # a captioned photo is mostly what the caption says (as the JSON reader does)
    if text.urls:
        extra["urls"] = text.urls
    quote = None
    reply = body.find("reply_to", "details")  # inside div.forwarded.body when a forward replies
    if reply is not None:
        link = next(_links(reply), None)
        target = _GO_TO_RE.search(link.attrs.get("href", "") + link.attrs.get("onclick", "")) if link else None
        if target:
            quote = Quote(platform_id=target.group(1))
        else:
            ctx.issue(reply.line, f"message {pid}: expected a reply link like <a href=\"#go_to_message123\">")
    return ctx.message(chat=chat, time=time, sender=f"name:{sender_name}", sender_name=sender_name, kind=kind,
                       text=body_text, line=el.line, platform_id=pid, quote=quote,
                       mentions=text.mentions + [n for n in extract_mentions(body_text) if n not in text.mentions],
                       chat_name=chat_name, extra=extra)


def _descendants(el: Element) -> Iterator[Element]:
    for c in el.elements():
        yield c
        yield from _descendants(c)


def _links(el: Element) -> Iterator[Element]:
    return (c for c in _descendants(el) if c.tag == "a")


# What tdesktop writes beside messages.html: style sheet, script, icons and the media it downloaded.
MEDIA_DIRS = ("css", "js", "images", "photos", "files", "video_files", "voice_messages", "round_video_messages",
              "stickers", "animations", "audio_files", "contacts", "profile_pictures", "stories")

READER = Reader(name="telegram-html", label="Telegram Desktop HTML export (messages.html)", sniff=sniff, read=read,
                platform="telegram", media_dirs=MEDIA_DIRS, media_anchor="messages.html")
