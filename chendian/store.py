"""The workspace: a store (SQLite in the folder by default, or PostgreSQL: `[store] url`) plus artifact files.

The file chendian.db opens through sqlite3; a PostgreSQL url through chendian.db.PgConnection, which answers the
same calls. Either way the lock, inbox, index, site and reports live in the workspace folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from .config import CONFIG_NAME, DEFAULT_CONFIG_TEXT, Config, StoreConfig, config_template, load_config
from .errors import ChendianError
from .model import RECALL, SYSTEM, QA, Answer, Answerer, Contributor, FaqAnswer, FaqEntry, Message, Quote, Talk, Thread, Topic
from .db import POSTGRES, dialect, open_store
from .schema import COLUMNS, PRIMARY_KEYS, create_tables

DB_NAME = "chendian.db"
LOCK_NAME = ".chendian.lock"

# Each sender (among the messages `where` selects) with the name of their newest message, least recently heard
# first: `NEWEST_NAMES.format(where=…)`.
NEWEST_NAMES = ("SELECT sender, sender_name FROM (SELECT sender, sender_name, ts, row_number() OVER"
                " (PARTITION BY sender ORDER BY ts DESC, rowid DESC) AS k FROM messages WHERE {where}) w"
                " WHERE k = 1 ORDER BY ts, sender")


def sender_names(db) -> list[tuple[str, str]]:
    """Every (sender, name) a message other than a system notice was sent under, and (name, name) for every name a
    quote shows (quoted_name), by sender and name: the people whose names privacy rewrites inside published text
    (the site, search's hits) and the audit hunts. A person seen only in a quote (their own messages predate the
    export) is named in the quote's header and in the text around it all the same."""
    pairs = {(r[0], r[1]) for r in db.execute(
        "SELECT sender, sender_name FROM messages WHERE kind != ? GROUP BY sender, sender_name", (SYSTEM,))}
    for (quote,) in db.execute("SELECT quote FROM messages WHERE quote IS NOT NULL AND kind != ?", (SYSTEM,)):
        name = quoted_name(quote)
        if name:
            pairs.add((name, name))
    return sorted(pairs)


def quoted_name(quote: str | None) -> str | None:
    """The quoted sender's display name in a stored quote (the messages table's `quote` JSON), if it has one. As
    the site shows a quote's author, Privacy.name(None, name), the name is its own sender id."""
    if not quote:
        return None
    try:
        name = json.loads(quote).get("sender_name")
    except (ValueError, AttributeError):
        return None  # a stored value the reader reports elsewhere (json_column); here it names no one
    return (name.strip() or None) if isinstance(name, str) else None


# Where a reader reports a stored value it could not read (the value then reads as empty): a run goes on.
Warn = Callable[[str], None]

class WorkspaceError(ChendianError, RuntimeError):
    pass


class WorkspaceLocked(WorkspaceError):
    pass


def row_to_message(row: sqlite3.Row) -> Message:
    quote = json.loads(row["quote"]) if row["quote"] else None
    return Message(
        id=row["id"],
        chat=row["chat"],
        time=datetime.fromisoformat(row["time"]),
        sender=row["sender"],
        sender_name=row["sender_name"],
        kind=row["kind"],
        text=row["text"],
        source=row["source"],
        platform_id=row["platform_id"],
        reply_to=row["reply_to"],
        quote=Quote(**quote) if quote else None,
        mentions=json.loads(row["mentions"]),
        recalled=bool(row["recalled"]),
        extra=json.loads(row["extra"]),
    )


