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
    assert "问题识别" in evalqa.format_report(result) and "链接错误" in evalqa.format_report(result)


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


def test_link_errors_name_where_each_wrong_or_missed_link_went():
    records = [{"id": "q1", "question": True, "answer_to": None}, {"id": "a1", "question": False, "answer_to": "q1"},
               {"id": "q2", "question": True, "answer_to": None}, {"id": "a2", "question": False, "answer_to": "q2"},
               {"id": "s", "question": False, "answer_to": None}, {"id": "r", "question": False, "answer_to": None},
               {"id": "q3", "question": True, "answer_to": None}, {"id": "a3", "question": False, "answer_to": "q3"},
               {"id": "a4", "question": False, "answer_to": "q1"},
               {"id": "x", "question": False, "answer_to": "q1", "annotated": False}]
    preds = [{"id": "q1", "question": True, "answer_to": None},
             {"id": "a1", "question": False, "answer_to": "q2"},  # answers q1, linked to q2
             {"id": "q2", "question": True, "answer_to": None},
             {"id": "a2", "question": False, "answer_to": "q2"},  # right
             {"id": "s", "question": True, "answer_to": None},  # asks nothing, by the gold
             {"id": "r", "question": False, "answer_to": "s"},  # a link to a non-question
             {"id": "q3", "question": False, "answer_to": None},
             {"id": "a3", "question": False, "answer_to": None},  # its question was not found
             {"id": "a4", "question": False, "answer_to": None},  # not linked
             {"id": "x", "question": False, "answer_to": None}]  # not scored
    errors = evalqa.link_errors(records, preds)
    assert errors == {"question_missed": 1, "linked_elsewhere": 1, "not_linked": 1, "to_non_question": 1,
                      "answers_other": 1, "answers_nothing": 0}
    preds[5]["answer_to"] = "q2"  # the same reply now linked to a real question it does not answer
    assert evalqa.link_errors(records, preds)["answers_nothing"] == 1
    s = evalqa.score(records, preds)["answer_link"]
    # every wrong link and every missed gold link is counted once on its side
    assert s.predicted - s.tp == sum(evalqa.link_errors(records, preds)[k] for k in
                                     ("to_non_question", "answers_other", "answers_nothing"))
    assert s.gold - s.tp == sum(evalqa.link_errors(records, preds)[k] for k in
                                ("question_missed", "linked_elsewhere", "not_linked"))


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
