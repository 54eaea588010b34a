"""MemoTrace / WeChatMsg TXT exports, v1 and v2: a header line, the body, a blank line.

    v1: `2021-08-13 22:11:26 显示名` then the body; system messages are one line `2021-08-13 22:11:26 内容`;
        placeholders `[图片]`, links as a `[链接]:title:…` block, quotes `回复\\n引用:名:原文`.
    v2: `2025-01-02 09:15:00 显示名` then the body; system messages have a time-only header; placeholders
        `【图片】`, quotes `回复\\n引用：名: 原文`, merged forwards `【合并转发的聊天记录】\\n\\n- time name: text`.

There are no ids in these files: senders are `name:<显示名>`, the chat is the file name.
"""

from __future__ import annotations

import re

from ..model import OTHER, PAT, RECALL, SYSTEM, TEXT
from .base import ReadContext, Reader, SourceFile
from .memotrace import SYSTEM_SENDER, _chat_from_stem, _system_kind, interpret_text
from .wechat_common import body_text, name_sender, timed_blocks, unescape_name

HEADER_RE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}:\d{2})(?: (.*?))?\s*$")
PARTIAL_RE = re.compile(r"^\d{4}-\d{1,2}-?\d{0,2}")
_QQ_SENDER_RE = re.compile(r"\(\d{5,12}\)$|<[^<>@]+@[^<>]+>$")


def sniff(src: SourceFile) -> bool:
    head = src.head()
    lines = [ln for ln in head.split("\n") if ln.strip()]
    if not lines:
        return False
    m = HEADER_RE.match(lines[0])
    if not m or not re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:", lines[0]):
        return False
    name = (m.group(2) or "").strip()
    if name.startswith("'") and name.endswith("'") and len(name) > 1:
        return False  # WeFlow quotes the sender
    return not _QQ_SENDER_RE.search(name)


def read(src: SourceFile, ctx: ReadContext):
    chat = _chat_from_stem(src)
    for lineno, m, time, lines in timed_blocks(src, ctx, HEADER_RE, PARTIAL_RE, "YYYY-MM-DD HH:MM:SS 显示名"):
        name = (m.group(2) or "").strip()
        body = body_text(lines)
        if not name or not body.strip():
            # v2: a time-only header then the notice; v1: the notice on the header line itself.
            text = (body if not name else name).strip()
            kind = _system_kind(text)
            yield ctx.message(chat=chat, time=time, sender=SYSTEM_SENDER, sender_name="系统消息", kind=kind,
                              text=text, line=lineno, chat_name=chat)
            continue
        name = unescape_name(name)
        kind, text, quote, extra = interpret_text(body)
        if kind in (SYSTEM, RECALL, PAT):
            kind = _system_kind(text)
        if kind == TEXT and not text.strip():
            kind, extra["empty"] = OTHER, True
        yield ctx.message(chat=chat, time=time, sender=name_sender(name), sender_name=name, kind=kind, text=text,
                          line=lineno, quote=quote, chat_name=chat, extra=extra)


READER = Reader(name="memotrace-txt", label="MemoTrace/WeChatMsg TXT (v1 and v2)", sniff=sniff, read=read,
                platform="wechat")
