"""Classic (pre-NT) QQ message manager web export: 消息管理器 → 导出消息记录 → 网页格式(*.mht).

Written from what QQ 2013 – QQ 9.x are known to produce (no real sample was at hand; FORMATS.md gives one
line): a MIME `multipart/related` file whose first part is the HTML page and whose other parts are the
pictures it shows.

    MIME-Version: 1.0
    Content-Type:multipart/related;charset="utf-8";type="text/html";boundary="----=_NextPart_…"

    ------=_NextPart_…
    Content-Type:text/html;charset="utf-8"            (older exports gb2312/GBK)
    Content-Transfer-Encoding:quoted-printable        (or base64, sometimes 8bit)

    <html>…<table>
    <tr><td><div>消息记录（此消息记录为网页格式，不支持重新导入）<br>消息分组:我的QQ群<br>消息对象:产品运营学习交流群</div></td></tr>
    <tr><td style=…><div style=…>日期: 2016-07-19</div></td></tr>
    <tr><td><div style=color:#006EFE;…><div style=float:left;margin-right:6px;>张三(123456789)</div>15:27:15</div>
        <div style=padding-left:20px;><font …>报销流程在哪里看？</font><br><font …>第二行</font></div></td></tr>
    …
    ------=_NextPart_…
    Content-Type:image/jpeg
    Content-Transfer-Encoding:base64
    Content-Location:{8F0A…}.dat

A message row holds the sender (nickname, sometimes `昵称(QQ号)` or `昵称<email>`, title prefixes like
`【管理员】`) in a floated div, then a time-only `15:27:15` (hour not zero-padded; English Windows writes
`8:43:38 PM`); the body follows in its own div (`<font>` runs, `<br>` line breaks, `<IMG src="{GUID}.dat">`
for pictures). Each message takes the date of the `日期:` row above it; times are local (ingest timezone).

The records are the TXT reader's (qq_classic): same chat naming (消息对象, else the file name), sender ids,
system senders, recall/join detection and placeholders, so a group exported once as TXT and once as MHT
lands in the same chat with the same message ids. Where the web page differs, this reader decides:
- a picture is `[图片]`; a GIF (QQ's built-in faces are GIF parts) is `[表情]`;
- a bare `系统消息` sender (no number) is the system sender `10000`, as `系统消息(10000)` in the TXT export;
- line numbers (in issues and in a message's source) count lines of the decoded HTML part, not of the .mht file.

The MIME structure (boundaries, transfer encodings, charsets) is parsed with the standard library's `email`
package and the page with `html.parser`.
"""

from __future__ import annotations

import email
import email.errors
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email.message import Message as MimePart
from html.parser import HTMLParser

from ..model import TEXT, Message
from .base import ReadContext, Reader, SourceFile, UnreadableFile, parse_time
from .qq_classic import GROUP_RE, PEER_RE, SENDER_ID, TITLE_PREFIX_RE, classify, mentions, parse_sender