class Workspace:
    """A workspace folder: chendian.toml, the store (chendian.db or `[store] url`) and the artifacts stages write."""

    def __init__(self, root: str | os.PathLike, *, create: bool = False, store_url: str | None = None):
        """Open the workspace in `root`; with create=True make it first (chendian.toml with `store_url`, if given,
        as its [store] url), keeping a chendian.toml that is already there."""
        self.root = Path(root)
        if create:
            if store_url and (self.root / CONFIG_NAME).exists():
                raise WorkspaceError(f"{self.root / CONFIG_NAME} exists already: set its [store] url instead")
            text = config_template(Config(store=StoreConfig(url=store_url))) if store_url else DEFAULT_CONFIG_TEXT
            self.root.mkdir(parents=True, exist_ok=True)
            if not (self.root / CONFIG_NAME).exists():
                (self.root / CONFIG_NAME).write_text(text, encoding="utf-8")
        elif not (self.root / CONFIG_NAME).exists() and not (self.root / DB_NAME).exists():
            raise WorkspaceError(f"{self.root} is not a chendian workspace (no {CONFIG_NAME}); run `chendian init {self.root}`")
        self.config: Config = load_config(self.root)
        self.db = open_store(self.config.store.url, self.root / DB_NAME, PRIMARY_KEYS, COLUMNS)
        try:
            create_tables(self.db)
        except BaseException:
            self.db.close()
            raise
        if create:
            (self.root / self.config.ingest.inbox).mkdir(exist_ok=True)
        self._lock_fd: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        self.unlock()
        self.db.close()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @contextlib.contextmanager
    def locked(self, what: str) -> Iterator[None]:
        """Hold the workspace write lock: two runs never write one workspace at once. Re-entrant."""
        if self._lock_fd is not None:  # already held by an enclosing run: keep it until that ends
            yield
            return
        self.lock(what)
        try:
            yield
        finally:
            self.unlock()

    def lock(self, what: str) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise WorkspaceLocked(
                f"workspace {self.root} is busy: another chendian process holds its lock ({holder or 'unknown'}); "
                "try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {what} since {datetime.now().isoformat(timespec='seconds')}".encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: everything inside lands together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # -- state ---------------------------------------------------------------------------------------
    def get_state(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def get_state_dict(self, key: str) -> dict | None:
        """A stage's bookkeeping kept as a JSON object in a string: None when absent or unreadable (start clean)."""
        try:
            value = json.loads(self.get_state(key) or "null")
        except (TypeError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def set_state(self, key: str, value) -> None:
        self.db.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value, ensure_ascii=False)),
        )

    # -- messages ------------------------------------------------------------------------------------
    def insert_messages(self, messages: Iterable[Message], import_id: int) -> int:
        """Insert messages not already stored (same id); returns how many were new. Call inside a transaction."""
        return self.insert_rows([message_row(m, import_id) for m in messages])

    def insert_rows(self, rows: list[tuple]) -> int:
        """Insert rows made by message_row(); returns how many were new. Call inside a transaction."""
        if dialect(self.db) == POSTGRES:
            return self._insert_new_rows(rows)
        before = self.db.total_changes
        self.db.executemany(
            "INSERT OR IGNORE INTO messages (id, chat, ts, time, sender, sender_name, kind, text, platform_id,"
            " reply_to, quote, mentions, recalled, source, extra, import_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return self.db.total_changes - before

    def _insert_new_rows(self, rows: list[tuple]) -> int:
        # PostgreSQL has no rowid: number the rows that are new (not stored, first of their id in this batch) as
        # SQLite numbers them, max(rowid) + 1 onwards, so stages that remember a rowid agree on both stores.
        stored = {r[0] for r in self.db.execute("SELECT id FROM messages WHERE id = ANY(?)", ([r[0] for r in rows],))}
        fresh = []
        for r in rows:
            if r[0] not in stored:
                stored.add(r[0])
                fresh.append(r)
        top = self.db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
        self.db.executemany(
            "INSERT INTO messages (id, chat, ts, time, sender, sender_name, kind, text, platform_id,"
            " reply_to, quote, mentions, recalled, source, extra, import_id, rowid)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*r, top + i) for i, r in enumerate(fresh, 1)],
        )
        return len(fresh)

    def upsert_chat(self, chat: str, name: str, platform: str) -> None:
        self.db.execute(
            "INSERT INTO chats (id, name, platform) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            (chat, name, platform),
        )

    def messages(self, chat: str | None = None, since_ts: int | None = None) -> Iterator[Message]:
        """Messages in chat/time order."""
        sql, args = "SELECT * FROM messages", []
        where = []
        if chat is not None:
            where.append("chat = ?")
            args.append(chat)
        if since_ts is not None:
            where.append("ts >= ?")
            args.append(since_ts)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY chat, ts, rowid"
        for row in self.db.execute(sql, args):
            yield row_to_message(row)

    def messages_by_id(self, ids: Iterable[str]) -> dict[str, Message]:
        """The messages with these ids (unknown ids are left out), by id."""
        wanted = json.dumps(sorted(set(ids)))
        return {r["id"]: row_to_message(r) for r in self.db.execute(
            "SELECT * FROM messages WHERE id IN (SELECT value FROM json_each(?))", (wanted,))}

    def messages_around(self, message_id: str, before: int = 2, after: int = 2) -> list[Message]:
        """A message with the `before` messages that precede it and the `after` that follow it in its chat."""
        row = self.db.execute("SELECT rowid, chat, ts FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return []
        key = (row["chat"], row["ts"], row["rowid"])
        earlier = self.db.execute("SELECT * FROM messages WHERE chat = ? AND (ts, rowid) < (?, ?)"
                                  " ORDER BY ts DESC, rowid DESC LIMIT ?", (*key, before)).fetchall()
        later = self.db.execute("SELECT * FROM messages WHERE chat = ? AND (ts, rowid) >= (?, ?)"
                                " ORDER BY ts, rowid LIMIT ?", (*key, after + 1)).fetchall()
        return [row_to_message(r) for r in [*reversed(earlier), *later]]

    def messages_around_each(self, message_ids: list[str], before: int = 2,
                             after: int = 2) -> dict[str, list[Message]]:
        """messages_around for many messages: message id → its list (an unknown id maps to []), the messages
        themselves found in one query."""
        keys = {r[0]: (r[1], r[2], r[3]) for r in self.db.execute(
            "SELECT id, chat, ts, rowid FROM messages WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(set(message_ids))),))}
        out: dict[str, list[Message]] = {}
        for mid in message_ids:
            key = keys.get(mid)
            if key is None:
                out[mid] = []
                continue
            earlier = self.db.execute("SELECT * FROM messages WHERE chat = ? AND (ts, rowid) < (?, ?)"
                                      " ORDER BY ts DESC, rowid DESC LIMIT ?", (*key, before)).fetchall()
            later = self.db.execute("SELECT * FROM messages WHERE chat = ? AND (ts, rowid) >= (?, ?)"
                                    " ORDER BY ts, rowid LIMIT ?", (*key, after + 1)).fetchall()
            out[mid] = [row_to_message(r) for r in [*reversed(earlier), *later]]
        return out

    def count_messages(self) -> int:
        return self.db.execute("SELECT count(*) FROM messages").fetchone()[0]

    def chats(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM chats ORDER BY id").fetchall()

    # -- what the stages wrote -----------------------------------------------------------------------
    def thread_links(self) -> tuple[dict[str, str], dict[str, str | None]]:
        """The thread stage's output: message id → thread id, and message id → predicted parent (or None)."""
        thread_of: dict[str, str] = {}
        parent_of: dict[str, str | None] = {}
        for mid, tid, pid in self.db.execute("SELECT message_id, thread_id, parent_id FROM message_threads"):
            thread_of[mid] = tid
            parent_of[mid] = pid
        return thread_of, parent_of

    def thread_topics(self) -> dict[str, str]:
        """The topics stage's output: thread id → topic id."""
        return dict(self.db.execute("SELECT thread_id, topic_id FROM topic_members"))

    def threads(self) -> list[Thread]:
        """The thread stage's conversations, oldest first."""
        return [Thread(r["id"], r["chat"], r["first_ts"], r["last_ts"], r["size"] or 0, r["root_id"])
                for r in self.db.execute("SELECT * FROM threads ORDER BY first_ts, id")]

    def thread_tuples(self) -> list[tuple[str, str, int, int, int]]:
        """threads() as plain (id, chat, first_ts, last_ts, size) tuples, same order (the site reads 200k of them)."""
        return [(i, c, f, la, s or 0) for i, c, f, la, s in self.db.execute(
            "SELECT id, chat, first_ts, last_ts, size FROM threads ORDER BY first_ts, id")]

    def shown_thread_sizes(self) -> dict[str, int]:
        """thread id → its messages that are neither recalled nor system notices (what people get to read)."""
        return dict(self.db.execute(
            "SELECT mt.thread_id, count(*) FROM message_threads mt JOIN messages m ON m.id = mt.message_id"
            " WHERE m.recalled = 0 AND m.kind NOT IN (?, ?) GROUP BY mt.thread_id", (RECALL, SYSTEM)))

    def topics(self, *, warn: Warn) -> list[Topic]:
        """The topics stage's topics, largest first."""
        return [Topic(r["id"], r["label"] or "", _strings(r["keywords"], f"topics {r['id']} keywords", warn),
                      r["size"] or 0)
                for r in self.db.execute("SELECT * FROM topics ORDER BY size DESC, id")]

    def qas(self, *, warn: Warn) -> list[QA]:
        """The extract stage's questions, oldest first."""
        return [QA(id=r["id"], chat=r["chat"], thread_id=r["thread_id"], question_id=r["question_id"],
                   question=r["question"] or "", asker=r["asker"], asker_name=r["asker_name"], ts=int(r["ts"] or 0),
                   answers=[Answer.from_json(a) for a in _objects(r["answers"], f"qas {r['id']} answers", warn)],
                   score=float(r["score"] or 0))
                for r in self.db.execute("SELECT * FROM qas ORDER BY ts, id")]

    def faq_entries(self, *, include_hidden: bool, warn: Warn) -> list[FaqEntry]:
        """The faq stage's entries, oldest first."""
        where = "" if include_hidden else " WHERE COALESCE(hidden, 0) = 0"
        entries = []
        for r in self.db.execute(f"SELECT * FROM faq_entries{where} ORDER BY first_ts, id"):
            where_in = f"faq_entries {r['id']}"
            entries.append(FaqEntry(
                id=r["id"], question=r["question"] or "", answer=r["answer"] or "", count=r["count"] or 0,
                qa_ids=_strings(r["qa_ids"], f"{where_in} qa_ids", warn),
                thread_ids=_strings(r["thread_ids"], f"{where_in} thread_ids", warn),
                variants=_strings(r["variants"], f"{where_in} variants", warn),
                answers=[FaqAnswer.from_json(a) for a in _objects(r["answers"], f"{where_in} answers", warn)],
                answerers=[Answerer(str(a.get("sender") or ""), str(a.get("name") or ""), int(a.get("count") or 0))
                           for a in _objects(r["answerers"], f"{where_in} answerers", warn)],
                topic_id=r["topic_id"], first_ts=r["first_ts"], last_ts=r["last_ts"], answered=bool(r["answered"]),
                hidden=bool(r["hidden"]), pinned=bool(r["pinned"]), approved=bool(r["approved"]),
                worthy=_float(r["worthy"], 1.0), confidence=_float(r["confidence"], 1.0),
                published=bool(1 if r["published"] is None else r["published"])))
        return entries

    def contributors(self, *, warn: Warn) -> list[Contributor]:
        """The faq stage's contributors, in the order it wrote them (first seen first)."""
        return [Contributor(r["sender"], r["name"] or "", r["questions"] or 0, r["answers"] or 0, r["acknowledged"] or 0,
                            {str(t.get("topic")): int(t.get("count") or 0)
                             for t in _objects(r["topics"], f"contributors {r['sender']} topics", warn)})
                for r in self.db.execute("SELECT * FROM contributors ORDER BY rowid")]

    def talks(self, *, include_hidden: bool = True, warn: Warn) -> list[Talk]:
        """The talks stage's talks, oldest first, each with its messages' roles (the article's in time order)."""
        where = "" if include_hidden else " WHERE hidden = 0"
        roles: dict[str, dict[str, str]] = {}
        for tid, mid, role in self.db.execute(
                "SELECT tm.talk_id, tm.message_id, tm.role FROM talk_messages tm LEFT JOIN messages m"
                " ON m.id = tm.message_id ORDER BY tm.talk_id, m.ts, m.rowid"):
            roles.setdefault(tid, {})[mid] = role
        out = []
        for r in self.db.execute(f"SELECT * FROM talks{where} ORDER BY start_ts, id"):
            rs = roles.get(r["id"], {})
            out.append(Talk(id=r["id"], chat=r["chat"], day=r["day"], start_ts=r["start_ts"], end_ts=r["end_ts"],
                            speaker=r["speaker"], speaker_name=r["speaker_name"] or "", title=r["title"] or "",
                            title_source=r["title_source"] or "", message_ids=[m for m, x in rs.items() if x == "talk"],
                            roles=rs, qa_ids=_strings(r["qa_ids"], f"talks {r['id']} qa_ids", warn),
                            evidence=_strings(r["evidence"], f"talks {r['id']} evidence", warn),
                            hidden=bool(r["hidden"])))
        return out

    def thread_digests(self) -> dict[str, str]:
        """The summarize stage's digest of each conversation: thread id → digest (empty ones left out)."""
        return {t: d for t, d in self.db.execute("SELECT thread_id, digest FROM thread_digests") if d}

    def weekly_digests(self) -> list[tuple[str, str, str]]:
        """The summarize stage's (chat, ISO week, Markdown body), newest week first."""
        return [tuple(r) for r in self.db.execute("SELECT chat, week, body FROM weekly_digests ORDER BY week DESC, chat")]

    # -- the insights stage's tables (site/report.py aggregates them) -------------------------------------
    def question_responses(self) -> list[sqlite3.Row]:
        """(qa_id, chat, week, asked_ts, first_answer_ts) per counted question, oldest first."""
        return self.db.execute("SELECT * FROM question_responses ORDER BY asked_ts, qa_id").fetchall()

    def expert_suggestions(self) -> dict[str, list[dict]]:
        """qa id → its suggested members, best first: {sender, name, score, similar_qa_ids}."""
        out: dict[str, list[dict]] = {}
        for r in self.db.execute("SELECT * FROM expert_suggestions ORDER BY qa_id, rank"):
            out.setdefault(r["qa_id"], []).append({"sender": r["sender"], "name": r["name"] or r["sender"],
                                                   "score": r["score"], "similar_qa_ids": json.loads(r["similar_qa_ids"] or "[]")})
        return out

    def answer_points(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM answer_points ORDER BY week, qa_id, sender").fetchall()

    def superseded_answers(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM superseded_answers ORDER BY by_ts, qa_id").fetchall()


def _float(value, default: float) -> float:
    return default if value is None else float(value)


def json_column(value: str | None, kind: type[list] | type[dict], where: str, warn: Warn):
    """A JSON list (or object) column; anything else is reported and read as an empty one."""
    if value in (None, ""):
        return kind()
    try:
        parsed = json.loads(value)
    except (TypeError, json.JSONDecodeError) as e:
        warn(f"{where}: not valid JSON ({e}); read as empty")
        return kind()
    if not isinstance(parsed, kind):
        warn(f"{where}: expected a JSON {kind.__name__}, got {type(parsed).__name__}; read as empty")
        return kind()
    return parsed


def _strings(value: str | None, where: str, warn: Warn) -> list[str]:
    return [v for v in json_column(value, list, where, warn) if isinstance(v, str)]


def _objects(value: str | None, where: str, warn: Warn) -> list[dict]:
    return [v for v in json_column(value, list, where, warn) if isinstance(v, dict)]


REPLY_TO_COLUMN = 9  # position of reply_to in a message_row()


def message_row(m: Message, import_id: int) -> tuple:
    """A message as a row of the messages table (plain values: cheap to send between processes)."""
    q = m.quote
    return (
        m.id,
        m.chat,
        int(m.time.timestamp()),
        m.time.isoformat(),
        m.sender,
        m.sender_name,
        m.kind,
        m.text,
        m.platform_id,
        m.reply_to,
        json.dumps({"platform_id": q.platform_id, "sender_name": q.sender_name, "text": q.text},
                   ensure_ascii=False) if q else None,
        json.dumps(m.mentions, ensure_ascii=False) if m.mentions else "[]",
        int(m.recalled),
        m.source,
        json.dumps(m.extra, ensure_ascii=False) if m.extra else "{}",
        import_id,
    )


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
