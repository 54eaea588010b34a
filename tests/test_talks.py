"""Talks (分享) found in hand-made chats, their articles and Q&A; and the 2018-05-03 talk of the shared dev data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from chendian.cli import main
from chendian.site.browser_index import BrowserIndex
from chendian.model import IMAGE, TEXT, Message
from chendian.summarize.qa.extract import extract_qas
from chendian.summarize.talks import apply_talk_curation, article_blocks, article_qa, detect_talks
from conftest import SHANGHAI

LECTURE = [
    "Pod 是 Kubernetes 里最小的调度单位，一个 Pod 里可以放一个或几个容器，它们共享网络和存储",
    "为什么不直接调度容器？因为有些进程必须贴在一起跑，比如业务容器和它的日志收集 sidecar",
    "Pod 的 IP 是临时的，Pod 重建以后 IP 就变了，所以不能让调用方直接记 Pod 的地址",
    "这就引出了 Service：它给一组 Pod 一个稳定的虚拟 IP 和 DNS 名字，按标签选择后端",
    "Service 有 ClusterIP、NodePort、LoadBalancer 几种类型，集群内部调用一般用 ClusterIP 就够了",
    "kube-proxy 在每个节点上维护 iptables 或 IPVS 规则，把发往 Service 的流量转给后端 Pod",
    "对外暴露 HTTP 服务的时候，每个服务一个 LoadBalancer 太贵，这时候用 Ingress",
    "Ingress 按域名和路径把请求路由到不同的 Service，证书也可以在 Ingress 上统一配置",
    "我们生产环境用的是 ingress-nginx，配置改完以后 controller 会自动 reload，不用重启",
    "排查问题的顺序：先看 Pod 是否 Ready，再看 Service 的 Endpoints 有没有地址，最后看 Ingress 的规则",
    "kubectl describe 和 kubectl get endpoints 是最常用的两个命令，建议大家收藏",
    "健康检查一定要配 readinessProbe，不然 Pod 还没准备好流量就进来了，发版的时候会报错",
]


class Chat:
    """A hand-made chat: messages appended in time order."""

    def __init__(self, day: str = "2024-03-07", chat: str = "研发交流群"):
        self.chat = chat
        self.day = day
        self.messages: list[Message] = []

    def say(self, hhmm: str, sender: str, text: str = "", kind: str = TEXT, day: str | None = None, **extra) -> Message:
        t = datetime.fromisoformat(f"{day or self.day}T{hhmm}").replace(tzinfo=SHANGHAI)
        n = len(self.messages)
        m = Message(id=f"m{n:04d}", chat=self.chat, time=t, sender=sender, sender_name=sender, kind=kind, text=text,
                    source=f"chat.txt:{n + 1}", **extra)
        self.messages.append(m)
        return m

    def lecture(self, speaker: str, start: str, lines: list[str], every_minutes: float = 3.0, day: str | None = None,
                aside: dict[int, tuple[str, str]] | None = None, images: tuple[int, ...] = ()) -> None:
        t = datetime.fromisoformat(f"{day or self.day}T{start}")
        for i, line in enumerate(lines):
            if i in images:
                self.say(t.strftime("%H:%M:%S"), speaker, "", IMAGE, day=t.date().isoformat())
            self.say(t.strftime("%H:%M:%S"), speaker, line, day=t.date().isoformat())
            if aside and i in aside:
                who, text = aside[i]
                self.say((t + timedelta(seconds=40)).strftime("%H:%M:%S"), who, text, day=t.date().isoformat())
            t += timedelta(minutes=every_minutes)


def _talks(chat: Chat):
    qas = extract_qas(chat.messages)
    return detect_talks(chat.messages, qas), qas


def test_a_talk_with_side_chatter_and_late_qa():
    c = Chat()
    c.say("10:02:00", "周敏", "@所有人 今晚 20:00 技术分享，主讲人王磊，主题《从零理解 Kubernetes》，大家准时参加")
    c.say("10:05:00", "吴昊", "收到")
    c.say("19:50:00", "周敏", "分享马上开始，大家签到一下")
    for i, who in enumerate(["吴昊", "刘洋", "徐晨", "郭晓"]):
        c.say(f"19:5{2 + i}:00", who, "签到")
    c.say("19:58:00", "周敏", "欢迎王磊老师给大家分享[鼓掌]")
    c.say("20:00:00", "王磊", "大家好，我是王磊，今天给大家分享一下 Kubernetes 的三个基本概念")
    c.lecture("王磊", "20:02:00", LECTURE, every_minutes=3.5, images=(0, 3, 6),
              aside={2: ("张伟", "今天食堂的红烧肉不错"), 5: ("孙悦", "[强]"), 8: ("张伟", "我晚上还要加班"),
                     9: ("孙悦", "明天的周会改到下午了吗")})
    c.say("20:45:00", "王磊", "以上就是今天的内容，谢谢大家，有问题可以在群里提")
    c.say("20:46:00", "刘洋", "感谢王磊老师的分享，干货满满")
    c.say("20:47:00", "徐晨", "[鼓掌]")
    c.say("21:20:00", "郭晓", "@王磊 老师，Service 和 Ingress 到底怎么选？内部服务也要配 Ingress 吗")
    c.say("21:24:00", "王磊", "@郭晓 内部调用用 Service 就可以，Ingress 只给需要从集群外访问的 HTTP 服务配")
    c.say("21:25:00", "郭晓", "明白了，谢谢")
    c.say("21:26:00", "郭晓", "PPT 能发一下吗")
    c.say("21:30:00", "王磊", "从零理解Kubernetes-王磊.pptx")
    talks, qas = _talks(c)
    assert len(talks) == 1
    t = talks[0]
    assert (t.speaker, t.day, t.title, t.title_source) == ("王磊", "2024-03-07", "从零理解 Kubernetes", "announcement")
    by_id = {m.id: m for m in c.messages}
    assert by_id[t.message_ids[0]].text.startswith("大家好，我是王磊")
    assert datetime.fromtimestamp(t.end_ts, SHANGHAI).strftime("%H:%M") == "20:45"
    assert all(by_id[m].sender == "王磊" for m in t.message_ids)
    assert len(t.message_ids) == 1 + len(LECTURE) + 3 + 1 + 1  # opening, lecture, 3 slides, closing, the pptx
    left = t.left_out()
    assert left["chatter"] == 3 and left["sticker"] == 1  # the aside texts and the [强]
    assert {"announcement", "signin", "opening", "slides", "closing", "thanks", "host"} <= set(t.evidence)
    # The late question to the speaker is in its Q&A, answered by the speaker.
    shown = article_qa(t, qas, by_id)
    assert [q.asker for q in shown] == ["郭晓"]
    assert shown[0].answers[0].sender == "王磊" and "Service" in shown[0].answers[0].text
    blocks = article_blocks(t, by_id)
    assert [b.kind for b in blocks].count("image") == 3 and blocks[-1].kind == "file"
    assert sum(len(b.message_ids) for b in blocks) == len(t.message_ids)
    # Consecutive lines are joined into paragraphs: fewer paragraphs than lines.
    assert len([b for b in blocks if b.kind == "paragraph"]) < len(LECTURE)


def test_two_talks_on_one_evening():
    c = Chat()
    first = ["大家好，我是张伟，今天给大家分享一下订单服务的幂等设计"] + [
        f"第{n}点，{text}" for n, text in zip("一二三四五六七八九十", [
            "所有写接口都要带业务唯一键，比如订单号加操作类型，重复请求直接返回第一次的结果",
            "唯一键放在数据库唯一索引上兜底，不要只靠 Redis 的 setnx，缓存丢了就会重复扣款",
            "消息消费要按消息 ID 去重，消费记录和业务数据在同一个事务里提交",
            "对外回调要允许对方重试，我们这边用状态机判断，已经成功的单子重复通知直接回成功",
            "退款和撤销是最容易出问题的地方，一定要先查原单状态再操作，不能只看请求参数",
            "压测的时候专门模拟网络超时和重复提交，看看日志里有没有出现两笔流水",
            "监控上加一个重复请求的计数，突然升高往往说明上游在疯狂重试",
            "数据库主从延迟也会造成误判，查原单状态要走主库",
            "幂等键的过期时间要比对方最长的重试周期更长",
        ])] + ["以上就是我的分享，谢谢大家"]
    c.lecture("张伟", "19:30:00", first, every_minutes=4)
    c.say("20:12:00", "吴昊", "感谢张伟的分享")
    second = ["大家好，我是李娜，接下来给大家分享前端性能优化的几个经验"] + [
        f"{n}、{text}" for n, text in zip("一二三四五六七八九十", [
            "首屏先看 Lighthouse 报告，找出最大的几个资源，图片压缩和懒加载往往收益最大",
            "打包用 webpack 的 splitChunks 把第三方库拆出来，长期缓存，业务代码改动不影响它",
            "接口合并，首屏只请求必要的数据，其他的放到空闲时间预取",
            "列表超过一千行就要用虚拟滚动，不然滚动会明显卡顿",
            "动画尽量只改 transform 和 opacity，避免触发布局计算",
            "线上要接入性能监控，按页面看 LCP 和 CLS 的分位数，不要只看平均值",
            "字体文件做子集化，中文字体动辄几兆，只保留页面用到的字",
            "第三方脚本异步加载，统计和客服插件不要阻塞首屏",
            "最后，每次优化前后都要量化对比，不然不知道改动有没有用",
        ])] + ["我就讲这么多，谢谢大家"]
    c.lecture("李娜", "20:15:00", second, every_minutes=4)
    c.say("21:00:00", "吴昊", "感谢两位老师的分享")
    talks, _ = _talks(c)
    assert [(t.speaker, t.day) for t in talks] == [("张伟", "2024-03-07"), ("李娜", "2024-03-07")]
    assert talks[0].end_ts < talks[1].start_ts
    assert talks[0].title == "订单服务的幂等设计" and talks[1].title.startswith("前端性能优化")
    assert len(talks[0].message_ids) == len(first) and len(talks[1].message_ids) == len(second)


def test_a_long_argument_is_not_a_talk():
    c = Chat()
    lines = [
        "你这个方案根本不对，分库分表之后跨库的 join 你打算怎么做？",
        "你说用中间件解决，中间件自己的性能问题你考虑过吗",
        "我上家公司就是这么搞的，最后全部推倒重来，你不要不信",
        "你现在的数据量一天才几十万，根本用不着分库分表，加索引就够了",
        "你为什么总觉得技术越复杂越好？维护成本谁来承担",
        "你去看看监控，慢查询都是因为没有索引，跟分表有什么关系",
        "我不是反对你，我是说你要先把基础的问题解决了再说",
        "你再想想，分表以后分页查询怎么做，报表怎么出",
        "你这样改，运维那边要加多少台机器你算过吗",
        "你上次说的读写分离也没落地，现在又要分库分表",
        "你先把慢查询优化了，下个月再看数据量要不要拆",
        "你要是坚持这么干，评审会上我肯定投反对票",
    ]
    t = datetime.fromisoformat("2024-03-07T20:00:00")
    for i, line in enumerate(lines):
        c.say(t.strftime("%H:%M:%S"), "张伟", line)
        if i % 3 == 2:
            c.say((t + timedelta(seconds=50)).strftime("%H:%M:%S"), "吴昊", "你说的这些我都考虑过，数据量马上就会涨上来")
        t += timedelta(minutes=3)
    c.say(t.strftime("%H:%M:%S"), "吴昊", "算了，明天评审会上再说吧")
    talks, _ = _talks(c)
    assert talks == []


def test_a_talk_that_spans_midnight():
    c = Chat(day="2024-03-08")
    c.say("21:00:00", "周敏", "今晚 23:30 夜猫子分享，主讲人郭晓，主题《线上故障复盘：一次数据库连接池耗尽》")
    c.say("23:28:00", "吴昊", "签到")
    c.say("23:28:30", "刘洋", "签到")
    lines = ["大家好，我是郭晓，今天给大家复盘上周的一次线上故障"] + [
        "先说现象：周二晚上十点开始，下单接口大量超时，错误日志里全是获取数据库连接超时",
        "第一反应是数据库挂了，但是数据库的 CPU 和连接数都不高，说明问题在应用这边",
        "我们 dump 了线程栈，发现几百个线程都卡在同一个外部 HTTP 调用上，而这个调用在事务里面",
        "事务里调外部接口，外部接口一慢，连接就一直被占着不释放，连接池很快就被耗尽了",
        "临时处理是把外部调用的超时从三十秒改成三秒，然后滚动重启，十分钟后恢复",
        "根本原因是代码评审没有发现事务里有远程调用，这个是我们的规范里明确禁止的",
        "改进措施一：在框架层加检查，事务里发起 HTTP 调用直接打告警日志",
        "改进措施二：所有外部调用必须配置超时，默认值改成三秒，超过需要评审",
        "改进措施三：连接池的使用率加到监控大盘，超过百分之八十就报警",
        "改进措施四：每个季度做一次故障演练，专门模拟下游变慢的情况",
        "最后分享一个经验：排查超时问题，线程栈比日志更可靠，一定要学会看",
    ]
    c.lecture("郭晓", "23:30:00", lines, every_minutes=6, images=(3, 6))
    c.say("00:40:00", "郭晓", "今天就分享到这里，谢谢大家", day="2024-03-09")
    c.say("00:41:00", "吴昊", "感谢分享，学到了", day="2024-03-09")
    talks, _ = _talks(c)
    assert len(talks) == 1
    t = talks[0]
    assert t.day == "2024-03-08" and t.speaker == "郭晓"
    assert t.title == "线上故障复盘：一次数据库连接池耗尽"
    assert datetime.fromtimestamp(t.end_ts, SHANGHAI).strftime("%m-%d %H:%M") == "03-09 00:40"
    assert len(t.message_ids) == len(lines) + 2 + 1


def test_a_long_answer_session_without_framing_is_not_a_talk():
    """One member answering a colleague at length, with screenshots: no announcement, opening, outline or thanks."""
    c = Chat()
    c.say("14:00:00", "刘洋", "报销系统一直提示发票重复，怎么回事？")
    for i, line in enumerate(LECTURE):
        if i % 4 == 0:
            c.say(f"14:{2 + i * 2:02d}:00", "赵婷", "", IMAGE)
        c.say(f"14:{2 + i * 2:02d}:30", "赵婷", line)
    c.say("14:40:00", "刘洋", "好的")
    talks, _ = _talks(c)
    assert talks == []


def test_curation_retitles_moves_messages_and_hides():
    c = Chat(day="2024-03-08")
    c.say("21:00:00", "周敏", "今晚 23:30 夜猫子分享，主讲人郭晓，主题《线上故障复盘》")
    c.lecture("郭晓", "23:30:00", ["大家好，我是郭晓，今天给大家复盘上周的一次线上故障"] + LECTURE, every_minutes=3)
    aside = c.say("23:40:10", "周敏", "补充一下：故障报告在 Wiki 的「复盘」目录里")
    c.messages.sort(key=lambda m: m.time)
    talks, _ = _talks(c)
    t = talks[0]
    assert aside.id not in t.message_ids and t.roles[aside.id] == "chatter"
    first = t.message_ids[1]
    actions = [{"entry_id": t.id, "action": "talk-title", "value": "一次线上故障复盘"},
               {"entry_id": t.id, "action": "talk-add", "value": aside.id},
               {"entry_id": t.id, "action": "talk-remove", "value": first},
               {"entry_id": t.id, "action": "talk-hide", "value": ""},
               {"entry_id": "k" + "0" * 20, "action": "talk-hide", "value": ""}]
    warnings: list[str] = []
    apply_talk_curation(talks, actions, {m.id: m for m in c.messages}, warnings.append)
    assert t.title == "一次线上故障复盘" and t.hidden
    assert aside.id in t.message_ids and first not in t.message_ids and t.left_out()["removed"] == 1
    assert len(warnings) == 1 and "no such talk" in warnings[0]


def test_shared_dev_talk_of_2018_05_03(shared_data, tmp_path):
    """The WeChat payments group: the 17:33 talk on 账务处理模式, with its slides and PDF and the 19:49 correction."""
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(ws)]).exit_code == 0
    (ws / "inbox" / "wechat-dev.jsonl").write_bytes((shared_data / "threads" / "wechat-dev.jsonl").read_bytes())
    result = runner.invoke(main, ["-w", str(ws), "stage", "ingest", "extract", "talks", "-q"])
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in runner.invoke(main, ["-w", str(ws), "talks", "--json"]).output.splitlines()]
    day = [t for t in found if t["day"] == "2018-05-03"]
    assert len(day) == 1
    t = day[0]
    assert t["start"] == "17:33" and t["end"] >= "19:49" and t["speaker"] == "成员163"
    assert "账务处理模式" in t["title"]
    assert t["messages"] >= 60 and t["qas"] >= 1
    # Few false alarms over six months of a busy group: the organiser wrote up this one talk held in the chat.
    assert len(found) <= 2
    # The question asked before it (answered "wait for the talk") is in its Q&A; its slides and PDF in the article.
    from chendian.store import Workspace

    with Workspace(ws) as w:
        talk = next(x for x in w.talks(warn=lambda m: None) if x.id == t["id"])
        asked = {q.id: q for q in w.qas(warn=lambda m: None)}
        messages = {m.id: m for m in w.messages() if m.id in talk.roles}
    assert any(asked[q].ts < talk.start_ts for q in talk.qa_ids)
    kinds = [b.kind for b in article_blocks(talk, messages)]
    assert kinds.count("image") >= 2 and kinds.count("file") >= 1


def _jsonl(chat: Chat) -> str:
    return "".join(json.dumps({"chat": m.chat, "id": m.id, "time": m.time.isoformat(), "sender": m.sender,
                               "sender_name": m.sender_name, "text": m.text or "[图片]"}, ensure_ascii=False) + "\n"
                   for m in chat.messages)


def _workspace_with(tmp_path, chat) -> Path:
    """A new workspace whose inbox holds the chat as a JSONL export."""
    ws = tmp_path / "ws"
    assert CliRunner().invoke(main, ["init", str(ws)]).exit_code == 0
    (ws / "inbox" / "talk.jsonl").write_text(_jsonl(chat), encoding="utf-8")
    return ws


def test_cli_lists_curates_publishes_and_books_a_talk(tmp_path):
    """`chendian talks`, its curation surviving a rerun, the site's pages, search and a book chapter."""
    c = Chat(day="2024-03-08")
    c.say("21:00:00", "周敏", "今晚 22:00 线上分享，主讲人郭晓，主题《线上故障复盘》，记得签到")
    c.say("21:58:00", "吴昊", "签到")
    c.say("21:58:30", "刘洋", "签到")
    c.lecture("郭晓", "22:00:00", ["大家好，我是郭晓，今天给大家复盘上周的一次线上故障"] + LECTURE, every_minutes=3)
    c.say("22:40:00", "郭晓", "以上就是今天的分享，谢谢大家")
    c.say("22:41:00", "吴昊", "感谢分享")
    c.say("22:50:00", "刘洋", "@郭晓 老师，readinessProbe 和 livenessProbe 有什么区别？")
    c.say("22:53:00", "郭晓", "@刘洋 readiness 决定流量进不进来，liveness 决定要不要重启容器，两个都要配")
    ws = _workspace_with(tmp_path, c)
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(main, ["-w", str(ws), *args])
        assert result.exit_code == 0, result.output
        return result.output

    run("stage", "ingest", "extract", "talks", "publish", "-q")
    [t] = [json.loads(line) for line in run("talks", "--json").splitlines()]
    assert (t["day"], t["start"], t["end"], t["speaker_name"], t["title"]) == (
        "2024-03-08", "22:00", "22:40", "郭晓", "线上故障复盘")
    assert t["messages"] == len(LECTURE) + 2 and t["qas"] == 1 and t["left_out"]["signin"] == 2
    assert len(t["message_ids"]) == t["messages"]
    page = (ws / "site" / "talks" / f"{t['id']}.html").read_text(encoding="utf-8")
    assert "线上故障复盘" in page and "readiness 决定流量进不进来" in page and "主讲人" in page
    assert t["id"] in {d["i"] for d in BrowserIndex(ws / "site").docs}
    assert "线上故障复盘" in (ws / "site" / "talks" / "index.html").read_text(encoding="utf-8")

    # A book chapter made of the talk.
    manifest = tmp_path / "book.toml"
    run("book", "init", "--out", str(manifest))
    assert t["id"] in manifest.read_text(encoding="utf-8")  # offered in a comment
    with manifest.open("a", encoding="utf-8") as f:
        f.write(f'\n[[chapters]]\ntitle = "故障复盘"\ntalk = "{t["id"]}"\n')
    run("book", "build", "--manifest", str(manifest), "--format", "md", "--out", str(tmp_path / "book"))
    book = (tmp_path / "book" / "book.md").read_text(encoding="utf-8")
    assert "第1章 故障复盘" in book and "主讲：郭晓" in book and "readiness 决定流量进不进来" in book
    assert "郭晓：第1章 故障复盘" in book  # the speaker is credited in the index

    # Curation by stable id survives the next run.
    first = t["message_ids"][1]
    run("talks", "title", t["id"], "一次线上故障的复盘")
    run("talks", "remove", t["id"], first)
    run("stage", "talks", "-q")
    [t2] = [json.loads(line) for line in run("talks", "--json").splitlines()]
    assert t2["id"] == t["id"] and t2["title"] == "一次线上故障的复盘" and first not in t2["message_ids"]
    run("stage", "segment", "embed", "thread", "publish", "-q")
    site_text = lambda: "".join(p.read_text(encoding="utf-8") for p in (ws / "site").rglob("*.html"))  # noqa: E731
    assert LECTURE[3] in site_text()  # the conversation pages quote the talk too
    run("talks", "hide", t["id"])
    run("stage", "talks", "publish", "-q")
    assert run("talks", "--json") == ""
    assert t["id"] in run("talks", "--all")
    assert not (ws / "site" / "talks" / f"{t['id']}.html").exists()
    assert LECTURE[3] not in site_text()  # hidden everywhere, conversation pages included
    bad = runner.invoke(main, ["-w", str(ws), "talks", "title", "k123", "x"])
    assert bad.exit_code == 1 and "not a talk id" in bad.output
    bad = runner.invoke(main, ["-w", str(ws), "talks", "add", t["id"], "no-such-message"])
    assert bad.exit_code == 1 and "talk's chat" in bad.output

    # The same decisions from the review page's endpoint (`chendian serve`, POST /api/curate), by talk id.
    import threading
    import urllib.error
    import urllib.request

    from chendian.search.api import make_server

    run("stage", "index", "-q")
    server = make_server(ws, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def curate(body: dict) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{server.server_address[1]}/api/curate",
                                         data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code

    try:
        assert curate({"entry": t["id"], "action": "talk-unhide"}) == 200
        assert curate({"entry": t["id"], "action": "talk-title", "value": "故障复盘（修订）"}) == 200
        assert curate({"entry": "k" + "0" * 20, "action": "talk-hide"}) == 404
        assert curate({"entry": t["id"], "action": "talk-title", "value": 3}) == 400
    finally:
        server.shutdown()
        server.server_close()
    run("stage", "talks", "-q")
    [t3] = [json.loads(line) for line in run("talks", "--json").splitlines()]
    assert t3["title"] == "故障复盘（修订）"


def test_a_talk_given_in_voice_messages():
    """Many evening talks are spoken: dozens of voice messages between a few typed lines and slides."""
    from chendian.model import VOICE

    c = Chat()
    c.say("19:40:00", "周敏", "今晚 20:00 语音分享，主讲人胡斌，主题《支付系统的对账设计》")
    c.say("20:00:00", "胡斌", "大家好，我是胡斌，今天用语音给大家分享一下支付系统的对账设计")
    t = datetime.fromisoformat("2024-03-07T20:01:00")
    for i in range(24):
        if i % 6 == 0:
            c.say(t.strftime("%H:%M:%S"), "胡斌", "", IMAGE)
        c.say(t.strftime("%H:%M:%S"), "胡斌", "[语音]", VOICE)
        if i == 10:
            c.say((t + timedelta(seconds=30)).strftime("%H:%M:%S"), "吴昊", "听着呢，继续")
        t += timedelta(minutes=2)
    c.say(t.strftime("%H:%M:%S"), "胡斌", "今天就分享到这里，谢谢大家")
    c.say((t + timedelta(minutes=1)).strftime("%H:%M:%S"), "吴昊", "感谢分享")
    talks, _ = _talks(c)
    assert [(x.speaker, x.title) for x in talks] == [("胡斌", "支付系统的对账设计")]
    blocks = article_blocks(talks[0], {m.id: m for m in c.messages})
    assert [b.kind for b in blocks].count("voice") == 24 and all(b.text == "" for b in blocks if b.kind == "voice")


def test_an_announcement_in_plain_words_names_the_talk():
    """「今晚8点由胡斌为大家分享支付风控实践」: no 《》 and no 主题, still the talk's title."""
    c = Chat()
    c.say("12:00:00", "周敏", "今晚8点由胡斌为大家分享支付风控实践，欢迎大家准时参加")
    c.lecture("胡斌", "20:00:00", ["大家好，我是胡斌"] + LECTURE + ["以上，谢谢大家"], every_minutes=3)
    talks, _ = _talks(c)
    assert [(t.speaker, t.title, t.title_source) for t in talks] == [("胡斌", "支付风控实践", "announcement")]


def test_the_speakers_own_lines_are_no_questions_for_the_faq(tmp_path):
    # "大家好，我是郭晓，今天给大家复盘…" opens the lecture, and a lecture line may ask in form ("…为什么…"): asked
    # of nobody, they are worth no entry and never wait on the 待回答 list; the listener's question stays.
    from chendian.summarize.talks import lecture_questions

    c = Chat(day="2024-03-08")
    c.say("21:00:00", "周敏", "今晚 22:00 线上分享，主讲人郭晓，主题《线上故障复盘》，记得签到")
    c.lecture("郭晓", "22:00:00", ["大家好，我是郭晓，今天给大家讲讲线上故障为什么总在发布后出现"] + LECTURE,
              every_minutes=3)
    c.say("22:40:00", "郭晓", "以上就是今天的分享，谢谢大家")
    c.say("22:50:00", "刘洋", "@郭晓 老师，readinessProbe 和 livenessProbe 有什么区别？")
    ws_root = _workspace_with(tmp_path, c)
    result = CliRunner().invoke(main, ["-w", str(ws_root), "stage", "ingest", "extract", "talks", "faq", "-q"])
    assert result.exit_code == 0, result.output
    from chendian.store import Workspace

    ws = Workspace(ws_root)
    try:
        qas = ws.qas(warn=print)
        lecture = lecture_questions(qas, ws.talks(warn=print))
        opening = [q for q in qas if q.question.startswith("大家好，我是郭晓")]
        assert opening and {q.id for q in opening} <= lecture  # extract reads it as a question; the talk does not
        worth = {r["qa_id"]: r["worthy"] for r in ws.db.execute(
            "SELECT m.qa_id, e.worthy FROM faq_members m JOIN faq_entries e ON e.id = m.entry_id")}
        assert all(worth[q] == 0.0 for q in lecture)
        listener = [q.id for q in qas if "readinessProbe" in q.question]
        assert listener and listener[0] not in lecture and worth[listener[0]] > 0
    finally:
        ws.close()
