"""Precision first: FAQ-worthiness, non-answers, confidence, publish modes, and `chendian eval faq` scoring."""

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from chendian.eval.faq import score_faq
from chendian.model import QA, Answer, FaqAnswer, conversation_id
from chendian.schema import create_tables
from chendian.summarize.qa import worthy
from chendian.summarize.qa.answer_type import answer_type_mismatch
from chendian.summarize.qa.faq import (Entry, answer_fit, answer_relevance, asks_back, entry_confidence, is_non_answer,
                                      publishable, question_worthiness)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "threads"


def test_non_answers_are_recognised_and_real_answers_are_not():
    # wechat-dev: "没看懂" was shown as the answer to a question about how a wallet top-up should be booked
    # wechat-dev: "没用过" answered a question asking whether anyone had built a project on a blockchain platform
    for text in ("不知道", "应该是吧", "我也想知道", "同问", "+1", "不知道吖 ", "@王老师 同问[表情]", "没看懂", "听不懂了",
                 "不太明白", "没用过", "没接触过。"):
        assert is_non_answer(text), text
    for text in ("不知道的话去教务处问", "要上学信网查", "应该是6月", "可以", "没看懂的话去看文档第三节", "没用过，但听说要先申请"):
        assert not is_non_answer(text), text


def test_thanks_alone_answer_nothing():
    # qq-dev: "找到了，谢谢" (the asker thanking the link someone sent) was shown as the answer to that link's question
    for text in ("找到了，谢谢", "学到了", "好的谢谢老师", "收到[抱拳]", "谢谢\n原来如此", "不知道\n同问"):
        assert is_non_answer(text), text
    # a reply that goes on to say something answers; a bare yes may answer a yes/no question
    for text in ("谢谢，在教务处三楼", "我知道了，是在官网下载", "找到了在学信网", "嗯", "不太清楚你指哪个，是学号吗"):
        assert not is_non_answer(text), text


def test_a_self_contained_question_outranks_a_fragment_and_banter():
    def encode(texts):
        from chendian.summarize.text.embed import get_embedder
        return get_embedder(threads=2).encode(list(texts))

    asked = [(t, opens) for t in ("报销发票丢了怎么补办？", "这样的咩？", "外面还下雨么？哈哈哈") for opens in (False, True)]
    p = question_worthiness(asked, encode)
    for opens in (False, True):
        assert p[("报销发票丢了怎么补办？", opens)] > 0.5 > max(p[("这样的咩？", opens)], p[("外面还下雨么？哈哈哈", opens)])
    # the same words opening a conversation stand on their own more often than asked inside one
    assert all(p[(t, True)] > p[(t, False)] for t, _ in asked)


def test_a_question_opens_its_conversation_when_the_conversation_is_named_after_it():
    qa = QA(id="q1", chat="g", thread_id=conversation_id("g", "m7"), question_id="m7", question="发票丢了怎么办？",
            asker="u1", asker_name="U", ts=0)
    assert worthy.opens_conversation(qa)
    assert not worthy.opens_conversation(replace(qa, question_id="m9"))  # asked later in the same conversation
    assert not worthy.opens_conversation(replace(qa, thread_id=None))  # nothing threaded the chat


def test_weights_file_names_the_features_it_was_fitted_on():
    with np.load(worthy.WEIGHTS_FILE) as z:
        names = worthy.SURFACE_FEATURES + worthy.CONTEXT_FEATURES
        assert tuple(str(n) for n in z["surface_features"]) == names
        assert z["coef"].shape == (len(names) + int(z["vector_dim"]),)


def test_confidence_needs_a_worthy_question_and_a_sure_answer():
    def answer(score: float, acknowledged: bool = False) -> list[FaqAnswer]:
        return [FaqAnswer(Answer(["m1"], "u1", "U", "可以", score, acknowledged), "q1", "t1")]

    assert entry_confidence(0.9, answer(0.9)) == 0.9
    assert entry_confidence(0.9, answer(0.2)) == pytest.approx(0.36)
    assert entry_confidence(0.9, answer(0.2, acknowledged=True)) == 0.9
    assert entry_confidence(0.9, []) == 0.0
    # asked while another asker's question was open: the answer may be that one's, unless the asker thanked it
    assert entry_confidence(0.9, answer(0.9), {"q1"}) == pytest.approx(0.72)
    assert entry_confidence(0.9, answer(0.9, acknowledged=True), {"q1"}) == 0.9


