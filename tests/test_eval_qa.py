"""`chendian eval qa`: scoring, predictions files, bad input, and the real QQ dev gold."""

import json
from pathlib import Path

import pytest

from chendian.eval import qa as evalqa

GOLD = Path(__file__).parent / "fixtures" / "qa" / "office-chat.gold.jsonl"


def test_scores_the_fixture_and_rescores_its_predictions(tmp_path):
    out = tmp_path / "pred.jsonl"
    result = evalqa.evaluate_qa(GOLD, out)
    assert result["scored"] == result["lines"] - 1  # the one annotated=false line is not scored
    assert result["question"]["recall"] == 100.0 and result["question"]["precision"] == 100.0
    assert result["answer_link"]["tp"] >= 9 and result["answer_link"]["gold"] == 11
    lines = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert set(lines[0]) == {"id", "question", "answer_to"}
    again = evalqa.evaluate_qa(GOLD, predictions_in=out)
    assert again["question"] == result["question"] and again["answer_link"] == result["answer_link"]
    assert "问题识别" in evalqa.format_report(result)


def test_a_pair_is_right_only_when_gold_names_that_question():
    records = [{"id": "1", "question": True, "answer_to": None}, {"id": "2", "question": False, "answer_to": "1"},
               {"id": "3", "question": True, "answer_to": None}, {"id": "4", "question": False, "answer_to": "3"},
               {"id": "5", "question": False, "answer_to": None, "annotated": False}]
    preds = [{"id": "1", "question": True, "answer_to": None}, {"id": "2", "question": False, "answer_to": "3"},
             {"id": "3", "question": False, "answer_to": None}, {"id": "4", "question": False, "answer_to": "3"},
             {"id": "5", "question": True, "answer_to": "1"}]
    s = evalqa.score(records, preds)
    assert (s["question"].tp, s["question"].predicted, s["question"].gold) == (1, 1, 2)
    assert (s["answer_link"].tp, s["answer_link"].predicted, s["answer_link"].gold) == (1, 2, 2)


def test_bad_gold_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"chat":"c","id":"1","time":"2024-01-01T10:00:00","sender":"a","text":"hi"}\n{oops\n',
                   encoding="utf-8")
    with pytest.raises(evalqa.GoldError, match=r"bad.jsonl:2"):
        evalqa.read_gold_messages(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"chat":"c","time":"2024-01-01T10:00:00","sender":"a","text":"hi"}\n', encoding="utf-8")
    with pytest.raises(evalqa.GoldError, match=r"missing.jsonl:1: missing required field\(s\) id"):
        evalqa.read_gold_messages(missing)


def test_gold_labels_are_hidden_from_the_extractor(tmp_path):
    gold = tmp_path / "gold.jsonl"
    lines = [json.loads(x) for x in GOLD.read_text(encoding="utf-8").splitlines() if x.strip()]
    lines[1]["reply_to"] = lines[0]["id"]
    gold.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    messages, records = evalqa.read_gold_messages(gold)
    assert all(m.reply_to is None for m in messages)
    assert all("reply_to" not in r and "thread" not in r for r in records)


def test_beats_the_baseline_on_the_real_qq_group(shared_data):
    result = evalqa.evaluate_qa(shared_data / "threads" / "qq-dev.jsonl")
    assert result["question"]["f1"] >= result["baseline"]["question"]["f1"] + 10
    assert result["answer_link"]["f1"] >= result["baseline"]["answer_link"]["f1"] + 10
