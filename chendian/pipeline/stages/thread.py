"""The thread stage: disentangle each chat into conversations (tables message_threads, threads).

Incremental per chat: a chat whose messages are all threaded already is skipped (messages up to the rowid the
last run saw are, state `thread.rowid`). In a chat with new messages, the messages from the earliest new one
onwards are linked, and so are the thread.RELINK_HORIZON messages before it (in a dense chat a link reads that far
past its message, so what came after them may change their link; links point backwards only, so nothing earlier
can change), with CONTEXT messages before as context (idf statistics, pace, candidates, the chat's regime).
Only the tail is read, scored and written: each message's thread is its root's (the earliest message of its
conversation: links form a forest), so messages before the tail keep theirs, a tail message takes its parent's,
and only the rows that changed and the conversations the tail left or joined are written. The context is not
scored again either: the chat's regime (serial or dense, linker.previous_parent_rate) counts a flag per message
that the run that linked it kept (state `thread.flags`, the last CONTEXT + RELINK_HORIZON of each chat); a dense
chat's tail is scored with its whole context, since its conversation pass reads every earlier link. Changing the
linker (weights, window, max gap, embedding model, decoding) re-threads everything. Thread ids come from the
earliest message of the conversation, so they stay stable.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ...model import Message, Thread, conversation_id
from ...store import Workspace, row_to_message
from . import RunContext, Stage
from ...summarize.threads import linker as T

STATE_KEY = "thread.fingerprint"
ROWID_KEY = "thread.rowid"  # every message up to this rowid is threaded
FLAGS_KEY = "thread.flags"  # chat → the regime flags of its last messages (see keep_flags)
CONTEXT = 2000  # earlier messages loaded as context (idf statistics, pace, candidates) when re-linking a tail
FLAG_CHARS = {-1: "-", 0: "0", 1: "1"}


def fingerprint(ws: Workspace) -> str:
    h = hashlib.blake2b(digest_size=8)
    h.update(T.WEIGHTS_FILE.read_bytes())
    for extra in (T.DENSE_WEIGHTS_FILE, T.CONVERSATION_WEIGHTS_FILE):
        if extra.exists():
            h.update(extra.read_bytes())
    h.update(f"{T.DEFAULT_WINDOW}|{ws.config.thread.max_gap_minutes}|{ws.config.embed.model}"
             f"|{T.DECODING_VERSION}".encode())
    return h.hexdigest()


@dataclass
class LinkJob:
    """What the linker needs for one chat's tail, read from the store by the driver."""

    messages: list[Message]  # the tail with its context before it
    tokens: list[list[str]]
    vectors: np.ndarray
    start: int  # the first message of the tail
    max_gap_minutes: float
    vector_model: str
    flags_before: np.ndarray | None = None  # regime flags of messages[:start] from earlier runs (None: score them)


def link(job: LinkJob) -> tuple[list[int], np.ndarray]:
    """Parents (indices into job.messages, -1 for none) of the tail's messages, and the regime flags of all
    job.messages (a pure step: in this process or on a worker)."""
    p = T.prepare(job.messages, job.tokens, job.vectors, vector_model=job.vector_model)
    max_gap = float("inf") if not job.max_gap_minutes else job.max_gap_minutes * 60.0
    parents, flags = T.link_tail(p, job.start, job.flags_before, max_gap=max_gap)
    return [int(x) for x in parents], flags