def test_a_question_asked_just_after_another_askers_is_contested():
    from chendian.model import QA
    from chendian.summarize.qa.faq import contested_questions

    def qa(qid: str, asker: str, minute: float, chat: str = "g") -> QA:
        return QA(id=qid, chat=chat, thread_id=None, question_id=qid, question="?", asker=asker, asker_name=asker,
                  ts=int(1_500_000_000 + minute * 60))

    # wechat-dev: one member asked for a shared table of region names, and a minute later another asked what fee
    # rate people pay on their personal collection channels
    qas = [qa("a", "u1", 0), qa("b", "u2", 1), qa("c", "u2", 3), qa("d", "u2", 20), qa("e", "u3", 21, chat="other")]
    # b and c follow u1's question within 5 minutes; d comes long after; e is in another chat; a repeats nobody
    assert contested_questions(qas) == {"b", "c"}


def _encode(texts):
    from chendian.summarize.text.embed import get_embedder
    return get_embedder(threads=2).encode(list(texts))


# Questions of an office group with the replies that followed them; the last reply of each pair is off-topic.
REPLIES = [
    ("报销发票丢了怎么补办？", "发票丢了去财务处开遗失证明，再找开票单位补开一张"),
    ("年假怎么申请？", "在OA系统里提交请假单，选年假，部门经理审批就行"),
    ("新电脑的VPN怎么配置？", "装公司的VPN客户端，账号就是工号，密码和邮箱一样"),
    ("公积金提取要带哪些材料？", "身份证、购房合同和银行卡，去公积金中心窗口办"),
    ("打印机卡纸了怎么办？", "打开侧门把纸抽出来，别硬拽"),
    ("食堂几点开饭？", "中午11点半，晚上5点半"),
    ("会议室怎么预订？", "哈哈哈今天的奶茶真好喝"),
    ("请问工资条在哪看？", "楼下新开了一家咖啡店"),
]


def test_an_answer_about_something_else_fits_its_question_less_than_chance():
    relevance = answer_relevance(REPLIES, _encode)
    on_topic, off_topic = relevance[:6], relevance[6:]
    assert min(on_topic) > max(off_topic)
    assert max(off_topic) < 0.5 < min(on_topic)


def test_answer_fit_spares_acknowledged_quoted_and_yes_no_replies_and_halves_asking_back():
    def reply(text, score=0.6, acknowledged=False):
        return Answer(["m1"], "u1", "U", text, score, acknowledged)

    assert answer_fit("会议室怎么预订？", reply("周末有人一起去爬山吗"), 0.1) < 0.3
    assert answer_fit("会议室怎么预订？", reply("在OA里订"), 0.9) == 1.0
    assert answer_fit("会议室怎么预订？", reply("周末去爬山", acknowledged=True), 0.1) == 1.0
    # quoting the question shows whom a reply addresses, not that it answers
    assert answer_fit("会议室怎么预订？", reply("周末去爬山", score=0.97), 0.1) == 0.6
    assert answer_fit("会议室怎么预订？", reply("在OA里订", score=0.97), 0.9) == 1.0
    assert answer_fit("会议室怎么预订？", reply("你说的是哪一层？", score=0.97), 0.1) == 0.3
    assert answer_fit("平台代收商户货款属于二清吗？", reply("属于"), 0.1) == 1.0  # yes/no: no shared words needed
    assert answer_fit("会议室怎么预订？", reply("你问的是哪一层的会议室？"), 0.9) == 0.5
    # a reply that fits less is shown less sure
    sure = [FaqAnswer(reply("在OA里订"), "q1", "t1", fit=1.0)]
    unsure = [FaqAnswer(reply("周末去爬山"), "q1", "t1", fit=0.3)]
    assert entry_confidence(0.9, unsure) < 0.5 <= entry_confidence(0.9, sure)


