"""What the site reads across every message, kept up to date a night at a time (issue 16).

The ops report (site/report.py) shows one week, but some of what it shows spans all history: each sender's newest
name, the platform's own accounts, whose first post in a chat falls in the week; and every conversation page is
keyed by a signature of its messages (thread_signatures). Computed from scratch, each is a pass over every
message. The publish stage keeps them in tables of its own (publish_senders, publish_names, publish_first_posts,
publish_thread_sigs) with a mark in state `publish.history` (the highest rowid read, how many messages there were,
which were recalled, the thread stage's changes_since mark), and each night reads only what changed:

- messages are only ever added (a recall only sets `recalled`): rows past the mark's rowid are new, and the
  recall flags that differ from the mark's list are the recalls since;
- a sender's counts, newest names and the (sender, name) pairs they wrote under only grow with new rows; a
  (chat, sender)'s first post is the minimum over their standing messages, so new rows can only lower it, and a
  recall since the mark reads that pair again; a sender's newest standing message likewise (its maximum);
- a conversation's signature changes only when its messages do: those the thread stage may have re-linked
  (thread.changes_since: from reach() messages before each chat's first new one), and those with a recall since.

`Delta` is what a night changes; the publish stage writes it. `Scratch` and `Cached` answer the report's
questions alike (tests/test_report_history.py holds a cached report to one computed from scratch).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from ..model import QUOTE, RECALL, SYSTEM, TEXT
from ..store import NEWEST_NAMES, quoted_name, sender_names

STATE_KEY = "publish.history"
VERSION = 3  # bump when what the tables hold changes: the next publish rebuilds them (3: quoted names)

# thread_signatures' aggregates, with the conversation's chat and its newest message (to find, on a later
# night, the conversations that had a message where the thread stage re-links).
_SIG_SQL = ("SELECT mt.thread_id, sum(CASE WHEN m.recalled = 0 AND m.kind NOT IN (?, ?) THEN 1 ELSE 0 END), count(*),"
            " sum(m.rowid), sum((m.rowid * 2654435761) % 4294967311), sum((m.rowid * 40503 + 2166136261) % 4294967291),"
            " sum(m.recalled * ((m.rowid * 2246822519) % 4294967279)), max(mt.chat), max(m.ts)"
            " FROM message_threads mt JOIN messages m ON m.id = mt.message_id{where} GROUP BY mt.thread_id")


def message_chats(db) -> list[str]:
    """Every chat that has messages, from the (chat, ts) index: one seek per chat, not a pass over the messages."""
    return [r[0] for r in db.execute(
        "WITH RECURSIVE c(chat) AS (SELECT min(chat) FROM messages UNION ALL"
        " SELECT (SELECT min(chat) FROM messages WHERE chat > c.chat) FROM c WHERE c.chat IS NOT NULL)"
        " SELECT chat FROM c WHERE chat IS NOT NULL")]


def newest_ts(db) -> int | None:
    """max(ts) over the messages, a seek per chat."""
    values = [db.execute("SELECT max(ts) FROM messages WHERE chat = ?", (c,)).fetchone()[0] for c in message_chats(db)]
    values = [v for v in values if v is not None]
    return max(values) if values else None


class Scratch:
    """The report's whole-history questions, each answered by a pass over the messages (no cache: `chendian
    report`, a build outside the publish stage)."""

    def __init__(self, db):
        self.db = db

    def newest_ts(self) -> int | None:
        return newest_ts(self.db)

    def display(self) -> list[tuple[str, str]]:
        """(sender, the name of their newest message) for every sender who wrote something other than a system
        notice, oldest such message first (NEWEST_NAMES' order)."""
        return [(r[0], r[1]) for r in self.db.execute(NEWEST_NAMES.format(where="kind != ? AND sender != ''"), (SYSTEM,))]

    def system(self) -> set[str]:
        """A platform's own accounts: senders of system notices who never wrote a text or a quote."""
        return {row[0] for row in self.db.execute(
            "SELECT sender FROM messages GROUP BY sender HAVING sum(CASE WHEN kind = ? THEN 1 ELSE 0 END) > 0"
            " AND sum(CASE WHEN kind IN (?, ?) THEN 1 ELSE 0 END) = 0", (SYSTEM, TEXT, QUOTE))}

    def first_posts(self, start: int, end: int) -> list[tuple[str, str, int]]:
        """(chat, sender, ts) of every sender's first standing message in a chat (no notice, nothing recalled)
        when it falls in [start, end), by ts, chat, sender."""
        return [tuple(r) for r in self.db.execute(
            "SELECT chat, sender, first FROM (SELECT chat, sender, min(ts) AS first FROM messages"
            " WHERE kind NOT IN (?, ?) AND recalled = 0 AND sender != '' GROUP BY chat, sender) f"
            " WHERE first >= ? AND first < ? ORDER BY first, chat, sender", (SYSTEM, RECALL, start, end))]

    def names(self) -> list[tuple[str, str]]:
        """store.sender_names: every (sender, name) a message other than a system notice was sent under, and the
        names quotes show."""
        return sender_names(self.db)

    def raw_names(self) -> list[tuple[str, str]]:
        """(sender, the name of their newest message, notices too) for every sender but '', NEWEST_NAMES' order."""
        return [(r[0], r[1]) for r in self.db.execute(NEWEST_NAMES.format(where="sender != ''"))]

    def activity(self, since: int) -> tuple[int, dict[str, tuple[int, int | None]]]:
        """How many senders (but '') wrote something other than a system notice; and sender → (their standing
        messages from `since` on, the ts of their newest standing message) for those with one, standing: neither a
        notice, a recall nor recalled."""
        senders, recent = 0, {}
        for s, n, last in self.db.execute(
                "SELECT sender, sum(CASE WHEN kind != ? AND recalled = 0 AND ts >= ? THEN 1 ELSE 0 END),"
                " max(CASE WHEN kind != ? AND recalled = 0 THEN ts END) FROM messages WHERE kind != ? GROUP BY sender",
                (RECALL, since, RECALL, SYSTEM)):
            senders += bool(s)
            if n or last is not None:
                recent[s] = (n or 0, last)
        return senders, recent


class Cached(Scratch):
    """The same answers from the publish stage's tables (current once the stage has written its Delta)."""

    def __init__(self, db, top_ts: int | None):
        super().__init__(db)
        self._newest = top_ts

    def newest_ts(self) -> int | None:
        return self._newest

    def display(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT sender, name FROM publish_senders WHERE name_ts IS NOT NULL ORDER BY name_ts, sender")]

    def system(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT sender FROM publish_senders WHERE system_n > 0 AND spoke_n = 0")}

    def first_posts(self, start: int, end: int) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in self.db.execute(
            "SELECT chat, sender, first_ts FROM publish_first_posts WHERE first_ts >= ? AND first_ts < ?"
            " ORDER BY first_ts, chat, sender", (start, end))]

    def names(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT sender, sender_name FROM publish_names ORDER BY sender, sender_name")]

    def raw_names(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT sender, any_name FROM publish_senders WHERE any_ts IS NOT NULL AND sender != ''"
            " ORDER BY any_ts, sender")]

    def activity(self, since: int) -> tuple[int, dict[str, tuple[int, int | None]]]:
        # the recent counts from the (chat, ts) index, a seek per chat: only the messages since `since` are read
        window: dict[str, int] = {}
        for chat in message_chats(self.db):
            for s, n in self.db.execute("SELECT sender, count(*) FROM messages WHERE chat = ? AND ts >= ?"
                                        " AND kind NOT IN (?, ?) AND recalled = 0 GROUP BY sender",
                                        (chat, since, SYSTEM, RECALL)):
                window[s] = window.get(s, 0) + n
        senders, recent = 0, {}
        for s, named, last in self.db.execute("SELECT sender, name_ts, last_ts FROM publish_senders"):
            senders += named is not None  # wrote something but a notice (name_ts: senders but '')
            if window.get(s) or last is not None:
                recent[s] = (window.get(s, 0), last)
        return senders, recent


@dataclass
class Delta:
    """What a night changes in the publish stage's history tables (rows as the tables hold them)."""

    full: bool  # the tables are rewritten whole (no usable mark)
    senders: list[tuple] = field(default_factory=list)  # publish_senders rows to upsert
    names: list[tuple[str, str]] = field(default_factory=list)  # publish_names rows to add
    first_posts: list[tuple] = field(default_factory=list)  # publish_first_posts rows to upsert
    first_posts_gone: list[tuple[str, str]] = field(default_factory=list)  # (chat, sender) with no standing message
    sigs: list[tuple] = field(default_factory=list)  # publish_thread_sigs rows to upsert
    sigs_gone: list[str] = field(default_factory=list)  # conversations with no message any more
    full_sigs: bool = False  # publish_thread_sigs is rewritten whole
    thread_sigs: dict[str, tuple] = field(default_factory=dict)  # every conversation's signature, after the night
    mark: dict = field(default_factory=dict)  # state publish.history after the night
    newest_ts: int | None = None
    counts: dict[str, int] = field(default_factory=dict)


def _usable(db, mark: dict | None, count: int) -> bool:
    if not mark or mark.get("version") != VERSION or not isinstance(mark.get("recalled"), list):
        return False
    newer = db.execute("SELECT count(*) FROM messages WHERE rowid > ?", (int(mark.get("rowid", 0)),)).fetchone()[0]
    return count - newer == mark.get("count")  # no message went away (they are only ever added)


def _sig_row(r) -> tuple:
    return (*(int(v or 0) for v in r[1:7]), r[7], r[8])


def thread_signatures(db) -> dict[str, tuple]:
    """thread id → (messages shown, then a signature of which messages it holds and which are recalled), from
    scratch (a build outside the publish stage; the stage keeps them in publish_thread_sigs).

    Messages are only ever added to the store (ingest inserts; a recall only sets `recalled`), so a message's
    row is the same as long as its rowid is: the count, the sum and two hashed sums of the rowids name a
    conversation's messages without reading them, in one pass of the store's C code."""
    return {r[0]: _sig_row(r)[:6] for r in db.execute(_SIG_SQL.format(where=""), (RECALL, SYSTEM))}


def history_delta(db, mark: dict | None, thread_changes: Callable[[], tuple[bool, list[str], dict, dict]]) -> Delta:
    """The night's changes to the history tables, from the store and the last night's `mark` (state
    publish.history). `thread_changes()`: what the thread stage may have changed since the mark's
    `threads` (thread.changes_since): (all of it?, the conversations with a message from there on,
    {chat: (ts, rowid)} from where, the mark to keep)."""
    # apart: alone, each is answered from an index (count) or its last entry (max), not by a pass over the rows
    count = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    top = db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
    recalled = [r[0] for r in db.execute("SELECT rowid FROM messages WHERE recalled = 1 ORDER BY rowid")]
    full = not _usable(db, mark, count)
    seen = 0 if full else int(mark["rowid"])
    delta = Delta(full=full)

    # sender → [name, name_ts, name_rowid, system_n, spoke_n, any_name, any_ts, any_rowid, last_ts]
    senders: dict[str, list] = {}
    firsts: dict[tuple[str, str], int] = {}
    new_rows = db.execute("SELECT rowid, chat, ts, sender, sender_name, kind, recalled, quote FROM messages WHERE rowid > ?"
                          " ORDER BY rowid", (seen,))
    if not full:
        new_rows = new_rows.fetchall()  # a night's few; a rebuild streams them
    if not full:  # read back only the rows of the senders and chats the new messages touch
        wanted = sorted({r[3] for r in new_rows})
        for r in db.execute("SELECT sender, name, name_ts, name_rowid, system_n, spoke_n, any_name, any_ts, any_rowid,"
                            " last_ts FROM publish_senders WHERE sender IN (SELECT value FROM json_each(?))", (json.dumps(wanted),)):
            senders[r[0]] = list(r[1:])
        for chat, sender, first in db.execute(
                "SELECT chat, sender, first_ts FROM publish_first_posts WHERE chat IN (SELECT value FROM json_each(?))",
                (json.dumps(sorted({r[1] for r in new_rows})),)):
            firsts[(chat, sender)] = first
    changed_senders: set[str] = set()
    changed_pairs: set[tuple[str, str]] = set()
    read = newest = 0
    names: set[tuple[str, str]] = set()
    for rowid, chat, ts, sender, name, kind, is_recalled, quote in new_rows:
        read += 1
        newest = max(newest, ts)
        s = senders.setdefault(sender, [None, None, None, 0, 0, None, None, None, None])
        changed_senders.add(sender)
        s[3] += kind == SYSTEM
        s[4] += kind in (TEXT, QUOTE)
        if kind != SYSTEM:
            names.add((sender, name))
            quoted = quoted_name(quote)
            if quoted:
                names.add((quoted, quoted))  # as store.sender_names: a person named in a quote only
        if kind != SYSTEM and sender != "" and (s[1] is None or (ts, rowid) > (s[1], s[2])):
            s[0], s[1], s[2] = name, ts, rowid
        if sender != "" and (s[6] is None or (ts, rowid) > (s[6], s[7])):
            s[5], s[6], s[7] = name, ts, rowid
        if kind not in (SYSTEM, RECALL) and not is_recalled:
            if s[8] is None or ts > s[8]:
                s[8] = ts
            if sender == "":
                continue
            key = (chat, sender)
            if key not in firsts or ts < firsts[key]:
                firsts[key] = ts
                changed_pairs.add(key)

    # Recalls since the mark among the messages it had read: their pairs' first posts are read again.
    recall_changed: list[int] = []
    if not full:
        before = set(mark["recalled"])
        now = {r for r in recalled if r <= seen}
        recall_changed = sorted(before ^ now)
        if recall_changed:
            rows = db.execute("SELECT DISTINCT chat, sender FROM messages WHERE rowid IN (SELECT value FROM json_each(?))",
                              (json.dumps(recall_changed),)).fetchall()
            # their newest standing messages, read again (a recall may have taken it)
            again = sorted({sender for _, sender in rows})
            for sender in again:
                if sender not in senders:
                    senders[sender] = list(db.execute(
                        "SELECT name, name_ts, name_rowid, system_n, spoke_n, any_name, any_ts, any_rowid, last_ts"
                        " FROM publish_senders WHERE sender = ?", (sender,)).fetchone())
                senders[sender][8] = None
                changed_senders.add(sender)
            for sender, last in db.execute(
                    "SELECT sender, max(ts) FROM messages WHERE sender IN (SELECT value FROM json_each(?))"
                    " AND kind NOT IN (?, ?) AND recalled = 0 GROUP BY sender", (json.dumps(again), SYSTEM, RECALL)):
                senders[sender][8] = last
            for chat, sender in rows:
                if sender == "":
                    continue
                first = db.execute("SELECT min(ts) FROM messages WHERE chat = ? AND sender = ? AND kind NOT IN (?, ?)"
                                   " AND recalled = 0", (chat, sender, SYSTEM, RECALL)).fetchone()[0]
                if first is None:
                    firsts.pop((chat, sender), None)
                    delta.first_posts_gone.append((chat, sender))
                    changed_pairs.discard((chat, sender))
                else:
                    firsts[(chat, sender)] = first
                    changed_pairs.add((chat, sender))
    delta.senders = [(s, *senders[s]) for s in sorted(changed_senders)]
    delta.names = sorted(names)
    delta.first_posts = [(c, s, firsts[(c, s)]) for c, s in sorted(changed_pairs)]

    # Conversations: every one on a full rebuild or when the thread stage re-threaded, else those it may have
    # re-linked, those that had a message there, and those with a recall since.
    t_full, t_ids, since, t_mark = thread_changes()
    cached: dict[str, tuple] = {}
    if not full and not t_full:
        cached = {r[0]: tuple(r[1:]) for r in db.execute(
            "SELECT thread_id, shown, n, s, h1, h2, h3, chat, last_ts FROM publish_thread_sigs")}
    if full or t_full:
        fresh = {r[0]: _sig_row(r) for r in db.execute(_SIG_SQL.format(where=""), (RECALL, SYSTEM))}
        delta.sigs = [(t, *v) for t, v in sorted(fresh.items())]
        delta.full_sigs = True
        sigs = fresh
    else:
        redo = set(t_ids)
        redo.update(t for t, v in cached.items() if v[6] in since and v[7] is not None and v[7] >= since[v[6]][0])
        if recall_changed:
            redo.update(r[0] for r in db.execute(
                "SELECT DISTINCT mt.thread_id FROM messages m JOIN message_threads mt ON mt.message_id = m.id"
                " WHERE m.rowid IN (SELECT value FROM json_each(?))", (json.dumps(recall_changed),)))
        fresh = {}
        ids = sorted(redo)
        for a in range(0, len(ids), 20000):
            fresh.update((r[0], _sig_row(r)) for r in db.execute(
                _SIG_SQL.format(where=" WHERE mt.thread_id IN (SELECT value FROM json_each(?))"),
                (RECALL, SYSTEM, json.dumps(ids[a:a + 20000]))))
        delta.sigs = [(t, *v) for t, v in sorted(fresh.items()) if cached.get(t) != v]
        delta.sigs_gone = sorted(t for t in redo if t not in fresh and t in cached)
        sigs = cached
        for t in delta.sigs_gone:
            del sigs[t]
        sigs.update(fresh)
    delta.thread_sigs = {t: v[:6] for t, v in sigs.items()}
    top_ts = newest_ts(db) if full or mark.get("newest_ts") is None else max(mark["newest_ts"], newest)
    delta.newest_ts = top_ts
    delta.mark = {"version": VERSION, "rowid": top, "count": count, "recalled": recalled, "threads": t_mark,
                  "newest_ts": top_ts}
    delta.counts = {"history_messages_read": read, "history_recalls": len(recall_changed),
                    "history_threads_read": len(fresh), "history_full": int(full), "history_threads_full": int(full or t_full)}
    return delta
