"""Privacy on publish: numbers and addresses masked, names as configured — on crafted and on real exports."""

from __future__ import annotations

import re

import pytest

from chendian.ingest import ingest_paths
from chendian.site.build import build_site
from chendian.privacy import Privacy, id_card_valid, initials, luhn_valid, mask_text, pseudonym
from chendian.store import Workspace
from test_site import EMAIL_RE, PHONE_RE, site_text, synthesize_stages


@pytest.mark.parametrize("text, expected", [
    ("有事打我手机13812345678", "有事打我手机138****5678"),
    ("电话：138 1234 5678（工作日）", "电话：138****5678（工作日）"),
    ("+86 139-8765-4321 找财务小刘", "139****4321 找财务小刘"),
    ("008615912345678", "159****5678"),
    ("１３８１２３４５６７８", "138****5678"),  # full-width digits typed on a phone
    ("13812345678,13912345678", "138****5678,139****5678"),
    ("座机 010-62345678 转 123", "座机 010-****5678"),
    ("(021)87654321", "021-****4321"),
    ("0755 2345678", "0755-****5678"),
    ("邮箱 zhang.san@corp.example.com.cn 或 li_si+hr@qq.com", "邮箱 [邮箱已隐藏] 或 [邮箱已隐藏]"),
    ("身份证11010519491231002X", "身份证[身份证号已隐藏]"),
    ("身份证号是 310115198511204566，麻烦登记", "身份证号是 [身份证号已隐藏]，麻烦登记"),
    ("44030419900307123x", "[身份证号已隐藏]"),
    ("工资卡 6228 4804 0256 4890 018 换了", "工资卡 [银行卡号已隐藏] 换了"),
    ("卡号6228480402564890018", "卡号[银行卡号已隐藏]"),
])
def test_masks_personal_numbers(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "报销审批完大概5个工作日到账",
    "预算 13800 元，下周三前提交",
    "订单号 6222 0202 0000 1234 560",  # card-shaped but fails Luhn: an order number
    "版本号 1.13.8123456",
    "会议室 B2-1305，时间 2024-03-04 14:00",
    "工号 20240312，分机 8021",
])
def test_leaves_ordinary_numbers_alone(text):
    assert mask_text(text) == text


@pytest.mark.parametrize("text, expected", [
    # Typed with a wrong digit or a wrong check character: still someone's number, the label says so.
    ("身份证号是 110105194912310021，麻烦登记", "身份证号是 [身份证号已隐藏]，麻烦登记"),
    ("身份证号码：44030419900307123Ｘ", "身份证号码：[身份证号已隐藏]"),
    ("我的身份证 110105 19491231 0021", "我的身份证 [身份证号已隐藏]"),
    ("卡号 6222 0202 0000 1234 560 户名张三", "卡号 [银行卡号已隐藏] 户名张三"),
    ("银行卡是６２２２０２０２００００１２３４５６０", "银行卡是[银行卡号已隐藏]"),
    ("工资卡账号：6228480402564890017", "工资卡账号：[账号已隐藏]"),
    ("对公帐号 1101 0200 0900 0123 456", "对公帐号 [账号已隐藏]"),
    ("手机号 12812345678 打不通", "手机号 [手机号已隐藏] 打不通"),
    ("手机：13812345678", "手机：138****5678"),  # a real mobile number keeps the usual partial mask
])
def test_labelled_numbers_are_masked_whatever_their_checksum(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "订单号 6222 0202 0000 1234 560",
    "快递单号 110105194912310021",  # ID-card shaped, wrong check character, no ID label
    "卡号后四位 1234",  # too short to identify anyone
    "身份证复印件明天交，订单 6222020200001234560",  # the label is too far from the number
])
def test_unlabelled_or_short_numbers_follow_the_checksum_rule(text):
    assert mask_text(text) == text


def test_checksums():
    assert id_card_valid("11010519491231002X") and not id_card_valid("110105194912310021")
    assert luhn_valid("6228480402564890018") and not luhn_valid("6222020200001234560")


def test_markdown_star_and_names():
    assert mask_text("13812345678", star="\\*") == "138\\*\\*\\*\\*5678"
    assert initials("张三") == "ZS" and initials("John Smith") == "JS" and initials("黃小明") == "HXM"
    p = Privacy("pseudonym", known=[("wxid_a", "张三丰"), ("wxid_b", "张三")])
    assert p.name("wxid_a", "张三丰") == pseudonym("wxid_a") == p.name("wxid_a", "张三丰")
    assert p.text("@张三丰 @张三 电话13812345678") == f"@{pseudonym('wxid_a')} @{pseudonym('wxid_b')} 电话138****5678"
    real = Privacy("real")
    assert real.name("u1", "小王 13812345678") == "小王 138****5678"  # numbers in display names too
    with pytest.raises(ValueError, match="site.names"):
        Privacy("nicknames")


