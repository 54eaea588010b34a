"""PostgreSQL as the workspace store (`[store] url`): the nightly run on the bundled examples gives the same tables
and the same site as on SQLite, and a bad url or an unreachable server is one clear line.

The server is a real one from Debian's package (scripts/install-test-deps.sh installs it), started by the test
on 127.0.0.1 in a temporary folder; the tests skip only when its binaries are absent.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pg_server import PostgresServer, find_bin

from chendian.cli import main
from chendian.db import translate
from chendian.errors import ChendianError
from chendian.schema import COLUMNS, PRIMARY_KEYS, TABLES
from chendian.store import Workspace

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Where a run happened, not what it made: the inbox's path, and when the file was imported.
BOOKKEEPING = {"imports": {"file", "at"}, "messages": {"source"}, "import_issues": {"file"}}
# … and the publish stage's hash of its inputs, which covers messages.source.
BOOKKEEPING_STATE = {"publish.fingerprint"}


@pytest.fixture(scope="module")
def server():
    bin_dir = find_bin()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        pytest.skip("PostgreSQL binaries not found (apt install postgresql; or set CHENDIAN_PG_BIN)")
    pg = PostgresServer(bin_dir)
    yield pg
    pg.stop()


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _workspace(root: Path, url: str = "") -> Path:
    result = _cli("init", str(root), *(["--store-url", url] if url else []))
    assert result.exit_code == 0, result.output
    for folder in ("wechat", "qq"):
        shutil.copytree(EXAMPLES / folder, root / "inbox" / folder)
    return root


def _run(root: Path) -> None:
    result = _cli("-w", str(root), "run", "-q")
    assert result.exit_code == 0, result.output


def _tables(root: Path) -> dict[str, list[tuple]]:
    """Every table's rows, by primary key (all columns where it has none), in the columns schema.py declares."""
    ws = Workspace(root)
    try:
        out = {}
        for table in TABLES:
            cols = [c for c in COLUMNS[table] if c not in BOOKKEEPING.get(table, set())]
            order = ", ".join(PRIMARY_KEYS.get(table, COLUMNS[table]))
            rows = [tuple(r) for r in ws.db.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")]
            out[table] = [r for r in rows if table != "state" or r[0] not in BOOKKEEPING_STATE]
        return out
    finally:
        ws.close()


def _site(root: Path) -> dict[str, bytes]:
    pages = {}
    for p in sorted((root / "site").rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            # the build stamp (生成于 <minute>) is the one line that may differ
            pages[str(p.relative_to(root / "site"))] = b"\n".join(
                line for line in data.split(b"\n") if "生成于".encode() not in line)
    return pages


@pytest.fixture(scope="module")
def both(server, tmp_path_factory):
    """The examples run once on SQLite and once on a fresh PostgreSQL database."""
    base = tmp_path_factory.mktemp("stores")
    lite = _workspace(base / "sqlite")
    pg = _workspace(base / "pg", server.create_database("examples"))
    _run(lite)
    _run(pg)
    return lite, pg


def test_the_examples_on_postgres_give_the_same_tables_and_site_as_on_sqlite(both):
    lite, pg = both
    assert (lite / "chendian.db").is_file() and not (pg / "chendian.db").exists()  # the tables live in PostgreSQL
    a, b = _tables(lite), _tables(pg)
    assert len(a["messages"]) > 400 and len(a["faq_entries"]) > 20 and len(a["embeddings"]) > 400
    assert [t for t in TABLES if a[t] != b[t]] == []
    # the store itself, not a copy: the SQLite file holds what the SQLite workspace read back above
    raw = sqlite3.connect(lite / "chendian.db")
    assert raw.execute("SELECT count(*) FROM qas").fetchone()[0] == len(b["qas"])
    raw.close()
    sa, sb = _site(lite), _site(pg)
    assert sorted(sa) == sorted(sb)
    assert [name for name in sa if sa[name] != sb[name]] == []


@pytest.mark.slow  # a third run of the examples, on a local Ray instance of 2 CPUs (~40 s on 2 cores)
def test_ray_workers_writing_to_postgres_give_the_local_sqlite_tables_and_site(both, server, tmp_path):
    """Both halves of scale-out at once: the per-chat stages on Ray, the store on PostgreSQL."""
    pytest.importorskip("ray")
    lite, _ = both
    root = _workspace(tmp_path / "ray-pg", server.create_database("examples_ray"))
    config = root / "chendian.toml"
    text = config.read_text(encoding="utf-8")
    assert 'executor = "auto"' in text and "ray_cpus = 0" in text
    config.write_text(text.replace('executor = "auto"', 'executor = "ray"').replace("ray_cpus = 0", "ray_cpus = 2"),
                      encoding="utf-8")
    _run(root)
    a, b = _tables(lite), _tables(root)
    assert len(b["qas"]) > 20
    assert [t for t in TABLES if a[t] != b[t]] == []
    sa, sb = _site(lite), _site(root)
    assert sorted(sa) == sorted(sb)
    assert [name for name in sa if sa[name] != sb[name]] == []


def test_a_rerun_on_postgres_changes_nothing(both):
    _, pg = both
    before = _tables(pg), _site(pg)
    _run(pg)
    assert (_tables(pg), _site(pg)) == before


def test_curation_goes_to_the_postgres_store(both):
    _, pg = both
    entry = _tables(pg)["faq_entries"][0][0]
    assert _cli("-w", str(pg), "faq", "pin", entry).exit_code == 0
    assert _cli("-w", str(pg), "stage", "faq").exit_code == 0  # the faq stage re-applies the curation log
    result = _cli("-w", str(pg), "faq", "list", "--limit", "1")
    assert result.exit_code == 0 and entry in result.output and "📌" in result.output


def _one_line_error(root: Path, url: str) -> str:
    root.mkdir()
    (root / "chendian.toml").write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    result = _cli("-w", str(root), "stats")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    return result.output


def test_a_bad_store_url_is_one_clear_line(tmp_path, server):
    out = _one_line_error(tmp_path / "a", "mysql://kb@127.0.0.1/kb")
    assert "store.url must be empty" in out and "postgresql://" in out
    with socket.socket() as s:  # nothing listens on this port once the probe socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = _one_line_error(tmp_path / "b", f"postgresql://kb:secret@127.0.0.1:{port}/kb")
    assert "cannot open the PostgreSQL store postgresql://kb:***@127.0.0.1" in out and "secret" not in out
    # the server is up, the database is not
    out = _one_line_error(tmp_path / "c", server.url("no_such_database"))
    assert "cannot open the PostgreSQL store" in out and 'database "no_such_database" does not exist' in out


def test_a_postgres_url_without_psycopg_says_what_to_install(tmp_path, monkeypatch):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "chendian.toml").write_text('[store]\nurl = "postgresql://kb@127.0.0.1:5432/kb"\n', encoding="utf-8")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now raises ImportError
    with pytest.raises(ChendianError, match=r"psycopg is not installed: pip install 'chendian\[postgres\]'"):
        Workspace(root)


def test_sqlite_isms_are_translated_in_one_place():
    keys = {"embeddings": ("key",), "talk_messages": ("talk_id", "message_id")}
    # placeholders become %s, a literal % is escaped for psycopg, and neither changes inside a string literal
    assert translate("SELECT id FROM messages WHERE text LIKE '50%?' AND chat = ?", keys) == \
        "SELECT id FROM messages WHERE text LIKE '50%%?' AND chat = %s"
    assert translate("INSERT OR REPLACE INTO embeddings (key, vec) VALUES (?, ?)", keys) == \
        "INSERT INTO embeddings (key, vec) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET vec = EXCLUDED.vec"
    assert translate("INSERT OR REPLACE INTO talk_messages (talk_id, message_id) VALUES (?, ?)", keys).endswith(
        "ON CONFLICT (talk_id, message_id) DO NOTHING")
    assert translate("INSERT OR IGNORE INTO messages (id) VALUES (?)", keys).endswith(
        "VALUES (%s) ON CONFLICT DO NOTHING")
    # without a column list (tests' fixtures write so): every column of the table, in its order
    assert translate("INSERT OR REPLACE INTO topics VALUES (?, ?, ?, ?)", PRIMARY_KEYS, COLUMNS) == (
        "INSERT INTO topics VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label, keywords = EXCLUDED.keywords, size = EXCLUDED.size")
    assert translate("BEGIN IMMEDIATE", keys) == "BEGIN"
    # SQLite puts NULLs first when ascending, last when descending; windows and subqueries end their ORDER BY
    assert translate("SELECT a FROM (SELECT a, row_number() OVER (PARTITION BY s ORDER BY ts DESC, rowid) k FROM m)"
                     " w WHERE k = 1 ORDER BY ts, a DESC LIMIT ?", keys) == \
        ("SELECT a FROM (SELECT a, row_number() OVER (PARTITION BY s ORDER BY ts DESC NULLS LAST, rowid NULLS FIRST) k"
         " FROM m) w WHERE k = 1 ORDER BY ts NULLS FIRST, a DESC NULLS LAST LIMIT %s")
    with pytest.raises(ChendianError, match="PRAGMA"):
        translate("PRAGMA table_info(messages)", keys)


def test_rows_nulls_and_numbers_read_back_as_from_sqlite(server, tmp_path):
    """Unanswered questions (first_answer_ts NULL) sort, sum and read back the same on both stores."""
    rows = [("q1", "研发交流群", "2024-W09", 1709000000, None),
            ("q2", "研发交流群", "2024-W09", 1709000100, 1709000400),
            ("q3", "云帆新人培训群", "2024-W10", 1709600000, None),
            ("q4", "云帆新人培训群", "2024-W10", 1709600050, 1709600060)]
    seen = []
    for root, url in ((tmp_path / "lite", None), (tmp_path / "pg", server.create_database("nulls"))):
        with Workspace(root, create=True, store_url=url) as ws, ws.transaction() as db:
            db.executemany("INSERT INTO question_responses VALUES (?, ?, ?, ?, ?)", rows)
            first = db.execute("SELECT * FROM question_responses ORDER BY first_answer_ts, qa_id").fetchone()
            seen.append((
                [r[0] for r in db.execute("SELECT qa_id FROM question_responses ORDER BY first_answer_ts, qa_id")],
                [r["qa_id"] for r in db.execute(
                    "SELECT qa_id FROM question_responses ORDER BY first_answer_ts DESC, qa_id")],
                db.execute("SELECT sum(first_answer_ts - asked_ts), count(first_answer_ts), sum(CASE WHEN"
                           " first_answer_ts IS NULL THEN 1 ELSE 0 END) FROM question_responses").fetchone()[:],
                dict(first), [tuple(r) for r in db.execute("SELECT week, count(*) FROM question_responses GROUP BY week"
                                                           " ORDER BY week")]))
    assert seen[0] == seen[1]
    assert seen[0][0] == ["q1", "q3", "q2", "q4"] and seen[0][1] == ["q4", "q2", "q1", "q3"]
    assert seen[0][2] == (310, 2, 2) and type(seen[1][2][0]) is int  # a sum of BIGINT is an int, not a Decimal
