"""ChatLab standard format (JSON, JSONL) and Feishu/Lark im/v1/messages pages: invented fixtures, goldens."""

from __future__ import annotations

from pathlib import Path

import pytest

from chendian.ingest import ingest_paths
from chendian.ingest.base import ReadContext, SourceFile, UnreadableFile
from chendian.ingest.chatlab import READER as CHATLAB
from chendian.ingest.feishu import READER as FEISHU
from chendian.model import FILE, IMAGE, LINK, PAT, QUOTE, RECALL, SYSTEM, TEXT
from conftest import FIXTURES, SHANGHAI, assert_golden, message_record, read_file

FORMATS = FIXTURES / "formats"


def _golden(path: Path, fmt: str, **kw) -> tuple[list, list]:
    name, messages, issues = read_file(path, **kw)
    assert name == fmt, f"{path.name} sniffed as {name}"
    records = {"messages": [message_record(m) for m in messages],
               "issues": [f"{Path(i.file).name}:{i.line}: {i.message}" for i in issues]}
    assert_golden(path.parent / "golden" / (path.name + ".json"), records)
    return messages, issues


# -- ChatLab ----------------------------------------------------------------------------------------

def test_chatlab_json_golden():
    messages, issues = _golden(FORMATS / "chatlab" / "运维值班群.json", "chatlab")
    # 11 records: 9 messages, 2 reported (a string timestamp, an empty text).
    assert len(messages) + len(issues) == 11
    assert ["messages[7]" in issues[0].message, "messages[8]" in issues[1].message] == [True, True]
    assert [m.kind for m in messages] == [TEXT, QUOTE, IMAGE, FILE, TEXT, RECALL, SYSTEM, PAT, TEXT]
    assert {m.chat for m in messages} == {"34567890123@chatroom"} and messages[0].chat_name == "运维值班群"
    # The member's group nickname names him even where the message gave only his account name.
    assert {m.sender_name for m in messages if m.sender == "wxid_zhou"} == {"值班长-周明"}
    assert messages[1].quote.platform_id == "9001" and messages[5].extra["recalls"] == "9005"
    assert messages[0].mentions == ["值班长-周明"] and messages[2].text == "[图片]"


def test_chatlab_jsonl_golden():
    messages, issues = _golden(FORMATS / "chatlab" / "前端技术交流群.jsonl", "chatlab")
    # 9 lines: a header, a comment, 2 members, 6 messages of which one is cut off and one has a bad _type.
    assert len(messages) == 4 and [i.line for i in issues] == [8, 9]
    assert messages[1].kind == QUOTE and messages[1].sender_name == "阿杰-杭州"
    assert messages[3].kind == LINK and messages[3].sender_name == "阿杰-杭州"  # named by the member line


def test_chatlab_replies_and_recalls_resolve_in_the_store(workspace):
    report = ingest_paths(workspace, [FORMATS / "chatlab" / "运维值班群.json"])
    assert report.new == 9 and len(report.issues) == 2
    rows = dict(workspace.db.execute("SELECT platform_id, reply_to FROM messages").fetchall())
    ids = dict(workspace.db.execute("SELECT platform_id, id FROM messages").fetchall())
    assert rows["9002"] == ids["9001"]
    assert workspace.db.execute("SELECT recalled FROM messages WHERE platform_id = '9005'").fetchone()[0] == 1


def test_chatlab_jsonl_without_a_header_first_fails_clearly():
    src = SourceFile(name="x.jsonl", data=(
        '{"_type":"message","chatlab":{},"sender":"1","accountName":"a","timestamp":1,"type":0,"content":"hi"}\n'
    ).encode())
    assert CHATLAB.sniff(src)
    with pytest.raises(UnreadableFile, match="line 1: expected the ChatLab header line"):
        list(CHATLAB.read(src, ReadContext(src, SHANGHAI)))


# -- Feishu / Lark ----------------------------------------------------------------------------------

FEISHU_PAGE = FORMATS / "feishu" / "oc_5ad11d72-page-1.json"


def test_feishu_page_golden():
    messages, issues = _golden(FEISHU_PAGE, "feishu")
    assert len(messages) + len(issues) == 11
    assert ["items[8]" in issues[0].message and "create_time" in issues[0].message,
            "items[9]" in issues[1].message and "sender" in issues[1].message] == [True, True]
    first, post = messages[0], messages[1]
    assert first.text == "@李娜 新人入职的电脑申请走哪个流程？" and first.mentions == ["李娜"]
    assert post.text == "电脑申请\n在审批里搜 IT资产申请\n@张伟 直属主管审批后行政发放"
    assert post.quote.platform_id == first.platform_id
    # Names the page gives through @mentions name the senders; anyone else is their open_id.
    assert (first.sender_name, post.sender_name) == ("张伟", "李娜")
    assert messages[4].recalled and messages[4].sender_name == messages[4].sender
    assert messages[5].kind == LINK and messages[5].extra["bot"]
    assert messages[6].kind == SYSTEM and messages[6].text == "李娜 邀请 王芳、赵磊 加入了群聊"
    assert messages[7].text == "收到，谢谢 @所有人" and messages[7].extra["edited"]


def test_feishu_names_file_names_every_sender(tmp_path):
    _, messages, _ = read_file(FEISHU_PAGE, names={"ou_9f8e7d6c5b4a39281706f5e4d3c2b1a0": "王芳"})
    assert {m.sender_name for m in messages if m.sender.startswith("ou_9f8e")} == {"王芳"}


def test_feishu_api_error_response_is_not_a_page():
    src = SourceFile(name="page.json", data=b'{"code": 99991663, "msg": "invalid access token", "data": {"items": []},'
                                             b' "x": "msg_type message_id create_time"}')
    with pytest.raises(UnreadableFile, match="API error .code 99991663"):
        list(FEISHU.read(src, ReadContext(src, SHANGHAI)))
