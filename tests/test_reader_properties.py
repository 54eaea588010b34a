"""Property-based round trips (issue 18): random valid chats rendered in a format and read back give the same
messages — count, senders, times and texts, modulo the format's documented normalisation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from line_accounting import account_lines
from mutations import read_mutant, source

from chendian.ingest import (chatlog, jsonl, memotrace, memotrace_txt, pywxdump, qq_classic, wechat_copypaste,
                             wechatexporter, wecom, weflow)

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])

# Chinese, Latin, digits, punctuation (ASCII and full-width) and emoji: what chat names and texts are made of.
CHAT_CHARS = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
    st.sampled_from(list("abcXYZ0189 ,.!?@#&-_'\"~，。！？、；：“”（）《》")),
    st.characters(min_codepoint=0x1F600, max_codepoint=0x1F64F),
)
stamps = st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda t: t.replace(microsecond=0, tzinfo=SHANGHAI))


def _line(min_size: int = 1) -> st.SearchStrategy[str]:
    return st.text(CHAT_CHARS, min_size=min_size, max_size=30).map(str.strip).filter(bool)


# Names as people pick them: CJK, emoji, spaces and punctuation, ASCII brackets and colons included
NAME_CHARS = st.one_of(CHAT_CHARS, st.sampled_from(list("()[]<>:@|/*")))
names = st.text(NAME_CHARS, min_size=1, max_size=24).map(str.strip).filter(bool)
# QQ nicknames: anything on one line but a leading 【title】 (the reader reads it as a group title, documented).
qq_names = names.filter(lambda s: not s.startswith("【"))
qq_numbers = st.integers(10_000, 99_999_999_999).filter(lambda n: str(n) not in {"1000000", "80000000"})
# QQ bodies: paragraphs and indented lines (see _bodies_for); the reader keeps a body as written, without the
# blank lines around it.
qq_bodies = st.deferred(lambda: _bodies_for(qq_classic.HEADER_LIKE_RE, qq_classic.RULE_RE))


def _qq_file(messages) -> str:
    out = [qq_classic.TITLE_LINE, "", "=" * 64, "消息分组:我的QQ群", "=" * 64, "消息对象:测试群", "=" * 64, ""]
    for time, name, number, body in messages:
        # hours are not zero-padded in QQ's export
        out += [f"{time.year}-{time.month:02}-{time.day:02} {time.hour}:{time.minute:02}:{time.second:02} "
                f"{name}({number})", body, ""]
    return "\r\n".join(out)  # QQ writes CRLF


@PROPERTY_SETTINGS
@given(st.lists(st.tuples(stamps, qq_names, qq_numbers, qq_bodies), min_size=1, max_size=8))
def test_qq_txt_round_trip(tmp_path, messages):
    path = tmp_path / "测试群.txt"
    data = ("\ufeff" + _qq_file(messages)).encode("utf-8")
    result = read_mutant(qq_classic.READER, path, data)
    assert result is not None
    read, issues = result
    assert issues == []
    assert [(m.time, m.sender, m.sender_name, m.text) for m in read] == [
        (time, str(number), name, body) for time, name, number, body in messages]
    assert account_lines("qq-txt", source(path, data).text, read, issues).unaccounted == []


jsonl_texts = st.lists(st.text(CHAT_CHARS, max_size=30), min_size=1, max_size=4).map("\n".join)
jsonl_ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)
offsets = st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@PROPERTY_SETTINGS
@given(st.lists(st.tuples(stamps, offsets, jsonl_ids, st.text(CHAT_CHARS, min_size=1, max_size=20), jsonl_texts),
                min_size=1, max_size=8),
       st.booleans())
def test_jsonl_round_trip(tmp_path, messages, ascii_only):
    path = tmp_path / "chat.jsonl"
    lines = [json.dumps({"chat": "研发群", "time": time.astimezone(offset).isoformat(), "sender": sender,
                         "sender_name": name, "text": text}, ensure_ascii=ascii_only)
             for time, offset, sender, name, text in messages]
    result = read_mutant(jsonl.READER, path, "\n".join(lines).encode("utf-8"))
    assert result is not None
    read, issues = result
    assert issues == []
    # the sender name falls back to the sender id when blank (documented in the reader)
    assert [(m.time, m.sender, m.sender_name, m.text) for m in read] == [
        (time, sender, name or sender, text) for time, _, sender, name, text in messages]


# -- every other reader (issue 18): one round trip each ------------------------------------------------------
# Fewer examples than the two above: seventeen more formats share the file's ~40 s budget.
FORMAT_SETTINGS = settings(max_examples=150, deadline=None, database=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture])

digit_ids = st.integers(10_000, 99_999_999_999).map(str)
# epoch readers are told UTC instants: edge stamps include the first and last second of a year
edge_stamps = st.one_of(stamps, st.sampled_from([datetime(2020, 1, 1, 0, 0, 0, tzinfo=SHANGHAI),
                                                 datetime(2024, 12, 31, 23, 59, 59, tzinfo=SHANGHAI),
                                                 datetime(2024, 2, 29, 12, 0, 0, tzinfo=SHANGHAI)]))
# What a JSON string carries exactly: leading and trailing spaces, tabs, blank lines, ideographic and zero-width
# spaces, U+2028 and NEL (which str.splitlines would break at). Not blank: a blank text is a different record.
WILD_CHARS = st.one_of(CHAT_CHARS, st.sampled_from(list(" \t\n\u3000\u200b\u2028\x85\\/<>&")))
wild_bodies = st.text(WILD_CHARS, min_size=1, max_size=60).filter(str.strip)
chats = st.lists(st.tuples(edge_stamps, digit_ids, names, wild_bodies), min_size=1, max_size=8)


def _read(reader, path, data: bytes, names_map: dict[str, str] | None = None):
    """(messages, issues) of `data` read by `reader`, with an optional --names map; sniffing picks the same
    reader, so the file imports without --format."""
    from chendian.ingest import readers, sniff
    from chendian.ingest.base import ReadContext

    src = source(path, data)
    found = sniff(source(path, data), readers())
    assert found is reader, f"sniffed as {found and found.name}, not {reader.name}"
    ctx = ReadContext(src, SHANGHAI, names=names_map)
    return list(reader.read(src, ctx)), ctx.issues


def _rows(messages):
    return [(m.time, m.sender, m.sender_name, m.text) for m in messages]


def _epoch(time: datetime) -> int:
    return int(time.timestamp())


def _split(text: str, cuts: list[int]) -> list[str]:
    """`text` cut at the given positions (how exporters split a text into entities or elements)."""
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in zip(points, points[1:]) if a < b]


@FORMAT_SETTINGS
@given(chats, st.lists(st.integers(0, 200), max_size=3), st.booleans(), st.booleans())
def test_telegram_json_round_trip(tmp_path, messages, cuts, as_entities, with_unixtime):
    from chendian.ingest import telegram

    out = []
    for i, (time, sender, name, body) in enumerate(messages):
        text = body
        if as_entities:  # Telegram writes formatted text as an array of strings and entity objects
            text = [piece if j % 2 == 0 else {"type": "bold", "text": piece}
                    for j, piece in enumerate(_split(body, cuts))]
        record = {"id": i + 1, "type": "message", "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "date_unixtime": str(_epoch(time)), "from": name, "from_id": f"user{sender}", "text": text,
                  "text_entities": []}
        if not with_unixtime:  # exports before tdesktop 3.x: the local date only, read in the ingest timezone
            del record["date_unixtime"]
        out.append(record)
    doc = {"name": "数据分析学习群", "type": "private_supergroup", "id": 1987654321, "messages": out}
    read, issues = _read(telegram.READER, tmp_path / "result.json",
                         json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
    assert issues == []
    # the sender is Telegram's from_id as written; entity arrays are joined into plain text
    assert _rows(read) == [(t, f"user{s}", n, b) for t, s, n, b in messages]


@FORMAT_SETTINGS
@given(st.lists(st.tuples(edge_stamps, st.integers(0, 9_999_999), offsets, digit_ids, names,
                          st.one_of(st.none(), names), wild_bodies), min_size=1, max_size=8))
def test_discord_round_trip(tmp_path, messages):
    from chendian.ingest import discord

    out = [{"id": str(1217000000000000000 + i), "type": "Default",
            # .NET writes seven fraction digits; the reader keeps six (microseconds)
            "timestamp": time.astimezone(offset).strftime("%Y-%m-%dT%H:%M:%S") + f".{ticks:07}"
                         + time.astimezone(offset).strftime("%z")[:3] + ":" + time.astimezone(offset).strftime("%z")[3:],
            "timestampEdited": None, "isPinned": False, "content": body,
            "author": {"id": sender, "name": name, "discriminator": "0000", "nickname": nickname, "isBot": False},
            "attachments": [], "embeds": [], "stickers": [], "reactions": [], "mentions": []}
           for i, (time, ticks, offset, sender, name, nickname, body) in enumerate(messages)]
    doc = {"guild": {"id": "1100200300400500600", "name": "数据工程交流"},
           "channel": {"id": "1100200300400500700", "type": "GuildTextChat", "name": "sql-求助"},
           "dateRange": {"after": None, "before": None}, "exportedAt": "2024-03-20T08:00:00.0000000+08:00",
           "messages": out, "messageCount": len(out)}
    read, issues = _read(discord.READER, tmp_path / "频道.json", json.dumps(doc, ensure_ascii=False, indent=2).encode())
    assert issues == []
    # the name shown is the server nickname, else the account name
    assert _rows(read) == [(time + timedelta(microseconds=ticks // 10), sender, nickname or name, body)
                           for time, ticks, _, sender, name, nickname, body in messages]


chatlab_messages = st.lists(st.tuples(edge_stamps, digit_ids, names, st.one_of(st.none(), names), wild_bodies),
                            min_size=1, max_size=8)


def _chatlab_record(i, time, sender, name, nickname, body) -> dict:
    record = {"platformMessageId": f"m{i}", "sender": sender, "accountName": name, "timestamp": _epoch(time),
              "type": 0, "content": body}
    if nickname is not None:
        record["groupNickname"] = nickname
    return record


@FORMAT_SETTINGS
@given(chatlab_messages, st.booleans())
def test_chatlab_round_trip(tmp_path, messages, as_jsonl):
    from chendian.ingest import chatlab

    header = {"chatlab": {"version": "0.0.2", "exportedAt": 1710300000},
              "meta": {"name": "前端技术交流群", "platform": "qq", "type": "group", "groupId": "612345678"}}
    records = [_chatlab_record(i, *m) for i, m in enumerate(messages)]
    if as_jsonl:
        lines = [json.dumps({"_type": "header", **header}, ensure_ascii=False), "# 成员与消息"]
        lines += [json.dumps({"_type": "message", **r}, ensure_ascii=False) for r in records]
        path, data = tmp_path / "chat.jsonl", "\n".join(lines) + "\n"
    else:
        path, data = tmp_path / "chat.json", json.dumps({**header, "members": [], "messages": records},
                                                        ensure_ascii=False, indent=2)
    read, issues = _read(chatlab.READER, path, data.encode("utf-8"))
    assert issues == []
    # the group nickname is the name shown, as in the chat itself
    assert _rows(read) == [(t, s, nick or n, b) for t, s, n, nick, b in messages]


@FORMAT_SETTINGS
@given(st.lists(st.tuples(edge_stamps, st.integers(0, 999), st.text("0123456789abcdef", min_size=8, max_size=12),
                          names, wild_bodies, st.booleans()), min_size=1, max_size=8))
def test_feishu_round_trip(tmp_path, messages):
    from chendian.ingest import feishu

    items, names_map = [], {}
    for i, (time, millis, open_id, name, body, as_post) in enumerate(messages):
        sender = f"ou_{open_id}"
        names_map.setdefault(sender, name)
        if as_post:  # a rich-text post: one paragraph per line, each line a text element
            content = {"title": "", "content": [[{"tag": "text", "text": line}] for line in body.split("\n")]}
            msg_type = "post"
        else:
            content, msg_type = {"text": body}, "text"
        created = str(_epoch(time) * 1000 + millis)
        items.append({"message_id": f"om_{i:032x}", "root_id": "", "parent_id": "", "thread_id": "",
                      "msg_type": msg_type, "create_time": created, "update_time": created, "deleted": False,
                      "updated": False, "chat_id": "oc_5ad11d72b830411d72b836c20",
                      "sender": {"id": sender, "id_type": "open_id", "sender_type": "user"},
                      "body": {"content": json.dumps(content, ensure_ascii=False)}, "mentions": []})
    page = {"code": 0, "msg": "success", "data": {"has_more": False, "page_token": "", "items": items}}
    read, issues = _read(feishu.READER, tmp_path / "oc_5ad11d72-page-1.json",
                         json.dumps(page, ensure_ascii=False, indent=1).encode(), names_map)
    assert issues == []
    # names come from --names (the API gives ids only); create_time is epoch milliseconds; a post's text is
    # its paragraphs, one a line, trimmed as a whole
    assert _rows(read) == [(time + timedelta(milliseconds=millis), f"ou_{open_id}", names_map[f"ou_{open_id}"],
                            body.strip() if as_post else body)
                           for time, millis, open_id, _, body, as_post in messages]


@FORMAT_SETTINGS
@given(st.lists(st.tuples(edge_stamps, digit_ids, names, st.one_of(st.none(), names), wild_bodies), min_size=1,
                max_size=8),
       st.lists(st.integers(0, 200), max_size=3), st.one_of(st.none(), st.integers(1, 4)))
def test_qqchatexporter_round_trip(tmp_path, messages, cuts, chunk_size):
    from chendian.ingest import qqchatexporter

    out = []
    for i, (time, uin, name, card, body) in enumerate(messages):
        out.append({"id": str(7345000000000000000 + i), "seq": str(500 + i), "timestamp": _epoch(time) * 1000,
                    "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "sender": {"uid": f"u_{uin}x", "uin": uin, "name": name, "nickname": name,
                               "groupCard": card or "", "remark": ""},
                    "type": "text",
                    "content": {"text": body, "html": "",
                                "elements": [{"type": "text", "data": {"text": piece}} for piece in _split(body, cuts)],
                                "resources": [], "mentions": []},
                    "recalled": False, "system": False})
    head = {"metadata": {"name": "QQChatExporter V4", "copyright": "", "version": "4.6.0"},
            "chatInfo": {"name": "新员工成长营", "type": "group", "selfUid": "u_1x", "selfUin": "1",
                         "peerUid": "882233445", "peerUin": "882233445"},
            "statistics": {"totalMessages": len(out)}}
    if chunk_size is None:
        read, issues = _read(qqchatexporter.READER, tmp_path / "group-export.json",
                             json.dumps({**head, "messages": out}, ensure_ascii=False, indent=2).encode())
    else:  # chunked: manifest.json names the chat; chunks/c000001.jsonl … hold one message per line
        import shutil

        folder = tmp_path / "chunked"
        shutil.rmtree(folder, ignore_errors=True)  # tmp_path is shared by the examples
        (folder / "chunks").mkdir(parents=True)
        chunks = [out[i:i + chunk_size] for i in range(0, len(out), chunk_size)]
        (folder / "manifest.json").write_text(json.dumps({**head, "chunked": {
            "format": "jsonl", "chunksDir": "chunks", "chunkFileExt": ".jsonl", "maxMessagesPerChunk": chunk_size,
            "chunks": [{"index": k + 1, "fileName": f"c{k + 1:06}.jsonl", "count": len(c)}
                       for k, c in enumerate(chunks)]}}, ensure_ascii=False, indent=2), encoding="utf-8")
        read, issues = [], []
        for k, chunk in enumerate(chunks):
            data = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in chunk).encode()
            chunk_read, chunk_issues = _read(qqchatexporter.READER, folder / "chunks" / f"c{k + 1:06}.jsonl", data)
            read += chunk_read
            issues += chunk_issues
    assert issues == []
    assert {(m.chat_name) for m in read} == {"新员工成长营"}
    # the group card is the name shown, else the account name; the sender is the QQ number
    assert _rows(read) == [(t, uin, card or n, b) for t, uin, n, card, b in messages]


def _slack_escape(text: str) -> str:
    # Slack escapes exactly these three in message text (its "formatting" documentation)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


slack_texts = st.lists(st.text(st.one_of(CHAT_CHARS, st.sampled_from(list("<>&;"))), min_size=1, max_size=30)
                       .map(str.strip).filter(bool), min_size=1, max_size=4).map("\n".join)


@FORMAT_SETTINGS
@given(st.lists(st.tuples(edge_stamps, st.integers(0, 999_999), st.integers(0, 3), slack_texts), min_size=1,
                max_size=8),
       st.lists(st.tuples(names, st.one_of(st.just(""), names)), min_size=4, max_size=4), st.booleans())
def test_slack_round_trip(tmp_path, messages, people, extracted):
    import io
    import zipfile

    from chendian.ingest import slack

    users = [{"id": f"U0{i}ABC", "team_id": "T01", "name": f"user{i}", "real_name": real,
              "profile": {"real_name": real, "display_name": display}, "is_bot": False}
             for i, (real, display) in enumerate(people)]
    days: dict[str, list] = {}
    for time, micros, who, text in sorted(messages, key=lambda m: m[0]):
        days.setdefault(time.strftime("%Y-%m-%d"), []).append(
            {"type": "message", "user": f"U0{who}ABC", "text": _slack_escape(text), "ts": f"{_epoch(time)}.{micros:06}"})
    files = {"channels.json": json.dumps([{"id": "C01", "name": "onboarding-qa"}]),
             "users.json": json.dumps(users, ensure_ascii=False, indent=1)}
    files.update({f"onboarding-qa/{day}.json": json.dumps(day_messages, ensure_ascii=False, indent=1)
                  for day, day_messages in days.items()})
    if extracted:  # an unzipped export: each day file is read on its own, users.json one folder up
        import shutil

        folder = tmp_path / "export"
        shutil.rmtree(folder, ignore_errors=True)  # tmp_path is shared by the examples
        (folder / "onboarding-qa").mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        read, issues = [], []
        for day in days:
            path = folder / "onboarding-qa" / f"{day}.json"
            day_read, day_issues = _read(slack.READER, path, path.read_bytes())
            read += day_read
            issues += day_issues
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, text in files.items():
                archive.writestr(name, text)
        read, issues = _read(slack.READER, tmp_path / "export.zip", buffer.getvalue())
    assert issues == []
    assert {m.chat for m in read} == {"onboarding-qa"}
    # ts is epoch seconds with a six-digit sequence; names: display name, else real name; text unescaped
    expected = [(time + timedelta(microseconds=micros), f"U0{who}ABC", people[who][1] or people[who][0], text)
                for time, micros, who, text in sorted(messages, key=lambda m: m[0])]
    assert [(m.time, m.sender, m.sender_name, m.text) for m in read] == expected


def _not_header(*patterns):
    """Body lines the format cannot tell from a header are the format's ambiguity, not a reader's bug."""
    return lambda line: not any(p.match(line) for p in patterns)


def _trim_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _bodies_for(*patterns):
    """Multi-line bodies as people write them: paragraphs with blank lines between, indented (code) lines;
    the blank lines around a body separate messages, so a body starts and ends with text."""
    line = st.one_of(_line(), _line().map(lambda s: "    " + s), st.just(""))
    return (st.lists(line.filter(_not_header(*patterns)), min_size=1, max_size=6).map(_trim_blank).filter(bool)
            .map("\n".join))


def _twelve_hour(time: datetime) -> tuple[int, bool]:
    return (time.hour % 12 or 12), time.hour >= 12


COPYPASTE_LAYOUTS = ("en-US", "zh-CN", "iso", "slashes")


def _copypaste_stamp(time: datetime, layout: str) -> tuple[str, datetime]:
    """The header's time as each OS locale writes it, and what it means (minute layouts drop the seconds)."""
    hour, pm = _twelve_hour(time)
    minute = time.replace(second=0)
    if layout == "en-US":
        return f"{time.year}/{time.month:02}/{time.day:02} {hour}:{time.minute:02} {'PM' if pm else 'AM'}", minute
    if layout == "zh-CN":
        return f"{time.year}年{time.month}月{time.day}日 {'下午' if pm else '上午'}{hour}:{time.minute:02}", minute
    if layout == "iso":
        return time.strftime("%Y-%m-%d %H:%M:%S"), time
    return f"{time.year}/{time.month}/{time.day} {time.hour}:{time.minute:02}", minute


