"""The talks stage: scheduled talks (分享) found in every chat, into `talks` and `talk_messages`.

A night costs what it changed. A chat's talks are found again from a time on (`talk_cut`: a silence before
which no talk can read anything after it, and after which the talks need only the messages read) when, since
the last run, it got messages (messages after the watermark `rowid` in `state`, or withdrawn by a new recall),
the extract stage changed its questions (`extract.log`), or a person curated one of its talks; the talks
before that time stay as they are. People's decisions about talks (chendian/curation.py TALK_ACTIONS) are
re-applied to every talk found again. Ids come from each talk's first message, so they are stable; the result
is what detecting every chat again gives. A change of the detection code finds every talk again.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from ...curation import curation_log
from ...model import QA, Answer, Message, Talk
from ...store import Workspace, json_column
from ...summarize import talks as detector
from ...summarize.talks import (ANNOUNCE_HOURS, CONTEXT_MESSAGES, QA_BEFORE_HOURS, apply_talk_curation,
                                detect_talks, talk_cut)
from . import RunContext, Stage
from . import extract as extract_stage

STATE_KEY = "talks.state"  # JSON: code fingerprint, message watermark, extract log run seen, curation per talk
LOAD_BEFORE = CONTEXT_MESSAGES + 60  # messages read before a chat's first change, at first
LOAD_SECONDS = ANNOUNCE_HOURS * 3600 + 86400  # and at least this long before it


def _fingerprint() -> str:
    h = hashlib.blake2b(digest_size=16)
    for path in (Path(detector.__file__), Path(__file__)):
        h.update(path.read_bytes())
    return h.hexdigest()


def _curation_digests(actions: list[dict]) -> dict[str, str]:
    """talk id → a digest of the actions on it, in order."""
    out: dict[str, hashlib.blake2b] = {}
    for a in actions:
        h = out.setdefault(a["entry_id"], hashlib.blake2b(digest_size=8))
        h.update(json.dumps([a["action"], a.get("value")], ensure_ascii=False).encode("utf-8"))
    return {k: h.hexdigest() for k, h in out.items()}


def _questions_changed(ws: Workspace, seen: str | None) -> tuple[dict[str, int] | None, str | None]:
    """chat → earliest question time the extract stage changed since its run `seen` (None: everything may
    have), and the id of its latest run."""
    try:
        runs = json.loads(ws.get_state(extract_stage.LOG_KEY) or "{}").get("runs", [])
    except (ValueError, AttributeError):
        runs = []
    runs = [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []
    if not runs:
        return ({} if seen is None else None), None
    latest = runs[-1].get("id")
    ids = [r.get("id") for r in runs]
    if seen not in ids:
        return None, latest
    out: dict[str, int] = {}
    for r in runs[ids.index(seen) + 1:]:
        if r.get("all"):
            return None, latest
        for chat, ts in (r.get("chats") or {}).items():
            out[chat] = min(out.get(chat, ts), ts)
    return out, latest


def _qas_since(ws: Workspace, since: dict[str, float], warn) -> dict[str, list[QA]]:
    """chat → its questions asked from since[chat] on, oldest first (one pass over the table)."""
    out: dict[str, list[QA]] = {c: [] for c in since}
    if not since:
        return out
    low = min(since.values())
    sql, args = "SELECT * FROM qas", []
    if low != float("-inf"):
        sql += " WHERE ts >= ?"
        args.append(int(low) - 1)
    for r in ws.db.execute(sql + " ORDER BY ts, id", args):
        chat = r["chat"]
        if chat not in since or (r["ts"] or 0) < since[chat]:
            continue
        answers = json_column(r["answers"], list, f"qas {r['id']} answers", warn)
        out[chat].append(QA(id=r["id"], chat=chat, thread_id=r["thread_id"], question_id=r["question_id"],
                            question=r["question"] or "", asker=r["asker"], asker_name=r["asker_name"],
                            ts=int(r["ts"] or 0), score=float(r["score"] or 0),
                            answers=[Answer.from_json(a) for a in answers if isinstance(a, dict)]))
    return out


def _load(ws: Workspace, chat: str, dirty_ts: float, n_before: int, seconds: float) -> tuple[list[Message], bool]:
    """A chat's messages from before dirty_ts (n_before messages and `seconds`, whichever reaches further) to its
    end, and whether they begin with the chat's first."""
    start = None
    if dirty_ts != float("-inf"):
        row = ws.db.execute("SELECT ts FROM messages WHERE chat = ? AND ts < ? ORDER BY ts DESC, rowid DESC"
                            " LIMIT 1 OFFSET ?", (chat, int(dirty_ts), n_before)).fetchone()
        if row is not None:
            start = min(row[0] + 1, int(dirty_ts - seconds))
            if ws.db.execute("SELECT 1 FROM messages WHERE chat = ? AND ts < ? LIMIT 1", (chat, start)).fetchone() \
                    is None:
                start = None
    return list(ws.messages(chat, since_ts=start)), start is None


