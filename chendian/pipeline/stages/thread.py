"""The thread stage: disentangle each chat into conversations (tables message_threads, threads).

Incremental per chat: a chat whose messages are all threaded already is skipped. In a chat with new
messages, the messages from the earliest new one onwards are linked, and so are the thread.RELINK_HORIZON
messages before it (in a dense chat a link reads that far past its message, so what came after them may change
their link; links point backwards only, so nothing earlier can change), with the messages before as context;
conversations are then the connected components of all links. Changing the linker (weights, window, max
gap, embedding model, decoding) re-threads everything. Thread ids come from the earliest message of the conversation, so they
stay stable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ...model import Message, Thread, stable_id
from ...store import Workspace
from . import RunContext, Stage
from ...summarize.threads import linker as T

STATE_KEY = "thread.fingerprint"
CONTEXT = 2000  # earlier messages loaded as context (idf statistics, pace, candidates) when re-linking a tail


def fingerprint(ws: Workspace) -> str:
    h = hashlib.blake2b(digest_size=8)
    h.update(T.WEIGHTS_FILE.read_bytes())
    for extra in (T.DENSE_WEIGHTS_FILE, T.CONVERSATION_WEIGHTS_FILE):
        if extra.exists():
            h.update(extra.read_bytes())
    h.update(f"{T.DEFAULT_WINDOW}|{ws.config.thread.max_gap_minutes}|{ws.config.embed.model}"
             f"|{T.DECODING_VERSION}".encode())
    return h.hexdigest()


def thread_id(chat: str, first_message_id: str) -> str:
    return stable_id(chat, first_message_id, prefix="t")


@dataclass
class LinkJob:
    """What the linker needs for one chat's tail, read from the store by the driver."""

    messages: list[Message]  # the tail with its context before it
    tokens: list[list[str]]
    vectors: np.ndarray
    start: int  # the first message of the tail
    max_gap_minutes: float
    vector_model: str


def link(job: LinkJob) -> list[int]:
    """Parents (indices into job.messages, -1 for none) of the tail's messages (a pure step: in this process
    or on a worker)."""
    parents, _ = T.thread_messages(job.messages, job.tokens, job.vectors, max_gap_minutes=job.max_gap_minutes,
                                   vector_model=job.vector_model)
    return [int(p) for p in parents[job.start:]]


def _link_job(ws: Workspace, msgs: list[Message], start: int, cache) -> tuple[LinkJob, int]:
    """The job that links msgs[start:], using msgs[start - CONTEXT:start] as context, and its offset in msgs."""
    from .embed import message_vectors
    from .segment import load_tokens, workspace_segmenter

    lo = max(0, start - CONTEXT)
    part = msgs[lo:]
    stored = load_tokens(ws, [m.id for m in part])
    seg = None
    tokens = []
    for m in part:
        toks = stored.get(m.id)
        if toks is None:  # the segment stage has not seen it (stage run alone): segment now
            seg = seg or workspace_segmenter(ws)[0]
            toks = seg.tokens(m.text)
        tokens.append(toks)
    vectors = message_vectors(ws, part, cache)
    return LinkJob(part, tokens, vectors, start - lo, ws.config.thread.max_gap_minutes, ws.config.embed.model), lo


@dataclass
class ChatResult:
    linked: int = 0
    relinked: int = 0  # already threaded messages linked again (the look-ahead tail before the new ones)
    rows_changed: int = 0
    threads: int = 0
    stats: dict = field(default_factory=dict)


@dataclass
class ChatPlan:
    """One chat as the driver read it: its messages, their stored links, and where re-linking starts."""

    chat: str
    msgs: list[Message]
    old: dict[str, tuple[str, str | None]]
    first_new: int
    start: int
    offset: int = 0  # of the link job's messages in msgs


def plan_chat(ws: Workspace, chat: str, *, full: bool = False, cache=None) -> tuple[ChatPlan, LinkJob | None]:
    """Read one chat and make its link job (None when nothing needs linking)."""
    msgs = list(ws.messages(chat))
    old = {mid: (tid, pid) for mid, tid, pid in ws.db.execute(
        "SELECT message_id, thread_id, parent_id FROM message_threads WHERE chat = ?", (chat,))}
    first_new = 0 if full else next((i for i, m in enumerate(msgs) if m.id not in old), len(msgs))
    start = max(0, first_new - T.RELINK_HORIZON) if first_new < len(msgs) else first_new
    plan = ChatPlan(chat, msgs, old, first_new, start)
    if start >= len(msgs):
        return plan, None
    job, plan.offset = _link_job(ws, msgs, start, cache)
    return plan, job


