"""The site's search index in shards (chendian/site/browser_index.py) ranks as the one-file index did.

The reference is student.BrowserSearch: search.js's BM25 (and its fusion with the semantic student) computed
from the entries' text, as the browser did before the index came in shards. BrowserIndex reads the built shard
files and ranks as the new search.js does (the browser tests hold the browser to it); both must give the same
top 20 on the bundled examples and on a generated workspace whose entries share most of their words.
"""

from __future__ import annotations

import random
import shutil

import pytest
from click.testing import CliRunner

from chendian.cli import main
from chendian.site import build
from chendian.site.browser_index import (BLOB_ALPHABET, BrowserIndex, decode_blob, encode_blob, fnv1a,
                                         read_js_object, write_browser_index)
from chendian.site.student import BrowserSearch, t2s_table
from chendian.store import Workspace
from sitegen import fill
from test_audit import EXAMPLES

K = 20


@pytest.fixture
def capture(monkeypatch):
    """The index dict each build hands to write_browser_index (the entries' full text: what the old file held)."""
    seen = []
    real = build.write_browser_index

    def spy(out, index, previous=None):
        seen.append(index)
        return real(out, index, previous)

    monkeypatch.setattr(build, "write_browser_index", spy)
    return seen


def _queries(docs: list[dict], seed: int = 5) -> list[str]:
    """Each entry's question and variants, pieces of them, traditional forms, Latin and mixed queries."""
    rnd = random.Random(seed)
    to_trad = {s: t for t, s in t2s_table().items()}
    out = ["报销", "VPN", "vpn 连不上", "打印机报错怎么办", "OA 审批", "怎么", "的", "请问", "https", "2024",
           "量子引力弦论火星移民", "？？", "wiki example"]
    for d in docs:
        out += [d["q"], *d.get("v", [])]
        text = d["q"]
        if len(text) > 3:
            a = rnd.randrange(len(text) - 2)
            out.append(text[a:a + rnd.randrange(2, 7)])
        out.append("".join(to_trad.get(c, c) for c in text))
        if d.get("a"):
            a = rnd.randrange(max(1, len(d["a"]) - 4))
            out.append(d["a"][a:a + 6])
    return list(dict.fromkeys(out))


def _assert_same_rankings(reference: BrowserSearch, sharded: BrowserIndex, queries: list[str], semantic: bool) -> int:
    """Equal top-K positions for every query, scores equal to float32 rounding; returns how many queries matched."""
    matched = 0
    for q in queries:
        want = reference.search(q, K, semantic=semantic)
        got = sharded.search(q, K, semantic=semantic)
        assert [d for d, _ in got] == [d for d, _ in want], q
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6, abs=1e-9), q
        matched += bool(got)
    return matched


def test_sharded_ranking_equals_the_one_file_index_on_a_generated_workspace(tmp_path, capture):
    ws = Workspace(tmp_path / "ws", create=True)
    try:
        fill(ws, 1500, 3000)
        build.build_site(ws)
    finally:
        ws.close()
    [index] = capture
    site = tmp_path / "ws" / "site"
    sharded = BrowserIndex(site)
    assert sharded.n == len(index["docs"]) == 1500
    assert sharded.manifest["shards"]["terms"] > 1 and sharded.manifest["shards"]["ids"] >= 1
    # what is shown of each entry is what the one-file index held
    assert [(d["i"], d["u"], d["q"], d["n"]) for d in sharded.docs] == \
        [(d["i"], d["u"], d["q"], d["n"]) for d in index["docs"]]
    queries = _queries(index["docs"][:150])
    assert _assert_same_rankings(BrowserSearch(index), sharded, queries, semantic=False) > 0.9 * len(queries)


def test_sharded_ranking_equals_the_one_file_index_on_the_bundled_examples(tmp_path, capture):
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(ws)]).exit_code == 0
    for folder in ("wechat", "qq"):
        shutil.copytree(EXAMPLES / folder, ws / "inbox" / folder)
    # the stages the site's entries come from (not the embed, topics, digest … stages: they change no entry)
    result = runner.invoke(main, ["-w", str(ws), "stage", "ingest", "segment", "thread", "extract", "talks", "faq",
                                  "publish", "-q"])
    assert result.exit_code == 0, result.output
    index = capture[-1]
    assert len(index["docs"]) >= 10
    sharded = BrowserIndex(ws / "site")
    queries = _queries(index["docs"])
    assert _assert_same_rankings(BrowserSearch(index), sharded, queries, semantic=False) > 0.8 * len(queries)
    result = runner.invoke(main, ["-w", str(ws), "audit", str(ws / "site")])  # the shards pass the site audit
    assert result.exit_code == 0 and "0 finding(s) in " in result.output, result.output


def test_semantic_fusion_is_unchanged(tmp_path, capture):
    from semantic_site import make_office_workspace

    ws = make_office_workspace(tmp_path / "ws")
    try:
        build.build_site(ws)
    finally:
        ws.close()
    [index] = capture
    site = tmp_path / "ws" / "site"
    vectors = read_js_object(site / "search-vectors.js", "CHENDIAN_VECTORS")
    sharded = BrowserIndex(site, vectors)
    assert sharded.manifest["vectors"] == "search-vectors.js" and vectors["n"] == sharded.n
    queries = ["笔记本没反应", "屏幕黑了", "打车的钱能报吗", "工牌丢了", "休年假要走什么流程", "显示屏不亮", *_queries(index["docs"])]
    _assert_same_rankings(BrowserSearch(index, vectors), sharded, queries, semantic=True)


def test_blobs_round_trip_in_an_alphabet_no_detector_reads():
    rnd = random.Random(2)
    for n in [0, 1, 2, 3, 4, 5, 299, 300, 301]:
        data = bytes(rnd.randrange(256) for _ in range(n))
        text = encode_blob(data)
        assert len(text) == -(-4 * n // 3) and set(text) <= set(BLOB_ALPHABET)
        assert decode_blob(text) == data
    assert not set(BLOB_ALPHABET) & set("0123456789@_.:() \"\\'")
    assert fnv1a("a") == 0xE40C292C  # FNV-1a's published value (an ASCII string: UTF-16 units = bytes)


def test_an_empty_site_has_an_empty_index(tmp_path):
    sizes = write_browser_index(tmp_path, {"docs": [], "t2s": "", "open": [], "topics": [], "floor": {}})
    index = BrowserIndex(tmp_path)
    assert index.n == 0 and index.docs == [] and index.search("报销", K, semantic=False) == []
    assert sizes["index_bytes"] > 0
