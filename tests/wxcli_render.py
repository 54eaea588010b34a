"""wx-cli's writers, transcribed from its source (src/cli/export.rs, src/daemon/query.rs @ 94fcc36), to write
fixtures and property-test inputs: JSON/YAML objects, markdown, txt and new-messages feeds of message dicts."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_time(timestamp: int, tz: ZoneInfo = SHANGHAI) -> str:
    return datetime.fromtimestamp(timestamp, tz).strftime("%Y-%m-%d %H:%M")


def message(timestamp: int, sender: str, content: str, type_: str = "文本", *, local_id: int | None = None,
            username: str = "", contact_display: str = "", group_nickname: str = "", url: str = "") -> dict:
    """One message as query_messages builds it (keys as serde_json sorts them)."""
    m = {"content": content, "sender": sender, "time": local_time(timestamp), "timestamp": timestamp, "type": type_}
    if local_id is not None:
        m["local_id"] = local_id
    if username:  # add_sender_identity: groups only, when the wxid resolves
        m.update(sender_username=username, sender_contact_display=contact_display or username,
                 sender_group_nickname=group_nickname)
    if url:
        m["url"] = url
    return m


def history(username: str, chat: str, is_group: bool, messages: list[dict], status: str = "ok") -> dict:
    """q_history's response: what `export --format json` and `history --json` print."""
    return {"chat": chat, "chat_type": "group" if is_group else "private", "count": len(messages),
            "is_group": is_group, "messages": messages,
            "meta": {"chat_latest_db": "message/message_0.db",
                     "chat_latest_timestamp": max((m["timestamp"] for m in messages), default=0),
                     "session_last_timestamp": max((m["timestamp"] for m in messages), default=0),
                     "shards_hit": 1, "shards_scanned": 2, "status": status, "unknown_shards": []},
            "username": username}


def feed(chats: list[tuple[str, str, bool, list[dict]]]) -> dict:
    """q_new_messages' response: every chat's messages in one list by timestamp, without local_id."""
    items = []
    for username, chat, is_group, messages in chats:
        for m in messages:
            item = {k: v for k, v in m.items() if k != "local_id"}
            item.update(chat=chat, username=username, is_group=is_group,
                        chat_type="group" if is_group else "private")
            items.append(item)
    items.sort(key=lambda m: m["timestamp"])
    state = {}
    for m in items:
        state[m["username"]] = m["timestamp"]
    return {"count": len(items), "messages": items,
            "meta": {"shards_hit": 1, "shards_scanned": 1, "status": "windowed", "unknown_shards": []},
            "new_state": state}


def to_json(value) -> str:
    """serde_json::to_string_pretty without preserve_order: 2-space indent, sorted keys, raw UTF-8."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def to_markdown(data: dict) -> str:
    lines = [f"# {data['chat']}{'（群聊）' if data['is_group'] else ''}", f"\n> 导出 {len(data['messages'])} 条消息\n"]
    for m in data["messages"]:
        sender_md = f"**{m['sender']}**: " if m["sender"] else ""
        lines.append(f"### {m['time']}\n\n{sender_md}{m['content'].replace(chr(10), chr(10) + '> ')}\n")
    return "\n".join(lines)


def to_txt(data: dict) -> str:
    lines = [f"=== {data['chat']}{'[群]' if data['is_group'] else ''} ({len(data['messages'])} 条) ===\n"]
    for m in data["messages"]:
        lines.append(f"[{m['time']}] {m['sender'] + ': ' if m['sender'] else ''}{m['content']}")
    return "\n".join(lines)
