"""WeFlow / EchoTrace exports (WeChat 4.x), JSON and TXT.

    JSON: {weflow:{…}, session:{wxid, nickname, remark, displayName, type: "群聊"|"私聊", …},
           messages:[{localId, createTime (s), formattedTime, type: "文本消息"|"引用消息"|…, localType, content,
                      isSend: 1|0|null, senderUsername, senderDisplayName, source, platformMessageId?,
                      replyToMessageId?, quotedSender?, quotedContent?}]}
          (EchoTrace writes the same without the `weflow` header)
    TXT:  `YYYY-MM-DD HH:MM:SS 'Sender'` then the content, a blank line; quotes `回复[引用 名：预览]`.

A JSON file cut off mid-way keeps every complete message before the cut and reports where it broke.
"""

from __future__ import annotations

import json
import re

from ..model import FILE, FORWARD, IMAGE, LINK, OTHER, PAT, QUOTE, RECALL, REDPACKET, SYSTEM, TEXT, VIDEO, VOICE, Quote
from .base import ReadContext, Reader, SourceFile, UnreadableFile, from_epoch, parse_time
from .wechat_common import (SELF, body_text, forward_records_plain, forward_text, json_array_items, kind_for_type,
                            timed_blocks,
                            kind_for_type_name, name_sender, recall_info)

TXT_HEADER_RE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}:\d{2}) '(.*)'\s*$")
TXT_PARTIAL_RE = re.compile(r"^\d{4}-\d{1,2}-?\d{0,2}")
_QUOTE_RE = re.compile(r"^(?P<reply>.*?)\s*\[引用 (?P<name>[^：:\]]*)[：:](?P<preview>.*)\]\s*$", re.S)
_URL_RE = re.compile(r"https?://[^\s\"'<>]+")
_PLACEHOLDER_RE = re.compile(r"^\[(图片|语音|视频|动画表情|表情|文件|链接|聊天记录|合并转发|红包|转账|拍一拍|位置|名片|"
                             r"小程序|视频号|语音通话|视频通话|通话)\](.*)$", re.S)
_PLACEHOLDER_KIND = {"图片": IMAGE, "动画表情": IMAGE, "表情": IMAGE, "语音": VOICE, "视频": VIDEO, "文件": FILE,
                     "链接": LINK, "小程序": LINK, "视频号": LINK, "聊天记录": FORWARD, "合并转发": FORWARD,
                     "红包": REDPACKET, "转账": REDPACKET, "拍一拍": PAT, "位置": OTHER, "名片": OTHER,
                     "语音通话": OTHER, "视频通话": OTHER, "通话": OTHER}


def sniff(src: SourceFile) -> bool:
    head = src.head()
    stripped = head.lstrip()
    if stripped.startswith("{"):
        return '"messages"' in head and ('"weflow"' in head or '"senderUsername"' in head
                                         or ('"session"' in head and '"localType"' in head))
    first = next((ln for ln in head.split("\n") if ln.strip()), "")
    return bool(TXT_HEADER_RE.match(first))


def read(src: SourceFile, ctx: ReadContext):
    if src.text.lstrip().startswith("{"):
        yield from _read_json(src, ctx)
    else:
        yield from _read_txt(src, ctx)


def _system_kind(text: str) -> str:
    if "撤回了一条消息" in text:
        return RECALL
    if "拍了拍" in text:
        return PAT
    return SYSTEM


# -- JSON -----------------------------------------------------------------------------------------------

def _messages(src: SourceFile, ctx: ReadContext) -> tuple[dict, object]:
    """(session, iterator of (index, line, message, error)); salvages a file cut off mid-array."""
    text = src.text
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if data is not None and not (isinstance(data, dict) and isinstance(data.get("messages"), list)):
        raise UnreadableFile("expected a JSON object with a `messages` array (WeFlow/EchoTrace JSON)")
    session = data.get("session") if data is not None else None
    if session is None:
        sm = re.search(r'"session"\s*:\s*\{', text)
        try:
            session = json.JSONDecoder().raw_decode(text, sm.end() - 1)[0] if sm else {}
        except json.JSONDecodeError:
            session = {}
    # Items are decoded one by one from the text so that each has its line (and a cut-off file keeps its head).
    mm = re.search(r'"messages"\s*:\s*\[', text)
    if not mm:
        raise UnreadableFile("invalid JSON and no `messages` array found (WeFlow/EchoTrace JSON)")
    return session if isinstance(session, dict) else {}, json_array_items(text, mm.end() - 1)