def _link_job(ws: Workspace, part: list[Message], start: int, cache,
              flags_before: np.ndarray | None, stored: dict[str, list[str]]) -> LinkJob:
    """The job that links part[start:], with part[:start] as context (`stored`: their tokens, by id)."""
    from .embed import message_vectors
    from .segment import workspace_segmenter

    seg = None
    tokens = []
    for m in part:
        toks = stored.get(m.id)
        if toks is None:  # the segment stage has not seen it (stage run alone): segment now
            seg = seg or workspace_segmenter(ws)[0]
            toks = seg.tokens(m.text)
        tokens.append(toks)
    # A serial chat's tail reads the vectors of its candidates only; a chat that may be dense needs them all.
    vec_from = 0 if flags_before is None or _may_be_dense(flags_before, len(part) - start) \
        else max(0, start - T.DEFAULT_WINDOW)
    tail_vectors = message_vectors(ws, part[vec_from:], cache)
    vectors = np.zeros((len(part), tail_vectors.shape[1]), dtype=np.float32)
    vectors[vec_from:] = tail_vectors
    return LinkJob(part, tokens, vectors, start, ws.config.thread.max_gap_minutes, ws.config.embed.model,
                   flags_before)


def _may_be_dense(flags_before: np.ndarray, tail: int) -> bool:
    """Whether the regime could come out dense (linker.link_tail) whatever the tail's `tail` flags turn out."""
    k1, k0 = int((flags_before == 1).sum()), int((flags_before == 0).sum())
    return k1 < T.SERIAL_REGIME * (k1 + k0 + tail) + 1  # a margin: loading all is always right


@dataclass
class ChatResult:
    linked: int = 0
    relinked: int = 0  # already threaded messages linked again (the look-ahead tail before the new ones)
    rows_changed: int = 0
    threads: int = 0
    reused_flags: bool = False  # the context's regime flags came from the last run (not scored again)
    stats: dict = field(default_factory=dict)


@dataclass
class ChatPlan:
    """One chat's tail as the driver read it: the messages from CONTEXT before the tail on (all of them in a
    full run), their stored links, and where re-linking starts."""

    chat: str
    msgs: list[Message]
    old: dict[str, tuple[str, str | None]]
    first_new: int
    start: int
    full: bool = False
    reused_flags: bool = False  # the link job has the context's regime flags from the last run
    outside: dict[str, str] = field(default_factory=dict)  # quoted messages before msgs → their thread id
    flags: np.ndarray | None = None  # set by write_chat: the regime flags of msgs


# What the linker and write_chat read of a message, and its tokens: a night reads CONTEXT messages per chat (200k
# at 100 chats), so the columns they do not read (source, quote, extra: JSON to parse) stay in the store.
_LINK_COLUMNS = ("m.id, m.chat, m.time, m.sender, m.sender_name, m.kind, m.text, m.platform_id, m.reply_to,"
                 " m.mentions, m.recalled, k.tokens FROM messages m LEFT JOIN tokens k ON k.message_id = m.id")


def _link_message(row) -> Message:
    """A message for linking: row_to_message without source, quote and extra."""
    mentions = row[9]
    return Message(id=row[0], chat=row[1], time=datetime.fromisoformat(row[2]), sender=row[3], sender_name=row[4],
                   kind=row[5], text=row[6], source="", platform_id=row[7], reply_to=row[8],
                   mentions=json.loads(mentions) if mentions != "[]" else [], recalled=bool(row[10]))


def _chat_messages(ws: Workspace, chat: str,
                   first: tuple[int, int] | None) -> tuple[list[Message], int, dict[str, list[str]]]:
    """The chat's messages from CONTEXT + RELINK_HORIZON before `first` (ts, rowid) on, or all of them when
    `first` is None; the index of `first` among them; and their stored tokens by id (those segmented)."""
    if first is None:
        rows = ws.db.execute(f"SELECT {_LINK_COLUMNS} WHERE m.chat = ? ORDER BY m.ts, m.rowid", (chat,)).fetchall()
        n_before = 0
    else:
        before = ws.db.execute(f"SELECT {_LINK_COLUMNS} WHERE m.chat = ? AND (m.ts, m.rowid) < (?, ?)"
                               " ORDER BY m.ts DESC, m.rowid DESC LIMIT ?",
                               (chat, *first, CONTEXT + T.RELINK_HORIZON)).fetchall()
        after = ws.db.execute(f"SELECT {_LINK_COLUMNS} WHERE m.chat = ? AND (m.ts, m.rowid) >= (?, ?)"
                              " ORDER BY m.ts, m.rowid", (chat, *first)).fetchall()
        rows, n_before = [*reversed(before), *after], len(before)
    return ([_link_message(r) for r in rows], n_before,
            {r[0]: r[11].split() for r in rows if r[11] is not None})


