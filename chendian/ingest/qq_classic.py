"""Classic (pre-NT) QQ message manager TXT export: 消息管理器 → 导出消息记录 → 文本文件.

    消息记录（此消息记录为文本格式，不支持重新导入）

    ================================================================
    消息分组:我的QQ群
    ================================================================
    消息对象:产品经理学习群
    ================================================================

    2016-07-19 15:27:15 【管理员】张三(123456789)
    报销流程在哪里看？
    第二行

    2016-07-20 8:43:38 PM 李四<lisi@example.com>
    @张三 在 OA 的制度库里

UTF-8 with BOM and CRLF (older exports GBK); hours not zero-padded; English Windows writes `8:43:38 PM`.
Senders: `昵称(QQ号)`, `昵称<email>`, `昵称<手机号>`, `(QQ号)`, `QQ号(QQ号)`, with group-title prefixes like `【管理员】`.
System: `系统消息(10000)`, `(1000000)`; anonymous members post as `昵称(80000000)`. A whole-account export
repeats the `消息分组/消息对象` block once per chat. Bodies may span lines (including blank ones); a line
is a message header only after a blank line (or a chat block), so a pasted log inside a body stays text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from ..model import FILE, IMAGE, OTHER, RECALL, SYSTEM, TEXT, Message
from .base import ReadContext, Reader, SourceFile, UnreadableFile, extract_mentions, parse_time

TITLE_LINE = "消息记录（此消息记录为文本格式，不支持重新导入）"
RULE_RE = re.compile(r"^={8,}\s*$")
GROUP_RE = re.compile(r"^消息分组[:：](.*)$")
PEER_RE = re.compile(r"^消息对象[:：](.*)$")

_STAMP = r"(\d{4}-\d{1,2}-\d{1,2}) (\d{1,2}:\d{2}:\d{2})(?: ?(AM|PM|am|pm))?"
# The sender's id at the end of its name: (QQ number), or <login account> — an e-mail address or, for QQ
# accounts bound to a phone, a mobile number (`大数据 - 江瀚<188…>`). Shared with the MHT reader.
SENDER_ID = r"(?:\((\d{4,12})\)|<([^<>\s]+@[^<>\s]+|\+?\d{5,15})>)"
# Sender: nickname (anything: spaces, punctuation, even parentheses) then its id, at the end of the line.
HEADER_RE = re.compile(_STAMP + r" (.*?)" + SENDER_ID + r"\s*$")
# A line that starts like a header but is not one (cut off, or a sender we cannot read).
HEADER_LIKE_RE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}:\d{2}\b")
TRUNCATED_TAIL_RE = re.compile(r"^\d{4}-[\d\- :APMapm]*$")
TITLE_PREFIX_RE = re.compile(r"^【([^】]{1,16})】\s*")

SYSTEM_IDS = {"10000", "1000000"}
ANONYMOUS_ID = "80000000"
PLACEHOLDER_RE = re.compile(r"^(?:\s*\[(?:图片|表情)\])+\s*$")
ACTION_RE = re.compile(r"^\s*\[动作消息\]\s*$")
RECALL_RE = re.compile(r"^(.{0,40}?)撤回了一条(?:成员)?消息[。.]?$")
# Group notices QQ writes as the member's own or the system's line; single-line only, so chat stays text.
NOTICE_RE = re.compile(
    r"^.{1,40}?(?:加入本群|退出本群|已退出该群|被管理员移出本群|被移出本群|被管理员禁言.*|被解除禁言|"
    r"成为管理员|被取消管理员|修改了群名称.*|加入了本群)[。.!！]?$"
)
FILE_SHARE_RE = re.compile(r"^(?:\[图片\]\s*)?(.+?) 分享文件 (\d{1,2}:\d{2}:\d{2})\n\"(.+)\" 下载\s*$", re.S)


def sniff(src: SourceFile) -> bool:
    head = src.head(2048).lstrip("\ufeff").lstrip()
    if head.startswith(TITLE_LINE):
        return True
    # A copied section without the title line: the chat block, then a header.
    lines = head.split("\n")[:12]
    return any(PEER_RE.match(x) for x in lines) and any(RULE_RE.match(x) for x in lines) and any(
        HEADER_RE.match(x) for x in head.split("\n")[:40])


def parse_sender(raw: str, qq: str | None, account: str | None) -> tuple[str, str, dict]:
    """(sender id, display name, extra) for the part of the header after the time."""
    extra: dict = {}
    nick = raw.strip()
    m = TITLE_PREFIX_RE.match(nick)
    if m:
        extra["title"] = m.group(1)
        nick = nick[m.end():].strip()
    if qq:
        if qq in SYSTEM_IDS:
            return qq, nick or "系统消息", extra
        if qq == ANONYMOUS_ID:
            # Every anonymous member shares this number; the anonymous nickname tells them apart.
            extra["anonymous"] = True
            return (f"{ANONYMOUS_ID}:{nick}" if nick else ANONYMOUS_ID), nick or "匿名", extra
        return qq, nick or qq, extra
    if account:  # an e-mail address or a mobile number
        return account, nick or account, extra
    return f"name:{nick}", nick, extra


EMAIL_LIKE_RE = re.compile(r"[A-Za-z0-9_.*+-]+@[A-Za-z0-9_.*-]+")
MENTION_TITLE_RE = re.compile(r"@【[^】]{1,16}】")


def mentions(text: str) -> list[str]:
    """@names in a body: e-mail addresses are not mentions, and `@【管理员】张三` mentions 张三."""
    if "@" not in text:
        return []
    return extract_mentions(MENTION_TITLE_RE.sub("@", EMAIL_LIKE_RE.sub(" ", text)))


def classify(sender: str, body: str) -> tuple[str, str, dict]:
    """(kind, text, extra) for a message body. Substring checks guard each pattern: most bodies are plain text."""
    m = FILE_SHARE_RE.match(body) if "分享文件" in body else None
    if m:
        name = m.group(3)
        return FILE, f"[文件] {name}", {"name": name, "shared_by": m.group(1).strip(), "shared_at": m.group(2)}
    if sender in SYSTEM_IDS:
        return SYSTEM, body, {}
    if "\n" not in body and len(body) <= 120:
        if "撤回" in body and RECALL_RE.match(body):
            return RECALL, body, {}
        if ("群" in body or "管理员" in body or "禁言" in body) and NOTICE_RE.match(body):
            return SYSTEM, body, {}
    if "[" in body:
        if PLACEHOLDER_RE.match(body):
            return IMAGE, body, {}
        if ACTION_RE.match(body):
            return OTHER, body, {}
    return TEXT, body, {}


def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    ctx.platform = "qq"
    lines = src.text.split("\n")
    chat = ctx.chat_name
    saw_header = saw_structure = False
    pending: tuple[int, re.Match] | None = None  # header line number and match of the message being collected
    body: list[str] = []
    skipping = False  # after an unreadable header: its body lines go with it (reported once)

    def finish() -> Message | None:
        nonlocal pending, body
        if pending is None:
            return None
        lineno, m = pending
        pending = None
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        content = "\n".join(body)
        body = []
        date, clock, ampm, raw_sender, qq, account = m.groups()
        try:
            if ampm:
                time = parse_time(f"{date} {clock} {ampm}", ctx.tz)
            else:  # the header regex already split the fields: build the time directly (the hot path)
                y, mo, d = date.split("-")
                h, mi, sec = clock.split(":")
                time = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec), tzinfo=ctx.tz)
        except ValueError as e:
            ctx.issue(lineno, f"expected a message header like 2016-07-19 15:27:15 昵称(QQ号) ({e}); message skipped")
            return None
        sender, name, extra = parse_sender(raw_sender, qq, account)
        kind, shown, more = classify(sender, content)
        extra.update(more)
        cid = chat or src.stem
        return ctx.message(chat=cid, time=time, sender=sender, sender_name=name, kind=kind, text=shown,
                           line=lineno, chat_name=cid, extra=extra,
                           mentions=mentions(shown) if kind == TEXT else [])

    i = 0
    previous_blank = True
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if (stripped == TITLE_LINE and previous_blank) or (
                line.startswith("====") and RULE_RE.match(line) and _block_ahead(lines, i)):
            # The title line or a chat block (rules, 消息分组, 消息对象): a new chat starts here.
            m = finish()
            if m:
                yield m
            skipping, saw_structure = False, True
            while i < len(lines) and (RULE_RE.match(lines[i]) or GROUP_RE.match(lines[i].strip())
                                      or PEER_RE.match(lines[i].strip()) or lines[i].strip() == TITLE_LINE):
                peer = PEER_RE.match(lines[i].strip())
                if peer and peer.group(1).strip():
                    chat = ctx.chat_name or peer.group(1).strip()
                i += 1
            previous_blank = True
            continue
        header = HEADER_RE.match(line) if previous_blank else None
        if header:
            m = finish()
            if m:
                yield m
            skipping, saw_header = False, True
            pending = (i + 1, header)
        elif previous_blank and HEADER_LIKE_RE.match(line):
            m = finish()
            if m:
                yield m
            ctx.issue(i + 1, "expected a message header like '2016-07-19 15:27:15 昵称(QQ号)', '昵称<email>' or '昵称<手机号>';"
                             " this message is skipped")
            skipping = True
        elif pending is not None:
            body.append(line)
        elif stripped and not skipping:
            if not (saw_header or saw_structure):
                raise UnreadableFile(f"line {i + 1}: expected the QQ title line {TITLE_LINE!r} or a message header"
                                     " like '2016-07-19 15:27:15 昵称(QQ号)'")
            ctx.issue(i + 1, "expected a message header like '2016-07-19 15:27:15 昵称(QQ号)'; line skipped")
        previous_blank = not stripped
        i += 1
    if pending is not None:
        # A file cut off mid-header: its last line is a bare date/time fragment after a blank line.
        while body and not body[-1].strip():
            body.pop()
        if len(body) >= 2 and not body[-2].strip() and TRUNCATED_TAIL_RE.match(body[-1].strip()):
            fragment_line = pending[0] + len(body)  # body[0] is the line after the header
            body.pop()
            ctx.issue(fragment_line, "file ends in the middle of a message header (truncated export?)")
        if src.truncated:
            ctx.issue(pending[0], "file ends in the middle of a character (truncated export?);"
                                  " this last message may be incomplete")
    m = finish()
    if m:
        yield m


def _block_ahead(lines: list[str], i: int) -> bool:
    """A rule line that opens a chat block (消息分组/消息对象 within the next lines)."""
    for j in range(i + 1, min(i + 4, len(lines))):
        s = lines[j].strip()
        if GROUP_RE.match(s) or PEER_RE.match(s):
            return True
        if not RULE_RE.match(lines[j]):
            return False
    return False


READER = Reader(name="qq-txt", label="QQ message manager TXT (消息管理器导出)", sniff=sniff, read=read, platform="qq")