def _read_json(src: SourceFile, ctx: ReadContext):
    session, items = _messages(src, ctx)
    chat = str(session.get("wxid") or src.stem)
    chat_name = str(session.get("remark") or session.get("displayName") or session.get("nickname") or "") or None
    for index, line, obj, error in items:
        if error:
            ctx.issue(line, error)
            continue
        if not isinstance(obj, dict):
            ctx.issue(line, f"message #{index}: expected an object, got {type(obj).__name__}")
            continue
        try:
            if obj.get("createTime") not in (None, ""):
                time = from_epoch(float(obj["createTime"]), ctx.tz)
            else:
                time = parse_time(str(obj.get("formattedTime") or ""), ctx.tz)
        except (ValueError, OverflowError, TypeError) as e:
            ctx.issue(line, f"message #{index}: expected createTime (epoch seconds) or formattedTime ({e})")
            continue
        type_name = str(obj.get("type") or "")
        try:
            local_type = int(obj.get("localType") or 0)
        except (TypeError, ValueError):
            local_type = 0
        content = str(obj.get("content") or "")
        kind = kind_for_type_name(type_name) if type_name else kind_for_type(local_type, 0, content)
        username = str(obj.get("senderUsername") or "")
        is_send = obj.get("isSend")
        name = str(obj.get("senderDisplayName") or ctx.names.get(username) or username)
        if not username:
            if is_send == 1:
                username, name = SELF, name or "我"
            else:
                username, name = "system", name or "系统消息"
                if kind in (TEXT, SYSTEM):
                    kind = _system_kind(content)
        extra: dict = {"type": type_name or str(local_type)}
        if obj.get("localId") not in (None, ""):
            extra["localId"] = obj["localId"]
        text, quote = content, None
        if kind == QUOTE or obj.get("quotedContent") or obj.get("replyToMessageId"):
            m = _QUOTE_RE.match(content)
            if m:
                text = m.group("reply")
            kind = QUOTE
            quote = Quote(platform_id=str(obj["replyToMessageId"]) if obj.get("replyToMessageId") else None,
                          sender_name=str(obj.get("quotedSender") or (m and m.group("name")) or "") or None,
                          text=str(obj.get("quotedContent") or (m and m.group("preview")) or "") or None)
        elif kind == RECALL:
            text, target = recall_info(content)
            if target:
                extra["recalls"] = target
        elif kind == FORWARD:
            records = obj.get("chatRecordList") or obj.get("records")
            extra["forward"] = [
                {"time": str(r.get("time") or r.get("sourcetime") or ""),
                 "name": str(r.get("name") or r.get("sourcename") or r.get("senderDisplayName") or ""),
                 "text": str(r.get("text") or r.get("datadesc") or r.get("content") or "")}
                for r in records if isinstance(r, dict)] if isinstance(records, list) else _text_records(content)
            title = content.split("\n", 1)[0].strip()
            if title:
                extra["title"] = title
            text = forward_text(title, extra["forward"]) if extra["forward"] else content
        elif kind in (IMAGE, VIDEO, VOICE, FILE, REDPACKET, OTHER):
            pm = _PLACEHOLDER_RE.match(content.strip())
            if pm:  # "[图片]" is not something anyone wrote
                extra["placeholder"], text = pm.group(1), pm.group(2).strip()
        elif kind == LINK:
            url = _URL_RE.search(content)
            if url:
                extra["url"] = url.group(0)
        if kind == TEXT and not text.strip():
            kind, extra["empty"] = OTHER, True
        pid = obj.get("platformMessageId")
        yield ctx.message(chat=chat, time=time, sender=username, sender_name=name, kind=kind, text=text,
                          platform_id=str(pid) if pid not in (None, "", 0, "0") else None, quote=quote,
                          chat_name=chat_name, extra=extra, line=line)


def _text_records(content: str) -> list[dict]:
    return forward_records_plain(content.split("\n")[1:])


# -- TXT ------------------------------------------------------------------------------------------------

def _read_txt(src: SourceFile, ctx: ReadContext):
    chat = src.stem
    for lineno, m, time, lines in timed_blocks(src, ctx, TXT_HEADER_RE, TXT_PARTIAL_RE,
                                               "YYYY-MM-DD HH:MM:SS 'Sender'"):
        name = m.group(2).strip()
        body = body_text(lines)
        extra: dict = {}
        quote = None
        text = body
        if not name or name in ("系统消息", "系统"):
            yield ctx.message(chat=chat, time=time, sender="system", sender_name="系统消息",
                              kind=_system_kind(body), text=body.strip(), line=lineno)
            continue
        qm = _QUOTE_RE.match(body)
        pm = _PLACEHOLDER_RE.match(body.strip())
        if qm:
            kind, text = QUOTE, qm.group("reply")
            quote = Quote(sender_name=qm.group("name").strip() or None, text=qm.group("preview").strip() or None)
        elif pm:
            kind = _PLACEHOLDER_KIND[pm.group(1)]
            extra["placeholder"] = pm.group(1)
            text = pm.group(2).strip()
            if kind == FORWARD:
                extra["forward"] = _text_records(body)
                text = forward_text(text or pm.group(1), extra["forward"])
            url = _URL_RE.search(body)
            if url and kind == LINK:
                extra["url"] = url.group(0)
        elif "撤回了一条消息" in body and len(body) < 60:
            kind = RECALL
        else:
            kind = TEXT if body.strip() else OTHER
            if kind == OTHER:
                extra["empty"] = True
        yield ctx.message(chat=chat, time=time, sender=name_sender(name), sender_name=name, kind=kind, text=text,
                          line=lineno, quote=quote, extra=extra)


READER = Reader(name="weflow", label="WeFlow/EchoTrace (JSON, TXT)", sniff=sniff, read=read, platform="wechat")
