"""Telegram Desktop "Export chat history" in Machine-readable JSON: result.json.

A single chat is `{name, type, id, messages[]}`; a full account export holds them under `chats.list[]` (and
`left_chats.list[]`). A message has `id, type (message|service), date` (local, no offset), `date_unixtime`
(UTC epoch seconds as a string), `from, from_id, reply_to_message_id, forwarded_from, photo, file,
media_type, text` (a string, or an array of strings and entity objects), `text_entities`; service messages
carry `action, actor, actor_id, members`. The HTML export (messages.html) is read by telegram_html.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from ..model import FILE, IMAGE, SYSTEM, TEXT, VIDEO, VOICE, Message, Quote
from .base import ReadContext, Reader, SourceFile, UnreadableFile, from_epoch, parse_time

MEDIA_KIND = {"voice_message": (VOICE, "[语音]"), "audio_file": (VOICE, "[音频]"), "video_file": (VIDEO, "[视频]"),
              "video_message": (VIDEO, "[视频]"), "animation": (VIDEO, "[动图]"), "sticker": (IMAGE, "[表情]")}
ACTION_TEXT = {"invite_members": "邀请 {members} 加入群聊", "remove_members": "将 {members} 移出群聊",
               "join_group_by_link": "通过链接加入群聊", "create_group": "创建群聊", "pin_message": "置顶了一条消息",
               "edit_group_title": "修改群名为 {title}"}


def sniff(src: SourceFile) -> bool:
    head = src.head(4096).lstrip("\ufeff").lstrip()
    if not head.startswith("{"):
        return False
    single = re.search(r'"type"\s*:\s*"(?:personal_chat|private_group|private_supergroup|public_supergroup|'
                       r'public_channel|private_channel|saved_messages|bot_chat|private_chat)"', head)
    full = '"chats"' in head and ('"about"' in head or '"personal_information"' in head)
    return bool((single and '"messages"' in head) or full)


def _plain(text) -> tuple[str, list[str], list[str]]:
    """(plain text, mentions, urls) of a `text` value: a string or a mixed array of strings and entities."""
    if isinstance(text, str):
        return text, [], []
    parts, mentions, urls = [], [], []
    for piece in text if isinstance(text, list) else []:
        if isinstance(piece, str):
            parts.append(piece)
        elif isinstance(piece, dict):
            t = str(piece.get("text", ""))
            parts.append(t)
            if piece.get("type") in ("mention", "mention_name"):
                name = t.lstrip("@")
                if name and name not in mentions:
                    mentions.append(name)
            elif piece.get("type") == "text_link" and piece.get("href"):
                urls.append(str(piece["href"]))
            elif piece.get("type") == "link":
                urls.append(t)
    return "".join(parts), mentions, urls


def _chats(data: dict) -> list[dict]:
    if isinstance(data.get("messages"), list):
        return [data]
    found = []
    for key in ("chats", "left_chats"):
        section = data.get(key)
        if isinstance(section, dict) and isinstance(section.get("list"), list):
            found.extend(c for c in section["list"] if isinstance(c, dict))
    return found


def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    ctx.platform = "telegram"
    text = src.text.lstrip("\ufeff")
    if text.lstrip().startswith("<"):
        raise UnreadableFile("this is Telegram Desktop's HTML export, not result.json; "
                             "use --format telegram-html (or let chendian sniff it)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UnreadableFile(f"line {e.lineno}: expected Telegram Desktop result.json ({e.msg})") from None
    if not isinstance(data, dict):
        raise UnreadableFile("expected Telegram Desktop result.json (a JSON object with messages or chats.list)")
    chats = _chats(data)
    if not chats:
        raise UnreadableFile("expected Telegram Desktop result.json: no `messages` and no `chats.list` found")
    for chat_index, chat in enumerate(chats):
        chat_id = str(chat.get("id") or chat.get("name") or f"chat{chat_index}")
        chat_name = str(chat.get("name") or chat_id)
        where = f"chats.list[{chat_index}]." if len(chats) > 1 or "messages" not in data else ""
        for index, msg in enumerate(chat.get("messages") or []):
            loc = f"{where}messages[{index}]"
            if not isinstance(msg, dict):
                ctx.issue(None, f"{loc}: expected a message object")
                continue
            try:
                if msg.get("date_unixtime"):
                    time = from_epoch(float(msg["date_unixtime"]), ctx.tz)
                else:
                    time = parse_time(str(msg["date"]), ctx.tz)
            except (KeyError, TypeError, ValueError, OverflowError):
                ctx.issue(None, f"{loc} (id {msg.get('id')}): expected date or date_unixtime")
                continue
            body, mentions, urls = _plain(msg.get("text", ""))
            extra: dict = {}
            if msg.get("type") == "service":
                sender = str(msg.get("actor_id") or "service")
                name = str(msg.get("actor") or "")
                action = str(msg.get("action") or "")
                members = "、".join(str(m) for m in msg.get("members") or [] if m)
                shown = ACTION_TEXT.get(action, action).format(members=members, title=msg.get("title", ""))
                kind, body = SYSTEM, (f"{name} {shown}".strip() if not body else body)
                extra["action"] = action
            else:
                sender = str(msg.get("from_id") or f"name:{msg.get('from') or ''}")
                name = str(msg.get("from") or msg.get("from_id") or "")
                kind = TEXT
                if msg.get("photo"):
                    kind, placeholder = IMAGE, "[图片]"
                elif msg.get("media_type") in MEDIA_KIND:
                    kind, placeholder = MEDIA_KIND[msg["media_type"]]
                    if msg.get("sticker_emoji"):
                        placeholder += f" {msg['sticker_emoji']}"
                elif msg.get("file"):
                    fname = msg.get("file_name") or str(msg["file"]).rsplit("/", 1)[-1]
                    kind, placeholder = FILE, f"[文件] {fname}"
                    extra["name"] = fname
                else:
                    placeholder = ""
                if placeholder:
                    body = f"{placeholder}\n{body}" if body else placeholder
                    if kind != FILE and body != placeholder:
                        kind = TEXT  # a captioned photo is mostly what the caption says
                if msg.get("forwarded_from"):
                    extra["forwarded_from"] = msg["forwarded_from"]
            if urls:
                extra["urls"] = urls
            reply = msg.get("reply_to_message_id")
            yield ctx.message(
                chat=chat_id, time=time, sender=sender, sender_name=name or sender, kind=kind, text=body,
                record=index, platform_id=str(msg["id"]) if msg.get("id") is not None else None,
                quote=Quote(platform_id=str(reply)) if reply is not None else None,
                mentions=mentions or None, chat_name=chat_name, extra=extra,
            )


READER = Reader(name="telegram", label="Telegram Desktop result.json", sniff=sniff, read=read, platform="telegram")
