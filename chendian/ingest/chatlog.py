"""sjzar/chatlog HTTP API output (`GET /api/v1/chatlog?time=…&talker=…&format=json|csv|text`).

    json: a bare array of {seq, time (RFC 3339), talker, talkerName, isChatRoom, sender, senderName, isSelf,
          type, subType, content, contents{refer, recordInfo, title, desc, url, md5 …}}
    csv:  Time,SenderName,Sender,TalkerName,Talker,Content
    text: `SenderName(wxid) [群名(id)] 15:04:05` then the content, a blank line between messages; the time
          shows only what the queried range needs (`15:04:05`, `01-02 15:04:05` or a full date), so a file
          with short times must be named after its date (e.g. `chatlog_2025-11-19.txt`).

CSV and text render media as placeholders (`![图片](url)`, `[文件|name](url)`, `[合并转发|title]`,
`[转账|…]`, `[红包]`) and quotes as `> ` lines before the reply.
"""

from __future__ import annotations

import re
from datetime import date

from ..model import FILE, FORWARD, IMAGE, LINK, OTHER, PAT, QUOTE, RECALL, REDPACKET, SYSTEM, TEXT, VIDEO, VOICE, Quote
from .base import ReadContext, Reader, SourceFile, UnreadableFile, parse_time
from .wechat_common import (SELF, body_text, forward_records_plain, forward_text, header_blocks, json_array_items,
                            kind_for_type,
                            notice_text, parse_time_or_epoch, read_csv_rows)

CSV_COLUMNS = ("Time", "SenderName", "Sender", "TalkerName", "Talker", "Content")
_TIME = r"(?:\d{4}-\d{2}-\d{2} |\d{2}-\d{2} )?\d{2}:\d{2}:\d{2}"
_LOOSE_HEADER_RE = re.compile(rf"^(?P<name>.*?)(?:\((?P<id>[^()\s]*)\))?(?: \[(?P<room>.*?)\((?P<roomid>[^()\s]+)\)\])?"
                             rf" (?P<time>{_TIME})$")
# Read from the right: the last `(id)` before the room and time ends the name, so a name may hold brackets and
# parentheses of its own (`张三 [北京](wxid_x)`, `赵青(数据组)(wxid_y)`).
_ID_HEADER_RE = re.compile(rf"^(?P<name>.*)\((?P<id>[^()\s]*)\)(?: \[(?P<room>.*)\((?P<roomid>[^()\s]+)\)\])?"
                           rf" (?P<time>{_TIME})$")


class _Header:
    """A header line: `SenderName(wxid) [群名(id)] time`, else the same without the id (what match() is asked)."""

    @staticmethod
    def match(line: str) -> re.Match | None:
        return _ID_HEADER_RE.match(line) or _LOOSE_HEADER_RE.match(line)


HEADER_RE = _Header()
_STRICT_HEADER_RE = re.compile(rf"^.*\([A-Za-z0-9_@.\-]*\)(?: \[.*\([^()\s]+\)\])? {_TIME}$")
# The JSON output is an array of objects; a text export may also start with "[" (a sender named "[VIP]小王").
_JSON_START_RE = re.compile(r"^\[\s*(?:\{|\]\s*\Z|\Z)")
_FILE_DATE_RE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_FILE_YEAR_RE = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_PLACEHOLDER_RE = re.compile(r"^!?\[(?P<label>[^\]|]+)(?:\|(?P<arg>[^\]]*))?\](?:\((?P<url>[^)\s]*)\))?(?P<rest>.*)$", re.S)
_LABEL_KIND = {"图片": IMAGE, "动画表情": IMAGE, "表情": IMAGE, "视频": VIDEO, "语音": VOICE, "文件": FILE,
               "链接": LINK, "小程序": LINK, "视频号": LINK, "公众号": LINK, "音乐": LINK, "合并转发": FORWARD,
               "聊天记录": FORWARD, "转账": REDPACKET, "红包": REDPACKET, "位置": OTHER, "名片": OTHER,
               "语音通话": OTHER, "视频通话": OTHER, "通话": OTHER, "拍一拍": PAT}


def sniff(src: SourceFile) -> bool:
    head = src.head()
    stripped = head.lstrip()
    if _JSON_START_RE.match(stripped):
        return '"talker"' in head and '"senderName"' in head and '"seq"' in head
    first = next((ln for ln in head.split("\n") if ln.strip()), "")
    if {c.strip() for c in first.split(",")} >= set(CSV_COLUMNS):
        return True
    return bool(_STRICT_HEADER_RE.match(first))


def read(src: SourceFile, ctx: ReadContext):
    text = src.text
    stripped = text.lstrip()
    if _JSON_START_RE.match(stripped):
        yield from _read_json(src, ctx, len(text) - len(stripped))
    elif {c.strip() for c in text.split("\n", 1)[0].split(",")} >= set(CSV_COLUMNS):
        yield from _read_csv(src, ctx)
    else:
        yield from _read_text(src, ctx)


