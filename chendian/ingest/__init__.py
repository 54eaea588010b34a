"""Ingest: read exports (files, folders, zip archives) into the workspace's message store.

Each file is sniffed (or forced with `fmt`), read by one reader, its quotes resolved, and inserted in one
transaction: a failed file changes nothing. Bad lines are reported with file and line and counted.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import json
import multiprocessing
import os
import posixpath
import re
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from ..errors import ChendianError
from ..model import RECALL, Message, Quote
from ..store import REPLY_TO_COLUMN, Workspace, message_row, utc_now
from .base import Issue, ReadContext, Reader, SourceFile, UnreadableFile

# Sniffing order matters: specific formats before loose ones (generic JSONL and copy-paste text last).
READER_MODULES = (
    "pywxdump",
    "memotrace",
    "memotrace_txt",
    "chatlog",
    "weflow",
    "wxcli",
    "wechatexporter",
    "wecom",
    "qq_mht",
    "qq_classic",
    "qqchatexporter",
    "telegram_html",
    "telegram",
    "slack",
    "discord",
    "chatlab",
    "feishu",
    "jsonl",
    "wechat_copypaste",
)

BATCH = 20000  # messages inserted per executemany; bounds memory on million-message exports
# Files at least this big are parsed in a forked reader process while this one inserts (both cores busy);
# smaller ones are not worth a process.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
QUOTE_WINDOW = 5000  # recent messages per chat searched when resolving a quote by name and text


def readers() -> list[Reader]:
    found = []
    for name in READER_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue  # a reader not written yet
            raise
        found.append(module.READER)
    return found


def reader_names() -> list[str]:
    return [r.name for r in readers()]


class IngestError(ChendianError):
    """A file could not be imported at all (nothing from it was stored)."""


@dataclass
class FileReport:
    file: str
    format: str = ""
    read: int = 0
    new: int = 0
    events: int = 0  # records that are not messages by design (counted, not stored)
    skipped: str = ""  # why nothing was read ("already imported", "auxiliary file")
    error: str = ""
    issues: list[Issue] = field(default_factory=list)
    chats: dict[str, str] = field(default_factory=dict)


@dataclass
class IngestReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def new(self) -> int:
        return sum(f.new for f in self.files)

    @property
    def issues(self) -> list[Issue]:
        return [i for f in self.files for i in f.issues]

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.error]


# -- walking paths ------------------------------------------------------------------------------------

# What reading one member of a readable archive can raise: a bad local header or CRC (BadZipFile), broken
# deflate data (zlib.error), an unknown compression method (NotImplementedError), a password (RuntimeError).
_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError, EOFError, ValueError)


def _corrupt_member(path: Path, member: str, e: Exception) -> FileReport:
    what = "it is encrypted (password-protected)" if "encrypted" in str(e) else f"{type(e).__name__}: {e}"
    return FileReport(file=f"{path}!{member}", error=f"cannot extract this zip member ({what});"
                                                     " the archive's other members are imported")


def _zip_sources(path: Path) -> Iterator[SourceFile | FileReport]:
    """The whole archive as one source, then each member; a member that cannot be extracted is a FileReport."""
    try:
        archive = zipfile.ZipFile(path)
        infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    except (zipfile.BadZipFile, OSError) as e:
        raise UnreadableFile(f"not a readable zip archive ({e})") from None
    members = {i.filename for i in infos}

    def sibling_of(member: str) -> Callable[[str], bytes | None]:
        folder = member.rsplit("/", 1)[0] + "/" if "/" in member else ""

        def read(name: str) -> bytes | None:
            for candidate in (folder + name, name):
                if candidate in members:
                    return archive.read(candidate)
            return None

        return read

    # The whole archive is offered first: some exports (Slack) are a folder tree, not single files.
    yield SourceFile(name=str(path), data=path.read_bytes(), siblings=lambda n: archive.read(n) if n in members else None)
    for info in sorted(infos, key=lambda i: natural_key(i.filename)):
        try:
            data = archive.read(info)
        except _MEMBER_ERRORS as e:
            yield _corrupt_member(path, info.filename, e)
            continue
        yield SourceFile(name=f"{path}!{info.filename}", data=data, siblings=sibling_of(info.filename))


def _file_source(path: Path) -> SourceFile:
    folder = path.parent

    def sibling(name: str) -> bytes | None:
        p = folder / name
        return p.read_bytes() if p.is_file() else None

    return SourceFile(name=str(path), data=path.read_bytes(), siblings=sibling)


def natural_key(name: str) -> str:
    """Sort key with digit runs compared as numbers: messages.html, messages2.html, …, messages10.html.

    Runs are zero-padded, so names whose numbers have the same width keep their plain order."""
    return re.sub(r"\d+", lambda m: m.group().rjust(20, "0"), name)


def iter_paths(paths: list[str | os.PathLike]) -> Iterator[Path]:
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted((d for d in dirs if not d.startswith(".")), key=natural_key)
                for f in sorted(files, key=natural_key):
                    if not f.startswith("."):
                        yield Path(root) / f
        else:
            yield p


def export_media(parts: tuple[str, ...] | list[str], exists: Callable[[str], bool]) -> str | None:
    """Why a file is skipped as an export's media (its folder is one of a reader's media_dirs and the
    reader's media_anchor sits one folder up), or None. `exists` checks a path relative to the file's folder."""
    if len(parts) < 2:
        return None
    for r in readers():
        if r.media_anchor and parts[-2] in r.media_dirs and exists(f"../{r.media_anchor}"):
            return f"media of a {r.label} (the messages beside it are what is read)"
    return None


# -- name mappings ----------------------------------------------------------------------------------

def load_names(path: str | os.PathLike) -> dict[str, str]:
    """An id→name mapping: a JSON object ({id: name} or {id: {name|nickname|remark: …}}) or a 2-column CSV."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise IngestError(f"{p}: cannot read name mapping ({e})") from None
    names: dict[str, str] = {}
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            raise IngestError(f"{p}:{e.lineno}: expected a JSON object of id → name ({e.msg})") from None
        if isinstance(data, list):
            return _member_names(p, raw)
        if not isinstance(data, dict):
            raise IngestError(f"{p}: expected a JSON object of id → name")
        for key, value in data.items():
            if isinstance(value, dict):
                value = value.get("remark") or value.get("nickname") or value.get("name") or ""
            if isinstance(value, str) and value:
                names[str(key)] = value
        return names
    for lineno, row in enumerate(csv.reader(io.StringIO(raw)), 1):
        if not row or row[0].startswith("#"):
            continue
        if len(row) < 2:
            raise IngestError(f"{p}:{lineno}: expected two columns: id,name")
        names[row[0].strip()] = row[1].strip()
    return names


