"""`chendian eval repeat`: does the second asker find the first answer? Scored on a chat gold file with
FAQ-level labels (`same_as`, `answer_to`, see eval/faq.py).

The pipeline (FAQ stages, then index) runs on the gold file's messages in a throw-away workspace. Every
labelled question whose `same_as` cluster has another member becomes a query: its text is searched with the
library search `chendian search` uses (chendian.search.query.search). Over the top 1 / 5 results:
- found: an entry holds another member of the query's cluster (its questions: the entry's QAs' question ids);
- found with right answer: that entry's shown answer (its first answer's message ids) includes a gold answer
  of the cluster (a line whose `answer_to` is a question of the cluster).
The query's own entry (the one holding the query question and no other member of its cluster) would not exist
before the second asking: it is dropped from the ranking. Results under the relevance floor are not shown
to readers, so they do not count either; `below_floor` says how many queries the floor left empty.
Off-topic queries (OFF_TOPIC_QUERIES, about nothing these groups discuss) measure the other side: the share
that rightly shows nothing.
Each query without a right answer in its top 5 is put down to the first stage that lost it (MISSES): search can
only be as good as the entries it searches, and this says how much of the gap is the ranking's.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import defaultdict
from pathlib import Path

from ..search.query import RELEVANCE_FLOOR
from . import EvalError
from .faq import FAQ_STAGES, _labels, _ratio, format_ratio, run_pipeline

TOP_K = 5
# Queries about things neither labelled group (campus recruiting on QQ, payments on WeChat) ever discussed:
# a search for them should say that nothing was found.
OFF_TOPIC_QUERIES = [
    "量子引力弦论火星移民", "红烧肉怎么做才不腻", "猫咪掉毛严重怎么办", "周末去哪里爬山比较好",
    "世界杯决赛几点开始", "孕妇可以吃螃蟹吗", "电动车电池多久换一次", "钢琴考级需要准备什么",
    "怎么养多肉植物", "狗狗打疫苗要多少钱", "马拉松训练计划怎么制定", "哪里可以买到正宗的普洱茶",
    "婚礼请柬怎么写", "金鱼为什么总是死", "高血压老人饮食注意什么", "宝宝晚上不睡觉怎么办",
    "如何挑选新鲜的西瓜", "装修选瓷砖还是木地板", "吉他和弦怎么按不疼", "火锅底料怎么炒",
    "星座运势准不准", "鱼缸的水多久换一次", "自行车链条掉了怎么装", "阳台种番茄要注意什么",
    "恐龙是怎么灭绝的", "黑洞里面是什么", "哪款洗发水去屑效果好", "滑雪初学者要准备哪些装备",
    "象棋开局怎么走", "钓鱼用什么饵料好",
]


def repeat_queries(labels: dict[str, dict]) -> tuple[dict[str, str], dict[str, set[str]], dict[str, set[str]]]:
    """(question id → cluster, cluster → its question ids, cluster → its gold answer ids)."""
    cluster = {mid: str(lab["same_as"] or mid) for mid, lab in labels.items() if lab.get("question")}
    members: dict[str, set[str]] = defaultdict(set)
    for mid, c in cluster.items():
        members[c].add(mid)
    answers: dict[str, set[str]] = defaultdict(set)
    for mid, lab in labels.items():
        q = lab.get("answer_to")
        if q is not None and str(q) in cluster:
            answers[cluster[str(q)]].add(mid)
    return cluster, members, answers


def _entry_sources(root: Path) -> dict[str, dict]:
    """Search document id → {"question_ids", "answer_ids"}: FAQ entries, and QAs for an index of QAs."""
    db = sqlite3.connect(root / "chendian.db")
    db.row_factory = sqlite3.Row
    try:
        qas = {r["id"]: r for r in db.execute("SELECT id, question_id, answers FROM qas")}
        out = {}
        for r in db.execute("SELECT id, qa_ids, answers, answer, published FROM faq_entries"):
            answers = json.loads(r["answers"] or "[]")
            out[r["id"]] = {"question_ids": [qas[q]["question_id"] for q in json.loads(r["qa_ids"] or "[]") if q in qas],
                            "answer_ids": answers[0]["message_ids"] if answers and r["answer"] else [],
                            "entry": True, "published": bool(r["published"])}
        for q, r in qas.items():
            answers = json.loads(r["answers"] or "[]")
            out.setdefault(q, {"question_ids": [r["question_id"]],
                               "answer_ids": answers[0]["message_ids"] if answers else []})
        return out
    finally:
        db.close()


# Why a query's top 5 holds no right answer, from the stage that lost it (the first that applies):
MISSES = {
    "no_gold_answer": "the chat never answered this need (no entry could show a right answer)",
    "not_extracted": "no FAQ entry holds another asking of it",
    "no_right_answer": "entries hold another asking, none shows a gold answer",
    "held": "only entries held for review show a right answer",
    "not_ranked": "a published entry shows a right answer, but not in the top 5 above the floor",
}


def miss_reason(others: set[str], gold_answers: set[str], entries: list[dict]) -> str:
    """Which stage lost a query with no right answer in its top 5 (MISSES): `entries` are every FAQ entry,
    published or held, with their question ids, shown answer ids and state."""
    if not gold_answers:
        return "no_gold_answer"
    holding = [e for e in entries if set(e["question_ids"]) & others]
    if not holding:
        return "not_extracted"
    right = [e for e in holding if set(e["answer_ids"]) & gold_answers]
    if not right:
        return "no_right_answer"
    return "not_ranked" if any(e["published"] for e in right) else "held"


def score_repeat(root: Path, labels: dict[str, dict], texts: dict[str, str], *, floor: float | None = RELEVANCE_FLOOR,
                 k: int = TOP_K) -> tuple[dict, list[dict]]:
    """Search every repeat question in the built workspace at `root`; (metrics, one prediction per query)."""
    from ..search.query import search

    cluster, members, gold_answers = repeat_queries(labels)
    sources = _entry_sources(root)
    entries = [src for src in sources.values() if src.get("entry")]
    queries = sorted(q for q, c in cluster.items() if len(members[c]) > 1 and texts.get(q, "").strip())
    found = {1: 0, k: 0}
    right = {1: 0, k: 0}
    empty = 0
    misses: dict[str, int] = dict.fromkeys(MISSES, 0)
    predictions = []
    for q in queries:
        c = cluster[q]
        others = members[c] - {q}
        ranked = []
        for hit in search(root, texts[q], k=k + 3, floor=floor):
            src = sources.get(hit.id, {"question_ids": [], "answer_ids": []})
            held = set(src["question_ids"])
            if q in held and not held & others:
                continue  # the query's own entry
            ranked.append({"entry": hit.id, "question": hit.question, "score": hit.score, "relevance": hit.relevance,
                           "found": bool(held & others),
                           "right_answer": bool(held & others) and bool(set(src["answer_ids"]) & gold_answers[c]),
                           "question_ids": src["question_ids"], "answer_ids": src["answer_ids"]})
        ranked = ranked[:k]
        empty += not ranked
        found_rank = next((i for i, r in enumerate(ranked, 1) if r["found"]), None)
        right_rank = next((i for i, r in enumerate(ranked, 1) if r["right_answer"]), None)
        for cut in found:
            found[cut] += bool(found_rank and found_rank <= cut)
            right[cut] += bool(right_rank and right_rank <= cut)
        miss = None if right_rank else miss_reason(others, gold_answers[c], entries)
        if miss:
            misses[miss] += 1
        predictions.append({"query": q, "text": texts[q], "cluster": c, "found_rank": found_rank,
                            "right_answer_rank": right_rank, "miss": miss, "results": ranked})
    n = len(queries)
    off_topic_empty = sum(not search(root, text, k=k, floor=floor) for text in OFF_TOPIC_QUERIES)
    metrics = {"queries": n, "found@1": _ratio(found[1], n), f"found@{k}": _ratio(found[k], n),
               "right_answer@1": _ratio(right[1], n), f"right_answer@{k}": _ratio(right[k], n),
               "no_result": _ratio(empty, n),
               "misses": misses,
               # the most a better ranking and publishing could reach: a right entry exists, in any state
               "reachable": _ratio(right[k] + misses["held"] + misses["not_ranked"], n),
               "off_topic_no_result": _ratio(off_topic_empty, len(OFF_TOPIC_QUERIES))}
    return metrics, predictions


def gold_texts(gold_path: str | Path) -> dict[str, str]:
    from . import json_lines

    return {str(o["id"]): str(o.get("text") or "") for _, o in json_lines(Path(gold_path), "a chat gold object", EvalError)}


def evaluate_repeat(gold_path: str | Path, predictions_out: str | Path | None = None, *,
                    model: str = "use-multilingual", publish: str | None = None,
                    floor: float | None = RELEVANCE_FLOOR) -> dict:
    labels = _labels(gold_path)
    if not any(lab.get("same_as") for lab in labels.values()):
        raise EvalError(f"{gold_path}: no line carries `same_as`: FAQ-level labels are needed (see chendian eval faq --help)")
    with tempfile.TemporaryDirectory(prefix="chendian-eval-repeat-") as tmp:
        root = Path(tmp) / "ws"
        run_pipeline(gold_path, root, model, stages=[*FAQ_STAGES, "index"], publish=publish)
        metrics, predictions = score_repeat(root, labels, gold_texts(gold_path), floor=floor)
    if predictions_out:
        out = Path(predictions_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions), encoding="utf-8")
    return {"gold": str(gold_path), "publish": publish or "default", "floor": floor} | metrics


def format_report(result: dict) -> str:
    pct = format_ratio
    return "\n".join([
        f"重复提问评测 repeat-question eval: {result['gold']}  (publish {result['publish']}, floor {result['floor']}, {result['queries']} queries)",
        f"找到 found@1                  {pct(result['found@1'])}",
        f"找到 found@5                  {pct(result['found@5'])}",
        f"答案正确 right answer@1       {pct(result['right_answer@1'])}",
        f"答案正确 right answer@5       {pct(result['right_answer@5'])}",
        f"无结果 no result shown        {pct(result['no_result'])}",
        f"无关问题无结果 off-topic empty {pct(result['off_topic_no_result'])}",
        f"可达上限 reachable@5          {pct(result['reachable'])}",
        "未答对的原因 why no right answer in the top 5:",
        *(f"  {result['misses'][key]:4d}  {key:16s} {why}" for key, why in MISSES.items()),
    ])
