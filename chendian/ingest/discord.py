"""DiscordChatExporter (Tyrrrz) JSON export: one channel per file.

Written from the layout described in FORMATS.md and DiscordChatExporter's documented JSON output; no real
export was available to test against, only the fixture in tests/fixtures/formats/discord.

`{guild{id,name}, channel{id,type,category,name,topic}, dateRange, exportedAt, messages[], messageCount}`; a
message is `{id, type (Default|Reply|GuildMemberJoin|ChannelPinnedMessage|ThreadCreated|…), timestamp (ISO
8601 with offset), timestampEdited, isPinned, content (mentions already rendered as @name), author{id,name,
discriminator,nickname,isBot}, attachments[{id,url,fileName,fileSizeBytes}], embeds[{title,url,description}],
stickers[{id,name}], reactions[{emoji{name},count}], mentions[{id,name,nickname}], reference{messageId,
channelId,guildId}}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from ..model import FILE, IMAGE, LINK, SYSTEM, TEXT, VIDEO, VOICE, Message, Quote
from .base import ReadContext, Reader, SourceFile, UnreadableFile, parse_time

# Message types that are Discord's own notices, not something a person wrote.
SYSTEM_TYPES = {
    "RecipientAdd", "RecipientRemove", "Call", "ChannelNameChange", "ChannelIconChange", "ChannelPinnedMessage",
    "GuildMemberJoin", "UserPremiumGuildSubscription", "UserPremiumGuildSubscriptionTier1",
    "UserPremiumGuildSubscriptionTier2", "UserPremiumGuildSubscriptionTier3", "ChannelFollowAdd",
    "GuildDiscoveryDisqualified", "GuildDiscoveryRequalified", "ThreadCreated", "GuildInviteReminder",
    "AutoModerationAction", "StageStart", "StageEnd", "StageSpeaker", "StageTopic",
}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".heic"}
VIDEO_EXT = {".mp4", ".mov", ".webm", ".mkv", ".avi"}
AUDIO_EXT = {".mp3", ".ogg", ".wav", ".m4a", ".flac", ".opus"}
SYSTEM_TEXT = {"GuildMemberJoin": "加入了服务器", "ChannelPinnedMessage": "置顶了一条消息", "RecipientAdd": "添加了成员",
               "RecipientRemove": "移除了成员", "ThreadCreated": "创建了子区", "Call": "发起了通话",
               "ChannelNameChange": "修改了频道名", "ChannelIconChange": "修改了频道图标"}
_FRACTION_RE = re.compile(r"(\.\d{6})\d+")  # .NET writes up to 7 fraction digits; Python reads 6
_URL_ONLY_RE = re.compile(r"^\s*(?:<?https?://\S+>?\s*)+$")
_URL_RE = re.compile(r"https?://[^\s<>()]+")


def sniff(src: SourceFile) -> bool:
    head = src.head(8192).lstrip("\ufeff").lstrip()
    return (head.startswith("{") and bool(re.search(r'"guild"\s*:\s*\{', head))
            and bool(re.search(r'"channel"\s*:\s*\{', head))
            and any(k in head for k in ('"messages"', '"exportedAt"', '"dateRange"')))


def _attachment(a: dict) -> tuple[str, str]:
    """(kind, placeholder) of one attachment, by its file name's extension."""
    name = str(a.get("fileName") or str(a.get("url") or "").rsplit("/", 1)[-1] or "")
    ext = PurePosixPath(name.lower()).suffix
    if ext in IMAGE_EXT:
        return IMAGE, "[图片]"
    if ext in VIDEO_EXT:
        return VIDEO, "[视频]"
    if ext in AUDIO_EXT:
        return VOICE, "[音频]"
    return FILE, f"[文件] {name}".rstrip()


