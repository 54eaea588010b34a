"""Text copied from the WeChat PC client (Windows/Mac) and pasted into a file.

    女朋友 2023/09/16 2:51 PM
    天气有点凉
    (blank line)

The date layout follows the OS locale: `2023/09/16 2:51 PM`, `2023/9/16 14:51`, `2023-09-16 14:51:07`,
`2023年9月16日 下午2:51`; media become placeholders (`[图片]`, `[动画表情]`). There are no ids: senders are
`name:<显示名>`, the chat is the file name (or --chat-name). This sniffer is the loosest and runs last.
"""

from __future__ import annotations

import re

from ..model import FILE, FORWARD, IMAGE, LINK, OTHER, REDPACKET, TEXT, VIDEO, VOICE
from .base import ReadContext, Reader, SourceFile
from .wechat_common import body_text, name_sender, timed_blocks

_TIME = (r"\d{4}[/\-.年]\d{1,2}[/\-.月]\d{1,2}日? +(?:(?:上午|下午) ?)?\d{1,2}:\d{2}(?::\d{2})?"
         r"(?: ?(?:AM|PM|am|pm))?")
HEADER_RE = re.compile(rf"^(?P<name>\S.*?) (?P<time>{_TIME})\s*$")
PARTIAL_RE = re.compile(r"^\S.*? \d{4}[/\-.年]\d{0,2}[/\-.月]?\d{0,2}日?(?: +[上下午]*\d{0,2}:?\d?)?$")
_PLACEHOLDER_KIND = {"图片": IMAGE, "动画表情": IMAGE, "表情": IMAGE, "视频": VIDEO, "语音": VOICE, "文件": FILE,
                     "链接": LINK, "小程序": LINK, "聊天记录": FORWARD, "红包": REDPACKET, "转账": REDPACKET,
                     "位置": OTHER, "名片": OTHER, "音视频通话": OTHER}


def _normalise_time(stamp: str) -> str:
    # parse_time reads 上午/下午 after the time; the Chinese locale writes it before.
    m = re.match(r"^(.*?) +(上午|下午) ?(\d{1,2}:\d{2}(?::\d{2})?)$", stamp)
    return f"{m.group(1)} {m.group(3)} {m.group(2)}" if m else stamp


def sniff(src: SourceFile) -> bool:
    lines = src.head().split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None or not HEADER_RE.match(lines[first]):
        return False
    return first + 1 < len(lines)  # a header needs a body after it


def read(src: SourceFile, ctx: ReadContext):
    chat = src.stem or src.name
    for lineno, m, time, lines in timed_blocks(src, ctx, HEADER_RE, PARTIAL_RE, "名字 2023/09/16 2:51 PM",
                                               lambda m: _normalise_time(m.group("time"))):
        name = m.group("name").strip()
        text = body_text(lines)
        extra: dict = {}
        label = text.strip()[1:-1] if text.strip().startswith("[") and text.strip().endswith("]") else ""
        if label in _PLACEHOLDER_KIND:
            # A placeholder is not something anyone wrote: the kind says it, the text stays empty.
            kind, text = _PLACEHOLDER_KIND[label], ""
            extra["placeholder"] = label
        elif not text.strip():
            kind, extra["empty"] = OTHER, True
        else:
            kind = TEXT
        yield ctx.message(chat=chat, time=time, sender=name_sender(name), sender_name=name, kind=kind, text=text,
                          line=lineno, extra=extra)


READER = Reader(name="wechat-copypaste", label="WeChat PC client copy-paste text", sniff=sniff, read=read,
                platform="wechat")
