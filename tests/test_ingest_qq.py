"""QQ readers: classic message-manager TXT and QQChatExporter (QQNT) JSON / chunked JSONL."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chendian.ingest import ingest_paths
from chendian.ingest.base import ReadContext, SourceFile, UnreadableFile
from chendian.ingest.qq_classic import READER as QQ_TXT
from chendian.model import FILE, IMAGE, OTHER, RECALL, SYSTEM
from conftest import FIXTURES, SHANGHAI, assert_golden, message_record, read_file

QQ = FIXTURES / "formats" / "qq"


def _golden(path: Path, fmt: str, **kw) -> tuple[list, list]:
    name, messages, issues = read_file(path, **kw)
    assert name == fmt, f"{path.name} sniffed as {name}"
    records = {"messages": [message_record(m) for m in messages],
               "issues": [f"{Path(i.file).name}:{i.line}: {i.message}" for i in issues]}
    # Goldens live apart from the exports, so a folder import of the fixtures never sees them.
    assert_golden(QQ / "golden" / (path.relative_to(QQ).as_posix().replace("/", "__") + ".json"), records)
    return messages, issues


# -- classic TXT ------------------------------------------------------------------------------------

def test_learning_group_txt_golden():
    messages, issues = _golden(QQ / "learning-group.txt", "qq-txt")
    assert not issues
    by_line = {int(m.source.rsplit(":", 1)[1]): m for m in messages}
    kinds = [m.kind for m in messages]
    assert kinds.count(SYSTEM) == 2 and kinds.count(FILE) == 1 and kinds.count(RECALL) == 1
    assert {m.chat for m in messages} == {"产品运营学习交流群"}
    admin = next(m for m in messages if m.sender == "1234567890")
    assert admin.sender_name == "李娜" and admin.extra["title"] == "管理员"
    assert admin.mentions == ["王小敏"]
    # `(QQ号)` and `QQ号(QQ号)` are the same person, named by the number.
    assert {m.sender_name for m in messages if m.sender == "3344556677"} == {"3344556677"}
    assert any(m.sender == "zhaoqiang@example.com" and m.sender_name == "赵强" for m in messages)
    shared = next(m for m in messages if m.kind == FILE)
    assert shared.extra["name"] == "新员工入职手册v2.pdf" and shared.text == "[文件] 新员工入职手册v2.pdf"
    assert next(m for m in messages if "809" in m.text).text == "这个报错是什么意思？VPN连不上\n\n错误码 809"
    anon = next(m for m in messages if m.extra.get("anonymous"))
    assert anon.sender == "80000000:匿名小企鹅" and anon.sender_name == "匿名小企鹅"
    assert by_line[9].kind == SYSTEM and by_line[9].text == "王小敏加入本群"
    assert [m.kind for m in messages if m.text in ("[表情]", "[图片]")] == [IMAGE, IMAGE]
    assert next(m for m in messages if m.text == "[动作消息]").kind == OTHER


def test_gbk_english_windows_txt_golden():
    messages, issues = _golden(QQ / "gbk-english-windows.txt", "qq-txt")
    assert not issues
    assert [m.time.strftime("%Y-%m-%d %H:%M:%S") for m in messages[:3]] == [
        "2012-11-05 20:43:38", "2012-11-05 20:45:02", "2012-11-05 00:01:09"]
    # A whole-account export: one block per chat.
    assert [m.chat for m in messages] == ["Python学习群"] * 3 + ["数据分析交流群"] * 2
    assert messages[-1].kind == SYSTEM


def test_truncated_txt_reports_every_lost_line():
    messages, issues = _golden(QQ / "truncated.txt", "qq-txt")
    assert [m.text for m in messages] == ["今天的分享几点开始？", "下午两点，3楼大会议室"]
    assert [(i.line, "header" in i.message) for i in issues] == [(12, True), (18, True)]
    assert "truncated" in issues[-1].message


def test_truncated_mid_character_is_reported_not_misdecoded(tmp_path):
    data = (QQ / "learning-group.txt").read_bytes()
    cut = data[: data.index("事假".encode()) + 1]  # the file ends inside the 3 bytes of 事
    path = tmp_path / "cut.txt"
    path.write_bytes(cut)
    _, messages, issues = read_file(path)
    assert messages[0].text == "王小敏加入本群"  # still UTF-8, not GB18030 mojibake
    assert len(messages) == 16 and messages[-1].text == "试用期不能休年假，但可以请"
    assert [i.line for i in issues if "middle of a character" in i.message] == [59]


def test_not_qq_txt_fails_clearly():
    src = SourceFile(name="notes.txt", data="随便写的笔记\n没有消息头\n".encode())
    assert not QQ_TXT.sniff(src)
    with pytest.raises(UnreadableFile, match="expected the QQ title line"):
        list(QQ_TXT.read(src, ReadContext(src, SHANGHAI)))


def test_real_qq_txt_every_message_imported_or_reported(shared_data):
    path = shared_data / "formats" / "qq-classic-txt" / "qq-group-excerpt-pseudonymized.txt"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    # Independent count: CRLF-terminated lines that look like a message header.
    header = re.compile(r"^\d{4}-\d\d-\d\d \d{1,2}:\d\d:\d\d .*(\(\d+\)|<[^<>]+@[^<>]+>)$")
    expected = sum(1 for line in raw.decode("utf-8-sig").split("\r\n") if header.match(line))
    name, messages, issues = read_file(path)
    assert name == "qq-txt"
    assert len(messages) + len(issues) == expected == 220
    assert not issues
    kinds = {k: sum(1 for m in messages if m.kind == k) for k in {m.kind for m in messages}}
    assert kinds[SYSTEM] == 3 and kinds[FILE] == 5
    assert {m.chat for m in messages} == {"2015浙大软院研究生群"}
    # Every quirk listed in SOURCE.txt.
    assert messages[0].time.hour == 15 and any(m.time.hour == 0 for m in messages)  # "2016-07-20 0:00:37"
    assert any(m.sender == "member01@example.com" for m in messages)
    assert any(m.sender == "4080378921" and m.sender_name == "4080378921" for m in messages)  # "(QQ号)"
    assert any(m.sender == "4952859575" and m.sender_name == "4952859575" for m in messages)  # "QQ号(QQ号)"
    assert all(m.sender_name != "" for m in messages)
    assert sum(1 for m in messages if m.text.endswith("加入本群") and m.kind == SYSTEM) == 3
    assert any("\n" in m.text for m in messages)  # multi-line bodies (with lone CRs inside) stay one message
    assert any("成员10" in m.mentions for m in messages)
    assert any(m.extra.get("title") == "金融" and m.sender_name == "成员24" for m in messages)
    assert all(m.text == m.text.strip("\n") for m in messages)


def test_real_qq_txt_through_cli_agrees_with_independent_count(shared_data, tmp_path):
    from click.testing import CliRunner

    from chendian.cli import main

    path = shared_data / "formats" / "qq-classic-txt" / "qq-group-excerpt-pseudonymized.txt"
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    assert runner.invoke(main, ["init", ws]).exit_code == 0
    result = runner.invoke(main, ["-w", ws, "ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "220 messages read" in result.output
    stats = json.loads(runner.invoke(main, ["-w", ws, "stats", "--json"]).output)
    assert stats["messages"] == 220 and stats["issues"] == 0
    assert stats["kinds"]["system"] == 3 and stats["kinds"]["file"] == 5


# -- property: the TXT layout reads back what was written --------------------------------------------

_nick = st.text(alphabet=st.characters(whitelist_categories=("Lo", "Ll", "Lu", "Nd"), max_codepoint=0x9FFF),
                min_size=1, max_size=8)
_line = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\r\n\x85"),
                min_size=1, max_size=30).filter(lambda s: s.strip() and not s.lstrip().startswith(("=", "消息")))
# Bodies may hold blank lines inside (not at either end: the layout cannot tell those from the separator).
_body = st.lists(st.one_of(_line, st.just("")), min_size=1, max_size=5).filter(lambda b: b[0] and b[-1])
_message = st.tuples(_nick, st.integers(10001, 9_999_999_999), _body, st.booleans(), st.integers(0, 86_400 * 3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_message, min_size=1, max_size=8), st.booleans())
def test_txt_layout_round_trip(messages, twelve_hour):
    start = datetime(2023, 5, 1, tzinfo=SHANGHAI)
    out = ["消息记录（此消息记录为文本格式，不支持重新导入）", "", "=" * 64, "消息分组:我的QQ群", "=" * 64,
           "消息对象:测试群", "=" * 64, ""]
    expected = []
    for nick, qq, body, by_mail, offset in sorted(messages, key=lambda m: m[4]):
        t = start + timedelta(seconds=offset)
        if twelve_hour:
            stamp = f"{t:%Y-%m-%d} {t.hour % 12 or 12}:{t:%M:%S} {'PM' if t.hour >= 12 else 'AM'}"
        else:
            stamp = f"{t:%Y-%m-%d} {t.hour}:{t:%M:%S}"
        sender = f"{nick}<u{qq}@example.com>" if by_mail else f"{nick}({qq})"
        # A body line that itself looks like a header would start a new message: that is the format's rule.
        body = [b for b in body if not re.match(r"^\d{4}-", b)] or ["好的"]
        out += [f"{stamp} {sender}", *body, ""]
        expected.append((t, f"u{qq}@example.com" if by_mail else str(qq), nick, "\n".join(body)))
    src = SourceFile(name="prop.txt", data=("\ufeff" + "\r\n".join(out)).encode("utf-8"))
    assert QQ_TXT.sniff(src)
    ctx = ReadContext(src, SHANGHAI)
    got = list(QQ_TXT.read(src, ctx))
    assert not ctx.issues
    assert [(m.time, m.sender, m.sender_name, m.text.strip()) for m in got] == \
           [(t, s, n, b.strip()) for t, s, n, b in expected]


# -- QQChatExporter ---------------------------------------------------------------------------------

def test_qce_json_golden():
    messages, issues = _golden(QQ / "qce" / "group-export.json", "qqchatexporter")
    assert len(issues) == 1 and "messages[7]" in issues[0].message
    assert {m.chat for m in messages} == {"qq-group:882233445"}
    reply = next(m for m in messages if m.quote)
    assert reply.quote.platform_id == messages[1].platform_id and reply.text == "要带，装好 Office"
    assert messages[1].mentions == ["李娜-HR"]
    assert next(m for m in messages if m.kind == FILE).extra["name"] == "Excel培训讲义.pdf"
    assert [m.recalled for m in messages].count(True) == 1
    assert messages[-1].kind == SYSTEM


def test_qce_older_v4_fields_golden():
    messages, issues = _golden(QQ / "qce" / "v4-old-fields.json", "qqchatexporter")
    assert not issues
    assert [m.sender_name for m in messages] == ["王工-研发", "小李"]
    assert [m.platform_id for m in messages] == ["7200000000000000001", "7200000000000000002"]
    assert messages[1].recalled


def test_qce_chunked_jsonl_golden():
    first, issues1 = _golden(QQ / "qce" / "chunked" / "chunks" / "c000001.jsonl", "qqchatexporter")
    second, issues2 = _golden(QQ / "qce" / "chunked" / "chunks" / "c000002.jsonl", "qqchatexporter")
    assert not issues1 and [i.line for i in issues2] == [2]
    assert {m.chat_name for m in first + second} == {"新员工成长营"}  # from ../manifest.json
    # Chunks and the single-file export give the same ids.
    whole, _ = read_file(QQ / "qce" / "group-export.json")[1:]
    assert [m.id for m in first + second] == [m.id for m in whole[:3]]


def test_qce_chunked_folder_through_driver(workspace):
    report = ingest_paths(workspace, [QQ / "qce" / "chunked"])
    assert not report.failed
    assert [f.skipped for f in report.files if f.file.endswith("manifest.json")] == [
        "auxiliary file (read together with the export beside it)"]
    assert report.read == 3 and len(report.issues) == 1
    # The quote resolves across chunk files.
    row = workspace.db.execute("SELECT reply_to FROM messages WHERE kind = 'quote'").fetchone()
    assert row[0] is not None


# -- classic MHT (网页格式) ----------------------------------------------------------------------------

MHT = QQ / "mht"


def test_mht_gbk_quoted_printable_golden():
    messages, issues = _golden(MHT / "product-group-gbk-qp.mht", "qq-mht")
    assert not issues
    assert {m.chat for m in messages} == {"产品运营学习交流群"}
    assert [m.time.strftime("%Y-%m-%d %H:%M:%S") for m in messages[-3:]] == [
        "2023-03-07 20:43:38", "2023-03-07 20:45:02", "2023-03-07 21:01:10"]  # English Windows "8:43:38 PM"
    join = messages[0]
    assert (join.sender, join.sender_name, join.kind, join.text) == ("10000", "系统消息", SYSTEM, "王小敏加入本群")
    assert [m.kind for m in messages if m.kind == RECALL] == [RECALL]
    face, picture = messages[4], messages[5]
    assert (face.kind, face.text, picture.kind, picture.text) == (IMAGE, "[表情]", IMAGE, "[图片]")
    assert picture.extra["images"] == ["{8F0A3C12-5B7E-4D21-9A6C-2E4F1B3D7C90}.dat"]
    assert picture.sender == "zhaoqiang@example.com" and picture.sender_name == "赵强"
    assert messages[6].text == "这个报错是什么意思？VPN连不上\n\n错误码 809"  # <br><br> keeps the blank line
    assert messages[3].extra["title"] == "管理员" and messages[3].mentions == ["王小敏"]
    assert messages[10].text == "刚重启了网关，<5分钟>后再试 & 有问题私聊我"  # entities decoded
    assert "SSL VPN" in messages[8].text  # &nbsp; is a space


def test_mht_utf8_base64_golden():
    messages, issues = _golden(MHT / "frontend-group-utf8-base64.mht", "qq-mht")
    assert not issues
    assert {m.chat for m in messages} == {"前端技术交流群"}
    # The page shows nicknames only: senders are named like the TXT reader's number-less senders.
    assert messages[0].sender == "name:小鱼" and messages[5].sender == "20086"
    assert messages[1].text == "splitChunks 配一下 cacheGroups\nvendors 单独拆出来\n然后路由懒加载 import()"
    assert messages[2].kind == FILE and messages[2].extra["name"] == "webpack优化笔记.md"
    assert messages[3].text == "截图看一下\n[图片]"
    assert messages[4].kind == RECALL
    assert messages[5].time.strftime("%Y-%m-%d %H:%M:%S") == "2016-07-20 00:00:37"
    # A sender row whose body is in the next row is one message.
    assert (messages[6].sender_name, messages[6].text) == ("小鱼", "解决了，谢谢大家") and len(messages) == 7


def test_mht_bad_rows_are_reported_with_their_line():
    messages, issues = _golden(MHT / "bad-rows.mht", "qq-mht")
    assert [m.text for m in messages] == ["正常的消息", "最后一条"]
    assert messages[1].time.strftime("%H:%M") == "08:00"
    assert [i.line for i in issues] == [3, 6, 7, 8, 9]
    assert "日期: YYYY-MM-DD row before this message" in issues[0].message
    assert "expected a time like 15:27:15" in issues[1].message
    assert "neither" not in issues[2].message and "row skipped" in issues[2].message
    assert "line 8" in issues[4].message  # the message under the impossible date names that date row


def test_mht_and_txt_of_the_same_chat_agree():
    """The same messages exported as TXT and as MHT: same chat, senders, times, kinds, texts — and ids."""
    name_txt, txt, txt_issues = read_file(MHT / "product-group.txt")
    name_mht, mht, mht_issues = read_file(MHT / "product-group-gbk-qp.mht")
    assert (name_txt, name_mht) == ("qq-txt", "qq-mht") and not txt_issues and not mht_issues
    assert len(txt) == len(mht) == 12

    def fields(m):
        return m.chat, m.chat_name, m.sender, m.sender_name, m.time, m.kind, m.text, m.mentions, m.id

    assert [fields(m) for m in mht] == [fields(m) for m in txt]


def test_mht_and_txt_import_into_one_chat(workspace):
    report = ingest_paths(workspace, [MHT / "product-group.txt", MHT / "product-group-gbk-qp.mht"])
    assert not report.failed and [f.format for f in report.files] == ["qq-txt", "qq-mht"]
    assert [f.new for f in report.files] == [12, 0]  # the second rendering adds nothing
    assert workspace.db.execute("SELECT COUNT(DISTINCT chat) FROM messages").fetchone()[0] == 1


@pytest.mark.parametrize("cut_at, expected_messages, expected_line, what", [
    (lambda d: d.index(b"Mike") + 200, 10, 15, "ends inside this message"),  # mid-row, in the HTML part
    (lambda d: d.index(b"</tr>", d.index(b"Mike")) + 5, 10, 15, "without its closing MIME boundary"),
    (lambda d: d.index(b"image/gif") + 120, 12, 9, "that picture is not"),  # in the face's part; shown first on line 9
])
def test_mht_truncated_export_is_reported(tmp_path, cut_at, expected_messages, expected_line, what):
    data = (MHT / "product-group-gbk-qp.mht").read_bytes()
    path = tmp_path / "cut.mht"
    path.write_bytes(data[:cut_at(data)])
    name, messages, issues = read_file(path)
    assert name == "qq-mht" and len(messages) == expected_messages
    assert [(i.line, what in i.message) for i in issues] == [(expected_line, True)]


def test_mht_base64_cut_mid_character(tmp_path):
    data = (MHT / "frontend-group-utf8-base64.mht").read_bytes()
    path = tmp_path / "cut.mht"
    path.write_bytes(data[:2500])  # inside the base64 HTML part
    _, messages, issues = read_file(path)
    assert messages[0].text == "webpack 打包后 chunk 太大，有什么办法拆？"
    assert len(issues) == 1 and "truncated" in issues[0].message


def test_not_qq_mht_falls_through():
    from chendian.ingest import readers, sniff
    from chendian.ingest.qq_mht import READER as QQ_MHT

    ie_page = SourceFile(name="page.mht", data=(
        'MIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype="text/html";\r\n'
        '\tboundary="----=_NextPart_000_0000_01D2"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n'
        '------=_NextPart_000_0000_01D2\r\nContent-Type: text/html;\r\n\tcharset="utf-8"\r\n'
        'Content-Transfer-Encoding: 8bit\r\n\r\n<html><body><p>你好</p></body></html>\r\n'
        '------=_NextPart_000_0000_01D2--\r\n').encode())
    assert not QQ_MHT.sniff(ie_page) and sniff(ie_page, readers()) is None
    with pytest.raises(UnreadableFile, match="expected QQ's message table"):
        list(QQ_MHT.read(ie_page, ReadContext(ie_page, SHANGHAI)))
    txt = SourceFile(name="a.txt", data=(QQ / "learning-group.txt").read_bytes())
    assert not QQ_MHT.sniff(txt) and sniff(txt, readers()).name == "qq-txt"
    with pytest.raises(UnreadableFile, match="MIME-Version"):
        list(QQ_MHT.read(txt, ReadContext(txt, SHANGHAI)))


def test_mht_minimal_8bit_page_with_header_above_the_table():
    from chendian.ingest.qq_mht import READER as QQ_MHT

    html = ("<html><body><div>消息分组:我的QQ群<br>消息对象:运维值班群</div><table>\n<tr><td>日期: 2020-01-02</td></tr>\n"
            "<tr><td><div><div style=float:left>张三</div>下午 3:04:05</div><div>机房&nbsp;空调报警</div></td></tr>"
            "</table></body></html>")
    src = SourceFile(name="x.mht", data=(
        'MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + html + "\r\n--b--\r\n"
    ).encode())
    assert QQ_MHT.sniff(src)
    ctx = ReadContext(src, SHANGHAI)
    [m] = list(QQ_MHT.read(src, ctx))
    assert not ctx.issues
    assert (m.chat, m.sender, m.text, m.time.isoformat(), m.source) == (
        "运维值班群", "name:张三", "机房 空调报警", "2020-01-02T15:04:05+08:00", "x.mht:3")


# -- senders whose nickname has spaces or punctuation, or whose account is a mobile number ------------

# From the full 2016 export the shared sample was cut from (3,089 headers): 66 headers of one member, a
# nickname with spaces and a hyphen and a QQ account bound to a mobile number, were skipped as bad lines.
ODD_SENDERS_TXT = """\ufeff消息记录（此消息记录为文本格式，不支持重新导入）\r
\r
================================================================\r
消息分组:我的QQ群\r
================================================================\r
消息对象:校企合作群\r
================================================================\r
\r
2016-09-12 9:49:02 合作办 王老师(10001)\r
下午三点在 302 开会\r
\r
2016-09-12 9:50:11 大数据 - 江老师<13800138000>\r
收到，准时到\r
\r
2016-09-12 9:51:30 【助教】Li.Ming_(CS)(2345678901)\r
@合作办 王老师 需要带电脑吗？\r
\r
2016-09-12 9:52:00 Anna K.<anna.k@example.com>\r
我也来\r
"""


def test_txt_senders_with_spaces_punctuation_and_mobile_accounts(tmp_path):
    path = tmp_path / "odd-senders.txt"
    path.write_text(ODD_SENDERS_TXT, encoding="utf-8", newline="")
    name, messages, issues = read_file(path)
    assert name == "qq-txt" and not issues
    assert [(m.sender, m.sender_name) for m in messages] == [
        ("10001", "合作办 王老师"), ("13800138000", "大数据 - 江老师"),
        ("2345678901", "Li.Ming_(CS)"), ("anna.k@example.com", "Anna K.")]
    assert messages[1].text == "收到，准时到" and messages[2].extra["title"] == "助教"


def test_mht_senders_with_spaces_punctuation_and_mobile_accounts():
    from chendian.ingest.qq_mht import READER as QQ_MHT

    rows = "".join(f"<tr><td><div><div style=float:left>{sender}</div>9:5{n}:00</div><div>第{n}条</div></td></tr>\n"
                   for n, sender in enumerate(["合作办 王老师(10001)", "大数据 - 江老师&lt;13800138000&gt;",
                                               "【助教】Li.Ming_(CS)(2345678901)"]))
    html = ("<html><body><table>\n<tr><td><div>消息分组:我的QQ群<br>消息对象:校企合作群</div></td></tr>\n"
            f"<tr><td>日期: 2016-09-12</td></tr>\n{rows}</table></body></html>")
    src = SourceFile(name="x.mht", data=(
        'MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + html + "\r\n--b--\r\n"
    ).encode())
    ctx = ReadContext(src, SHANGHAI)
    messages = list(QQ_MHT.read(src, ctx))
    assert not ctx.issues
    assert [(m.sender, m.sender_name) for m in messages] == [
        ("10001", "合作办 王老师"), ("13800138000", "大数据 - 江老师"), ("2345678901", "Li.Ming_(CS)")]
