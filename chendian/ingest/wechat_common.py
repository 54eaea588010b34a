"""What the WeChat export readers share: type → kind mapping, the XML inside messages, CSV with line numbers.

WeChat's own message types are numbers (`type`, `subType`; WeChat 4.x packs both into one `local_type` as
`subType << 32 | type`); exporters either keep the numbers (chatlog, MemoTrace v1) or write a Chinese type
name (PyWxDump, MemoTrace v2, WeFlow). Both are mapped onto chendian's message kinds here, so that every
reader classifies the same message the same way.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import datetime

from ..model import (FILE, FORWARD, IMAGE, LINK, OTHER, PAT, QUOTE, RECALL, REDPACKET, SYSTEM, TEXT, VIDEO,
                     VOICE)
from .base import ReadContext, SourceFile, UnreadableFile, parse_time

# -- kinds --------------------------------------------------------------------------------------------

# WeChat 3.x stores red packets and transfers with these packed type numbers in some tables.
_PACKED_REDPACKET = {436207665, 419430449}

_APPMSG_KINDS = {  # type 49 ("app message") by its sub type
    1: TEXT, 3: LINK, 4: LINK, 5: LINK, 6: FILE, 74: FILE, 8: IMAGE, 17: OTHER, 19: FORWARD, 40: FORWARD,
    24: LINK, 33: LINK, 36: LINK, 50: LINK, 51: LINK, 63: LINK, 88: LINK, 53: TEXT, 57: QUOTE, 87: TEXT,
    2000: REDPACKET, 2001: REDPACKET, 2003: REDPACKET,
}
_BASE_KINDS = {1: TEXT, 3: IMAGE, 34: VOICE, 43: VIDEO, 62: VIDEO, 47: IMAGE, 48: OTHER, 42: OTHER,
               37: SYSTEM, 40: SYSTEM, 50: OTHER, 65: SYSTEM, 66: OTHER}


def split_local_type(type_: int, sub: int = 0) -> tuple[int, int]:
    """WeChat 4.x `local_type` = subType << 32 | type; 3.x keeps them apart. Returns (type, subType)."""
    if type_ > 0xFFFFFFFF:
        return type_ & 0xFFFFFFFF, type_ >> 32
    return type_, sub


def kind_for_type(type_: int, sub: int = 0, content: str = "") -> str:
    """The kind of a message from WeChat's numeric type (and its content, for system messages)."""
    type_, sub = split_local_type(type_, sub)
    if type_ in _PACKED_REDPACKET:
        return REDPACKET
    if type_ == 49:
        return _APPMSG_KINDS.get(sub, LINK if "<url>" in content else OTHER)
    if type_ in (10000, 10002):
        if "revokemsg" in content or "撤回了一条消息" in content or sub == 1:
            return RECALL
        if 'type="pat"' in content or "拍了拍" in content or 4 <= sub <= 14:
            return PAT
        return SYSTEM
    return _BASE_KINDS.get(type_, OTHER)


_NAME_RULES = (  # first match wins: order matters (视频号 before 视频, 语音通话 before 语音 …)
    ("撤回", RECALL), ("拍一拍", PAT), ("拍了拍", PAT), ("引用", QUOTE), ("合并转发", FORWARD), ("聊天记录", FORWARD),
    ("红包", REDPACKET), ("转账", REDPACKET), ("群公告", TEXT), ("接龙", TEXT), ("系统", SYSTEM), ("邀请", SYSTEM),
    ("添加好友", SYSTEM), ("打招呼", SYSTEM), ("通话", OTHER), ("表情", IMAGE), ("图片", IMAGE), ("语音", VOICE),
    ("视频号", LINK), ("视频", VIDEO), ("文件", FILE), ("链接", LINK), ("分享", LINK), ("小程序", LINK),
    ("音乐", LINK), ("笔记", LINK), ("公众号", LINK), ("文章", LINK), ("文本", TEXT), ("粘贴", TEXT),
    ("位置", OTHER), ("名片", OTHER),
)


def kind_for_type_name(name: str) -> str:
    """The kind of a message from an exporter's Chinese type name (文本, 引用回复, 合并转发的聊天记录 …)."""
    for needle, kind in _NAME_RULES:
        if needle in name:
            return kind
    return OTHER


# -- senders and names ---------------------------------------------------------------------------------

