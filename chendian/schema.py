"""Every table of the workspace store, in one place, created when the workspace opens.

Each table has exactly one writer: the stage that lists it in its `writes` (chendian.pipeline.STAGES), or,
for the few tables no stage owns, the owner named in NOT_STAGE_OWNED. docs/workspace.md describes them for
people; a test checks that it, this file and the stage list agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .db import POSTGRES, dialect

# table name -> its DDL (with its indexes). Columns are appended only, never renamed, so that existing
# workspaces keep working: CREATE TABLE IF NOT EXISTS leaves an older table as it is.
TABLES: dict[str, str] = {
    # -- ingest ------------------------------------------------------------------------------------------
    "chats": """
CREATE TABLE IF NOT EXISTS chats (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    platform TEXT NOT NULL
);""",
    "messages": """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    chat TEXT NOT NULL,
    ts INTEGER NOT NULL,          -- epoch seconds, for ordering and ranges
    time TEXT NOT NULL,           -- ISO 8601 with the offset it was read in
    sender TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    platform_id TEXT,
    reply_to TEXT,
    quote TEXT,                   -- JSON of the unresolved quote, when there was one
    mentions TEXT NOT NULL,       -- JSON list
    recalled INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL,
    extra TEXT NOT NULL,          -- JSON object
    import_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_chat_ts ON messages (chat, ts);
CREATE INDEX IF NOT EXISTS messages_platform ON messages (chat, platform_id) WHERE platform_id IS NOT NULL;""",
    "imports": """
CREATE TABLE IF NOT EXISTS imports (
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    format TEXT NOT NULL,
    at TEXT NOT NULL,
    messages_read INTEGER NOT NULL,
    messages_new INTEGER NOT NULL,
    issues INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS imports_sha ON imports (sha256);""",
    "import_issues": """
CREATE TABLE IF NOT EXISTS import_issues (
    import_id INTEGER NOT NULL,
    file TEXT NOT NULL,
    line INTEGER,
    message TEXT NOT NULL
);""",
    # -- runner bookkeeping: one key per stage (e.g. "thread.fingerprint") --------------------------------
    "state": """
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);""",
    # -- segment -------------------------------------------------------------------------------------------
    "tokens": "CREATE TABLE IF NOT EXISTS tokens (message_id TEXT PRIMARY KEY, tokens TEXT NOT NULL);",
    # -- embed (and the content-addressed cache every vector user reads through) --------------------------
    "embeddings": "CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vec BLOB NOT NULL);",
    # -- thread --------------------------------------------------------------------------------------------
    "message_threads": """
CREATE TABLE IF NOT EXISTS message_threads (
    message_id TEXT PRIMARY KEY, chat TEXT NOT NULL, thread_id TEXT NOT NULL, parent_id TEXT);
CREATE INDEX IF NOT EXISTS message_threads_chat ON message_threads (chat);
CREATE INDEX IF NOT EXISTS message_threads_thread ON message_threads (thread_id);""",
    # Workspaces made before the stages had one table each also carry `topic_id` and `digest` columns here;
    # nothing writes or reads them any more (topic_members and thread_digests hold them).
    "threads": """
