"""The talks stage: scheduled talks (分享) found in every chat, into `talks` and `talk_messages`.

Recomputed from all messages and the extract stage's questions on every run (ids come from each talk's first
message, so they are stable), then people's decisions about talks (chendian/curation.py TALK_ACTIONS) are re-applied.
"""

from __future__ import annotations

import json

from ...curation import curation_log
from ...model import Talk
from ...store import Workspace
from ...summarize.talks import apply_talk_curation, detect_talks
from . import RunContext, Stage


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    messages = list(ws.messages())
    talks = detect_talks(messages, ws.qas(warn=rc.warn))
    actions = curation_log(ws, talks=True)
    if actions:
        apply_talk_curation(talks, actions, {m.id: m for m in messages}, rc.warn)
    with ws.transaction():
        ws.db.execute("DELETE FROM talks")
        ws.db.executemany("INSERT INTO talks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [talk_row(t) for t in talks])
        ws.db.execute("DELETE FROM talk_messages")
        ws.db.executemany("INSERT INTO talk_messages VALUES (?, ?, ?)",
                          [(t.id, mid, role) for t in talks for mid, role in t.roles.items()])
    return {"talks": len(talks), "hidden": sum(1 for t in talks if t.hidden),
            "talk_messages": sum(len(t.message_ids) for t in talks), "qas": sum(len(t.qa_ids) for t in talks),
            "curation_actions": len(actions)}


def talk_row(t: Talk) -> tuple:
    """A talk as a row of `talks` (Workspace.talks reads it back)."""
    return (t.id, t.chat, t.day, t.start_ts, t.end_ts, t.speaker, t.speaker_name, t.title, t.title_source,
            json.dumps(t.qa_ids), json.dumps(t.evidence), int(t.hidden))


STAGE = Stage("talks", run, reads=("messages", "qas", "curation"), writes=("talks", "talk_messages"))
