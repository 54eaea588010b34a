"""wx-cli (jackwener/wx-cli, WeChat 4.x desktop) output: export/history JSON and YAML, markdown, txt, new-messages.

    export/history JSON (0.3): {chat, chat_type, count, is_group, messages:[…], meta, username}
    history JSON (0.2):        a bare array of messages (no chat username: taken from the file name)
    new-messages JSON:         {count, messages:[…], meta, new_state} (0.2: a bare array); every message names
                               its chat (`username`, `chat`, `is_group`, `chat_type`) and has no `local_id`
    YAML:                      the same objects as serde_yaml writes them (history's default output)
    message:                   {content, local_id?, sender, sender_username?, sender_contact_display?,
                                sender_group_nickname?, time "%Y-%m-%d %H:%M", timestamp (s), type, url?}
    markdown:                  `# chat（群聊）`, `> 导出 N 条消息`, then `### time` / blank / `**sender**: content`,
                               content newlines written as `\\n> `; no `**sender**: ` for an empty sender
    txt:                       `=== chat[群] (N 条) ===`, then `[time] sender: content`, newlines written raw

Identity. wx-cli emits no server id, and `local_id` is reused within a chat and absent from feeds, so a message's
id is derived from what every layout carries alike: the chat username, the minute of its instant (epoch // 60:
markdown and txt have no seconds; the markdown `time` is read in `ingest.timezone`, which must be the zone of
the machine that ran wx), which side of a private chat wrote it (partner or self; not used in groups, where the
markdown carries only a display label), the content exactly as wx-cli rendered it, and an ordinal among repeats
of all of that in one file. The same message read from an export, a history call and a new-messages feed (and
from markdown or txt named after the chat username) therefore gets one id and is stored once.
Collision case: two messages with the same content in the same chat and minute (two members both answering
"收到" at 09:30) are told apart only by their order in the file; a new-messages feed splits a minute between two
runs (it reads `create_time > last check`), so the second "收到" arriving in the next run gets ordinal 0 again
and is taken for the first. Date-window exports never split a minute: the nightly recipe in the README uses them.

Senders: groups key on `sender_username` (markdown/txt: the label, mapped to a username through a `wx members
--json` file passed with `--names`, else `name:<label>`); private chats have no sender id: an empty sender is
the partner (keyed on the chat username), any other label is you (`self`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..model import FILE, FORWARD, IMAGE, LINK, OTHER, PAT, QUOTE, RECALL, SYSTEM, TEXT, VIDEO, VOICE, Message, Quote
from .base import ReadContext, Reader, SourceFile, UnreadableFile, from_epoch, parse_time
from .wechat_common import SELF, forward_text, json_array_items, kind_for_type, name_sender

USERNAME_RE = re.compile(r"\d+@chatroom|wxid_[A-Za-z0-9]+|gh_[A-Za-z0-9_]+")
_JSON_SNIFF_RE = re.compile(r'"time": "\d{4}-\d{2}-\d{2} \d{2}:\d{2}"')
_YAML_SNIFF_RE = re.compile(r"(?m)^(?:- |  )?time: ['\"]?\d{4}-\d{2}-\d{2} \d{2}:\d{2}['\"]?$")
MD_TITLE_RE = re.compile(r"^# (?P<chat>.*?)(?P<group>（群聊）)?$")
MD_COUNT_RE = re.compile(r"^> 导出 (\d+) 条消息$")
MD_TIME_RE = re.compile(r"^### (\d{4}-\d{2}-\d{2} \d{2}:\d{2})$")
MD_SENDER_RE = re.compile(r"^\*\*(.+?)\*\*: ")
TXT_TITLE_RE = re.compile(r"^=== (?P<chat>.*?)(?P<group>\[群\])? \((?P<count>\d+) 条\) ===$")
TXT_LINE_RE = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2})\] (.*)$")
_PREFIX_RE = re.compile(r"^\[(引用|合并聊天记录|文件|链接/文件|链接|小程序|图片|语音|视频|表情|通话|系统消息|系统|"
                        r"撤回了一条消息|撤回)\](?= |\n|$) ?")
_PREFIX_KINDS = {"引用": QUOTE, "合并聊天记录": FORWARD, "文件": FILE, "链接/文件": LINK, "链接": LINK, "小程序": LINK,
                 "图片": IMAGE, "语音": VOICE, "视频": VIDEO, "表情": IMAGE, "通话": OTHER, "系统消息": SYSTEM,
                 "系统": SYSTEM, "撤回了一条消息": RECALL, "撤回": RECALL}
# fmt_type's labels; 链接/文件 covers quotes, files, links, forwards and mini programs: told apart by content.
_TYPE_KINDS = {"文本": TEXT, "图片": IMAGE, "语音": VOICE, "名片": OTHER, "视频": VIDEO, "表情": IMAGE,
               "位置": OTHER, "通话": OTHER, "系统": SYSTEM, "撤回": RECALL}
_QUOTE_MARK = "\n  \u21b3 "  # "[引用] reply" then "  ↳ quoted_sender: quoted text"
_FILE_RE = re.compile(r"^(?P<name>.*?)(?: \((?P<meta>[^()]*)\))?$", re.S)
_FORWARD_TITLE_RE = re.compile(r"^(?P<title>.*?)(?: \((?P<n>\d+)条\))?$")
_LOCAL_ID_RE = re.compile(r"local_id=(\d+)")
NOTICE_KINDS = (SYSTEM, RECALL, PAT)


@dataclass
class Chat:
    username: str
    name: str
    is_group: bool


# -- sniffing ----------------------------------------------------------------------------------------------

def sniff(src: SourceFile) -> bool:
    head = src.head()
    stripped = head.lstrip()
    if stripped[:1] in ("{", "["):
        return '"timestamp": ' in head and '"content": ' in head and bool(_JSON_SNIFF_RE.search(head))
    first = stripped.split("\n", 1)[0]
    if MD_TITLE_RE.match(first) and "\n> 导出 " in head:
        return True
    if TXT_TITLE_RE.match(first):
        return True
    return bool(re.match(r"^(?:chat|count|- content|- chat): ", stripped)) and "timestamp: " in head \
        and bool(_YAML_SNIFF_RE.search(head))


def read(src: SourceFile, ctx: ReadContext) -> Iterator[Message]:
    text = src.text
    stripped = text.lstrip()
    first = stripped.split("\n", 1)[0]
    reading = _Reading(ctx)
    if stripped[:1] in ("{", "["):
        yield from reading.structured(*_json_items(src, text, len(text) - len(stripped)))
    elif MD_TITLE_RE.match(first):
        yield from reading.markdown(src)
    elif TXT_TITLE_RE.match(first):
        yield from reading.txt(src)
    else:
        yield from reading.structured(*_yaml_items(text))


# -- JSON and YAML: the same objects, decoded with their line numbers ------------------------------------------

def _json_items(src: SourceFile, text: str, start: int) -> tuple[dict | None, Iterator[tuple[int, object, str]]]:
    """(top-level object without its messages, or None for a bare array; (line, item, error) per message)."""
    def items(at: int):
        for _, line, item, error in json_array_items(text, at):
            yield line, item, error

    if text[start] == "[":  # 0.2 history/new-messages: complete items before a cut are kept, the cut reported
        return None, items(start)
    try:
        top = json.loads(text)
    except json.JSONDecodeError as e:
        # The chat's `username` comes after `messages` (keys are sorted): a cut-off object names no chat.
        raise UnreadableFile(f"line {e.lineno}: expected a complete wx-cli JSON object ({e.msg}; truncated?)") from None
    found = re.search(r'"messages"\s*:\s*\[', text)
    if not isinstance(top, dict) or not isinstance(top.get("messages"), list) or not found:
        raise UnreadableFile("line 1: expected a wx-cli object with a `messages` array")
    top.pop("messages")
    return top, items(found.end() - 1)


def _yaml_loader():
    import yaml

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        """YAML 1.2 booleans, as serde_yaml writes them: a message saying `yes` or `on` stays text."""

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))
    return yaml, Loader


def _yaml_items(text: str) -> tuple[dict | None, Iterator[tuple[int, object, str]]]:
    yaml, Loader = _yaml_loader()
    loader = Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise UnreadableFile(f"{where}expected wx-cli YAML ({getattr(e, 'problem', None) or e})") from None
    if isinstance(root, yaml.SequenceNode):
        top, seq = None, root
    elif isinstance(root, yaml.MappingNode):
        top, seq = {}, None
        for key, value in root.value:
            if key.value == "messages" and isinstance(value, yaml.SequenceNode):
                seq = value
            else:
                top[key.value] = loader.construct_object(value, deep=True)
        if seq is None:
            raise UnreadableFile("line 1: expected a wx-cli YAML mapping with a `messages` list")
    else:
        raise UnreadableFile("line 1: expected a wx-cli YAML mapping or list of messages")

    def items():
        for node in seq.value:
            yield node.start_mark.line + 1, loader.construct_object(node, deep=True), ""

    return top, items()


# -- one message, whichever layout it came from -------------------------------------------------------------------

def chat_from_file(src: SourceFile, ctx: ReadContext, display: str) -> str | None:
    """A layout without the chat username (markdown, txt, 0.2 history): the username in the file name
    (`wx export 12345678@chatroom -o 12345678@chatroom.md`), else the one a `--names` file gives this name."""
    m = USERNAME_RE.search(src.stem)
    if m:
        return m.group()
    owners = [uid for uid, name in ctx.names.items() if name == display and USERNAME_RE.fullmatch(uid)]
    return owners[0] if len(owners) == 1 else None


def classify(type_label: str | None, content: str, has_url: bool) -> tuple[str, str | None, str]:
    """(kind, content prefix label or None, content after the prefix) from the type label and the content."""
    m = _PREFIX_RE.match(content)
    prefix, rest = (m.group(1), content[m.end():]) if m else (None, content)
    if type_label is None:  # markdown/txt carry no type: the prefix decides
        if prefix:
            kind = _PREFIX_KINDS[prefix]
        else:
            kind = OTHER if content.lstrip().startswith("<") else TEXT  # name cards, locations: raw XML
    elif type_label in _TYPE_KINDS:
        kind = _TYPE_KINDS[type_label]
        if kind == TEXT or prefix is None or _PREFIX_KINDS[prefix] != kind and kind not in NOTICE_KINDS:
            prefix, rest = None, content  # a typed "[图片]" in a text message is text
    elif type_label == "链接/文件":
        kind = _PREFIX_KINDS[prefix] if prefix else (LINK if has_url else OTHER)
    elif type_label.startswith("type="):
        try:
            kind = kind_for_type(int(type_label[5:]), 0, content)
        except ValueError:
            kind = OTHER
    else:
        kind = OTHER
    if kind == SYSTEM and "拍了拍" in content:
        kind = PAT
    elif kind == SYSTEM and "撤回了一条消息" in content:
        kind = RECALL
    return kind, prefix, rest


def _first_filled(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines) if line.strip()), 0)


class _Reading:
    """State of one file's read: names seen, to key markdown senders and name quoted senders."""

    def __init__(self, ctx: ReadContext):
        self.ctx = ctx
        # display label → username, from the --names file (wx members) and the JSON messages themselves
        self.usernames: dict[str, str] = {name: uid for uid, name in ctx.names.items()}
        self.labels: dict[tuple[str, str], str] = {}  # (chat, any name of a sender) → their latest label
        self.self_labels: set[str] = set()  # the labels your own messages carried in private chats

    def message(self, chat: Chat, *, epoch: int | None, time_text: str, label: str, content: str, line: int,
                type_label: str | None = None, sender_username: str = "", aliases: tuple[str, ...] = (),
                url: str = "", local_id=None) -> Message | None:
        ctx = self.ctx
        try:
            if epoch is not None:
                time = from_epoch(epoch, ctx.tz)
            else:
                time = parse_time(time_text, ctx.tz)
                epoch = int(time.timestamp())
        except (ValueError, OverflowError, OSError) as e:
            ctx.issue(line, f"expected `timestamp` (Unix seconds) or a `time` like 2026-05-01 09:30 ({e})")
            return None
        if "\r" in content:
            content = content.replace("\r\n", "\n")
        kind, prefix, rest = classify(type_label, content, bool(url))
        extra: dict = {"type": type_label} if type_label else {}
        if local_id is not None:
            extra["local_id"] = local_id
        if prefix:
            extra["placeholder"] = prefix
        text, quote = self._body(chat, kind, prefix, rest, content, url, extra)

        if not label and kind in NOTICE_KINDS:
            sender, name = "system", "系统消息"
        elif chat.is_group:
            sender = sender_username or self.usernames.get(label, "")
            if sender:
                name = label or ctx.names.get(sender) or sender
                for alias in (label, *aliases):
                    if alias:
                        self.labels[(chat.username, alias)] = name
            elif label:
                sender, name = name_sender(label), label
            else:  # wx-cli could not resolve the row's sender (see its issue #70)
                sender, name = "unknown", "未知成员"
        elif label:
            sender, name = SELF, label
            self.self_labels.add(label)
        else:
            sender, name = chat.username, ctx.names.get(chat.username) or chat.name
        side = "" if chat.is_group else ("self" if label else "partner")
        return ctx.message(chat=chat.username, time=time, sender=sender, sender_name=name, kind=kind, text=text,
                           line=line, quote=quote, chat_name=chat.name or None, extra=extra,
                           identity=(str(epoch // 60), side, content))

    def _body(self, chat: Chat, kind: str, prefix: str | None, rest: str, content: str, url: str,
              extra: dict) -> tuple[str, Quote | None]:
        """The message's text (what someone wrote or what the notice says) and its quote."""
        if kind == QUOTE:
            reply, _, quoted = rest.partition(_QUOTE_MARK)
            name, sep, qtext = quoted.partition(": ")
            if not sep or len(name) > 32 or "\n" in name:
                name, qtext = "", quoted
            if qtext.endswith("..."):  # wx-cli cut the quoted text at 80 characters
                qtext, extra["quote_truncated"] = qtext[:-3], True
            name = self.labels.get((chat.username, name), name)
            if name and not chat.is_group and name not in self.self_labels:
                # Two people in a private chat: a quoted name that is not yours is the partner's (the quote
                # may show their nickname where their messages carry the remark).
                name = self.ctx.names.get(chat.username) or chat.name
            return reply.strip(), Quote(sender_name=name or None, text=qtext.strip() or None)
        if kind == FORWARD:
            lines = rest.split("\n")
            m = _FORWARD_TITLE_RE.match(lines[0].strip())
            title = m.group("title") if m else lines[0].strip()
            records = []
            for item in lines[1:]:
                item = item.strip()
                if item.startswith("- "):
                    name, sep, said = item[2:].partition(": ")
                    records.append({"time": "", "name": name if sep else "", "text": said if sep else item[2:]})
                elif item and records:  # a line of a record's text, or one pasted in: kept, never dropped
                    records[-1]["text"] += "\n" + item
                elif item:
                    records.append({"time": "", "name": "", "text": item})
            extra["forward"] = records
            if title:
                extra["title"] = title
            return forward_text(title, records), None
        if kind == FILE and prefix:
            m = _FILE_RE.match(rest)
            extra["file"] = m.group("name")
            if m.group("meta"):
                extra["size"] = m.group("meta")
            return m.group("name"), None
        if kind == LINK:
            title = rest.strip() if prefix else ""
            if title:
                extra["title"] = title
            if url:
                extra["url"] = url
            return "\n".join(x for x in (title, url) if x) or (content if not prefix else ""), None
        if kind == IMAGE and prefix == "图片":
            m = _LOCAL_ID_RE.search(rest)
            if m and "local_id" not in extra:
                extra["local_id"] = int(m.group(1))
            # markdown/txt carry no type: "[图片] words" may be typed text, so the words are kept, never dropped
            return _LOCAL_ID_RE.sub("", rest).strip(), None
        if kind in (IMAGE, VOICE, VIDEO) or (kind == OTHER and prefix):
            return rest.strip(), None
        if kind in NOTICE_KINDS:
            return (rest.strip() if prefix else content.strip()) or prefix or "", None
        if kind == OTHER and content.lstrip().startswith("<"):
            extra["xml"] = content
            return "", None
        if kind == TEXT and not content.strip():
            extra["empty"] = True
        return content, None

    # -- JSON / YAML objects ---------------------------------------------------------------------------------

    def structured(self, top: dict | None, items: Iterator[tuple[int, object, str]]) -> Iterator[Message]:
        ctx = self.ctx
        feed = top is not None and ("new_state" in top or "username" not in top)
        file_chat: Chat | None = None
        if top is not None and not feed:
            username = top.get("username")
            if not isinstance(username, str) or not username:
                raise UnreadableFile("line 1: expected the chat's `username` in a wx-cli export/history object")
            file_chat = Chat(username, str(top.get("chat") or username),
                             bool(top.get("is_group")) or top.get("chat_type") == "group"
                             or username.endswith("@chatroom"))
        self._meta_warning(top)
        pending = list(items) if top is None else items  # a bare array: look at all of it to tell group from private
        if top is None:
            file_chat = self._bare_array_chat(pending)
        for index, (line, obj, error) in enumerate(pending):
            if error:
                ctx.issue(line, error)
                continue
            if not isinstance(obj, dict):
                ctx.issue(line, f"message #{index}: expected an object, got {type(obj).__name__}")
                continue
            epoch = obj.get("timestamp")
            if isinstance(epoch, bool) or not isinstance(epoch, int):
                ctx.issue(line, f"message #{index}: expected `timestamp` (Unix seconds), got {epoch!r}")
                continue
            content, label, type_label = obj.get("content"), obj.get("sender") or "", obj.get("type") or ""
            if not (isinstance(content, str) and isinstance(label, str) and isinstance(type_label, str)):
                ctx.issue(line, f"message #{index}: expected text `content`, `sender` and `type`, got "
                                f"{content!r}, {label!r}, {type_label!r}")
                continue
            chat = file_chat
            if obj.get("username") or file_chat is None:
                username = obj.get("username")
                if not isinstance(username, str) or not username:
                    ctx.issue(line, f"message #{index}: expected the chat's `username` in a new-messages item")
                    continue
                chat = Chat(username, str(obj.get("chat") or username),
                            bool(obj.get("is_group")) or obj.get("chat_type") == "group"
                            or username.endswith("@chatroom"))
            sender_username = obj.get("sender_username")
            aliases = (str(obj.get("sender_contact_display") or ""), str(obj.get("sender_group_nickname") or "")) \
                if sender_username else ()
            m = self.message(chat, epoch=epoch, time_text="", label=label, content=content, line=line,
                             type_label=type_label, sender_username=str(sender_username or ""), aliases=aliases,
                             url=str(obj.get("url") or ""), local_id=obj.get("local_id"))
            if m is not None:
                yield m

    def _bare_array_chat(self, items: list) -> Chat | None:
        """0.2 bare arrays: a new-messages feed names each message's chat; a history names none (file name)."""
        objects = [obj for _, obj, error in items if not error and isinstance(obj, dict)]
        if any("username" in obj for obj in objects):
            return None
        src = self.ctx.src
        username = chat_from_file(src, self.ctx, src.stem)
        if username is None:
            raise UnreadableFile("a wx-cli 0.2 history array names no chat: name the file after the chat "
                                 "username (e.g. 12345678@chatroom.json or wxid_….json)")
        labels = {str(obj.get("sender") or "") for obj in objects} - {""}
        is_group = username.endswith("@chatroom") or len(labels) > 1 or any("sender_username" in o for o in objects)
        return Chat(username, self.ctx.names.get(username) or username, is_group)

    def _meta_warning(self, top: dict | None) -> None:
        meta = top.get("meta") if top else None
        status = meta.get("status") if isinstance(meta, dict) else None
        if status and status.startswith("possibly_stale"):
            self.ctx.issue(1, f"wx-cli reported meta.status {status}: this export may be incomplete"
                              " (run `wx init --force` or re-export later)")

    # -- markdown ---------------------------------------------------------------------------------------------

    def markdown(self, src: SourceFile) -> Iterator[Message]:
        lines = src.text.split("\n")
        i = _first_filled(lines)  # read() found the title on the first non-blank line
        title = MD_TITLE_RE.match(lines[i].lstrip())  # as read() matched it
        chat = self._text_chat(src, title.group("chat"), bool(title.group("group")))
        declared, blocks = None, 0
        i += 1
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                continue
            m = MD_TIME_RE.match(line)
            if not m:
                counted = MD_COUNT_RE.match(line)
                if counted and blocks == 0:
                    declared = int(counted.group(1))
                elif line.startswith("> ") and blocks == 0:  # the > [!WARNING] block above the messages
                    if "[!WARNING]" not in line:
                        self.ctx.issue(i + 1, f"wx-cli warned: {line[2:].strip()}")
                else:
                    self.ctx.issue(i + 1, f"expected a `### YYYY-MM-DD HH:MM` message header, got {line[:40]!r}")
                i += 1
                continue
            header_line = i + 1
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            body = [""]
            if i < len(lines) and not MD_TIME_RE.match(lines[i]):  # else an empty message of an empty sender
                body[0] = lines[i]
                i += 1
            while i < len(lines) and (lines[i].startswith("> ") or lines[i] == ">"):
                body.append(lines[i][2:])  # wx-cli wrote the content's newlines as "\n> "
                i += 1
            blocks += 1
            first = MD_SENDER_RE.match(body[0])
            label = first.group(1) if first else ""
            body[0] = body[0][first.end():] if first else body[0]
            message = self.message(chat, epoch=None, time_text=m.group(1), label=label, content="\n".join(body),
                                   line=header_line)
            if message is not None:
                yield message
        self._check_count(declared, blocks, len(lines))

    def _text_chat(self, src: SourceFile, display: str, is_group: bool) -> Chat:
        username = chat_from_file(src, self.ctx, display)
        if username is None:
            self.ctx.issue(1, f"no chat username for {display!r}: keyed on the display name, so it will not line up"
                              " with JSON exports or feeds; name the file after the username (wx export USERNAME"
                              " --format markdown -o USERNAME.md)")
            username = display
        return Chat(username, display, is_group or username.endswith("@chatroom"))

    def _check_count(self, declared: int | None, found: int, last_line: int) -> None:
        if declared is not None and declared != found:
            self.ctx.issue(last_line, f"the header says {declared} messages, the file holds {found} (cut off?)")

    # -- txt --------------------------------------------------------------------------------------------------

    def txt(self, src: SourceFile) -> Iterator[Message]:
        lines = src.text.split("\n")
        start = _first_filled(lines)  # read() found the title on the first non-blank line
        title = TXT_TITLE_RE.match(lines[start].lstrip())  # as read() matched it
        chat = self._text_chat(src, title.group("chat"), bool(title.group("group")))
        records: list[tuple[int, str, str]] = []  # (line, time, everything after "[time] ", newlines included)
        for lineno, line in enumerate(lines[start + 1:], start + 2):
            m = TXT_LINE_RE.match(line)
            if m:
                records.append((lineno, m.group(1), m.group(2)))
            elif records:
                records[-1] = (records[-1][0], records[-1][1], records[-1][2] + "\n" + line)
            elif line.startswith("[wx] 警告："):
                self.ctx.issue(lineno, f"wx-cli warned: {line[len('[wx] 警告：'):]}")
            elif line.strip():
                self.ctx.issue(lineno, f"expected a `[YYYY-MM-DD HH:MM] sender: content` line, got {line[:40]!r}")
        if records:  # the file ends with the last message: println's newline is not part of its content
            last = records[-1]
            records[-1] = (last[0], last[1], last[2][:-1] if last[2].endswith("\n") else last[2])
        self_label = self._txt_self_label(records) if not chat.is_group else None
        for lineno, time_text, rest in records:
            label, content = self._txt_split(rest, chat.is_group, self_label)
            message = self.message(chat, epoch=None, time_text=time_text, label=label, content=content, line=lineno)
            if message is not None:
                yield message
        self._check_count(int(title.group("count")), len(records), len(lines))

    @staticmethod
    def _txt_candidate(rest: str) -> str:
        if _PREFIX_RE.match(rest):
            return ""  # notices and media of an empty sender start with their [label]
        name, sep, _ = rest.partition(": ")
        return name if sep and name and "\n" not in name and len(name) <= 32 else ""

    def _txt_self_label(self, records: list[tuple[int, str, str]]) -> str | None:
        """In a private chat only your own lines carry a label (always the same one); the partner's lines have
        none, so a "word: " at the start of theirs is text. Your label is the most frequent candidate."""
        counts: dict[str, int] = {}
        for _, _, rest in records:
            candidate = self._txt_candidate(rest)
            if candidate:
                counts[candidate] = counts.get(candidate, 0) + 1
        return max(counts, key=counts.get) if counts else None

    def _txt_split(self, rest: str, is_group: bool, self_label: str | None) -> tuple[str, str]:
        candidate = self._txt_candidate(rest)
        if candidate and (is_group or candidate == self_label):
            return candidate, rest[len(candidate) + 2:]
        return "", rest


READER = Reader(name="wxcli", label="wx-cli (JSON, YAML, markdown, txt, new-messages)", sniff=sniff, read=read,
                platform="wechat")
