"""The index stage on a night that changed a few entries: it segments only their texts (the others' tokens come
from the last index's tokens.json) and the index it builds searches exactly as one built from nothing."""

from __future__ import annotations

import json
import shutil

import numpy as np

from chendian.pipeline import RunContext
from chendian.pipeline.stages import index as index_mod
from chendian.search.index import TOKENS_FILE, HybridIndex, SearchDocument, TokenCache
from chendian.search.query import search
from test_search import FAQ, load_faq

QUERIES = ["报销怎么弄", "差旅费咋报", "報銷流程", "baoxiao", "chailvfei", "ＶＰＮ连不上", "在家上不了内网", "请问年假怎么请",
           "工资条", "打印机用不了咋整", "发票抬头写错了怎么办", "报销要多久才能到账", "wifi密码", "年会在哪"]


def channel_scores(index: HybridIndex, query: str) -> dict[str, np.ndarray]:
    """Each lexical channel's BM25 scores of every document for the query (what search fuses)."""
    from chendian.summarize.text import analyze
    from chendian.summarize.text.segment import fold

    q = analyze.strip_mentions(fold(query)).strip()
    fns = {"word": analyze.word_tokens, "char": lambda t, _s: analyze.full_char_ngrams(t),
           "pinyin": analyze.pinyin_tokens, "body": analyze.word_tokens}
    return {name: np.asarray(model.get_scores(fns[name](q, index._seg) or ["\x00"]))
            for name, model in index.bm25.items()}


def test_a_build_from_the_last_builds_tokens_is_the_build_from_nothing(tmp_path):
    entries = [json.loads(line) for line in FAQ.read_text(encoding="utf-8").splitlines()]
    docs = [SearchDocument(e["id"], e["question"], e["variants"], e["answer"]) for e in entries]
    rng = np.random.default_rng(1)
    first = HybridIndex.build(docs, vectors=rng.normal(size=(sum(len(d.wordings()) for d in docs), 16)))
    # the next night: one entry reworded, one with a new variant, one gone, one new
    night = [SearchDocument(d.id, d.text, list(d.variants), d.body) for d in docs[1:]]
    night[0].text = "差旅费报销要多久才能到账？"
    night[1].variants.append("年假怎么算天数")
    night.append(SearchDocument("f999", "年会在哪里办？", [], "在三楼大会议室"))
    vectors = rng.normal(size=(sum(len(d.wordings()) for d in night), 16))
    first.token_cache.save(tmp_path / TOKENS_FILE)
    cache = TokenCache.load(tmp_path / TOKENS_FILE)
    warm = HybridIndex.build(night, vectors=vectors, token_cache=cache)
    cold = HybridIndex.build(night, vectors=vectors)
    # only the changed texts were segmented: two titles (word, pinyin), the new entry's (word, pinyin, answer)
    assert cache.computed == 7
    assert cold.token_cache.computed > 3 * cache.computed
    assert warm.token_cache.texts == cold.token_cache.texts
    assert list(warm.token_cache.texts["word"]) == list(cold.token_cache.texts["word"])  # in document order too
    for query in QUERIES:
        w, c = channel_scores(warm, query), channel_scores(cold, query)
        assert w.keys() == c.keys()
        for name in w:
            assert np.array_equal(w[name], c[name]), (query, name)
        qv = rng.normal(size=16)
        hits_w = [(h.doc.id, h.score, h.parts) for h in warm.search(query, 10, query_vector=qv)]
        hits_c = [(h.doc.id, h.score, h.parts) for h in cold.search(query, 10, query_vector=qv)]
        assert hits_w == hits_c and hits_w


def test_the_stage_segments_only_what_changed_and_searches_as_a_rebuild(tmp_path):
    from chendian.store import Workspace

    with Workspace(tmp_path / "ws", create=True) as ws:
        load_faq(ws)
        first = index_mod.run(ws, RunContext(quiet=True, stage="index"))
        assert first["texts_segmented"] > 20 and (ws.path("index") / TOKENS_FILE).exists()
        ws.db.execute("UPDATE faq_entries SET question = '报销要多久才能到账？' WHERE id = 'f001'")
        ws.db.commit()
        night = index_mod.run(ws, RunContext(quiet=True, stage="index"))
        assert night["rebuilt"] == 1 and 0 < night["texts_segmented"] <= 3
        warm = {q: [(h.id, h.score) for h in search(ws, q, k=8)] for q in QUERIES}
        tokens = json.loads((ws.path("index") / TOKENS_FILE).read_text(encoding="utf-8"))

        # the same documents indexed from nothing: no tokens from an earlier build
        shutil.rmtree(ws.path(".index-versions"))
        ws.path("index").unlink()
        ws.db.execute("DELETE FROM state WHERE key = 'index.hash'")
        ws.db.commit()
        cold_counts = index_mod.run(ws, RunContext(quiet=True, stage="index"))
        assert cold_counts["texts_segmented"] == first["texts_segmented"]
        cold = {q: [(h.id, h.score) for h in search(ws, q, k=8)] for q in QUERIES}
        assert warm == cold
        assert json.loads((ws.path("index") / TOKENS_FILE).read_text(encoding="utf-8")) == tokens
        assert any(warm.values())


def test_tokens_of_another_dictionary_or_format_are_not_reused(tmp_path):
    saved = TokenCache()
    saved.texts = {"word": {"报销流程": ["wrong"]}}
    saved.save(tmp_path / TOKENS_FILE)
    assert TokenCache.load(tmp_path / TOKENS_FILE).texts == {"word": {"报销流程": ["wrong"]}}
    user_dict = tmp_path / "dict.txt"
    user_dict.write_text("报销流程 10\n", encoding="utf-8")
    assert TokenCache.load(tmp_path / TOKENS_FILE, str(user_dict)).texts == {}
    (tmp_path / TOKENS_FILE).write_text("{not json", encoding="utf-8")
    assert TokenCache.load(tmp_path / TOKENS_FILE).texts == {}
    assert TokenCache.load(tmp_path / "missing.json").texts == {}


def test_tokens_made_by_other_segmenting_code_are_not_reused(tmp_path, monkeypatch):
    saved = TokenCache()
    saved.texts = {"word": {"报销流程": ["wrong"]}}
    saved.save(tmp_path / TOKENS_FILE)
    # as if analyze.py, segment.py or jieba changed since the tokens were saved
    monkeypatch.setattr("chendian.search.index.code_fingerprint", lambda files, packages=(): "other code")
    assert TokenCache.load(tmp_path / TOKENS_FILE).texts == {}


def test_a_documents_json_is_what_asdict_gives():
    from dataclasses import asdict

    doc = SearchDocument("f1", "报销流程", ["报销怎么弄"], "找财务", {"kind": "faq", "thread_ids": ["t1"], "trust": {"a": 1}})
    assert json.dumps(doc.to_json(), ensure_ascii=False) == json.dumps(asdict(doc), ensure_ascii=False)
    assert json.dumps(doc.to_json(), sort_keys=True) == json.dumps(asdict(doc), sort_keys=True)
