"""`chendian eval repeat`: the second asker finds the first answer; and the relevance floor that says when
nothing related was found."""

import json
from pathlib import Path

from chendian.eval.repeat import MISSES, OFF_TOPIC_QUERIES, evaluate_repeat, format_report, miss_reason, repeat_queries

GOLD = Path(__file__).parent / "fixtures" / "qa" / "office-chat.gold.jsonl"
# The office chat asks four things twice: 报销 (1, 18), VPN (7, 24), 打印机 (12, 29), 年假 (15, 27).
REPEATS = {"18": "1", "24": "7", "29": "12", "27": "15"}


def labelled_gold(tmp_path: Path) -> Path:
    lines = []
    for line in GOLD.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        if obj.get("question"):
            obj["same_as"] = REPEATS.get(obj["id"], obj["id"])
            obj["worthy"] = True
        lines.append(json.dumps(obj, ensure_ascii=False))
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_repeat_queries_are_the_questions_whose_cluster_has_another_member():
    labels = {"1": {"question": True, "same_as": "1"}, "2": {"question": True, "same_as": "1"},
              "3": {"question": True, "same_as": "3"}, "4": {"answer_to": "1"}, "5": {"answer_to": "3"}}
    cluster, members, answers = repeat_queries(labels)
    assert members["1"] == {"1", "2"} and members["3"] == {"3"}
    assert answers["1"] == {"4"} and cluster["2"] == "1"


def test_eval_repeat_builds_the_workspace_and_searches_every_repeat(tmp_path):
    gold = labelled_gold(tmp_path)
    result = evaluate_repeat(gold, tmp_path / "pred.jsonl", publish="all")
    assert result["queries"] == 8 and result["publish"] == "all"
    assert result["found@5"]["count"] >= result["found@1"]["count"] > 0
    assert result["right_answer@5"]["count"] <= result["found@5"]["count"]
    assert result["off_topic_no_result"]["of"] == len(OFF_TOPIC_QUERIES)
    preds = [json.loads(x) for x in (tmp_path / "pred.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(preds) == 8
    for p in preds:
        for r in p["results"]:  # the query's own entry never counts
            assert not (p["query"] in r["question_ids"] and not r["found"])
    assert any(r["found"] and r["question_ids"] for p in preds for r in p["results"])
    # every query without a right answer in its top 5 is put down to one stage, and only those are
    assert sum(result["misses"].values()) == 8 - result["right_answer@5"]["count"]
    assert all((p["miss"] is None) == bool(p["right_answer_rank"]) for p in preds)
    report = format_report(result)
    assert "reachable@5" in report and all(key in report for key in MISSES)


def test_a_miss_is_put_down_to_the_first_stage_that_lost_it():
    def entry(questions, answers, published=True):
        return {"question_ids": questions, "answer_ids": answers, "published": published}

    others = {"q2"}
    assert miss_reason(others, set(), [entry(["q2"], ["a"])]) == "no_gold_answer"
    assert miss_reason(others, {"a"}, [entry(["q1"], ["a"])]) == "not_extracted"
    assert miss_reason(others, {"a"}, [entry(["q2"], ["b"]), entry(["q2", "q3"], [])]) == "no_right_answer"
    assert miss_reason(others, {"a"}, [entry(["q2"], ["a"], published=False)]) == "held"
    assert miss_reason(others, {"a"}, [entry(["q2"], ["a"], published=False), entry(["q2"], ["a"])]) == "not_ranked"
    assert set(MISSES) == {"no_gold_answer", "not_extracted", "no_right_answer", "held", "not_ranked"}