def _member_names(path: Path, raw: str) -> dict[str, str]:
    """wx-cli `members GROUP --json` / `contacts --json`: [{username, display, …}] → username → display.

    `display` is the group card, else remark > nickname > wxid: exactly the label wx-cli's markdown and txt
    exports write as the sender, so those exports' senders can be keyed on the username through it."""
    from .wechat_common import json_array_items

    names: dict[str, str] = {}
    for index, line, item, error in json_array_items(raw, raw.index("[")):
        if error:
            raise IngestError(f"{path}:{line}: {error}")
        username = item.get("username") if isinstance(item, dict) else None
        name = (item.get("display") or item.get("contact_display")) if isinstance(item, dict) else None
        if not isinstance(username, str) or not username or not isinstance(name, str) or not name:
            raise IngestError(f"{path}:{line}: item #{index}: expected a wx-cli members/contacts entry "
                              "{username, display, …} with both fields")
        names[username] = name
    return names


# -- the import ------------------------------------------------------------------------------------

def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def sniff(src: SourceFile, candidates: list[Reader]) -> Reader | None:
    for reader in candidates:
        try:
            if reader.sniff(src):
                return reader
        except Exception:  # a sniffer must never crash the import; it just does not claim the file
            continue
    return None


class _QuoteResolver:
    """Resolve quotes among the messages just read: by platform id, else by quoted sender + text.

    Works on what this read has seen (it may run in a reader process); what it cannot find is looked up in
    the store by resolve_in_store() just before the batch is inserted.
    """

    def __init__(self):
        # Only the batch not yet inserted is kept here; earlier ones are found in the store (same transaction).
        self.by_pid: dict[tuple[str, str], str] = {}
        self.recent: dict[str, deque[Message]] = {}

    def add(self, m: Message) -> None:
        if m.platform_id:
            self.by_pid[(m.chat, m.platform_id)] = m.id
        recent = self.recent.get(m.chat)
        if recent is None:
            recent = self.recent[m.chat] = deque(maxlen=QUOTE_WINDOW)
        recent.append(m)

    def flushed(self) -> None:
        self.by_pid.clear()

    def resolve(self, m: Message) -> str | None:
        q = m.quote
        if q.platform_id:
            hit = self.by_pid.get((m.chat, q.platform_id))
            if hit:
                return hit
        probe = (q.text or "").strip()[:30]
        if not probe and not q.sender_name:
            return None
        for prev in reversed(self.recent.get(m.chat, ())):
            if prev.id == m.id or prev.kind == RECALL:
                continue
            if q.sender_name and q.sender_name not in (prev.sender_name, prev.sender):
                continue
            if not probe or probe in prev.text or (" " in probe and probe in prev.text.replace("\n", " ")):
                return prev.id
        return None


