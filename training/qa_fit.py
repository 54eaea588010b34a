"""Fit and check the QA extractor's answer-link weights on a chat gold file, with cross-validation by time
blocks; reproduces chendian/summarize/qa/answer_link_weights.npz:

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python training/qa_fit.py ../shared/data/threads/qq-dev.jsonl --write

(--write stores the weights fitted on the whole file, rounded to 2 decimals as shipped, with their feature
names; the priors extract.LINK_PRIOR_FEATURES, for signals the gold never shows, keep their shipped values.
Other options: [--blocks 5] [--threads predicted|gap].)

Conversations and reply links come from the thread module by default (as in `chendian eval qa` and the
extract stage), so the weights of same_thread and predicted_parent are fitted under the threads they will meet;
`--threads gap` uses the extractor's time-gap fallback instead.

Prints, for question detection and answer linking: the hand rules / shipped weights on the whole file, and
held-out P/R/F of weights fitted on the other time blocks (never on the block scored). Then the weights
fitted on the whole file (what extract.LINK_WEIGHTS, loaded from answer_link_weights.npz, was set from).
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
from sklearn.linear_model import LogisticRegression

from chendian.eval.qa import _threads_for, baseline_predict, read_gold_messages, score
from chendian.summarize.qa import extract


def predictions(messages, threads, weights=None, q_threshold=extract.QUESTION_THRESHOLD,
                a_threshold=extract.ANSWER_THRESHOLD):
    """`threads`: (thread_of, parent_of), or (None, None) for the extractor's time-gap fallback."""
    qas = extract.extract_qas(messages, *threads, link_weights=weights, question_threshold=q_threshold,
                              answer_threshold=a_threshold)
    qs = {i for qa in qas for i in qa.question_ids}
    at = {a: q for qa in qas for a, q in qa.answer_to.items()}
    return [{"id": m.id, "question": m.id in qs, "answer_to": at.get(m.id)} for m in messages]


def fit_link(X, y, C, names):
    model = LogisticRegression(C=C, max_iter=2000, class_weight=None)
    model.fit(X, y)
    w = {"bias": float(model.intercept_[0])}
    w.update({k: float(v) for k, v in zip(names, model.coef_[0])})
    # signals the gold never shows keep their priors (see extract.LINK_PRIOR_FEATURES)
    w.update({k: extract.LINK_WEIGHTS[k] for k in extract.LINK_PRIOR_FEATURES})
    return w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("gold")
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--C", type=float, default=0.3)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.15, 0.2, 0.25, 0.3])
    ap.add_argument("--threads", choices=["predicted", "gap"], default="predicted")
    ap.add_argument("--write", action="store_true", help=f"write {extract.LINK_WEIGHTS_FILE.name}")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cpus")
    messages, records = read_gold_messages(args.gold)
    threads = _threads_for(messages) if args.threads == "predicted" else (None, None)
    gold_answer = {str(r["id"]): r.get("answer_to") for r in records}
    n = len(messages)
    block_of = {m.id: min(args.blocks - 1, i * args.blocks // n) for i, m in enumerate(messages)}
    print(f"gold: {args.gold}: {n} messages, {args.blocks} time blocks")

    base = score(records, baseline_predict(messages))
    shipped = score(records, predictions(messages, threads))
    print(f"baseline (？/吗; next other sender)  question F1 {base['question'].f1*100:.1f}  "
          f"answer-link F1 {base['answer_link'].f1*100:.1f}")
    print(f"shipped rules + LINK_WEIGHTS (all)   question P/R/F {shipped['question'].precision*100:.1f}/"
          f"{shipped['question'].recall*100:.1f}/{shipped['question'].f1*100:.1f}  answer-link P/R/F "
          f"{shipped['answer_link'].precision*100:.1f}/{shipped['answer_link'].recall*100:.1f}/"
          f"{shipped['answer_link'].f1*100:.1f}")

    pairs = list(extract.link_candidates(messages, *threads))
    names = list(pairs[0][2])  # the features extract.link_features computes today (new ones are fitted too)
    X = np.array([[f[k] for k in names] for _, _, f in pairs])
    y = np.array([int(gold_answer.get(c) == q) for c, q, _ in pairs])
    blocks = np.array([block_of[c] for c, _, _ in pairs])
    print(f"link candidates: {len(pairs)} pairs, {y.sum()} positive")

    # Held-out: weights fitted on the other blocks score the block they never saw.
    for a_threshold in args.thresholds:
        held = {}
        per_block = []
        for b in range(args.blocks):
            w = fit_link(X[blocks != b], y[blocks != b], args.C, names)
            preds = predictions(messages, threads, w, a_threshold=a_threshold)
            block_preds = [p for p in preds if block_of[p["id"]] == b]
            held.update({p["id"]: p for p in block_preds})
            block_records = [r for r in records if block_of[str(r["id"])] == b]
            per_block.append(score(block_records, block_preds)["answer_link"].f1 * 100)
        s = score(records, list(held.values()))["answer_link"]
        print(f"held-out link (fit on other blocks, threshold {a_threshold}): P/R/F {s.precision*100:.1f}/"
              f"{s.recall*100:.1f}/{s.f1*100:.1f}   per block F1 {', '.join(f'{v:.1f}' for v in per_block)}")
    w = fit_link(X, y, args.C, names)
    print("weights fitted on the whole file:")
    print("{" + ", ".join(f'"{k}": {v:.2f}' for k, v in w.items()) + "}")
    if args.write:
        write_link_weights(w)
        print("wrote", extract.LINK_WEIGHTS_FILE)


def write_link_weights(fitted: dict[str, float]) -> None:
    """The fitted weights (2 decimals, as shipped) by feature name, the priors as they are, in the file the
    extractor loads."""
    names = [k for k in fitted if k != "bias"]
    weights = [extract.LINK_WEIGHTS[k] if k in extract.LINK_PRIOR_FEATURES else round(fitted[k], 2) for k in names]
    np.savez(extract.LINK_WEIGHTS_FILE, features=np.array(names), weights=np.array(weights),
             intercept=np.float64(round(fitted["bias"], 2)))


if __name__ == "__main__":
    main()
