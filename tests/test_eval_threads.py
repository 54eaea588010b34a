"""Thread metrics on hand-computed toy cases, and `evaluate_threads` end to end on a small gold file."""

from __future__ import annotations

import json
import math

import pytest

from chendian.eval.gold import GoldError, read_gold
from chendian.eval.threads import (adjusted_rand, as_ingested, evaluate_threads, exact_match, format_report, link_prf,
                                   one_minus_vi, one_to_one, time_gap_baseline)
from conftest import FIXTURES

TOY = FIXTURES / "threads" / "toy-chat.jsonl"


def test_identical_clusterings_score_perfectly():
    gold = ["a", "a", "b", "b", "c"]
    pred = [1, 1, 2, 2, 3]  # same partition, other names
    assert one_minus_vi(gold, pred) == pytest.approx(100.0)
    assert adjusted_rand(gold, pred) == pytest.approx(100.0)
    assert one_to_one(gold, pred) == pytest.approx(100.0)
    em = exact_match(gold, pred)
    assert (em["p"], em["r"], em["f"]) == (100.0, 100.0, 100.0)
    assert em["gold"] == 2  # the singleton "c" is not a conversation of size > 1


def test_vi_by_hand():
    # gold {0,1},{2,3}; pred everything together: H(gold|pred) = 1 bit, H(pred|gold) = 0 → VI = 1, n = 4.
    gold, pred = ["a", "a", "b", "b"], [0, 0, 0, 0]
    assert one_minus_vi(gold, pred) == pytest.approx(100 * (1 - 1 / math.log2(4)))
    # every message alone: H(pred|gold) = 1 bit as well.
    assert one_minus_vi(gold, [0, 1, 2, 3]) == pytest.approx(50.0)


def test_ari_by_hand():
    # gold {0,1,2},{3}; pred {0,1},{2,3}: pairs agreeing in both = 1 ({0,1}); sum_g = 3, sum_p = 2, C(4,2) = 6.
    gold, pred = ["a", "a", "a", "b"], [0, 0, 1, 1]
    expected_index = 3 * 2 / 6
    ari = (1 - expected_index) / ((3 + 2) / 2 - expected_index)
    assert adjusted_rand(gold, pred) == pytest.approx(100 * ari)


def test_one_to_one_by_hand():
    # gold {0,1,2},{3,4}; pred {0,1},{2,3,4}: best matching a↔0 (2) and b↔1 (2) → 4/5.
    gold, pred = ["a", "a", "a", "b", "b"], [0, 0, 1, 1, 1]
    assert one_to_one(gold, pred) == pytest.approx(80.0)


def test_exact_match_counts_only_identical_conversations():
    gold = ["a", "a", "b", "b", "b", "c"]
    pred = [0, 0, 1, 1, 2, 2]  # {0,1} right; {2,3} and {4,5} wrong
    em = exact_match(gold, pred)
    assert em["matched"] == 1 and em["gold"] == 2 and em["predicted"] == 3
    assert em["p"] == pytest.approx(100 / 3) and em["r"] == pytest.approx(50.0)
    assert em["f"] == pytest.approx(2 * (100 / 3) * 50 / (100 / 3 + 50))


def test_link_prf():
    gold = {("2", "1"), ("3", "2"), ("1", "1")}
    pred = {("2", "1"), ("3", "1"), ("1", "1")}
    r = link_prf(gold, pred)
    assert r["p"] == pytest.approx(200 / 3) and r["r"] == pytest.approx(200 / 3)


def test_time_gap_baseline_on_toy(tmp_path):
    chat = read_gold(TOY)[0]
    assert time_gap_baseline(chat.messages, 15) == [-1, 0, 1, -1, 3, 4, 5, -1]


def test_gold_reader_keeps_labels_out_of_the_input():
    chat = read_gold(TOY)[0]
    assert [m.id for m in chat.messages] == [str(i) for i in range(1, 9)]
    assert all(m.reply_to is None for m in chat.messages)  # gold reply_to is a label, not a quote
    assert chat.labels["2"].reply_to == "1" and chat.labels["2"].has_reply_to
    assert chat.messages[1].mentions == ["张三"]
    assert chat.messages[6].kind == "system"


def test_qq_export_senders_get_the_kinds_the_qq_reader_gives(tmp_path):
    gold = tmp_path / "qq.jsonl"
    rows = [("系统消息(10000)", "成员070加入本群"), ("成员001(6304919105)", "[表情]"), ("成员002(1234567)", "在共享盘")]
    gold.write_text("".join(json.dumps({"chat": "qq", "id": str(i), "time": f"2016-07-20 10:0{i}:00", "sender": s,
                                        "text": t}, ensure_ascii=False) + "\n" for i, (s, t) in enumerate(rows)),
                    encoding="utf-8")
    chats = read_gold(gold)
    assert as_ingested(chats) == 2
    assert [m.kind for m in chats[0].messages] == ["system", "image", "text"]


def test_gold_reader_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"chat": "c", "id": "1", "time": "2024-01-01 10:00", "sender": "a", "text": "x"}\n'
                   '{"chat": "c", "id": "2", "time": "yesterday", "sender": "a", "text": "y"}\n', encoding="utf-8")
    with pytest.raises(GoldError, match=r"bad.jsonl:2: time"):
        read_gold(bad)


def test_evaluate_threads_end_to_end(tmp_path):
    out = tmp_path / "pred.jsonl"
    r = evaluate_threads(TOY, out, use_vectors=False)
    m = r["metrics"]
    assert r["scored"] == 8 and r["messages"] == 8
    for key in ("one_minus_vi", "ari", "one_to_one", "exact_f", "link_f"):
        assert 0.0 <= m[key] <= 100.0
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == [str(i) for i in range(1, 9)]
    assert set(lines[0]) == {"id", "thread", "reply_to"}
    by_id = {x["id"]: x for x in lines}
    assert by_id["7"]["reply_to"] is None  # a system message never replies
    assert by_id["2"]["reply_to"] == "1"  # an @mention of the asker, 40 s later
    text = format_report(r)
    assert "1−VI" in text and "完全匹配" in text


def test_baseline_evaluation_reproduces_hand_scores():
    r = evaluate_threads(TOY, baseline_minutes=15)
    # The baseline splits at the 5.5 h and the overnight gap: conversations {1,2,3}, {4,5,6,7}, {8}.
    m = r["metrics"]
    assert m["exact_p"] == pytest.approx(50.0) and m["exact_r"] == pytest.approx(50.0)
    assert m["link_p"] == pytest.approx(87.5)  # every link but 7→6 is right


def test_shared_qq_baseline_matches_published_figure(shared_data):
    r = evaluate_threads(shared_data / "threads" / "qq-dev.jsonl", baseline_minutes=15)
    assert r["metrics"]["exact_f"] == pytest.approx(22.2, abs=0.05)
    assert r["metrics"]["one_minus_vi"] == pytest.approx(86.8, abs=0.05)
