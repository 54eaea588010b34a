"""Generic JSONL: one message object per line, so any other source can be fed in.

This is the chat gold format of DESIGN.md, plus optional fields:

    {"chat": "研发群", "id": "42", "time": "2024-03-01T09:30:00+08:00", "sender": "u1",
     "sender_name": "张三", "text": "报销怎么走？", "kind": "text", "reply_to": "41", "mentions": ["李四"]}

Required: `chat`, `time` (ISO 8601, offset optional; or epoch seconds/milliseconds), `sender`, `text`.
`id` and `reply_to` are the source's own message ids. Gold-only fields (thread, question, …) are kept in extra.
"""

from __future__ import annotations

import json

from ..model import KINDS, TEXT, Quote
from .base import ReadContext, Reader, SourceFile, from_epoch, json_lines, parse_time

REQUIRED = ("chat", "time", "sender", "text")
KNOWN = {"chat", "id", "time", "sender", "sender_name", "text", "kind", "reply_to", "mentions", "recalled"}


def sniff(src: SourceFile) -> bool:
    for line in src.head().split("\n")[:5]:
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return False
        return isinstance(obj, dict) and all(k in obj for k in REQUIRED)
    return False


def read(src: SourceFile, ctx: ReadContext):
    for lineno, obj in json_lines(src, ctx, "one JSON object"):
        if not isinstance(obj, dict):
            ctx.issue(lineno, f"expected a JSON object, got {type(obj).__name__}")
            continue
        missing = [k for k in REQUIRED if k not in obj or obj[k] is None or (obj[k] == "" and k != "text")]
        if missing:
            ctx.issue(lineno, f"missing required field(s): {', '.join(missing)}")
            continue
        try:
            t = obj["time"]
            time = from_epoch(float(t), ctx.tz) if isinstance(t, (int, float)) else parse_time(str(t), ctx.tz)
        except (ValueError, OverflowError) as e:
            ctx.issue(lineno, f"time: {e}")
            continue
        kind = obj.get("kind") or TEXT
        if kind not in KINDS:
            ctx.issue(lineno, f"kind {kind!r} is not one of {', '.join(KINDS)}; read as text")
            kind = TEXT
        chat = str(obj["chat"])
        sender = str(obj["sender"])
        extra = {k: v for k, v in obj.items() if k not in KNOWN} if len(obj) > 6 or not obj.keys() <= KNOWN else None
        reply = obj.get("reply_to")
        yield ctx.message(
            chat=chat, time=time, sender=sender, sender_name=str(obj.get("sender_name") or sender),
            kind=kind, text=str(obj["text"]), line=lineno,
            platform_id=str(obj["id"]) if obj.get("id") not in (None, "") else None,
            quote=Quote(platform_id=str(reply)) if reply not in (None, "") else None,
            mentions=obj.get("mentions") if isinstance(obj.get("mentions"), list) else None,
            recalled=bool(obj.get("recalled", False)), extra=extra,
        )


READER = Reader(name="jsonl", label="generic JSONL (chat gold format)", sniff=sniff, read=read, platform="generic")