@FORMAT_SETTINGS
@given(st.lists(st.tuples(stamps, names,
                          _bodies_for(wechat_copypaste.HEADER_RE, wechat_copypaste.PARTIAL_RE)), min_size=1, max_size=8),
       st.sampled_from(COPYPASTE_LAYOUTS), st.booleans())
def test_wechat_copypaste_round_trip(tmp_path, messages, layout, crlf):
    out, expected = [], []
    for time, name, body in messages:
        stamp, meant = _copypaste_stamp(time, layout)
        out += [f"{name} {stamp}", body, ""]
        expected.append((meant, f"name:{name}", name, body))
    text = ("\r\n" if crlf else "\n").join(out)
    path = tmp_path / "报销答疑.txt"
    read, issues = _read(wechat_copypaste.READER, path, text.encode("utf-8"))
    assert issues == []
    assert _rows(read) == expected
    assert account_lines("wechat-copypaste", source(path, text.encode()).text, read, issues).unaccounted == []


def _memotrace_name(name: str) -> str:
    # MemoTrace writes names through HTML/JS escaping (documented in wechat_common.unescape_name)
    return name.replace("&", "&amp;").replace("'", "\\'")


@FORMAT_SETTINGS
@given(st.lists(st.tuples(stamps, names, _bodies_for(memotrace_txt.HEADER_RE, memotrace_txt.PARTIAL_RE)
                          .filter(lambda b: not b.startswith(("[", "【")) and "引用" not in b)),
                min_size=1, max_size=8))
