"""`chendian eval faq`: the FAQ scored as users see it, on a chat gold file with FAQ-level labels.

The whole pipeline (segment → embed → thread → topics → extract → faq) runs on the gold file's messages in a
throw-away workspace; what is scored is what the site would publish: each FAQ entry's shown question and shown
answer, and the 待回答 list (questions nobody answered).

Gold FAQ labels (on question lines, beside DESIGN.md's chat gold fields):
- `same_as`: id of the earliest question with the same information need (its own id for the first one);
- `worthy`: a self-contained question worth an FAQ entry;
- `canonical` (on cluster roots, optional): the title a curator would give.

Metrics (only lines with `annotated` true or absent count):
- entry precision: entries showing an answer whose shown question is a worthy gold question and whose shown
  answer contains a gold answer (`answer_to`) to a question of that same_as cluster;
- coverage: worthy clusters that have a gold answer and a correct entry, over worthy clusters with a gold answer;
- merge precision / recall: pairs of gold questions placed in one entry that share a cluster, over all such
  pairs; and same-cluster pairs placed in one entry, over same-cluster pairs that both became questions;
- unanswered precision: 待回答 items (questions with no answer) that are worthy and that no gold answer answers;
- question F and answer-link F of the extractor (as `chendian eval qa`).
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections import defaultdict
from itertools import combinations
from pathlib import Path

from . import EvalError, json_lines
from .gold import read_gold


def _labels(path: str | Path) -> dict[str, dict]:
    """id → the FAQ-level labels of a gold line (question, same_as, worthy, answer_to, annotated)."""
    out = {}
    for _, obj in json_lines(Path(path), 'a chat gold object {"chat","id","time","sender","text",…}', EvalError):
        if obj.get("annotated", True) is False:
            continue
        out[str(obj["id"])] = {k: obj.get(k) for k in ("question", "same_as", "worthy", "answer_to", "canonical")}
    return out


def _ratio(num: int, den: int) -> dict:
    """num/den with its 95% Wilson interval: on a few dozen entries one item moves a figure by several points, so
    a report says how far the figure itself could be from the truth before anyone reads a change into it."""
    return {"count": num, "of": den, "value": round(num / den, 3) if den else None, "ci95": wilson_interval(num, den)}


def wilson_interval(num: int, den: int, z: float = 1.96) -> list[float] | None:
    """The Wilson score interval of a proportion num/den (None when den is 0)."""
    if not den:
        return None
    p = num / den
    centre = (p + z * z / (2 * den)) / (1 + z * z / den)
    half = z * math.sqrt(p * (1 - p) / den + z * z / (4 * den * den)) / (1 + z * z / den)
    return [round(max(0.0, centre - half), 3), round(min(1.0, centre + half), 3)]


def format_ratio(r: dict) -> str:
    """"62.5  (35/56; 95% 49.4–74.0)" as the eval reports print a _ratio."""
    if r["value"] is None:
        return "   —"
    ci = r.get("ci95")
    interval = f"; 95% {100 * ci[0]:.1f}–{100 * ci[1]:.1f}" if ci else ""
    return f"{100 * r['value']:5.1f}  ({r['count']}/{r['of']}{interval})"


def _faq_stages() -> list[str]:
    """The flow after ingest up to and including faq (the talks stage too: it takes lecture lines out of answers)."""
    from ..pipeline import STAGE_NAMES

    return list(STAGE_NAMES[1:STAGE_NAMES.index("faq") + 1])


FAQ_STAGES = _faq_stages()


def set_config_value(root: Path, section: str, key: str, value: str) -> None:
    """Set `key = "value"` in the [section] of the workspace's chendian.toml (the key must be there)."""
    path = root / "chendian.toml"
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition(f"[{section}]\n")
    body, nxt, tail = rest.partition("\n[")
    body, n = re.subn(rf'(?m)^{re.escape(key)} = [^#\n]*', f'{key} = "{value}"  ', body, count=1)
    if not sep or not n:
        raise EvalError(f"{path}: no `{key}` in [{section}]")
    path.write_text(head + sep + body + nxt + tail, encoding="utf-8")


def run_pipeline(gold_path: str | Path, root: Path, model: str = "use-multilingual",
                 stages: list[str] = FAQ_STAGES, publish: str | None = None) -> None:
    """The gold file's messages imported into a new workspace at `root`, then the given stages run
    (`publish`: the [faq] publish setting to use instead of the default)."""
    from ..pipeline import run_stages
    from ..store import Workspace

    ws = Workspace(root, create=True)
    try:
        configured_model = ws.config.embed.model
        if model != configured_model or (publish and publish != ws.config.faq.publish):
            ws.close()
            if model != configured_model:
                set_config_value(root, "embed", "model", model)
            if publish:
                set_config_value(root, "faq", "publish", publish)
            ws = Workspace(root)
        with ws.transaction():
            for chat in read_gold(gold_path, ws.config.tz):
                ws.upsert_chat(chat.chat, chat.chat, "gold")
                ws.insert_messages(chat.messages, import_id=0)
        report = run_stages(ws, stages, quiet=True)
        failed = [s for s in report.stages if s.status == "failed"]
        if failed:
            raise EvalError(f"stage {failed[0].name} failed: {failed[0].note}")
    finally:
        ws.close()


