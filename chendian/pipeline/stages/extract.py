"""The extract stage: questions and their answers inside each conversation, into `qas`.

A chat's questions depend on that chat alone: its messages, their conversations and reply links, and the
extractor. Each chat's inputs are fingerprinted, and only chats whose fingerprint changed since the last run
are extracted again (a company's quiet groups cost nothing on a night they were quiet); the result equals a
full recomputation (ids are stable). Messages the thread stage has not linked yet are split into
conversations by silence.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ...model import QA, Message
from ...store import Workspace
from ...summarize.qa import extract as extractor
from ...summarize.qa.extract import extract_qas, segment_conversations
from . import RunContext, Stage

STATE_KEY = "extract.chats"  # JSON: chat → the fingerprint its rows in `qas` were extracted from


def _extractor_fingerprint() -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for path in (Path(extractor.__file__), extractor.LINK_WEIGHTS_FILE):
        h.update(path.read_bytes())
    return h.digest()


def chat_fingerprints(ws: Workspace) -> dict[str, str]:
    """chat → a digest of everything its questions are made of (one pass over the rows, no extraction)."""
    base = _extractor_fingerprint()
    digests: dict[str, hashlib.blake2b] = {}
    rows = ws.db.execute(
        "SELECT m.chat, m.id, m.ts, m.kind, m.recalled, m.reply_to, m.sender, m.sender_name, m.text, m.mentions,"
        " mt.thread_id, mt.parent_id FROM messages m LEFT JOIN message_threads mt ON mt.message_id = m.id"
        " ORDER BY m.chat, m.ts, m.rowid")
    for row in rows:
        h = digests.get(row[0])
        if h is None:
            h = digests[row[0]] = hashlib.blake2b(base, digest_size=16)
        h.update(repr(tuple(row[1:])).encode("utf-8"))
    return {chat: h.hexdigest() for chat, h in digests.items()}


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    prints = chat_fingerprints(ws)
    try:
        previous = json.loads(ws.get_state(STATE_KEY) or "{}")
    except ValueError:
        previous = {}
    changed = sorted(c for c, fp in prints.items() if previous.get(c) != fp)
    gone = sorted(set(previous) - set(prints))
    qas = []
    if changed:
        thread_of, parent_of = ws.thread_links()
        if not thread_of:
            rc.warn("no thread stage output; conversations split by silence gaps instead")
        # Chats are the partitions (a chat's questions depend on that chat alone), written in chat order.
        jobs = ((chat, _chat_job(list(ws.messages(chat=chat)), thread_of, parent_of)) for chat in changed)
        for _, chat_qas in rc.map(extract_chat, jobs):
            qas.extend(chat_qas)
    with ws.transaction():
        if not previous:  # first run, or a workspace from before per-chat extraction: start clean
            ws.db.execute("DELETE FROM qas")
        for chat in [*changed, *gone]:
            ws.db.execute("DELETE FROM qas WHERE chat = ?", (chat,))
        ws.db.executemany("INSERT INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [qa_row(qa) for qa in qas])
    ws.set_state(STATE_KEY, json.dumps(prints, sort_keys=True))
    questions, answered, answers = 0, 0, 0
    for (stored,) in ws.db.execute("SELECT answers FROM qas"):
        n = len(json.loads(stored or "[]"))
        questions, answered, answers = questions + 1, answered + (n > 0), answers + n
    return {"questions": questions, "answered": answered, "answers": answers, "chats_extracted": len(changed),
            "chats_unchanged": len(prints) - len(changed)}


def _chat_job(messages: list[Message], thread_of: dict[str, str], parent_of: dict[str, str | None]) -> tuple:
    """One chat's messages with their conversations and reply links (silence splits where none is stored)."""
    threads = {m.id: thread_of[m.id] for m in messages if m.id in thread_of}
    missing = [m for m in messages if m.id not in threads]
    if missing:
        threads.update(segment_conversations(missing))
    return messages, threads, {m.id: parent_of[m.id] for m in messages if m.id in parent_of}


def extract_chat(job: tuple) -> list[QA]:
    """One chat's questions (a pure step: in this process or on a worker)."""
    return extract_qas(*job)


STAGE = Stage("extract", run, reads=("messages", "message_threads"), writes=("qas",))


def qa_row(qa: QA) -> tuple:
    """A question as a row of `qas` (Workspace.qas reads it back)."""
    return (qa.id, qa.chat, qa.thread_id, qa.question_id, qa.question, qa.asker, qa.asker_name, qa.ts,
            json.dumps([a.to_json() for a in qa.answers], ensure_ascii=False), qa.score)
