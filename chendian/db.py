"""The store's connection: SQLite (the embedded default) or PostgreSQL (`[store] url`), behind one API.

The code talks to the store through the subset of `sqlite3.Connection` it has always used: `execute` and
`executemany` with `?` placeholders, cursors to iterate or fetch from, rows read by name or unpacked as tuples,
`.rowcount`, and explicit transactions (`BEGIN IMMEDIATE` … `COMMIT`). For SQLite that is sqlite3 itself. For
PostgreSQL, PgConnection offers the same calls over psycopg 3 and translates the few SQLite-isms in one place
(`translate`), so the ~170 call sites stay as they are:

- `?` → `%s` (and a literal `%` → `%%`), outside string literals;
- `INSERT OR IGNORE` → `ON CONFLICT DO NOTHING`; `INSERT OR REPLACE` → `ON CONFLICT (primary key) DO UPDATE`;
- `BEGIN IMMEDIATE` → `BEGIN`; `json_each(?)` → `json_array_elements_text(?)`; `instr(` → `strpos(`;
- ORDER BY terms get SQLite's NULL order (first when ascending, last when descending), which PostgreSQL reverses.

What cannot be translated is written in SQL both understand (e.g. `sum(CASE WHEN … THEN 1 ELSE 0 END)`, not
`sum(x > 1)`; no bare columns beside GROUP BY). Values round-trip as in SQLite: the DDL maps INTEGER to BIGINT,
REAL to DOUBLE PRECISION, BLOB to BYTEA and TEXT to TEXT COLLATE "C" (byte order, as SQLite sorts); Python
bools are stored as 0/1; sums of integers come back as int, not Decimal. psycopg is imported only when a
PostgreSQL url is configured (`pip install 'chendian[postgres]'`).
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .errors import ChendianError

SQLITE = "sqlite"
POSTGRES = "postgresql"
URL_SCHEMES = ("postgresql", "postgres")


class StoreError(ChendianError, RuntimeError):
    pass


def dialect(db) -> str:
    """Which database a connection talks to: SQLITE or POSTGRES."""
    return getattr(db, "dialect", SQLITE)


def redacted(url: str) -> str:
    """The url without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check_url(url: str) -> None:
    """Raise StoreError unless `url` is empty (SQLite) or a postgresql:// url."""
    if url and urlsplit(url).scheme not in URL_SCHEMES:
        raise StoreError(f"store.url must be empty (SQLite in the workspace) or postgresql://user@host:port/database,"
                         f" not {redacted(url)!r}")


Names = Mapping[str, Sequence[str]]  # table → column names
BUSY_SECONDS = 300


def open_store(url: str, sqlite_path: Path, primary_keys: Names, columns: Names):
    """A connection to the workspace's store: `url` (PostgreSQL) or, when empty, the SQLite file `sqlite_path`.
    `primary_keys` (table → its key columns) is what an INSERT OR REPLACE replaces on; `columns` (table → its
    columns in order) what one without a column list sets."""
    check_url(url)
    if url:
        return PgConnection(url, primary_keys, columns)
    # Explicit transactions only. A writer waits its turn up to BUSY_SECONDS: the stages of a group write at once
    # (pipeline.stage_groups), each in short transactions.
    db = sqlite3.connect(sqlite_path, isolation_level=None, timeout=BUSY_SECONDS)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: big imports insert random-order ids
    db.execute("PRAGMA temp_store=MEMORY")
    return db


# -- PostgreSQL -------------------------------------------------------------------------------------------------

class _RowBase(tuple):
    """A result row as sqlite3.Row reads: by position, by column name, unpacked, dict(row)."""

    __slots__ = ()
    _index: dict[str, int] = {}
    _names: tuple[str, ...] = ()

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key.lower()])
            except KeyError:
                raise IndexError(f"no column named {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type:
    index: dict[str, int] = {}
    for i, n in enumerate(names):
        index.setdefault(n.lower(), i)  # the first of two equal names wins, as in sqlite3.Row
    return type("Row", (_RowBase,), {"__slots__": (), "_index": index, "_names": names})


def _row_factory(cursor):
    names = tuple(d.name for d in cursor.description or ())
    cls = _row_class(names)
    return lambda values: cls(values)


_LITERAL = re.compile(r"'(?:[^']|'')*'")
_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)\s*(\(([^)]*)\))?", re.I)
_ORDER_BY = re.compile(r"\bORDER\s+BY\b", re.I)
_ORDER_END = re.compile(r"\b(LIMIT|OFFSET|ROWS|RANGE|GROUPS)\b", re.I)
_NULLS = re.compile(r"\bNULLS\s+(FIRST|LAST)\s*$", re.I)
_DESC = re.compile(r"\bDESC\s*$", re.I)


def _with_sqlite_null_order(sql: str) -> str:
    """Every ORDER BY term with NULLS FIRST (ascending) or NULLS LAST (descending), as SQLite orders NULLs."""
    out, pos = [], 0
    for m in _ORDER_BY.finditer(sql):
        if m.start() < pos:
            continue
        out.append(sql[pos:m.end()])
        i, depth, start, terms = m.end(), 0, m.end(), []
        while i < len(sql):
            c = sql[i]
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            elif c == "," and depth == 0:
                terms.append(sql[start:i])
                start = i + 1
            elif depth == 0 and (c.isalpha()) and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                if _ORDER_END.match(sql, i):
                    break
            i += 1
        terms.append(sql[start:i])
        fixed = []
        for t in terms:
            body = t.rstrip()
            if not _NULLS.search(body):
                body += " NULLS LAST" if _DESC.search(body) else " NULLS FIRST"
            fixed.append(body + t[len(t.rstrip()):])
        out.append(",".join(fixed))
        pos = i
    out.append(sql[pos:])
    return "".join(out)


