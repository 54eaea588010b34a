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
import os
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from ..model import RECALL, Message
from ..store import Workspace, utc_now
from .base import Issue, ReadContext, Reader, SourceFile, UnreadableFile

# Sniffing order matters: specific formats before loose ones (generic JSONL and copy-paste text last).
READER_MODULES = (
    "pywxdump",
    "memotrace",
    "memotrace_txt",
    "chatlog",
    "weflow",
    "wechatexporter",
    "wecom",
    "qq_classic",
    "qqchatexporter",
    "telegram",
    "slack",
    "jsonl",
    "wechat_copypaste",
)

BATCH = 20000  # messages inserted per executemany; bounds memory on million-message exports
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


class IngestError(Exception):
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

def _zip_sources(path: Path) -> Iterator[SourceFile]:
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
    for info in sorted(infos, key=lambda i: i.filename):
        try:
            data = archive.read(info)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            yield SourceFile(name=f"{path}!{info.filename}", data=b"\x00corrupt member: " + str(e).encode())
            continue
        yield SourceFile(name=f"{path}!{info.filename}", data=data, siblings=sibling_of(info.filename))


def _file_source(path: Path) -> SourceFile:
    folder = path.parent

    def sibling(name: str) -> bytes | None:
        p = folder / name
        return p.read_bytes() if p.is_file() else None

    return SourceFile(name=str(path), data=path.read_bytes(), siblings=sibling)


def iter_paths(paths: list[str | os.PathLike]) -> Iterator[Path]:
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    if not f.startswith("."):
                        yield Path(root) / f
        else:
            yield p


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


# -- the import ------------------------------------------------------------------------------------

def sniff(src: SourceFile, candidates: list[Reader]) -> Reader | None:
    for reader in candidates:
        try:
            if reader.sniff(src):
                return reader
        except Exception:  # a sniffer must never crash the import; it just does not claim the file
            continue
    return None


class _QuoteResolver:
    """Resolve quotes to message ids: by platform id, else by quoted sender + text among recent messages."""

    def __init__(self, ws: Workspace):
        self.ws = ws
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
            row = self.ws.db.execute("SELECT id FROM messages WHERE chat = ? AND platform_id = ?",
                                     (m.chat, q.platform_id)).fetchone()
            if row:
                return row[0]
        snippet = (q.text or "").strip()
        if not snippet and not q.sender_name:
            return None
        probe = snippet[:30]
        for prev in reversed(self.recent.get(m.chat, ())):
            if prev.id == m.id or prev.kind == RECALL:
                continue
            if q.sender_name and q.sender_name not in (prev.sender_name, prev.sender):
                continue
            if not probe or probe in prev.text:
                return prev.id
        if probe:
            row = self.ws.db.execute(
                "SELECT id FROM messages WHERE chat = ? AND ts <= ? AND instr(text, ?) > 0"
                " AND (? IS NULL OR sender_name = ?) ORDER BY ts DESC LIMIT 1",
                (m.chat, int(m.time.timestamp()), probe, q.sender_name, q.sender_name),
            ).fetchone()
            if row:
                return row[0]
        return None


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
    resolver = _QuoteResolver(ws)
    recalls: list[tuple[str, str]] = []
    try:
        with ws.transaction() as db:
            cur = db.execute(
                "INSERT INTO imports (file, sha256, format, at, messages_read, messages_new, issues) VALUES (?, ?, ?, ?, 0, 0, 0)",
                (src.name, digest, reader.name, utc_now()),
            )
            import_id = cur.lastrowid
            batch: list[Message] = []
            for m in reader.read(src, ctx):
                if m.quote is not None and m.reply_to is None:
                    m.reply_to = resolver.resolve(m)
                resolver.add(m)
                target = m.extra.get("recalls") if m.kind == RECALL else None
                if target:
                    recalls.append((m.chat, target))
                batch.append(m)
                report.read += 1
                if len(batch) >= BATCH:
                    report.new += ws.insert_messages(batch, import_id)
                    resolver.flushed()
                    if progress:
                        progress(len(batch))
                    batch = []
            report.new += ws.insert_messages(batch, import_id)
            if progress and batch:
                progress(len(batch))
            for chat, pid in recalls:  # a recall names the withdrawn message by its platform id
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
    for src in sources:
        fr = ingest_source(ws, src, fmt=fmt, chat_name=chat_name, names=names, force=force, progress=progress)
        report.files.append(fr)
        if on_file:
            on_file(fr)
    return None
