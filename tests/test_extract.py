"""Question detection and answer linking on realistic Chinese group chat."""

from pathlib import Path

import pytest

from chendian.eval.qa import read_gold_messages
from chendian.summarize.qa import extract

FIXTURE = Path(__file__).parent / "fixtures" / "qa" / "office-chat.jsonl"


@pytest.mark.parametrize("text", [
    "请问报销流程怎么走？", "有人知道VPN怎么连吗", "学生证丢了怎么办。。。", "去宁波还是杭州", "导师申请表要贴照片么",
    "求推荐一本入门Python的书", "学费可以延迟交咩？最近没钱", "年假需要提前几天申请?", "打印机卡纸了怎么弄",
    "有没有人知道测试库怎么连", "你看看有没有人知道",
    # A-not-A "是不是…？" asks; only "不是…吗？" expects agreement
    "这周建设银行是不是暂停代付了？", "预收类的科目，期末是不是应该挂贷方？",
    "我想问问大家报销怎么弄", "“二清”是什么意思？",
    "哪位做过这种退款对账", "可能没赶上，哪位有录屏", "还有个问题，按外包付款会不会有社保补缴的风险",
])
def test_real_questions_are_detected(text):
    assert extract.is_question(text), extract.question_features(text)


@pytest.mark.parametrize("text", [
    "吃了吗", "在吗？", "大家早上好[表情]", "难道不是周五发工资吗？", "不要黑了好吗", "？", "一号楼？",
    "今天天气真好啊", "哈哈哈哈哈", "请问各位老师", "各位大侠，咨询个问题", "谁吃谁知道，哈哈", "要不我们去上海？",
    # instructions with an indirect question in them: answers, not questions
    "日志平台按服务名查，查不到先看采集 agent 有没有装", "检查一下证书是不是过期了",
    # told to ask someone, or saying one will; "any-" after 无论; someone else's question in quotes
    "退款进度可以问问财务和客服", "我问问他", "你无论点进哪个页面，都会弹出会员提示",
    "抱歉，刚才一直在开会，漏看了“换了套餐，有啥变化？”", "每天去交费平台看看吧，什么时候可以交。",
    "如果你想了解JAVA开发在阿里巴巴互联网生态系统中无与伦比的应用广度与深度，欢迎加入我们，想和最优秀的工程师团队并肩作战吗？"
    "我们提供有竞争力的薪酬、弹性工作时间、免费三餐和班车，岗位包括后端开发、前端开发、算法、测试等，投递简历请发送至邮箱",
])
def test_chitchat_rhetorical_and_greetings_are_not_questions(text):
    assert not extract.is_question(text), extract.question_features(text)


@pytest.mark.parametrize("text", ["去宁波还是杭州", "在工作日还是周末", "6位数，是按月结还是按季结。。", "报表是由前端拼出来的还是后台算好的"])
def test_a_choice_between_two_things_asks_without_a_question_mark(text):
    assert extract.question_features(text).alternative and extract.is_question(text), extract.question_features(text)


def test_what_the_difference_is_and_how_it_is_done_ask():
    # "what is the difference", "how is it done" ask without a question mark; "no difference" states
    for text in ["还没细看，新版和旧版的接口有什么区别", "Redis 6和7在持久化上有啥不一样", "这家是怎么做到手续费这么低的",
                 "我们用什么工具管理需求呢（看板，缺陷，wiki）"]:
        assert extract.is_question(text), (text, extract.question_features(text))
    for text in ["两个版本其实没什么区别", "感觉用起来没啥不一样"]:
        assert not extract.is_question(text), (text, extract.question_features(text))


def test_a_question_reported_as_asked_is_someone_elses():
    text = "关于你问的“手续费是怎么做到这么低的”，这是跟渠道方签的优惠价，走量才给"
    assert not extract.is_question(text), extract.question_features(text)
    assert extract.is_question("手续费是怎么做到这么低的")