def test_memotrace_txt_round_trip(tmp_path, messages):
    out = []
    for time, name, body in messages:
        out += [f"{time:%Y-%m-%d %H:%M:%S} {_memotrace_name(name)}", body, ""]
    data = "\n".join(out).encode("utf-8")
    path = tmp_path / "Kafka学习群.txt"
    read, issues = _read(memotrace_txt.READER, path, data)
    assert issues == []
    assert _rows(read) == [(t, f"name:{n}", n, b) for t, n, b in messages]
    assert account_lines("memotrace-txt", source(path, data).text, read, issues).unaccounted == []


@FORMAT_SETTINGS
@given(st.lists(st.tuples(stamps, names.filter(lambda n: n not in wechatexporter.SYSTEM_NAMES),
                          _bodies_for(wechatexporter.LINE_RE, wechatexporter.PARTIAL_RE)
                          .filter(lambda b: "撤回了一条消息" not in b)), min_size=1, max_size=8))
def test_wechatexporter_round_trip(tmp_path, messages):
    # one line per message, continuation lines after it, no blank line between messages; hours not padded
    out = ["前端技术学习群 - 微信聊天记录"]
    for time, name, body in messages:
        first, *rest = body.split("\n")
        out += [f"{name} ({time:%Y-%m-%d} {time.hour}:{time:%M:%S}):{first}", *rest]
    data = "\n".join(out).encode("utf-8")
    path = tmp_path / "wxid_lin2023" / "48829301245@chatroom" / "index.txt"
    read, issues = _read(wechatexporter.READER, path, data)
    assert issues == []
    assert _rows(read) == [(t, f"name:{n}", n, b) for t, n, b in messages]
    assert {m.chat for m in read} == {"48829301245@chatroom"}
    assert account_lines("wechatexporter", source(path, data).text, read, issues).unaccounted == []


