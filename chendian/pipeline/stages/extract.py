"""The extract stage: questions and their answers inside each conversation, into `qas`.

Recomputed from all messages every run (ids are stable, so this is idempotent). Messages the thread stage
has not linked yet are split into conversations by silence.
"""

from __future__ import annotations

import json

from ...model import QA
from ...store import Workspace
from ...summarize.qa.extract import extract_qas, segment_conversations
from . import RunContext, Stage


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    thread_of, parent_of = ws.thread_links()
    messages = list(ws.messages())
    missing = [m for m in messages if m.id not in thread_of]
    if missing:
        if not thread_of:
            rc.warn("no thread stage output; conversations split by silence gaps instead")
        thread_of = {**thread_of, **segment_conversations(missing)}
    qas = extract_qas(messages, thread_of, parent_of)
    with ws.transaction():
        ws.db.execute("DELETE FROM qas")
        ws.db.executemany("INSERT INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [qa_row(qa) for qa in qas])
    return {"questions": len(qas), "answered": sum(1 for q in qas if q.answers),
            "answers": sum(len(q.answers) for q in qas)}


STAGE = Stage("extract", run, reads=("messages", "message_threads"), writes=("qas",))


def qa_row(qa: QA) -> tuple:
    """A question as a row of `qas` (Workspace.qas reads it back)."""
    return (qa.id, qa.chat, qa.thread_id, qa.question_id, qa.question, qa.asker, qa.asker_name, qa.ts,
            json.dumps([a.to_json() for a in qa.answers], ensure_ascii=False), qa.score)
