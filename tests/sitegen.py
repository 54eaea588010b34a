"""A generated site workspace at any size: `entries` FAQ entries, each from a thread opening with its question.

Used by bench/bench_site.py (20k and 100k entries) and by the sharded search index's tests (a few thousand).
Seeded, so the same arguments give the same workspace. The questions are built from a few systems × actions ×
tails, so many entries share most of their words: the case where rankings have near-ties.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chendian.model import Message, stable_id
from chendian.store import Workspace
from test_site import insert_thread

TZ = ZoneInfo("Asia/Shanghai")
SYSTEMS = ["OA", "VPN", "报销系统", "HR 系统", "邮箱", "打印机", "门禁", "工资条", "年假", "发票", "差旅", "会议室",
           "Git 仓库", "CI 流水线", "测试环境", "生产环境", "堡垒机", "企业微信", "钉钉", "代码评审", "镜像仓库", "数据库",
           "监控告警", "日志平台", "内网", "WiFi", "笔记本", "显示器", "工牌", "社保", "公积金", "体检", "培训", "入职",
           "离职", "转正", "绩效", "预算", "采购", "合同"]
ACTIONS = ["怎么申请", "在哪里看", "连不上", "登录不了", "怎么配置", "多久能批", "找谁处理", "报错了", "怎么重置密码",
           "需要哪些材料", "怎么续期", "权限怎么开", "速度很慢", "怎么迁移", "能不能加急", "流程是什么", "怎么取消",
           "费用谁出", "上限是多少", "有模板吗"]
TAILS = ["", "，急", "，谢谢", "，有人知道吗", "？在线等", "，新人求助", "，试了好几次"]
ANSWER_BITS = ["先在", "提交申请", "找直属领导审批", "联系 IT 值班", "重启客户端", "清一下缓存", "看内网 wiki", "走 OA 流程",
               "大概三个工作日", "需要部门总监签字", "下载最新证书", "用公司邮箱登录", "在工单系统提单", "周五前提交",
               "带上工牌", "发票原件", "截图发群里", "找财务小刘", "重新绑定手机", "升级到最新版"]
CHAT_TALK = ["好的", "收到", "谢谢", "+1", "我也遇到了", "解决了", "哈哈", "明白", "同问", "试试看", "可以了", "👍"]
NAMES = [f"同事{i:03d}" for i in range(300)]


def fill(ws: Workspace, n_entries: int, n_messages: int, seed: int = 11) -> None:
    rnd = random.Random(seed)
    per_thread = max(2, n_messages // n_entries)
    t = datetime(2024, 1, 1, 9, 0, tzinfo=TZ)
    db = ws.db
    with ws.transaction():
        import_id = db.execute("INSERT INTO imports (file, sha256, format, at, messages_read, messages_new, issues)"
                               " VALUES ('bench', 'bench', 'bench', '', 0, 0, 0)").lastrowid
        ws.upsert_chat("bench", "压测群", "generic")
        for k in range(20):
            db.execute("INSERT INTO topics VALUES (?, ?, ?, ?)",
                       (f"k{k}", f"{SYSTEMS[k]}相关", json.dumps([SYSTEMS[k], ACTIONS[k]], ensure_ascii=False), 0))
        messages: list[Message] = []
        weeks: dict[str, list[str]] = {}
        for e in range(n_entries):
            system, action = SYSTEMS[e % len(SYSTEMS)], ACTIONS[(e // len(SYSTEMS)) % len(ACTIONS)]
            question = f"{system}{action}{rnd.choice(TAILS)}？（{e}）"
            answer = "，".join(rnd.sample(ANSWER_BITS, 4)) + f"。参考 https://wiki.example.com/kb/{e}"
            thread = []
            for i in range(per_thread):
                t += timedelta(seconds=rnd.randint(20, 300))
                who = rnd.randrange(len(NAMES))
                text = question if i == 0 else answer if i == 1 else rnd.choice(CHAT_TALK)
                pid = f"{e}-{i}"
                m = Message(id=stable_id("bench", "pid", pid), chat="bench", time=t, sender=f"u{who}",
                            sender_name=NAMES[who], kind="text", text=text, source=f"bench:{pid}", platform_id=pid)
                thread.append(m)
            messages.extend(thread)
            q, a = thread[0], thread[1]
            tid, qa_id = stable_id("bench", q.id, prefix="t"), stable_id(q.id, prefix="q")
            ts = int(q.time.timestamp())
            db.executemany("INSERT INTO message_threads VALUES (?, ?, ?, ?)", [(m.id, "bench", tid, None) for m in thread])
            insert_thread(db, tid, "bench", ts, int(thread[-1].time.timestamp()), len(thread), q.id, f"k{e % 20}",
                        f"{q.text} —— {a.text[:40]}")
            answers = [{"message_ids": [a.id], "sender": a.sender, "sender_name": a.sender_name, "text": a.text,
                        "score": 0.8, "acknowledged": e % 3 == 0}]
            db.execute("INSERT INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (qa_id, "bench", tid, q.id, q.text, q.sender, q.sender_name, ts,
                        json.dumps(answers if e % 50 else [], ensure_ascii=False), 0.8))
            db.execute("INSERT INTO faq_entries (id, question, answer, answerers, variants, count, topic_id, qa_ids, thread_ids, first_ts, last_ts, answered, hidden, pinned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
                       (stable_id(q.id, prefix="f"), q.text, a.text,
                        json.dumps([{"sender": a.sender, "name": a.sender_name, "count": 1}], ensure_ascii=False),
                        json.dumps([f"{system}{action}"], ensure_ascii=False), 1 + e % 7, f"k{e % 20}",
                        json.dumps([qa_id]), json.dumps([tid]), ts, ts, 1))
            iso = q.time.isocalendar()
            weeks.setdefault(f"{iso[0]}-W{iso[1]:02d}", []).append(f"- **{q.text}** {a.text}")
        ws.insert_messages(messages, import_id)
        for week, lines in weeks.items():
            db.execute("INSERT INTO weekly_digests VALUES (?, ?, ?)", ("bench", week, "\n".join(lines[:100])))
        people = {}
        for r in db.execute("SELECT sender, sender_name FROM messages"):
            people[r[0]] = r[1]
        db.executemany("INSERT INTO contributors VALUES (?, ?, 0, 1, 0, '[]')", list(people.items()))


