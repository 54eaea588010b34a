"""Read a chat gold file (DESIGN.md "Gold formats") into Messages plus the gold labels.

    {"chat","id","time","sender","text", "thread"?, "reply_to"?, "question"?, "answer_to"?, "annotated"?}

The gold `reply_to` is a *label* (what a human says the line answers), not an explicit quote the platform
recorded, so it is never put into `Message.reply_to`: the pipeline must not see the answers. A line may carry
`quote_of` (an explicit platform quote) or `mentions` as input evidence; `kind` is honoured when present.
Message ids are the gold ids, so predictions can be written and re-scored with the gold's own ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from ..ingest.base import extract_mentions, from_epoch, parse_time
from ..model import KINDS, SYSTEM, TEXT, Message
from . import EvalError, json_lines


class GoldError(EvalError):
    """A gold file line that is not what DESIGN.md's chat gold format says."""


@dataclass(slots=True)
class GoldLabel:
    annotated: bool = True
    thread: str | None = None
    reply_to: str | None = None
    has_reply_to: bool = False  # the line says whether it replies (reply_to present, null = starts a conversation)
    question: bool | None = None
    answer_to: str | None = None
    has_answer_to: bool = False  # the line is labelled for answer linking (answer_to present, null = answers nothing)
    noise: bool | None = None


@dataclass
class GoldChat:
    """One chat of a gold file: its messages in file order and the labels by message id."""

    chat: str
    messages: list[Message] = field(default_factory=list)
    labels: dict[str, GoldLabel] = field(default_factory=dict)


# QQ's classic export writes senders as "name(QQ number)" or "name<email>": the display name is what @ uses.
_QQ_SENDER_RE = re.compile(r"^(.*?)\s*(?:\((\d{4,})\)|<([^<>@\s]+@[^<>\s]+)>)$")
# IRC logs (the Ubuntu corpus) mark join/part/nick lines as sender "system" with text "=== …".
_IRC_SYSTEM_RE = re.compile(r"^===\s")


def display_name(sender: str) -> str:
    m = _QQ_SENDER_RE.match(sender)
    if m and m.group(1):
        return m.group(1)
    return sender


def _opt_str(v) -> str | None:
    return None if v in (None, "") else str(v)


def read_gold(path: str | Path, tz: ZoneInfo | str = "Asia/Shanghai") -> list[GoldChat]:
    """Chats of a gold JSONL file, in order of first appearance. Raises GoldError naming file:line."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    p = Path(path)
    chats: dict[str, GoldChat] = {}
    seen_ids: set[str] = set()
    for lineno, obj in json_lines(p, 'a chat gold object {"chat","id","time","sender","text",…}', GoldError):
        where = f"{p}:{lineno}"
        missing = [k for k in ("chat", "id", "time", "sender", "text") if obj.get(k) is None]
        if missing:
            raise GoldError(f"{where}: missing required field(s) {', '.join(missing)}")
        mid = str(obj["id"])
        if mid in seen_ids:
            raise GoldError(f"{where}: duplicate id {mid!r}")
        seen_ids.add(mid)
        t = obj["time"]
        try:
            time = from_epoch(float(t), tz) if isinstance(t, (int, float)) else parse_time(str(t), tz)
        except (ValueError, OverflowError) as e:
            raise GoldError(f"{where}: time: {e}") from None
        sender = str(obj["sender"])
        text = str(obj["text"])
        kind = obj.get("kind") or TEXT
        if kind not in KINDS:
            raise GoldError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        if "kind" not in obj and sender == "system" and _IRC_SYSTEM_RE.match(text):
            kind = SYSTEM
        mentions = obj.get("mentions")
        if not isinstance(mentions, list):
            mentions = extract_mentions(text)
        chat = str(obj["chat"])
        msg = Message(id=mid, chat=chat, time=time, sender=sender,
                      sender_name=str(obj.get("sender_name") or display_name(sender)), kind=kind, text=text,
                      source=f"{p.name}:{lineno}", platform_id=mid, reply_to=_opt_str(obj.get("quote_of")),
                      mentions=[str(x) for x in mentions])
        gc = chats.setdefault(chat, GoldChat(chat))
        gc.messages.append(msg)
        annotated = obj.get("annotated", True)
        gc.labels[mid] = GoldLabel(
            annotated=bool(annotated) if annotated is not None else True,
            thread=_opt_str(obj.get("thread")), reply_to=_opt_str(obj.get("reply_to")),
            has_reply_to="reply_to" in obj,
            question=obj.get("question"), answer_to=_opt_str(obj.get("answer_to")),
            has_answer_to="answer_to" in obj, noise=obj.get("noise"))
    for gc in chats.values():  # the pipeline wants time order; stable, so equal times keep file order
        gc.messages.sort(key=lambda m: m.time.timestamp())
    return list(chats.values())
