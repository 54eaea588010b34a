"""The extract stage: questions and their answers inside each conversation, into `qas`.

A night costs what it added. The messages that changed since the last run are found from the store's
watermark (messages after `rowid`, the messages their recalls withdrew) and the thread stage's contract (it
re-links a chat from thread.RELINK_HORIZON messages before its first new one; a new linker re-threads all, and
its fingerprint in `state` says so). In each chat that changed, the stage reads the messages from a little
before the first change to the end, finds the latest cut before it at which the extraction splits exactly
(`extraction_cut`: the questions before it cannot read anything after it, and the other way round) and
extracts only the tail from that cut on, writing the rows that differ. The result is what a full
recomputation gives (ids are stable). A changed extractor (its code or weights) extracts everything again.
Messages the thread stage has not linked yet are split into conversations by silence; such a chat is
extracted whole, then and on the next run.

Replies count as answers from each chat's own threshold (`chat_answer_threshold`), read off its first
`THRESHOLD_REFERENCE_MESSAGES` usable messages: `state` keeps it per chat with the key of the last message it read.
A chat whose threshold may have moved (it is still short of them, or its changes reach back to within the thread
stage's re-link horizon of them) has it read again, and is extracted whole when it did move.

Each run that changed rows appends a line to `extract.log` in `state` (the chats and the earliest question
time whose rows changed, or "all"): the talks stage reads it to redo only the talks those questions touch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ...model import QA, RECALL, Message, stable_id
from ...store import Workspace, row_to_message
from ...summarize.qa import extract as extractor
from ...summarize.qa.extract import extract_qas, extraction_cut, segment_conversations
from ...summarize.threads import linker as T
from . import RunContext, Stage
from . import thread as thread_stage

STATE_KEY = "extract.state"  # JSON: what the rows in `qas` were extracted from (see run)
LOG_KEY = "extract.log"  # JSON: {"runs": [{"id", "all", "chats": {chat: earliest question ts changed}, "rowid"}]}
LOG_RUNS = 16  # a reader that missed more runs than this redoes everything
LOAD_BEFORE = T.RELINK_HORIZON + 120  # messages read before a chat's first change, at first


def _extractor_fingerprint() -> str:
    h = hashlib.blake2b(digest_size=16)
    for path in (Path(extractor.__file__), extractor.LINK_WEIGHTS_FILE, Path(__file__)):
        h.update(path.read_bytes())
    return h.hexdigest()


def changed_chats(ws: Workspace, since_rowid: int) -> dict[str, tuple[int, int]]:
    """chat → (ts, rowid) of its earliest message that is new since `since_rowid` or was withdrawn by a new
    recall (ingest marks the recalled message; the recall itself is a new message of the chat)."""
    first: dict[str, tuple[int, int]] = {}
    recalls: list[tuple[str, str]] = []
    for rowid, chat, ts, kind, extra in ws.db.execute(
            "SELECT rowid, chat, ts, kind, extra FROM messages WHERE rowid > ? ORDER BY rowid", (since_rowid,)):
        key = (ts, rowid)
        if chat not in first or key < first[chat]:
            first[chat] = key
        if kind == RECALL:
            try:
                target = json.loads(extra or "{}").get("recalls")
            except (ValueError, AttributeError):
                target = None
            if target:
                recalls.append((chat, str(target)))
    for chat, pid in recalls:
        for ts, rowid in ws.db.execute("SELECT ts, rowid FROM messages WHERE chat = ? AND platform_id = ?",
                                       (chat, pid)):
            if (ts, rowid) < first[chat]:
                first[chat] = (ts, rowid)
    return first


def load_tail(ws: Workspace, chat: str, before: tuple[int, int] | None,
              n_before: int) -> tuple[list[Message], list[tuple[int, int]], bool]:
    """A chat's messages from `n_before` messages before the (ts, rowid) `before` to its end (None: all of it),
    in store order (whole seconds: never from the middle of one), with their (ts, rowid); and whether they begin
    with the chat's first message."""
    start = None
    if before is not None:
        row = ws.db.execute("SELECT ts FROM messages WHERE chat = ? AND (ts < ? OR (ts = ? AND rowid < ?))"
                            " ORDER BY ts DESC, rowid DESC LIMIT 1 OFFSET ?",
                            (chat, before[0], before[0], before[1], n_before)).fetchone()
        start = row[0] + 1 if row is not None else None
    sql, args = "SELECT rowid AS rowid_, * FROM messages WHERE chat = ?", [chat]
    if start is not None:
        sql += " AND ts >= ?"
        args.append(start)
    msgs, keys = [], []
    for row in ws.db.execute(sql + " ORDER BY ts, rowid", args):
        msgs.append(row_to_message(row))
        keys.append((row["ts"], row["rowid_"]))
    return msgs, keys, start is None


