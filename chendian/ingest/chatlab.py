"""ChatLab standard chat format (v0.0.1 / v0.0.2), JSON and JSONL: what ChatLab imports and WeFlow exports for
its platforms (WeChat, QQ, Discord, WhatsApp, …).

Written from ChatLab's published format description ("ChatLab 标准化格式规范 v0.0.2", docs/cn/chatlab-format.md
of the ChatLab docs); no real export was at hand, only the invented fixtures in tests/fixtures/formats/chatlab.

    JSON:  {chatlab{version, exportedAt, generator?}, meta{name, platform, type: group|private, groupId?,
            ownerId?}, members[{platformId, accountName, groupNickname?, roles[{id}]?}],
            messages[{sender (a platformId), accountName, groupNickname?, timestamp (epoch s), type (number),
                      content (string or null), platformMessageId?, replyToMessageId?}]}
    JSONL: the first line {"_type": "header", chatlab, meta}, then {"_type": "member", …} and
           {"_type": "message", …} lines; lines starting with `#` are comments.

Message types: 0 text, 1 image, 2 voice, 3 video, 4 file, 5 emoji, 7 link, 8 location, 20 red packet,
21 transfer, 22 poke, 23 call, 24 share, 25 reply, 26 forward, 27 contact, 80 system, 81 recall, 99 other.
The chat id is meta.groupId, else meta.name; a group nickname is the name shown, as in the chat itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..model import (FILE, FORWARD, IMAGE, LINK, OTHER, PAT, QUOTE, RECALL, REDPACKET, SYSTEM, TEXT, VIDEO, VOICE,
                     Message, Quote)
from .base import ReadContext, Reader, SourceFile, UnreadableFile, from_epoch, json_lines, load_json

KIND_BY_TYPE = {0: TEXT, 1: IMAGE, 2: VOICE, 3: VIDEO, 4: FILE, 5: IMAGE, 7: LINK, 8: OTHER, 20: REDPACKET,
                21: REDPACKET, 22: PAT, 23: OTHER, 24: LINK, 25: QUOTE, 26: FORWARD, 27: OTHER, 80: SYSTEM,
                81: RECALL, 99: OTHER}
# What a message without content shows (ChatLab allows content: null for anything but text).
PLACEHOLDER_BY_TYPE = {1: "[图片]", 2: "[语音]", 3: "[视频]", 4: "[文件]", 5: "[表情]", 7: "[链接]", 8: "[位置]",
                       20: "[红包]", 21: "[转账]", 22: "[拍一拍]", 23: "[通话]", 24: "[分享]", 26: "[聊天记录]",
                       27: "[名片]", 80: "[系统消息]", 81: "[撤回了一条消息]", 99: "[其他消息]"}
_HEADER_KEY_RE = re.compile(r'"chatlab"\s*:\s*\{')


def sniff(src: SourceFile) -> bool:
    head = src.head(8192).lstrip("\ufeff").lstrip()
    if not head.startswith("{") or not _HEADER_KEY_RE.search(head):
        return False
    first_line = head.split("\n", 1)[0]
    return '"messages"' in head or '"_type"' in first_line


def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    head = src.head(8192).lstrip("\ufeff").lstrip()
    if '"_type"' in head.split("\n", 1)[0]:
        yield from _read_jsonl(src, ctx)
    else:
        yield from _read_json(src, ctx)


def _read_json(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    data = load_json(src, "a ChatLab JSON export")
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise UnreadableFile("expected a ChatLab JSON export: an object with chatlab, meta and messages[]")
    chat, chat_name = _chat(data.get("meta"), src, ctx)
    members = _members(data.get("members"))
    for index, record in enumerate(data["messages"]):
        message = _message(record, f"messages[{index}]", chat, chat_name, members, ctx, record=index)
        if message is not None:
            yield message


def _read_jsonl(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    chat = chat_name = None
    members: dict[str, dict] = {}
    for lineno, record in json_lines(src, ctx, "a ChatLab JSON object", comments="#"):
        row_type = record.get("_type") if isinstance(record, dict) else None
        if row_type == "header":
            chat, chat_name = _chat(record.get("meta"), src, ctx)
        elif chat is None:
            raise UnreadableFile(f"line {lineno}: expected the ChatLab header line "
                                 '{"_type": "header", "chatlab": …, "meta": …} first')
        elif row_type == "member":
            members.update(_members([record]))
        elif row_type == "message":
            message = _message(record, f"line {lineno}", chat, chat_name, members, ctx, line=lineno)
            if message is not None:
                yield message
        else:
            ctx.issue(lineno, f"expected _type header, member or message, got {row_type!r}; line skipped")


def _chat(meta, src: SourceFile, ctx: ReadContext) -> tuple[str, str]:
    meta = meta if isinstance(meta, dict) else {}
    platform = str(meta.get("platform") or "")
    ctx.platform = platform if platform and platform != "mixed" else "chatlab"
    name = str(meta.get("name") or src.stem)
    return str(meta.get("groupId") or name), name


def _members(rows) -> dict[str, dict]:
    return {str(m["platformId"]): m for m in rows or [] if isinstance(m, dict) and m.get("platformId") is not None}


def _message(raw, where: str, chat: str, chat_name: str, members: dict[str, dict], ctx: ReadContext, *,
             line: int | None = None, record: int | None = None) -> Message | None:
    if not isinstance(raw, dict):
        ctx.issue(line, f"{where}: expected a message object; skipped")
        return None
    timestamp = raw.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        ctx.issue(line, f"{where}: expected timestamp as epoch seconds, got {timestamp!r}; message skipped")
        return None
    sender = raw.get("sender")
    if sender is None or str(sender) == "":
        ctx.issue(line, f"{where}: expected sender (a member's platformId); message skipped")
        return None
    sender = str(sender)
    member = members.get(sender, {})
    # The group nickname, as the chat itself shows people; the message's own names are those at send time.
    sender_name = str(raw.get("groupNickname") or member.get("groupNickname") or raw.get("accountName")
                      or member.get("accountName") or sender)
    message_type = raw.get("type", 0)
    if isinstance(message_type, bool) or not isinstance(message_type, int):
        ctx.issue(line, f"{where}: expected type as a number (0 text, 1 image, …), got {message_type!r}; skipped")
        return None
    kind = KIND_BY_TYPE.get(message_type, OTHER)
    content = raw.get("content")
    text = content if isinstance(content, str) else ""
    if not text.strip():
        if kind == TEXT:
            ctx.issue(line, f"{where}: a text message without content; skipped")
            return None
        text = PLACEHOLDER_BY_TYPE.get(message_type, f"[类型 {message_type}]")
    extra: dict = {}
    if message_type not in KIND_BY_TYPE:
        extra["type"] = message_type
    roles = [str(r.get("id")) for r in member.get("roles") or [] if isinstance(r, dict) and r.get("id")]
    if roles:
        extra["roles"] = roles
    platform_id = raw.get("platformMessageId")
    reply_to = raw.get("replyToMessageId")
    quote = Quote(platform_id=str(reply_to)) if reply_to not in (None, "") else None
    if kind == QUOTE and quote is None:
        kind = TEXT  # a reply whose target the exporter did not keep reads as what it says
    if kind == RECALL and quote is not None:
        extra["recalls"] = quote.platform_id
        quote = None
    try:
        time = from_epoch(float(timestamp), ctx.tz)
    except (OverflowError, OSError, ValueError) as e:
        ctx.issue(line, f"{where}: timestamp {timestamp!r} is not a real time ({e}); message skipped")
        return None
    return ctx.message(chat=chat, time=time, sender=sender, sender_name=sender_name, kind=kind, text=text,
                       line=line, record=record, platform_id=str(platform_id) if platform_id not in (None, "") else None,
                       quote=quote, chat_name=chat_name, extra=extra)


READER = Reader(name="chatlab", label="ChatLab standard format (JSON, JSONL; WeFlow exports it)", sniff=sniff,
                read=read)