def plan_chat(ws: Workspace, chat: str, dirty_ts: float) -> tuple[float, list[Message]]:
    """The time from which a chat's talks are found again, and its messages to find them in."""
    n_before, seconds = LOAD_BEFORE, LOAD_SECONDS
    while True:
        msgs, at_start = _load(ws, chat, dirty_ts, n_before, seconds)
        t0 = talk_cut(msgs, dirty_ts, at_start)
        if t0 is not None:
            return t0, msgs
        n_before, seconds = n_before * 4, seconds * 4


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    state = ws.get_state_dict(STATE_KEY)
    fingerprint = _fingerprint()
    top = ws.db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
    actions = curation_log(ws, talks=True)
    curated = _curation_digests(actions)
    full = state is None or state.get("code") != fingerprint or not isinstance(state.get("rowid"), int)
    changed_qas, latest = _questions_changed(ws, None if full else state.get("extract"))
    full = full or changed_qas is None
    inf = float("-inf")
    if full:
        dirty = {r[0]: inf for r in ws.db.execute("SELECT DISTINCT chat FROM messages ORDER BY chat")}
    else:
        dirty = {chat: float(key[0]) for chat, key in extract_stage.changed_chats(ws, state["rowid"]).items()}
        for chat, ts in changed_qas.items():
            dirty[chat] = min(dirty.get(chat, ts), ts)
        before = state.get("curation") or {}
        touched = sorted(k for k in set(before) | set(curated) if before.get(k) != curated.get(k))
        if touched:
            for chat, start in ws.db.execute("SELECT chat, start_ts FROM talks WHERE id IN"
                                             " (SELECT value FROM json_each(?))", (json.dumps(touched),)):
                dirty[chat] = min(dirty.get(chat, start), start)
    # a chat redone whole is read when its turn comes (a first run holds one chat's messages at a time)
    plans = {chat: plan_chat(ws, chat, ts) if ts != inf else (inf, None) for chat, ts in sorted(dirty.items())}
    qas = _qas_since(ws, {c: t0 - QA_BEFORE_HOURS * 3600 for c, (t0, _) in plans.items()}, rc.warn)
    found: list[Talk] = []
    messages: dict[str, Message] = {}  # the messages of the talks found (curation re-applies to them)
    for chat, (t0, msgs) in plans.items():
        if msgs is None:
            msgs = list(ws.messages(chat))
        talks = detect_talks(msgs, qas.pop(chat), from_ts=None if t0 == inf else t0)
        if talks:
            wanted = {mid for t in talks for mid in t.roles}
            messages.update((m.id, m) for m in msgs if m.id in wanted)
        found.extend(talks)
        plans[chat] = (t0, None)
    # the talks before each chat's cut stay; every decision is re-applied to the talks found again
    kept: dict[str, tuple] = {}
    for r in ws.db.execute("SELECT * FROM talks"):
        t0 = plans[r["chat"]][0] if r["chat"] in plans else None
        if t0 is None or (t0 != inf and r["start_ts"] < math.floor(t0)):  # whole seconds
            kept[r["id"]] = tuple(r)
    fresh = {t.id for t in found}
    mine = [a for a in actions if a["entry_id"] in fresh or a["entry_id"] not in kept]
    if mine:
        targets = {a.get("value") for a in mine if a["action"] in ("talk-add", "talk-remove")} - set(messages)
        messages.update(ws.messages_by_id(t for t in targets if t))
        apply_talk_curation(found, mine, messages, rc.warn)
    with ws.transaction() as db:
        old = [row for row in db.execute("SELECT * FROM talks") if row["id"] not in kept]
        old_rows = {r["id"]: tuple(r) for r in old}
        old_roles: dict[str, set] = {}
        if old_rows:
            for tid, mid, role in db.execute("SELECT talk_id, message_id, role FROM talk_messages WHERE talk_id IN"
                                             " (SELECT value FROM json_each(?))", (json.dumps(sorted(old_rows)),)):
                old_roles.setdefault(tid, set()).add((mid, role))
        written = 0
        for tid in sorted(set(old_rows) - fresh):
            db.execute("DELETE FROM talks WHERE id = ?", (tid,))
            db.execute("DELETE FROM talk_messages WHERE talk_id = ?", (tid,))
            written += 1
        for t in found:
            row, roles = talk_row(t), set(t.roles.items())
            if old_rows.get(t.id) == row and old_roles.get(t.id, set()) == roles:
                continue
            db.execute("DELETE FROM talks WHERE id = ?", (t.id,))
            db.execute("DELETE FROM talk_messages WHERE talk_id = ?", (t.id,))
            db.execute("INSERT INTO talks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            db.executemany("INSERT INTO talk_messages VALUES (?, ?, ?)", [(t.id, mid, role) for mid, role in t.roles.items()])
            written += 1
    ws.set_state(STATE_KEY, json.dumps({"code": fingerprint, "rowid": top, "extract": latest, "curation": curated},
                                       sort_keys=True, ensure_ascii=False))
    totals = ws.db.execute("SELECT count(*), coalesce(sum(hidden), 0) FROM talks").fetchone()
    qa_count = sum(len(json.loads(q or "[]")) for (q,) in ws.db.execute("SELECT qa_ids FROM talks"))
    in_talks = ws.db.execute("SELECT count(*) FROM talk_messages WHERE role = 'talk'").fetchone()[0]
    return {"talks": totals[0], "hidden": totals[1], "talk_messages": in_talks, "qas": qa_count,
            "curation_actions": len(actions), "chats_redone": len(plans), "talks_written": written}


def talk_row(t: Talk) -> tuple:
    """A talk as a row of `talks` (Workspace.talks reads it back)."""
    return (t.id, t.chat, t.day, t.start_ts, t.end_ts, t.speaker, t.speaker_name, t.title, t.title_source,
            json.dumps(t.qa_ids), json.dumps(t.evidence), int(t.hidden))


STAGE = Stage("talks", run, reads=("messages", "qas", "curation"), writes=("talks", "talk_messages"))