SNIFF_BYTES = 64 * 1024  # enough for the MIME header and the start of the HTML part
# Words the message manager's page holds near its top (in the decoded HTML, not the raw MIME text).
QQ_MARKERS = ("消息分组", "消息对象", "此消息记录为网页格式", "<title>QQ Message</title>")
DATE_RE = re.compile(r"^日期[:：]\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
TIME_RE = re.compile(r"^(?:(上午|下午)\s*)?(\d{1,2}:\d{2}:\d{2})(?:\s*(AM|PM|am|pm|上午|下午))?$")
# Sender and time in one run of text, for pages without the floated nickname div.
SENDER_TIME_RE = re.compile(r"^(.*?)\s*((?:上午|下午)?\s*\d{1,2}:\d{2}:\d{2}(?:\s*(?:AM|PM|am|pm))?)$")
SENDER_RE = re.compile(r"^(.*?)" + SENDER_ID + r"?\s*$", re.S)
SYSTEM_NAME = "系统消息"
SYSTEM_ID = "10000"
TITLE_LINE_RE = re.compile(r"^消息记录（此消息记录为.{2,8}格式")
IMAGE_EXTENSIONS_FACE = (".gif",)


# -- MIME --------------------------------------------------------------------------------------------

def _decode_html(payload: bytes, charset: str | None) -> tuple[str, bool]:
    """The HTML part's text and whether it ends mid-character (a cut-off export)."""
    charset = (charset or "").lower().strip()
    if charset in ("gb2312", "gbk", "gb18030", "x-gbk", "cp936"):
        encodings = ["gb18030"]
    elif charset in ("", "utf-8", "utf8"):
        encodings = ["utf-8-sig", "gb18030"]
    else:
        encodings = [charset, "utf-8-sig", "gb18030"]
    for enc in encodings:
        try:
            return payload.decode(enc), False
        except LookupError:
            continue
        except UnicodeDecodeError as e:
            if e.reason == "unexpected end of data" or e.start >= len(payload) - 3:
                # Cut inside the last character: keep the text, drop the partial character.
                try:
                    return payload[:e.start].decode(enc), True
                except UnicodeDecodeError:
                    pass
            continue
    raise UnreadableFile(f"the HTML part is neither {charset or 'UTF-8'} nor GB18030 text")


def _html_part(mime: MimePart) -> MimePart | None:
    parts = mime.get_payload() if mime.is_multipart() else [mime]
    if not isinstance(parts, list):
        return None
    for part in parts:
        if isinstance(part, MimePart) and part.get_content_type() == "text/html":
            return part
    return None


def _parse_mime(data: bytes) -> MimePart:
    return email.message_from_bytes(data)


def sniff_mime(data: bytes) -> bool:
    """Starts like a MIME document (the header block QQ writes first)."""
    top = data[:2048].lstrip(b"\xef\xbb\xbf \r\n\t").lower()
    return top.startswith(b"mime-version") or b"\nmime-version" in top[:1024]


def sniff(src: SourceFile) -> bool:
    head = src.data[:SNIFF_BYTES]
    if not sniff_mime(head):
        return False
    top = head[:2048].lower()
    if b"multipart/related" not in top and b"text/html" not in top:
        return False
    part = _html_part(_parse_mime(head))
    if part is None:
        return False
    payload = part.get_payload(decode=True) or b""
    text = payload[:32768].decode(part.get_content_charset() or "utf-8", errors="ignore")
    if not any(m in text for m in QQ_MARKERS[:3]):
        text += payload[:32768].decode("gb18030", errors="ignore")  # a charset label that lies
    return any(m in text for m in QQ_MARKERS)


# -- HTML → rows of blocks -----------------------------------------------------------------------------

@dataclass
class Block:
    """One top-level div of a table cell (or loose text in it). `inner` is the text of nested divs (the
    floated nickname), `outer` the text directly in the block (the time), `text` everything in order with
    `<br>` as newlines and pictures as placeholders."""

    line: int
    inner: list[str] = field(default_factory=list)
    outer: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


@dataclass
class Row:
    line: int
    blocks: list[Block] = field(default_factory=list)
    closed: bool = False


class _TableParser(HTMLParser):
    """Collects the page's <tr> rows; each row is the list of its cells' top-level blocks."""

    def __init__(self, faces: set[str]):
        super().__init__(convert_charrefs=True)
        self.faces = faces  # image names that are faces
        self.rows: list[Row] = []
        self.row: Row | None = None
        self.block: Block | None = None
        self.depth = 0  # div depth inside the current row
        self.outside: list[str] = []  # text before or between rows (a page may put its header above the table)

    def _line(self) -> int:
        return self.getpos()[0]

    def _close_row(self) -> None:
        if self.row is not None:
            self.row.closed = True
        self.row, self.block, self.depth = None, None, 0

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._close_row()
            self.row = Row(self._line())
            self.rows.append(self.row)
            return
        if self.row is None:
            if tag in ("br", "div", "p", "table"):
                self.outside.append("\n")
            return
        if tag == "div":
            if self.depth == 0:
                self.block = Block(self._line())
                self.row.blocks.append(self.block)
            elif self.block is not None and self.block.text and not self.block.text[-1].endswith("\n"):
                self.block.text.append("\n")  # a nested div is a line of its own
            self.depth += 1
        elif tag == "br":
            self._text("\n", structural=True)
        elif tag == "img":
            src = (dict(attrs).get("src") or "").strip()
            name = src.rsplit("/", 1)[-1]
            face = name in self.faces or name.lower().endswith(IMAGE_EXTENSIONS_FACE)
            self._text("[表情]" if face else "[图片]", structural=True)
            if src and self.block is not None:
                self.block.images.append(src)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in ("tr", "table"):
            self._close_row()
        elif tag == "div" and self.row is not None and self.depth > 0:
            self.depth -= 1
            if self.depth == 0:
                self.block = None

    def handle_data(self, data):
        if self.row is None:
            self.outside.append(data.replace("\xa0", " "))
            return
        # Source line breaks are not text in HTML; &nbsp; is a plain space in the TXT export.
        data = data.replace("\r", "").replace("\n", "").replace("\xa0", " ")
        if data:
            self._text(data)

    def _text(self, data: str, structural: bool = False) -> None:
        if self.row is None:
            return
        if self.block is None:  # text loose in a cell (no div): a block of its own
            self.block = Block(self._line())
            self.row.blocks.append(self.block)
        self.block.text.append(data)
        if not structural or data != "\n":
            (self.block.inner if self.depth > 1 else self.block.outer).append(data)


def _lines(block: Block) -> list[str]:
    return [x.strip() for x in "".join(block.text).split("\n")]


def _body(blocks: list[Block]) -> str:
    lines = [x.rstrip() for b in blocks for x in "".join(b.text).split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def _sender_and_time(block: Block) -> tuple[str, str] | None:
    """(sender text, time text) of a message row's first block, or None when it is not one."""
    inner, outer = "".join(block.inner).strip(), "".join(block.outer).strip()
    if inner and outer and TIME_RE.match(outer):
        return inner, outer
    m = SENDER_TIME_RE.match("".join(block.text).replace("\n", " ").strip())
    if m and m.group(1):
        return m.group(1), m.group(2)
    return None


# -- reading -------------------------------------------------------------------------------------------

def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    ctx.platform = "qq"
    if not sniff_mime(src.data):
        raise UnreadableFile("expected a MIME web archive (.mht) starting with 'MIME-Version: 1.0' and a"
                             " multipart/related Content-Type, as QQ's 导出消息记录 → 网页格式 writes")
    mime = _parse_mime(src.data)
    part = _html_part(mime)
    if part is None:
        raise UnreadableFile("expected a text/html part (the message page) in this MIME file; found "
                             + (", ".join(p.get_content_type() for p in mime.walk()) or "no parts"))
    payload = part.get_payload(decode=True) or b""
    html, cut_mid_character = _decode_html(payload, part.get_content_charset())
    if "\r" in html:
        html = html.replace("\r\n", "\n").replace("\r", "\n")

    parts = mime.get_payload() if mime.is_multipart() else [mime]
    faces = {str(p.get("Content-Location", "")).strip().rsplit("/", 1)[-1]
             for p in parts if isinstance(p, MimePart) and p.get_content_type() == "image/gif"}
    # The email parser notes a part with no closing boundary: the export was cut off there.
    truncated_mime = any(isinstance(d, email.errors.CloseBoundaryNotFoundDefect) for d in mime.defects)
    html_is_last = bool(parts) and parts[-1] is part

    parser = _TableParser(faces)
    parser.feed(html)
    parser.close()
    if not any(PEER_RE.match(x) or GROUP_RE.match(x) or DATE_RE.match(x) or TITLE_LINE_RE.match(x)
               for r in parser.rows for b in r.blocks for x in _lines(b)):
        raise UnreadableFile("HTML part: expected QQ's message table (a 消息对象: row and 日期: rows); found none")

    chat = ctx.chat_name
    for x in "".join(parser.outside).split("\n"):  # a 消息对象 line above the table names the first chat
        peer = PEER_RE.match(x.strip())
        if peer and peer.group(1).strip() and not chat:
            chat = peer.group(1).strip()
    day: date | None = None
    bad_date_line: int | None = None  # the 日期: row above, when it was not a real date
    pending: Row | None = None  # a row holding only a sender and time: the next row is its body

    def message(row: Row, head: tuple[str, str], body_blocks: list[Block]) -> Message | None:
        raw_sender, clock = head
        if day is None:
            if bad_date_line is not None:
                ctx.issue(row.line, f"expected a real date in the 日期: row at line {bad_date_line} above this"
                                    " message (it has only a time); message skipped")
            else:
                ctx.issue(row.line, "expected a 日期: YYYY-MM-DD row before this message (it has only a time);"
                                    " message skipped")
            return None
        t = TIME_RE.match(clock)
        try:
            if t is None:
                raise ValueError(f"got {clock!r}")
            before, hms, after = t.groups()
            ampm = {"上午": "AM", "下午": "PM"}.get(before or after or "", after or "")
            time = parse_time(f"{day:%Y-%m-%d} {hms}{' ' + ampm if ampm else ''}", ctx.tz)
        except ValueError as e:
            ctx.issue(row.line, f"expected a time like 15:27:15 or 8:43:38 PM after the sender ({e});"
                                " message skipped")
            return None
        m = SENDER_RE.match(raw_sender.strip())
        nick, qq, account = m.groups()
        bare = TITLE_PREFIX_RE.sub("", nick.strip()).strip()
        if not qq and not account and bare == SYSTEM_NAME:
            qq = SYSTEM_ID  # the page leaves out the number the TXT export shows: 系统消息(10000)
        sender, name, extra = parse_sender(nick, qq, account)
        kind, shown, more = classify(sender, _body(body_blocks))
        extra.update(more)
        images = [i for b in body_blocks for i in b.images]
        if images:
            extra["images"] = images
        cid = chat or src.stem
        return ctx.message(chat=cid, time=time, sender=sender, sender_name=name, kind=kind, text=shown,
                           line=row.line, chat_name=cid, extra=extra,
                           mentions=mentions(shown) if kind == TEXT else [])

    for row in parser.rows:
        texts = [x for b in row.blocks for x in _lines(b) if x]
        if not texts and not any(b.images for b in row.blocks):
            continue  # spacer rows (&nbsp;)
        date_match = DATE_RE.match(texts[0]) if len(texts) == 1 else None
        if date_match or any(PEER_RE.match(x) or GROUP_RE.match(x) for x in texts) or (
                texts and TITLE_LINE_RE.match(texts[0])):
            if pending is not None:
                if (m := message(pending, _sender_and_time(pending.blocks[0]), [])) is not None:
                    yield m
                pending = None
            if date_match:
                try:
                    day, bad_date_line = date(*(int(g) for g in date_match.groups())), None
                except ValueError as e:
                    ctx.issue(row.line, f"expected a real date in {texts[0]!r} ({e}); each of its messages is"
                                        " reported and skipped")
                    day, bad_date_line = None, row.line
                continue
            for x in texts:  # the chat block: a new chat starts here, its dates start afresh
                peer = PEER_RE.match(x)
                if peer and peer.group(1).strip():
                    chat = ctx.chat_name or peer.group(1).strip()
                    day, bad_date_line = None, None
            continue
        head = _sender_and_time(row.blocks[0]) if row.blocks else None
        if pending is not None:
            if head is None:  # this row is the body of the sender row before it
                if (m := message(pending, _sender_and_time(pending.blocks[0]), row.blocks)) is not None:
                    yield m
                pending = None
                continue
            if (m := message(pending, _sender_and_time(pending.blocks[0]), [])) is not None:
                yield m
            pending = None
        if head is None:
            ctx.issue(row.line, "expected a 日期: YYYY-MM-DD row or a message row (a sender, then a time like"
                                f" 15:27:15); got {' '.join(texts)[:60]!r}; row skipped")
            continue
        if len(row.blocks) == 1 and row.closed:
            pending = row
            continue
        if (m := message(row, head, row.blocks[1:])) is not None:
            yield m
        if not row.closed and (truncated_mime or cut_mid_character):
            ctx.issue(row.line, "the export ends inside this message (truncated file?): its text may be incomplete"
                                " and anything after it is missing")
    if pending is not None and (m := message(pending, _sender_and_time(pending.blocks[0]), [])) is not None:
        yield m
    last = parser.rows[-1].line if parser.rows else None
    if truncated_mime and html_is_last and parser.rows and parser.rows[-1].closed:
        ctx.issue(last, "the export ends inside the HTML part without its closing MIME boundary (truncated"
                        " file?); messages after this line are missing")
    elif truncated_mime and not html_is_last:
        cut = parts[-1]
        name = str(cut.get("Content-Location", "")).strip()
        # Point at the message that shows the cut picture, else at the last row.
        shown = [r.line for r in parser.rows for b in r.blocks if name and any(i.endswith(name) for i in b.images)]
        ctx.issue(shown[0] if shown else last, f"the export ends inside the MIME part {name or '(unnamed)'}"
                        f" ({cut.get_content_type()}) without its closing boundary (truncated file?);"
                        " the messages are complete, that picture is not")


READER = Reader(name="qq-mht", label="QQ message manager MHT (消息管理器导出, 网页格式)", sniff=sniff, read=read,
                platform="qq")
