"""`chendian eval qa`: question detection and answer linking against a chat gold file.

Gold lines (DESIGN.md chat gold): {"chat","id","time","sender","text", "question"?, "answer_to"?, "annotated"?}.
Every line is fed to the extractor (context lines too); only lines with `annotated` true or absent are scored,
questions on lines that carry a `question` label, answer links on lines that carry an `answer_to` key.
A predicted (answer, question) pair is right when the gold line of the answer names that question.

The extractor sees only what an export would hold: chat, id, time, sender, text (and @mentions in the text).
Gold thread / reply_to labels are never shown to it.
"""

from __future__ import annotations

import json

from dataclasses import asdict, dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from ..model import Message
from . import json_lines
from .gold import GoldError, read_gold  # noqa: F401  (GoldError is part of this module's interface)


def read_gold_messages(path: str | Path, tz: ZoneInfo | str = "Asia/Shanghai") -> tuple[list[Message], list[dict]]:
    """The gold file's messages (labels stripped, as an export would give them) and its QA labels as records
    {"id", "annotated", "question"?, "answer_to"?} (a key is present only when the line is labelled for it)."""
    messages: list[Message] = []
    records: list[dict] = []
    for chat in read_gold(path, tz):
        messages.extend(chat.messages)
        for m in chat.messages:
            label = chat.labels[m.id]
            record = {"id": m.id, "annotated": label.annotated}
            if label.question is not None:
                record["question"] = bool(label.question)
            if label.has_answer_to:
                record["answer_to"] = label.answer_to
            records.append(record)
    return messages, records


def _threads_for(messages: list[Message]):
    """Conversations and predicted parents from the thread module (chendian.summarize.threads.linker), or (None, {})."""
    try:
        from ..summarize.threads.linker import thread_messages
    except ImportError:
        return None, {}
    thread_of, parent_of = {}, {}
    by_chat: dict[str, list[Message]] = {}
    for m in messages:
        by_chat.setdefault(m.chat, []).append(m)
    for chat, ms in by_chat.items():
        ms.sort(key=lambda m: m.time)
        try:
            parents, labels = thread_messages(ms)
        except Exception:  # noqa: BLE001 — a thread model not built yet must not stop the QA evaluation
            return None, {}
        for k, m in enumerate(ms):
            thread_of[m.id] = f"{chat}#{int(labels[k])}"
            parent_of[m.id] = ms[int(parents[k])].id if int(parents[k]) >= 0 else None
    return thread_of, parent_of


def predict(messages: list[Message], method: str = "rules", use_thread_module: bool = True) -> list[dict]:
    """One prediction per message: {"id","question","answer_to"}."""
    from ..summarize.qa import extract

    if method == "baseline":
        return baseline_predict(messages)
    if method != "rules":
        raise ValueError(f"method must be rules or baseline, not {method!r}")
    thread_of, parent_of = _threads_for(messages) if use_thread_module else (None, {})
    qas = extract.extract_qas(messages, thread_of, parent_of, answer_threshold=None)  # each chat's own, as the stage
    questions = {i for qa in qas for i in qa.question_ids}
    answer_to = {a: q for qa in qas for a, q in qa.answer_to.items()}
    return [{"id": m.id, "question": m.id in questions, "answer_to": answer_to.get(m.id)} for m in messages]


def baseline_predict(messages: list[Message]) -> list[dict]:
    """Baseline: a question ends with ？/? or 吗; its answer is the next message of someone else (within 2 h)."""
    from ..summarize.qa.extract import baseline_is_question

    preds = [{"id": m.id, "question": baseline_is_question(m.text), "answer_to": None} for m in messages]
    for i, m in enumerate(messages):
        if not preds[i]["question"]:
            continue
        for k in range(i + 1, len(messages)):
            n = messages[k]
            if n.chat != m.chat or (n.time - m.time).total_seconds() > 7200:
                break
            if n.sender != m.sender:
                if preds[k]["answer_to"] is None and not preds[k]["question"]:
                    preds[k]["answer_to"] = m.id
                break
    return preds


@dataclass
class PRF:
    tp: int
    predicted: int
    gold: int

    @property
    def precision(self) -> float:
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return asdict(self) | {"precision": round(100 * self.precision, 1), "recall": round(100 * self.recall, 1),
                               "f1": round(100 * self.f1, 1)}


def _scored(r: dict) -> bool:
    return r.get("annotated", True) is not False


def score(records: list[dict], predictions: list[dict]) -> dict[str, PRF]:
    """Question P/R/F and answer-link P/R/F of predictions against gold records."""
    pred = {str(p["id"]): p for p in predictions}
    q_tp = q_pred = q_gold = 0
    a_tp = a_pred = a_gold = 0
    for r in records:
        if not _scored(r):
            continue
        rid = str(r["id"])
        p = pred.get(rid, {})
        if "question" in r:
            g, y = bool(r["question"]), bool(p.get("question"))
            q_gold += g
            q_pred += y
            q_tp += g and y
        if "answer_to" in r:
            g = r["answer_to"]
            y = p.get("answer_to")
            a_gold += g is not None
            a_pred += y is not None
            a_tp += y is not None and g is not None and str(y) == str(g)
    return {"question": PRF(q_tp, q_pred, q_gold), "answer_link": PRF(a_tp, a_pred, a_gold)}