SELF = "self"


def name_sender(name: str) -> str:
    """The stable sender id when an export has only a display name."""
    return f"name:{name}"


def users_json_names(src: SourceFile) -> dict[str, str]:
    """PyWxDump keeps `users.json` (wxid → {nickname, remark, …}) beside its CSV pages: remark > nickname."""
    raw = src.siblings("users.json")
    if not raw:
        return {}
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    names: dict[str, str] = {}
    if isinstance(data, dict):
        for wxid, info in data.items():
            if isinstance(info, dict):
                name = info.get("remark") or info.get("nickname") or info.get("account") or ""
            else:
                name = info if isinstance(info, str) else ""
            if name:
                names[str(wxid)] = str(name)
    return names


def unescape_name(name: str) -> str:
    """MemoTrace writes display names through HTML/JS escaping (`&amp;`, `\\'`)."""
    return html.unescape(name).replace("\\'", "'").replace('\\"', '"')


# -- the XML inside messages ---------------------------------------------------------------------------

def parse_xml(text: str) -> ET.Element | None:
    text = text.strip()
    if not text.startswith("<"):
        return None
    # Group messages in 3.x prefix the sender: "wxid_x:\n<msg>…"; the XML starts at the first "<".
    try:
        return ET.fromstring(text)
    except ET.ParseError:
        return None


def _find_text(el: ET.Element | None, path: str) -> str:
    if el is None:
        return ""
    found = el.find(path)
    return (found.text or "").strip() if found is not None and found.text else ""


def appmsg_info(content: str) -> dict:
    """Title, description, url, sub type, quoted message and forwarded records of an `<appmsg>` XML message."""
    root = parse_xml(content)
    if root is None:
        return {}
    app = root if root.tag == "appmsg" else root.find(".//appmsg")
    if app is None:
        return {}
    info: dict = {}
    for key, path in (("title", "title"), ("description", "des"), ("url", "url"), ("type", "type")):
        value = _find_text(app, path)
        if value:
            info[key] = value
    refer = app.find("refermsg")
    if refer is not None:
        info["refer"] = {
            "svrid": _find_text(refer, "svrid"),
            "sender": _find_text(refer, "chatusr") or _find_text(refer, "fromusr"),
            "name": _find_text(refer, "displayname"),
            "content": _find_text(refer, "content"),
            "type": _find_text(refer, "type"),
        }
    record = _find_text(app, "recorditem")
    if record:
        info["records"] = forward_records_xml(record)
    return info


def forward_records_xml(recorditem: str) -> list[dict]:
    """Records of a merged forward (`<recordinfo><datalist><dataitem>…`) as [{time, name, text}]."""
    root = parse_xml(recorditem)
    if root is None:
        return []
    records = []
    for item in root.iter("dataitem"):
        text = _find_text(item, "datadesc") or _find_text(item, "datatitle")
        if not text:
            text = {"2": "[图片]", "4": "[视频]", "5": "[链接]", "8": "[文件]"}.get(item.get("datatype", ""), "")
        records.append({"time": _find_text(item, "sourcetime"), "name": _find_text(item, "sourcename"),
                        "text": text})
    return records


_REVOKE_RE = re.compile(r"<revokemsg>(.*?)</revokemsg>", re.S)


def recall_info(content: str) -> tuple[str, str | None]:
    """(what the recall notice says, the withdrawn message's server id when the XML names it)."""
    root = parse_xml(content)
    if root is not None:
        notice = _find_text(root, ".//replacemsg") or _find_text(root, ".//revokemsg") or (root.text or "").strip()
        target = _find_text(root, ".//newmsgid") or None
        if notice:
            return notice, target
    m = _REVOKE_RE.search(content)
    if m:
        return m.group(1).strip(), None
    return content.strip(), None


def sysmsg_text(content: str, names: dict[str, str] | None = None) -> str:
    """Readable text of a system message: template XML (joins, pats) filled in, plain text unchanged."""
    root = parse_xml(content)
    if root is None:
        return content.strip()
    names = names or {}
    template = _find_text(root, ".//template")
    if template:
        for link in root.iter("link"):
            members = [(_find_text(m, "nickname") or names.get(_find_text(m, "username"), _find_text(m, "username")))
                       for m in link.iter("member")]
            separator = _find_text(link, "separator") or "、"
            template = template.replace(f"${link.get('name')}$", separator.join(x for x in members if x))
        # Pats name people as ${wxid}.
        return re.sub(r"\$\{([^}]+)\}", lambda m: names.get(m.group(1), m.group(1)), template)
    return "".join(root.itertext()).strip()