# -- JSON -----------------------------------------------------------------------------------------------

def _get(d: dict, *keys: str):
    """A field by any of its spellings (chatlog's nested structs keep Go's capitalised names)."""
    lowered = {k.lower(): v for k, v in d.items()} if isinstance(d, dict) else {}
    for key in keys:
        if key.lower() in lowered and lowered[key.lower()] not in (None, ""):
            return lowered[key.lower()]
    return None


def _records(record_info) -> list[dict]:
    items = []
    data_list = _get(record_info, "DataList", "dataList") if isinstance(record_info, dict) else None
    raw = _get(data_list, "DataItems", "dataItem", "items") if isinstance(data_list, dict) else data_list
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            items.append({"time": str(_get(item, "SourceTime") or ""), "name": str(_get(item, "SourceName") or ""),
                          "text": str(_get(item, "DataDesc", "DataTitle", "Content") or "")})
    return items


def _read_json(src: SourceFile, ctx: ReadContext, start: int):
    names = dict(ctx.names)  # wxid → name as messages reveal them, to fill in pats
    for index, line, obj, error in json_array_items(src.text, start):
        if error:
            ctx.issue(line, error)
            continue
        if not isinstance(obj, dict):
            ctx.issue(line, f"expected a message object, got {type(obj).__name__}")
            continue
        try:
            t = obj.get("time")
            time = parse_time_or_epoch(str(t), ctx) if t not in (None, "") else None
            if time is None:
                raise ValueError("missing `time`")
        except (ValueError, OverflowError) as e:
            ctx.issue(line, f"time: {e}")
            continue
        try:
            type_, sub = int(obj.get("type") or 0), int(obj.get("subType") or 0)
        except (TypeError, ValueError):
            ctx.issue(line, f"expected numeric type/subType, got {obj.get('type')!r}/{obj.get('subType')!r}")
            continue
        content = str(obj.get("content") or "")
        contents = obj.get("contents") if isinstance(obj.get("contents"), dict) else {}
        chat = str(obj.get("talker") or src.stem)
        sender = str(obj.get("sender") or "")
        is_self = bool(obj.get("isSelf"))
        name = str(obj.get("senderName") or ctx.names.get(sender) or ("我" if is_self else sender))
        if not sender:
            sender = SELF if is_self else "system"
            name = name or "系统消息"
        if sender not in (SELF, "system"):
            names.setdefault(sender, name)
        kind = kind_for_type(type_, sub, content)
        extra: dict = {"type": f"{type_}/{sub}"}
        text, quote = content, None
        notice = notice_text(kind, content, names, extra)
        if notice is not None:
            text = notice
        elif kind == QUOTE:
            refer = contents.get("refer") if isinstance(contents.get("refer"), dict) else {}
            ref_id = _get(refer, "svrid", "seq")
            quote = Quote(platform_id=str(ref_id) if ref_id not in (None, 0, "0") else None,
                          sender_name=str(_get(refer, "senderName", "displayName") or "") or None,
                          text=str(_get(refer, "content") or "") or None)
        elif kind == FORWARD:
            record_info = contents.get("recordInfo")
            extra["forward"] = _records(record_info)
            title = str(_get(contents, "title") or _get(record_info or {}, "title") or content or "")
            if title:
                extra["title"] = title
            text = forward_text(title, extra["forward"])
        for key in ("title", "desc", "url", "md5"):
            if contents.get(key) and key not in extra:
                extra["description" if key == "desc" else key] = contents[key]
        if kind in (LINK, FILE, REDPACKET) and not text.strip():
            text = "\n".join(str(x) for x in (contents.get("title"), contents.get("desc")) if x)
        if kind == TEXT and not text.strip():
            kind, extra["empty"] = OTHER, True
        seq = obj.get("seq")
        yield ctx.message(chat=chat, time=time, sender=sender, sender_name=name, kind=kind, text=text, line=line,
                          platform_id=str(seq) if seq not in (None, "", 0) else None, quote=quote,
                          chat_name=str(obj.get("talkerName") or "") or None, extra=extra)


# -- CSV and text share the plain-text rendering ----------------------------------------------------------