def shown_question_id(db, qa) -> str:
    """The message an entry's or 待回答 item's title starts from (`qa`: a row of `qas`). A question of several
    messages is titled from the question itself when its first message only calls for help ("群里有懂报销的大佬吗？"
    then "差旅补贴按出发日还是返回日算？", faq.entry_wording): the reader sees the second, and that is what is judged."""
    from ..summarize.qa.faq import clean_question, entry_wording

    lines = [line for line in (qa["question"] or "").split("\n") if line.strip()]
    if len(lines) < 2:
        return qa["question_id"]
    title = entry_wording(qa["question"])
    shown = next((i for i, line in enumerate(lines) if title.startswith(clean_question(line)[:12])), 0)
    if shown == 0:
        return qa["question_id"]
    first = db.execute("SELECT chat, sender, ts FROM messages WHERE id = ?", (qa["question_id"],)).fetchone()
    if first is None:
        return qa["question_id"]
    for mid, text in db.execute("SELECT id, text FROM messages WHERE chat = ? AND sender = ? AND ts >= ?"
                                " ORDER BY ts, rowid LIMIT 50", tuple(first)):
        if (text or "").strip() == lines[shown].strip():
            return mid
    return qa["question_id"]


def published_faq(db, min_worthy_unanswered: float) -> tuple[list[dict], list[dict]]:
    """(entries, unanswered) as the site shows them: entries not hidden, each with its shown question's
    source message, its shown answer's messages, confidence and every source question; and the questions
    listed as 待回答 (no answer, and not left out by summarize/qa/faq.off_the_open_list)."""
    from types import SimpleNamespace

    from ..summarize.qa.faq import entry_wording, off_the_open_list

    qas = {r["id"]: r for r in db.execute("SELECT id, question_id, question, answers FROM qas")}
    rows = db.execute("SELECT * FROM faq_entries ORDER BY first_ts, id").fetchall()
    # as the site's 待回答 list leaves them out
    hidden_qas = off_the_open_list(
        [SimpleNamespace(hidden=r["hidden"], worthy=r["worthy"], answer=r["answer"], qa_ids=json.loads(r["qa_ids"] or "[]"))
         for r in rows], min_worthy_unanswered, {q for q, r in qas.items() if not json.loads(r["answers"] or "[]")})
    entries = []
    for r in rows:
        qa_ids = json.loads(r["qa_ids"] or "[]")
        if r["hidden"]:
            continue
        answers = json.loads(r["answers"] or "[]")
        shown = next((qas[q] for q in qa_ids if q in qas and entry_wording(qas[q]["question"]) == r["question"]),
                     qas.get(qa_ids[0]) if qa_ids else None)
        entries.append({
            "entry": r["id"], "question": r["question"], "answer": r["answer"] or "",
            "source_question": shown_question_id(db, shown) if shown else None,
            "question_ids": [qas[q]["question_id"] for q in qa_ids if q in qas],
            "answer_ids": answers[0]["message_ids"] if answers and r["answer"] else [],
            "confidence": r["confidence"], "worthy": r["worthy"], "published": bool(r["published"]),
        })
    unanswered = [{"qa": q, "question_id": shown_question_id(db, r), "question": r["question"]}
                  for q, r in qas.items() if not json.loads(r["answers"] or "[]") and q not in hidden_qas]
    return entries, unanswered


# What is wrong with a published entry that is not right, or a 待回答 item that is not a real open question (the
# first that applies): says whether the question or the answer let the user down.
ENTRY_ERRORS = {
    "not_a_question": "the shown question asks nothing (gold: no question)",
    "not_worthy": "a question, but not one worth an entry (a fragment of its moment, chit-chat, logistics)",
    "wrong_answer": "the shown answer is not one of the chat's answers to it",
    "never_answered": "an answer is shown, but the chat never answered it",
}
UNANSWERED_ERRORS = {
    "not_a_question": "asks nothing (gold: no question)",
    "not_worthy": "a question, but not one worth an entry",
    "answered": "the chat did answer it: the answer was missed",
}


