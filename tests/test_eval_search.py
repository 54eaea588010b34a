"""`chendian eval search` / `eval dedup` metrics on hand-computed toy files, and the BQ dev figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chendian.eval import dedup as eval_dedup
from chendian.eval import search as eval_search

TOY_PAIRS = [
    {"a": "A1", "b": "A2", "label": 1},
    {"a": "A2", "b": "A3", "label": 1},
    {"a": "B1", "b": "B2", "label": 1},
    {"a": "A1", "b": "B1", "label": 0},
    {"a": "C1", "b": "A3", "label": 0},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_clusters_are_connected_components_of_positives():
    corpus, clusters = eval_search.corpus_and_clusters([eval_search.Pair(**p) for p in TOY_PAIRS])
    assert corpus == ["A1", "A2", "A3", "B1", "B2", "C1"]
    c = dict(zip(corpus, clusters))
    assert c["A1"] == c["A2"] == c["A3"] != c["B1"] == c["B2"] != c["C1"]


def test_search_metrics_by_hand(tmp_path):
    pairs = write_jsonl(tmp_path / "p.jsonl", TOY_PAIRS)
    preds = write_jsonl(tmp_path / "pred.jsonl", [
        {"query": "A1", "results": ["B1", "A3", "C1"]},          # hit at rank 2
        {"query": "A2", "results": ["A2", "A1", "B1"]},          # the query itself is skipped: hit at rank 1
        {"query": "B1", "results": ["C1", "A1", "A2", "A3"]},    # miss
    ])
    m = eval_search.score_predictions(pairs, preds)
    assert m["queries"] == 3 and m["corpus"] == 6
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@5"] == pytest.approx(2 / 3) and m["recall@10"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx((1 / 2 + 1 + 0) / 3)


def test_bad_pairs_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"a": "x", "b": "y", "label": 1}\n{"a": "x"}\n', encoding="utf-8")
    with pytest.raises(eval_search.EvalError, match=r"bad.jsonl:2"):
        eval_search.read_pairs(p)


def test_dedup_metrics_by_hand():
    m = eval_dedup.score_dedup(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.4, 0.1]), threshold=0.5)
    assert m["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((0.5, 0.5, 0.5))


def test_search_and_dedup_end_to_end_on_a_small_file(tmp_path):
    pairs = write_jsonl(tmp_path / "p.jsonl", [
        {"a": "信用卡怎么还款", "b": "信用卡还款方式有哪些", "label": 1},
        {"a": "怎么修改绑定的手机号", "b": "手机号换了怎么改", "label": 1},
        {"a": "信用卡怎么还款", "b": "手机号换了怎么改", "label": 0},
        {"a": "借款多久到账", "b": "为什么借款还没到账", "label": 0},
    ])
    m = eval_search.evaluate_search(pairs, tmp_path / "pred.jsonl")
    assert m["queries"] == 2 and m["recall@1"] == 1.0
    assert eval_search.score_predictions(pairs, tmp_path / "pred.jsonl") == m
    d = eval_dedup.evaluate_dedup(pairs, tmp_path / "dd.jsonl")
    assert d["average_precision"] == 1.0
    rows = [json.loads(x) for x in (tmp_path / "dd.jsonl").read_text(encoding="utf-8").splitlines()]
    from chendian.summarize.text.dedup import SAME_QUESTION_THRESHOLD

    assert set(rows[0]) == {"a", "b", "score", "same"}
    assert [r["same"] for r in rows] == [r["score"] >= SAME_QUESTION_THRESHOLD for r in rows]
    assert eval_dedup.score_predictions(pairs, tmp_path / "dd.jsonl")["average_precision"] == 1.0


@pytest.mark.slow
def test_bq_dev_figures(shared_data):
    """Regression guard on BQ dev (measured: see the module docs; about 30 s on 2 cores)."""
    pairs = shared_data / "search" / "bq-dev.pairs.jsonl"
    m = eval_search.evaluate_search(pairs)
    assert m["recall@5"] >= 0.55 and m["mrr@10"] >= 0.35
    d = eval_dedup.evaluate_dedup(pairs)
    assert d["average_precision"] >= 0.77


def test_same_question_scorer_uses_the_question_set_and_falls_back_without_one(monkeypatch):
    """With a question set of at least MIN_CONTEXT questions the context features join in; a lone pair
    gets the context-free scorer. Vectors are given, so nothing is embedded."""
    from chendian.summarize.text import dedup

    monkeypatch.setattr(dedup, "MIN_CONTEXT", 50)  # a small set stands in for a large one here
    topics = ["信用卡", "借款", "手机号", "额度", "还款日", "利息", "贷款", "银行卡", "验证码", "提现"]
    forms = ["{}怎么办理", "{}为什么不能用", "{}多久到账", "我想取消{}", "{}在哪里查看", "{}能不能提前"]
    texts = [f.format(t) for t in topics for f in forms]
    rng = np.random.default_rng(0)
    base = {t: rng.normal(size=16) for t in topics}
    vecs = np.array([base[t] + 0.8 * rng.normal(size=16) for t in topics for _ in forms], dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    at = {t: i for i, t in enumerate(texts)}
    a, b = ["信用卡怎么办理", "信用卡怎么办理"], ["信用卡在哪里查看", "利息多久到账"]
    va, vb = vecs[[at[t] for t in a]], vecs[[at[t] for t in b]]
    with_ctx = dedup.score_pairs(a, b, vectors_a=va, vectors_b=vb, context=texts, context_vectors=vecs)
    alone = dedup.score_pairs(a, b, vectors_a=va, vectors_b=vb)
    assert len(texts) >= dedup.MIN_CONTEXT
    assert ((0 <= with_ctx) & (with_ctx <= 1)).all() and with_ctx[0] > with_ctx[1]
    X = dedup.pair_feature_matrix(a, b, va, vb)
    assert alone == pytest.approx(dedup.score_features(X))
    assert with_ctx != pytest.approx(alone)