def translate(sql: str, primary_keys: Names, columns: Names | None = None) -> str:
    """SQLite-flavoured SQL (as the call sites write it) → PostgreSQL for psycopg (`%s` placeholders)."""
    literals: list[str] = []

    def hide(m: re.Match) -> str:
        literals.append(m.group(0))
        return f"\x00{len(literals) - 1}\x00"

    s = _LITERAL.sub(hide, sql)
    if re.match(r"\s*PRAGMA\b", s, re.I):
        raise StoreError(f"a PRAGMA has no meaning on the PostgreSQL store: {sql.strip()[:80]}")
    s = re.sub(r"^\s*BEGIN\s+(IMMEDIATE|EXCLUSIVE|DEFERRED)\b", "BEGIN", s, flags=re.I)
    s = s.replace("%", "%%").replace("?", "%s")
    s = re.sub(r"\bjson_each\(\s*%s\s*\)", "json_array_elements_text(CAST(%s AS json))", s, flags=re.I)
    s = re.sub(r"\binstr\(", "strpos(", s, flags=re.I)
    m = _INSERT_OR.match(s)
    if m:
        how, table, listed = m.group(1).upper(), m.group(2), m.group(4)
        s = f"INSERT INTO {table}" + (f" ({listed})" if listed else "") + " " + s[m.end():].lstrip()
        if how == "IGNORE":
            s = s.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
        else:
            if listed:
                names = [c.strip() for c in listed.split(",")]
            else:  # VALUES for every column, in order
                names = list((columns or {}).get(table, ()))[:s.count("%s")]
            if table not in primary_keys or not names:
                raise StoreError(f"INSERT OR REPLACE into a table without a primary key: {sql[:80]}")
            key = primary_keys[table]
            rest = [c for c in names if c not in key]
            action = ("DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)) if rest else "DO NOTHING"
            s = s.rstrip().rstrip(";") + f" ON CONFLICT ({', '.join(key)}) {action}"
    s = _with_sqlite_null_order(s)
    return re.sub(r"\x00(\d+)\x00", lambda m: literals[int(m.group(1))].replace("%", "%%"), s)


def _params(params) -> Sequence:
    if params is None:
        return ()
    return params if isinstance(params, (list, tuple)) else tuple(params)


class PgConnection:
    """A PostgreSQL connection offering the sqlite3.Connection calls the code makes (see the module doc)."""

    dialect = POSTGRES

    def __init__(self, url: str, primary_keys: Names, columns: Names):
        try:
            import psycopg
        except ImportError:
            raise StoreError(f"store.url is a PostgreSQL url ({redacted(url)}) but psycopg is not installed:"
                             " pip install 'chendian[postgres]'") from None
        self._psycopg = psycopg
        self.url = url
        self._keys = primary_keys
        self._columns = columns
        self._translated: dict[str, str] = {}
        try:
            self._conn = psycopg.connect(url, autocommit=True, row_factory=_row_factory, connect_timeout=10)
        except psycopg.Error as e:
            raise StoreError(f"cannot open the PostgreSQL store {redacted(url)}: {_first_line(e)}") from None
        _register_adapters(self._conn)
        encoding = self._conn.execute("SHOW server_encoding").fetchone()[0]
        if encoding.upper() not in ("UTF8", "UTF-8"):
            self._conn.close()
            raise StoreError(f"the PostgreSQL store {redacted(url)} has encoding {encoding}; chendian needs a UTF8"
                             " database (CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0)")

    def _run(self, fn, sql: str, *args):
        query = self._translated.get(sql)
        if query is None:
            query = self._translated[sql] = translate(sql, self._keys, self._columns)
        try:
            return fn(query, *args)
        except (self._psycopg.OperationalError, self._psycopg.InterfaceError) as e:
            raise StoreError(f"the PostgreSQL store {redacted(self.url)} failed: {_first_line(e)}") from None

    def execute(self, sql: str, params: Iterable = ()):
        return self._run(self._conn.execute, sql, _params(params))

    def executemany(self, sql: str, seq_of_params: Iterable[Sequence]):
        cur = self._conn.cursor()
        rows = [_params(p) for p in seq_of_params]
        if rows:
            self._run(cur.executemany, sql, rows)
        return cur

    def executescript(self, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                self.execute(statement)

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE

    def close(self) -> None:
        self._conn.close()

    # -- what schema.py needs to know about tables that exist ------------------------------------------------
    def tables(self) -> set[str]:
        return {r[0] for r in self._conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self._conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = %s ORDER BY ordinal_position", (table,))]


def _first_line(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0].strip()


def _register_adapters(conn) -> None:
    from psycopg.adapt import Dumper, Loader

    class BoolAsInt(Dumper):
        # SQLite has no booleans: True is stored as 1, into the INTEGER (BIGINT) columns the code declares.
        oid = conn.adapters.types["int8"].oid

        def dump(self, obj):
            return b"1" if obj else b"0"

    class NumericAsNumber(Loader):
        # sum() of BIGINT is NUMERIC in PostgreSQL; SQLite gives an int (or a float), and so do we.
        def load(self, data):
            text = bytes(data).decode("ascii")
            return int(text) if text.lstrip("-").isdigit() else float(text)

    conn.adapters.register_dumper(bool, BoolAsInt)
    conn.adapters.register_loader("numeric", NumericAsNumber)