@pytest.mark.parametrize("text", [
    # 还是 as "still", "after all", "had better": statements, however 还是 sits in them
    "之前用的是旧版驱动，也卡过一回30s，后来换成连接池还是偶尔超时", "本来想发表情，想想还是发了", "我感觉还是转开发吧",
    "老家那边网购没这么普及，很多人还是习惯去超市", "方案最终还是回到老架构", "这个市场的盘子还是小了",
    "不管是银联还是amex", "计提折旧应该看资产类别是房屋还是设备",
])
def test_still_and_had_better_are_not_a_choice(text):
    assert not extract.question_features(text).alternative, extract.question_features(text)
    assert not extract.is_question(text), extract.question_features(text)


@pytest.mark.parametrize("text", [
    "我们就是接接外包项目啥的，跟大佬们没法比！", "我这水平还不够格去你们那实习 大神求带",  # 大神/大佬 named, nothing asked
    "这要看你们部署在哪个region", "要看压测的目的，是不是得跟线上数据分开。",  # it depends on…: an answer
    "到哪里都是人挤人，普通号根本抢不到", "想加多少班就加多少班",  # a question word as "any-"
    "那些网贷平台用的不就是同一个套路吗。", "这不已经在排期呢嘛", "点审核就好了嘛。",  # rhetorical, emphatic 嘛
])
def test_statements_shaped_like_questions_are_not_questions(text):
    assert not extract.is_question(text), extract.question_features(text)


def test_the_space_wechat_puts_after_a_mention_is_no_question_mark():
    # exported as "?": after a closing mention it asks nothing; a typed question mark still asks
    for text in ("你们北京房价太高了，怕攒的钱不够付首付啊@成员028?", "按规定比例代扣社保。@某人?@成员062?@成员060?"):
        assert not extract.is_question(text), extract.question_features(text)
    for text in ("这种预付款在甲方或乙方怎么记？@成员028?", "@成员046?昨晚的问题，司机的钱怎么做账？", "周五谁去开会@成员028??",
                 "周五谁去开会@成员028？"):
        assert extract.is_question(text), extract.question_features(text)


def test_a_red_packet_notice_is_no_message_but_talk_about_red_packets_is():
    from datetime import datetime, timezone

    from chendian.model import Message

    def msg(i, text):
        return Message(chat="c", id=str(i), time=datetime(2024, 3, 1, 9, i, tzinfo=timezone.utc), sender=f"u{i}",
                       sender_name=f"U{i}", text=text, kind="text", source=f"chat.txt:{i}")

    assert not extract.is_usable(msg(1, "微信红包")) and not extract.is_usable(msg(2, "张三领取了你的红包"))
    asked = msg(3, "QQ绑了海外mastercard，不能用来抢红包或者充值么？")
    assert extract.is_usable(asked) and extract.is_question(asked.text)


def test_baseline_is_the_plain_rule():
    assert extract.baseline_is_question("吃了吗") and extract.baseline_is_question("真的？")
    assert not extract.baseline_is_question("学生证丢了怎么办")


def test_extract_links_answers_merges_runs_and_credits():
    messages, _ = read_gold_messages(FIXTURE)
    qas = {qa.question_id: qa for qa in extract.extract_qas(messages)}
    assert set(qas) == {"1", "7", "12", "15", "18", "21", "24", "27", "29", "32"}
    first = qas["1"]
    assert first.asker == "u1" and first.asker_name == "张伟"
    assert first.id == extract.stable_id("1", prefix="q")
    # 李娜's two consecutive messages are one answer, acknowledged by the asker's 谢谢.
    assert [a.message_ids for a in first.answers] == [["2", "3"]]
    assert first.answers[0].sender_name == "李娜" and first.answers[0].acknowledged
    assert first.answer_to == {"2": "1", "3": "1"}
    assert qas["7"].answers[0].message_ids == ["8"] and qas["7"].answers[0].acknowledged
    # Chit-chat after the Q&A is not an answer of anything.
    linked = {m for qa in qas.values() for m in qa.answer_to}
    assert not linked & {"4", "5", "6", "10", "11", "17", "31"}


def test_explicit_reply_beats_distance(tmp_path):
    messages, _ = read_gold_messages(FIXTURE)
    by_id = {m.id: m for m in messages}
    # 宋佳 quotes the 报销 question of day 1 a week later: the quote links it despite the distance.
    by_id["33"].reply_to = "1"
    qas = {qa.question_id: qa for qa in extract.extract_qas(messages)}
    assert qas["1"].answer_to.get("33") == "1"