def plan_chat(ws: Workspace, chat: str, *, full: bool = False, cache=None, first: tuple[int, int] | None = None,
              kept: dict | None = None) -> tuple[ChatPlan, LinkJob | None]:
    """Read one chat's tail and make its link job (None when nothing needs linking). `first`: the (ts, rowid)
    of its earliest unthreaded message (None: found here); `kept`: its entry of state thread.flags."""
    if not full and first is None:
        row = ws.db.execute(
            "SELECT m.ts, m.rowid FROM messages m LEFT JOIN message_threads t ON t.message_id = m.id"
            " WHERE m.chat = ? AND t.message_id IS NULL ORDER BY m.ts, m.rowid LIMIT 1", (chat,)).fetchone()
        if row is None:
            return ChatPlan(chat, [], {}, 0, 0), None
        first = (row[0], row[1])
    msgs, first_new, stored = _chat_messages(ws, chat, None if full else first)
    if full:
        first_new = 0
    start = max(0, first_new - T.RELINK_HORIZON) if first_new < len(msgs) else first_new
    # The stored links of the tail only: write_chat compares the tail's rows and reads a context message's
    # conversation only where a tail message links to it (_old_links). A night's context is 20x its tail.
    old = _old_links(ws, [m.id for m in msgs[start:]])
    plan = ChatPlan(chat, msgs, old, first_new, start, full)
    if start >= len(msgs):
        return plan, None
    flags_before = None if full else kept_flags(kept, msgs, first_new, start)
    plan.reused_flags = flags_before is not None
    # A quote of a message before the context is a link all the same (a full run sees the whole chat).
    inside = {m.id for m in msgs}
    quoting = {m.reply_to for m in msgs[start:] if m.reply_to and m.reply_to not in inside}
    if quoting:
        plan.outside = dict(ws.db.execute(
            "SELECT message_id, thread_id FROM message_threads WHERE chat = ?"
            " AND message_id IN (SELECT value FROM json_each(?))", (chat, json.dumps(sorted(quoting)))).fetchall())
    return plan, _link_job(ws, msgs, start, cache, flags_before, stored)