def resolve_in_store(ws: Workspace, chat: str, quote: Quote, epoch: int) -> str | None:
    """A quote's target among messages already stored (earlier imports, earlier batches of this one)."""
    if quote.platform_id:
        row = ws.db.execute("SELECT id FROM messages WHERE chat = ? AND platform_id = ?",
                            (chat, quote.platform_id)).fetchone()
        if row:
            return row[0]
    probe = (quote.text or "").strip()[:30]
    if probe:
        # Some exporters (wx-cli) flatten the quoted text's newlines to spaces: such a probe also matches there.
        flat = " " in probe
        haystack = "replace(text, ?, ?)" if flat else "text"
        row = ws.db.execute(
            f"SELECT id FROM messages WHERE chat = ? AND ts <= ? AND instr({haystack}, ?) > 0"
            " AND (CAST(? AS TEXT) IS NULL OR sender_name = ?) ORDER BY ts DESC, rowid DESC LIMIT 1",
            (chat, epoch, *(("\n", " ") if flat else ()), probe, quote.sender_name, quote.sender_name),
        ).fetchone()
        if row:
            return row[0]
    return None


def _produce(reader: Reader, src: SourceFile, ctx: ReadContext, import_id: int) -> Iterator[tuple]:
    """Read a file into insertable rows, a batch at a time.

    Yields ("rows", rows, pending, recalls) per batch, where pending lists (row index, chat, quote, epoch) for
    quotes to look up in the store and recalls (chat, platform id) of withdrawn messages; then
    ("end", issues, events, chats). Runs in this process or in a reader process (see _produce_in_child).
    """
    resolver = _QuoteResolver()
    rows: list[tuple] = []
    pending: list[tuple] = []
    recalls: list[tuple[str, str]] = []
    for m in reader.read(src, ctx):
        if m.quote is not None and m.reply_to is None:
            m.reply_to = resolver.resolve(m)
            if m.reply_to is None:
                pending.append((len(rows), m.chat, m.quote, int(m.time.timestamp())))
        resolver.add(m)
        target = m.extra.get("recalls") if m.kind == RECALL else None
        if target:
            recalls.append((m.chat, target))
        rows.append(message_row(m, import_id))
        if len(rows) >= BATCH:
            yield "rows", rows, pending, recalls
            resolver.flushed()
            rows, pending, recalls = [], [], []
    yield "rows", rows, pending, recalls
    yield "end", ctx.issues, ctx.events, ctx.chats