def notice_text(kind: str, content: str, names: dict[str, str], extra: dict) -> str | None:
    """Readable text of a recall, system or pat notice (a recall's target id goes into extra["recalls"]);
    None for any other kind, whose text the reader decodes itself."""
    if kind == RECALL:
        text, target = recall_info(content)
        if target:
            extra["recalls"] = target
        return text
    if kind in (SYSTEM, PAT):
        return sysmsg_text(content, names)
    return None


# -- CSV with line numbers -----------------------------------------------------------------------------

def csv_records(text: str) -> Iterator[tuple[int, int, list[str]]]:
    """(first line, last line, fields) of every CSV record; multi-line cells keep their record's first line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield start, reader.line_num, [f"\x00csv error: {e}"]
            start = reader.line_num + 1
            continue
        if row:
            yield start, reader.line_num, row
        start = reader.line_num + 1


def check_header(src: SourceFile, header: list[str], required: tuple[str, ...], what: str) -> dict[str, int]:
    """Column positions by name; a file without the required columns is not this format."""
    columns = {name.strip(): i for i, name in enumerate(header)}
    missing = [c for c in required if c not in columns]
    if missing:
        raise UnreadableFile(f"line 1: expected a {what} header with columns {', '.join(required)}; "
                             f"missing {', '.join(missing)}")
    return columns


def read_csv_rows(src: SourceFile, ctx: ReadContext, required: tuple[str, ...], what: str
                  ) -> Iterator[tuple[int, dict[str, str]]]:
    """The data rows of a CSV export as {column: value}; rows with the wrong column count become issues."""
    records = csv_records(src.text)
    try:
        _, _, header = next(records)
    except StopIteration:
        raise UnreadableFile(f"empty file: expected a {what} header") from None
    columns = check_header(src, header, required, what)
    for first, last, row in records:
        if len(row) == 1 and row[0].startswith("\x00csv error"):
            ctx.issue(first, f"expected a CSV record ({row[0][1:]})")
            continue
        if len(row) != len(header):
            span = f" (lines {first}–{last})" if last > first else ""
            at_end = last >= src.text.count("\n") + 1 and not src.text.endswith("\n")
            truncated = " — the file ends here without a newline: truncated?" if at_end else ""
            ctx.issue(first, f"expected {len(header)} columns ({','.join(header)}), got {len(row)}{span}{truncated}")
            continue
        yield first, {name: row[i] for name, i in columns.items()}


# -- time ---------------------------------------------------------------------------------------------

def parse_time_or_epoch(value: str, ctx: ReadContext) -> datetime:
    """A date-time string or epoch seconds/milliseconds (both appear in WeChat exports)."""
    from .base import from_epoch

    value = value.strip()
    if value.isdigit() and len(value) >= 9:
        return from_epoch(int(value), ctx.tz)
    return parse_time(value, ctx.tz)


# -- forwards written as text (MemoTrace v2) ------------------------------------------------------------

_FORWARD_LINE_RE = re.compile(r"^( *)- (\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}(?::\d{2})?) (.+?)[:：] ?(.*)$")


def forward_records_text(lines: list[str]) -> list[dict]:
    """`- {time} {name}: {text}` lines, indented 4 spaces per nesting level; other lines continue the last text
    (or, before the first record, open one without a name: a line is never dropped)."""
    records: list[dict] = []
    for line in lines:
        m = _FORWARD_LINE_RE.match(line)
        if m:
            record = {"time": m.group(2), "name": m.group(3), "text": m.group(4)}
            level = len(m.group(1)) // 4
            if level:
                record["level"] = level
            records.append(record)
        elif records and line.strip():
            records[-1]["text"] += "\n" + line.strip()
        elif line.strip():
            records.append({"time": "", "name": "", "text": line.strip()})
    return records


_PLAIN_FORWARD_LINE_RE = re.compile(r"^\s*(?:-\s*)?(.{1,32}?)[:：]\s*(.*)$")


def forward_records_plain(lines: list[str]) -> list[dict]:
    """`name: text` (or `- name: text`) lines of a merged forward rendered as plain text. Any other non-blank
    line continues the last record (or opens one without a name): a forward's line is never dropped."""
    records: list[dict] = []
    for line in lines:
        m = _PLAIN_FORWARD_LINE_RE.match(line)
        if m:
            records.append({"time": "", "name": m.group(1), "text": m.group(2)})
        elif records and line.strip():
            records[-1]["text"] += "\n" + line.strip()
        elif line.strip():
            records.append({"time": "", "name": "", "text": line.strip()})
    return records


