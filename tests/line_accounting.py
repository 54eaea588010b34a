"""Line accounting for the line-oriented text readers (issue 18: "every input line is imported or reported").

The invariant, checked on the text exactly as the reader decoded it (`SourceFile.text`):

* every message and every issue with a line number is an *anchor*; a non-blank line belongs to the nearest
  anchor at or above it;
* a line that belongs to an issue is reported (an issue covers the block it skips);
* a line that is a message's own header line is imported (its time and sender went into the record);
* any other line that belongs to a message is one of its continuation lines: its stripped text must appear
  in what was imported (text, quote, sender, extra), or be a documented normalisation of the format
  (a `[图片]` placeholder the reader turns into a kind);
* a line the format documents as furniture (QQ's title and chat blocks, wx-cli's title and count lines)
  needs nothing; any other line above every anchor is unaccounted.

A reader that skips a line in a body, drops a whole message or loses the end of the file breaks it: the lost
line's text is in no record, and the nearest anchor above it is another message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from chendian.ingest import qq_classic, wxcli

# Which readers are line-oriented, and for those that read several layouts, which file suffixes are text.
LINE_ORIENTED: dict[str, tuple[str, ...] | None] = {
    "qq-txt": None, "wechat-copypaste": None, "memotrace-txt": None, "wechatexporter": None,
    "weflow": (".txt",), "chatlog": (".txt",), "wxcli": (".txt", ".md"),
}

# Lines a reader turns into a kind instead of text (documented in each reader): `[图片]`, `【图片】`, `[文件: x]`.
PLACEHOLDER_LINE_RE = re.compile(r"^(?:\[[^\[\]]{1,24}\]|【[^【】]{1,24}】)")
# What separates the fields of a line a reader splits up: markdown and quote markup (`**名**: `, `> `, `↳ `,
# `- `), labels' colons, brackets, and WeChat's mention space U+2005.
FIELD_SEPARATORS_RE = re.compile(r"[\s:：()（）\"“”*>\[\]!↳【】=\u2005]+")
# Labels the formats write around fields and readers do not keep as text (quote, link card, file share, the
# end of a merged forward, wx-cli's `local_id=` and a forward's `(2条)` count).
FORMAT_LABELS = frozenset({"引用", "标题", "描述", "description", "title", "url", "链接", "结束", "下载", "分享文件",
                           "应用", "local_id"})
COUNT_WORD_RE = re.compile(r"^\d+条$")


def is_line_oriented(reader_name: str, path) -> bool:
    if reader_name not in LINE_ORIENTED:
        return False
    suffixes = LINE_ORIENTED[reader_name]
    return suffixes is None or PurePosixPath(str(path)).suffix.lower() in suffixes


def is_furniture(reader_name: str, line: str, first: bool) -> bool:
    """A line the format documents as file furniture, which its reader recognises and skips."""
    stripped = line.strip()
    if reader_name == "qq-txt":
        return (stripped == qq_classic.TITLE_LINE or bool(qq_classic.RULE_RE.match(line))
                or bool(qq_classic.GROUP_RE.match(stripped)) or bool(qq_classic.PEER_RE.match(stripped)))
    if reader_name == "wechatexporter":  # the title line, and the `title 结束 >>` frame closing a forward
        return (first and stripped.endswith("微信聊天记录")) or stripped.endswith("结束 >>")
    if reader_name == "wxcli":
        title = line.lstrip()  # as the reader matches it
        return (first and bool(wxcli.MD_TITLE_RE.match(title) or wxcli.TXT_TITLE_RE.match(title))
                or bool(wxcli.MD_COUNT_RE.match(stripped)) or stripped.startswith("> [!WARNING]"))
    return False


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _imported_text(message) -> str:
    """Everything a message kept from its lines, in one string to search."""
    parts = [message.text, message.sender_name, message.sender, message.chat_name or ""]
    if message.quote is not None:
        parts += [message.quote.sender_name or "", message.quote.text or ""]
    parts += _strings(message.extra)
    return "\n".join(parts)


def _line_of(source: str) -> int | None:
    head, sep, tail = source.rpartition(":")
    return int(tail) if sep and tail.isdigit() else None


def _kept(stripped: str, imported: str) -> bool:
    if stripped in imported:
        return True
    if PLACEHOLDER_LINE_RE.match(stripped):
        return True
    # A line the reader split into fields (a forwarded record `名 (time):text`, a file share `名 分享文件 time`):
    # each of its words is kept somewhere.
    words = [w for w in FIELD_SEPARATORS_RE.split(stripped) if w.strip("-") and w not in FORMAT_LABELS
             and not COUNT_WORD_RE.match(w)]
    return all(w in imported for w in words)


@dataclass
class Accounting:
    lines: int = 0  # non-blank lines checked
    unaccounted: list[tuple[int, str]] = field(default_factory=list)  # (line number, text) silently dropped


def account_lines(reader_name: str, text: str, messages, issues) -> Accounting:
    """Check that every non-blank line of `text` is imported, reported or furniture (see the module doc)."""
    anchors: dict[int, object] = {}  # line → the message that starts there, or None for an issue
    for issue in issues:
        if issue.line is not None:
            anchors[issue.line] = None
    for message in messages:
        line = _line_of(message.source)
        if line is not None and line not in anchors:
            anchors[line] = message
    owner, imported = "above", ""
    first_filled = None  # the file's first non-blank line: where titles are
    result = Accounting()
    for lineno, line in enumerate(text.split("\n"), 1):
        if lineno in anchors:
            message = anchors[lineno]
            owner = "issue" if message is None else "message"
            imported = "" if message is None else _imported_text(message)
            if not line.strip():
                continue
            result.lines += 1
            continue  # a message's header line, or a reported line
        stripped = line.strip()
        if not stripped:
            continue
        result.lines += 1
        first_filled = first_filled or lineno
        if owner == "issue" or is_furniture(reader_name, line, first=lineno == first_filled):
            continue
        if owner == "above" or not _kept(stripped, imported):
            result.unaccounted.append((lineno, stripped))
    return result
