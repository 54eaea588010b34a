"""Where answer linking loses: whether a message answers at all, or which question it answers.

    PYTHONPATH=. .venv/bin/python training/link_bottleneck.py ../shared/data/threads/qq-dev.jsonl ../shared/data/threads/wechat-dev.jsonl

For each chat gold file (of one chat), with the thread module's conversations as `chendian eval qa` uses them, prints answer-link
P/R/F of four decodings over the extractor's candidate pairs (question detection as shipped):
- shipped: the extractor as it is (runs, fallback links and all);
- argmax: each candidate to the question it fits best, when that probability reaches the chat's threshold;
- gold answer-ness: each message the gold calls an answer, to the question it fits best (the extractor's
  probabilities decide which question, the gold decides whether);
- gold attribution: each message the extractor links, to its gold question when that is among its candidates.
The gap between the last two says which half of the decision the extractor gets wrong more.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from chendian.eval.qa import _threads_for, read_gold_messages, score
from chendian.summarize.qa import extract


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gold", nargs="+")
    args = ap.parse_args()
    for path in args.gold:
        messages, records = read_gold_messages(path)
        threads = _threads_for(messages)
        gold = {str(r["id"]): r.get("answer_to") for r in records}
        qas = extract.extract_qas(messages, *threads, answer_threshold=None)
        questions = {i for qa in qas for i in qa.question_ids}
        shipped = {a: q for qa in qas for a, q in qa.answer_to.items()}
        candidates: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for c, q, f in extract.link_candidates(messages, *threads):
            candidates[c].append((extract.link_probability(f), q))
        best = {c: max(cs) for c, cs in candidates.items()}

        def f1(link: dict) -> str:
            s = score(records, [{"id": m.id, "question": m.id in questions, "answer_to": link.get(m.id)}
                                for m in messages])["answer_link"]
            return f"P/R/F {100 * s.precision:.1f}/{100 * s.recall:.1f}/{100 * s.f1:.1f}"

        cut = extract.chat_answer_threshold(messages, *threads)
        argmax = {c: q for c, (p, q) in best.items() if p >= cut}
        gold_answerness = {c: q for c, (_, q) in best.items() if gold.get(c) is not None}
        gold_attribution = {c: (gold[c] if gold.get(c) in {q for _, q in candidates.get(c, [])} else q)
                            for c, q in shipped.items()}
        print(path)
        for name, link in (("shipped", shipped), ("argmax", argmax), ("gold answer-ness", gold_answerness),
                           ("gold attribution", gold_attribution)):
            print(f"  {name:18s} {f1(link)}")


if __name__ == "__main__":
    main()