def forward_text(title: str, records: list[dict]) -> str:
    """A forward's searchable text: its title, then `name: text` per record."""
    lines = [title] if title else []
    lines += [f"{r['name']}: {r['text']}" if r["name"] else r["text"] for r in records]
    return "\n".join(lines)


# -- text exports made of header + body blocks -----------------------------------------------------------

def header_blocks(text: str, header_re: re.Pattern, partial_re: re.Pattern | None = None
                  ) -> Iterator[tuple[int, re.Match | None, list[str]]]:
    """Split a text export into (header line number, header match, body lines) blocks.

    A block starts at a header line that follows a blank line (or opens the file), so bodies may hold blank
    lines and lines that merely look like headers. A line that starts like a header but does not parse
    (`partial_re`, e.g. a file cut mid-line) opens a block with match None; so do lines before the first header.
    """
    current: tuple[int, re.Match | None, list[str]] | None = None
    prev_blank = True
    for lineno, line in enumerate(text.split("\n"), 1):
        m = header_re.match(line) if prev_blank else None
        if m or (prev_blank and partial_re is not None and partial_re.match(line) and line.strip()):
            if current is not None:
                yield current
            current = (lineno, m, [] if m else [line])
        else:
            if current is None:
                if not line.strip():
                    prev_blank = True
                    continue
                current = (lineno, None, [])
            current[2].append(line)
        prev_blank = not line.strip()
    if current is not None:
        yield current


def timed_blocks(src: SourceFile, ctx: ReadContext, header_re: re.Pattern, partial_re: re.Pattern | None,
                 expected: str, time_text: Callable[[re.Match], str] = lambda m: m.group(1)
                 ) -> Iterator[tuple[int, re.Match, datetime, list[str]]]:
    """header_blocks with the shared error handling: (line, header match, time, body lines) for each block
    whose header reads; a block without one, or with an impossible time, is reported and skipped."""
    for lineno, m, lines in header_blocks(src.text, header_re, partial_re):
        if m is None:
            first = next((ln for ln in lines if ln.strip()), "")
            ctx.issue(lineno, f"expected a header `{expected}`, got {first[:40]!r}")
            continue
        try:
            time = parse_time(time_text(m), ctx.tz)
        except ValueError as e:
            ctx.issue(lineno, str(e))
            continue
        yield lineno, m, time, lines


def body_text(lines: list[str]) -> str:
    """A block's body without the blank lines that separate blocks."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "\n".join(lines)


# -- JSON arrays read item by item ------------------------------------------------------------------------

def json_array_items(text: str, start: int) -> Iterator[tuple[int, int, object | None, str]]:
    """(index, line, item, error) for each item of the JSON array opening at text[start] == "[".

    Items are decoded one at a time, so a file cut off mid-item still yields every complete item before
    the cut, then one error naming the line where the broken item starts.
    """
    decoder = json.JSONDecoder()
    pos, line, counted, index = start + 1, 1 + text.count("\n", 0, start), start, 0
    length = len(text)

    def skip(p: int) -> int:
        while p < length and text[p] in " \t\r\n":
            p += 1
        return p

    pos = skip(pos)
    if pos < length and text[pos] == "]":
        return
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        if pos >= length:
            yield index, line, None, "expected another item or `]`: the file ends here (truncated?)"
            return
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            yield index, line, None, f"expected a complete JSON value ({e.msg}; truncated?)"
            return
        yield index, line, item, ""
        index += 1
        pos = skip(end)
        if pos < length and text[pos] == ",":
            pos = skip(pos + 1)
        elif pos < length and text[pos] == "]":
            return
        else:
            line += text.count("\n", counted, pos)
            yield index, line, None, "expected `,` or `]` after an item (truncated?)"
            return