@pytest.mark.parametrize("names", ["real", "pseudonym"])
def test_no_phone_or_email_survives_on_real_exports(shared_data, tmp_path, names):
    ws = Workspace(tmp_path / "ws", create=True)
    if names != "real":
        cfg = ws.path("chendian.toml")
        cfg.write_text(cfg.read_text(encoding="utf-8").replace('names = "real"', f'names = "{names}"'), encoding="utf-8")
        ws.close()
        ws = Workspace(tmp_path / "ws")
    try:
        report = ingest_paths(ws, [shared_data / "formats"])  # a file whose reader is not finished may fail
        assert report.new > 100, [f.error for f in report.files]
        raw = [t for r in ws.db.execute("SELECT text, sender_name FROM messages WHERE recalled = 0") for t in r]
        leaks_before = sum(len(PHONE_RE.findall(t)) + len(EMAIL_RE.findall(t)) for t in raw)
        assert leaks_before > 5  # the real samples do carry addresses and numbers: the test is not vacuous
        synthesize_stages(ws)
        counts = build_site(ws)
        assert counts["threads"] > 10 and counts["entries"] > 0
        pages = site_text(ws.path("site"))
    finally:
        ws.close()
    everything = "\n".join(pages.values())
    leaks = sorted(set(PHONE_RE.findall(everything) + EMAIL_RE.findall(everything)))
    assert not leaks, leaks[:20]
    published = sum(len(re.findall(r'<li id="[^"]+" class="msg', t)) for t in pages.values())
    assert published > 300  # the transcripts were really published


def test_masking_leaves_nothing_the_audit_would_find():
    # An xrandr modeline (Ubuntu IRC): the first card-like run masked, a second one stood alone and the audit of
    # the published page refused it. Masking repeats until the detector finds nothing.
    from chendian.privacy import find_personal

    text = 'xrandr --newmode "1024x768_60.00"   63.50  1024 1072 1176 1328  768 771 775 798 -hsync +vsync'
    masked = mask_text(text)
    assert [kind for _, _, kind, _ in find_personal(masked) if kind] == []
    assert masked.startswith('xrandr --newmode "1024x768_60.00"   63.50  ') and masked.endswith(" -hsync +vsync")


def test_text_the_quick_check_passes_over_holds_nothing_any_detector_finds():
    # find_personal (so mask_text and the audit) runs no detector when the text has no digit, @, WeChat label or
    # "(at)": random texts built from the pieces every detector reads, digits left out, must then hold nothing any
    # detector finds.
    import random

    from chendian.privacy import _MAYBE_PERSONAL_RE, _find_all

    pieces = ["zhang.san", "li_si", "@", "＠", " @ ", "(at)", "（AT）", "[at]", "qq", "QQ号", ".com", ".cn", "corp",
              "wxid_", "wxid_abcdef", "ｗｘ", "vＸ", "Wx号", "v信", "微信号", "微信ID", "：", "是", " ", "abcdefg",
              "kx-ab", "Tom", "报销", "。", "身份证", "卡号", "手机", "-", "+", "（", "）", "\n", "扣扣", "企鹅号"]
    rng = random.Random(16)
    found = skipped = 0
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        if [k for _, _, k, _ in _find_all(text, "*") if k]:
            found += 1
            assert _MAYBE_PERSONAL_RE.search(text), text
        elif not _MAYBE_PERSONAL_RE.search(text):
            skipped += 1
            assert _find_all(text, "*") == [] and mask_text(text) == text
    assert found > 1000 and skipped > 1000  # both sides of the check were exercised


def test_a_member_seen_only_in_a_quote_is_renamed_like_the_rest(tmp_path):
    # 赵六's own messages predate the export: only a quote of one shows the name. Under pseudonyms the text that
    # names 赵六 must say what the quote's header says, and the audit must hunt the name.
    from datetime import datetime, timedelta, timezone

    from chendian.model import Message, Quote
    from chendian.pipeline import run_stages
    from chendian.site.audit import names_to_hide
    from chendian.store import sender_names

    ws = Workspace(tmp_path / "ws", create=True)
    cfg = ws.path("chendian.toml")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('names = "real"', 'names = "pseudonym"'), encoding="utf-8")
    ws.close()
    ws = Workspace(tmp_path / "ws")
    t0 = datetime(2024, 3, 4, 10, 0, tzinfo=timezone(timedelta(hours=8)))

    def msg(i, sender, name, text, quote=None):
        return Message(id=f"m{i}", chat="g", time=t0 + timedelta(minutes=i), sender=sender, sender_name=name,
                       kind="quote" if quote else "text", text=text, source=f"test:{i}", quote=quote)

    messages = [
        msg(1, "wxid_zhangsan", "张三", "VPN 连不上怎么办？赵六上次说要重装客户端吗？",
            quote=Quote(sender_name="赵六", text="VPN 客户端要 3.2 以上")),
        msg(2, "wxid_lisi", "李四", "按赵六说的重装 3.2 以上的客户端就行，账号是邮箱前缀"),
        msg(3, "wxid_zhangsan", "张三", "好的，谢谢"),
    ]
    try:
        with ws.transaction():
            ws.upsert_chat("g", "测试群", "test")
            ws.insert_messages(messages, import_id=0)
        assert ("赵六", "赵六") in sender_names(ws.db)
        assert "赵六" in names_to_hide(ws)
        report = run_stages(ws, None, quiet=True)
        assert all(s.status != "failed" for s in report.stages), [(s.name, s.note) for s in report.stages]
        pages = "\n".join(site_text(ws.path("site")).values())
    finally:
        ws.close()
    assert "赵六" not in pages and pseudonym("赵六") in pages