def score_faq(labels: dict[str, dict], entries: list[dict], unanswered: list[dict]) -> dict:
    cluster = {mid: str(lab["same_as"] or mid) for mid, lab in labels.items() if lab.get("question")}
    worthy_cluster = defaultdict(bool)
    for mid, c in cluster.items():
        worthy_cluster[c] |= bool(labels[mid].get("worthy"))
    # gold answers: answer message → the cluster of the question it answers
    answers_of_cluster: dict[str, set[str]] = defaultdict(set)
    answered_questions = set()
    for mid, lab in labels.items():
        q = lab.get("answer_to")
        if q is not None and str(q) in cluster:
            answers_of_cluster[cluster[str(q)]].add(mid)
            answered_questions.add(str(q))

    shown = [e for e in entries if e["published"] and e["answer_ids"] and e["source_question"] in labels]
    right, covered = 0, set()
    entry_errors = dict.fromkeys(ENTRY_ERRORS, 0)
    for e in shown:
        q = e["source_question"]
        c = cluster.get(q)
        if c is None:
            why = "not_a_question"
        elif not labels[q].get("worthy"):
            why = "not_worthy"
        elif not set(e["answer_ids"]) & answers_of_cluster.get(c, set()):
            why = "wrong_answer" if answers_of_cluster.get(c) else "never_answered"
        else:
            why = None
        e["right"] = why is None
        if why:
            e["wrong"] = why
            entry_errors[why] += 1
        else:
            right += 1
            covered.add(c)
    coverable = {c for c, w in worthy_cluster.items() if w and answers_of_cluster.get(c)}

    merged_pairs = same_pairs = 0
    together: set[tuple[str, str]] = set()
    for e in entries:
        qs = sorted({q for q in e["question_ids"] if q in cluster})
        for a, b in combinations(qs, 2):
            together.add((a, b))
            merged_pairs += 1
            same_pairs += cluster[a] == cluster[b]
    extracted = sorted({q for e in entries for q in e["question_ids"] if q in cluster}
                       | {u["question_id"] for u in unanswered if u["question_id"] in cluster})
    gold_pairs = [(a, b) for a, b in combinations(extracted, 2) if cluster[a] == cluster[b]]
    found_pairs = sum(1 for p in gold_pairs if p in together)

    listed = [u for u in unanswered if u["question_id"] in labels]
    truly = 0
    unanswered_errors = dict.fromkeys(UNANSWERED_ERRORS, 0)
    for u in listed:
        q = u["question_id"]
        why = ("not_a_question" if not labels[q].get("question") else "not_worthy" if not labels[q].get("worthy")
               else "answered" if q in answered_questions else None)
        u["right"] = why is None
        if why:
            u["wrong"] = why
            unanswered_errors[why] += 1
        truly += u["right"]
    return {
        "entry_precision": _ratio(right, len(shown)),
        "coverage": _ratio(len(covered & coverable), len(coverable)),
        "merge_precision": _ratio(same_pairs, merged_pairs),
        "merge_recall": _ratio(found_pairs, len(gold_pairs)),
        "unanswered_precision": _ratio(truly, len(listed)),
        "entry_errors": entry_errors,
        "unanswered_errors": unanswered_errors,
        "entries_published": len([e for e in entries if e["published"]]),
        "entries_held": len([e for e in entries if not e["published"]]),
    }


def evaluate_faq(gold_path: str | Path, predictions_out: str | Path | None = None, *,
                 model: str = "use-multilingual", with_qa: bool = True) -> dict:
    labels = _labels(gold_path)
    if not any(lab.get("same_as") for lab in labels.values()):
        raise EvalError(f"{gold_path}: no line carries `same_as`: FAQ-level labels are needed (see chendian eval faq --help)")
    with tempfile.TemporaryDirectory(prefix="chendian-eval-faq-") as tmp:
        root = Path(tmp) / "ws"
        run_pipeline(gold_path, root, model)
        from ..store import Workspace

        with Workspace(root) as ws:
            entries, unanswered = published_faq(ws.db, ws.config.faq.min_worthy_unanswered)
    result = {"gold": str(gold_path)} | score_faq(labels, entries, unanswered)
    if with_qa:
        from .qa import evaluate_qa

        qa = evaluate_qa(gold_path)
        result["question_f1"] = qa["question"]["f1"]
        result["answer_link_f1"] = qa["answer_link"]["f1"]
    if predictions_out:
        out = Path(predictions_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"kind": "entry"} | e, ensure_ascii=False) for e in entries]
        lines += [json.dumps({"kind": "unanswered"} | u, ensure_ascii=False) for u in unanswered]
        out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return result


def format_report(result: dict) -> str:
    pct = format_ratio
    lines = [f"FAQ 评测 FAQ eval: {result['gold']}  "
             f"发布 published {result['entries_published']}, 待审 held {result['entries_held']}",
             f"条目准确率 entry precision     {pct(result['entry_precision'])}",
             f"覆盖率 coverage                {pct(result['coverage'])}",
             f"合并准确率 merge precision     {pct(result['merge_precision'])}",
             f"合并召回率 merge recall        {pct(result['merge_recall'])}",
             f"待回答准确率 unanswered prec.  {pct(result['unanswered_precision'])}"]
    for title, key, reasons in (("错误条目 wrong entries", "entry_errors", ENTRY_ERRORS),
                                ("待回答误列 wrong 待回答 items", "unanswered_errors", UNANSWERED_ERRORS)):
        if key in result:
            lines.append(f"{title}:")
            lines.extend(f"  {result[key][k]:4d}  {k:15s} {why}" for k, why in reasons.items())
    if "question_f1" in result:
        lines.append(f"问题识别 question F1 {result['question_f1']:.1f}   答案链接 answer-link F1 {result['answer_link_f1']:.1f}")
    return "\n".join(lines)