def test_mentions_match_display_names_without_numbers():
    assert extract.name_key("成员001(6304919105)") == "成员001"
    assert extract.name_key("成员002<member001@example.com>") == "成员002"


def test_system_and_recalled_messages_are_never_answers():
    messages, _ = read_gold_messages(FIXTURE)
    by_id = {m.id: m for m in messages}
    by_id["2"].text = "李娜撤回了一条消息"
    by_id["3"].recalled = True
    qas = {qa.question_id: qa for qa in extract.extract_qas(messages)}
    assert "2" not in qas["1"].answer_to and "3" not in qas["1"].answer_to
    # a WeChat dump that could not read a message's content leaves its sender prefix alone
    messages, _ = read_gold_messages(FIXTURE)
    next(m for m in messages if m.id == "2").text = "wxid_a1b2c3d4e5f6:"
    qas = {qa.question_id: qa for qa in extract.extract_qas(messages)}
    assert "2" not in qas["1"].answer_to


def test_the_reply_to_thanks_is_not_part_of_the_answer():
    # qq-dev: "华为在哪里招，玉泉还是宁波" → "前者", the asker thanks, the answerer says "客气"
    from datetime import datetime, timedelta, timezone

    from chendian.model import Message

    t0 = datetime(2016, 8, 18, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    lines = [("a", "华为在哪里招，玉泉还是宁波"), ("b", "前者"), ("a", "谢谢成员001"), ("b", "客气")]
    messages = [Message(id=str(i), chat="g", time=t0 + timedelta(seconds=30 * i), sender=who, sender_name=who,
                        kind="text", text=text, source=f"chat.txt:{i}") for i, (who, text) in enumerate(lines, 1)]
    (qa,) = extract.extract_qas(messages)
    assert [a.message_ids for a in qa.answers] == [["2"]] and qa.answers[0].acknowledged


@pytest.mark.parametrize("lines, answered", [
    # another need asked next answers nothing (wechat-dev); a "+1" copy of the question neither
    ([("a", "谁有银行网点对应城市的数据表？"), ("b", "一般小型创业公司如何处理分账结算的难题啊？监管不许沉淀资金")], False),
    ([("a", "RVPN有人有账号密码吗？求借"), ("b", "RVPN有人有账号密码吗？求借")], False),
    # an answer that happens to ask, about the question's own words, is still one
    ([("a", "国内的银行开放这类查询接口么？"),
      ("b", "我记得银行对微信开放了一个查询接口叫账户状态接口，不过具体返回哪些字段想不起来了。")], True),
])
def test_a_question_of_its_own_is_no_answer(lines, answered):
    from datetime import datetime, timedelta, timezone

    from chendian.model import Message

    t0 = datetime(2018, 1, 2, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    messages = [Message(id=str(i), chat="g", time=t0 + timedelta(seconds=30 * i), sender=who, sender_name=who,
                        kind="text", text=text, source=f"chat.txt:{i}") for i, (who, text) in enumerate(lines, 1)]
    # one conversation, the reply predicted to follow the question: only what it says decides
    qas = extract.extract_qas(messages, {m.id: "t" for m in messages}, {"2": "1"})
    qa = next(qa for qa in qas if qa.question_id == "1")
    assert bool(qa.answer_to) == answered, qa.answers


@pytest.mark.parametrize("question, who, reply, linked", [
    ("问一下，学生证可以办公交卡吗？", "d", "学生证办不了公交卡，只有中小学生可以办", True),  # says its words again, 3 on
    ("问一下，学生证可以办公交卡吗？", "d", "晚上一起去吃火锅吧", False),  # says none of them
    ("2016级的学生证还能用吗？", "d", "2017年的新闻了", False),  # a year is no word of the question
    # someone already talking since the question (a lecture, their own thread) repeats its words without answering
    ("问一下，学生证可以办公交卡吗？", "b", "学生证办不了公交卡，只有中小学生可以办", False),
])
def test_an_unanswered_question_takes_a_later_reply_that_says_its_words(question, who, reply, linked):
    from datetime import datetime, timedelta, timezone

    from chendian.model import Message

    t0 = datetime(2016, 9, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    lines = [("a", question), ("b", "哈哈哈哈"), ("c", "666"), (who, reply)]
    messages = [Message(id=str(i), chat="g", time=t0 + timedelta(minutes=2 * i), sender=who, sender_name=who,
                        kind="text", text=text, source=f"chat.txt:{i}") for i, (who, text) in enumerate(lines, 1)]
    (qa,) = extract.extract_qas(messages, {m.id: "t" for m in messages}, {})
    assert ("4" in qa.answer_to) == linked, qa.answers
    if linked:  # at the lowest linked probability: it waits for review rather than being published as sure
        assert qa.answers[0].score <= extract.ANSWER_THRESHOLD + 1e-9


@pytest.mark.parametrize("lines, answer", [
    # a link, then what it is for: the turn answers, from the link on
    ([("a", "怎样查自己交了学费没？"), ("b", "哈哈哈哈"), ("d", "http://pay.example.edu.cn/payment/login.jsp"),
      ("d", "查询学费是否交了用这个，初始密码是身份证后六位")], {"3", "4"}),
    # the same words said only in a later turn of the sender (someone else spoke between): no answer
    ([("a", "怎样查自己交了学费没？"), ("b", "哈哈哈哈"), ("d", "http://pay.example.edu.cn/payment/login.jsp"),
      ("c", "666"), ("d", "查询学费是否交了用这个，初始密码是身份证后六位")], set()),
    # a turn opened by a sticker is no answer, whatever follows it
    ([("a", "怎样查自己交了学费没？"), ("b", "哈哈哈哈"), ("d", "[捂脸]"),
      ("d", "查询学费是否交了用这个，初始密码是身份证后六位")], set()),
])
def test_the_words_fallback_takes_a_first_turn_from_its_first_message(lines, answer):
    from datetime import datetime, timedelta, timezone

    from chendian.model import Message

    t0 = datetime(2016, 9, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    messages = [Message(id=str(i), chat="g", time=t0 + timedelta(minutes=i), sender=who, sender_name=who,
                        kind="text", text=text, source=f"chat.txt:{i}") for i, (who, text) in enumerate(lines, 1)]
    (qa,) = extract.extract_qas(messages, {m.id: "t" for m in messages}, {})
    assert set(qa.answer_to) == answer, qa.answers


def test_a_link_alone_is_a_reply_not_filler():
    # "有这个平台的官网吗？" → "https://…": the link is the answer; stripped of its URL the message looked empty,
    # and an empty message was filler
    from datetime import datetime, timedelta, timezone

    from chendian.model import Message

    t0 = datetime(2017, 12, 19, 10, 0, tzinfo=timezone(timedelta(hours=8)))
    lines = [("a", "有这个平台的官网吗？"), ("b", "https://www.example.com/help/index.html"), ("c", "[捂脸]")]
    messages = [Message(id=str(i), chat="g", time=t0 + timedelta(seconds=40 * i), sender=who, sender_name=who,
                        kind="text", text=text, source=f"chat.txt:{i}") for i, (who, text) in enumerate(lines, 1)]
    feats = {cid: f for cid, qid, f in extract.link_candidates(messages, {m.id: "t" for m in messages}, {"2": "1"})}
    assert feats["2"]["filler"] == 0.0 and feats["3"]["filler"] == 1.0
    (qa,) = extract.extract_qas(messages, {m.id: "t" for m in messages}, {"2": "1"})
    assert set(qa.answer_to) == {"2"}, qa.answers


def test_a_question_line_sent_twice_is_shown_once():
    from datetime import datetime, timedelta, timezone

    from chendian.model import Message

    t0 = datetime(2018, 1, 2, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    lines = [("a", "上线又翻车了，有人碰到过类似的情况吗？"), ("a", "上线又翻车了，有人碰到过类似的情况吗？"),
             ("a", "订单回调一直超时，怎么排查？")]
    messages = [Message(id=str(i), chat="g", time=t0 + timedelta(seconds=20 * i), sender=who, sender_name=who,
                        kind="text", text=text, source=f"chat.txt:{i}") for i, (who, text) in enumerate(lines, 1)]
    (qa,) = extract.extract_qas(messages, {m.id: "t" for m in messages}, {})
    assert qa.question_ids == ["1", "2", "3"]
    assert qa.question == "上线又翻车了，有人碰到过类似的情况吗？\n订单回调一直超时，怎么排查？"
