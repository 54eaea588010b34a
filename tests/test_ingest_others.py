"""Telegram Desktop result.json and Slack export readers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from chendian.ingest import ingest_paths
from chendian.ingest.base import ReadContext, SourceFile, UnreadableFile
from chendian.ingest.telegram import READER
from chendian.model import FILE, IMAGE, LINK, SYSTEM, TEXT, VOICE
from conftest import FIXTURES, assert_golden, message_record, read_file

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


def test_telegram_html_fails_with_one_clear_line(workspace):
    report = ingest_paths(workspace, [FORMATS / "telegram" / "messages.html"])
    error = report.files[0].error
    assert "HTML export is not supported" in error and "JSON" in error and "\n" not in error


def test_real_telegram_sample(shared_data):
    path = shared_data / "formats" / "telegram" / "langchain_result.json"
    expected = len(json.loads(path.read_text(encoding="utf-8"))["messages"])
    name, messages, issues = read_file(path)
    assert name == "telegram" and not issues and len(messages) == expected == 4
    assert messages[1].sender_name == "Batman & Robin" and messages[0].platform_id == "1"
    html = path.with_name("langchain_messages.html")
    src = SourceFile(name=str(html), data=html.read_bytes())
    assert READER.sniff(src)
    with pytest.raises(UnreadableFile, match="HTML export is not supported"):
        list(READER.read(src, ReadContext(src, messages[0].time.tzinfo)))


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