def _produce_in_child(reader: Reader, src: SourceFile, ctx: ReadContext, import_id: int) -> Iterator[tuple]:
    """_produce in a forked reader process: parsing (Python) and inserting (SQLite) use both cores.

    The pipe holds little, so the reader stays at most a batch or two ahead. Errors come back as
    ("error", unreadable?, message) and are raised here as they would be in-process.
    """
    mp = multiprocessing.get_context("fork")
    receive, send = mp.Pipe(duplex=False)

    def child() -> None:
        receive.close()
        try:
            for item in _produce(reader, src, ctx, import_id):
                send.send(item)
        except UnreadableFile as e:
            send.send(("error", True, str(e)))
        except BaseException as e:  # noqa: BLE001 — reported by the parent like any reader failure
            send.send(("error", False, f"{type(e).__name__}: {e}"))
        finally:
            send.close()

    process = mp.Process(target=child, name="chendian-reader", daemon=True)
    process.start()
    send.close()
    try:
        while True:
            try:
                item = receive.recv()
            except EOFError:
                raise RuntimeError(f"the reader process stopped unexpectedly (exit code {process.exitcode})") from None
            if item[0] == "error":
                raise UnreadableFile(item[2]) if item[1] else RuntimeError(item[2])
            yield item
            if item[0] == "end":
                return
    finally:
        receive.close()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()


def ingest_source(ws: Workspace, src: SourceFile, *, fmt: str | None = None, chat_name: str | None = None,
                  names: dict[str, str] | None = None, tz: ZoneInfo | None = None,
                  force: bool = False, progress: Callable[[int], None] | None = None) -> FileReport:
    report = FileReport(file=src.name)
    all_readers = readers()
    if fmt:
        by_name = {r.name: r for r in all_readers}
        if fmt not in by_name:
            raise IngestError(f"unknown format {fmt!r}; known formats: {', '.join(by_name)}")
        reader = by_name[fmt]
    else:
        if src.basename in {a for r in all_readers for a in r.auxiliary}:
            report.skipped = "auxiliary file (read together with the export beside it)"
            return report
        reader = sniff(src, all_readers)
        if reader is None:
            kind = "binary file" if src.looks_binary() else "unrecognised file"
            report.error = (f"{kind}: not any known export format (tried: {', '.join(r.label for r in all_readers)});"
                            " use --format to force one")
            return report
    report.format = reader.name
    digest = hashlib.sha256(src.data).hexdigest()
    if not force and ws.db.execute("SELECT 1 FROM imports WHERE sha256 = ? AND format = ?", (digest, reader.name)).fetchone():
        report.skipped = "already imported (same content)"
        return report

    ctx = ReadContext(src, tz or ws.config.tz, chat_name=chat_name, names=names)
    ctx.platform = reader.platform
    all_recalls: list[tuple[str, str]] = []
    try:
        with ws.transaction() as db:
            # The next id as SQLite's INTEGER PRIMARY KEY would give it (no sequence: a rolled-back import uses none).
            import_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM imports").fetchone()[0]
            db.execute(
                "INSERT INTO imports (id, file, sha256, format, at, messages_read, messages_new, issues)"
                " VALUES (?, ?, ?, ?, ?, 0, 0, 0)",
                (import_id, src.name, digest, reader.name, utc_now()),
            )
            parallel = len(src.data) >= PARALLEL_MIN_BYTES and (os.cpu_count() or 1) > 1 and _can_fork()
            produce = _produce_in_child if parallel else _produce
            for item in produce(reader, src, ctx, import_id):
                if item[0] == "end":
                    _, ctx.issues, ctx.events, ctx.chats = item
                    break
                _, rows, pending, recalls = item
                for index, chat, quote, epoch in pending:
                    target = resolve_in_store(ws, chat, quote, epoch)
                    if target:
                        row = rows[index]
                        rows[index] = row[:REPLY_TO_COLUMN] + (target,) + row[REPLY_TO_COLUMN + 1:]
                report.new += ws.insert_rows(rows)
                report.read += len(rows)
                all_recalls.extend(recalls)
                if progress and rows:
                    progress(len(rows))
            for chat, pid in all_recalls:  # a recall names the withdrawn message by its platform id
                db.execute("UPDATE messages SET recalled = 1 WHERE chat = ? AND platform_id = ?", (chat, pid))
            for chat, name in ctx.chats.items():
                ws.upsert_chat(chat, name, reader.platform)
            report.issues = ctx.issues
            report.events = ctx.events
            report.chats = dict(ctx.chats)
            db.executemany("INSERT INTO import_issues (import_id, file, line, message) VALUES (?, ?, ?, ?)",
                           [(import_id, i.file, i.line, i.message) for i in ctx.issues])
            db.execute("UPDATE imports SET messages_read = ?, messages_new = ?, issues = ? WHERE id = ?",
                       (report.read, report.new, len(ctx.issues), import_id))
    except UnreadableFile as e:
        report.error = f"{reader.label}: {e}"
        report.read = report.new = 0
    except Exception as e:  # a reader bug must still not lose the rest of the run or show a traceback
        report.error = f"{reader.label}: could not read this file ({type(e).__name__}: {e}); nothing from it was stored"
        report.read = report.new = 0
    return report


