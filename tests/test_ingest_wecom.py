"""WeCom 会话内容存档 reader: decrypted archive messages as JSON lines or a (reseller-flattened) JSON array."""

from __future__ import annotations

import json
from pathlib import Path

from chendian.ingest import ingest_paths, load_names
from chendian.model import FILE, FORWARD, IMAGE, LINK, RECALL, REDPACKET, TEXT, VIDEO, VOICE
from conftest import FIXTURES, assert_golden, message_record, read_file

WECOM = FIXTURES / "formats" / "wecom"
NAMES = WECOM / "names.json"


def _golden(path: Path, **kw):
    name, messages, issues = read_file(path, **kw)
    assert name == "wecom"
    assert_golden(WECOM / "golden" / f"{path.name}.json",
                  {"messages": [message_record(m) for m in messages],
                   "issues": [f"{Path(i.file).name}:{i.line}: {i.message}" for i in issues]})
    return messages, issues


def test_archive_jsonl_golden():
    messages, issues = _golden(WECOM / "archive.jsonl", names=load_names(NAMES))
    assert [i.line for i in issues] == [10]
    kinds = [m.kind for m in messages]
    for kind in (TEXT, FILE, IMAGE, RECALL, VOICE, LINK, FORWARD, REDPACKET):
        assert kind in kinds
    first = messages[0]
    assert (first.sender, first.sender_name, first.chat_name) == ("zhangwei", "张伟", "新人答疑群")
    assert first.mentions == ["李娜"] and first.time.isoformat() == "2024-03-06T09:00:00+08:00"
    assert first.platform_id == "1700000000000000001_1709686800"
    recall = next(m for m in messages if m.kind == RECALL)
    assert recall.extra["recalls"] == first.platform_id
    assert next(m for m in messages if m.kind == FILE).text == "[文件] 新人入职培训.pdf"
    forward = next(m for m in messages if m.kind == FORWARD)
    assert [r["text"] for r in forward.extra["forward"]] == ["年假怎么申请？", "OA → 假期管理 → 年假，主管审批后生效", "[图片]"]
    # 1:1 messages in both directions land in one chat.
    dm = [m for m in messages if m.chat.startswith("dm:")]
    assert len(dm) == 2 and {m.chat for m in dm} == {"dm:lina+zhangwei"} and dm[0].chat_name == "李娜 & 张伟"


def test_reseller_flattened_array_golden():
    messages, issues = _golden(WECOM / "reseller-flattened.json", names=load_names(NAMES))
    assert [m.kind for m in messages] == [TEXT, TEXT, VIDEO, IMAGE]
    assert messages[1].text == "@张伟 需要，带上工牌" and messages[0].extra["seq"] == 1001
    assert [i.line for i in issues] == [None, None]
    assert ["record [4]" in issues[0].message, "record [5]" in issues[1].message] == [True, True]


def test_without_names_ids_are_shown():
    _, messages, _ = read_file(WECOM / "archive.jsonl")
    assert messages[0].sender_name == "zhangwei" and messages[0].chat_name == "wrOgQhDgAAx1Yq5kZ3uS7mP2b9dXyQ"


def test_driver_counts_switch_and_marks_recalled(workspace):
    report = ingest_paths(workspace, [WECOM / "archive.jsonl"], names_files=[str(NAMES)])
    fr = report.files[0]
    assert (fr.format, fr.read, fr.events, len(fr.issues)) == ("wecom", 16, 1, 1)
    recalled = [r[0] for r in workspace.db.execute("SELECT platform_id FROM messages WHERE recalled = 1")]
    assert recalled == ["1700000000000000001_1709686800"]


def test_real_sample_every_record_imported_counted_or_reported(shared_data, workspace):
    path = shared_data / "formats" / "wecom-msgaudit" / "wecom_msgaudit_official_doc_examples.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    switches = sum(1 for r in records if r.get("action") == "switch")
    name, messages, issues = read_file(path)
    assert name == "wecom"
    assert len(messages) + switches + len(issues) == len(records) == 9
    assert not issues and len(messages) == 8
    by_type = {r["msgid"]: r["msgtype"] for r in records if "msgtype" in r}
    assert {m.platform_id for m in messages} == set(by_type)
    report = ingest_paths(workspace, [path])
    assert (report.read, report.files[0].events) == (8, 1)
    assert workspace.count_messages() == 8