def _old_links(ws: Workspace, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """message id → its stored (thread id, parent id), for those of `ids` that are threaded."""
    return {mid: (tid, pid) for mid, tid, pid in ws.db.execute(
        "SELECT message_id, thread_id, parent_id FROM message_threads"
        " WHERE message_id IN (SELECT value FROM json_each(?))", (json.dumps(ids),))}


def _ids_check(msgs: list[Message]) -> str:
    return hashlib.blake2b("\x1f".join(m.id for m in msgs).encode("utf-8"), digest_size=8).hexdigest()


def keep_flags(msgs: list[Message], flags: np.ndarray) -> dict:
    """What state thread.flags keeps of a chat: the flags of its last CONTEXT + RELINK_HORIZON messages, with
    the last one's id and a check of their ids (so that a later run uses them only for these messages)."""
    n = min(len(msgs), CONTEXT + T.RELINK_HORIZON)
    tail = msgs[len(msgs) - n:]
    return {"last": tail[-1].id if tail else "", "check": _ids_check(tail),
            "flags": "".join(FLAG_CHARS[int(f)] for f in flags[len(flags) - n:])}


def kept_flags(kept: dict | None, msgs: list[Message], first_new: int, start: int) -> np.ndarray | None:
    """The flags of msgs[:start] from what the last run kept, when it kept them for exactly the messages
    before msgs[first_new] (None otherwise: the context is scored again)."""
    if not kept or first_new == 0 or kept.get("last") != msgs[first_new - 1].id:
        return None
    chars = kept.get("flags", "")
    # It kept as many as were read before the first new message (CONTEXT + RELINK_HORIZON, or the whole chat).
    if len(chars) != first_new or _ids_check(msgs[:first_new]) != kept.get("check"):
        return None
    codes = {v: k for k, v in FLAG_CHARS.items()}
    return np.array([codes[c] for c in chars[:start]], dtype=np.int8)


def thread_chat(ws: Workspace, chat: str, *, full: bool = False, cache=None) -> ChatResult:
    """(Re-)thread one chat; writes message_threads and threads for it in one transaction."""
    plan, job = plan_chat(ws, chat, full=full, cache=cache)
    return write_chat(ws, plan, link(job) if job else ([], None))


def write_chat(ws: Workspace, plan: ChatPlan, linked: tuple[list[int], np.ndarray | None]) -> ChatResult:
    """Store one chat's links (`linked`: link(job) for its link job) and the conversations they change, in one
    transaction. Writes only the message_threads rows that changed and the threads rows of the conversations
    the tail left or joined."""
    tail, plan.flags = linked
    chat, msgs, old, start = plan.chat, plan.msgs, plan.old, plan.start
    res = ChatResult(reused_flags=plan.reused_flags)
    if not msgs or start >= len(msgs):
        return res
    res.linked = len(msgs) - plan.first_new
    res.relinked = plan.first_new - start
    # the context messages the tail links to (a reply within the window, or a quote further back)
    outside_tail = sorted({msgs[p].id for p in tail if 0 <= p < start} - old.keys())
    if outside_tail:
        old = {**old, **_old_links(ws, outside_tail)}
    # A message's conversation is its root's (links point backwards and each message has one parent): before
    # the tail nothing changes; in the tail a message takes its parent's conversation, or starts its own.
    tid_of: dict[int, str] = {}
    rows = []
    for i in range(start, len(msgs)):
        m, p = msgs[i], tail[i - start]
        if m.reply_to in plan.outside and m.kind not in T.UNTHREADED_KINDS and not m.recalled:
            tid, pid = plan.outside[m.reply_to], m.reply_to
        elif p < 0:
            tid, pid = conversation_id(chat, m.id), None
        elif p >= start:
            tid, pid = tid_of[p], msgs[p].id
        else:
            tid, pid = old[msgs[p].id][0], msgs[p].id
        tid_of[i] = tid
        new = (tid, pid)
        if old.get(m.id) != new:
            rows.append((m.id, chat, *new))
    # The conversations the tail left or joined (a full run: every conversation of the chat).
    touched = set(tid_of.values()) | {old[m.id][0] for m in msgs[start:] if m.id in old}
    if plan.full:
        touched |= {r[0] for r in ws.db.execute("SELECT id FROM threads WHERE chat = ?", (chat,))}
    roots = {tid_of[i]: msgs[i].id for i in range(start, len(msgs)) if tid_of[i] == conversation_id(chat, msgs[i].id)}
    with ws.transaction() as db:
        db.executemany("INSERT OR REPLACE INTO message_threads (message_id, chat, thread_id, parent_id)"
                       " VALUES (?, ?, ?, ?)", rows)
        wanted = json.dumps(sorted(touched))
        stored = {r[0]: r[1] for r in db.execute(
            "SELECT id, root_id FROM threads WHERE id IN (SELECT value FROM json_each(?))", (wanted,))}
        # Each touched conversation as a whole (messages before the tail included): first, last, size.
        agg = {r[0]: (r[1], r[2], r[3]) for r in db.execute(
            "SELECT t.thread_id, min(m.ts), max(m.ts), count(*) FROM message_threads t"
            " JOIN messages m ON m.id = t.message_id WHERE t.thread_id IN (SELECT value FROM json_each(?))"
            " GROUP BY t.thread_id", (wanted,))}
        db.executemany(
            "INSERT INTO threads (id, chat, first_ts, last_ts, size, root_id) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET first_ts = excluded.first_ts, last_ts = excluded.last_ts,"
            " size = excluded.size, root_id = excluded.root_id"
            " WHERE threads.size != excluded.size OR threads.last_ts != excluded.last_ts"
            "    OR threads.first_ts != excluded.first_ts OR threads.root_id != excluded.root_id",
            [thread_row(Thread(tid, chat, first_ts, last_ts, size, roots.get(tid) or stored.get(tid)
                               or _root(db, tid)))
             for tid, (first_ts, last_ts, size) in sorted(agg.items())])
        db.executemany("DELETE FROM threads WHERE id = ?", [(t,) for t in sorted(touched) if t not in agg])
    res.rows_changed = len(rows)
    res.threads = len(agg)
    return res


def _root(db, tid: str) -> str:
    """A conversation's earliest message (for one whose threads row is missing)."""
    return db.execute("SELECT m.id FROM message_threads t JOIN messages m ON m.id = t.message_id"
                      " WHERE t.thread_id = ? ORDER BY m.ts, m.rowid LIMIT 1", (tid,)).fetchone()[0]


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    from .embed import workspace_cache

    fp = fingerprint(ws)
    full = ws.get_state(STATE_KEY) != fp
    top = ws.db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
    firsts: dict[str, tuple[int, int] | None] = {}
    if full:
        for (chat,) in ws.db.execute("SELECT DISTINCT chat FROM messages ORDER BY chat"):
            firsts[chat] = None
    else:
        # Chats with a message that has no thread yet: only messages past the last run's rowid can be new.
        seen = 0 if ws.get_state(STATE_KEY) is None else int(ws.get_state(ROWID_KEY, 0))
        for chat, ts, rowid in ws.db.execute(
                "SELECT m.chat, m.ts, m.rowid FROM messages m LEFT JOIN message_threads t ON t.message_id = m.id"
                " WHERE m.rowid > ? AND t.message_id IS NULL ORDER BY m.chat, m.ts, m.rowid", (seen,)):
            firsts.setdefault(chat, (ts, rowid))
    chats = sorted(firsts)
    kept = {} if full else ws.get_state(FLAGS_KEY, {})
    cache = workspace_cache(ws) if chats else None
    bar = rc.progress(len(chats), "chats", unit="chat")
    linked = relinked = changed = reused = 0
    # Chats are the partitions: each is linked where the executor runs it, written here in chat order.
    jobs = (plan_chat(ws, chat, full=full, cache=cache, first=firsts[chat], kept=kept.get(chat)) for chat in chats)
    # the messages to link, for executor = "auto": all of them on a full run, else those past the last run's
    new = top if full else top - int(ws.get_state(ROWID_KEY, 0) or 0)
    for plan, result in rc.map(_link_or_nothing, jobs, size=new, describe=lambda plan: f"chat {plan.chat!r}"):
        r = write_chat(ws, plan, result)
        if plan.flags is not None and plan.msgs:
            kept[plan.chat] = keep_flags(plan.msgs, plan.flags)
        linked += r.linked
        relinked += r.relinked
        changed += r.rows_changed
        reused += r.reused_flags
        bar.update(1)
    bar.close()
    ws.set_state(FLAGS_KEY, kept)
    ws.set_state(ROWID_KEY, top)
    ws.set_state(STATE_KEY, fp)
    total = ws.db.execute("SELECT count(*), coalesce(sum(CASE WHEN size > 1 THEN 1 ELSE 0 END), 0)"
                          " FROM threads").fetchone()
    return {"chats_threaded": len(chats), "messages_linked": linked, "messages_relinked": relinked,
            "rows_changed": changed, "contexts_not_rescored": reused,
            "threads": total[0], "threads_with_replies": total[1]}


@dataclass
class Changes:
    """Which conversations may have changed since a later stage last read them (changes_since)."""

    full: bool  # all of them (a first run, the conversations re-threaded, messages not threaded yet)
    since: dict[str, tuple[int, int]]  # chat → (ts, rowid) from which its conversations may have changed
    mark: dict  # what the stage keeps to ask again next time

    def thread_ids(self, ws: Workspace) -> list[str]:
        """The conversations with a message from `since` on: every one whose messages may have changed."""
        out: set[str] = set()
        for chat, (ts, rowid) in sorted(self.since.items()):
            out.update(r[0] for r in ws.db.execute(
                "SELECT DISTINCT t.thread_id FROM messages m JOIN message_threads t ON t.message_id = m.id"
                " WHERE m.chat = ? AND (m.ts, m.rowid) >= (?, ?)", (chat, ts, rowid)))
        return sorted(out)


def reach() -> int:
    """How many messages before the earliest new one a night's re-linking can change a conversation's members:
    the tail it re-links (RELINK_HORIZON), plus the farthest a link reaches back (the linkers' windows), since a
    conversation a tail message left keeps the message that message used to reply to."""
    dense = T.load_dense_model()
    return T.RELINK_HORIZON + max(T.DEFAULT_WINDOW, (dense.window or 0) if dense is not None else 0)


def changes_since(ws: Workspace, mark: dict | None) -> Changes:
    """The conversations that may have changed since the run that kept `mark` (Changes.mark of that run).

    New messages (rowid past the mark's) change their chat from reach() messages before the earliest of them on:
    the thread stage re-links from RELINK_HORIZON before its first new message, and a tail message leaving a
    conversation leaves behind the message it replied to. The rest of the chat's conversations keep their
    messages. A message recalled later, far from any new message, is not seen (the thread stage does not re-link
    for it either)."""
    top = ws.db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
    fp = ws.get_state(STATE_KEY)
    now = {"rowid": top, "thread": fp}
    if not mark or fp is None or mark.get("thread") != fp:
        return Changes(True, {}, now)
    firsts: dict[str, tuple[int, int]] = {}
    threaded = True
    for chat, ts, rowid, tid in ws.db.execute(
            "SELECT m.chat, m.ts, m.rowid, t.thread_id FROM messages m"
            " LEFT JOIN message_threads t ON t.message_id = m.id WHERE m.rowid > ? ORDER BY m.chat, m.ts, m.rowid",
            (int(mark.get("rowid", 0)),)):
        firsts.setdefault(chat, (ts, rowid))
        threaded = threaded and tid is not None
    if not threaded:  # the thread stage has not run since: conversations are made up from silences (full read)
        return Changes(True, {}, now)
    back = reach()
    since = {}
    for chat, first in firsts.items():
        row = ws.db.execute("SELECT ts, rowid FROM messages WHERE chat = ? AND (ts, rowid) < (?, ?)"
                            " ORDER BY ts DESC, rowid DESC LIMIT 1 OFFSET ?", (chat, *first, back - 1)).fetchone()
        since[chat] = (row[0], row[1]) if row else (-(2 ** 62), 0)
    return Changes(False, since, now)


def conversations_of(ws: Workspace, thread_ids: list[str]) -> dict[str, list[Message]]:
    """thread id → its conversational messages (not recalled), in time order, for these conversations (those
    with no such message are left out), in the order of thread_ids."""
    from ...model import CONVERSATIONAL_KINDS

    out: dict[str, list[Message]] = {t: [] for t in thread_ids}
    for a in range(0, len(thread_ids), 20000):
        wanted = json.dumps(thread_ids[a:a + 20000])
        for row in ws.db.execute(
                "SELECT m.*, t.thread_id AS thread_id_ FROM message_threads t JOIN messages m ON m.id = t.message_id"
                " WHERE t.thread_id IN (SELECT value FROM json_each(?)) ORDER BY m.chat, m.ts, m.rowid", (wanted,)):
            m = row_to_message(row)
            if m.kind in CONVERSATIONAL_KINDS and not m.recalled:
                out[row["thread_id_"]].append(m)
    return {t: ms for t, ms in out.items() if ms}


def _link_or_nothing(job: LinkJob | None) -> tuple[list[int], np.ndarray | None]:
    return link(job) if job is not None else ([], None)


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