@pytest.mark.parametrize("reply, asks", [
    # Replies shown as answers on qq-dev and wechat-dev that ask instead; question detection scores them below its bar.
    ("800啥时候回来", True),
    ("没有offer怎么谈", True),
    ("你能拉到几家上下游企业一起上同一条链么", True),
    ("等等，去年发的学生证现在是可以买学生票的吧？", True),
    ("可以的", False),
    ("拿那个病历本，看病就打折了吧", False),
    ("可以的，我们这边通道费率0.2%，具体看交易量", False),
    ("什么都不用带", False),
    # several messages: asking back only when each one asks, not an answer that opens with a question
    ("票据交换不是早就停了吗？\n它像一个本地清算网络 由人民银行牵头 各家本地银行接进来每天轧差", False),
    ("你说哪个？\n哪一层的会议室？", True),
])
def test_a_reply_asks_back_when_it_holds_any_question_form(reply, asks):
    assert asks_back(reply) is asks


def test_a_reply_that_only_half_asks_fits_half():
    def reply(text):
        return Answer(["m1"], "u1", "U", text, 0.6, False)

    # "800啥时候回来" scored below question detection's bar and was shown, fully fitting, under 图书馆几号开门吗
    assert answer_fit("知道学校图书馆几号开门吗？", reply("800啥时候回来"), 0.9) == 0.5
    assert answer_fit("知道学校图书馆几号开门吗？", reply("8号开门"), 0.9) == 1.0


def test_a_reply_that_only_says_its_author_never_used_it_fits_half():
    def reply(text):
        return Answer(["m1"], "u1", "U", text, 0.6, False)

    question = "支付宝能绑境外的万事达卡吗？绑了能转账不？"
    assert answer_fit(question, reply("本人穷，没用过万事达卡"), 0.9) == 0.5
    assert answer_fit("OpenWrt怎么样", reply("没用过OpenWrt"), 0.9) == 0.5
    # saying so, then answering, answers
    assert answer_fit("OpenWrt怎么样", reply("我没用过，不过听说官网有教程，照文档配置就行"), 0.9) == 1.0


@pytest.mark.parametrize("question, reply, kind", [
    ("请问浙大计财处办公室电话多少呢？", "明天老师们都在办公室吧[表情]", "number"),
    ("请问浙大计财处办公室电话多少呢？", "0571-88981234", None),
    ("医疗保险要多少钱？", "我记得不用交了啊", None),  # "none" is an amount
    ("学费什么时候交啊？", "交了的人都说很方便", "time"),
    ("学费什么时候交啊？", "开学前交", None),
    ("学费什么时候交啊？", "软件官网上好像有说", None),  # pointing to where it is written answers any kind
    ("学生证应该去哪里充磁呢？", "可以，我买了十一回家的票", "place"),
    ("学生证应该去哪里充磁呢？", "火车站售票窗口就行", None),
    ("能不能修改中行的预留手机号？", "不行", None),  # names a number, does not ask for one
])
def test_a_reply_must_hold_the_number_time_or_place_its_question_asks_for(question, reply, kind):
    assert answer_type_mismatch(question, reply) == kind


def test_a_reply_of_the_wrong_kind_fits_half_and_falls_below_the_publish_bar():
    def reply(text):
        return Answer(["m1"], "u1", "U", text, 0.9, False)

    wrong = answer_fit("计财处电话多少？", reply("明天老师们都在办公室吧"), 0.9)
    right = answer_fit("计财处电话多少？", reply("88981234，工作日打"), 0.9)
    assert (wrong, right) == (0.5, 1.0)
    # the asker's thanks do not make it hold a number: it may thank another reply
    thanked = Answer(["m1"], "u1", "U", "明天老师们都在办公室吧", 0.9, True)
    assert answer_fit("计财处电话多少？", thanked, 0.9) == 0.5
    assert entry_confidence(0.95, [FaqAnswer(reply("明天老师们都在办公室吧"), "q1", "t1", fit=wrong)]) < 0.5


