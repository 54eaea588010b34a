"""WechatExporter (iOS backups): `<out>/<account>/<session>/index.txt`.

    {会话名} - 微信聊天记录
    {名} ({YYYY-MM-DD HH:MM:SS}):{消息}

One line per message; lines that do not start a message continue the previous one. Placeholders
`[图片] [视频] [表情] [语音] [文件: x] [红包] [转账]`; quotes `「名：原文」\\n- - - - - …\\n回复`; a merged
forward is framed by `<< title` and `title 结束 >>` with its records as message lines between; system
messages may be prefixed `System Message:`. The chat is the session folder.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..model import FILE, FORWARD, IMAGE, LINK, OTHER, PAT, QUOTE, RECALL, REDPACKET, SYSTEM, TEXT, VIDEO, VOICE, Quote
from .base import ReadContext, Reader, SourceFile, parse_time
from .wechat_common import forward_text, name_sender

TITLE_SUFFIX = " - 微信聊天记录"
LINE_RE = re.compile(r"^(?P<name>.*?) \((?P<time>\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}:\d{2})\):(?P<text>.*)$")
PARTIAL_RE = re.compile(r"^.{1,64} \(\d{4}-[\d\-: ]*$")  # a message line cut off before its "):"
_QUOTE_RE = re.compile(r"^「(?P<name>[^：:」]*)[：:](?P<quoted>.*?)」\n-(?: -)+ ?\n(?P<reply>.*)$", re.S)
_PLACEHOLDER_RE = re.compile(r"^\[(图片|视频|表情|动画表情|语音|文件|红包|转账|链接|位置|名片|小程序|语音通话|视频通话)"
                             r"(?:[:：]\s*(.*?))?\]$", re.S)
_PLACEHOLDER_KIND = {"图片": IMAGE, "表情": IMAGE, "动画表情": IMAGE, "视频": VIDEO, "语音": VOICE, "文件": FILE,
                     "红包": REDPACKET, "转账": REDPACKET, "链接": LINK, "小程序": LINK, "位置": OTHER, "名片": OTHER,
                     "语音通话": OTHER, "视频通话": OTHER}
SYSTEM_NAMES = ("System Message", "系统消息")


def sniff(src: SourceFile) -> bool:
    lines = [ln for ln in src.head().split("\n") if ln.strip()]
    if not lines:
        return False
    if lines[0].rstrip().endswith(TITLE_SUFFIX.strip()) and "微信聊天记录" in lines[0]:
        return True
    return src.basename == "index.txt" and bool(LINE_RE.match(lines[0]))


def _chat(src: SourceFile) -> str:
    path = PurePosixPath(src.name.replace("\\", "/").split("!")[-1])
    return path.parent.name if path.name == "index.txt" and path.parent.name else path.stem


def _classify(name: str, text: str) -> tuple[str, str, Quote | None, dict]:
    extra: dict = {}
    if name in SYSTEM_NAMES or text.startswith("System Message:"):
        text = text.removeprefix("System Message:").strip()
        kind = RECALL if "撤回了一条消息" in text else PAT if "拍了拍" in text else SYSTEM
        return kind, text, None, extra
    q = _QUOTE_RE.match(text)
    if q:
        return QUOTE, q.group("reply"), Quote(sender_name=q.group("name").strip() or None,
                                             text=q.group("quoted").strip() or None), extra
    p = _PLACEHOLDER_RE.match(text.strip())
    if p:
        kind = _PLACEHOLDER_KIND[p.group(1)]
        extra["placeholder"] = p.group(1)
        arg = (p.group(2) or "").strip()
        if arg:
            extra["file" if kind == FILE else "title"] = arg
        return kind, arg, None, extra
    if "撤回了一条消息" in text and len(text) < 60:
        return RECALL, text, None, extra
    if not text.strip():
        return OTHER, text, None, {"empty": True}
    return TEXT, text, None, extra


def read(src: SourceFile, ctx: ReadContext):
    chat = _chat(src)
    chat_name = None
    lines = src.text.split("\n")
    start = 0
    if lines and lines[0].rstrip().endswith("微信聊天记录"):
        chat_name = lines[0].rstrip().removesuffix("微信聊天记录").rstrip(" -") or None
        start = 1

    pending: dict | None = None  # the message being read (its text may continue on later lines)
    forward: dict | None = None  # the open `<< title` block and its records

    def finish(msg: dict):
        kind, text, quote, extra = _classify(msg["name"], msg["text"].rstrip("\n"))
        if msg.get("forward") is not None:
            kind, extra = FORWARD, {"title": msg["title"], "forward": msg["forward"]}
            text = forward_text(msg["title"], msg["forward"])
        system = msg["name"] in SYSTEM_NAMES
        sender, name = ("system", "系统消息") if system else (name_sender(msg["name"]), msg["name"])
        return ctx.message(chat=chat, time=msg["time"], sender=sender, sender_name=name, kind=kind,
                           text=text, line=msg["line"], quote=quote, chat_name=chat_name, extra=extra)

    for lineno, line in enumerate(lines[start:], start + 1):
        if forward is not None:
            if line.strip() == f"{forward['title']} 结束 >>" or line.rstrip().endswith("结束 >>"):
                # The forward is complete: a line between its end and the next message is reported, not
                # appended to a text that a forward does not show.
                yield finish(pending)
                forward = pending = None
                continue
            m = LINE_RE.match(line)
            if m:
                forward["forward"].append({"time": m.group("time"), "name": m.group("name"), "text": m.group("text")})
            elif forward["forward"] and line.strip():
                forward["forward"][-1]["text"] += "\n" + line
            elif line.strip():  # text before the first record: a record without a name, never dropped
                forward["forward"].append({"time": "", "name": "", "text": line})
            continue
        m = LINE_RE.match(line)
        if m:
            if pending is not None:
                yield finish(pending)
                pending = None
            try:
                time = parse_time(m.group("time"), ctx.tz)
            except ValueError as e:
                ctx.issue(lineno, str(e))
                continue
            pending = {"name": m.group("name"), "time": time, "text": m.group("text"), "line": lineno}
            if m.group("text").startswith("<< "):
                pending.update(title=m.group("text")[3:].strip(), forward=[])
                forward = pending
            continue
        if PARTIAL_RE.match(line):
            ctx.issue(lineno, f"expected a message line `名 (YYYY-MM-DD HH:MM:SS):消息`, got {line[:40]!r} (cut off?)")
            continue
        if pending is not None:
            pending["text"] += "\n" + line
        elif line.strip():
            ctx.issue(lineno, f"expected a message line `名 (YYYY-MM-DD HH:MM:SS):消息`, got {line[:40]!r}")
    if forward is not None:
        ctx.issue(forward["line"], f"expected `{forward['title']} 结束 >>` to close the merged forward before the file ends")
    if pending is not None:
        yield finish(pending)


READER = Reader(name="wechatexporter", label="WechatExporter index.txt (iOS backup)", sniff=sniff, read=read,
                platform="wechat")