weflow_names = names.filter(lambda n: n not in ("系统消息", "系统"))


@FORMAT_SETTINGS
@given(st.lists(st.tuples(edge_stamps, st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=4, max_size=16),
                          weflow_names, _bodies_for(weflow.TXT_HEADER_RE, weflow.TXT_PARTIAL_RE)
                          .filter(lambda b: "撤回了一条消息" not in b)), min_size=1, max_size=8),
       st.booleans(), st.data())
def test_weflow_round_trip(tmp_path, messages, as_json, data_):
    if as_json:  # JSON carries any text exactly
        messages = [(t, w, n, data_.draw(wild_bodies)) for t, w, n, _ in messages]
        records = [{"localId": i + 1, "createTime": _epoch(time), "formattedTime": f"{time:%Y-%m-%d %H:%M:%S}",
                    "type": "文本消息", "localType": 1, "content": body, "isSend": 0,
                    "senderUsername": f"wxid_{wxid}", "senderDisplayName": name, "source": ""}
                   for i, (time, wxid, name, body) in enumerate(messages)]
        doc = {"weflow": {"version": "1.4.2", "exportedAt": "2025-03-11T08:00:00+08:00"},
               "session": {"wxid": "20964316718@chatroom", "nickname": "前端技术学习群", "displayName": "前端技术学习群",
                           "type": "群聊", "messageCount": len(records)},
               "messages": records}
        path, data = tmp_path / "前端技术学习群.json", json.dumps(doc, ensure_ascii=False, indent=2)
        expected = [(t, f"wxid_{w}", n, b) for t, w, n, b in messages]
    else:  # TXT names the sender in quotes and has no ids
        out = []
        for time, _, name, body in messages:
            out += [f"{time:%Y-%m-%d %H:%M:%S} '{name}'", body, ""]
        path, data = tmp_path / "前端技术学习群.txt", "\n".join(out)
        expected = [(t, f"name:{n}", n, b) for t, _, n, b in messages]
    read, issues = _read(weflow.READER, path, data.encode("utf-8"))
    assert issues == []
    assert _rows(read) == expected
    if not as_json:
        assert account_lines("weflow", source(path, data.encode()).text, read, issues).unaccounted == []