def test_publish_modes():
    good, unsure = Entry("f1", confidence=0.8), Entry("f2", confidence=0.3)
    approved, hidden = Entry("f3", confidence=0.1, approved=True), Entry("f4", confidence=0.9, hidden=True)
    shown = {mode: {e.id for e in (good, unsure, approved, hidden) if publishable(e, mode, 0.5)}
             for mode in ("confident", "all", "approved")}
    assert shown == {"confident": {"f1", "f3"}, "all": {"f1", "f2", "f3"}, "approved": {"f3"}}


def test_an_older_workspace_gets_the_new_columns_on_open():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE faq_entries (id TEXT PRIMARY KEY, question TEXT, hidden INTEGER)")
    create_tables(db, ["faq_entries"])
    assert {"confidence", "published", "worthy"} <= {r[1] for r in db.execute("PRAGMA table_info(faq_entries)")}


def test_faq_scores_entries_merges_and_unanswered_as_users_see_them():
    labels = {
        "q1": {"question": True, "same_as": "q1", "worthy": True},
        "q2": {"question": True, "same_as": "q1", "worthy": True},
        "q3": {"question": True, "same_as": "q3", "worthy": False},
        "q4": {"question": True, "same_as": "q4", "worthy": True},
        "a1": {"answer_to": "q2"}, "a3": {"answer_to": "q3"}, "x": {},
    }
    entries = [
        {"source_question": "q1", "question_ids": ["q1", "q2"], "answer_ids": ["a1"], "published": True},  # right
        {"source_question": "q3", "question_ids": ["q3"], "answer_ids": ["a3"], "published": True},  # not worthy
        {"source_question": "q4", "question_ids": ["q4", "q3"], "answer_ids": ["x"], "published": False},  # held
    ]
    unanswered = [{"question_id": "q4"}, {"question_id": "q3"}]
    r = score_faq(labels, entries, unanswered)
    assert _without_ci(r["entry_precision"]) == {"count": 1, "of": 2, "value": 0.5}
    assert _without_ci(r["coverage"]) == {"count": 1, "of": 1, "value": 1.0}
    assert r["merge_precision"]["count"] == 1 and r["merge_precision"]["of"] == 2
    assert _without_ci(r["merge_recall"]) == {"count": 1, "of": 1, "value": 1.0}
    assert _without_ci(r["unanswered_precision"]) == {"count": 1, "of": 2, "value": 0.5}
    assert (r["entries_published"], r["entries_held"]) == (2, 1)
    # what let each wrong one down: the question (q3 is not worth an entry), not the answer; q3 is no open question
    assert r["entry_errors"] == {"not_a_question": 0, "not_worthy": 1, "wrong_answer": 0, "never_answered": 0}
    assert [e.get("wrong") for e in entries[:2]] == [None, "not_worthy"]
    assert r["unanswered_errors"] == {"not_a_question": 0, "not_worthy": 1, "answered": 0}


def test_a_wrong_entry_is_put_down_to_its_question_or_its_answer():
    labels = {
        "q1": {"question": True, "same_as": "q1", "worthy": True},
        "q2": {"question": True, "same_as": "q2", "worthy": True},
        "s": {"question": False},
        "a1": {"answer_to": "q1"}, "x": {},
    }
    entries = [
        {"source_question": "q1", "question_ids": ["q1"], "answer_ids": ["x"], "published": True},
        {"source_question": "q2", "question_ids": ["q2"], "answer_ids": ["x"], "published": True},
        {"source_question": "s", "question_ids": ["s"], "answer_ids": ["a1"], "published": True},
    ]
    r = score_faq(labels, entries, [{"question_id": "q1"}, {"question_id": "s"}, {"question_id": "q2"}])
    assert [e["wrong"] for e in entries] == ["wrong_answer", "never_answered", "not_a_question"]
    assert r["entry_errors"] == {"not_a_question": 1, "not_worthy": 0, "wrong_answer": 1, "never_answered": 1}
    # q1 was answered (a1): listing it as 待回答 means its answer was missed
    assert r["unanswered_errors"] == {"not_a_question": 1, "not_worthy": 0, "answered": 1}
    assert r["unanswered_precision"]["count"] == 1


