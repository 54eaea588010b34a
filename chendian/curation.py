"""Human curation: approve, reject, hide, edit, merge, split, pin — stored by stable entry id in `curation`.

People write this table (`chendian faq …`, `chendian review`, the review page under `chendian serve`); the faq
stage re-applies every action, in the order recorded, after every rebuild, so no run loses a human edit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .errors import ChendianError
from .model import RECALL, FaqEntry, Message

# approve/unapprove: reviewed and published whatever the confidence; reject: reviewed, not an FAQ entry (hidden
# and off the review queue); hide/unhide, pin/unpin; edit: new question and/or answer; merge, split.
CURATION_ACTIONS = ("approve", "unapprove", "reject", "hide", "unhide", "edit", "merge", "split", "pin", "unpin")
# Talks (chendian/summarize/talks.py), by talk id (k + 20 hex digits): a new title, a message moved into the article
# or out of it, hidden (a speaker asked that it stay inside the group) or shown again. The talks stage re-applies them.
TALK_ACTIONS = ("talk-title", "talk-add", "talk-remove", "talk-hide", "talk-unhide")


class CurationError(ChendianError, ValueError):
    pass


class UnknownEntry(CurationError):
    """The id is well formed, but no FAQ entry has it (yet)."""


class ConflictingDecision(CurationError):
    """Well formed, but impossible for these entries (merging an entry into itself)."""


def record_curation(ws, entry_id: str, action: str, value: str | dict | None = None) -> None:
    """Store one human curation action; the faq stage re-applies all of them, in order, on every run.

    approve/unapprove/hide/unhide/pin/unpin: no value. edit: {"question": …, "answer": …} (either).
    merge: value = the entry id that absorbs `entry_id`. split: value = the QA id (qas.id) to take out of
    `entry_id` into an entry of its own.
    """
    if action not in CURATION_ACTIONS:
        raise CurationError(f"unknown curation action {action!r}; actions are: {', '.join(CURATION_ACTIONS)}")
    if not re.fullmatch(r"f[0-9a-f]{20}", entry_id or ""):
        raise CurationError(f"{entry_id!r} is not a FAQ entry id (f + 20 hex digits)")
    if action == "edit":
        if not isinstance(value, dict) or not set(value) <= {"question", "answer"} or not value:
            raise CurationError('edit needs {"question": …} and/or {"answer": …}')
        value = json.dumps(value, ensure_ascii=False)
    elif action in ("merge", "split"):
        if not value or not isinstance(value, str):
            raise CurationError(f"{action} needs a value ({'target entry id' if action == 'merge' else 'QA id'})")
        if action == "merge" and value == entry_id:
            raise ConflictingDecision("cannot merge an entry into itself")
    elif value not in (None, ""):
        raise CurationError(f"{action} takes no value")
    exists = ws.db.execute("SELECT 1 FROM faq_entries WHERE id = ?", (entry_id,)).fetchone()
    if not exists:
        raise UnknownEntry(f"no FAQ entry {entry_id}; run the faq stage first or check the id")
    ws.db.execute("INSERT INTO curation (entry_id, action, value, at) VALUES (?, ?, ?, ?)",
                  (entry_id, action, value or "", datetime.now(timezone.utc).isoformat(timespec="seconds")))


def approve(ws, entry_id: str) -> None:
    record_curation(ws, entry_id, "approve")


def hide(ws, entry_id: str) -> None:
    record_curation(ws, entry_id, "hide")


def pin(ws, entry_id: str) -> None:
    record_curation(ws, entry_id, "pin")


def edit(ws, entry_id: str, question: str | None = None, answer: str | None = None) -> None:
    value = {k: v for k, v in (("question", question), ("answer", answer)) if v is not None}
    record_curation(ws, entry_id, "edit", value)


def merge(ws, source_id: str, target_id: str) -> None:
    record_curation(ws, source_id, "merge", target_id)


def reject(ws, entry_id: str) -> None:
    record_curation(ws, entry_id, "reject")


def split(ws, entry_id: str, qa_id: str) -> None:
    record_curation(ws, entry_id, "split", qa_id)


def record_talk_curation(ws, talk_id: str, action: str, value: str | None = None) -> None:
    """Store one decision about a talk. talk-title: the new title; talk-add/talk-remove: a message id of its chat;
    talk-hide/talk-unhide: no value."""
    if action not in TALK_ACTIONS:
        raise CurationError(f"unknown talk action {action!r}; actions are: {', '.join(TALK_ACTIONS)}")
    if not re.fullmatch(r"k[0-9a-f]{20}", talk_id or ""):
        raise CurationError(f"{talk_id!r} is not a talk id (k + 20 hex digits; `chendian talks` lists them)")
    row = ws.db.execute("SELECT chat FROM talks WHERE id = ?", (talk_id,)).fetchone()
    if row is None:
        raise UnknownEntry(f"no talk {talk_id}; run the talks stage first or check the id (`chendian talks`)")
    value = (value or "").strip()
    if action == "talk-title" and not value:
        raise CurationError("talk-title needs the new title")
    if action in ("talk-add", "talk-remove"):
        msg = ws.db.execute("SELECT chat FROM messages WHERE id = ?", (value,)).fetchone()
        if msg is None or msg[0] != row[0]:
            raise CurationError(f"{action} needs the id of a message in the talk's chat ({row[0]}); {value!r} is not one")
    elif action in ("talk-hide", "talk-unhide") and value:
        raise CurationError(f"{action} takes no value")
    ws.db.execute("INSERT INTO curation (entry_id, action, value, at) VALUES (?, ?, ?, ?)",
                  (talk_id, action, value, datetime.now(timezone.utc).isoformat(timespec="seconds")))


def curation_log(ws, *, talks: bool = False) -> list[dict]:
    """The FAQ's curation actions (or, with talks=True, the talks'), oldest first."""
    op = "IN" if talks else "NOT IN"
    marks = ", ".join("?" for _ in TALK_ACTIONS)
    return [dict(r) for r in ws.db.execute(
        f"SELECT rowid, entry_id, action, value, at FROM curation WHERE action {op} ({marks}) ORDER BY rowid",
        TALK_ACTIONS)]


# -- the review queue: what `[faq] publish` held back --------------------------------------------------------

@dataclass
class ReviewItem:
    """A held entry with its evidence: the messages around its (first) question, in its chat."""

    entry: FaqEntry
    question_id: str | None
    context: list[Message] = field(default_factory=list)


def review_queue(ws, limit: int | None = None, context: int = 2, entries=None) -> list[ReviewItem]:
    """Entries with an answer that are not published, hidden or approved yet, most confident first.
    `entries`: ws.faq_entries(include_hidden=False), when the caller has read them already."""
    if entries is None:
        entries = ws.faq_entries(include_hidden=False, warn=lambda _: None)
    held = [e for e in entries if e.answered and not e.published and not e.approved]
    held.sort(key=lambda e: (-e.confidence, -e.count, e.id))
    held = held[:limit] if limit else held
    # the first questions and the messages around them, each kind read in one query (a queue holds thousands)
    question_of = dict(ws.db.execute("SELECT id, question_id FROM qas WHERE id IN (SELECT value FROM json_each(?))",
                                     (json.dumps(sorted({e.qa_ids[0] for e in held if e.qa_ids})),)))
    qids = [question_of.get(e.qa_ids[0]) if e.qa_ids else None for e in held]
    around = ws.messages_around_each([q for q in qids if q], context, context)
    items = []
    for e, qid in zip(held, qids):
        items.append(ReviewItem(e, qid, [m for m in around.get(qid, []) if not m.recalled and m.kind != RECALL]
                                if qid else []))
    return items