@FORMAT_SETTINGS
@given(st.lists(st.tuples(stamps, st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=4, max_size=16),
                          names, _bodies_for(chatlog.HEADER_RE).filter(lambda b: not b.startswith((">", "[", "!")))),
                min_size=1, max_size=8),
       st.sampled_from(["json", "csv", "text-day", "text-year", "text-full"]), st.data())
def test_chatlog_round_trip(tmp_path, messages, layout, data_):
    import csv
    import io

    room, room_id = "云原生学习交流群", "47506612649@chatroom"
    day = messages[0][0]
    if layout == "text-day":  # a one-day query prints times only: the file is named after its date
        messages = [(t.replace(year=day.year, month=day.month, day=day.day), *rest) for t, *rest in messages]
    elif layout == "text-year":  # a one-year query prints month-day and time: the file is named after its year
        messages = [(t.replace(year=day.year) if (t.month, t.day) != (2, 29) else t.replace(year=day.year, day=28),
                     *rest) for t, *rest in messages]
    if layout == "json":  # JSON carries any text exactly
        messages = [(t, w, n, data_.draw(wild_bodies)) for t, w, n, _ in messages]
        records = [{"seq": _epoch(t) * 1000 + i, "time": t.isoformat(), "talker": room_id, "talkerName": room,
                    "isChatRoom": True, "sender": f"wxid_{w}", "senderName": n, "isSelf": False, "type": 1,
                    "subType": 0, "content": b} for i, (t, w, n, b) in enumerate(messages)]
        data = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n"
        path = tmp_path / "chatlog_all.json"
    elif layout == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")  # Go's encoding/csv: quotes only where needed, LF
        writer.writerow(chatlog.CSV_COLUMNS)
        for t, w, n, b in messages:
            writer.writerow([f"{t:%Y-%m-%d %H:%M:%S}", n, f"wxid_{w}", room, room_id, b])
        data, path = buffer.getvalue(), tmp_path / "chatlog_all.csv"
    else:
        stamp = {"text-day": "%H:%M:%S", "text-year": "%m-%d %H:%M:%S", "text-full": "%Y-%m-%d %H:%M:%S"}[layout]
        out = []
        for t, w, n, b in messages:
            out += [f"{n}(wxid_{w}) [{room}({room_id})] {t.strftime(stamp)}", b, ""]
        data = "\n".join(out)
        path = tmp_path / {"text-day": f"chatlog_{day:%Y-%m-%d}.txt", "text-year": f"chatlog_{day:%Y}.txt",
                           "text-full": "chatlog_all.txt"}[layout]
    read, issues = _read(chatlog.READER, path, data.encode("utf-8"))
    assert issues == []
    assert _rows(read) == [(t, f"wxid_{w}", n, b) for t, w, n, b in messages]
    assert {m.chat for m in read} == {room_id}
    if layout.startswith("text"):
        assert account_lines("chatlog", source(path, data.encode()).text, read, issues).unaccounted == []


