"""The workspace vocabulary (chendian/search/vocab.py): abbreviations and their expansions learned from the
group's own text and merged wordings, used by the index and by the site's search alike; names never count."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from chendian.model import Message
from chendian.pipeline import RunContext
from chendian.pipeline.stages import index as index_mod
from chendian.search.query import search
from chendian.search.vocab import expansions, is_abbreviation, learn_vocabulary
from chendian.site.browser_index import BrowserIndex, write_browser_index
from chendian.site.build import Site, search_index
from chendian.store import Workspace

# A payments group as it talks: terms spelled out once beside their short form, then used either way.
GROUP = [
    ("王磊", "我们现在走的是网联（NUCC）的通道，备付金集中存管以后都得走这个"),
    ("李娜", "网联那边今天晚上有维护吗？"),
    ("王磊", "银联和网联的区别大家清楚吗，银联是卡组织"),
    ("陈静", "提醒一下：不要做二次清算（二清），被查到要罚款的"),
    ("李娜", "二清的风险主要在资金池"),
    ("陈静", "分账系统简称分账，商户后台可以自己配置比例"),
    ("王磊", "@张伟(Tom) 你看一下这个商户的进件"),
    ("李娜", "张伟（ZW）明天请假，进件的事找我"),
    ("陈静", "聚合支付的T+1结算（D0另算）是默认的吗"),
    ("张伟", "收到"),
]


def test_abbreviations_are_han_characters_of_the_term_in_order():
    assert is_abbreviation("二清", "二次清算") and is_abbreviation("北大", "北京大学")
    assert not is_abbreviation("清算", "二次清算")  # the first character is not shared
    assert not is_abbreviation("二算清", "二次清算")  # not in order
    assert not is_abbreviation("二次清算", "二次清算")


def test_vocabulary_from_the_groups_text_and_never_from_names():
    vocab = learn_vocabulary([t for _, t in GROUP], names=[n for n, _ in GROUP] + ["张伟"])
    assert vocab["网联"] == ["nucc"] and vocab["nucc"] == ["网联"]  # the run's suffix the group writes alone
    assert "二清" in vocab["二次清算"] and "分账" in vocab["分账系统"]
    terms = set(vocab) | {t for v in vocab.values() for t in v}
    assert not terms & {"张伟", "tom", "zw", "@张伟"}  # a name in parentheses is not an abbreviation
    assert not any("结算" in t for t in terms)  # T+1 结算 (D0…) spells nothing out


def test_vocabulary_from_merged_wordings_of_one_entry():
    merged = [["二清是什么意思？", "二次清算是什么意思"], ["怎么开通分账功能", "分账功能在哪开"],
              ["NUCC 的对账文件在哪下载", "网联的对账文件在哪下载"], ["NUCC 维护时间是几点", "网联维护时间是几点"]]
    vocab = learn_vocabulary([], merged)
    assert "二清" in vocab.get("二次清算", [])
    assert "网联" in vocab.get("nucc", [])  # swapped in two entries
    one = learn_vocabulary([], merged[2:3])
    assert "nucc" not in one  # one entry alone is not enough for a Latin word ↔ Chinese word swap


def test_expansions_add_what_the_wordings_do_not_say():
    vocab = {"网联": ["nucc"], "nucc": ["网联"]}
    assert expansions(["网联通道怎么接入？"], vocab) == ["nucc"]
    assert expansions(["NUCC 和网联是一回事吗"], vocab) == []
    assert expansions(["nuccx 是什么"], vocab) == []  # a Latin term matches whole words only


def _t(minutes: int) -> datetime:
    return datetime(2024, 3, 4, 9, 0, tzinfo=timezone(timedelta(hours=8))) + timedelta(minutes=minutes)


@pytest.fixture
def vocab_ws(tmp_path):
    ws = Workspace(tmp_path / "ws", create=True)
    with ws.transaction():
        ws.upsert_chat("pay", "支付群", "gold")
        ws.insert_messages([Message(id=f"m{i}", chat="pay", time=_t(i), sender=f"u{n}", sender_name=n, kind="text",
                                    text=t, source=f"gold:{i}")
                            for i, (n, t) in enumerate(GROUP)], import_id=0)
    entries = [("f1", "网联通道的接入流程是什么", "找商务开通网联通道，提交资料后三个工作日内接入。"),
               ("f2", "退款多久到账", "原路退回，一般一到三个工作日。"),
               ("f3", "怎么修改结算银行卡", "商户后台-账户设置-结算卡，提交后人工审核。")]
    with ws.transaction():
        for eid, q, a in entries:
            ws.db.execute("INSERT INTO faq_entries (id, question, answer, answerers, variants, count, qa_ids, thread_ids, "
                          "first_ts, last_ts, answered) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                          (eid, q, a, "[]", "[]", 2, "[]", "[]", 0, 0, 1))
    yield ws
    ws.close()


def test_the_index_finds_an_entry_by_the_groups_other_name_for_it(vocab_ws):
    ws = vocab_ws
    ws.config.search.vocabulary = False
    index_mod.run(ws, RunContext(quiet=True, stage="index"))
    before = [h.id for h in search(ws, "NUCC接入", k=3, floor=None)]
    ws.config.search.vocabulary = True
    counts = index_mod.run(ws, RunContext(quiet=True, stage="index"))
    assert counts["rebuilt"] == 1  # a changed vocabulary rebuilds the index
    vocab = json.loads((ws.path("index") / "vocab.json").read_text(encoding="utf-8"))
    assert vocab["nucc"] == ["网联"]
    hits = search(ws, "NUCC接入", k=3)
    assert hits and hits[0].id == "f1", (before, hits)
    assert hits[0].relevance >= 0.4  # and above the relevance floor


def test_the_site_search_expands_entries_the_same_way(tmp_path):
    site = Site(title="t", entries=[
        {"id": "f1", "url": "entries/f1.html", "question": "网联通道的接入流程是什么", "answer_plain": "找商务开通。",
         "count": 2, "variants": []},
        {"id": "f2", "url": "entries/f2.html", "question": "退款多久到账", "answer_plain": "原路退回。", "count": 1,
         "variants": []}])
    index = search_index(site, vocab={"网联": ["nucc"], "nucc": ["网联"]})
    assert index["docs"][0]["x"] == ["nucc"] and "x" not in index["docs"][1]
    write_browser_index(tmp_path, index)
    found = BrowserIndex(tmp_path).search("NUCC", 5, semantic=False)
    assert [d for d, _ in found] == [0]
    assert "nucc" not in json.dumps(BrowserIndex(tmp_path).docs)  # matched, never shown
