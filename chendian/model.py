"""The data model every stage shares: plain dataclasses, no behaviour beyond identity and their JSON form."""

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


def conversation_id(chat: str, first_message_id: str) -> str:
    """A conversation's id: its first message's (the thread stage's threads, extract's fallback conversations)."""
    return stable_id(chat, first_message_id, prefix="t")


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


# -- what the stages make of messages (one record per table row; JSON columns are lists and records here) --

@dataclass(slots=True)
class Thread:
    """A conversation, as the thread stage stores it (`threads`)."""

    id: str
    chat: str
    first_ts: int
    last_ts: int
    size: int  # messages linked into it, recalled ones and notices included
    root_id: str


@dataclass(slots=True)
class Topic:
    """A cluster of conversations, as the topics stage stores it (`topics`)."""

    id: str
    label: str
    keywords: list[str] = field(default_factory=list)
    size: int = 0  # conversations


@dataclass(slots=True)
class Answer:
    """One person's answer to a question: their consecutive messages after it, merged."""

    message_ids: list[str]
    sender: str
    sender_name: str
    text: str
    score: float
    acknowledged: bool = False  # the asker said it helped

    def to_json(self) -> dict:
        return {"message_ids": self.message_ids, "sender": self.sender, "sender_name": self.sender_name,
                "text": self.text, "score": round(self.score, 3), "acknowledged": self.acknowledged}

    @classmethod
    def from_json(cls, value: dict) -> Answer:
        """Lenient: a stored answer missing a field reads as empty rather than failing the run."""
        ids = value.get("message_ids")
        text = value.get("text")
        return cls(message_ids=[str(m) for m in ids] if isinstance(ids, list) else [],
                   sender=str(value.get("sender") or ""), sender_name=str(value.get("sender_name") or ""),
                   text=text if isinstance(text, str) else "", score=float(value.get("score") or 0),
                   acknowledged=bool(value.get("acknowledged")))


@dataclass(slots=True)
class QA:
    """A question and the answers it got, as the extract stage stores it (`qas`)."""

    id: str
    chat: str
    thread_id: str | None
    question_id: str  # the question's first message
    question: str
    asker: str
    asker_name: str
    ts: int
    answers: list[Answer] = field(default_factory=list)  # best first
    score: float = 0.0
    # Extraction's working detail, not stored: read back from the store these are empty.
    question_ids: list[str] = field(default_factory=list)  # the asker's messages that make up the question
    answer_to: dict[str, str] = field(default_factory=dict)  # answer message id → question message it answers


@dataclass(slots=True)
class FaqAnswer:
    """One of an FAQ entry's best answers, with the question it answered."""

    answer: Answer
    qa_id: str
    thread_id: str | None
    # How well the answer fits its question, 0..1 (faq.answer_fit): relatedness against chance, question-like
    # replies and acknowledgements. Multiplies the entry's confidence; 1.0 where it was never measured.
    fit: float = 1.0

    def to_json(self) -> dict:
        return self.answer.to_json() | {"qa_id": self.qa_id, "thread_id": self.thread_id, "fit": round(self.fit, 3)}

    @classmethod
    def from_json(cls, value: dict) -> FaqAnswer:
        fit = value.get("fit")
        return cls(Answer.from_json(value), str(value.get("qa_id") or ""), value.get("thread_id"),
                   float(fit) if isinstance(fit, (int, float)) else 1.0)


@dataclass(slots=True)
class Answerer:
    """Someone who answered an FAQ entry's questions, and how many of them."""

    sender: str
    name: str
    count: int

    def to_json(self) -> dict:
        return {"sender": self.sender, "name": self.name, "count": self.count}


@dataclass(slots=True)
class FaqEntry:
    """One question however often and however worded it was asked, as the faq stage stores it (`faq_entries`)."""

    id: str
    question: str
    answer: str
    count: int  # questions behind it
    qa_ids: list[str] = field(default_factory=list)  # oldest first
    thread_ids: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)  # its other wordings
    answers: list[FaqAnswer] = field(default_factory=list)  # the best, best first
    answerers: list[Answerer] = field(default_factory=list)  # most answers first
    topic_id: str | None = None
    first_ts: int | None = None
    last_ts: int | None = None
    answered: bool = False
    hidden: bool = False
    pinned: bool = False
    approved: bool = False
    worthy: float = 1.0  # P(worth an entry) of its most worthy wording
    confidence: float = 1.0  # P(worthy) × how sure its shown answer is; 1 when a person vouched for it
    published: bool = True  # shown on the site and in search under [faq] publish; else waiting for review

    def trust(self, min_confidence: float) -> str:
        """What a reader is told about the answer: confirmed (a person vouched for it, or the FAQ is sure of
        it), unconfirmed (held for review, or shown under publish = "all" without the confidence), or none."""
        if not self.answer.strip() or not self.answered:
            return "none"
        return "confirmed" if self.approved or self.confidence >= min_confidence else "unconfirmed"


@dataclass(slots=True)
class Contributor:
    """Who asked and answered, as the faq stage stores it (`contributors`)."""

    sender: str
    name: str
    questions: int = 0
    answers: int = 0
    acknowledged: int = 0  # answers the asker said helped
    topics: dict[str, int] = field(default_factory=dict)  # topic id → questions asked or answered, most first


@dataclass(slots=True)
class Talk:
    """One talk, as the talks stage stores it (`talks`, `talk_messages`)."""

    id: str
    chat: str
    day: str  # YYYY-MM-DD of its start, in the time zone the messages were read in
    start_ts: int
    end_ts: int
    speaker: str
    speaker_name: str
    title: str
    title_source: str  # announcement | opening | host | curated | none
    message_ids: list[str] = field(default_factory=list)  # the article: the speaker's messages (and ones moved in)
    roles: dict[str, str] = field(default_factory=dict)  # every message id in its window (and the announcement) → role
    qa_ids: list[str] = field(default_factory=list)  # its Q&A, oldest first
    evidence: list[str] = field(default_factory=list)  # the kinds of evidence it was detected on
    hidden: bool = False

    def left_out(self) -> dict[str, int]:
        """Messages in its window that the article leaves out, by role (sign-ins, stickers, side chatter …)."""
        out: dict[str, int] = {}
        for r in self.roles.values():
            if r not in ("talk", "announcement"):
                out[r] = out.get(r, 0) + 1
        return dict(sorted(out.items()))