wxids = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=4, max_size=16).map(lambda s: f"wxid_{s}")
# CSV cells carry any text but a CR (folded with CRLF, documented in SourceFile.text): commas and quotes, which
# CSV must quote, blank lines and the wild characters; a cell starting with `<` is XML and `[` a placeholder.
csv_bodies = wild_bodies.filter(lambda b: not b.lstrip().startswith(("[", "【", "<")))


def _csv(rows, lineterminator: str) -> str:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=lineterminator).writerows(rows)
    return buffer.getvalue()


@FORMAT_SETTINGS
@given(st.lists(st.tuples(stamps, st.integers(0, 5), csv_bodies), min_size=1, max_size=8),
       st.lists(st.tuples(wxids, names, st.one_of(st.just(""), names)), min_size=6, max_size=6,
                unique_by=lambda p: p[0]),
       st.booleans(), st.booleans())
def test_pywxdump_round_trip(tmp_path, messages, people, old_layout, epoch_times):
    (tmp_path / "users.json").write_text(json.dumps(
        {wxid: {"nickname": nick, "remark": remark, "account": "", "describe": "", "headImgUrl": ""}
         for wxid, nick, remark in people}, ensure_ascii=False, indent=1), encoding="utf-8")
    header = ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name"]
    header += ["content", "CreateTime"] if old_layout else ["msg", "src", "CreateTime"]
    rows = [header]
    for i, (time, who, body) in enumerate(messages):
        when = str(_epoch(time)) if epoch_times else f"{time:%Y-%m-%d %H:%M:%S}"
        cells = [str(i + 1), str(6913824400181752300 + i), "文本", "0", people[who][0], "48829301245@chatroom"]
        cells += [json.dumps({"src": "", "msg": body}, ensure_ascii=False), when] if old_layout else [body, "", when]
        rows.append(cells)
    data = _csv(rows, "\r\n").encode("utf-8")  # Python's csv module: CRLF rows, quotes only where needed
    read, issues = _read(pywxdump.READER, tmp_path / "48829301245@chatroom_0_5000.csv", data)
    assert issues == []
    # names come from users.json beside the pages: the remark, else the nickname
    assert _rows(read) == [(t, people[w][0], people[w][2] or people[w][1], b) for t, w, b in messages]


@FORMAT_SETTINGS
@given(st.lists(st.tuples(edge_stamps, wxids, names, st.one_of(st.just(""), names), csv_bodies), min_size=1,
                max_size=8),
       st.booleans())
def test_memotrace_csv_round_trip(tmp_path, messages, v2):
    if v2:
        rows = [["消息ID", "类型", "发送人", "时间", "内容", "备注", "昵称", "更多信息"]]
        rows += [[str(8841001 + i), "文本", _memotrace_name(remark or nick), f"{t:%Y-%m-%d %H:%M:%S}", body,
                  _memotrace_name(remark), _memotrace_name(nick), ""]
                 for i, (t, _, nick, remark, body) in enumerate(messages)]
        # v2 has no wxid: the sender is the nickname (it changes less than the remark), the name shown the remark
        expected = [(t, f"name:{nick}", remark or nick, body) for t, _, nick, remark, body in messages]
    else:
        rows = [["localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status", "StrContent", "StrTime",
                 "Remark", "NickName", "Sender"]]
        rows += [[str(101 + i), "217", "1", "0", "0", str(_epoch(t)), "2", body, f"{t:%Y-%m-%d %H:%M:%S}",
                  _memotrace_name(remark), _memotrace_name(nick), wxid]
                 for i, (t, wxid, nick, remark, body) in enumerate(messages)]
        expected = [(t, wxid, remark or nick, body) for t, wxid, nick, remark, body in messages]
    data = ("\ufeff" + _csv(rows, "\r\n")).encode("utf-8")  # UTF-8 with BOM, for Excel
    read, issues = _read(memotrace.READER, tmp_path / "数据平台学习群_utf8.csv", data)
    assert issues == []
    assert _rows(read) == expected
    assert {m.chat for m in read} == {"数据平台学习群"}


