"""The data model every stage shares: plain dataclasses, no behaviour beyond identity."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Message kinds (DESIGN.md "Data model"). Readers map every platform type onto one of these.
TEXT = "text"
IMAGE = "image"
VOICE = "voice"
VIDEO = "video"
FILE = "file"
LINK = "link"
QUOTE = "quote"
FORWARD = "forward"
SYSTEM = "system"
RECALL = "recall"
REDPACKET = "redpacket"
PAT = "pat"
OTHER = "other"
KINDS = (TEXT, IMAGE, VOICE, VIDEO, FILE, LINK, QUOTE, FORWARD, SYSTEM, RECALL, REDPACKET, PAT, OTHER)
# Kinds whose text is something a person wrote (questions and answers can only come from these).
CONVERSATIONAL_KINDS = frozenset({TEXT, QUOTE, LINK, FORWARD})


def stable_id(*parts: str, prefix: str = "m") -> str:
    """A short, stable id derived from its parts (same parts → same id on every run and machine)."""
    h = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=10).hexdigest()
    return f"{prefix}{h}"


@dataclass(slots=True)
class Quote:
    """What a quoting message says about the message it quotes, before it is resolved to an id."""

    platform_id: str | None = None  # the quoted message's id on the platform, when the export has it
    sender_name: str | None = None  # the quoted sender's display name, when only that is known
    text: str | None = None  # the quoted text (often a prefix of the original)


@dataclass(slots=True)
class Message:
    id: str
    chat: str  # stable chat id (room id, group number, or the chat name when the export has nothing else)
    time: datetime  # timezone-aware
    sender: str  # stable sender id (wxid, QQ number, userid; "name:<display name>" when only a name exists)
    sender_name: str
    kind: str
    text: str
    source: str  # "file:line" (or "file#index" for record-oriented formats)
    platform_id: str | None = None
    reply_to: str | None = None  # resolved id of the quoted message
    quote: Quote | None = None  # unresolved quote information (kept for display and later resolution)
    mentions: list[str] = field(default_factory=list)  # display names (or ids) mentioned with @
    recalled: bool = False  # the sender withdrew it: kept for counts, never published
    chat_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # forward records, file names, urls, raw type …


def message_id(chat: str, platform_id: str | None, epoch: int, sender: str, text: str, ordinal: int) -> str:
    """DESIGN.md identity: chat + platform id, or chat + time + sender + text + ordinal when there is none.

    `epoch` is the instant in whole seconds, not its rendering: the same export read under another timezone
    setting keeps its ids.
    """
    if platform_id:
        return stable_id(chat, "pid", platform_id)
    return stable_id(chat, str(epoch), sender, text, str(ordinal))
