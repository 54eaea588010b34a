"""The weekly digest ops forward into the group (issue 21, chendian/site/digest.py): its figures on a hand-made
two-week chat, what the group version may hold, the paste-ready text's length, and the long image's parts."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from chendian.cli import main
from chendian.ingest import ingest_paths
from chendian.model import stable_id
from chendian.pipeline import run_stages
from chendian.site import digest as dg
from chendian.site.audit import LeakError, audit_site, names_to_hide
from chendian.store import Workspace
from conftest import SHANGHAI
from test_site import CHAT, EMAIL_RE, PHONE_RE, entry_id, make_site_workspace

ID_CARD_RE = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
BANK_RE = re.compile(r"(?<!\d)\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}(?:[ -]?\d{1,3})?(?!\d)")


# -- a hand-made two-week chat: every figure of the data cards known in advance ----------------------------

def _msg(pid, day, hm, sender, text, **extra):
    return {"chat": "pay", "id": pid, "time": f"2016-09-{day:02d}T{hm}:00+08:00", "sender": sender,
            "sender_name": {"u1": "张伟", "u2": "李娜", "u3": "王芳", "u4": "刘洋", "u5": "陈静"}.get(sender, sender),
            "text": text, **extra}


# Week 2016-W36 (Sep 5–11): 6 messages by 3 people, 2 questions, one answered after 30 minutes.
# Week 2016-W37 (Sep 12–18): 10 messages by 4 people (a recalled message and the system account's not counted),
# 4 questions, answered after 10, 20 and 60 minutes, one still open.
CHAT_LINES = [
    _msg("1", 5, "09:00", "u1", "对账文件每天几点生成？"),
    _msg("2", 5, "09:30", "u2", "每天凌晨两点生成，放在 SFTP 的 /recon 目录下"),
    _msg("3", 5, "09:31", "u1", "好的谢谢"),
    _msg("4", 6, "10:00", "u3", "退款接口支持部分退款吗？"),
    _msg("5", 7, "11:00", "u1", "周五有分享会"),
    _msg("6", 7, "11:05", "u3", "收到"),
    _msg("7", 12, "09:00", "u1", "回调验签失败一般是什么原因？"),
    _msg("8", 12, "09:10", "u2", "多半是参数排序不对，按 key 的 ASCII 升序拼接后再签名"),
    _msg("9", 12, "09:12", "u1", "解决了，谢谢"),
    _msg("10", 13, "14:00", "u3", "测试环境的商户号在哪里申请？"),
    _msg("11", 13, "14:20", "u4", "在开放平台控制台的沙箱页面里直接生成，文档 https://open.example.com/sandbox"),
    _msg("12", 14, "16:00", "u4", "网联的报备材料模板有人有吗？"),
    _msg("13", 14, "17:00", "u2", "模板在共享盘 合规/网联 目录，记得用最新版"),
    _msg("14", 15, "10:00", "u1", "对账差错怎么处理？"),
    _msg("15", 15, "10:30", "u3", "这条撤回了", recalled=True),
    _msg("16", 15, "10:40", "sys", "刘洋 邀请 陈静 加入了群聊", kind="system"),
    _msg("17", 16, "18:00", "u2", "周末愉快"),
    _msg("18", 16, "18:01", "u4", "同乐"),
    # QQ's system account also posts the group's file uploads: neither a message nor a member nor a share
    _msg("19", 16, "18:05", "sys", "[文件] 对账规范.pdf", kind="file"),
]
# (question pid, answer pids)
QUESTIONS = [("1", ["2"]), ("4", []), ("7", ["8"]), ("10", ["11"]), ("12", ["13"]), ("14", [])]


@pytest.fixture
def two_weeks(tmp_path):
    ws = Workspace(tmp_path / "ws", create=True)
    src = tmp_path / "pay.jsonl"
    src.write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in CHAT_LINES) + "\n", encoding="utf-8")
    assert not ingest_paths(ws, [src], chat_name="支付对接群").failed
    by_pid = {r["platform_id"]: dict(r) for r in ws.db.execute("SELECT * FROM messages")}
    with ws.transaction():
        for qpid, apids in QUESTIONS:
            q = by_pid[qpid]
            answers = [{"message_ids": [by_pid[a]["id"]], "sender": by_pid[a]["sender"],
                        "sender_name": by_pid[a]["sender_name"], "text": by_pid[a]["text"], "score": 0.8,
                        "acknowledged": False} for a in apids]
            ws.db.execute("INSERT INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (stable_id(q["id"], prefix="q"), q["chat"], None, q["id"], q["text"], q["sender"],
                           q["sender_name"], q["ts"], json.dumps(answers, ensure_ascii=False), 0.8))
    yield ws, by_pid
    ws.close()


def _cards(d):
    return {c["label"]: c for c in d["cards"]}


def _check_week_37(d):
    cards = _cards(d)
    assert cards["消息"]["raw"] == 10 and cards["消息"]["prev"] == 6
    assert cards["消息"]["change"]["text"] == "较上周 +4（+67%）" and cards["消息"]["change"]["good"] is True
    assert cards["活跃成员"]["raw"] == 4 and cards["活跃成员"]["prev"] == 3
    assert cards["活跃成员"]["change"]["text"] == "较上周 +1（+33%）"
    assert cards["提问"]["raw"] == 4 and cards["提问"]["change"]["text"] == "较上周 +2（+100%）"
    assert cards["已回答"]["value"] == "75%" and cards["已回答"]["change"]["text"] == "较上周 +25 个百分点"
    # nearest-rank median of 10, 20 and 60 minutes; the week before, 30 minutes
    assert cards["首答用时中位数"]["value"] == "20 分钟"
    assert cards["首答用时中位数"]["change"] == {"text": "较上周快 10 分钟", "trend": "down", "good": True}
    assert [o["question"] for o in d["open"]] == ["对账差错怎么处理？"]


def test_data_cards_against_the_previous_week(two_weeks):
    ws, _ = two_weeks
    d = dg.gather(ws, dg.week_period("2016-W37", SHANGHAI), "pay")
    assert d["title"] == "2016年第37周（9月12日–9月18日）" and d["chat_name"] == "支付对接群"
    _check_week_37(d)
    board = d["leaderboard"]
    assert board["answers"][0] == {"name": "李娜", "count": 2}
    assert board["questions"][0] == {"name": "张伟", "count": 2}
    assert board["shares"] == [{"name": "刘洋", "count": 1}]
    (link,) = d["links"]
    assert link["url"] == "https://open.example.com/sandbox"
    assert link["title"].startswith("在开放平台控制台的沙箱页面里直接生成") and link["discussion"] == "无人回应"
    # the first week has no week before it
    first = dg.gather(ws, dg.week_period("2016-W36", SHANGHAI), "pay")
    assert {c["change"]["text"] for c in first["cards"]} == {"上周无数据"}


def test_data_cards_read_the_insights_stage_when_it_ran(two_weeks):
    ws, by_pid = two_weeks
    # the insights stage counts only worthy questions: here it left out the one of Sep 6 ("退款…")
    with ws.transaction():
        for qpid, apids in QUESTIONS:
            if qpid == "4":
                continue
            q = by_pid[qpid]
            week = "2016-W36" if q["ts"] < by_pid["7"]["ts"] else "2016-W37"
            ws.db.execute("INSERT INTO question_responses VALUES (?, ?, ?, ?, ?)",
                          (stable_id(q["id"], prefix="q"), "pay", week, q["ts"], by_pid[apids[0]]["ts"] if apids else None))
    d = dg.gather(ws, dg.week_period("2016-W37", SHANGHAI), "pay")
    cards = _cards(d)
    assert cards["提问"]["raw"] == 4 and cards["提问"]["prev"] == 1
    assert cards["已回答"]["change"]["text"] == "较上周 -25 个百分点"  # 1 of 1 → 3 of 4
    assert cards["首答用时中位数"]["value"] == "20 分钟"


def test_a_day_and_the_latest_complete_week(two_weeks):
    ws, _ = two_weeks
    d = dg.gather(ws, dg.day_period("2016-09-12", SHANGHAI), "pay")
    assert _cards(d)["消息"]["raw"] == 3 and _cards(d)["消息"]["change"]["text"] == "前一天无数据"
    # on Wednesday of W38 the latest complete week is W37; on Friday of W37 it is W36
    assert dg.latest_complete_week(ws, datetime(2016, 9, 21, tzinfo=SHANGHAI).timestamp()).label == "2016-W37"
    assert dg.latest_complete_week(ws, datetime(2016, 9, 16, tzinfo=SHANGHAI).timestamp()).label == "2016-W36"
    for bad in (["--week", "2016-37"], ["--day", "2016-13-01"], ["--chat", "nosuch", "--week", "2016-W37"]):
        result = CliRunner().invoke(main, ["-w", str(ws.root), "digest", *bad])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1


# -- the group version: masking, names, and nothing the publish policy holds back -----------------------------

@pytest.fixture
def site_digest(tmp_path):
    ws = make_site_workspace(tmp_path / "ws", names="pseudonym")
    held, hidden = entry_id(ws, "7"), entry_id(ws, "13")
    with ws.transaction():
        ws.db.execute("UPDATE faq_entries SET published = 0, confidence = 0.3 WHERE id = ?", (held,))
        ws.db.execute("UPDATE faq_entries SET hidden = 1 WHERE id = ?", (hidden,))
    yield ws
    ws.close()


def test_group_version_holds_no_personal_data_and_nothing_held_back(site_digest, tmp_path):
    ws = site_digest
    period = dg.week_period("2024-W10", SHANGHAI)
    group = dg.gather(ws, period, CHAT, "group")
    written = dg.write_digest(ws, group, tmp_path / "out", ["html", "md"])
    texts = {p.name: p.read_text(encoding="utf-8") for p in written.files}
    assert set(texts) == {"digest.html", "digest.md", "digest.txt"}
    real_names = names_to_hide(ws)
    assert "张伟" in real_names and "孙悦" in real_names
    for name, text in texts.items():
        assert not PHONE_RE.search(text) and not EMAIL_RE.search(text), name
        assert not ID_CARD_RE.search(text) and not BANK_RE.search(text), name
        assert not any(n in text for n in real_names), name
        assert "secret.example.com" not in text, name  # the recalled message's link
        # the entries held for review (VPN) and hidden (年假): not in what goes back into the group (the link
        # shared in the VPN conversation stays in the link list, as its conversation stays on the site)
        assert "VPN 连不上" not in text and "证书过期" not in text and "年假" not in text, name
        assert "<script>" not in text or name != "digest.html"
    assert audit_site(written.folder, real_names).ok
    assert "成员-" in texts["digest.md"]  # names as the site shows them
    questions = [b["question"] for b in group["best"]]
    assert "报销流程怎么走？" in questions and "报销多久到账？" in questions
    assert "待审核" not in texts["digest.md"] and "ops" not in group
    # the ops version counts what waits for review
    ops = dg.gather(ws, period, CHAT, "ops")
    assert ops["ops"]["held"] == 1 and ops["ops"]["held_this_period"] == 1


def test_a_leaking_group_digest_is_not_written(site_digest, tmp_path):
    ws = site_digest
    d = dg.gather(ws, dg.week_period("2024-W10", SHANGHAI), CHAT, "group")
    d["best"][0]["answer"] = "有事打 13812345678"  # what a masking bug would let through
    with pytest.raises(LeakError, match="mobile"):
        dg.write_digest(ws, d, tmp_path / "out", ["html", "md"])
    assert not (tmp_path / "out" / dg.folder_name(d)).exists()
    assert not [p for p in (tmp_path / "out").iterdir()]  # no half-written folder left behind


def test_entries_link_to_the_site_under_base_url(site_digest):
    ws = site_digest
    ws.config.site.base_url = "https://kb.example.com/"
    d = dg.gather(ws, dg.week_period("2024-W10", SHANGHAI), CHAT, "group")
    first = d["best"][0]
    assert first["url"] == f"https://kb.example.com/entries/{first['id']}.html"
    assert first["url"] in dg.render_text(d)


# -- the paste-ready text and the image -----------------------------------------------------------------------

def test_paste_ready_text_fits_the_message_limit(site_digest):
    d = dg.gather(site_digest, dg.week_period("2024-W10", SHANGHAI), CHAT, "ops")
    full = dg.render_text(d)
    assert len(full.encode("utf-8")) <= dg.TEXT_LIMIT_BYTES
    assert full.startswith("【研发部技术交流群 · 本周群报】2024年第10周")
    # a busy week: every section long — shortened, not cut off mid-way, and still within the limit
    long = "报销流程与发票粘贴规范的详细说明，" * 20
    d["best"] = [{**d["best"][0], "question": long, "answer": long}] * 5
    d["open"] = [{"question": long, "asker": "x", "asked": "", "age": "1 天", "experts": ["成员-a", "成员-b"]}] * 5
    d["open_total"] = 5
    text = dg.render_text(d)
    assert len(text.encode("utf-8")) <= dg.TEXT_LIMIT_BYTES
    assert "精华" in text and "待回答" in text and text.count("\n") >= 5


def test_split_points_cut_at_block_edges_under_the_limit():
    assert dg.split_points([100, 200], 300, 4000) == [(0, 300)]
    parts = dg.split_points([1500, 3000, 3900, 5200, 7000, 9000], 9500, 4000)
    assert parts == [(0, 3900), (3900, 7000), (7000, 9500)]
    assert all(b - a <= 4000 for a, b in parts)
    # a block taller than the limit is cut through
    assert dg.split_points([9000], 9000, 4000) == [(0, 4000), (4000, 8000), (8000, 9000)]


def test_without_a_renderer_html_and_text_are_written_and_one_line_says_how(site_digest, tmp_path):
    cfg = site_digest.path("chendian.toml")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('chromium = "/usr/bin/chromium"',
                                                          'chromium = "/nonexistent/chromium"'), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["-w", str(site_digest.root), "digest", "--week", "2024-W10",
                                       "--audience", "group", "--out", str(out)])
    assert result.exit_code == 0, result.output
    folder = next(out.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == ["digest.html", "digest.md", "digest.txt"]
    assert "pip install 'chendian[image]'" in result.output
    assert sum("未生成长图" in line for line in result.output.splitlines()) == 1


def test_the_nightly_stage_writes_the_latest_week_once(site_digest):
    ws = site_digest
    assert run_stages(ws, ["digest"]).stages[0].counts == {"digests": 0, "off": 1}
    cfg = ws.path("chendian.toml")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("nightly = false", "nightly = true")
                   .replace('formats = ["png", "html", "md"]', 'formats = ["html", "md"]'), encoding="utf-8")
    ws = Workspace(ws.root)
    try:
        first = run_stages(ws, ["digest"])
        assert first.ok and first.stages[0].counts == {"digests": 2, "images": 0}
        folders = sorted(p.name for p in ws.path("reports", "digest").iterdir())
        assert folders == ["2024-W10-研发部技术交流群-group", "2024-W10-研发部技术交流群-ops"]
        again = run_stages(ws, ["digest"])
        assert again.stages[0].counts == {"digests": 0, "unchanged": 2}
    finally:
        ws.close()


CHROMIUM = Path(dg.CHROMIUM)


@pytest.mark.browser
@pytest.mark.skipif(dg.image_renderer() is not None, reason="playwright or /usr/bin/chromium missing")
def test_the_long_image_is_cut_into_parts_past_the_height_limit(site_digest, tmp_path):
    from PIL import Image

    d = dg.gather(site_digest, dg.week_period("2024-W10", SHANGHAI), CHAT, "ops")
    html = tmp_path / "digest.html"
    html.write_text(dg.render_html(d), encoding="utf-8")
    (whole,) = dg.render_png(html, tmp_path, "whole")
    width, height = Image.open(whole).size
    assert width == 750 and height > 1400
    parts = dg.render_png(html, tmp_path, "part", max_part_px=1400)
    sizes = [Image.open(p).size for p in parts]
    assert len(parts) >= 2 and [p.name for p in parts][:2] == ["part-1.png", "part-2.png"]
    assert all(w == 750 and h <= 1400 for w, h in sizes)
    assert abs(sum(h for _, h in sizes) - height) <= 2 * len(parts)  # nothing lost, nothing twice


@pytest.mark.browser
@pytest.mark.skipif(dg.image_renderer() is not None, reason="playwright or /usr/bin/chromium missing")
def test_the_command_writes_an_image_per_audience(site_digest, tmp_path):
    from PIL import Image

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["-w", str(site_digest.root), "digest", "--week", "2024-W10", "--format", "png",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    folders = sorted(out.iterdir())
    assert [f.name.rsplit("-", 1)[1] for f in folders] == ["group", "ops"]
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == ["digest.png"]  # the page it was shot from is not kept
        assert Image.open(folder / "digest.png").size[0] == 750
    assert "未生成长图" not in result.output


def test_an_entry_published_without_the_confidence_stays_out_of_the_group_version(site_digest):
    # under [faq] publish = "all" an entry is on the site unconfirmed: the group digest still leaves it out
    ws = site_digest
    period = dg.week_period("2024-W10", SHANGHAI)
    assert "报销多久到账？" in [b["question"] for b in dg.gather(ws, period, CHAT, "group")["best"]]
    with ws.transaction():
        ws.db.execute("UPDATE faq_entries SET published = 1, confidence = 0.2 WHERE id = ?", (entry_id(ws, "5"),))
    assert "报销多久到账？" not in [b["question"] for b in dg.gather(ws, period, CHAT, "group")["best"]]


def test_the_nightly_stage_waits_for_a_complete_week(tmp_path):
    ws = Workspace(tmp_path / "ws", create=True)
    try:
        src = tmp_path / "now.jsonl"
        now = datetime.now(SHANGHAI).replace(microsecond=0)
        src.write_text(json.dumps({"chat": "c", "id": "1", "time": now.isoformat(), "sender": "u1", "text": "早"},
                                  ensure_ascii=False) + "\n", encoding="utf-8")
        assert not ingest_paths(ws, [src]).failed
        ws.config.digest.nightly = True
        report = run_stages(ws, ["digest"])
        assert report.ok and report.stages[0].counts == {"digests": 0, "no_complete_week": 1}
    finally:
        ws.close()