userids = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=3, max_size=12)


@FORMAT_SETTINGS
@given(st.lists(st.tuples(edge_stamps, st.integers(0, 999), st.integers(0, 3), wild_bodies), min_size=1, max_size=8),
       st.lists(st.tuples(userids, names), min_size=4, max_size=4, unique_by=lambda p: p[0]),
       st.sampled_from(["jsonl", "array", "flattened"]))
def test_wecom_round_trip(tmp_path, messages, people, layout):
    room = "wrOgQhDgAAx1Yq5kZ3uS7mP2b9dXyQ"
    everyone = [p[0] for p in people]
    records = []
    for i, (time, millis, who, body) in enumerate(messages):
        sender = people[who][0]
        msgtime = _epoch(time) * 1000 + millis
        record = {"msgid": f"{1700000000000000001 + i}_{_epoch(time)}", "action": "send", "from": sender,
                  "tolist": [p for p in everyone if p != sender], "roomid": room, "msgtime": msgtime,
                  "msgtype": "text", "text": {"content": body}}
        if layout == "flattened":  # resellers: tolist and msgtime as strings, the body as a JSON string
            record.update(seq=1001 + i, tolist=",".join(record["tolist"]), msgtime=str(msgtime),
                          text=json.dumps({"content": body}, ensure_ascii=False), image=None, file=None)
        records.append(record)
    if layout == "jsonl":
        data, path = "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", tmp_path / "archive.jsonl"
    else:
        data, path = json.dumps(records, ensure_ascii=False, indent=1), tmp_path / "archive.json"
    names_map = {**dict(people), room: "新人答疑群"}  # the archive has ids only: names come from --names
    read, issues = _read(wecom.READER, path, data.encode("utf-8"), names_map)
    assert issues == []
    assert _rows(read) == [(time + timedelta(milliseconds=millis), people[who][0], people[who][1], body)
                           for time, millis, who, body in messages]
    assert {m.chat_name for m in read} == {"新人答疑群"}


# Telegram HTML bodies: the alphabet with what HTML must escape, and runs of spaces a browser collapses
html_lines = st.text(st.one_of(CHAT_CHARS, st.sampled_from(list("<>&;  "))), min_size=1, max_size=30) \
    .map(str.strip).filter(bool)
html_bodies = st.lists(st.one_of(html_lines, st.just("")), min_size=1, max_size=6).map(_trim_blank).filter(bool) \
    .map("\n".join)


def _collapsed(text: str) -> str:
    # tdesktop's HTML is read as a browser shows it: whitespace runs are one space, lines trimmed
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


def _telegram_html(chat_name: str, messages, page_sizes: list[int]) -> list[str]:
    """The export's pages (messages.html, messages2.html, …) holding `page_sizes` messages each, the rest last."""
    import html

    out = ['<!DOCTYPE html>', '<html>', ' <head>', '  <meta charset="utf-8"/>', '<title>Exported Data</title>',
           ' </head>', ' <body onload="CheckLocation();">', '  <div class="page_wrap">',
           '   <div class="page_header">', '    <div class="content">', '     <div class="text bold">',
           html.escape(chat_name), '     </div>', '    </div>', '   </div>',
           '   <div class="page_body chat_page">', '    <div class="history">']
    pages, opening = [], list(out)
    starts = {sum(page_sizes[:k]) for k in range(1, len(page_sizes) + 1)} - {0}
    previous, day, separator = None, None, -1
    for i, (time, offset, name, body) in enumerate(messages):
        if i in starts:  # a new page; a message there is still joined to its sender on the page before
            pages.append(out + ['    </div>', '   </div>', '  </div>', ' </body>', '</html>'])
            out = list(opening)
        local = time.astimezone(offset)
        if local.date() != day:  # tdesktop's date separator: a service message with a negative id
            day = local.date()
            out += [f'     <div class="message service" id="message{separator}">', '      <div class="body details">',
                    f"{local.day} {local:%B %Y}", '      </div>', '     </div>']
            separator -= 1
        joined = name == previous  # the same sender again: no from_name, class joined
        out += [f'     <div class="message default clearfix{" joined" if joined else ""}" id="message{101 + i}">']
        if not joined:
            out += ['      <div class="pull_left userpic_wrap">', '       <div class="userpic userpic3">',
                    '        <div class="initials">', html.escape(name[:1]), '        </div>', '       </div>',
                    '      </div>']
        sign = "+" if offset.utcoffset(None) >= timedelta(0) else "-"
        minutes = abs(int(offset.utcoffset(None).total_seconds())) // 60
        out += ['      <div class="body">',
                f'       <div class="pull_right date details" title="{local:%d.%m.%Y %H:%M:%S} UTC{sign}'
                f'{minutes // 60:02}:{minutes % 60:02}">', f"{local:%H:%M}", '       </div>']
        if not joined:
            out += ['       <div class="from_name">', f"{html.escape(name)} ", '       </div>']
        out += ['       <div class="text">', "<br>".join(html.escape(line) for line in body.split("\n")),
                '       </div>', '      </div>', '     </div>']
        previous = name
    pages.append(out + ['    </div>', '   </div>', '  </div>', ' </body>', '</html>'])
    return ["\n\n".join(page) for page in pages]  # tdesktop puts blank lines between its tags