def _links(ws: Workspace, chat: str, ids: list[str], whole: bool) -> tuple[dict[str, str], dict[str, str | None]]:
    """The thread stage's conversation and predicted parent of these messages of one chat."""
    thread_of: dict[str, str] = {}
    parent_of: dict[str, str | None] = {}
    if whole:
        for mid, tid, pid in ws.db.execute(
                "SELECT message_id, thread_id, parent_id FROM message_threads WHERE chat = ?", (chat,)):
            thread_of[mid] = tid
            parent_of[mid] = pid
        return thread_of, parent_of
    for i in range(0, len(ids), 20000):
        for mid, tid, pid in ws.db.execute(
                "SELECT message_id, thread_id, parent_id FROM message_threads"
                " WHERE message_id IN (SELECT value FROM json_each(?))", (json.dumps(ids[i:i + 20000]),)):
            thread_of[mid] = tid
            parent_of[mid] = pid
    return thread_of, parent_of


def _quoted(ws: Workspace, chat: str, msgs: list[Message]) -> dict[str, Message]:
    """The earlier messages of the chat that `msgs` quote and that are not among them."""
    have = {m.id for m in msgs}
    wanted = {m.reply_to for m in msgs if m.reply_to and m.reply_to not in have}
    return {mid: m for mid, m in ws.messages_by_id(wanted).items() if m.chat == chat} if wanted else {}


def _reference_end(msgs: list[Message], keys: list[tuple[int, int]]) -> list[int] | None:
    """The (ts, rowid) of the last message chat_answer_threshold reads of a chat (`msgs` from its start), or None
    while the chat has fewer usable messages than it reads."""
    n = 0
    for m, key in zip(msgs, keys):
        n += extractor.is_usable(m)
        if n == extractor.THRESHOLD_REFERENCE_MESSAGES:
            return list(key)
    return None


def chat_threshold(ws: Workspace, chat: str) -> tuple[float, list[int] | None]:
    """A chat's answer threshold from its first messages and their stored links (silence splits where none is
    stored), with _reference_end."""
    limit = extractor.THRESHOLD_REFERENCE_MESSAGES + 500
    while True:
        msgs, keys = [], []
        for row in ws.db.execute("SELECT rowid AS rowid_, * FROM messages WHERE chat = ? ORDER BY ts, rowid LIMIT ?",
                                 (chat, limit)):
            msgs.append(row_to_message(row))
            keys.append((row["ts"], row["rowid_"]))
        end = _reference_end(msgs, keys)
        if end is not None or len(msgs) < limit:
            break
        limit *= 2
    job = _chat_job(msgs, *_links(ws, chat, [m.id for m in msgs], False))
    return extractor.chat_answer_threshold(job[0], job[1], job[2]), end


def _threshold_settled(ws: Workspace, chat: str, first: tuple[int, int] | None, known: dict | None) -> bool:
    """Whether a chat's stored threshold still holds after changes from `first` on: it read all it reads, and
    every change lies more than the thread stage's re-link horizon of messages after the last message it read."""
    if not known or known.get("end") is None or first is None or tuple(first) <= tuple(known["end"]):
        return False
    end = known["end"]
    between = ws.db.execute("SELECT count(*) FROM messages WHERE chat = ? AND (ts > ? OR (ts = ? AND rowid > ?))"
                            " AND (ts < ? OR (ts = ? AND rowid < ?))",
                            (chat, end[0], end[0], end[1], first[0], first[0], first[1])).fetchone()[0]
    return between > T.RELINK_HORIZON