def interpret_plain(content: str, known_names: set[str]) -> tuple[str, str, Quote | None, dict]:
    """(kind, text, quote, extra) from chatlog's plain-text rendering of one message."""
    lines = content.split("\n")
    quoted = []
    while lines and lines[0].startswith(">"):
        quoted.append(lines.pop(0)[1:].lstrip())
    if quoted:
        reply = "\n".join(lines).strip()
        qtext, qname = "\n".join(quoted).strip(), None
        m = re.match(r"^(.{1,32}?)[:：]\s*(.*)$", qtext, re.S)
        if m and m.group(1) in known_names:
            qname, qtext = m.group(1), m.group(2)
        return QUOTE, reply, Quote(sender_name=qname, text=qtext or None), {}
    m = _PLACEHOLDER_RE.match(content.strip())
    if m and m.group("label") in _LABEL_KIND:
        label, arg, url, rest = m.group("label"), m.group("arg") or "", m.group("url") or "", m.group("rest")
        kind = _LABEL_KIND[label]
        extra: dict = {"placeholder": label}
        if url:
            extra["url"] = url
        if kind == FILE and arg:
            extra["file"] = arg
        if kind == LINK and arg:
            extra["title"] = arg
        if kind == FORWARD:
            records = forward_records_plain(rest.strip().split("\n"))
            extra["forward"] = records
            if arg:
                extra["title"] = arg
            return FORWARD, forward_text(arg, records), None, extra
        return kind, (arg + ("\n" + rest.strip() if rest.strip() else "")).strip(), None, extra
    return TEXT, content, None, {}


def _system_kind(text: str) -> str:
    if "撤回了一条消息" in text:
        return RECALL
    if "拍了拍" in text:
        return PAT
    return SYSTEM


def _plain_message(ctx: ReadContext, *, chat, chat_name, time, sender_id, sender_name, content, known, **where):
    if not sender_id and not sender_name:
        kind = _system_kind(content)
        return ctx.message(chat=chat, time=time, sender="system", sender_name="系统消息", kind=kind,
                           text=content.strip(), chat_name=chat_name, **where)
    if sender_name == "我" and not sender_id:
        sender_id = SELF
    known.add(sender_name)
    kind, text, quote, extra = interpret_plain(content, known)
    if kind == TEXT and ("撤回了一条消息" in text or "拍了拍" in text) and not sender_id:
        kind = _system_kind(text)
    if kind == TEXT and not text.strip():
        kind, extra["empty"] = OTHER, True
    return ctx.message(chat=chat, time=time, sender=sender_id or f"name:{sender_name}", sender_name=sender_name,
                       kind=kind, text=text, quote=quote, chat_name=chat_name, extra=extra, **where)


def _read_csv(src: SourceFile, ctx: ReadContext):
    known: set[str] = set()
    for line, row in read_csv_rows(src, ctx, CSV_COLUMNS, "chatlog CSV"):
        try:
            time = parse_time_or_epoch(row["Time"], ctx)
        except ValueError as e:
            ctx.issue(line, f"Time: {e}")
            continue
        chat = row["Talker"].strip() or src.stem
        yield _plain_message(ctx, chat=chat, chat_name=row["TalkerName"].strip() or None, time=time,
                             sender_id=row["Sender"].strip(), sender_name=row["SenderName"].strip(),
                             content=row["Content"], known=known, line=line)


def _base_date(src: SourceFile) -> tuple[date | None, int | None]:
    m = _FILE_DATE_RE.search(src.stem)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), int(m.group(1))
        except ValueError:
            pass
    y = _FILE_YEAR_RE.search(src.stem)
    return None, int(y.group(1)) if y else None


def _read_text(src: SourceFile, ctx: ReadContext):
    known: set[str] = set()
    base, year = _base_date(src)
    for lineno, m, lines in header_blocks(src.text, HEADER_RE):
        if m is None:
            first = next((ln for ln in lines if ln.strip()), "")
            ctx.issue(lineno, f"expected a header `SenderName(wxid) [群名(id)] time`, got {first[:40]!r}")
            continue
        stamp = m.group("time")
        if len(stamp) == 8:  # 15:04:05: the query covered one day
            if base is None:
                raise UnreadableFile(f"line {lineno}: times without a date ({stamp}); name the file after its "
                                     "date, e.g. chatlog_2025-11-19.txt")
            stamp = f"{base.isoformat()} {stamp}"
        elif len(stamp) == 14:  # 01-02 15:04:05: the query covered one year
            if year is None:
                raise UnreadableFile(f"line {lineno}: times without a year ({stamp}); name the file after its "
                                     "year or date, e.g. chatlog_2025.txt")
            stamp = f"{year}-{stamp}"
        try:
            time = parse_time(stamp, ctx.tz)
        except ValueError as e:
            ctx.issue(lineno, str(e))
            continue
        chat = m.group("roomid") or src.stem
        yield _plain_message(ctx, chat=chat, chat_name=m.group("room") or None, time=time,
                             sender_id=m.group("id") or "", sender_name=m.group("name").strip(),
                             content=body_text(lines), known=known, line=lineno)


READER = Reader(name="chatlog", label="sjzar/chatlog (JSON, CSV, text)", sniff=sniff, read=read, platform="wechat")