@FORMAT_SETTINGS
@given(st.lists(st.tuples(edge_stamps, offsets, st.integers(0, 3), html_bodies), min_size=1, max_size=8),
       st.lists(names, min_size=4, max_size=4), st.lists(st.integers(1, 4), max_size=3))
def test_telegram_html_round_trip(tmp_path, messages, people, page_sizes):
    from chendian.ingest import telegram_html

    rows = [(time, offset, people[who], body) for time, offset, who, body in messages]
    import shutil

    folder = tmp_path / "ChatExport_2024-03-12"
    shutil.rmtree(folder, ignore_errors=True)  # tmp_path is shared by the examples
    folder.mkdir()
    pages = _telegram_html("数据分析学习群", rows, page_sizes)
    for number, page in enumerate(pages, 1):
        (folder / telegram_html.page_name(number)).write_text(page, encoding="utf-8")
    read, issues = [], []
    for number, page in enumerate(pages, 1):  # each page on its own, as a folder import reads them
        page_read, page_issues = _read(telegram_html.READER, folder / telegram_html.page_name(number),
                                       page.encode("utf-8"))
        read += page_read
        issues += page_issues
    assert issues == []
    # no ids in the HTML: the sender is the name as a browser shows it
    assert _rows(read) == [(time, f"name:{_collapsed(name)}", _collapsed(name), _collapsed(body))
                           for time, _, name, body in rows]
    assert [m.platform_id for m in read] == [str(101 + i) for i in range(len(rows))]


def _qq_mht(messages, transfer: str) -> bytes:
    """A QQ 消息管理器 web export: a MIME multipart/related file whose HTML part holds the message table."""
    import base64
    import html
    import quopri

    rows = ['<html xmlns="http://www.w3.org/1999/xhtml"><head><meta http-equiv="Content-Type" content="text/html; '
            'charset=utf-8" /><title>QQ Message</title></head><body><table width=100% cellspacing=0>',
            "<tr><td><div style=padding-left:10px;><br><b>消息记录（此消息记录为网页格式，不支持重新导入）</b><br>"
            "消息分组:我的QQ群<br>消息对象:产品运营学习交流群<br><br></div></td></tr>",
            "<tr><td><div style=padding-left:10px;>&nbsp;</div></td></tr>"]
    day = None
    for time, name, number, body in messages:
        if time.date() != day:
            day = time.date()
            rows.append("<tr><td style=border-bottom-width:1px;border-bottom-color:#8EC3EB;border-bottom-style:solid;"
                        f"color:#3568BB;font-weight:bold;height:24px;line-height:24px;padding-left:10px;"
                        f"margin-bottom:5px;>日期: {day:%Y-%m-%d}</td></tr>")
        font = "<font style=\"font-size:9pt;font-family:'宋体','MS Sans Serif',sans-serif;\" color='000000'>"
        lines = "<br>".join(f"{font}{html.escape(line)}</font>" for line in body.split("\n"))
        rows.append(f"<tr><td><div style=color:#006EFE;padding-left:10px;><div style=float:left;margin-right:6px;>"
                    f"{html.escape(name)}({number})</div>{time.hour}:{time:%M:%S}</div>"
                    f"<div style=padding-left:20px;>{lines}</div></td></tr>")
    page = "\r\n".join(rows + ["</table></body></html>"]).encode("utf-8")
    if transfer == "base64":
        encoded = base64.encodebytes(page).replace(b"\n", b"\r\n")
    else:
        encoded = quopri.encodestring(page).replace(b"\n", b"\r\n")
    boundary = "----=_NextPart_20160720101717_----"
    head = ("MIME-Version: 1.0\r\nContent-Type:multipart/related;charset=\"utf-8\";type=\"text/html\";"
            f"boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type:text/html;charset=\"utf-8\"\r\n"
            f"Content-Transfer-Encoding:{transfer}\r\nContent-Location:file:///C:/4F3D9B96.htm\r\n\r\n")
    return head.encode() + encoded + f"\r\n--{boundary}--\r\n".encode()


@FORMAT_SETTINGS
@given(st.lists(st.tuples(stamps, qq_names, qq_numbers, _bodies_for()), min_size=1, max_size=8),
       st.sampled_from(["base64", "quoted-printable"]))
def test_qq_mht_round_trip(tmp_path, messages, transfer):
    from chendian.ingest import qq_mht

    messages = sorted(messages, key=lambda m: m[0])  # the page dates messages by the 日期 row above them
    read, issues = _read(qq_mht.READER, tmp_path / "产品运营学习交流群.mht", _qq_mht(messages, transfer))
    assert issues == []
    # the same records as the TXT export of the same group (qq_classic's sender ids and names)
    assert _rows(read) == [(time, str(number), name, body) for time, name, number, body in messages]
    assert {m.chat for m in read} == {"产品运营学习交流群"}