def plan_chat(ws: Workspace, chat: str, first: tuple[int, int] | None, whole: bool,
              known: dict | None = None) -> tuple[dict, tuple]:
    """Read one chat's changed tail and make its job: (meta, payload). `first`: its earliest change; `known`: the
    chat's threshold as `state` holds it ({"t", "end"}), if any."""
    if not whole and _threshold_settled(ws, chat, first, known):
        threshold, end = known["t"], known["end"]
    else:
        threshold, end = chat_threshold(ws, chat)
        whole = whole or not known or known.get("t") != threshold  # the old rows came from another threshold
    n_before = LOAD_BEFORE
    while True:
        msgs, keys, at_start = load_tail(ws, chat, None if whole else first, n_before)
        thread_of, parent_of = _links(ws, chat, [m.id for m in msgs], whole)
        if not whole and len(thread_of) < len(msgs):
            whole = True  # not threaded yet: silence-split conversations run over the whole chat
            continue
        if whole:
            job = _chat_job(msgs, thread_of, parent_of)
            meta = {"chat": chat, "ids": [m.id for m in msgs], "fallback": len(thread_of) < len(msgs),
                    "threshold": {"t": threshold, "end": end}}
            return meta, (job[0], job[1], job[2], {}, threshold)
        quoted = _quoted(ws, chat, msgs)
        first_at = next(i for i, key in enumerate(keys) if key >= first) if first is not None else 0
        # the thread stage re-links from RELINK_HORIZON messages before a chat's first new message
        limit = first_at - T.RELINK_HORIZON
        cut = extraction_cut(msgs, limit, at_start, quoted) if limit >= 0 or at_start else None
        if cut is None and not at_start:
            n_before *= 4
            continue
        tail = msgs[max(cut or 0, 0):]
        ids = {m.id for m in tail}
        meta = {"chat": chat, "ids": [m.id for m in tail], "fallback": False, "threshold": {"t": threshold, "end": end}}
        context = {mid: m for mid, m in (quoted | {m.id: m for m in msgs}).items() if mid not in ids}
        wanted = {m.reply_to for m in tail if m.reply_to}
        return meta, (tail, {k: thread_of[k] for k in ids}, {k: parent_of[k] for k in ids},
                      {k: v for k, v in context.items() if k in wanted}, threshold)


def _chat_job(messages: list[Message], thread_of: dict[str, str], parent_of: dict[str, str | None]) -> tuple:
    """One chat's messages with their conversations and reply links (silence splits where none is stored)."""
    threads = {m.id: thread_of[m.id] for m in messages if m.id in thread_of}
    missing = [m for m in messages if m.id not in threads]
    if missing:
        threads.update(segment_conversations(missing))
    return messages, threads, {m.id: parent_of[m.id] for m in messages if m.id in parent_of}


def extract_chat(job: tuple) -> list[QA]:
    """One chat's questions, or those of its tail from an extraction cut (a pure step: in this process or on a
    worker)."""
    messages, threads, parents, quoted, threshold = job
    return extract_qas(messages, threads, parents, quoted=quoted, answer_threshold=threshold)


