"""Issue 15: each insights rule on a hand-made chat, and the report end to end on tests/fixtures/insights."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
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
    assert open_q["repliers"] == 0  # the last message of the chat: nobody took it up (无人回复)
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
    assert "无人回复" in next(line for line in result.output.splitlines() if "怎么交" in line)
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


# -- members, teams, levels, KPI, roles, shares, staleness (each rule on hand-made input) ----------------------

from chendian.config import ConfigError, InsightsConfig  # noqa: E402
from chendian.summarize.qa.insights import (Activity, AnswerPoints, MembersError, RoleRules, level_for,  # noqa: E402
                                            parse_members, role_of, share_kind, shared_parts, shared_urls,
                                            stale_entries, name_without_team,
                                            team_from_name, team_of, team_standings, weekly_kpi)


def test_members_file_csv_and_toml():
    csv_text = "\ufeffid,职位,擅长领域,team\n10002,财务主管,报销、发票;差旅,财务\n小刘,数据分析师,,\n"
    m = parse_members(csv_text, "members.csv")
    assert m["10002"].expertise == ["报销", "发票", "差旅"] and m["10002"].team == "财务"
    assert m["小刘"].title == "数据分析师" and m["小刘"].expertise == [] and m["小刘"].team == ""
    toml_text = '[[member]]\nname = "老李"\n"擅长领域" = ["报销", "发票"]\nteam = "财务"\n'
    assert parse_members(toml_text, "members.toml")["老李"].expertise == ["报销", "发票"]


@pytest.mark.parametrize("text, where, what", [
    ("id,职位,公司\nu1,a,b\n", "members.csv:1", "unknown column '公司'"),
    ("职位,team\n工程师,研发\n", "members.csv:1", "id or name"),
    ("id,team\nu1,研发\n,运营\n", "members.csv:3", "no sender id or name"),
    ("id,team\nu1,研发\nu1,运营\n", "members.csv:3", "listed twice"),
    ("id,team\nu1,研发,多余\n", "members.csv:2", "more fields"),
])
def test_a_bad_members_file_names_the_line(text, where, what):
    with pytest.raises(MembersError) as e:
        parse_members(text, "members.csv")
    assert str(e.value).startswith(where) and what in str(e.value)


def test_a_bad_members_toml_names_the_member():
    with pytest.raises(MembersError, match=r"members.toml: member #2: unknown field '电话'"):
        parse_members('[[member]]\nid = "u1"\n[[member]]\nid = "u2"\n"电话" = "x"\n', "members.toml")
    with pytest.raises(MembersError, match="not valid TOML"):
        parse_members("[[member]\n", "members.toml")


@pytest.mark.parametrize("name, team", [("大数据-张三", "大数据"), ("产品部｜李四", "产品部"), ("【运营】王五", "运营"),
                                        ("研发 - 赵六", "研发"), ("星火-张三", "星火"), ("2016-张三", None),
                                        ("【管理员】林晓燕", None),  # a group role, not a department
                                        ("张三", None), ("", None),
                                        # the bundled examples put the department after the name
                                        ("陈静-HRBP", "HRBP"), ("赵婷-财务", "财务"), ("马骏-IT支持", "IT支持")])
def test_team_from_a_department_in_the_nickname(name, team):
    assert team_from_name(name) == team


def test_a_part_other_nicknames_share_is_the_team():
    shared = shared_parts(["星火-张三", "星火-王五", "李四-阿杰", "张三"])
    assert shared == {"星火"} and team_from_name("李四-星火", shared) == "星火"
    assert team_from_name("小米粒-喵喵喵喵喵", shared) is None  # neither a department, shared, nor prefix + name


def test_the_members_file_team_wins_over_the_prefix():
    members = parse_members("name,team\n大数据-张三,平台\n", "m.csv")
    assert team_of("u1", "大数据-张三", members) == "平台" and team_of("u2", "大数据-王五", members) == "大数据"


def pts(sender, name, week="2016-W37", points=1.0, acknowledged=False, repeats=0, qa="q"):
    return AnswerPoints(qa, sender, name, week, points, acknowledged, repeats)


def test_team_standings_sum_points_answers_and_confirmed_answers():
    rows = [pts("u1", "大数据-张三", points=4, acknowledged=True), pts("u1", "大数据-张三", points=2, repeats=1),
            pts("u2", "大数据-王五"), pts("u3", "产品-李四", points=4, acknowledged=True), pts("u4", "小刘", points=9)]
    s = team_standings(rows, lambda sender, name: team_of(sender, name, {}))
    assert [(t.team, t.members, t.points, t.answers, t.confirmed) for t in s] == [
        ("大数据", 2, 7.0, 3, 2), ("产品", 1, 4.0, 1, 1)]  # 小刘 is in no team: left out


def test_levels_from_points_and_their_config():
    levels = InsightsConfig().levels
    assert [level_for(p, levels) for p in (0, 4.9, 5, 14, 15, 100, 1000)] == [
        "新手", "新手", "热心群友", "热心群友", "答疑达人", "群智囊", "群智囊"]
    with pytest.raises(ConfigError, match="ascending"):
        InsightsConfig(level_points=[0.0, 10.0, 5.0], level_names=["a", "b", "c"])
    with pytest.raises(ConfigError, match="as many"):
        InsightsConfig(level_points=[0.0], level_names=["a", "b"])


def test_weekly_kpi_counts_distinct_answerers_and_confirmed_answers():
    rows = [pts("u1", "a", acknowledged=True, qa="q1"), pts("u1", "a", qa="q2"), pts("u2", "b", repeats=2, qa="q3"),
            pts("u3", "c", week="2016-W38")]
    assert [(k.week, k.answerers, k.answers, k.confirmed) for k in weekly_kpi(rows)] == [
        ("2016-W37", 2, 3, 2), ("2016-W38", 1, 1, 0)]


@pytest.mark.parametrize("activity, role", [
    (Activity("u", "u", messages=40, started=3), "组织者"),
    (Activity("u", "u", messages=5, started=2, answers=2, shares=1), "积极分子"),
    (Activity("u", "u", messages=9, answers=2), "参与者"),
    (Activity("u", "u", messages=2), "潜水者"),
    (Activity("u", "u", messages=0), "潜水者"),
    (Activity("u", "u", messages=1, shares=1), "参与者"),  # one share is giving something: no observer
])
def test_roles_from_counts(activity, role):
    assert role_of(activity, RoleRules()) == role


def test_shared_links_articles_and_files():
    assert shared_urls("看这篇 https://mp.weixin.qq.com/s/abc，写得好", {}) == ["https://mp.weixin.qq.com/s/abc"]
    assert shared_urls("同一篇 https://a.cn/x", {"url": "https://a.cn/x"}) == ["https://a.cn/x"]  # once
    assert shared_urls("没有链接", {"url": "javascript:alert(1)"}) == []
    assert [share_kind(u) for u in ("https://mp.weixin.qq.com/s/abc", "https://example.com/a.pdf", None)] == [
        "文章", "链接", "文件"]


def test_stale_entries_older_than_the_configured_age():
    day = 86400
    assert stale_entries({"e1": T0 - 200 * day, "e2": T0 - 10 * day, "e3": T0 - 400 * day}, T0, 180) == [
        ("e3", 400.0), ("e1", 200.0)]


# -- end to end: a team chat with a members file ------------------------------------------------------------

def _set(ws, key, value):
    path = ws / "chendian.toml"
    text = path.read_text(encoding="utf-8")
    new = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
    assert new != text, key
    path.write_text(new, encoding="utf-8")


@pytest.fixture(scope="module")
def team_workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("team") / "W"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(ws)]).exit_code == 0
    shutil.copy(FIXTURES / "insights" / "数据团队群.txt", ws / "inbox")
    (ws / "members.csv").write_text("id,职位,擅长领域,team\n20002,产品经理@某银行,指标体系、埋点,增长组\n"
                                    "小刘,数据分析师,SQL、报表,运营\n", encoding="utf-8")
    _set(ws, "members", '"members.csv"')
    _set(ws, "stale_after_days", "30.0")
    result = runner.invoke(main, ["-w", str(ws), "run", "-q"])
    assert result.exit_code == 0, result.output
    return ws


def test_team_report_on_the_hand_made_team_chat(team_workspace):
    result = CliRunner().invoke(main, ["-w", str(team_workspace), "report", "--week", "2016-W37", "--json"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    # by hand: 产品-李四 answered 王五's Spark question (谢谢李四: acknowledged, 1 + 3); 王五 answered 张三's Kafka one.
    # 李四 (20002) is 增长组 in the members file, which wins over his nickname's 产品
    assert r["team_standings"] == [{"team": "增长组", "members": 1, "points": 4.0, "answers": 1, "confirmed": 1},
                                   {"team": "大数据", "members": 1, "points": 1.0, "answers": 1, "confirmed": 0}]
    # 李四 also answered the Hive question in August (acknowledged): 8 points up to W37
    assert r["levels"][0] == {"name": "产品-李四", "points": 8.0, "level": "热心群友"}
    assert [k["week"] for k in r["kpi"]] == ["2016-W31", "2016-W37"]
    assert next(k for k in r["kpi"] if k["week"] == "2016-W37") == {"week": "2016-W37", "answerers": 2, "answers": 2,
                                                                    "confirmed": 1}
    shares = r["shares"]
    assert (shares["total"], shares["articles"], shares["discussed"]) == (2, 1, 1)
    article, report = shares["items"]
    assert article["kind"] == "文章" and article["discussed"] and article["replies"] == 2  # 张三 and 王五 within 10 min
    assert report["kind"] == "链接" and not report["discussed"] and report["discussion"] == "无人回应"
    # 王五 (first post 09-12) and 小刘 (09-15) first wrote six weeks after the chat began
    assert [(n["name"], n["first_post"][:4]) for n in r["new_members"]] == [("大数据-王五", "Spar"), ("小刘", "大家好，")]
    roles = {x["role"]: x["members"] for x in r["roles"]}
    assert roles["潜水者"] == ["小刘"] and "产品-李四" in roles["参与者"]
    (stale,) = r["stale"]  # the Hive answer of 2016-08-01, 45 days before the newest message
    assert stale["question"].startswith("Hive") and stale["as_of"] == "2016-08-01" and stale["age_days"] > 30
    text = CliRunner().invoke(main, ["-w", str(team_workspace), "report", "--week", "2016-W37"]).output
    assert "团队积分：增长组 4 分" in text and "[文章] 分享一篇文章" in text and "可能过时（超过 30 天）1" in text


def test_team_pages_and_the_member_directory(team_workspace):
    site = team_workspace / "site"
    html = (site / "report.html").read_text(encoding="utf-8")
    assert html.count('<svg class="chart"') == 5 and html.count("<summary>文字版</summary>") == 5  # + team standings
    assert "团队积分榜" in html and "群管 KPI" in html and "有讨论（2 条回复）" in html and "无人回应" in html
    ops = (site / "ops.html").read_text(encoding="utf-8")
    assert "团队积分榜" in ops and "可能过时" in ops and "Hive" in ops
    pages = [p.read_text(encoding="utf-8") for p in (site / "people").glob("p*.html")]
    li = next(p for p in pages if "<h1>产品-李四</h1>" in p)
    assert "产品经理@某银行" in li and "指标体系、埋点" in li and "<dd>增长组</dd>" in li and "热心群友" in li
    assert "参与沉淀的问答（2）" in li and "截至 2016-08-01" in li
    assert CliRunner().invoke(main, ["-w", str(team_workspace), "audit", str(site)]).exit_code == 0


def test_the_directory_hides_titles_as_the_group_grows(team_workspace, tmp_path):
    ws = tmp_path / "W"
    shutil.copytree(team_workspace, ws)
    _set(ws, "directory_private_above", "3")  # the chat has 4 members
    assert CliRunner().invoke(main, ["-w", str(ws), "stage", "publish"]).exit_code == 0
    li = next(p.read_text(encoding="utf-8") for p in (ws / "site" / "people").glob("p*.html")
              if "<h1>产品-李四</h1>" in p.read_text(encoding="utf-8"))
    assert "某银行" not in li and "<dd>增长组</dd>" not in li and "指标体系、埋点" in li


def test_a_bad_members_file_is_one_line_and_exit_1(team_workspace, tmp_path):
    ws = tmp_path / "W"
    shutil.copytree(team_workspace, ws)
    (ws / "members.csv").write_text("id,team\n20002,产品\n20002,运营\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["-w", str(ws), "report"])
    assert result.exit_code == 1 and "members.csv:3" in result.output and "listed twice" in result.output
    assert "Traceback" not in result.output


def _keys(value, prefix=""):
    if isinstance(value, dict):
        for k, v in value.items():
            if not re.fullmatch(r"\d\d|周.", k):  # by_hour / by_weekday keys are values, not fields
                yield k
                yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def test_the_doc_lists_every_report_field(team_workspace, fixture_workspace):
    doc = (FIXTURES.parent.parent / "docs" / "report.md").read_text(encoding="utf-8")
    for ws in (team_workspace, fixture_workspace):
        r = json.loads(CliRunner().invoke(main, ["-w", str(ws), "report", "--week", "2016-W37", "--json"]).output)
        missing = sorted({k for k in _keys(r) if f"`{k}`" not in doc and f"`{k}[]`" not in doc})
        assert not missing, f"docs/report.md does not describe: {missing}"


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="/usr/bin/chromium missing")
def test_the_team_report_page_in_chromium_on_a_phone(team_workspace):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip) is not installed")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_page(viewport={"width": 360, "height": 740})
            page.goto((team_workspace / "site" / "report.html").as_uri())
            width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert width[0] <= width[1], f"report.html scrolls sideways: {width}"
            # every chart is named and described for a screen reader: its aria-labelledby ids resolve to text
            labels = page.eval_on_selector_all("svg.chart", "els => els.map(e => e.getAttribute('aria-labelledby')"
                                               ".split(' ').map(id => document.getElementById(id).textContent).join(' | '))")
            assert len(labels) == 5 and all("最高" in x for x in labels)
            assert "本周团队积分 | 最高：增长组（4 分）" in labels[-1]
            assert page.is_visible("text=团队积分榜") and page.is_visible("text=有讨论（2 条回复）")
        finally:
            browser.close()


def test_under_pseudonyms_only_the_members_file_gives_teams(team_workspace, tmp_path):
    ws = tmp_path / "W"
    shutil.copytree(team_workspace, ws)
    toml = ws / "chendian.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('names = "real"', 'names = "pseudonym"'), encoding="utf-8")
    assert CliRunner().invoke(main, ["-w", str(ws), "stage", "publish"]).exit_code == 0  # its audit passed
    r = json.loads(CliRunner().invoke(main, ["-w", str(ws), "report", "--week", "2016-W37", "--json"]).output)
    # 20002 (李四) is 增长组 in the members file; 王五's 大数据 came from his nickname, which is not shown
    assert [(s["team"], s["points"]) for s in r["team_standings"]] == [("增长组", 4.0)]
    site = "".join(p.read_text(encoding="utf-8") for p in (ws / "site").rglob("*.html"))
    assert "李四" not in site and "某银行" not in site and "指标体系、埋点" in site  # 谢谢李四 rewritten too


@pytest.mark.parametrize("name, person", [("大数据-张三", "张三"), ("陈静-HRBP", "陈静"), ("【管理员】林晓燕", "林晓燕"),
                                          ("张三", None), ("2016-张三", None)])
def test_the_person_in_a_department_nickname(name, person):
    assert name_without_team(name) == person


def test_pseudonyms_also_rewrite_the_name_after_a_department():
    from chendian.privacy import Privacy
    p = Privacy("pseudonym", [("20002", "产品-李四"), ("20003", "【运营】王五")])
    text = p.text("解决了，谢谢李四！王五也帮了忙")
    assert "李四" not in text and "王五" not in text and text.count("成员-") == 2


def test_who_would_know_equals_scoring_every_pair(tmp_path):
    # suggest_experts scores members with array operations (a big group has tens of thousands of open and answered
    # questions); this is the definition, pair by pair, on random questions with shared askers, several answerers,
    # names that differ between answers, topics, and open questions that are also among the answered.
    from collections import defaultdict as dd


    from chendian.model import QA, Answer
    from chendian.summarize.qa.insights import suggest_experts

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(12, 16))
    vec = {}

    def qa(i, answered):
        v = centres[rng.integers(12)] + 0.5 * rng.normal(size=16)
        vec[f"问题{i}"] = (v / np.linalg.norm(v)).astype(np.float32)
        answers = [Answer([f"a{i}-{k}"], f"u{rng.integers(8)}", f"名{rng.integers(16)}", "答", 1.0)
                   for k in range(rng.integers(1, 4))] if answered else []
        return QA(id=f"q{i:03d}", chat="c", thread_id=None, question_id=f"m{i}", question=f"问题{i}",
                  asker=f"u{rng.integers(8)}", asker_name="问", ts=i, answers=answers)

    answered = [qa(i, True) for i in range(120)]
    open_qas = [qa(i, False) for i in range(120, 180)] + answered[:20]
    topic_of = {q.id: f"t{rng.integers(3)}" for q in open_qas + answered if rng.random() < 0.8}

    def encode(texts):
        return np.stack([vec[t] for t in texts])

    got = suggest_experts(open_qas, answered, encode, topic_of, min_similarity=0.5, same_topic_weight=1.5)
    want = {}
    for q in open_qas:
        matches, names = dd(list), {}
        for past in answered:
            sim = float(np.float32(vec[q.question] @ vec[past.question]))
            if past.id == q.id or sim < 0.5:
                continue
            w = sim * (1.5 if topic_of.get(q.id) and topic_of.get(past.id) == topic_of.get(q.id) else 1.0)
            for sender in {a.sender for a in past.answers if a.sender and a.sender != q.asker}:
                matches[sender].append((w, past.id))
                names[sender] = next(a.sender_name for a in past.answers if a.sender == sender)
        experts = sorted(((-round(sum(x for x, _ in sorted(f, key=lambda y: (-y[0], y[1]))[:3]), 4), s) for s, f in
                          matches.items()))
        if experts:
            want[q.id] = [(s, names[s], -score) for score, s in experts[:3]]
    assert len(want) > 30
    assert {k: [(e.sender, e.name, e.score) for e in v] for k, v in got.items()} == want
