"""MemoTrace / WeChatMsg CSV exports, v1 (≤ 2024) and v2 (2025), and the text rendering both versions share.

    v1: localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender
        (UTF-8 with BOM; CreateTime epoch seconds; StrContent raw, XML for non-text types; the last three
        columns are the sender's remark, nickname and wxid)
    v2: 消息ID,类型,发送人,时间,内容,备注,昵称,更多信息
        (类型 a Chinese type name; 发送人 the remark or group nickname; 内容 rendered like the v2 TXT export)

`interpret_text` reads MemoTrace's text rendering of one message (placeholders `[图片]`/`【图片】`, quotes
`引用:名:原文` / `引用：名: 原文`, link blocks, merged forwards); memotrace_txt.py uses it too.
"""

from __future__ import annotations

import json
import re

from ..model import FILE, FORWARD, LINK, OTHER, PAT, QUOTE, RECALL, SYSTEM, TEXT, Quote
from .base import ReadContext, Reader, SourceFile, UnreadableFile
from .wechat_common import (SELF, appmsg_info, forward_records_text, forward_text, kind_for_type,
                            kind_for_type_name, name_sender, notice_text, parse_time_or_epoch, read_csv_rows,
                            unescape_name)

V1 = ("localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "StrContent", "StrTime", "Remark",
      "NickName", "Sender")
V2 = ("消息ID", "类型", "发送人", "时间", "内容", "备注", "昵称")
SYSTEM_SENDER = "system"

# -- the text rendering ---------------------------------------------------------------------------------

_PLACEHOLDER_RE = re.compile(
    r"^\s*[【\[](图片|语音|视频|表情包|动画表情|表情|文件|音乐分享|链接|分享链接|红包|转账|音视频通话|语音通话|视频通话|"
    r"位置|名片|合并转发的聊天记录|聊天记录|拍一拍|小程序|视频号|系统消息)[】\]]\s*[:：]?\s*(.*)$", re.S)
_QUOTE_RE = re.compile(r"^(?P<reply>.*?)\n\s*引用[:：]\s*(?P<name>[^:：\n]*?)\s*[:：] ?(?P<quoted>.*)$", re.S)
_KEY_RE = re.compile(r"^\s*(标题|描述|链接|应用|title|description|url|name)\s*[:：]\s*(.*)$")
_LINK_KEYS = {"标题": "title", "title": "title", "描述": "description", "description": "description",
              "链接": "url", "url": "url", "应用": "app", "name": "app"}
_PLACEHOLDER_KIND = {"音乐分享": LINK, "音视频通话": OTHER, "语音通话": OTHER, "视频通话": OTHER, "系统消息": SYSTEM}


def interpret_text(content: str, kind: str | None = None) -> tuple[str, str, Quote | None, dict]:
    """(kind, text, quote, extra) of one message as MemoTrace renders it; `kind` when the export names the type."""
    extra: dict = {}
    m = _PLACEHOLDER_RE.match(content)
    placeholder, rest = (m.group(1), m.group(2)) if m else ("", content)
    if kind is None:
        if placeholder:
            kind = _PLACEHOLDER_KIND.get(placeholder) or kind_for_type_name(placeholder)
        else:
            q = _QUOTE_RE.match(content)
            kind = QUOTE if q and q.group("reply").strip() else TEXT
    if placeholder:
        extra["placeholder"] = placeholder

    if kind == QUOTE:
        q = _QUOTE_RE.match(content)
        if q:
            return QUOTE, q.group("reply").strip("\n"), Quote(sender_name=unescape_name(q.group("name")) or None,
                                                                 text=q.group("quoted").strip()), extra
        return QUOTE, content, None, extra
    if kind == FORWARD:
        lines = rest.split("\n")
        title = lines[0].strip() if lines and not lines[0].lstrip().startswith("- ") else ""
        records = forward_records_text(lines[1:] if title else lines)
        extra["forward"] = records
        if title:
            extra["title"] = title
        return FORWARD, forward_text(title or placeholder, records), None, extra
    if kind == LINK:
        fields: dict[str, str] = {}
        first, *more = rest.split("\n")
        if _KEY_RE.match(first):  # v1 "[链接]:title:…", v2 "【分享链接】\n标题：…": no bare title line
            more = [first, *more]
            first = ""
        unlabelled: list[str] = []  # lines that are no card field (a pasted line, a repeated key): kept as text
        for line in more:
            km = _KEY_RE.match(line)
            if km and _LINK_KEYS[km.group(1)] not in fields:
                fields[_LINK_KEYS[km.group(1)]] = km.group(2).strip()
            elif line.strip():
                unlabelled.append(line.strip())
        if first.strip() and "title" not in fields:
            fields["title"] = first.strip()
        elif first.strip():
            unlabelled.insert(0, first.strip())
        extra.update({k: v for k, v in fields.items() if v})
        text = "\n".join(x for x in (fields.get("title", ""), fields.get("description", ""), *unlabelled) if x)
        return LINK, text or rest.strip(), None, extra
    if placeholder:
        # 【语音】{转写}, 【表情包】 desc, 【文件】name size path …, 【红包】: …: keep what follows the placeholder.
        if kind == FILE and rest.strip():
            extra["file"] = rest.strip()
        return kind, rest.strip(), None, extra
    if kind in (SYSTEM, RECALL, PAT):
        return _system_kind(content), content.strip(), None, extra
    return kind, content, None, extra


def _system_kind(text: str) -> str:
    if "撤回了一条消息" in text or "recalled a message" in text:
        return RECALL
    if "拍了拍" in text:
        return PAT
    return SYSTEM


# -- CSV ------------------------------------------------------------------------------------------------

