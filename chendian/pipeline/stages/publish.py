"""The publish stage: rebuild <ws>/site (chendian.site.build) when anything it is made of changed.

The site is built into a new folder beside the old one, audited (site/audit.py: no phone number, address,
id or real name the masking missed) and swapped in whole, so a failed, killed or leaky build leaves the
previous site serving. A night costs the pages it changes: conversation pages whose inputs are unchanged are
hard links to the published site's files (build.PAGE_KEYS), and the audit passes over them without reading.
"""

from __future__ import annotations

import hashlib
import json

from ...schema import COLUMNS
from ...search.index import INDEX_LINK, VOCAB_FILE
from ...site.audit import audit_key, names_to_hide, refuse_leaks
from ...site.build import ASSETS, BUILD_VERSION, TEMPLATES, build_site, collector_paused, thread_signatures
from ...site.history import STATE_KEY as HISTORY_KEY, Cached, Delta, history_delta
from ...site.pool import default_workers
from ...store import Workspace
from . import RunContext, Stage
from .thread import changes_since

STATE_KEY = "publish.fingerprint"
AUDIT_STATE_KEY = "publish.audit_key"  # the audit_key the published site passed under


def _every_column(table: str) -> str:
    # The declared columns, not *: on PostgreSQL some tables also carry a rowid column (chendian.schema.ROWID_TABLES).
    return f"SELECT {', '.join(COLUMNS[table])} FROM {table} ORDER BY 1, 2"


# What the site is made of, each as (name, query), besides the messages and their conversations (fingerprint()
# names those without reading them). A conversation's topic and digest are read from their own tables, each in
# key order: joined to the threads row, the two lookups per row cost 1.3 s at 1M messages, apart 0.3 s.
SOURCES = (
    ("chats", _every_column("chats")),
    ("threads", _every_column("threads")),
    ("topic_members", "SELECT thread_id, topic_id FROM topic_members ORDER BY 1"),
    ("thread_digests", "SELECT thread_id, digest FROM thread_digests ORDER BY 1"),
    ("topics", _every_column("topics")),
    ("qas", _every_column("qas")),
    ("faq_entries", _every_column("faq_entries")),
    ("contributors", _every_column("contributors")),
    ("weekly_digests", _every_column("weekly_digests")),
    ("question_responses", _every_column("question_responses")),
    ("expert_suggestions", _every_column("expert_suggestions")),
    ("answer_points", _every_column("answer_points")),
    ("superseded_answers", _every_column("superseded_answers")),
    ("talks", _every_column("talks")),
    ("talk_messages", _every_column("talk_messages")),
)


def fingerprint(ws: Workspace, thread_sigs: dict[str, tuple] | None = None, recalled: list[int] | None = None) -> str:
    """A hash of everything the site is made of: inputs, config, templates and assets.

    The messages are only ever added (a recall sets `recalled`, nothing else changes a stored message), so
    how many there are, the highest rowid and which are recalled name them all; each conversation's messages
    are named by history.thread_signatures (`thread_sigs`, when read already). Reading a million messages each
    night to learn that is what this saves."""
    h = hashlib.blake2b(digest_size=16)
    h.update(BUILD_VERSION.encode())
    cfg = ws.config.site
    h.update(f"{cfg.title}\x1f{cfg.names}\x1f{cfg.base_url}\x1f{ws.config.ingest.timezone}".encode("utf-8"))
    h.update(repr(ws.config.insights).encode())  # report.html shows the answer-time goal and the point rules
    h.update(repr(ws.config.search).encode())  # [search] show_held and vocabulary decide what the site's search holds
    vocab = ws.path(INDEX_LINK) / VOCAB_FILE
    if vocab.is_file():  # the learned vocabulary the site's search expands with
        h.update(vocab.read_bytes())
    members = ws.path(ws.config.insights.members) if ws.config.insights.members else None
    if members is not None and members.is_file():  # teams and person pages come from the members file
        h.update(members.read_bytes())
    # the semantic search's student learns from the vectors the embed stage cached, under the configured model
    h.update(f"{ws.config.embed.model}\x1f{json.dumps(ws.get_state('embed.progress'), sort_keys=True)}".encode())
    for folder in (TEMPLATES, ASSETS):
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                h.update(p.name.encode())
                h.update(p.read_bytes())
    # apart: alone, each is read from an index or its last entry, together by a pass over every message
    count = ws.db.execute("SELECT count(*) FROM messages").fetchone()[0]
    top = ws.db.execute("SELECT max(rowid) FROM messages").fetchone()[0]
    h.update(f"messages\x1f{count}\x1f{top}".encode())
    if recalled is None:  # the recalled rowids, in order (update_history read them already)
        recalled = [r[0] for r in ws.db.execute("SELECT rowid FROM messages WHERE recalled = 1 ORDER BY rowid")]
    for rowid in recalled:
        h.update(f"{rowid},".encode())
    sigs = thread_sigs if thread_sigs is not None else thread_signatures(ws.db)
    h.update(repr(sorted(sigs.items())).encode())
    for table, sql in SOURCES:
        h.update(table.encode())
        # By key, not rowid: a stage that rewrites identical rows in another order changes nothing here.
        for row in ws.db.execute(sql):
            h.update(repr(tuple(row)).encode("utf-8"))
    return h.hexdigest()


