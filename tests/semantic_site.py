"""A small office group chat (tests/fixtures/site/office-chat.jsonl, 250 messages) with FAQ entries, its messages
embedded by the real embed stage: enough text for the site's semantic student (chendian/site/student.py)."""

from __future__ import annotations

import json
from pathlib import Path

from chendian.ingest import ingest_paths
from chendian.model import stable_id
from chendian.pipeline import RunContext
from chendian.store import Workspace
from test_site import new_workspace

OFFICE_CHAT = Path(__file__).parent / "fixtures" / "site" / "office-chat.jsonl"
OFFICE = "office-group"

# FAQ entries: (the chat messages that asked it, by text: the entry's variants; canonical question; answer).
OFFICE_ENTRIES = [
    (["早上来电脑黑屏了，按电源键也没反应", "我的电脑开不了机，指示灯一直闪", "主机按了开机键没有任何反应，灯也不亮"],
     "电脑开不了机怎么办？", "先长按电源键十秒强制关机再开机；还不行检查电源线和插线板，或者找 IT 值班。"),
    (["新员工的笔记本电脑怎么申请？"], "笔记本电脑怎么申请？", "OA 里提设备申领单，部门领导审批后第二天去 IT 领取。"),
    (["笔记本电脑太旧了，能申请换一台新的吗"], "笔记本电脑能申请换新吗？", "用满三年可以走设备更换流程，不满三年先送修。"),
    (["VPN连不上，提示证书过期"], "VPN 连不上，提示证书过期怎么办？", "到内网下载新证书，删掉旧证书后导入，再重启客户端。"),
    (["打印机连不上，电脑上找不到"], "打印机连不上怎么办？", "添加打印机时输入 IP 地址，IP 贴在打印机侧面。"),
    (["外接显示器没有信号"], "外接显示器没有信号怎么办？", "笔记本按 Win+P 切换到扩展模式，再检查线有没有插紧。"),
    (["域账号密码忘了怎么重置"], "域账号密码忘了怎么重置？", "在自助门户用手机验证码重置，不用找 IT。"),
    (["年假怎么申请？"], "年假怎么申请？", "HR 系统里点请假申请，假期类型选年假，直属领导审批；三天以上提前一周。"),
    (["报销流程怎么走？"], "报销流程怎么走？", "在 OA 提交费用报销，发票原件贴在粘贴单上交给前台。"),
    (["出差打车可以报销吗"], "出差打车可以报销吗？", "可以，打车软件开电子发票，行程单一起上传；晚上九点以后加班打车也能报。"),
    (["门禁卡丢了怎么办"], "门禁卡丢了怎么办？", "先去前台挂失，交二十块工本费补办，当天就能拿到。"),
    (["会议室怎么预订"], "会议室怎么预订？", "企业微信工作台里预订；超过二十人的大会议室要行政审批。"),
]


def office_message(ws: Workspace, text: str) -> dict:
    row = ws.db.execute("SELECT id, ts FROM messages WHERE chat = ? AND text = ? ORDER BY ts",
                        (OFFICE, text)).fetchone()
    assert row is not None, f"{text!r} is not in {OFFICE_CHAT.name}"
    return dict(row)


def make_office_workspace(root: Path, names: str = "real", chat_file: Path = OFFICE_CHAT) -> Workspace:
    """The office chat ingested, FAQ entries written as the faq stage would, messages embedded (embed stage)."""
    ws = new_workspace(root, names)
    report = ingest_paths(ws, [chat_file], chat_name="行政 IT 答疑群")
    assert not report.failed, report.failed
    with ws.transaction():
        for asked, question, answer in OFFICE_ENTRIES:
            rows = [office_message(ws, t) for t in asked]
            ws.db.execute("INSERT INTO faq_entries (id, question, answer, answerers, variants, count, topic_id, qa_ids, thread_ids, first_ts, last_ts, answered, hidden, pinned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
                          (stable_id(rows[0]["id"], prefix="f"), question, answer, "[]",
                           json.dumps(asked, ensure_ascii=False), len(rows), None, "[]", "[]",
                           rows[0]["ts"], rows[-1]["ts"], 1))
    from chendian.pipeline.stages import embed as embed_stage

    embed_stage.run(ws, RunContext(quiet=True, stage="embed"))
    return ws


def office_entry_id(ws: Workspace, question: str) -> str:
    """The entry id of OFFICE_ENTRIES' canonical `question`."""
    first = next(asked[0] for asked, q, _ in OFFICE_ENTRIES if q == question)
    return stable_id(office_message(ws, first)["id"], prefix="f")