def test_a_question_titled_from_its_second_message_is_judged_by_it():
    from chendian.eval.faq import shown_question_id

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE messages (id TEXT, chat TEXT, ts INTEGER, sender TEXT, text TEXT)")
    db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", [
        ("m1", "g", 100, "a", "群里有懂报销的大佬吗？"), ("m2", "g", 101, "a", "有个问题想问一下"),
        ("m3", "g", 110, "a", "差旅补贴是按出发日算，还是按返回日算？"),
        ("m4", "g", 120, "b", "差旅补贴是按出发日算，还是按返回日算？")])
    opener = {"question_id": "m1", "question": "群里有懂报销的大佬吗？\n差旅补贴是按出发日算，还是按返回日算？"}
    assert shown_question_id(db, opener) == "m3"  # the title starts at the question, and so does the judging
    both_ask = {"question_id": "m1", "question": "群里有懂报销的大佬吗？ 发票怎么开？\n差旅补贴按什么算？"}
    assert shown_question_id(db, both_ask) == "m1"  # the first message asks too: the title keeps it
    assert shown_question_id(db, {"question_id": "m2", "question": "有个问题想问一下"}) == "m2"


@pytest.mark.skipif(not (SHARED / "qq-dev.jsonl").exists(), reason="shared data not present")
def test_eval_faq_runs_the_pipeline_on_a_gold_file(tmp_path):
    from chendian.eval.faq import evaluate_faq

    result = evaluate_faq(SHARED / "qq-dev.jsonl", tmp_path / "pred.jsonl", with_qa=False)
    assert result["entries_published"] > 0 and result["entry_precision"]["of"] > 0
    assert (tmp_path / "pred.jsonl").read_text(encoding="utf-8").count('"kind": "entry"') > 0


def test_the_open_list_holds_one_item_per_need_and_nothing_an_entry_already_answers():
    from chendian.model import FaqEntry
    from chendian.summarize.qa.faq import off_the_open_list

    entries = [
        # 求问新美大C++投哪个岗？ asked twice, nobody answered: one item, the first asking
        FaqEntry(id="f1", question="求问新美大C++投哪个岗？", answer="", count=2, qa_ids=["q1", "q2"], worthy=0.9),
        # asked again later without a reply, but the entry shows the first asking's answer: it answers both
        FaqEntry(id="f2", question="代理商的返佣怎么结算？", answer="按流水返点", count=2, qa_ids=["q3", "q4"], worthy=0.9,
                 answered=True),
        FaqEntry(id="f3", question="在吗", answer="", count=1, qa_ids=["q5"], worthy=0.1),  # not worth an entry
        FaqEntry(id="f4", question="广告", answer="", count=1, qa_ids=["q6"], worthy=0.9, hidden=True),
        FaqEntry(id="f5", question="学生证怎么充磁？", answer="", count=1, qa_ids=["q7"], worthy=0.8),
    ]
    unanswered = {"q1", "q2", "q4", "q5", "q6", "q7"}
    left_out = off_the_open_list(entries, 0.5, unanswered)
    assert unanswered - left_out == {"q1", "q7"}


def _without_ci(ratio: dict) -> dict:
    return {k: v for k, v in ratio.items() if k != "ci95"}


@pytest.mark.parametrize("num,den", [(35, 56), (4, 4), (0, 10), (13, 23), (1, 1), (148, 148)])
def test_eval_ratios_carry_their_wilson_interval(num, den):
    from scipy.stats import binomtest

    from chendian.eval.faq import _ratio, format_ratio

    r = _ratio(num, den)
    expected = binomtest(num, den).proportion_ci(method="wilson")
    assert r["ci95"] == pytest.approx([expected.low, expected.high], abs=0.0006)
    assert r["ci95"][0] <= r["value"] <= r["ci95"][1]
    assert format_ratio(r).endswith(f"({num}/{den}; 95% {100 * r['ci95'][0]:.1f}–{100 * r['ci95'][1]:.1f})")
    assert _ratio(0, 0)["ci95"] is None and format_ratio(_ratio(0, 0)).strip() == "—"