def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    ctx.platform = "discord"
    try:
        data = json.loads(src.text)
    except json.JSONDecodeError as e:
        raise UnreadableFile(f"line {e.lineno}: expected a DiscordChatExporter JSON export ({e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise UnreadableFile("expected a DiscordChatExporter JSON export: an object with guild, channel and messages[]")
    guild = data.get("guild") if isinstance(data.get("guild"), dict) else {}
    channel = data.get("channel") if isinstance(data.get("channel"), dict) else {}
    chat = str(channel.get("id") or channel.get("name") or src.stem)
    channel_name = str(channel.get("name") or chat)
    guild_name = str(guild.get("name") or "")
    # Direct messages come under the pseudo-guild "Direct Messages"; a server channel reads "server #channel".
    chat_name = f"{guild_name} #{channel_name}" if guild_name and guild_name != "Direct Messages" else channel_name
    for index, msg in enumerate(data["messages"]):
        loc = f"messages[{index}]"
        if not isinstance(msg, dict):
            ctx.issue(None, f"{loc}: expected a message object")
            continue
        try:
            time = parse_time(_FRACTION_RE.sub(r"\1", str(msg["timestamp"])), ctx.tz)
        except (KeyError, ValueError) as e:
            detail = "missing" if isinstance(e, KeyError) else str(e)
            ctx.issue(None, f"{loc} (id {msg.get('id')}): expected timestamp like 2024-03-12T10:30:00+08:00 ({detail})")
            continue
        author = msg.get("author") if isinstance(msg.get("author"), dict) else {}
        if not author.get("id") and not author.get("name"):
            ctx.issue(None, f"{loc} (id {msg.get('id')}): expected an author with id and name")
            continue
        sender = str(author.get("id") or f"name:{author['name']}")
        sender_name = str(author.get("nickname") or author.get("name") or sender)
        mtype = str(msg.get("type") or "Default")
        text = str(msg.get("content") or "")
        extra: dict = {}
        if mtype not in ("Default", "Reply"):
            extra["type"] = mtype
        if author.get("isBot"):
            extra["bot"] = True
        kind = SYSTEM if mtype in SYSTEM_TYPES else TEXT
        if kind == SYSTEM:  # the exporter's English fallback ("Pinned a message."), said in Chinese with who did it
            text = f"{sender_name} {SYSTEM_TEXT.get(mtype) or text.strip() or mtype}"
        urls = _URL_RE.findall(text)
        if kind != SYSTEM:
            placeholders = []
            attachments = [a for a in msg.get("attachments") or [] if isinstance(a, dict)]
            for a in attachments:
                a_kind, shown = _attachment(a)
                placeholders.append(shown)
                if len(attachments) == 1:
                    kind = a_kind
            names = [str(a.get("fileName")) for a in attachments if a.get("fileName")]
            if names:
                extra["name"] = names[0] if len(names) == 1 else names
            if len(attachments) > 1:
                kinds = {_attachment(a)[0] for a in attachments}
                kind = kinds.pop() if len(kinds) == 1 else FILE
            for s in msg.get("stickers") or []:
                if isinstance(s, dict):
                    placeholders.append(f"[表情] {s.get('name') or ''}".rstrip())
                    kind = IMAGE
            if placeholders:
                shown = "\n".join(placeholders)
                text = f"{shown}\n{text}" if text.strip() else shown
                if kind != FILE and text != shown:
                    kind = TEXT  # a captioned image is mostly what the caption says (as other readers do)
            embeds = [e for e in msg.get("embeds") or [] if isinstance(e, dict)]
            for e in embeds:
                if e.get("url"):
                    urls.append(str(e["url"]))
            if not text.strip() and embeds:  # a bot's embed-only message: its title and description are the text
                text = "\n".join(str(e[k]) for e in embeds for k in ("title", "description") if e.get(k))
            elif kind == TEXT and _URL_ONLY_RE.match(text):
                kind = LINK
        if urls:
            extra["urls"] = list(dict.fromkeys(urls))
        reactions = {}
        for r in msg.get("reactions") or []:
            if isinstance(r, dict) and isinstance(r.get("emoji"), dict):
                reactions[str(r["emoji"].get("name") or r["emoji"].get("code") or "")] = r.get("count", 0)
        if reactions:
            extra["reactions"] = reactions
        if msg.get("isPinned"):
            extra["pinned"] = True
        mentions = []
        for m in msg.get("mentions") or []:
            if isinstance(m, dict):
                name = str(m.get("nickname") or m.get("name") or m.get("id") or "")
                if name and name not in mentions:
                    mentions.append(name)
        quote = None
        reference = msg.get("reference") if isinstance(msg.get("reference"), dict) else {}
        if reference.get("messageId") and kind != SYSTEM and str(reference.get("channelId") or chat) == chat:
            quote = Quote(platform_id=str(reference["messageId"]))
        elif reference.get("messageId"):
            extra["reference"] = reference  # what a pin points at, a crosspost, a reply in another channel
        if not text and kind == TEXT:
            ctx.issue(None, f"{loc} (id {msg.get('id')}): expected content, an attachment, a sticker or an embed")
            continue
        yield ctx.message(
            chat=chat, time=time, sender=sender, sender_name=sender_name, kind=kind, text=text, record=index,
            platform_id=str(msg["id"]) if msg.get("id") is not None else None, quote=quote,
            mentions=mentions or None, chat_name=chat_name, extra=extra,
        )


READER = Reader(name="discord", label="DiscordChatExporter JSON", sniff=sniff, read=read, platform="discord")