def _stats(answers_json: str | None) -> tuple[int, int, int]:
    n = len(json.loads(answers_json or "[]"))
    return 1, int(n > 0), n


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    state = ws.get_state_dict(STATE_KEY)
    fingerprint = _extractor_fingerprint()
    thread_fp = ws.get_state(thread_stage.STATE_KEY)
    top = ws.db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
    full = (state is None or state.get("extractor") != fingerprint or state.get("thread") != thread_fp
            or not isinstance(state.get("rowid"), int))
    if full:
        chats = [r[0] for r in ws.db.execute("SELECT DISTINCT chat FROM messages ORDER BY chat")]
        firsts: dict[str, tuple[int, int] | None] = {c: None for c in chats}
        known = set(chats)
    else:
        firsts = dict(changed_chats(ws, state["rowid"]))
        for chat in state.get("fallback", []):
            firsts[chat] = None  # extracted whole last time: whole again (its links may have come since)
        known = set(state.get("chats", [])) | set(firsts)
    changed = sorted(firsts)
    fallback: list[str] = []
    log: dict[str, int] = {}
    totals = [0, 0, 0] if full else list(state.get("totals", [0, 0, 0]))
    rows_written = 0
    thresholds = {} if full else dict(state.get("thresholds", {}))
    jobs = (plan_chat(ws, chat, firsts[chat], full or firsts[chat] is None, thresholds.get(chat)) for chat in changed)
    if full:
        with ws.transaction() as db:
            db.execute("DELETE FROM qas")
    new = top if full else top - state["rowid"]  # the messages past the last run, for executor = "auto"
    for meta, qas in rc.map(extract_chat, jobs, size=new, describe=lambda meta: f"chat {meta['chat']!r}"):
        if meta["fallback"]:
            fallback.append(meta["chat"])
        thresholds[meta["chat"]] = meta["threshold"]
        rows = [qa_row(qa) for qa in qas]
        with ws.transaction() as db:
            if full:
                db.executemany("INSERT INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                for r in rows:
                    totals = [a + b for a, b in zip(totals, _stats(r[8]))]
                rows_written += len(rows)
                continue
            # the rows these messages' questions had: the ones to keep, replace or delete
            old = {}
            ids = [stable_id(mid, prefix="q") for mid in meta["ids"]]
            for i in range(0, len(ids), 20000):
                for r in db.execute("SELECT * FROM qas WHERE id IN (SELECT value FROM json_each(?))",
                                    (json.dumps(ids[i:i + 20000]),)):
                    old[r[0]] = tuple(r)
            new_ids = {r[0] for r in rows}
            gone = [r for qid, r in old.items() if qid not in new_ids]
            differ = [r for r in rows if old.get(r[0]) != r]
            db.executemany("DELETE FROM qas WHERE id = ?", [(r[0],) for r in gone])
            db.executemany("INSERT OR REPLACE INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", differ)
            for r in gone + [old[r[0]] for r in differ if r[0] in old]:
                totals = [a - b for a, b in zip(totals, _stats(r[8]))]
            for r in differ:
                totals = [a + b for a, b in zip(totals, _stats(r[8]))]
            touched = [r[7] for r in gone + differ] + [old[r[0]][7] for r in differ if r[0] in old]
            if touched:
                log[meta["chat"]] = min(int(t or 0) for t in touched)
            rows_written += len(gone) + len(differ)
    if full or log:
        try:
            runs = json.loads(ws.get_state(LOG_KEY) or "{}").get("runs", [])
        except (ValueError, AttributeError):
            runs = []
        runs = [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []
        entry = {"all": full, "chats": {} if full else log, "rowid": top}
        # an id that follows from the log and the entry: the same runs give the same state on every store
        chain = hashlib.blake2b(json.dumps([runs[-1].get("id") if runs else "", entry], sort_keys=True,
                                           ensure_ascii=False).encode("utf-8"), digest_size=12).hexdigest()
        runs = [*runs[-(LOG_RUNS - 1):], {"id": chain, **entry}]
        ws.set_state(LOG_KEY, json.dumps({"runs": runs}, sort_keys=True))
    ws.set_state(STATE_KEY, json.dumps({"extractor": fingerprint, "thread": thread_fp, "rowid": top,
                                        "fallback": fallback, "chats": sorted(known), "totals": totals,
                                        "thresholds": thresholds}, sort_keys=True, ensure_ascii=False))
    questions, answered, answers = totals
    return {"questions": questions, "answered": answered, "answers": answers, "chats_extracted": len(changed),
            "chats_unchanged": len(known) - len(changed), "rows_written": rows_written}


STAGE = Stage("extract", run, reads=("messages", "message_threads"), writes=("qas",))


def qa_row(qa: QA) -> tuple:
    """A question as a row of `qas` (Workspace.qas reads it back)."""
    return (qa.id, qa.chat, qa.thread_id, qa.question_id, qa.question, qa.asker, qa.asker_name, qa.ts,
            json.dumps([a.to_json() for a in qa.answers], ensure_ascii=False), qa.score)
