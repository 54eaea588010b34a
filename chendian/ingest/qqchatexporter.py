"""QQChatExporter (QQNT, shuakami/qq-chat-exporter) JSON, and its chunked JSONL variant.

Single file: `{metadata:{name:"QQChatExporter",version}, chatInfo:{name,type,selfUid,selfUin,peerUid,peerUin,…},
statistics, messages:[{id, seq, timestamp (ms), time, sender:{uid,uin,name,nickname,groupCard,remark,title},
type, content:{text, html, elements[{type,data}], resources[], mentions[{uid,name,type}]}, recalled, system}]}`.
Older V4 files name things `messageId`, `isRecalled`, `rawMessage.sendNickName`/`sendMemberName`.
Chunked: `manifest.json` (metadata, chatInfo, chunked.chunks[]) beside `chunks/c000001.jsonl`, one message per
line; each chunk is read on its own, with the chat taken from ../manifest.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

from ..model import FILE, FORWARD, IMAGE, LINK, OTHER, QUOTE, SYSTEM, TEXT, VIDEO, VOICE, Message, Quote
from .base import ReadContext, Reader, SourceFile, UnreadableFile, from_epoch, json_lines, parse_time

ELEMENT_KIND = {"image": IMAGE, "market_face": IMAGE, "marketface": IMAGE, "face": TEXT, "file": FILE,
                "video": VIDEO, "audio": VOICE, "voice": VOICE, "ptt": VOICE, "forward": FORWARD,
                "multiforward": FORWARD, "json": LINK, "ark": LINK, "xml": LINK, "location": OTHER}
PLACEHOLDER = {IMAGE: "[图片]", VIDEO: "[视频]", VOICE: "[语音]", FORWARD: "[聊天记录]", LINK: "[卡片]"}


def sniff(src: SourceFile) -> bool:
    head = src.head(4096).lstrip("\ufeff").lstrip()
    if head.startswith("{"):
        if re.search(r'"name"\s*:\s*"QQChatExporter', head):
            return True
        # A chunk line: one message object with QCE's sender/content shape.
        first = head.split("\n", 1)[0]
        return ('"sender"' in first and '"content"' in first and '"timestamp"' in first
                and re.search(r'"elements"\s*:', first) is not None)
    return False


def _sender(msg: dict) -> tuple[str, str, dict]:
    s = msg.get("sender") if isinstance(msg.get("sender"), dict) else {}
    raw = msg.get("rawMessage") if isinstance(msg.get("rawMessage"), dict) else {}
    uin = str(s.get("uin") or raw.get("senderUin") or "")
    uid = str(s.get("uid") or raw.get("senderUid") or "")
    name = (s.get("groupCard") or raw.get("sendMemberName") or s.get("remark") or s.get("name")
            or s.get("nickname") or raw.get("sendNickName") or raw.get("sendRemarkName") or uin or uid)
    extra = {}
    if s.get("title"):
        extra["title"] = s["title"]
    if uid and uin:
        extra["uid"] = uid
    sender = uin if uin and uin != "0" else (uid or f"name:{name}")
    return sender, str(name or sender), extra


def _data(el: dict) -> dict:
    d = el.get("data")
    return d if isinstance(d, dict) else {}


def _content(msg: dict) -> tuple[str, str, Quote | None, list[str], dict]:
    """(kind, text, quote, mentions, extra) from `content` (text, elements, mentions)."""
    content = msg.get("content") if isinstance(msg.get("content"), dict) else {}
    elements = [e for e in content.get("elements") or [] if isinstance(e, dict)]
    text = str(content.get("text") or "")
    kinds, quote, extra = [], None, {}
    mentions = [str(m.get("name")).lstrip("@") for m in content.get("mentions") or [] if isinstance(m, dict) and m.get("name")]
    for el in elements:
        t = str(el.get("type") or "").lower()
        d = _data(el)
        if t == "reply":
            pid = d.get("messageId") or d.get("replyMsgId") or d.get("msgId") or d.get("referencedMessageId")
            quote = Quote(platform_id=str(pid) if pid else None,
                          sender_name=d.get("senderName") or d.get("sender") or None,
                          text=d.get("content") or d.get("text") or None)
        elif t == "at":
            name = str(d.get("name") or d.get("text") or "").lstrip("@")
            if name and name not in mentions:
                mentions.append(name)
        elif t == "file":
            extra["name"] = d.get("filename") or d.get("fileName") or d.get("name")
            kinds.append(FILE)
        elif t in ELEMENT_KIND:
            kinds.append(ELEMENT_KIND[t])
    pieces = []
    for el in elements:
        t = str(el.get("type") or "").lower()
        d = _data(el)
        if t == "text":
            pieces.append(str(d.get("text") or ""))
        elif t == "at":
            pieces.append("@" + str(d.get("name") or d.get("text") or "").lstrip("@"))
        elif t == "face":
            pieces.append(str(d.get("text") or d.get("name") or "[表情]"))
    if pieces and quote is not None:
        text = "".join(pieces)  # content.text starts with a "[回复 …]" preview of the quoted message
    has_text = any(str(e.get("type")).lower() in ("text", "at", "face") for e in elements) or (not elements and text)
    if quote is not None:
        kind = QUOTE
    elif FILE in kinds:
        kind = FILE
    elif FORWARD in kinds:
        kind = FORWARD
    elif has_text or not kinds:
        kind = TEXT
    else:
        kind = kinds[0]
    if not text.strip():
        if kind == FILE and extra.get("name"):
            text = f"[文件] {extra['name']}"
        elif kind in PLACEHOLDER:
            text = PLACEHOLDER[kind]
    return kind, text, quote, mentions, {k: v for k, v in extra.items() if v}


def _time(msg: dict, ctx: ReadContext):
    ts = msg.get("timestamp") or (msg.get("rawMessage") or {}).get("msgTime")
    if ts not in (None, ""):
        return from_epoch(float(ts), ctx.tz)
    return parse_time(str(msg["time"]), ctx.tz)


def _messages(ctx: ReadContext, items: Iterable[tuple[int, object]], chat: str, chat_name: str,
              by_line: bool) -> Iterator[Message]:
    for where, msg in items:
        loc = f"line {where}" if by_line else f"messages[{where}]"
        if not isinstance(msg, dict):
            ctx.issue(where if by_line else None, f"{loc}: expected a message object")
            continue
        try:
            time = _time(msg, ctx)
        except (KeyError, TypeError, ValueError, OverflowError):
            ctx.issue(where if by_line else None, f"{loc}: expected timestamp (ms) or time")
            continue
        sender, name, extra = _sender(msg)
        kind, text, quote, mentions, more = _content(msg)
        extra.update(more)
        if msg.get("system") or str(msg.get("type", "")).lower() in ("system", "gray_tip", "graytip"):
            kind = SYSTEM
        recalled = bool(msg.get("recalled") or msg.get("isRecalled"))
        pid = msg.get("id") or msg.get("messageId") or msg.get("msgId")
        if msg.get("seq") not in (None, ""):
            extra["seq"] = str(msg["seq"])
        yield ctx.message(chat=chat, time=time, sender=sender, sender_name=name, kind=kind, text=text,
                          line=where if by_line else None, record=None if by_line else where,
                          platform_id=str(pid) if pid else None, quote=quote, mentions=mentions or None,
                          recalled=recalled, chat_name=chat_name, extra=extra)


def _chat(info: dict, fallback: str) -> tuple[str, str]:
    name = str(info.get("name") or fallback)
    peer = info.get("peerUin") or info.get("groupCode") or info.get("peerUid")
    ctype = str(info.get("type") or "")
    return (f"qq-{ctype}:{peer}" if peer and ctype else str(peer) if peer else name), name


def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    ctx.platform = "qq"
    text = src.text.lstrip("\ufeff")
    first = text.lstrip().split("\n", 1)[0]
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as e:
        whole = None
        try:
            chunk_line = isinstance(json.loads(first), dict)
        except json.JSONDecodeError:
            chunk_line = False
        if not chunk_line:
            raise UnreadableFile(f"line {e.lineno}: expected QQChatExporter JSON or chunk JSONL ({e.msg})") from None
    if isinstance(whole, dict) and isinstance(whole.get("messages"), list):
        chat, chat_name = _chat(whole.get("chatInfo") or {}, ctx.chat_name or src.stem)
        yield from _messages(ctx, enumerate(whole["messages"]), chat, chat_name, by_line=False)
        return
    if isinstance(whole, dict) and "chunked" in whole:
        raise UnreadableFile("this is a QQChatExporter manifest; import the export folder (chunks/*.jsonl)")
    # Chunked JSONL: the chat comes from the manifest one folder up.
    manifest = None
    raw = src.siblings("../manifest.json") or src.siblings("manifest.json")
    if raw:
        try:
            manifest = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            ctx.issue(None, "manifest.json beside the chunks is not JSON; chat name taken from the file name")
    info = (manifest or {}).get("chatInfo") or {}
    chat, chat_name = _chat(info, ctx.chat_name or src.stem)

    yield from _messages(ctx, json_lines(src, ctx, "one QQChatExporter message (JSON)"), chat, chat_name,
                         by_line=True)


READER = Reader(name="qqchatexporter", label="QQChatExporter (QQNT) JSON / chunked JSONL", sniff=sniff, read=read,
                platform="qq", auxiliary=("manifest.json",))
