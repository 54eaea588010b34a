"""A generated Chinese workplace group chat with the shape of real ones, as JSONL lines the jsonl reader imports.

Used by the incremental-run test (small) and bench/bench_pipeline.py (100k to 1M messages). Seeded, so the
same arguments give the same bytes. What it has, because every real group has it:
- bursts and silences: sessions at the start of work, lunch and evening, quiet nights, quieter weekends;
- a few people who say most (Zipf activity), a handful of helpful experts who answer;
- questions from a bank of needs, asked again on later days in other words (the FAQ's repeated questions),
  answered by an expert a few messages later, sometimes quoting the question, sometimes with an @mention,
  often followed by the asker's thanks;
- questions nobody answers, chit-chat, stickers, images and links in between, and interleaved conversations.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")

# Needs of a workplace group: several wordings of each, and the answer an expert gives.
NEEDS = [
    (["报销发票丢了怎么办？", "发票丢了还能报销吗", "报销的发票找不到了咋整"],
     "发票丢了去财务开遗失证明，再找开票方补开，两样一起在费控系统里提"),
    (["VPN 连不上怎么办", "在家连不上公司内网了", "vpn一直登录失败是什么原因"],
     "先升级 EasyConnect 到最新版，再用域账号登录；还不行就在工单系统提 IT 单"),
    (["年假怎么申请？", "请年假在哪提", "年假要提前几天申请"],
     "OA 里提请假单选年假，提前 3 个工作日，直属领导审批就行"),
    (["新电脑怎么装开发环境", "开发环境有文档吗", "新人装环境看哪个文档"],
     "看 wiki 上的《新人开发环境》，按步骤装 JDK、Maven 和 IDE 插件，镜像源用公司的"),
    (["测试环境的数据库地址是多少", "测试库怎么连", "测试环境 DB 账号找谁要"],
     "测试库地址在配置中心的 test 分组，账号找 DBA 值班在工单里申请"),
    (["公积金怎么提取？", "租房可以提公积金吗", "提公积金要什么材料"],
     "租房提取带身份证和租房合同去公积金中心，或者在公积金 App 上直接办"),
    (["工牌丢了去哪补办", "门禁卡坏了找谁", "工牌补办要多久"],
     "去 3 楼行政前台补办，交 20 元工本费，当天就能拿"),
    (["发版流程是什么", "上线要走什么审批", "生产发布怎么申请"],
     "在发布平台建发布单，测试签字加组长审批，周四晚上统一发"),
    (["代码评审要几个人通过", "MR 需要几个 approve", "合并请求谁来审"],
     "至少两个人 approve，其中一个要是模块 owner"),
    (["打印机怎么连", "打印机驱动在哪下", "打印机打不出来了"],
     "打印机地址是 print.office，驱动在软件中心，装完选 3 楼彩色那台"),
    (["出差住宿标准是多少", "出差酒店能报多少", "差旅住宿上限多少钱"],
     "一线城市 500 一晚，其他城市 350，超了要总监审批"),
    (["转正答辩要准备什么", "试用期转正怎么走流程", "转正需要写总结吗"],
     "提前两周在 HR 系统提转正申请，准备一页 PPT 讲三个月做了什么"),
    (["监控告警怎么配置", "告警规则在哪加", "怎么给服务加告警"],
     "在监控平台的告警规则页新建，选服务和指标，通知组填你们组的值班群"),
    (["日志平台查不到日志", "怎么查线上日志", "日志在哪看"],
     "日志平台按服务名和 traceId 查，查不到先看采集 agent 有没有装"),
    (["会议室怎么订", "大会议室在哪预约", "订会议室用哪个系统"],
     "企业微信工作台里的会议室预订，大会议室要提前一天"),
    (["体检什么时候安排", "今年体检在哪家医院", "年度体检怎么预约"],
     "HR 会发体检通知，用体检卡在小程序上约，4 月底前做完"),
]
UNANSWERED = ["有人知道停车位怎么申请吗", "食堂晚上开到几点？", "下周团建去哪里有消息吗", "咖啡机坏了找谁修",
              "有没有人用过新的报表工具", "楼下快递柜的取件码收不到怎么办"]
CHITCHAT = ["早", "早上好", "哈哈哈", "收到", "好的", "👍", "[表情]", "[图片]", "中午吃啥", "今天好热", "下班了",
            "周末愉快", "笑死", "确实", "+1", "有道理", "666", "辛苦了", "刚开完会", "在路上了", "明天见"]
THANKS = ["谢谢！", "好的，谢谢", "感谢大佬", "解决了，多谢", "明白了，谢谢", "搞定了 谢谢"]
LINKS = ["分享一篇不错的文章 https://mp.weixin.qq.com/s/{k}", "这个文档有用 https://wiki.example.com/kb/{k}",
         "[链接] 架构分享 https://example.com/talk/{k}"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明", "超", "霞", "平", "刚", "桂英", "晨", "雪", "凯"]
TEAMS = ["研发", "测试", "产品", "运维", "HR", "财务", "行政", "数据"]
# What makes real messages unique (so that a benchmark embeds what a real group would, not a cache of templates).
DETAILS = ["，工单号 {n}", "（{n} 楼）", "，截图在上面", "，试了{k}次了", "，我这边是 v{k}.{n} 版本", "，今天第{k}次遇到",
           "，项目 P{n}", "，急", "，在线等", "，谢谢各位", "，机器 10.{k}.{n}.1"]


class GroupChat:
    """One group: its members (a few experts among them) and a seeded random stream of days."""

    def __init__(self, name: str, members: int = 60, seed: int = 7, variety: float = 0.0, quiet_days: float = 0.0):
        self.name = name
        self.quiet_days = quiet_days  # the share of days the group says nothing
        self.variety = variety  # the share of messages with a detail of their own
        self.rnd = random.Random(f"{name}/{seed}")
        r = self.rnd
        self.members = [(f"wxid_{name_hash(name, i)}", f"{r.choice(TEAMS)}-{r.choice(SURNAMES)}{r.choice(GIVEN)}")
                        for i in range(members)]
        self.weights = [1.0 / (i + 1) ** 0.9 for i in range(members)]  # a few say most
        self.experts = self.members[:max(2, members // 15)]
        self.counter = 0

    def _speaker(self) -> tuple[str, str]:
        return self.rnd.choices(self.members, self.weights)[0]

    def _message(self, when: datetime, who: tuple[str, str], text: str, reply_to: str | None = None,
                 mentions: list[str] | None = None) -> dict:
        self.counter += 1
        if self.variety and self.rnd.random() < self.variety:
            text += self.rnd.choice(DETAILS).format(n=self.rnd.randint(1, 9999), k=self.rnd.randint(2, 9))
        m = {"chat": self.name, "id": f"{self.name}-{self.counter}", "time": when.isoformat(), "sender": who[0],
             "sender_name": who[1], "text": text}
        if reply_to:
            m["reply_to"] = reply_to
        if mentions:
            m["mentions"] = mentions
        return m

    def day(self, day: date, messages: int) -> list[dict]:
        """About `messages` messages on `day`, in sessions, in time order; none on the group's quiet days."""
        r = self.rnd
        if self.quiet_days and r.random() < self.quiet_days:
            return []
        weekend = day.weekday() >= 5
        target = max(1, int(messages * (0.3 if weekend else 1.0)))
        sessions = [(9, 30), (12, 20), (15, 0), (20, 30)]
        out: list[dict] = []
        per_session = max(1, target // len(sessions))
        for hour, minute in sessions:
            t = datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ) + timedelta(minutes=r.randint(0, 40))
            out.extend(self._session(t, per_session))
        out.sort(key=lambda m: m["time"])
        return out

    def _session(self, t: datetime, n: int) -> list[dict]:
        r = self.rnd
        out: list[dict] = []
        pending: list[tuple[dict, str, int]] = []  # (question message, answer text, messages until answered)
        while len(out) < n:
            t += timedelta(seconds=int(r.expovariate(1 / 50)) + 3)  # bursts: most gaps short, a few long
            if pending and pending[0][2] <= 0:
                q, answer, _ = pending.pop(0)
                expert = r.choice(self.experts)
                style = r.random()
                reply_to = q["id"] if style < 0.3 else None  # quoting the question
                mention = [q["sender_name"]] if 0.3 <= style < 0.6 else None
                text = (f"@{q['sender_name']} " if mention else "") + answer
                a = self._message(t, expert, text, reply_to, mention)
                out.append(a)
                if r.random() < 0.6:  # the asker thanks
                    t += timedelta(seconds=r.randint(5, 90))
                    out.append(self._message(t, (q["sender"], q["sender_name"]), r.choice(THANKS)))
                continue
            pending = [(q, a, k - 1) for q, a, k in pending]
            roll = r.random()
            who = self._speaker()
            if roll < 0.12:
                wordings, answer = r.choice(NEEDS)
                q = self._message(t, who, r.choice(wordings))
                out.append(q)
                pending.append((q, answer, r.randint(1, 4)))
            elif roll < 0.14:
                out.append(self._message(t, who, r.choice(UNANSWERED)))
            elif roll < 0.17:
                out.append(self._message(t, who, r.choice(LINKS).format(k=r.randint(1000, 9999))))
            else:
                out.append(self._message(t, who, r.choice(CHITCHAT)))
        return out


def name_hash(chat: str, i: int) -> str:
    import hashlib
    return hashlib.sha1(f"{chat}/{i}".encode()).hexdigest()[:10]


def generate(days: int, messages_per_day: int, chats: int = 1, start: date = date(2024, 3, 4),
             seed: int = 7, variety: float = 0.0, quiet_days: float = 0.0) -> Iterator[tuple[date, list[dict]]]:
    """(day, that day's messages over all chats) for `days` consecutive days (`messages_per_day` on weekdays,
    less at weekends)."""
    groups = [GroupChat(f"群{k + 1:02d}", seed=seed, variety=variety, quiet_days=quiet_days) for k in range(chats)]
    for d in range(days):
        day = start + timedelta(days=d)
        yield day, [m for g in groups for m in g.day(day, messages_per_day // chats)]


def write_jsonl(path, messages: list[dict]) -> int:
    with open(path, "w", encoding="utf-8") as f:
        for m in messages:
            f.write(json.dumps(m, ensure_ascii=False) + "\n")
    return len(messages)
