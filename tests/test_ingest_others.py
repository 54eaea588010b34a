"""Telegram Desktop (result.json and HTML), Slack export and DiscordChatExporter readers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from chendian.ingest import ingest_paths
from chendian.ingest.base import ReadContext, SourceFile
from chendian.ingest.telegram import READER
from chendian.ingest.telegram_html import READER as TELEGRAM_HTML
from chendian.ingest.telegram_html import parse_title
from chendian.model import FILE, FORWARD, IMAGE, LINK, SYSTEM, TEXT, VOICE
from conftest import FIXTURES, SHANGHAI, assert_golden, message_record, read_file

FORMATS = FIXTURES / "formats"
SLACK_EXPORT = FORMATS / "slack" / "export"


def _records(messages, issues) -> dict:
    return {"messages": [message_record(m) for m in messages],
            "issues": [f"{Path(i.file).name}:{i.line}: {i.message}" for i in issues]}


# -- Telegram ---------------------------------------------------------------------------------------

def test_telegram_single_chat_golden():
    name, messages, issues = read_file(FORMATS / "telegram" / "result.json")
    assert name == "telegram"
    assert_golden(FORMATS / "telegram" / "golden" / "result.json.json", _records(messages, issues))
    assert len(issues) == 1 and "messages[8] (id 109)" in issues[0].message
    assert messages[0].kind == SYSTEM and messages[0].text == "周老师 邀请 小林、阿强 加入群聊"
    answer = messages[2]
    assert answer.quote.platform_id == "102" and answer.extra["urls"] == ["https://example.com/sql/having"]
    assert messages[1].mentions == ["zhou_teacher"]
    assert [m.kind for m in messages[3:7]] == [IMAGE, TEXT, FILE, VOICE]
    assert {m.chat for m in messages} == {"1987654321"} and messages[0].chat_name == "数据分析学习群"


def test_telegram_full_export_golden():
    name, messages, issues = read_file(FORMATS / "telegram" / "full-export.json")
    assert name == "telegram" and not issues
    assert_golden(FORMATS / "telegram" / "golden" / "full-export.json.json", _records(messages, issues))
    assert [m.chat for m in messages] == ["5550001", "5550001", "5550002"]


def test_telegram_reply_resolves_through_driver(workspace):
    ingest_paths(workspace, [FORMATS / "telegram" / "result.json"])
    rows = dict(workspace.db.execute("SELECT platform_id, id FROM messages"))
    reply_to = workspace.db.execute("SELECT reply_to FROM messages WHERE platform_id = '103'").fetchone()[0]
    assert reply_to == rows["102"]


def test_real_telegram_sample(shared_data):
    path = shared_data / "formats" / "telegram" / "langchain_result.json"
    expected = len(json.loads(path.read_text(encoding="utf-8"))["messages"])
    name, messages, issues = read_file(path)
    assert name == "telegram" and not issues and len(messages) == expected == 4
    assert messages[1].sender_name == "Batman & Robin" and messages[0].platform_id == "1"


# -- Telegram Desktop HTML --------------------------------------------------------------------------

HTML_EXPORT = FORMATS / "telegram" / "html" / "ChatExport_2024-03-12"


def test_telegram_html_pages_golden():
    records = {}
    for page in ("messages.html", "messages2.html"):
        name, messages, issues = read_file(HTML_EXPORT / page)
        assert name == "telegram-html"
        records[page] = _records(messages, issues)
    assert_golden(FORMATS / "telegram" / "golden" / "html.json", records)
    first, second = records["messages.html"], records["messages2.html"]
    assert not first["issues"]
    assert second["issues"] == ["messages2.html:227: message 111: expected a date (div.pull_right.date.details with a title)"]
    by_id = {r["platform_id"]: r for r in first["messages"] + second["messages"]}
    assert {r["chat"] for r in by_id.values()} == {"数据分析学习群"}
    assert by_id["101"]["text"] == "欢迎大家！有问题直接问 & 互相帮助\n群规见置顶消息"
    assert by_id["103"]["sender_name"] == "小林" and by_id["103"]["time"] == "2024-03-12T10:30:41+08:00"  # joined
    assert by_id["104"]["quote"]["platform_id"] == "102" and by_id["104"]["extra"]["urls"] == ["https://example.com/sql/having"]
    assert "详见 这篇文章 (https://example.com/sql/having)" in by_id["104"]["text"]
    assert by_id["107"]["sender_name"] == "阿强"  # joined at the top of page 2: the sender is page 1's last
    assert by_id["108"]["kind"] == FORWARD and by_id["108"]["extra"]["forwarded_from"] == "SQL 技巧频道"
    assert by_id["108"]["sender_name"] == "小林"
    assert [by_id[i]["kind"] for i in ("105", "109", "110", "114")] == [IMAGE, FILE, VOICE, IMAGE]
    assert by_id["109"]["text"] == "[文件] 练习题.xlsx"
    assert [r["text"] for r in by_id.values() if r["kind"] == SYSTEM] == [
        "周老师 created group «数据分析学习群»", "周老师 pinned this message", "小林 invited 小美"]
    assert by_id["100"]["time"] == by_id["101"]["time"]  # a service line takes the time of the message after it
    assert by_id["113"]["quote"]["platform_id"] == "104"  # a reply into the previous page


def test_telegram_html_folder_through_driver(workspace):
    report = ingest_paths(workspace, [HTML_EXPORT])
    assert [Path(f.file).name for f in report.files] == ["messages.html", "messages2.html"]
    assert {f.format for f in report.files} == {"telegram-html"} and not report.failed
    assert report.read == 14 and len(report.issues) == 1
    assert [f.events for f in report.files] == [1, 1]  # the two date separators
    ids = dict(workspace.db.execute("SELECT platform_id, id FROM messages"))
    reply_to = dict(workspace.db.execute("SELECT platform_id, reply_to FROM messages WHERE reply_to IS NOT NULL"))
    assert reply_to == {"104": ids["102"], "113": ids["104"]}
    again = ingest_paths(workspace, [HTML_EXPORT], force=True)
    assert again.read == 14 and again.new == 0  # stable ids


def _export_with_media(tmp_path: Path) -> Path:
    folder = tmp_path / "ChatExport_2024-03-12"
    for rel in ("messages.html", "messages2.html"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes((HTML_EXPORT / rel).read_bytes())
    media = {"css/style.css": b".page_wrap { background: #fff; }\n", "js/script.js": b"function CheckLocation() {}\n",
             "images/back.png": b"\x89PNG\r\n\x1a\n\x00\x00", "photos/photo_1@12-03-2024_11-20-09.jpg": b"\xff\xd8\xff\xe0\x00",
             "files/练习题.xlsx": b"PK\x03\x04\x00\x00"}
    for rel, data in media.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def test_telegram_html_export_media_is_skipped_not_failed(workspace, tmp_path):
    folder = _export_with_media(tmp_path)
    report = ingest_paths(workspace, [folder])
    assert not report.failed and report.read == 14
    assert sorted(Path(f.file).name for f in report.files if f.skipped) == [
        "back.png", "photo_1@12-03-2024_11-20-09.jpg", "script.js", "style.css", "练习题.xlsx"]
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(tmp_path).as_posix())
    again = ingest_paths(workspace, [archive], force=True)
    assert not again.failed and again.read == 14 and again.new == 0 and sum(1 for f in again.files if f.skipped) == 5
    # A photo named on its own is still not an export.
    photo = tmp_path / "photos" / "photo_2.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"\xff\xd8\xff\xe0\x00")
    alone = ingest_paths(workspace, [photo])
    assert "not any known export format" in alone.failed[0].error


def test_telegram_html_pages_read_in_numeric_order(workspace, tmp_path):
    folder = tmp_path / "ChatExport"
    folder.mkdir()
    page = (HTML_EXPORT / "messages.html").read_text(encoding="utf-8")
    for n in (1, 2, 10):
        name = "messages.html" if n == 1 else f"messages{n}.html"
        (folder / name).write_text(page.replace('id="message1', f'id="message{n}'), encoding="utf-8")
    report = ingest_paths(workspace, [folder])
    assert [Path(f.file).name for f in report.files] == ["messages.html", "messages2.html", "messages10.html"]


def test_telegram_html_truncated_page_is_a_counted_issue(tmp_path):
    text = (HTML_EXPORT / "messages2.html").read_text(encoding="utf-8")
    cut = text.index("HAVING 和 WHERE")
    folder = tmp_path / "ChatExport"
    folder.mkdir()
    (folder / "messages.html").write_bytes((HTML_EXPORT / "messages.html").read_bytes())
    (folder / "messages2.html").write_text(text[:cut], encoding="utf-8")
    name, messages, issues = read_file(folder / "messages2.html")
    assert name == "telegram-html"
    assert [m.platform_id for m in messages] == ["107", "108", "109", "110", "112"]
    assert [f"{Path(i.file).name}:{i.line}" for i in issues] == ["messages2.html:227", "messages2.html:263"]
    assert "truncated" in issues[1].message and "message113" in issues[1].message


def test_telegram_html_date_titles(tmp_path):
    assert parse_title("23.08.2023 13:11:23 UTC-08:00", SHANGHAI).isoformat() == "2023-08-23T13:11:23-08:00"
    assert parse_title("23.08.2023 13:11:23", SHANGHAI).isoformat() == "2023-08-23T13:11:23+08:00"  # old exports
    with pytest.raises(ValueError, match="expected a date title"):
        parse_title("2023-08-23 13:11", SHANGHAI)


def test_forcing_telegram_json_on_the_html_export_says_which_format(workspace):
    report = ingest_paths(workspace, [HTML_EXPORT / "messages.html"], fmt="telegram")
    error = report.files[0].error
    assert "--format telegram-html" in error and "\n" not in error


def test_real_telegram_html_sample(shared_data):
    path = shared_data / "formats" / "telegram" / "langchain_messages.html"
    src = SourceFile(name=str(path), data=path.read_bytes())
    assert TELEGRAM_HTML.sniff(src) and not READER.sniff(src)
    ctx = ReadContext(src, SHANGHAI)
    messages = list(TELEGRAM_HTML.read(src, ctx))
    assert not ctx.issues and ctx.events == 1  # the "23 August 2023" separator
    assert [(m.platform_id, m.sender_name, m.time.isoformat(), m.text) for m in messages] == [
        ("1", "Jimmeny Marvelton", "2023-08-23T13:11:23-08:00", "i refuse to converse with you"),
        ("2", "Batman & Robin", "2023-08-23T13:13:20-08:00", "Hi nemesis"),
        ("3", "Jimmeny Marvelton", "2023-08-23T13:15:35-08:00", "we meet again"),
        ("4", "Jimmeny Marvelton", "2023-08-23T13:15:53-08:00", "you will not trick me this time"),  # joined
    ]
    assert {m.chat for m in messages} == {"Jimmeny Marvelton"} and {m.kind for m in messages} == {TEXT}


# -- DiscordChatExporter ----------------------------------------------------------------------------

DISCORD = FORMATS / "discord" / "数据工程交流-sql-求助.json"


def test_discord_golden():
    name, messages, issues = read_file(DISCORD)
    assert name == "discord"
    assert_golden(FORMATS / "discord" / "golden" / "数据工程交流-sql-求助.json.json", _records(messages, issues))
    assert len(issues) == 1 and "messages[8] (id 1217000000000000009): expected timestamp" in issues[0].message
    assert len(messages) == 9 and {m.chat for m in messages} == {"1100200300400500700"}
    assert messages[0].chat_name == "数据工程交流 #sql-求助"
    join, question, answer, image, schema, bot, pin, link, sticker = messages
    assert join.kind == pin.kind == SYSTEM and join.text == "小美 加入了服务器" and pin.text == "周老师 置顶了一条消息"
    assert pin.quote is None and pin.extra["reference"]["messageId"] == answer.platform_id
    assert question.sender == "880000000000000002" and question.sender_name == "小林" and question.mentions == ["周老师"]
    assert answer.quote.platform_id == question.platform_id and answer.time.isoformat() == "2024-03-12T02:36:41.523000+00:00"
    assert answer.extra["reactions"] == {"👍": 3} and answer.extra["urls"][0].startswith("https://clickhouse.com/")
    assert image.kind == IMAGE and image.sender_name == "aqiang" and image.extra["name"] == "error.png"
    assert schema.kind == FILE and schema.text.startswith("[文件] orders_schema.sql\n加了 FINAL")
    assert bot.extra["bot"] and bot.text.startswith("[data-team/etl] Issue opened")
    assert link.kind == LINK and sticker.kind == IMAGE and sticker.text == "[表情] 谢谢老师"


def test_discord_reply_resolves_through_driver(workspace):
    report = ingest_paths(workspace, [DISCORD])
    assert report.files[0].format == "discord" and report.read == 9 and len(report.issues) == 1
    rows = dict(workspace.db.execute("SELECT platform_id, id FROM messages"))
    reply_to = workspace.db.execute("SELECT reply_to FROM messages WHERE platform_id = '1217000000000000003'").fetchone()[0]
    assert reply_to == rows["1217000000000000002"]


# -- Slack ------------------------------------------------------------------------------------------

def _zip_export(tmp_path: Path) -> Path:
    out = tmp_path / "slack-export.zip"
    with zipfile.ZipFile(out, "w") as z:
        for p in sorted(SLACK_EXPORT.rglob("*.json")):
            z.write(p, p.relative_to(SLACK_EXPORT).as_posix())
    return out


def test_slack_zip_golden(tmp_path):
    name, messages, issues = read_file(_zip_export(tmp_path))
    assert name == "slack"
    assert_golden(FORMATS / "slack" / "golden" / "slack-export.zip.json", _records(messages, issues))
    assert len(issues) == 1 and "onboarding-qa/2024-03-18.json[7]" in issues[0].message
    assert [m.chat for m in messages].count("onboarding-qa") == 7
    question, answer = messages[1], messages[2]
    assert question.text.startswith("@李娜-HR 请问VPN") and question.mentions == ["李娜-HR"]
    assert answer.quote.platform_id == question.platform_id == "1710723700.000200"
    assert "VPN 申请表 (https://it.example.com/vpn)" in answer.text and "&amp;" not in answer.text
    bot = next(m for m in messages if m.extra.get("bot"))
    assert bot.kind == TEXT and bot.sender_name == "Jira Cloud" and "IT-1024" in bot.text
    assert next(m for m in messages if m.kind == FILE).extra["name"] == "新人手册2024.pdf"
    assert messages[6].kind == LINK
    assert [m.kind for m in messages if m.chat == "random"] == [TEXT, SYSTEM]
    assert messages[7].text == "@here 周五下午茶在 #random 报名，<截止周四>"


def test_slack_zip_through_driver(workspace, tmp_path):
    report = ingest_paths(workspace, [_zip_export(tmp_path)])
    assert len(report.files) == 1 and report.files[0].format == "slack"
    assert report.read == 9 and len(report.issues) == 1
    reply = workspace.db.execute("SELECT reply_to FROM messages WHERE platform_id = '1710723800.000300'").fetchone()[0]
    assert reply == workspace.db.execute("SELECT id FROM messages WHERE platform_id = '1710723700.000200'").fetchone()[0]


def test_slack_extracted_folder_through_driver(workspace, tmp_path):
    report = ingest_paths(workspace, [SLACK_EXPORT])
    read = [f for f in report.files if f.format]
    assert sorted(Path(f.file).name for f in read) == ["2024-03-18.json", "2024-03-19.json"]
    assert all(f.skipped for f in report.files if not f.format) and not report.failed
    # Same ids as the zip: importing the zip afterwards adds nothing.
    again = ingest_paths(workspace, [_zip_export(tmp_path)])
    assert report.read == again.read == 9 and again.new == 0


def _count_slack_zip(path: Path) -> int:
    with zipfile.ZipFile(path) as z:
        return sum(len(json.loads(z.read(n))) for n in z.namelist()
                   if n.count("/") == 1 and n.endswith(".json") and not n.endswith("/"))


def test_real_slack_zip_through_driver(shared_data, workspace):
    path = shared_data / "formats" / "slack" / "slack-export-viewer_testarchive.zip"
    expected = _count_slack_zip(path)
    report = ingest_paths(workspace, [path])
    assert report.files[0].format == "slack" and not report.failed
    assert report.read + len(report.issues) == expected == 158 and not report.issues
    assert workspace.count_messages() == 158
    chats = dict(workspace.db.execute("SELECT chat, count(*) FROM messages GROUP BY chat"))
    assert chats == {"enrique": 102, "traveling-sailor": 56}
    kinds = dict(workspace.db.execute("SELECT kind, count(*) FROM messages GROUP BY kind"))
    assert kinds["system"] == 11 and kinds["file"] == 3  # 8 joins + 3 bot_add; 3 file_share
    bots = workspace.db.execute("SELECT count(*) FROM messages WHERE json_extract(extra, '$.bot')").fetchone()[0]
    assert bots == 94
    assert workspace.db.execute("SELECT count(*) FROM messages WHERE text LIKE '%<@U%'").fetchone()[0] == 0


def test_real_slack_zip_cli_stats(shared_data, tmp_path):
    from click.testing import CliRunner

    from chendian.cli import main

    path = shared_data / "formats" / "slack" / "slack-export-viewer_testarchive.zip"
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    assert runner.invoke(main, ["init", ws]).exit_code == 0
    result = runner.invoke(main, ["-w", ws, "ingest", str(path)])
    assert result.exit_code == 0, result.output
    stats = json.loads(runner.invoke(main, ["-w", ws, "stats", "--json"]).output)
    assert stats["messages"] == _count_slack_zip(path) == 158