# Where answer linking loses, line by line (the first cause that applies). A gold link missed: its question was not
# found, or the reply was linked to another question, or to none. A predicted link that is wrong: the message it
# was linked to asks nothing (by the gold), or the reply answers another question, or it answers nothing at all.
# On both labelled groups most errors are replies that answer nothing linked, and answers left unlinked: whether a
# message answers at all is harder than which question it answers (docs/evaluation.md).
LINK_ERRORS = {
    "question_missed": "a gold answer whose question was not found",
    "linked_elsewhere": "a gold answer linked to another question",
    "not_linked": "a gold answer linked to no question",
    "to_non_question": "a link to a message the gold calls no question",
    "answers_other": "a link from a reply that answers another question",
    "answers_nothing": "a link from a reply that answers no question",
}


def link_errors(records: list[dict], predictions: list[dict]) -> dict[str, int]:
    """How many scored answer links fall under each of LINK_ERRORS: missed gold links (recall) and wrong predicted
    links (precision)."""
    pred = {str(p["id"]): p for p in predictions}
    question = {str(r["id"]): r.get("question") for r in records if _scored(r)}
    out = dict.fromkeys(LINK_ERRORS, 0)
    for r in records:
        if not _scored(r) or "answer_to" not in r:
            continue
        gold = None if r["answer_to"] is None else str(r["answer_to"])
        got = pred.get(str(r["id"]), {}).get("answer_to")
        got = None if got is None else str(got)
        if gold == got:
            continue
        if gold is not None:
            if not pred.get(gold, {}).get("question"):
                out["question_missed"] += 1
            else:
                out["linked_elsewhere" if got is not None else "not_linked"] += 1
        if got is not None:
            if not question.get(got):
                out["to_non_question"] += 1
            else:
                out["answers_other" if gold is not None else "answers_nothing"] += 1
    return out


def read_predictions(path: str | Path) -> list[dict]:
    out = []
    for n, obj in json_lines(path, '{"id","question","answer_to"}', GoldError):
        if "id" not in obj:
            raise GoldError(f'{path}:{n}: expected {{"id","question","answer_to"}}')
        out.append(obj)
    return out


def evaluate_qa(gold_path: str | Path, predictions_out: str | Path | None = None, *, method: str = "rules",
                predictions_in: str | Path | None = None, tz: str = "Asia/Shanghai",
                use_thread_module: bool = True) -> dict:
    """Score the extractor (or the baseline, or a predictions file) on a chat gold file.

    Returns {"gold": path, "method", "lines", "scored", "question": {...}, "answer_link": {...},
    "baseline": {...same for the ？/吗 baseline}}. Writes predictions as JSONL when predictions_out is given.
    """
    messages, records = read_gold_messages(gold_path, tz)
    if predictions_in:
        predictions = read_predictions(predictions_in)
        method = f"file:{predictions_in}"
    else:
        predictions = predict(messages, method, use_thread_module=use_thread_module)
    result = score(records, predictions)
    errors = link_errors(records, predictions)
    base = score(records, baseline_predict(messages))
    if predictions_out:
        out = Path(predictions_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions), encoding="utf-8")
    return {
        "gold": str(gold_path), "method": method, "lines": len(records),
        "scored": sum(1 for r in records if _scored(r)),
        "question": result["question"].as_dict(), "answer_link": result["answer_link"].as_dict(),
        "link_errors": errors,
        "baseline": {"question": base["question"].as_dict(), "answer_link": base["answer_link"].as_dict()},
    }


def format_report(result: dict) -> str:
    """Human-readable summary (Chinese first)."""
    lines = [f"问答评测 QA eval: {result['gold']}  方法 method={result['method']}  "
             f"行 lines={result['lines']} 计分 scored={result['scored']}",
             f"{'':16}{'P':>7}{'R':>7}{'F1':>7}   {'baseline F1':>11}"]
    for key, label in (("question", "问题识别 question"), ("answer_link", "答案链接 answer")):
        r, b = result[key], result["baseline"][key]
        lines.append(f"{label:16}{r['precision']:7.1f}{r['recall']:7.1f}{r['f1']:7.1f}   {b['f1']:11.1f}")
    errors = result.get("link_errors")
    if errors:
        lines.append("链接错误 link errors (missed gold links, then wrong links):")
        lines.extend(f"  {errors[k]:5d}  {k:17s} {LINK_ERRORS[k]}" for k in LINK_ERRORS)
    return "\n".join(lines)


