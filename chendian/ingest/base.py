"""What every reader shares: the source file, the read context, time parsing and small text helpers.

A reader is a module in this package with a module-level `READER = Reader(...)`. It sniffs a file from its
name and first characters, then yields Messages built with `ctx.message(...)` (which assigns stable ids) and
reports every line it cannot use with `ctx.issue(line, what was expected)` — never a silent drop.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

from ..errors import ChendianError
from ..model import Message, Quote, message_id, stable_id

BINARY_SNIFF_BYTES = 8192


class UnreadableFile(ChendianError, ValueError):
    """The file cannot be decoded or parsed at all (binary, truncated header, wrong format)."""


@dataclass
class SourceFile:
    """One export file, possibly a member of a zip archive. `name` is what errors show the user."""

    name: str
    data: bytes
    siblings: Callable[[str], bytes | None] = lambda _name: None  # read a file next to this one
    _text: str | None = field(default=None, repr=False)
    encoding: str = ""
    truncated: bool = False  # the text ended mid-character (a cut-off copy); readers may report it

    @property
    def basename(self) -> str:
        return PurePosixPath(self.name.replace("\\", "/").split("!")[-1]).name

    @property
    def stem(self) -> str:
        return PurePosixPath(self.basename).stem

    def looks_binary(self) -> bool:
        head = self.data[:BINARY_SNIFF_BYTES]
        return b"\x00" in head

    @property
    def text(self) -> str:
        """The file decoded (UTF-8 with or without BOM, else GB18030), with CRLF/CR folded to LF."""
        if self._text is None:
            if self.looks_binary():
                raise UnreadableFile("binary data (NUL bytes), not a text export")
            text, bad_at = None, 0
            try:
                text, self.encoding = self.data.decode("utf-8-sig"), "utf-8"
            except UnicodeDecodeError as e:
                bad_at = e.start + (3 if self.data.startswith(b"\xef\xbb\xbf") else 0)  # utf-8-sig counts after the BOM
                if bad_at >= len(self.data) - 3 and e.reason == "unexpected end of data":
                    # A UTF-8 file cut mid-character (truncated copy): keep the text, drop the partial character,
                    # rather than mis-decoding the whole file as GB18030.
                    text, self.encoding = self.data[:bad_at].decode("utf-8-sig"), "utf-8"
                    self.truncated = True
            if text is None:
                try:
                    text, self.encoding = self.data.decode("gb18030"), "gb18030"
                except UnicodeDecodeError:
                    line = self.data[:bad_at].count(b"\n") + 1
                    raise UnreadableFile(f"line {line}: neither UTF-8 nor GB18030 text") from None
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            self._text = text
        return self._text

    def iter_lines(self):
        """(line number, line) pairs without building a list of every line (million-line exports)."""
        text = self.text
        start, lineno, n = 0, 1, len(text)
        while start < n:
            end = text.find("\n", start)
            if end < 0:
                end = n
            yield lineno, text[start:end]
            start = end + 1
            lineno += 1

    def head(self, n: int = 4096) -> str:
        """The first characters, for sniffing; empty when the file is not text."""
        try:
            if self._text is not None:
                return self._text[:n]
            if self.looks_binary():
                return ""
            if len(self.data) <= n * 3:  # the whole file: decode it exactly as reading will (truncation included)
                return self.text[:n]
            chunk = self.data[: n * 3]
            for enc in ("utf-8-sig", "gb18030"):
                try:
                    return chunk.decode(enc, errors="strict" if len(chunk) < n * 3 else "ignore")[:n].replace("\r\n", "\n")
                except UnicodeDecodeError:
                    continue
        except Exception:
            pass
        return ""


@dataclass
class Issue:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


class ReadContext:
    """Per-file reading state: timezone, chat name override, id→name maps, issues and id ordinals."""

    def __init__(self, src: SourceFile, tz: ZoneInfo, chat_name: str | None = None,
                 names: dict[str, str] | None = None):
        self.src = src
        self.tz = tz
        self.chat_name = chat_name
        self.names = names or {}
        self.issues: list[Issue] = []
        self.events = 0  # records that are not messages by design (WeCom "switch", Slack joins kept as system …)
        self.platform = ""  # set by the reader: wechat, wecom, qq, telegram, slack …
        self.chats: dict[str, str] = {}  # chat id → display name seen in this file
        self._ordinals: dict[int, int] = {}

    def issue(self, line: int | None, message: str) -> None:
        """A line or record that could not be read as expected: reported with its location and counted."""
        self.issues.append(Issue(self.src.name, line, message))

    def event(self) -> None:
        """Count a record that is deliberately not a message (e.g. WeCom's `switch`), so totals add up."""
        self.events += 1

    def message(self, *, chat: str, time: datetime, sender: str, sender_name: str, kind: str, text: str,
                line: int | None = None, record: int | None = None, platform_id: str | None = None,
                quote: Quote | None = None, mentions: list[str] | None = None, recalled: bool = False,
                chat_name: str | None = None, extra: dict | None = None,
                identity: tuple[str, ...] | None = None) -> Message:
        """Build a Message with its stable id. `line` (text formats) or `record` (JSON arrays) locate it.

        `identity` replaces (time, sender, text) as what the id is derived from, for exporters whose layouts
        carry different precision (wx-cli: seconds and sender ids in JSON, minutes and labels in markdown);
        repeats of the same identity in one file are still told apart by their ordinal."""
        if self.chat_name:
            chat_name = self.chat_name
        if chat not in self.chats:
            self.chats[chat] = chat_name or chat
        ordinal = 0
        epoch = int(time.timestamp())
        if not platform_id:
            # Python's hash of the key is enough here (counts live for one read); it keeps a million-message
            # export from holding every text twice.
            key = hash((chat, *identity)) if identity is not None else hash((chat, epoch, sender, text))
            ordinal = self._ordinals.get(key, 0)
            self._ordinals[key] = ordinal + 1
        source = f"{self.src.name}:{line}" if line is not None else f"{self.src.name}#{record}"
        if identity is not None and not platform_id:
            mid = stable_id(chat, *identity, str(ordinal))
        else:
            mid = message_id(chat, platform_id, epoch, sender, text, ordinal)
        return Message(
            id=mid,
            chat=chat,
            time=time,
            sender=sender,
            sender_name=sender_name,
            kind=kind,
            text=text,
            source=source,
            platform_id=platform_id,
            quote=quote,
            mentions=mentions if mentions is not None else extract_mentions(text),
            recalled=recalled,
            chat_name=chat_name,
            extra=extra or {},
        )


@dataclass(frozen=True)
class Reader:
    name: str  # used with --format
    label: str  # what the user sees in "formats tried"
    sniff: Callable[[SourceFile], bool]
    read: Callable[[SourceFile, ReadContext], Iterator[Message]]
    platform: str = ""
    # File names this format keeps beside its exports (users.json …): skipped when walking a folder.
    auxiliary: tuple[str, ...] = ()
    # Folders an export keeps beside its main file `media_anchor` (Telegram HTML: css/, photos/ … beside
    # messages.html): their files are skipped when walking a folder or zip, not reported as unreadable.
    media_dirs: tuple[str, ...] = ()
    media_anchor: str = ""


def load_json(src: SourceFile, what: str) -> object:
    """The file's JSON value; a file that is not JSON is unreadable: "line N: expected {what} (why)"."""
    try:
        return json.loads(src.text)
    except json.JSONDecodeError as e:
        raise UnreadableFile(f"line {e.lineno}: expected {what} ({e.msg})") from None


def json_lines(src: SourceFile, ctx: ReadContext, what: str, comments: str = "") -> Iterator[tuple[int, object]]:
    """(line number, parsed value) of each non-blank line; a line that is not JSON is reported as an issue
    ("expected {what} per line …") and skipped, so the rest of the file still imports. Lines starting with
    `comments` (when given) are the format's comments and skipped."""
    for lineno, line in src.iter_lines():
        if not line.strip() or (comments and line.lstrip().startswith(comments)):
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            ctx.issue(lineno, f"expected {what} per line ({e.msg} at column {e.colno})")


# -- time ------------------------------------------------------------------------------------------

_DATETIME_RE = re.compile(
    r"^\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?"
    r"\s*(AM|PM|am|pm|上午|下午)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


def parse_time(value: str, tz: ZoneInfo) -> datetime:
    """Parse the date-time layouts exporters write; no offset → the configured timezone.

    Handles `2024-10-04 11:42:07`, `2024/10/4 11:42` (Excel re-save), `2023/09/16 2:51 PM`, non-padded
    hours, ISO 8601 with `T`, fractions and offsets. Raises ValueError naming the expected layout.
    """
    if len(value) == 19 and value[4] == "-" and value[7] == "-" and value[10] in " T" and value[13] == ":":
        # The common layout (2024-10-04 11:42:07) without the regex: imports spend most of their time here.
        try:
            return datetime(int(value[:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]),
                            int(value[14:16]), int(value[17:19]), tzinfo=tz)
        except ValueError:
            pass  # the general path below explains what is wrong
    m = _DATETIME_RE.match(value)
    if not m:
        raise ValueError(f"expected a date-time like 2024-10-04 11:42:07, got {value[:40]!r}")
    y, mo, d, h, mi, s, frac, ampm, off = m.groups()
    hour = int(h)
    if ampm:
        pm = ampm.lower() == "pm" or ampm == "下午"
        if hour > 12:
            raise ValueError(f"hour {hour} with {ampm} in {value!r}")
        hour = hour % 12 + (12 if pm else 0)
    micro = int(frac.ljust(6, "0")) if frac else 0
    if off:
        if off == "Z":
            tzinfo = timezone.utc
        else:
            sign = 1 if off[0] == "+" else -1
            digits = off[1:].replace(":", "")
            tzinfo = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    else:
        tzinfo = tz
    try:
        return datetime(int(y), int(mo), int(d), hour, int(mi), int(s or 0), micro, tzinfo=tzinfo)
    except ValueError as e:
        raise ValueError(f"not a real date-time {value[:40]!r} ({e})") from None


def from_epoch(seconds: float, tz: ZoneInfo) -> datetime:
    """Epoch seconds (UTC) shown in the configured timezone; milliseconds are detected by size."""
    if seconds > 1e11:  # milliseconds: 1e11 s is the year 5138
        seconds /= 1000.0
    return datetime.fromtimestamp(seconds, tz)


# -- text -------------------------------------------------------------------------------------------

# WeChat ends a mention with U+2005 (four-per-em space); QQ and others with a plain space or punctuation.
_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_.+\-`*%])@([^\s@\u2005\u2006,，:：;；!！?？。`'\"“”‘’()（）\[\]【】<>]{1,32})")


def extract_mentions(text: str) -> list[str]:
    if "@" not in text:
        return []
    seen: list[str] = []
    for name in _MENTION_RE.findall(text):
        if name not in seen:
            seen.append(name)
    return seen