CREATE TABLE IF NOT EXISTS threads (
    id TEXT PRIMARY KEY, chat TEXT NOT NULL, first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL,
    size INTEGER NOT NULL, root_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS threads_chat ON threads (chat, first_ts);""",
    # -- topics --------------------------------------------------------------------------------------------
    "topics": "CREATE TABLE IF NOT EXISTS topics (id TEXT PRIMARY KEY, label TEXT, keywords TEXT, size INTEGER);",
    "topic_members": "CREATE TABLE IF NOT EXISTS topic_members (thread_id TEXT PRIMARY KEY, topic_id TEXT NOT NULL);",
    "topic_centroids": "CREATE TABLE IF NOT EXISTS topic_centroids (topic_id TEXT PRIMARY KEY, vec BLOB NOT NULL);",
    # the words each topic's label is chosen from (c-TF-IDF counts), kept so that a night adds only its own
    "topic_terms": """
CREATE TABLE IF NOT EXISTS topic_terms (topic_id TEXT NOT NULL, term TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (topic_id, term));
CREATE INDEX IF NOT EXISTS topic_terms_term ON topic_terms (term);""",
    # -- extract -------------------------------------------------------------------------------------------
    "qas": """
CREATE TABLE IF NOT EXISTS qas (
    id TEXT PRIMARY KEY, chat TEXT, thread_id TEXT, question_id TEXT, question TEXT, asker TEXT,
    asker_name TEXT, ts INTEGER, answers TEXT, score REAL
);
CREATE INDEX IF NOT EXISTS qas_thread ON qas (thread_id);""",
    # -- talks (分享 made into articles) --------------------------------------------------------------------
    "talks": """
CREATE TABLE IF NOT EXISTS talks (
    id TEXT PRIMARY KEY, chat TEXT NOT NULL, day TEXT NOT NULL, start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL,
    speaker TEXT NOT NULL, speaker_name TEXT, title TEXT, title_source TEXT,
    qa_ids TEXT,                  -- JSON list, oldest first
    evidence TEXT,                -- JSON list of the kinds of evidence it was detected on
    hidden INTEGER NOT NULL DEFAULT 0
);""",
    "talk_messages": """
CREATE TABLE IF NOT EXISTS talk_messages (
    talk_id TEXT NOT NULL, message_id TEXT NOT NULL,
    role TEXT NOT NULL,           -- talk (in the article) | signin | sticker | chatter | question | answer | announcement | removed
    PRIMARY KEY (talk_id, message_id)
);""",
    # -- faq -----------------------------------------------------------------------------------------------
    "faq_entries": """
CREATE TABLE IF NOT EXISTS faq_entries (
    id TEXT PRIMARY KEY, question TEXT, answer TEXT, answerers TEXT, variants TEXT, count INTEGER,
    topic_id TEXT, qa_ids TEXT, thread_ids TEXT, first_ts INTEGER, last_ts INTEGER, answered INTEGER,
    hidden INTEGER DEFAULT 0, pinned INTEGER DEFAULT 0, approved INTEGER DEFAULT 0, answers TEXT,
    confidence REAL DEFAULT 1, published INTEGER DEFAULT 1, worthy REAL DEFAULT 1
);""",
    "faq_members": "CREATE TABLE IF NOT EXISTS faq_members (qa_id TEXT PRIMARY KEY, entry_id TEXT NOT NULL);",
    # per-text features the faq stage computes for every question on every run, kept so that a night computes
    # those of its new texts only (summarize/qa/faq.py, FeatureMemo): key = hash(code, kind, text), value JSON
    "faq_features": "CREATE TABLE IF NOT EXISTS faq_features (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    "contributors": """
CREATE TABLE IF NOT EXISTS contributors (
    sender TEXT PRIMARY KEY, name TEXT, questions INTEGER, answers INTEGER, acknowledged INTEGER, topics TEXT
);""",
    # -- people (`chendian faq …`): every curation action, re-applied by the faq stage on every run --------
    "curation": "CREATE TABLE IF NOT EXISTS curation (entry_id TEXT, action TEXT, value TEXT, at TEXT);",
    # -- summarize -----------------------------------------------------------------------------------------
    "thread_digests": "CREATE TABLE IF NOT EXISTS thread_digests (thread_id TEXT PRIMARY KEY, chat TEXT, digest TEXT);",
    "weekly_digests": """
CREATE TABLE IF NOT EXISTS weekly_digests (chat TEXT, week TEXT, body TEXT, PRIMARY KEY (chat, week));""",
    # -- insights ------------------------------------------------------------------------------------------
    "question_responses": """
CREATE TABLE IF NOT EXISTS question_responses (
    qa_id TEXT PRIMARY KEY, chat TEXT NOT NULL, week TEXT NOT NULL, asked_ts INTEGER NOT NULL,
    first_answer_ts INTEGER       -- NULL: not answered
);""",
    "expert_suggestions": """
CREATE TABLE IF NOT EXISTS expert_suggestions (
    qa_id TEXT NOT NULL, rank INTEGER NOT NULL, sender TEXT NOT NULL, name TEXT, score REAL,
    similar_qa_ids TEXT,          -- JSON list, most similar first
    PRIMARY KEY (qa_id, rank)
);""",
    "answer_points": """
CREATE TABLE IF NOT EXISTS answer_points (
    qa_id TEXT NOT NULL, sender TEXT NOT NULL, name TEXT, week TEXT NOT NULL, points REAL NOT NULL,
    acknowledged INTEGER NOT NULL, repeats INTEGER NOT NULL, PRIMARY KEY (qa_id, sender)
);""",
    "superseded_answers": """
CREATE TABLE IF NOT EXISTS superseded_answers (
    qa_id TEXT NOT NULL, answer_message_id TEXT NOT NULL, answer_sender TEXT, by_message_id TEXT NOT NULL,
    by_ts INTEGER NOT NULL, phrase TEXT, PRIMARY KEY (qa_id, answer_message_id)
);""",
    # What each question's insights rows were computed from (digests), so a night redoes only what changed.
    "insights_inputs": """
CREATE TABLE IF NOT EXISTS insights_inputs (
    qa_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,         -- its row of qas
    rows_key TEXT,                -- its question_responses and answer_points rows (NULL: not counted)
    open_key TEXT,                -- as an open question (NULL: not open)
    answered_key TEXT,            -- as an answered question (NULL: no answer)
    topic TEXT, question_key TEXT,
    answerers TEXT                -- sender \x1f name, \x1e between answerers
);""",
    # -- publish: what the site reads across every message, kept a night at a time (chendian/site/history.py) ----
    "publish_senders": """
CREATE TABLE IF NOT EXISTS publish_senders (
    sender TEXT PRIMARY KEY,
    name TEXT, name_ts INTEGER, name_rowid INTEGER,  -- their newest message but notices (NULL: none)
    system_n INTEGER NOT NULL,    -- system notices
    spoke_n INTEGER NOT NULL,     -- texts and quotes
    any_name TEXT, any_ts INTEGER, any_rowid INTEGER,  -- their newest message, notices too (NULL: none)
    last_ts INTEGER               -- their newest standing message but notices and recalls (NULL: none)
);""",
    "publish_first_posts": """
CREATE TABLE IF NOT EXISTS publish_first_posts (
    chat TEXT NOT NULL, sender TEXT NOT NULL,
    first_ts INTEGER NOT NULL,    -- their first standing message in the chat (no notice, nothing recalled)
    PRIMARY KEY (chat, sender)
);""",
    "publish_names": """
CREATE TABLE IF NOT EXISTS publish_names (
    sender TEXT NOT NULL, sender_name TEXT NOT NULL,  -- every (sender, name) a message but a notice was sent under,
                                                      -- and (name, name) for a name a quote shows (store.sender_names)
    PRIMARY KEY (sender, sender_name)
);""",
    "publish_thread_sigs": """
CREATE TABLE IF NOT EXISTS publish_thread_sigs (
    thread_id TEXT PRIMARY KEY,
    shown INTEGER NOT NULL, n INTEGER NOT NULL, s INTEGER NOT NULL, h1 INTEGER NOT NULL, h2 INTEGER NOT NULL,
    h3 INTEGER NOT NULL,          -- history.thread_signatures
    chat TEXT, last_ts INTEGER    -- its chat and newest message
);""",
}

# Columns added after a table first shipped: a workspace made before gets them on open (ALTER TABLE … ADD).
ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "faq_entries": (("confidence", "REAL DEFAULT 1"), ("published", "INTEGER DEFAULT 1"), ("worthy", "REAL DEFAULT 1")),
    # what the digest was made of (summarize.conversation_key); NULL: make it again when the conversation is read
    "thread_digests": (("fingerprint", "TEXT"),),
    # the content key (embeddings) of the text a member adds to its topic's centre; the centre's float64 sum
    "topic_members": (("vec_key", "TEXT"),),
    "topic_centroids": (("total", "BLOB"), ("n", "INTEGER")),
    # the people directory's whole-history reads (site/history.py); filled when the history is next rebuilt
    "publish_senders": (("any_name", "TEXT"), ("any_ts", "INTEGER"), ("any_rowid", "INTEGER"), ("last_ts", "INTEGER")),
}

# Tables no stage writes, and who does.
NOT_STAGE_OWNED: dict[str, str] = {
    "state": "the runner's bookkeeping: each stage keeps its own keys (<stage>.<what>)",
    "curation": "people, through `chendian faq approve|hide|edit|merge|split|pin …`",
}
# The embed stage owns `embeddings`; other stages read vectors through the same content-addressed cache
# (summarize.text.embed.EmbeddingCache), which memoises what they embed there. A cache row is a pure function of
# (model, text), so it does not matter who computed it first.
SHARED_CACHES: frozenset[str] = frozenset({"embeddings"})


# Tables whose code orders by SQLite's implicit rowid (insertion order). PostgreSQL has no rowid: there they get
# an explicit `rowid` column, last (positional INSERTs fill the columns before it). messages.rowid is assigned by
# Workspace.insert_rows as SQLite would (max + 1 per new row), so watermarks in `state` are equal on both stores;
# the others count up from an identity.
ROWID_TABLES: dict[str, str] = {
    "messages": "rowid BIGINT NOT NULL",
    "contributors": "rowid BIGINT GENERATED BY DEFAULT AS IDENTITY",
    "curation": "rowid BIGINT GENERATED BY DEFAULT AS IDENTITY",
}
ROWID_INDEXES: dict[str, str] = {"messages": "CREATE UNIQUE INDEX IF NOT EXISTS messages_rowid ON messages (rowid);"}


def _statements(ddl: str) -> list[str]:
    ddl = re.sub(r"--[^\n]*", "", ddl)
    return [s.strip() for s in ddl.split(";") if s.strip()]


def _column_defs(table_ddl: str) -> list[str]:
    """The comma-separated items inside CREATE TABLE ( … ), split at depth 0."""
    body = table_ddl[table_ddl.index("(") + 1:table_ddl.rindex(")")]
    items, depth, start = [], 0, 0
    for i, c in enumerate(body):
        depth += c == "("
        depth -= c == ")"
        if c == "," and depth == 0:
            items.append(body[start:i].strip())
            start = i + 1
    items.append(body[start:].strip())
    return [i for i in items if i]


def _parse() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    columns, keys = {}, {}
    for name, ddl in TABLES.items():
        cols, key = [], ()
        for item in _column_defs(_statements(ddl)[0]):
            m = re.match(r"PRIMARY KEY\s*\(([^)]*)\)", item)
            if m:
                key = tuple(c.strip() for c in m.group(1).split(","))
                continue
            col = item.split()[0]
            cols.append(col)
            if "PRIMARY KEY" in item:
                key = (col,)
        have = set(cols)
        cols += [c for c, _ in ADDED_COLUMNS.get(name, ()) if c not in have]
        columns[name] = tuple(cols)
        if key:
            keys[name] = key
    return columns, keys


# table → its columns in order (what `SELECT *` gives on SQLite; PostgreSQL adds `rowid` where ROWID_TABLES say),
# and table → its primary key (what INSERT OR REPLACE replaces on).
COLUMNS, PRIMARY_KEYS = _parse()

_PG_TYPES = (("INTEGER", "BIGINT"), ("REAL", "DOUBLE PRECISION"), ("BLOB", "BYTEA"), ("TEXT", 'TEXT COLLATE "C"'))


def _pg_type(decl: str) -> str:
    # Upper-case type names only: the columns named text, time … are lower case.
    for sqlite_type, pg_type in _PG_TYPES:
        decl = re.sub(rf"\b{sqlite_type}\b", pg_type, decl)
    return decl


def _pg_index(statement: str) -> str:
    # NULLS FIRST, as SQLite sorts and as the queries ask (chendian.db.translate), so ORDER BY can use the index.
    head, cols = re.match(r"(.*?\bON\s+\w+\s*)\(([^)]*)\)", statement, re.S).groups()
    rest = statement[len(head) + len(cols) + 2:]
    return f"{head}({', '.join(c.strip() + ' NULLS FIRST' for c in cols.split(','))}){rest}"


def table_ddl(name: str, flavour: str) -> list[str]:
    """The statements that create table `name` (and its indexes) on SQLite or PostgreSQL."""
    statements = _statements(TABLES[name])
    if flavour != POSTGRES:
        return statements
    out = []
    for s in statements:
        if s.upper().startswith("CREATE TABLE"):
            items = [_pg_type(i) for i in _column_defs(s)]
            if name in ROWID_TABLES:
                items.append(ROWID_TABLES[name])
            out.append(s[:s.index("(")] + "(\n    " + ",\n    ".join(items) + "\n)")
        else:
            out.append(_pg_index(s))
    out += _statements(ROWID_INDEXES.get(name, ""))
    return out


def create_tables(db, names: Iterable[str] | None = None) -> None:
    """Create the named tables (default: all) where they do not exist yet, on the store `db` talks to."""
    names = list(names if names is not None else TABLES)
    if dialect(db) == POSTGRES:
        have = db.tables()
        for name in names:
            if name not in have:
                for statement in table_ddl(name, POSTGRES):
                    db.execute(statement)
            if name in ADDED_COLUMNS:
                existing = set(db.columns(name))
                for column, decl in ADDED_COLUMNS[name]:
                    if column not in existing:
                        db.execute(f"ALTER TABLE {name} ADD COLUMN {column} {_pg_type(decl)}")
        return
    for name in names:
        db.executescript(TABLES[name]) if not db.in_transaction else _create_in_transaction(db, TABLES[name])
        if name in ADDED_COLUMNS:
            have = {row[1] for row in db.execute(f"PRAGMA table_info({name})")}
            for column, decl in ADDED_COLUMNS[name]:
                if column not in have:
                    db.execute(f"ALTER TABLE {name} ADD COLUMN {column} {decl}")


def _create_in_transaction(db, ddl: str) -> None:
    # executescript would COMMIT the caller's transaction first; statements one by one keep it open.
    for statement in ddl.split(";"):
        if statement.strip():
            db.execute(statement)