def update_history(ws: Workspace) -> Delta:
    """Bring the history tables (site/history.py) up to what the store holds now; the night's Delta."""
    mark = ws.get_state(HISTORY_KEY)
    mark = mark if isinstance(mark, dict) else None

    def thread_changes():
        changes = changes_since(ws, mark.get("threads") if mark else None)
        return changes.full, ([] if changes.full else changes.thread_ids(ws)), changes.since, changes.mark

    delta = history_delta(ws.db, mark, thread_changes)
    with ws.transaction() as db:
        if delta.full:
            db.execute("DELETE FROM publish_senders")
            db.execute("DELETE FROM publish_first_posts")
            db.execute("DELETE FROM publish_names")
        if delta.full_sigs:
            db.execute("DELETE FROM publish_thread_sigs")
        db.executemany("INSERT OR REPLACE INTO publish_senders (sender, name, name_ts, name_rowid, system_n, spoke_n,"
                       " any_name, any_ts, any_rowid, last_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", delta.senders)
        db.executemany("INSERT OR IGNORE INTO publish_names (sender, sender_name) VALUES (?, ?)", delta.names)
        db.executemany("DELETE FROM publish_first_posts WHERE chat = ? AND sender = ?", delta.first_posts_gone)
        db.executemany("INSERT OR REPLACE INTO publish_first_posts (chat, sender, first_ts) VALUES (?, ?, ?)",
                       delta.first_posts)
        db.executemany("DELETE FROM publish_thread_sigs WHERE thread_id = ?", [(t,) for t in delta.sigs_gone])
        db.executemany("INSERT OR REPLACE INTO publish_thread_sigs (thread_id, shown, n, s, h1, h2, h3, chat, last_ts)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", delta.sigs)
        ws.set_state(HISTORY_KEY, delta.mark)
    return delta


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    with collector_paused():  # the history's signatures too: a dict of every conversation
        return _run(ws, rc)


def _run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    target = ws.path("site")
    history = update_history(ws)
    sigs = history.thread_sigs
    fp = fingerprint(ws, sigs, history.mark["recalled"])
    if target.is_dir() and ws.get_state(STATE_KEY) == fp:
        return {"pages": 0, "unchanged": 1}
    names = names_to_hide(ws)
    key = audit_key(names)
    # The published site passed the audit under this key: the pages it shares with the new build need no scan.
    vouched = target if target.is_dir() and ws.get_state(AUDIT_STATE_KEY) == key else None
    check = refuse_leaks(names, vouched, default_workers(ws.config.run.workers))
    counts = build_site(ws, target, rc=rc, check=check, thread_sigs=sigs,
                        history=Cached(ws.db, history.newest_ts)) | history.counts
    ws.set_state(STATE_KEY, fp)
    ws.set_state(AUDIT_STATE_KEY, key)
    if check.report is not None:
        counts |= {"audited_files": check.report.files, "audit_unchanged_files": check.report.unchanged}
    return counts


STAGE = Stage("publish", run, reads=("messages", "message_threads") + tuple(name for name, _ in SOURCES) + ("embeddings",),
              writes=("publish_senders", "publish_names", "publish_first_posts", "publish_thread_sigs"), files=("site",))