def thread_chat(ws: Workspace, chat: str, *, full: bool = False, cache=None) -> ChatResult:
    """(Re-)thread one chat; writes message_threads and threads for it in one transaction."""
    plan, job = plan_chat(ws, chat, full=full, cache=cache)
    return write_chat(ws, plan, link(job) if job else [])


def write_chat(ws: Workspace, plan: ChatPlan, tail: list[int]) -> ChatResult:
    """Store one chat's links (`tail`: link(job) for its link job) and its conversations, in one transaction."""
    chat, msgs, old, start = plan.chat, plan.msgs, plan.old, plan.start
    res = ChatResult()
    if not msgs:
        return res
    index = {m.id: i for i, m in enumerate(msgs)}
    parents = np.full(len(msgs), -1, dtype=np.int64)
    for i, m in enumerate(msgs[:start]):
        pid = old[m.id][1]
        parents[i] = index.get(pid, -1) if pid else -1
    if start < len(msgs):
        parents[start:] = [p + plan.offset if p >= 0 else -1 for p in tail]
        res.linked = len(msgs) - plan.first_new
        res.relinked = plan.first_new - start
    comp = T.components(parents)
    rows = []
    for i, m in enumerate(msgs):
        tid = thread_id(chat, msgs[int(comp[i])].id)
        pid = msgs[int(parents[i])].id if parents[i] >= 0 else None
        if old.get(m.id) != (tid, pid):
            rows.append((m.id, chat, tid, pid))
    # Aggregates per conversation (messages are in time order, so the first seen is the root).
    agg: dict[str, list] = {}
    for i, m in enumerate(msgs):
        tid = thread_id(chat, msgs[int(comp[i])].id)
        ts = int(m.time.timestamp())
        a = agg.get(tid)
        if a is None:
            agg[tid] = [ts, ts, 1, m.id]
        else:
            a[1] = max(a[1], ts)
            a[2] += 1
    with ws.transaction() as db:
        db.executemany("INSERT OR REPLACE INTO message_threads (message_id, chat, thread_id, parent_id)"
                       " VALUES (?, ?, ?, ?)", rows)
        db.executemany(
            "INSERT INTO threads (id, chat, first_ts, last_ts, size, root_id) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET first_ts = excluded.first_ts, last_ts = excluded.last_ts,"
            " size = excluded.size, root_id = excluded.root_id"
            " WHERE threads.size != excluded.size OR threads.last_ts != excluded.last_ts"
            "    OR threads.first_ts != excluded.first_ts OR threads.root_id != excluded.root_id",
            [thread_row(Thread(tid, chat, *a)) for tid, a in agg.items()])
        existing = [r[0] for r in db.execute("SELECT id FROM threads WHERE chat = ?", (chat,))]
        stale = [(t,) for t in existing if t not in agg]
        db.executemany("DELETE FROM threads WHERE id = ?", stale)
    res.rows_changed = len(rows)
    res.threads = len(agg)
    return res


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    from .embed import workspace_cache

    fp = fingerprint(ws)
    full = ws.get_state(STATE_KEY) != fp
    # Chats with a message that has no thread yet (or all chats after the linker changed).
    if full:
        chats = [r[0] for r in ws.db.execute("SELECT DISTINCT chat FROM messages ORDER BY chat")]
    else:
        chats = [r[0] for r in ws.db.execute(
            "SELECT DISTINCT m.chat FROM messages m LEFT JOIN message_threads t ON t.message_id = m.id"
            " WHERE t.message_id IS NULL ORDER BY m.chat")]
    cache = workspace_cache(ws) if chats else None
    bar = rc.progress(len(chats), "chats", unit="chat")
    linked = relinked = changed = 0
    # Chats are the partitions: each is linked where the executor runs it, written here in chat order.
    jobs = (plan_chat(ws, chat, full=full, cache=cache) for chat in chats)
    for plan, tail in rc.map(_link_or_nothing, jobs):
        r = write_chat(ws, plan, tail)
        linked += r.linked
        relinked += r.relinked
        changed += r.rows_changed
        bar.update(1)
    bar.close()
    ws.set_state(STATE_KEY, fp)
    total = ws.db.execute("SELECT count(*), coalesce(sum(CASE WHEN size > 1 THEN 1 ELSE 0 END), 0)"
                          " FROM threads").fetchone()
    return {"chats_threaded": len(chats), "messages_linked": linked, "messages_relinked": relinked,
            "rows_changed": changed,
            "threads": total[0], "threads_with_replies": total[1]}


