"""Feishu / Lark chat history as the open platform returns it: saved pages of GET /open-apis/im/v1/messages
(获取会话历史消息), one page per file.

Written from the open platform's published reference for that endpoint and its message content structures
(open.feishu.cn / open.larkoffice.com, im-v1 message list and "接收消息内容"); no real export was at hand,
only the invented fixtures in tests/fixtures/formats/feishu.

    {"code": 0, "msg": "success",
     "data": {"has_more": true, "page_token": "…",
              "items": [{"message_id": "om_…", "root_id": "om_…", "parent_id": "om_…", "thread_id": "omt_…",
                         "msg_type": "text", "create_time": "1710205200000" (epoch ms, a string),
                         "update_time": "…", "deleted": false, "updated": false, "chat_id": "oc_…",
                         "sender": {"id": "ou_…", "id_type": "open_id", "sender_type": "user"|"app"|"system"},
                         "body": {"content": "{\\"text\\":\\"@_user_1 好的\\"}"  (a JSON string per msg_type)},
                         "mentions": [{"key": "@_user_1", "id": "ou_…", "name": "张三"}]}]}}

The `data` object on its own is read too. The API names no senders, only ids: names come from `--names`
(open_id → name), else from the pages' own @mentions of that id, else the id. `@_user_N` in a text is
replaced by the mentioned name. A recalled message (`deleted`) is kept as recalled; a reply quotes
`parent_id`. The chat is `chat_id` (use --chat-name for a readable name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from ..model import FILE, FORWARD, IMAGE, LINK, OTHER, REDPACKET, SYSTEM, TEXT, VIDEO, VOICE, Message, Quote
from .base import ReadContext, Reader, SourceFile, UnreadableFile, from_epoch, load_json

# msg_type → (kind, placeholder) for the types whose content is not words.
PLACEHOLDERS = {"image": (IMAGE, "[图片]"), "audio": (VOICE, "[语音]"), "media": (VIDEO, "[视频]"),
                "sticker": (IMAGE, "[表情]"), "share_chat": (LINK, "[群名片]"), "share_user": (OTHER, "[个人名片]"),
                "merge_forward": (FORWARD, "[聊天记录]"), "location": (OTHER, "[位置]"), "hongbao": (REDPACKET, "[红包]"),
                "share_calendar_event": (OTHER, "[日程]"), "calendar": (OTHER, "[日程]"), "video_chat": (OTHER, "[视频会议]"),
                "vote": (OTHER, "[投票]"), "todo": (OTHER, "[任务]"), "folder": (FILE, "[文件夹]")}
_MENTION_KEY_RE = re.compile(r"@_user_\d+|@_all")


def sniff(src: SourceFile) -> bool:
    head = src.head(8192).lstrip("\ufeff").lstrip()
    return (head.startswith("{") and '"items"' in head and '"msg_type"' in head and '"message_id"' in head
            and '"create_time"' in head)


def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    ctx.platform = "feishu"
    page = load_json(src, "a page of Feishu im/v1/messages JSON")
    data = page.get("data", page) if isinstance(page, dict) else None
    if isinstance(page, dict) and page.get("code") not in (None, 0):
        raise UnreadableFile(f"the saved response is an API error (code {page.get('code')}: {page.get('msg')}),"
                             " not a page of messages")
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise UnreadableFile('expected a page of Feishu im/v1/messages: {"data": {"items": [...]}}')
    items = data["items"]
    # Names the page itself gives: every @mention carries the mentioned person's id and name.
    mentioned = {str(m["id"]): str(m["name"]) for item in items if isinstance(item, dict)
                 for m in item.get("mentions") or [] if isinstance(m, dict) and m.get("id") and m.get("name")}
    for index, item in enumerate(items):
        message = _message(item, index, mentioned, ctx)
        if message is not None:
            yield message


def _message(item, index: int, mentioned: dict[str, str], ctx: ReadContext) -> Message | None:
    where = f"items[{index}]"
    if not isinstance(item, dict):
        ctx.issue(None, f"{where}: expected a message object; skipped")
        return None
    where = f"{where} ({item.get('message_id') or 'no message_id'})"
    try:
        time = from_epoch(float(item["create_time"]), ctx.tz)
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as e:
        detail = "missing" if isinstance(e, KeyError) else f"got {item.get('create_time')!r}"
        ctx.issue(None, f"{where}: expected create_time in epoch milliseconds like \"1710205200000\" ({detail});"
                        " message skipped")
        return None
    sender_info = item.get("sender") if isinstance(item.get("sender"), dict) else {}
    sender_type = str(sender_info.get("sender_type") or "")
    sender = str(sender_info.get("id") or "") or ("system" if sender_type == "system" else "")
    if not sender:
        ctx.issue(None, f"{where}: expected sender.id; message skipped")
        return None
    sender_name = ctx.names.get(sender) or mentioned.get(sender) or ("系统消息" if sender == "system" else sender)
    msg_type = str(item.get("msg_type") or "")
    body = item.get("body") if isinstance(item.get("body"), dict) else {}
    raw_content = body.get("content")
    try:
        content = json.loads(raw_content) if isinstance(raw_content, str) and raw_content.strip() else {}
    except json.JSONDecodeError:
        content = {"text": raw_content}  # some saved pages hold plain text here; keep what it says
    if not isinstance(content, dict):
        content = {}
    mentions = [str(m.get("name")) for m in item.get("mentions") or [] if isinstance(m, dict) and m.get("name")]
    kind, text, extra = _content(msg_type, content, item.get("mentions") or [])
    if sender_type == "system" and kind == TEXT:
        kind = SYSTEM
    if sender_type == "app":
        extra["bot"] = True
    if not text.strip():
        if item.get("deleted"):
            text = "[已撤回]"
        else:
            ctx.issue(None, f"{where}: a {msg_type or 'message'} without content; skipped")
            return None
    if item.get("thread_id"):
        extra["thread_id"] = str(item["thread_id"])
    if item.get("updated"):
        extra["edited"] = True
    parent = item.get("parent_id")
    return ctx.message(chat=str(item.get("chat_id") or ctx.src.stem), time=time, sender=sender,
                       sender_name=sender_name, kind=kind, text=text, record=index,
                       platform_id=str(item["message_id"]) if item.get("message_id") else None,
                       quote=Quote(platform_id=str(parent)) if parent else None, mentions=mentions,
                       recalled=bool(item.get("deleted")), extra=extra)


def _content(msg_type: str, content: dict, mentions: list) -> tuple[str, str, dict]:
    """(kind, text, extra) of a message body."""
    if msg_type == "text":
        return TEXT, _with_names(str(content.get("text") or ""), mentions), {}
    if msg_type == "post":
        return TEXT, _post_text(content), {}
    if msg_type == "file":
        name = str(content.get("file_name") or "")
        return FILE, f"[文件] {name}".rstrip(), ({"name": name} if name else {})
    if msg_type == "interactive":
        header = content.get("header") if isinstance(content.get("header"), dict) else {}
        header_title = header.get("title") if isinstance(header.get("title"), dict) else {}
        title = content.get("title") or header_title.get("content") or ""
        return LINK, f"[卡片] {title or ''}".rstrip(), {}
    if msg_type == "system":
        return SYSTEM, _system_text(content), {}
    if msg_type in PLACEHOLDERS:
        kind, shown = PLACEHOLDERS[msg_type]
        name = content.get("file_name")
        return kind, f"{shown} {name}" if name else shown, {}
    return OTHER, f"[{msg_type or '未知消息'}]", {"msg_type": msg_type}


def _with_names(text: str, mentions: list) -> str:
    names = {str(m.get("key")): str(m.get("name")) for m in mentions if isinstance(m, dict) and m.get("key")}
    return _MENTION_KEY_RE.sub(lambda k: "@" + (names.get(k.group(0)) or ("所有人" if k.group(0) == "@_all"
                                                                          else k.group(0)[1:])), text)


def _post_text(content: dict) -> str:
    """A rich-text post's title and paragraphs as plain text (a post may be keyed by language: zh_cn, en_us)."""
    if "content" not in content:
        content = next((v for v in content.values() if isinstance(v, dict) and "content" in v), content)
    lines = [str(content["title"])] if content.get("title") else []
    for paragraph in content.get("content") or []:
        parts = []
        for element in paragraph if isinstance(paragraph, list) else []:
            if not isinstance(element, dict):
                continue
            tag = element.get("tag")
            if tag in ("text", "a", "md", "code_block"):
                parts.append(str(element.get("text") or ""))
            elif tag == "at":
                parts.append("@" + str(element.get("user_name") or element.get("user_id") or ""))
            elif tag == "img":
                parts.append("[图片]")
            elif tag == "media":
                parts.append("[视频]")
            elif tag == "emotion":
                parts.append(f"[{element.get('emoji_type') or '表情'}]")
        lines.append("".join(parts))
    return "\n".join(lines).strip()


def _system_text(content: dict) -> str:
    """A system message's template ("{from_user} invited {to_chatters} to this chat.") filled with its names."""
    template = str(content.get("template") or "")

    def names(key: str) -> str:
        value = content.get(key)
        return "、".join(str(v) for v in value) if isinstance(value, list) else str(value or "")

    return re.sub(r"\{(\w+)\}", lambda k: names(k.group(1)), template).strip()


READER = Reader(name="feishu", label="Feishu/Lark im/v1/messages JSON pages", sniff=sniff, read=read,
                platform="feishu")
