"""WeCom 会话内容存档 (message archive): the decrypted JSON messages of the Finance SDK's GetChatData.

One JSON object per line (or one JSON array of them):

    {"msgid":"…","action":"send","from":"zhangsan","tolist":["lisi"],"roomid":"wrXXXX","msgtime":1603876045165,
     "msgtype":"text","text":{"content":"@李四 报销单在哪里提交？"}}

`action` is send, recall (body `revoke.pre_msgid` names the withdrawn message) or switch (a user switched
enterprise: an event, not a message). `msgtime` is UTC milliseconds. The body sits under the type's key,
except docmsg (`doc`), markdown/news (`info`) and external_redpacket (`redpacket`). There are no names: senders
are userids or external ids (wm…/wo…), so names come from the --names mapping file. Resellers flatten records
(`tolist` as a string, `msgtime` as a string, every type key present with null, bodies as JSON strings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from ..model import (FILE, FORWARD, IMAGE, LINK, OTHER, RECALL, REDPACKET, SYSTEM, TEXT, VIDEO, VOICE,
                     Message)
from .base import ReadContext, Reader, SourceFile, UnreadableFile, from_epoch, json_lines

_KEYS_RE = re.compile(r'"msgid"\s*:')
_TIME_RE = re.compile(r'"msgtime"\s*:|"action"\s*:\s*"switch"')

# msgtype → the key its body is stored under, when it is not the type's own name.
BODY_KEY = {"docmsg": "doc", "markdown": "info", "news": "info", "external_redpacket": "redpacket",
            "revoke": "revoke"}


def sniff(src: SourceFile) -> bool:
    head = src.head(4096).lstrip("\ufeff").lstrip()
    if not head.startswith(("{", "[")):
        return False
    return bool(_KEYS_RE.search(head) and _TIME_RE.search(head))


def _records(src: SourceFile, ctx: ReadContext) -> Iterator[tuple[int, object]]:
    """(line or index, parsed record) for JSON lines or one JSON array; unparseable lines are reported."""
    text = src.text.lstrip("\ufeff")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UnreadableFile(f"line {e.lineno}: expected a JSON array of WeCom archive messages ({e.msg})") from None
        if not isinstance(data, list):
            raise UnreadableFile("expected a JSON array of WeCom archive messages")
        yield from enumerate(data)
        return
    yield from json_lines(src, ctx, "one WeCom archive message (JSON)")


def _body(obj: dict, msgtype: str) -> dict:
    body = obj.get(BODY_KEY.get(msgtype, msgtype))
    if body is None and msgtype not in BODY_KEY:
        body = obj.get("content")  # some resellers put every body under "content"
    if isinstance(body, str):  # flattened: the body as a JSON string
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            body = {"content": body}
    return body if isinstance(body, dict) else {}


def _tolist(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    if isinstance(value, str) and value.strip():
        v = value.strip()
        if v.startswith("["):
            try:
                return [str(x) for x in json.loads(v)]
            except json.JSONDecodeError:
                pass
        return [x.strip() for x in re.split(r"[,;，\s]+", v.strip("[]")) if x.strip()]
    return []


def _seconds(n) -> str:
    try:
        return f" {int(n)}秒" if n not in (None, "") else ""
    except (TypeError, ValueError):
        return ""


def _item_text(item: dict) -> str:
    """The readable text of one chatrecord / mixed item (its `content` is a JSON string)."""
    kind = str(item.get("type", ""))
    content = item.get("content")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except json.JSONDecodeError:
            return content
    if not isinstance(content, dict):
        return ""
    short = kind.removeprefix("ChatRecord").lower()
    if "content" in content and isinstance(content["content"], str):
        return content["content"]
    return render(short, content)[1]


def render(msgtype: str, body: dict) -> tuple[str, str, dict]:
    """(kind, readable text, extra) for a message type and its body."""
    t = msgtype
    g = body.get
    if t in ("text", "markdown"):
        return TEXT, str(g("content") or ""), {}
    if t == "image":
        return IMAGE, "[图片]", {}
    if t == "emotion":
        return IMAGE, "[表情]", {}
    if t == "voice":
        return VOICE, "[语音]" + _seconds(g("play_length")), {}
    if t == "video":
        return VIDEO, "[视频]" + _seconds(g("play_length")), {}
    if t in ("file", "voip_doc_share"):
        name = str(g("filename") or "")
        ext = str(g("fileext") or "")
        if ext and name and not name.lower().endswith("." + ext.lower()):
            name = f"{name}.{ext}"
        extra = {"name": name}
        if g("filesize"):
            extra["size"] = g("filesize")
        return FILE, f"[文件] {name}".rstrip(), extra
    if t == "link":
        url = str(g("link_url") or "")
        lines = [f"[链接] {g('title') or ''}".rstrip(), str(g("description") or ""), url]
        return LINK, "\n".join(x for x in lines if x), {"url": url} if url else {}
    if t == "weapp":
        name = g("displayname") or g("username") or ""
        lines = [f"[小程序] {name}".rstrip(), str(g("title") or ""), str(g("description") or "")]
        return LINK, "\n".join(x for x in lines if x), {}
    if t == "docmsg":
        url = str(g("link_url") or "")
        return LINK, f"[文档] {g('title') or ''}".rstrip() + (f"\n{url}" if url else ""), {"url": url} if url else {}
    if t == "news":
        items = g("item") or []
        parts, urls = [], []
        for it in items if isinstance(items, list) else []:
            if isinstance(it, dict):
                parts.append(" ".join(str(x) for x in (it.get("title"), it.get("description")) if x).strip())
                if it.get("url"):
                    urls.append(str(it["url"]))
        return LINK, "[图文] " + "\n".join(p for p in parts if p), {"urls": urls} if urls else {}
    if t in ("redpacket", "external_redpacket"):
        return REDPACKET, f"[红包] {g('wish') or ''}".rstrip(), {}
    if t == "card":
        return OTHER, f"[名片] {g('corpname') or ''} {g('userid') or ''}".strip(), {}
    if t == "location":
        return OTHER, f"[位置] {g('title') or ''} {g('address') or ''}".strip(), {}
    if t == "todo":
        return TEXT, f"[待办] {g('title') or ''}\n{g('content') or ''}".strip(), {}
    if t == "vote":
        return OTHER, f"[投票] {g('votetitle') or ''}".strip(), {}
    if t == "collect":
        return OTHER, f"[填表] {g('title') or ''}".strip(), {}
    if t == "meeting":
        return OTHER, f"[会议] {g('topic') or ''}".strip(), {}
    if t == "calendar":
        return OTHER, f"[日程] {g('title') or ''}".strip(), {}
    if t == "meeting_voice_call":
        return OTHER, "[音视频通话]", {}
    if t == "sphfeed":
        return LINK, f"[视频号] {g('sph_name') or ''} {g('feed_desc') or ''}".strip(), {}
    if t in ("agree", "disagree"):
        return SYSTEM, "[同意会话存档]" if t == "agree" else "[不同意会话存档]", {}
    if t == "chatrecord":
        items = [i for i in (g("item") or []) if isinstance(i, dict)]
        records = [{"type": i.get("type"), "time": i.get("msgtime"), "text": _item_text(i),
                    "from_chatroom": i.get("from_chatroom")} for i in items]
        lines = [f"[聊天记录] {g('title') or ''}".rstrip()] + [r["text"] for r in records if r["text"]]
        return FORWARD, "\n".join(lines), {"forward": records}
    if t == "mixed":
        items = [i for i in (g("item") or []) if isinstance(i, dict)]
        parts = []
        for i in items:
            content = i.get("content")
            if isinstance(content, str):
                try:
                    content = json.loads(content)
                except json.JSONDecodeError:
                    content = {"content": content}
            parts.append(render(str(i.get("type", "")), content if isinstance(content, dict) else {})[1])
        return TEXT, "\n".join(p for p in parts if p), {}
    return OTHER, f"[{t}]", {}


def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    ctx.platform = "wecom"
    names = ctx.names
    any_record = False
    is_array = src.text.lstrip("\ufeff").lstrip().startswith("[")
    def issue(where: int, what: str) -> None:
        # JSON lines: the line number; an array: the record's index, said in words.
        ctx.issue(None, f"record [{where}]: {what}") if is_array else ctx.issue(where, what)

    for where, obj in _records(src, ctx):
        if not isinstance(obj, dict):
            issue(where, f"expected a JSON object (a WeCom archive message), got {type(obj).__name__}")
            continue
        if "decrypt_chat_msg" in obj and isinstance(obj["decrypt_chat_msg"], (dict, str)):
            # some tools wrap the decrypted message with its seq
            inner = obj["decrypt_chat_msg"]
            inner = json.loads(inner) if isinstance(inner, str) else inner
            inner.setdefault("seq", obj.get("seq"))
            obj = inner
        if "msgid" not in obj:
            issue(where, "expected a WeCom archive message with msgid, action, from, msgtime, msgtype")
            continue
        any_record = True
        action = str(obj.get("action") or "send")
        if action == "switch":
            ctx.event()
            continue
        sender = str(obj.get("from") or "")
        msgtype = str(obj.get("msgtype") or "")
        try:
            time = from_epoch(float(obj.get("msgtime")), ctx.tz)
        except (TypeError, ValueError, OverflowError):
            issue(where, f"expected msgtime in UTC milliseconds, got {obj.get('msgtime')!r}")
            continue
        if not sender or not msgtype:
            issue(where, "expected `from` and `msgtype` in a WeCom archive message")
            continue
        tolist = _tolist(obj.get("tolist"))
        room = str(obj.get("roomid") or "")
        if room:
            chat, chat_name = room, names.get(room, room)
        else:
            # 1:1 chat: the same id whichever side sent the message.
            pair = sorted({sender, *(tolist[:1] or [sender])})
            chat = "dm:" + "+".join(pair)
            chat_name = " & ".join(names.get(p, p) for p in pair)
        extra: dict = {}
        if obj.get("seq") not in (None, ""):
            extra["seq"] = obj["seq"]
        if action == "recall" or msgtype == "revoke":
            pre = _body(obj, "revoke").get("pre_msgid")
            kind, text = RECALL, f"{names.get(sender, sender)}撤回了一条消息"
            if pre:
                extra["recalls"] = str(pre)
        else:
            kind, text, more = render(msgtype, _body(obj, msgtype))
            extra.update(more)
            if kind == OTHER and text == f"[{msgtype}]":
                extra["msgtype"] = msgtype
        yield ctx.message(chat=chat, time=time, sender=sender, sender_name=names.get(sender, sender), kind=kind,
                          text=text, line=None if is_array else where,
                          record=where, platform_id=str(obj["msgid"]), chat_name=chat_name, extra=extra)
    if not any_record and ctx.issues:
        raise UnreadableFile("no line is a WeCom archive message (expected JSON with msgid, action, msgtime, msgtype)")


READER = Reader(name="wecom", label="WeCom 会话内容存档 (msgaudit JSON)", sniff=sniff, read=read, platform="wecom")
