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

from chendian.ingest import jsonl, qq_classic

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


# QQ nicknames: anything on one line but a leading 【title】 (the reader reads it as a group title, documented).
qq_names = _line().filter(lambda s: not s.startswith("【"))
qq_numbers = st.integers(10_000, 99_999_999_999).filter(lambda n: str(n) not in {"1000000", "80000000"})
# QQ bodies: one or more lines; the reader keeps a body as written, without the blank lines around it.
qq_bodies = st.lists(_line(), min_size=1, max_size=4).map("\n".join)


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