def _link_or_nothing(job: LinkJob | None) -> list[int]:
    return link(job) if job is not None else []


def thread_row(thread: Thread) -> tuple:
    """A conversation as a row of `threads` (Workspace.threads reads it back)."""
    return (thread.id, thread.chat, thread.first_ts, thread.last_ts, thread.size, thread.root_id)


STAGE = Stage("thread", run, reads=("messages", "tokens", "embeddings"), writes=("message_threads", "threads"))


# -- reading conversations back (the `chendian threads` view) ---------------------------------------------

@dataclass
class ConversationLine:
    message: Message
    depth: int  # indentation: how many replies deep below the conversation's first message
    parent_id: str | None


@dataclass
class Conversation:
    id: str
    chat: str
    size: int
    first_ts: int
    last_ts: int
    lines: list[ConversationLine]


def conversations(ws: Workspace, chat: str | None = None, *, min_size: int = 1, limit: int | None = None,
                  thread: str | None = None) -> list[Conversation]:
    """A chat's conversations (or all chats', or one thread by id), newest first, each with its messages in
    time order and indented by reply depth. Raises LookupError when the thread stage has not run."""
    if ws.db.execute("SELECT 1 FROM threads LIMIT 1").fetchone() is None:
        raise LookupError("no conversations yet: run `chendian run` (or `chendian stage thread`) first")
    sql, args = "SELECT id, chat, size, first_ts, last_ts FROM threads WHERE size >= ?", [min_size]
    if chat is not None:
        sql += " AND chat = ?"
        args.append(chat)
    if thread is not None:
        sql += " AND id = ?"
        args.append(thread)
    sql += " ORDER BY last_ts DESC, id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    out = []
    for tid, tchat, size, first_ts, last_ts in ws.db.execute(sql, args).fetchall():
        from ...store import row_to_message

        rows = ws.db.execute(
            "SELECT m.*, t.parent_id AS parent_id_ FROM message_threads t JOIN messages m ON m.id = t.message_id"
            " WHERE t.thread_id = ? ORDER BY m.ts, m.rowid", (tid,)).fetchall()
        depth: dict[str, int] = {}
        lines = []
        for row in rows:
            m = row_to_message(row)
            pid = row["parent_id_"]
            d = depth[pid] + 1 if pid in depth else 0
            depth[m.id] = d
            lines.append(ConversationLine(m, d, pid))
        out.append(Conversation(tid, tchat, size, first_ts, last_ts, lines))
    return out


def format_conversation(conv: Conversation, max_depth: int = 8, tz=None) -> str:
    """Plain text for a terminal: a header, then one indented line per message."""
    from datetime import datetime

    first = datetime.fromtimestamp(conv.first_ts, tz).strftime("%Y-%m-%d %H:%M")
    last = datetime.fromtimestamp(conv.last_ts, tz).strftime("%H:%M" if conv.last_ts - conv.first_ts < 86400
                                                             else "%Y-%m-%d %H:%M")
    out = [f"── 会话 {conv.id} · {conv.chat} · {conv.size} 条 · {first} – {last}"]
    for line in conv.lines:
        m = line.message
        text = " ".join(m.text.split())
        if len(text) > 200:
            text = text[:199] + "…"
        indent = "  " * min(line.depth, max_depth)
        out.append(f"{m.time.astimezone(tz).strftime('%H:%M')} {indent}{'↳ ' if line.depth else ''}"
                   f"{m.sender_name}: {text}")
    return "\n".join(out)
