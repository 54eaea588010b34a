"""Slack workspace export: a zip of `channels.json`, `users.json` and `<channel>/<YYYY-MM-DD>.json` day files.

The driver hands the whole archive over as one SourceFile (`src.data` is the zip). Private channels, group
DMs and DMs come as `groups.json`, `mpims.json` and `dms.json` (a DM's folder is its id). A message is
`{type, user, text (<@U…>, <#C…|name>, <url|label> markup, &amp; &lt; &gt; escaped), ts, subtype?,
thread_ts?, reactions?, files?, attachments?}`. An extracted export folder works too: each day file is
read on its own, with `users.json` from the folder above.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath

from ..model import FILE, LINK, SYSTEM, TEXT, Message, Quote
from .base import ReadContext, Reader, SourceFile, UnreadableFile, from_epoch

DAY_FILE_RE = re.compile(r"(?:^|/)([^/]+)/(\d{4}-\d{2}-\d{2})\.json$")
SYSTEM_SUBTYPES = {
    "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "channel_archive",
    "channel_unarchive", "group_join", "group_leave", "group_topic", "group_purpose", "group_name",
    "group_archive", "group_unarchive", "bot_add", "bot_remove", "bot_enable", "bot_disable", "pinned_item",
    "unpinned_item", "reminder_add", "channel_convert_to_private", "channel_convert_to_public",
    "sh_room_created", "huddle_thread", "tombstone",
}
META_FILES = ("channels.json", "groups.json", "mpims.json", "dms.json")
_MARKUP_RE = re.compile(r"<([^<>]+)>")
_URL_ONLY_RE = re.compile(r"^\s*(?:https?://\S+\s*)+$")


# -- sniffing ---------------------------------------------------------------------------------------

def _archive(src: SourceFile) -> zipfile.ZipFile | None:
    if not src.data.startswith(b"PK"):
        return None
    try:
        return zipfile.ZipFile(io.BytesIO(src.data))
    except zipfile.BadZipFile:
        return None


def _root(names: list[str]) -> str | None:
    """The folder prefix holding channels.json (exports are sometimes zipped inside a top folder)."""
    roots = [n[: -len(m)] for n in names for m in META_FILES if n == m or n.endswith("/" + m)]
    return min(roots, key=len) if roots else None


def sniff(src: SourceFile) -> bool:
    archive = _archive(src)
    if archive is not None:
        names = archive.namelist()
        root = _root(names)
        return root is not None and f"{root}users.json" in names and any(DAY_FILE_RE.search(n) for n in names)
    # A day file from an extracted export: a JSON array of messages with Slack's ts strings.
    if not re.search(r"\d{4}-\d{2}-\d{2}\.json$", src.basename):
        return False
    head = src.head(3000).lstrip()
    return head.startswith("[") and bool(re.search(r'"ts"\s*:\s*"\d{9,10}\.\d{6}"', head)) and '"type"' in head


# -- markup -----------------------------------------------------------------------------------------

def render_text(text: str, users: dict[str, str], channels: dict[str, str]) -> tuple[str, list[str], list[str]]:
    """Slack markup to plain text: (text, mentioned names, urls)."""
    mentions: list[str] = []
    urls: list[str] = []

    def sub(m: re.Match) -> str:
        inner = m.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            name = label or users.get(target[1:], target[1:])
            if name not in mentions:
                mentions.append(name)
            return f"@{name}"
        if target.startswith("#"):
            return f"#{label or channels.get(target[1:], target[1:])}"
        if target.startswith("!"):
            special = target[1:].split("^")[0]
            return f"@{label or special}"
        if target.startswith(("http://", "https://", "mailto:")):
            urls.append(target)
            return target if not label or label == target else f"{label} ({target})"
        return label or target

    out = _MARKUP_RE.sub(sub, text or "")
    return html.unescape(out), mentions, urls


def _attachment_text(msg: dict) -> str:
    parts = []
    for a in msg.get("attachments") or []:
        if isinstance(a, dict):
            piece = "\n".join(str(a[k]) for k in ("pretext", "title", "text") if a.get(k))
            parts.append(piece or str(a.get("fallback") or ""))
    return "\n".join(p for p in parts if p)


# -- reading ----------------------------------------------------------------------------------------

def _load(raw: bytes | None, what: str):
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnreadableFile(f"{what}: expected JSON ({e})") from None


def _users(data) -> dict[str, str]:
    users = {}
    for u in data or []:
        if isinstance(u, dict) and u.get("id"):
            p = u.get("profile") or {}
            users[u["id"]] = (p.get("display_name") or u.get("real_name") or p.get("real_name")
                              or u.get("name") or u["id"])
    return users


def _message(ctx: ReadContext, msg, where: str, index: int, chat: str, chat_name: str,
             users: dict[str, str], channels: dict[str, str]) -> Message | None:
    if not isinstance(msg, dict):
        ctx.issue(None, f"{where}[{index}]: expected a message object")
        return None
    ts = msg.get("ts")
    try:
        time = from_epoch(float(ts), ctx.tz)
    except (TypeError, ValueError, OverflowError):
        ctx.issue(None, f"{where}[{index}]: expected ts like \"1452837352.000006\", got {ts!r}")
        return None
    subtype = msg.get("subtype") or ""
    extra: dict = {}
    if subtype:
        extra["subtype"] = subtype
    user = msg.get("user") or (msg.get("comment") or {}).get("user") or msg.get("bot_id") or ""
    profile = msg.get("user_profile") or {}
    name = (users.get(user) or profile.get("display_name") or profile.get("real_name") or msg.get("username")
            or (msg.get("bot_profile") or {}).get("name") or user)
    text, mentions, urls = render_text(str(msg.get("text") or ""), users, channels)
    kind = TEXT
    if subtype == "bot_message" or (msg.get("bot_id") and not msg.get("user")):
        extra["bot"] = True
        user = user or "bot"
        if not text.strip():
            text, more_mentions, more_urls = render_text(_attachment_text(msg), users, channels)
            mentions += [m for m in more_mentions if m not in mentions]
            urls += more_urls
    elif subtype in SYSTEM_SUBTYPES:
        kind = SYSTEM
    elif subtype == "file_share" or msg.get("files"):
        files = msg.get("files") or ([msg["file"]] if isinstance(msg.get("file"), dict) else [])
        names = [str(f.get("name") or f.get("title") or "") for f in files if isinstance(f, dict)]
        if names:
            extra["name"] = names[0] if len(names) == 1 else names
            kind = FILE
            if not text.strip() or "uploaded a file" in text:
                text = "\n".join(f"[文件] {n}" for n in names) + (f"\n{text}" if text.strip() else "")
    elif text and _URL_ONLY_RE.match(text):
        kind = LINK
    if not user:
        ctx.issue(None, f"{where}[{index}]: expected a user or bot_id")
        return None
    if urls:
        extra["urls"] = urls
    if msg.get("reactions"):
        extra["reactions"] = {r.get("name"): r.get("count", len(r.get("users") or [])) for r in msg["reactions"]
                              if isinstance(r, dict)}
    thread = msg.get("thread_ts")
    quote = None
    if thread and thread != ts:
        quote = Quote(platform_id=str(thread))
        extra["thread_ts"] = thread
    return ctx.message(chat=chat, time=time, sender=str(user), sender_name=str(name), kind=kind, text=text,
                       record=index, platform_id=str(ts), quote=quote, mentions=mentions, chat_name=chat_name,
                       extra=extra)


def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    ctx.platform = "slack"
    archive = _archive(src)
    if archive is None:
        yield from _read_day_file(src, ctx)
        return
    names = archive.namelist()
    root = _root(names)
    if root is None:
        raise UnreadableFile("expected a Slack export zip with channels.json, users.json and <channel>/<date>.json")
    users = _users(_load(archive.read(f"{root}users.json") if f"{root}users.json" in names else None, "users.json"))
    folders: dict[str, tuple[str, str]] = {}  # folder → (chat id, chat name)
    channels: dict[str, str] = {}
    for meta in META_FILES:
        if f"{root}{meta}" not in names:
            continue
        data = _load(archive.read(f"{root}{meta}"), meta)
        for c in data if isinstance(data, list) else []:
            if not isinstance(c, dict) or not c.get("id"):
                continue
            if c.get("name"):
                folders[c["name"]] = (c["name"], c["name"])
                channels[c["id"]] = c["name"]
            else:  # a DM: its folder is its id, its name the two people
                who = " & ".join(users.get(m, m) for m in c.get("members") or [])
                folders[c["id"]] = (c["id"], who or c["id"])
    day_files = []
    for n in names:
        m = DAY_FILE_RE.search(n[len(root):]) if n.startswith(root) else None
        if m and "/" not in n[len(root):].rsplit("/", 1)[0]:
            day_files.append((m.group(1), m.group(2), n))
    for folder, day, member in sorted(day_files):
        chat, chat_name = folders.get(folder, (folder, folder))
        where = f"{folder}/{day}.json"
        try:
            data = json.loads(archive.read(member).decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            ctx.issue(None, f"{where}: expected a JSON array of messages ({e}); file skipped")
            continue
        if not isinstance(data, list):
            ctx.issue(None, f"{where}: expected a JSON array of messages; file skipped")
            continue
        for index, msg in enumerate(data):
            m = _message(ctx, msg, where, index, chat, chat_name, users, channels)
            if m is not None:
                m.source = f"{src.name}!{member}#{index}"
                yield m


def _read_day_file(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    """One day file of an extracted export: the chat is its folder; users.json sits one folder up."""
    parts = PurePosixPath(src.name.replace("\\", "/").split("!")[-1]).parts
    folder = parts[-2] if len(parts) >= 2 else src.stem
    users = _users(_load(src.siblings("../users.json"), "users.json"))
    channels = {}
    raw = src.siblings("../channels.json")
    for c in _load(raw, "channels.json") or []:
        if isinstance(c, dict) and c.get("id") and c.get("name"):
            channels[c["id"]] = c["name"]
    try:
        data = json.loads(src.text)
    except json.JSONDecodeError as e:
        raise UnreadableFile(f"line {e.lineno}: expected a Slack day file (a JSON array of messages) ({e.msg})") from None
    if not isinstance(data, list):
        raise UnreadableFile("expected a Slack day file (a JSON array of messages)")
    for index, msg in enumerate(data):
        m = _message(ctx, msg, "messages", index, folder, folder, users, channels)
        if m is not None:
            yield m


READER = Reader(name="slack", label="Slack export (zip or extracted folder)", sniff=sniff, read=read,
                platform="slack", auxiliary=("channels.json", "users.json", "groups.json", "mpims.json", "dms.json",
                                             "integration_logs.json", "canvases.json", "huddles.json"))
