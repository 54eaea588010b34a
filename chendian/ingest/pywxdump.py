"""PyWxDump CSV exports (WeChat 3.x), both layouts, with `users.json` beside them for names.

    new (≥ v3.1): id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime
    old (Dec 2023–Apr 2024): id,MsgSvrID,type_name,is_sender,talker,room_name,content,CreateTime
                             where content is JSON {"src": …, "msg": …}

`talker` is the sender's wxid (`我` or empty for your own messages in some versions), `room_name` the chat.
Quotes are a multi-line cell `"{reply}\n\n[引用](YYYY-MM-DD HH:MM:SS){name}:{quoted}"`; recalls are
`<revokemsg>…</revokemsg>`; files re-saved through Excel show `2024/10/4 21:25` and lose the seconds.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from ..model import FILE, FORWARD, IMAGE, LINK, OTHER, QUOTE, RECALL, SYSTEM, TEXT, VIDEO, VOICE, Quote
from .base import ReadContext, Reader, SourceFile
from .wechat_common import (SELF, appmsg_info, kind_for_type_name, parse_time_or_epoch, read_csv_rows,
                            recall_info, sysmsg_text, users_json_names)

COMMON = ("id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "CreateTime")
NEW = (*COMMON, "msg", "src")
OLD = (*COMMON, "content")

_QUOTE_RE = re.compile(r"^(?P<reply>.*?)\s*\[引用\]\((?P<time>[^)]*)\)(?P<name>[^:：\n]*)[:：](?P<quoted>.*)$", re.S)
_HREF_RE = re.compile(r"<a\s+href=[\"']?([^\"'>\s]+)", re.I)
_VOICE_RE = re.compile(r"语音时长[:：]\s*(\d+(?:\.\d+)?)\s*秒")
_PLACEHOLDERS = {"图片", "表情", "动画表情", "视频", "语音", "文件"}
RECENT = 2000  # messages kept to find a quoted message's MsgSvrID


def sniff(src: SourceFile) -> bool:
    header = {c.strip() for c in src.head(1024).split("\n", 1)[0].split(",")}
    return set(COMMON) <= header and ("msg" in header or "content" in header)


def _sender(row: dict[str, str], users: dict[str, str], ctx: ReadContext) -> tuple[str, str]:
    talker = row["talker"].strip()
    if row["is_sender"].strip() == "1" and talker in ("", "我"):
        return SELF, users.get(SELF) or ctx.names.get(SELF) or "我"
    return talker, users.get(talker) or ctx.names.get(talker) or talker


def read(src: SourceFile, ctx: ReadContext):
    header = src.text.split("\n", 1)[0]
    old_layout = "content" in {c.strip() for c in header.split(",")}
    users = {**ctx.names, **users_json_names(src)}
    default_chat = src.stem.split("_")[0] if src.stem else src.name
    seen_pids: dict[str, tuple[int, str]] = {}
    recent: list[tuple[str, datetime, str, str]] = []  # (chat, time, text, MsgSvrID) for quote lookup

    for line, row in read_csv_rows(src, ctx, OLD if old_layout else NEW, "PyWxDump CSV"):
        try:
            time = parse_time_or_epoch(row["CreateTime"], ctx)
        except ValueError as e:
            ctx.issue(line, f"CreateTime: {e}")
            continue
        if old_layout:
            try:
                content = json.loads(row["content"]) if row["content"].strip() else {}
                if not isinstance(content, dict):
                    raise ValueError(f"a JSON {type(content).__name__}")
            except (json.JSONDecodeError, ValueError) as e:
                ctx.issue(line, f'expected `content` to be JSON {{"src": …, "msg": …}} ({e})')
                continue
            msg, media = str(content.get("msg") or ""), str(content.get("src") or "")
        else:
            msg, media = row["msg"], row["src"]

        type_name = row["type_name"].strip()
        chat = row["room_name"].strip() or default_chat
        sender, sender_name = _sender(row, users, ctx)
        pid = row["MsgSvrID"].strip()
        pid = pid if pid and pid != "0" else None
        extra: dict = {"type": type_name}
        if media:
            extra["src"] = media
        kind = kind_for_type_name(type_name)
        text = msg
        quote = None

        if "<revokemsg>" in msg or kind == RECALL:
            kind = RECALL
            text, target = recall_info(msg)
            if target:
                extra["recalls"] = target
        elif kind == SYSTEM:
            text = sysmsg_text(msg, users)
        elif kind == QUOTE or "[引用](" in msg:
            m = _QUOTE_RE.match(msg)
            if m:
                kind = QUOTE
                text = m.group("reply")
                quoted, quoted_name = m.group("quoted").strip(), m.group("name").strip()
                quote = Quote(platform_id=_find_quoted(recent, chat, m.group("time"), quoted, ctx),
                              sender_name=quoted_name or None, text=quoted)
            elif kind == QUOTE:
                ctx.issue(line, "expected a quote like `回复\\n\\n[引用](YYYY-MM-DD HH:MM:SS)名:原文`; kept as text")
                kind = TEXT
        elif kind in (IMAGE, VIDEO, VOICE, FILE) and not msg.lstrip().startswith("<"):
            m = _VOICE_RE.search(msg)
            if m:
                extra["seconds"] = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
            if m or msg.strip() in _PLACEHOLDERS:
                extra["placeholder"], text = msg.strip(), ""  # not something anyone wrote
        elif kind in (LINK, FORWARD) or msg.lstrip().startswith("<"):
            info = appmsg_info(msg)
            href = _HREF_RE.search(msg)
            if info:
                extra.update({k: v for k, v in info.items() if k in ("title", "description", "url")})
                if info.get("records"):
                    extra["forward"] = info["records"]
                text = "\n".join(x for x in (info.get("title", ""), info.get("description", "")) if x)
            elif href:
                extra["url"] = href.group(1)
                text = re.sub(r"<a\s[^>]*>.*?(</a>|$)", "", msg, flags=re.S | re.I).strip()
                title = text.split("\n", 1)[0].strip()
                if title:
                    extra["title"] = title
        elif kind == TEXT and not msg.strip():
            kind = OTHER  # an empty text row: a sticker or emoji the exporter could not render
            extra["empty"] = True

        if pid:
            first = seen_pids.get(pid)
            if first is None:
                seen_pids[pid] = (line, text)
            elif first[1] == text:
                ctx.issue(line, f"duplicate of line {first[0]} (same MsgSvrID {pid} and text); stored once")
                continue
            else:
                ctx.issue(line, f"MsgSvrID {pid} was already used on line {first[0]} for another message; "
                                "kept with an id derived from its content")
                extra["MsgSvrID"] = pid
                pid = None
        yield ctx.message(chat=chat, time=time, sender=sender, sender_name=sender_name, kind=kind, text=text,
                          line=line, platform_id=pid, quote=quote, recalled=False,
                          chat_name=users.get(chat), extra=extra)
        if pid and kind not in (RECALL, SYSTEM):
            recent.append((chat, time, msg if kind != QUOTE else text, pid))
            if len(recent) > RECENT * 2:
                del recent[:RECENT]


def _find_quoted(recent, chat: str, when: str, quoted: str, ctx: ReadContext) -> str | None:
    """The MsgSvrID of the quoted message: same chat, same text, sent in the same minute as the quote says."""
    try:
        at = parse_time_or_epoch(when, ctx) if when.strip() else None
    except ValueError:
        at = None
    for r_chat, r_time, r_text, r_pid in reversed(recent):
        if r_chat != chat or r_text.strip() != quoted:
            continue
        # Excel re-saves drop the seconds of CreateTime, so compare to the minute.
        if at is None or abs((r_time.replace(second=0) - at.replace(second=0)).total_seconds()) <= 60:
            return r_pid
    return None


READER = Reader(name="pywxdump", label="PyWxDump CSV (WeChat 3.x, both layouts)", sniff=sniff, read=read,
                platform="wechat", auxiliary=("users.json",))
