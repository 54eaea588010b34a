"""WeChat export readers: golden files per fixture, sniffing, the real samples counted independently, CLI end to end,
and round trips of random messages through the text layouts."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chendian.cli import main
from chendian.ingest import ingest_paths, readers
from chendian.ingest.base import ReadContext, SourceFile, UnreadableFile

from conftest import FIXTURES, SHANGHAI, assert_golden, message_record, read_file

WECHAT = FIXTURES / "formats" / "wechat"
GOLDEN = WECHAT / "golden"
WECHAT_READERS = ("pywxdump", "memotrace", "memotrace-txt", "chatlog", "weflow", "wechatexporter", "wechat-copypaste")

CASES = [  # fixture, the reader that must claim it
    ("pywxdump/48829301245@chatroom_0_5000.csv", "pywxdump"),  # users.json names, quote, recall, link, truncated
    ("pywxdump/wxid_zhaoqing88_0_5000.csv", "pywxdump"),  # old layout, CRLF, talker 我, invalid JSON content
    ("pywxdump/excel_resaved_gbk_0_5000.csv", "pywxdump"),  # GBK, 2024/3/5 9:05
    ("memotrace/数据平台学习群_utf8.csv", "memotrace"),  # v1: BOM, XML cells, one sender under two names
    ("memotrace/Kafka学习群_v2.csv", "memotrace"),  # v2: BOM, CRLF, Chinese type names
    ("memotrace/数据平台学习群.txt", "memotrace-txt"),  # v1 TXT: link block, one-line system messages, &amp;
    ("memotrace/Kafka学习群.txt", "memotrace-txt"),  # v2 TXT: 【】, forwards, time-only headers, truncated
    ("chatlog/chatlog_2025-11-19.json", "chatlog"),  # refer, recordInfo, truncated array
    ("chatlog/chatlog_2025-11-19.csv", "chatlog"),
    ("chatlog/chatlog_2025-11-19.txt", "chatlog"),  # time-only layout, date from the file name
    ("weflow/前端技术学习群.json", "weflow"),
    ("weflow/echotrace_赵青.json", "weflow"),  # no weflow header, cut off mid-message
    ("weflow/前端技术学习群.txt", "weflow"),
    ("wechatexporter/wxid_lin2023/48829301245@chatroom/index.txt", "wechatexporter"),
    ("copypaste/报销答疑_en-US.txt", "wechat-copypaste"),  # 12 h AM/PM, CRLF, one sender under two names
    ("copypaste/培训群_zh-CN_gbk.txt", "wechat-copypaste"),  # GBK, 下午, non-padded hours, truncated
]


def _golden_name(rel: str) -> str:
    return rel.replace("/", "__").replace("@", "_") + ".json"


def _source(path: Path) -> SourceFile:
    folder = path.parent
    return SourceFile(name=str(path), data=path.read_bytes(),
                      siblings=lambda n: (folder / n).read_bytes() if (folder / n).is_file() else None)


# -- golden files ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel,reader", CASES, ids=[c[0] for c in CASES])
def test_fixture_golden(rel, reader):
    name, messages, issues = read_file(WECHAT / rel)
    assert name == reader
    assert_golden(GOLDEN / _golden_name(rel), {
        "reader": name,
        "messages": [message_record(m) for m in messages],
        "issues": [f"{Path(i.file).name}:{i.line}: {i.message}" for i in issues],
    })


@pytest.mark.parametrize("rel,reader", CASES, ids=[c[0] for c in CASES])
def test_only_its_own_reader_claims_it(rel, reader):
    src = _source(WECHAT / rel)
    claimed = [r.name for r in readers() if r.name != "jsonl" and r.sniff(src)]
    assert claimed == [reader]


def test_every_fixture_has_a_case():
    files = {str(p.relative_to(WECHAT)) for p in WECHAT.rglob("*") if p.is_file()
             and "golden" not in p.parts and p.name != "users.json"}
    assert files == {c[0] for c in CASES}


# -- behaviour the goldens only show: checked explicitly ------------------------------------------------

def test_pywxdump_names_quotes_recalls_and_bad_rows():
    _, messages, issues = read_file(WECHAT / CASES[0][0])
    by_text = {m.text: m for m in messages}
    question = by_text["请问大家，Hive 表分区太多导致查询很慢，一般怎么处理？"]
    assert (question.sender, question.sender_name) == ("wxid_zhaoqing88", "赵青-数据组")  # users.json remark
    assert question.chat == "48829301245@chatroom" and question.chat_name == "数据平台学习群"
    quote = next(m for m in messages if m.kind == "quote")
    assert quote.text == "明白了，我们是 date_format(dt) 套了一层"
    assert quote.quote.platform_id == "6913824400181752303" and quote.quote.sender_name == "王老师"
    answer = next(m for m in messages if m.platform_id == "6913824400181752303")
    assert answer.mentions == ["赵青-数据组"]
    recall = next(m for m in messages if m.kind == "recall")
    assert recall.text == "你撤回了一条消息" and recall.sender == "wxid_lin2023"
    link = next(m for m in messages if m.kind == "link")
    assert link.extra["url"] == "https://mp.weixin.qq.com/s/Xy12AbCdEf" and link.extra["title"] == "Hive 分区裁剪原理与实践"
    assert next(m for m in messages if m.kind == "voice").extra["seconds"] == 12
    assert [i.line for i in issues] == [21, 23, 24]  # hour 25, an extra column, the line cut off at the end
    assert "truncated" in issues[-1].message
    assert "9:25" not in str([i.message for i in issues])  # a non-padded hour is fine


def test_pywxdump_old_layout_self_and_bad_json():
    _, messages, issues = read_file(WECHAT / CASES[1][0])
    assert [m.sender for m in messages if m.text.startswith("先看")] == ["self"]
    assert [(i.line, "JSON" in i.message) for i in issues] == [(5, True)]
    assert all(m.time.utcoffset() == timedelta(hours=8) for m in messages)


def test_memotrace_v1_one_sender_under_several_names():
    _, messages, _ = read_file(WECHAT / CASES[3][0])
    zhao = [m for m in messages if m.sender == "wxid_zhaoqing88"]
    assert {m.sender_name for m in zhao} == {"赵青-数据组", "赵青"}
    recall = next(m for m in messages if m.kind == "recall")
    assert recall.extra["recalls"] == "5823301922771020399"
    pat = next(m for m in messages if m.kind == "pat")
    assert pat.text == '"孙悦HR" 拍了拍 "王老师"'  # wxids filled in from names the rows revealed
    forward = next(m for m in messages if m.kind == "forward")
    assert [r["name"] for r in forward.extra["forward"]] == ["王老师", "赵青"]


def test_chat_name_option_overrides():
    _, messages, _ = read_file(WECHAT / CASES[14][0], chat_name="报销答疑群")
    assert {m.chat_name for m in messages} == {"报销答疑群"}
    assert {m.chat for m in messages} == {"报销答疑_en-US"}


def test_times_without_offset_follow_the_configured_timezone():
    _, shanghai, _ = read_file(WECHAT / CASES[14][0])
    _, berlin, _ = read_file(WECHAT / CASES[14][0], tz=ZoneInfo("Europe/Berlin"))
    assert shanghai[0].time.isoformat() == "2024-03-04T09:01:00+08:00"
    assert berlin[0].time.isoformat() == "2024-03-04T09:01:00+01:00"
    # Epoch-based exports keep the instant whatever the timezone.
    _, a, _ = read_file(WECHAT / CASES[3][0])
    _, b, _ = read_file(WECHAT / CASES[3][0], tz=ZoneInfo("Europe/Berlin"))
    assert [m.time for m in a] == [m.time for m in b] and [m.id for m in a] == [m.id for m in b]


def test_chatlog_short_times_need_a_date_in_the_file_name(tmp_path):
    path = tmp_path / "export.txt"
    path.write_text("Enter(wxid_4030390300812) 10:35:00\n你好\n\n", encoding="utf-8")
    src = _source(path)
    reader = next(r for r in readers() if r.name == "chatlog")
    assert reader.sniff(src)
    with pytest.raises(UnreadableFile, match="name the file after its date"):
        list(reader.read(src, ReadContext(src, SHANGHAI)))


def test_not_this_format_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    src = _source(path)
    for name in ("pywxdump", "memotrace"):
        reader = next(r for r in readers() if r.name == name)
        assert not reader.sniff(src)
        with pytest.raises(UnreadableFile, match="expected a"):
            list(reader.read(src, ReadContext(src, SHANGHAI)))


def test_ingest_resolves_quotes_and_skips_users_json(workspace):
    report = ingest_paths(workspace, [WECHAT / "pywxdump"])
    by_file = {Path(f.file).name: f for f in report.files}
    assert by_file["users.json"].skipped.startswith("auxiliary")
    assert not report.failed
    rows = workspace.db.execute("SELECT text, reply_to FROM messages WHERE kind = 'quote' ORDER BY ts").fetchall()
    assert len(rows) == 3 and all(reply for _, reply in rows)
    quoted = dict(workspace.db.execute("SELECT id, text FROM messages").fetchall())
    assert [quoted[r] for _, r in rows] == ["可以试试 unaligned checkpoint",
                                            "@赵青-数据组\u2005先看分区裁剪有没有生效，where 里要直接用分区字段，别套函数",
                                            "在企业网盘「培训资料」目录下"]


def test_reimport_is_idempotent(workspace):
    first = ingest_paths(workspace, [WECHAT / "memotrace"])
    again = ingest_paths(workspace, [WECHAT / "memotrace"], force=True)
    # The v1 CSV and TXT are the same chat: the pat notice (same time, sender "system", text) is stored once.
    assert first.read > 0 and first.new == first.read - 1 and again.new == 0


# -- the real samples, counted independently --------------------------------------------------------------

def _pywxdump_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_real_pywxdump_every_row_is_a_message_or_an_issue(shared_data):
    samples = sorted((shared_data / "formats" / "pywxdump").glob("*.csv"))
    assert len(samples) == 3
    for path in samples:
        rows = _pywxdump_rows(path)
        name, messages, issues = read_file(path)
        assert name == "pywxdump"
        assert len(messages) + len([i for i in issues if "stored once" in i.message or "columns" in i.message
                                    or "JSON" in i.message or "Time" in i.message]) == len(rows), path.name
        # Duplicated MsgSvrIDs are reported, never silently merged.
        ids = [r["MsgSvrID"] for r in rows]
        assert len([i for i in issues if "MsgSvrID" in i.message]) == len(ids) - len(set(ids))
        # Recalls, quotes and types as the rows say.
        assert sum(m.kind == "recall" for m in messages) == sum("<revokemsg>" in (r.get("msg") or r.get("content") or "")
                                                              for r in rows)
        assert sum(m.kind == "quote" for m in messages) == sum(r["type_name"] == "引用回复" for r in rows)
        assert sum(m.kind == "image" for m in messages) == sum(r["type_name"] in ("图片", "动画表情") for r in rows)


def test_real_pywxdump_quote_and_recall(shared_data):
    path = shared_data / "formats" / "pywxdump" / "weclone_test_person_0_730.csv"
    _, messages, issues = read_file(path)
    assert issues == []
    quote = next(m for m in messages if m.kind == "quote")
    assert quote.text == "（我们两个人骑）"
    assert quote.quote.sender_name == "小虫" and quote.quote.text.startswith("我之前租的时候")
    quoted = next(m for m in messages if m.platform_id == quote.quote.platform_id)
    assert quoted.text == quote.quote.text and quoted.time <= quote.time
    assert [m.text for m in messages if m.kind == "recall"] == ["你撤回了一条消息"] * 2
    assert sum(m.kind == "other" for m in messages) == 1  # the empty text row
    # Old layout: talker 我 → self; PII sample: empty talker with is_sender=1 → self.
    _, old, _ = read_file(shared_data / "formats" / "pywxdump" / "weclone_example_chat_v2-content-json.csv")
    assert {m.sender for m in old} == {"self", "xinglaifaxianzhe"}
    _, pii, _ = read_file(shared_data / "formats" / "pywxdump" / "weclone_test_PII_0_730.csv")
    assert sum(m.sender == "self" for m in pii) == 30


def _copypaste_headers(text: str) -> int:
    return len(re.findall(r"^\S.* \d{4}/\d{2}/\d{2} \d{1,2}:\d{2} [AP]M$", text, re.M))


def test_real_copypaste(shared_data):
    path = shared_data / "formats" / "wechat-pc-copypaste" / "langchain_wechat_chats.txt"
    name, messages, issues = read_file(path)
    assert name == "wechat-copypaste" and issues == []
    assert len(messages) == _copypaste_headers(path.read_text(encoding="utf-8")) == 5
    assert messages[3].text == "今天只干成了一件像样的事\n那就是想你"
    assert messages[0].time.isoformat() == "2023-09-16T14:51:00+08:00"
    assert messages[-1].kind == "image" and messages[-1].extra["placeholder"] == "动画表情"


def _cli_count(tmp_path: Path, sample: Path) -> tuple[dict, str]:
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(ws)]).exit_code == 0
    result = runner.invoke(main, ["-w", str(ws), "ingest", str(sample)])
    assert result.exit_code == 0, result.output
    stats = runner.invoke(main, ["-w", str(ws), "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    return json.loads(stats.output), result.output


@pytest.mark.parametrize("sample", ["weclone_example_chat_v2-content-json.csv", "weclone_test_PII_0_730.csv",
                                    "weclone_test_person_0_730.csv"])
def test_cli_end_to_end_pywxdump(shared_data, tmp_path, sample):
    path = shared_data / "formats" / "pywxdump" / sample
    rows = _pywxdump_rows(path)
    # Rows repeating both MsgSvrID and text are one message (reported); everything else is stored.
    distinct = len({(r["MsgSvrID"], r.get("msg") or r.get("content")) for r in rows})
    stats, _ = _cli_count(tmp_path, path)
    assert stats["messages"] == distinct
    assert stats["recalled"] == 0  # the recalls here name no target
    assert stats["issues"] == len(rows) - distinct + (1 if sample.startswith("weclone_test_PII") else 0)


def test_cli_end_to_end_copypaste(shared_data, tmp_path):
    path = shared_data / "formats" / "wechat-pc-copypaste" / "langchain_wechat_chats.txt"
    stats, _ = _cli_count(tmp_path, path)
    assert stats["messages"] == _copypaste_headers(path.read_text(encoding="utf-8"))
    assert stats["chats"][0]["platform"] == "wechat" and stats["issues"] == 0


# -- round trips of random messages through the text layouts ---------------------------------------------

_name = st.text(alphabet=st.characters(whitelist_categories=("Lo", "Ll", "Lu", "Nd")), min_size=1, max_size=8)
_line = st.text(alphabet=st.characters(whitelist_categories=("Lo", "Ll", "Lu", "Nd", "Po"), blacklist_characters="[]【】@"),
                min_size=1, max_size=30)
_body = st.lists(_line, min_size=1, max_size=3).map("\n".join)
_messages = st.lists(st.tuples(_name, _body, st.integers(min_value=0, max_value=60 * 24 * 30)), min_size=1, max_size=8)
BASE = datetime(2024, 3, 4, 0, 0, tzinfo=SHANGHAI)


def _read_text(tmp_path: Path, filename: str, text: str, encoding: str = "utf-8"):
    path = tmp_path / filename
    path.write_bytes(text.encode(encoding))
    return read_file(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=_messages, twelve_hour=st.booleans(), crlf=st.booleans())
def test_copypaste_round_trip(tmp_path, messages, twelve_hour, crlf):
    blocks = []
    for name, body, minutes in messages:
        t = BASE + timedelta(minutes=minutes)
        stamp = (f"{t:%Y/%m/%d} {t.hour % 12 or 12}:{t:%M} {'AM' if t.hour < 12 else 'PM'}" if twelve_hour
                 else f"{t.year}/{t.month}/{t.day} {t.hour}:{t:%M}")
        blocks.append(f"{name} {stamp}\n{body}\n")
    text = "\n".join(blocks)
    reader, read, issues = _read_text(tmp_path, "chat.txt", text.replace("\n", "\r\n") if crlf else text)
    assert reader == "wechat-copypaste" and issues == []
    assert [(m.sender_name, m.text, m.time) for m in read] == [
        (n, b, BASE + timedelta(minutes=mi)) for n, b, mi in messages]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=_messages, v2=st.booleans(), gbk=st.booleans())
def test_memotrace_txt_round_trip(tmp_path, messages, v2, gbk):
    blocks = [f"{BASE + timedelta(minutes=mi):%Y-%m-%d %H:%M:%S} {n}\n{b}" for n, b, mi in messages]
    text = "\n\n".join(blocks) if v2 else "\n\n".join(blocks) + "\n\n"
    try:
        data = text.encode("gbk") if gbk else text.encode("utf-8")
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    path = tmp_path / "group.txt"
    path.write_bytes(data)
    reader, read, issues = read_file(path)
    assert reader == "memotrace-txt" and issues == []
    assert [(m.sender, m.text, m.time) for m in read] == [
        (f"name:{n}", b, BASE + timedelta(minutes=mi)) for n, b, mi in messages]


def test_csv_multiline_records_report_their_first_line():
    from chendian.ingest.wechat_common import csv_records

    text = 'a,b\n1,"x\ny\nz"\n2,3\n'
    assert [(first, last) for first, last, _ in csv_records(text)] == [(1, 1), (2, 4), (5, 5)]