def _header(src: SourceFile) -> set[str]:
    return {c.strip().strip('"') for c in src.head(1024).split("\n", 1)[0].split(",")}


def sniff(src: SourceFile) -> bool:
    header = _header(src)
    return set(V1) <= header or set(V2) <= header


def _chat_from_stem(src: SourceFile) -> str:
    stem = src.stem
    for suffix in ("_utf8", "_gbk", "_utf-8"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem or src.name


def read(src: SourceFile, ctx: ReadContext):
    header = _header(src)
    chat = _chat_from_stem(src)
    if set(V1) <= header:
        yield from _read_v1(src, ctx, chat)
    elif set(V2) <= header:
        yield from _read_v2(src, ctx, chat)
    else:
        raise UnreadableFile("line 1: expected a MemoTrace CSV header (v1: localId,TalkerId,Type,…; "
                             "v2: 消息ID,类型,发送人,时间,内容,…)")




def _read_v1(src: SourceFile, ctx: ReadContext, chat: str):
    names = dict(ctx.names)  # wxid → name as the rows reveal them, to fill in pats and joins
    for line, row in read_csv_rows(src, ctx, V1, "MemoTrace v1 CSV"):
        try:
            time = parse_time_or_epoch(row["CreateTime"] or row["StrTime"], ctx)
        except ValueError:
            try:
                time = parse_time_or_epoch(row["StrTime"], ctx)
            except ValueError as e:
                ctx.issue(line, f"CreateTime/StrTime: {e}")
                continue
        try:
            type_, sub = int(row["Type"] or 0), int(row["SubType"] or 0)
        except ValueError:
            ctx.issue(line, f"expected numeric Type and SubType, got {row['Type']!r}, {row['SubType']!r}")
            continue
        content = row["StrContent"]
        wxid = row["Sender"].strip()
        name = unescape_name(row["Remark"].strip() or row["NickName"].strip() or ctx.names.get(wxid, "") or wxid)
        if not wxid:
            if row["IsSender"].strip() == "1":
                wxid, name = SELF, name or ctx.names.get(SELF, "我")
            else:
                wxid, name = SYSTEM_SENDER, name or "系统消息"
        if wxid not in (SELF, SYSTEM_SENDER):
            names[wxid] = name
        kind = kind_for_type(type_, sub, content)
        extra: dict = {"localId": row["localId"], "type": f"{type_}/{sub}"}
        text, quote = content, None
        notice = notice_text(kind, content, names, extra)
        if notice is not None:
            text = notice
        elif content.lstrip().startswith("<"):
            info = appmsg_info(content)
            refer = info.get("refer")
            if kind == QUOTE and refer:
                text = info.get("title", "")
                quote = Quote(platform_id=refer["svrid"] or None, sender_name=refer["name"] or None,
                              text=refer["content"] or None)
            elif kind == FORWARD:
                extra["forward"] = info.get("records", [])
                title = info.get("title", "")
                if title:
                    extra["title"] = title
                text = forward_text(title, extra["forward"])
            elif info:
                extra.update({k: v for k, v in info.items() if k in ("title", "description", "url")})
                text = "\n".join(x for x in (info.get("title", ""), info.get("description", "")) if x)
            else:
                text = ""  # media XML: nothing anyone wrote
        elif kind == TEXT and not content.strip():
            kind, extra["empty"] = OTHER, True
        elif kind not in (TEXT, QUOTE, LINK, FORWARD) and not content.strip():
            text = ""
        yield ctx.message(chat=chat, time=time, sender=wxid, sender_name=name, kind=kind, text=text, line=line,
                          quote=quote, chat_name=chat, extra=extra)


def _read_v2(src: SourceFile, ctx: ReadContext, chat: str):
    seen: dict[str, tuple[int, str]] = {}
    for line, row in read_csv_rows(src, ctx, V2, "MemoTrace v2 CSV"):
        try:
            time = parse_time_or_epoch(row["时间"], ctx)
        except ValueError as e:
            ctx.issue(line, f"时间: {e}")
            continue
        shown = unescape_name(row["发送人"].strip())
        nickname = unescape_name(row["昵称"].strip())
        type_name = row["类型"].strip()
        type_kind = kind_for_type_name(type_name)
        if not shown and not nickname:
            sender, name = SYSTEM_SENDER, "系统消息"
        else:
            # 发送人 is the remark or the group nickname, which people change; the WeChat nickname changes less.
            sender, name = name_sender(nickname or shown), shown or nickname
        kind, text, quote, extra = interpret_text(row["内容"], type_kind)
        extra["type"] = type_name
        if kind == TEXT and not text.strip():
            kind, extra["empty"] = OTHER, True
        more = (row.get("更多信息") or "").strip()
        if more:
            try:
                extra["more"] = json.loads(more)
            except json.JSONDecodeError:
                extra["more"] = more
        pid = row["消息ID"].strip() or None
        if pid:
            first = seen.get(pid)
            if first is None:
                seen[pid] = (line, text)
            elif first[1] == text:
                ctx.issue(line, f"duplicate of line {first[0]} (same 消息ID {pid} and text); stored once")
                continue
            else:
                ctx.issue(line, f"消息ID {pid} was already used on line {first[0]}; kept with an id from its content")
                extra["消息ID"], pid = pid, None
        yield ctx.message(chat=chat, time=time, sender=sender, sender_name=name, kind=kind, text=text, line=line,
                          platform_id=pid, quote=quote, chat_name=chat, extra=extra)


READER = Reader(name="memotrace", label="MemoTrace/WeChatMsg CSV (v1 and v2)", sniff=sniff, read=read,
                platform="wechat")
