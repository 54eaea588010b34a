"""Issue 15: each insights rule on a hand-made chat, and the report end to end on tests/fixtures/insights."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from click.testing import CliRunner

from chendian.cli import main
from chendian.model import QA, Answer, Message
from chendian.summarize.qa.insights import (PointRules, answer_points, correction_phrase, find_superseded, iso_week,
                                            nearest_rank, responses, suggest_experts, summarize_responses)

from conftest import FIXTURES

SH = ZoneInfo("Asia/Shanghai")
T0 = int(datetime(2016, 9, 12, 9, 0, tzinfo=SH).timestamp())  # Monday of 2016-W37


def qa(qa_id, question, asker, ts, *answers, chat="c", thread=None):
    return QA(qa_id, chat, thread, f"{qa_id}-q", question, asker, asker, ts, list(answers))


def answer(sender, *ids, text="答", acknowledged=False):
    return Answer(list(ids), sender, sender, text, 1.0, acknowledged)


# -- response -----------------------------------------------------------------------------------------------

def test_time_to_first_answer_is_the_earliest_answer_message_minus_the_question():
    qas = [qa("a", "怎么报销？", "u1", T0, answer("u2", "m2"), answer("u3", "m1")),  # m1 is the earlier answer
           qa("b", "会议室？", "u1", T0 + 3600, answer("u2", "m3")),
           qa("c", "食堂？", "u1", T0 + 7200)]
    ts = {"m1": T0 + 600, "m2": T0 + 1800, "m3": T0 + 3600 + 30 * 3600}
    rows = responses(qas, ts, SH)
    assert [r.seconds for r in rows] == [600, 30 * 3600, None]
    assert {r.week for r in rows} == {"2016-W37"}
    s = summarize_responses(rows, within_hours=24)
    assert (s.asked, s.answered, s.answered_within) == (3, 2, 1)
    assert s.share_within == pytest.approx(1 / 3)  # the unanswered one is not answered in time either
    assert s.median_seconds == 600 and s.p90_seconds == 30 * 3600
    assert summarize_responses(rows, within_hours=48).answered_within == 2  # configurable


def test_nearest_rank_percentiles_and_iso_weeks():
    assert nearest_rank(list(range(1, 11)), 0.9) == 9 and nearest_rank([5], 0.9) == 5 and nearest_rank([], 0.5) is None
    # Sunday 23:30 in Shanghai is still week 37 there, though it is Sunday 15:30 UTC too
    assert iso_week(int(datetime(2016, 9, 18, 23, 30, tzinfo=SH).timestamp()), SH) == "2016-W37"
    assert iso_week(int(datetime(2016, 9, 18, 16, 30, tzinfo=timezone.utc).timestamp()), SH) == "2016-W38"


# -- who would know -------------------------------------------------------------------------------------------

VECTORS = {"报销发票怎么交": [1, 0, 0], "报销要贴发票吗": [0.95, 0.3, 0], "差旅报销流程": [0.8, 0.6, 0],
           "会议室怎么订": [0, 1, 0], "停车位怎么申请": [0, 0, 1]}


def fake_encode(texts):
    return np.array([VECTORS[t] for t in texts], dtype=np.float32)


def test_experts_are_those_who_answered_similar_questions_weighted_by_topic():
    past = [qa("p1", "报销要贴发票吗", "u9", T0, answer("laoli", "x1")),
            qa("p2", "差旅报销流程", "u8", T0, answer("afang", "x2")),
            qa("p3", "会议室怎么订", "u7", T0, answer("xiaozhao", "x3"))]
    open_q = [qa("o1", "报销发票怎么交", "u1", T0 + 86400), qa("o2", "停车位怎么申请", "u1", T0 + 86400)]
    found = suggest_experts(open_q, past, fake_encode, {}, min_similarity=0.5, same_topic_weight=1.5)
    assert [e.sender for e in found["o1"]] == ["laoli", "afang"]  # the meeting-room answerer is not similar
    assert found["o1"][0].similar_qa_ids == ["p1"]
    assert "o2" not in found  # nobody answered anything like it: no guess
    # the same topic counts more: afang's question shares the open question's topic and overtakes laoli
    topics = {"o1": "k1", "p2": "k1", "p1": "k2"}
    ranked = suggest_experts(open_q, past, fake_encode, topics, min_similarity=0.5, same_topic_weight=1.5)
    assert [e.sender for e in ranked["o1"]] == ["afang", "laoli"]


def test_the_asker_is_never_suggested_to_themself():
    past = [qa("p1", "报销要贴发票吗", "u9", T0, answer("u1", "x1"))]
    assert suggest_experts([qa("o1", "报销发票怎么交", "u1", T0)], past, fake_encode, {},
                           min_similarity=0.5, same_topic_weight=1.5) == {}


# -- recognition ----------------------------------------------------------------------------------------------

def test_points_favour_acknowledged_and_reused_answers_over_message_volume():
    qas = [qa("a", "q", "u1", T0, answer("talker", "m1", "m2", "m3", "m4", "m5")),  # five messages, one answer
           qa("b", "q", "u1", T0, answer("helper", "m6", acknowledged=True)),
           qa("c", "q", "u1", T0, answer("faq", "m7")),
           qa("d", "q", "u1", T0, answer("u1", "m8"))]  # answering oneself earns nothing
    rules = PointRules(answer=1, acknowledged=3, per_repeat=1, max_repeats=5)
    points = {p.sender: p.points for p in answer_points(qas, {"c": 4}, rules, SH)}
    assert points == {"talker": 1, "helper": 4, "faq": 4}  # faq: its entry was asked 4 times: 3 repeats
    capped = answer_points(qas, {"c": 40}, rules, SH)
    assert next(p for p in capped if p.sender == "faq").repeats == 5


# -- freshness ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["现在不用这样了", "已经改了，走新流程", "以新通知为准", "更正一下：是周五",
                                  "刚才说错了，是三楼", "以最新通知为准"])
def test_correction_phrases(text):
    assert correction_phrase(text)


@pytest.mark.parametrize("text", ["已经改了吗？", "以新通知为准吗", "好的谢谢", "这个规定改了很多次"])
def test_not_corrections(text):
    assert correction_phrase(text) is None


def message(mid, minutes, sender, text, reply_to=None, chat="c"):
    return Message(mid, chat, datetime.fromtimestamp(T0, SH) + timedelta(minutes=minutes), sender, sender, "text",
                   text, "t:1", reply_to=reply_to)


def test_a_correction_supersedes_the_answer_it_quotes_its_conversation_or_its_senders_own():
    qas = [qa("a", "发票要贴吗", "u1", T0, answer("laoli", "a1")),
           qa("b", "会议室几楼", "u1", T0, answer("afang", "b1")),
           qa("c", "食堂几点", "u1", T0, answer("xz", "c1"))]
    msgs = [message("a1", 1, "laoli", "要贴"), message("b1", 2, "afang", "二楼"), message("c1", 3, "xz", "六点"),
            message("n1", 60, "boss", "以新通知为准，不用贴了", reply_to="a1"),  # quotes laoli's answer
            message("n2", 70, "afang", "刚才说错了，是三楼"),  # afang corrects herself
            message("n3", 80, "u5", "已经改了，七点开", )]  # in the canteen conversation
    found = find_superseded(qas, msgs, {"c1": "t3", "n3": "t3"}, window_hours=72)
    assert [(s.qa_id, s.answer_message_id, s.by_message_id) for s in found] == [
        ("a", "a1", "n1"), ("b", "b1", "n2"), ("c", "c1", "n3")]
    # outside the window and in no shared conversation, a self-correction supersedes nothing
    late = [message("b1", 2, "afang", "二楼"), message("n2", 60 * 100, "afang", "刚才说错了，是三楼")]
    assert find_superseded(qas, late, {}, window_hours=72) == []


# -- the report, end to end on a hand-made chat ---------------------------------------------------------------

@pytest.fixture(scope="module")
def fixture_workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("insights") / "W"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(ws)]).exit_code == 0
    shutil.copy(FIXTURES / "insights" / "报销答疑群.txt", ws / "inbox")
    result = runner.invoke(main, ["-w", str(ws), "run", "-q"])
    assert result.exit_code == 0, result.output
    return ws


def test_report_json_on_the_hand_made_chat(fixture_workspace):
    result = CliRunner().invoke(main, ["-w", str(fixture_workspace), "report", "--week", "2016-W37", "--json"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert r["week"] == "2016-W37" and r["answer_within_hours"] == 24
    # by hand: 小王 asked at 9:00, 老李 answered at 9:30 (30 min); 小赵 14:00 → 阿芳 16:00 (120 min)
    t = r["totals"]
    assert (t["answered"], t["median_minutes"], t["p90_minutes"]) == (2, 30.0, 120.0)
    # 小孙 asked on Thursday 9:00, the newest message: unanswered, 0 hours old; 老李 answered the like question
    open_q = next(u for u in r["unanswered"] if "怎么交" in u["question"])
    assert open_q["age_hours"] == 0 and open_q["experts"][0]["name"] == "老李"
    # 老李's answer was acknowledged (谢谢老李): 1 + 3 points
    assert r["top_contributors"][0] == {"name": "老李", "points": 4.0, "answers": 1, "acknowledged": 1, "repeats": 0,
                                      "level": "新手"}  # 4 points: under 热心群友 (5)
    (s,) = r["superseded"]
    assert s["answerer"] == "老李" and s["phrase"] == "以新通知为准" and s["superseded_at"].startswith("2016-09-14T11:00")
    assert sum(r["activity"]["by_weekday"].values()) == r["activity"]["messages"] == 8
    assert sum(b["count"] for b in r["response_time_distribution"]) == t["asked"]


def test_report_text_and_a_bad_week(fixture_workspace):
    result = CliRunner().invoke(main, ["-w", str(fixture_workspace), "report"])
    assert result.exit_code == 0 and "2016-W37" in result.output and "可以问：老李" in result.output
    bad = CliRunner().invoke(main, ["-w", str(fixture_workspace), "report", "--week", "2016-37"])
    assert bad.exit_code == 1 and "ISO week" in bad.output


def test_site_report_page_charts_and_freshness(fixture_workspace):
    site = fixture_workspace / "site"
    html = (site / "report.html").read_text(encoding="utf-8")
    assert html.count('<svg class="chart"') == 4
    assert html.count("<desc id=") == 4 and html.count("<summary>文字版</summary>") == 4  # a text alternative each
    assert "最高：周一（5 条）" in html  # Monday: the first five messages of the chat
    assert "以新通知为准" in html and "可以问：" in html
    assert "谁可能知道" in (site / "ops.html").read_text(encoding="utf-8")
    pages = {p.name: p.read_text(encoding="utf-8") for p in (site / "entries").glob("*.html")}
    corrected = [h for h in pages.values() if "更正过这条答案" in h]
    assert len(corrected) == 1 and "截至 2016-09-12" in corrected[0] and "已被更正（2016-09-14）" not in corrected[0]