def ingest_paths(ws: Workspace, paths: list[str | os.PathLike], *, fmt: str | None = None,
                 chat_name: str | None = None, names_files: list[str] | None = None, force: bool = False,
                 on_file: Callable[[FileReport], None] | None = None,
                 progress: Callable[[int], None] | None = None) -> IngestReport:
    """Import every export under `paths`. Holds the workspace lock for the duration."""
    names: dict[str, str] = {}
    for nf in [*(ws.config.ingest.names and [str(ws.path(n)) for n in ws.config.ingest.names] or []), *(names_files or [])]:
        names.update(load_names(nf))
    report = IngestReport()
    with ws.locked("ingest"):
        for path in iter_paths(paths):
            if not path.exists():
                fr = FileReport(file=str(path), error="no such file or folder")
            elif why := export_media(path.parts, lambda rel, folder=path.parent: (folder / rel).is_file()):
                fr = FileReport(file=str(path), skipped=why)
            elif path.suffix.lower() == ".zip":
                fr = _ingest_zip(ws, path, fmt=fmt, chat_name=chat_name, names=names, force=force,
                                 on_file=on_file, progress=progress, report=report)
                if fr is None:
                    continue
            else:
                try:
                    src = _file_source(path)
                except OSError as e:
                    fr = FileReport(file=str(path), error=f"cannot read: {e.strerror}")
                else:
                    fr = ingest_source(ws, src, fmt=fmt, chat_name=chat_name, names=names, force=force, progress=progress)
            report.files.append(fr)
            if on_file:
                on_file(fr)
    return report


def _ingest_zip(ws, path, *, fmt, chat_name, names, force, on_file, progress, report) -> FileReport | None:
    """A zip is either one export as a whole (Slack) or a bag of export files. Returns a failure report, if any."""
    try:
        sources = _zip_sources(path)
        whole = next(sources)
    except UnreadableFile as e:
        return FileReport(file=str(path), error=str(e))
    whole_reader = [r for r in readers() if r.name == "slack"]
    if (fmt and fmt == "slack") or (not fmt and whole_reader and sniff(whole, whole_reader)):
        return ingest_source(ws, whole, fmt="slack", chat_name=chat_name, names=names, force=force, progress=progress)
    with zipfile.ZipFile(path) as archive:
        members = set(archive.namelist())
    for src in sources:
        if isinstance(src, FileReport):  # a member that could not be extracted
            report.files.append(src)
            if on_file:
                on_file(src)
            continue
        member = src.name[len(str(path)) + 1:]  # after "<zip>!"

        def exists(rel: str, folder: str = posixpath.dirname(member)) -> bool:
            return posixpath.normpath(posixpath.join(folder, rel)) in members

        if why := export_media(member.split("/"), exists):
            fr = FileReport(file=src.name, skipped=why)
        else:
            fr = ingest_source(ws, src, fmt=fmt, chat_name=chat_name, names=names, force=force, progress=progress)
        report.files.append(fr)
        if on_file:
            on_file(fr)
    return None
