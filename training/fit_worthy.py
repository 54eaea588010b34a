"""Fit the FAQ-worthiness model (chendian/summarize/qa/worthy_weights.npz) on the labelled Chinese groups.

A message is a positive when its gold line says `question` and `worthy`; every other annotated line of the
labelled days is a negative, so the model learns to rank worthy questions among everything people say.
Held-out figures come from leaving a whole group out (fit on one, score the other), never from the file fitted.

    python training/fit_worthy.py ../shared/data/threads/qq-dev.jsonl ../shared/data/threads/wechat-dev.jsonl \
        --out chendian/summarize/qa/worthy_weights.npz
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chendian.summarize.qa.worthy import CONTEXT_FEATURES, SURFACE_FEATURES, feature_matrix  # noqa: E402
from chendian.summarize.text.embed import DEFAULT_MODEL, EmbeddingCache, get_embedder  # noqa: E402

N_FEATURES = len(SURFACE_FEATURES) + len(CONTEXT_FEATURES)  # before the sentence vector's columns
C = 0.5  # L2 strength: sentence vectors are 512-d and a group has a few hundred positives


def conversation_openers(path: str) -> set[str]:
    """Ids of the messages that open a conversation, as the thread stage decodes the file (segment, embed,
    thread with the shipped weights): the worthiness model learns under the conversations it will meet."""
    from chendian.eval.gold import read_gold
    from chendian.eval.threads import as_ingested, predict_gold_chats
    from chendian.summarize.threads.linker import components

    chats = read_gold(path, "Asia/Shanghai")
    as_ingested(chats)
    parents = predict_gold_chats(chats)
    return {m.id for gc in chats for i, (m, root) in enumerate(zip(gc.messages, components(parents[gc.chat])))
            if root == i}


def load(path: str, cache: EmbeddingCache) -> tuple[np.ndarray, np.ndarray, list[str]]:
    texts, labels, opens = [], [], []
    openers = conversation_openers(path)
    for line in open(path, encoding="utf-8"):
        o = json.loads(line)
        if o.get("annotated", True) is False or not (o.get("text") or "").strip():
            continue
        texts.append(o["text"])
        labels.append(int(bool(o.get("question")) and bool(o.get("worthy"))))
        opens.append(str(o["id"]) in openers)
    vectors, _ = cache.encode(texts)
    return feature_matrix(texts, vectors, opens=opens), np.array(labels), texts


def fit(x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=2000).fit(x, y)


def save(model, dim: int, path: str) -> None:
    np.savez(path, coef=model.coef_[0].astype(np.float32), intercept=np.float32(model.intercept_[0]),
             vector_dim=np.int32(dim), surface_features=np.array(SURFACE_FEATURES + CONTEXT_FEATURES))


def held_out_faq(model, dim: int, gold: str, predictions_out: str | None = None) -> str:
    """`chendian eval faq` on a group with weights that never saw it (`predictions_out`: its FAQ predictions)."""
    import tempfile

    from chendian.eval.faq import evaluate_faq, format_report
    from chendian.summarize.qa import worthy

    with tempfile.TemporaryDirectory() as tmp:
        save(model, dim, f"{tmp}/held-out.npz")
        shipped, worthy.WEIGHTS_FILE = worthy.WEIGHTS_FILE, Path(f"{tmp}/held-out.npz")
        try:
            return format_report(evaluate_faq(gold, predictions_out, with_qa=False))
        finally:
            worthy.WEIGHTS_FILE = shipped


def main() -> None:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gold", nargs="+", help="chat gold files with FAQ-level labels (one per group)")
    ap.add_argument("--out", help="write the weights fitted on all groups here (.npz)")
    ap.add_argument("--faq-eval", action="store_true",
                    help="also run `chendian eval faq` on each group with the weights fitted without it")
    ap.add_argument("--predictions", metavar="DIR",
                    help="with --faq-eval: write each group's held-out FAQ predictions to DIR/<group>.jsonl")
    args = ap.parse_args()
    cache = EmbeddingCache(sqlite3.connect(":memory:"), get_embedder(DEFAULT_MODEL, threads=2))
    groups = {Path(g).stem: load(g, cache) for g in args.gold}
    paths = {Path(g).stem: g for g in args.gold}
    for held, (xh, yh, _) in groups.items():
        rest = [g for g in groups if g != held]
        if not rest:
            continue
        x = np.vstack([groups[g][0] for g in rest])
        y = np.concatenate([groups[g][1] for g in rest])
        p = fit(x, y).predict_proba(xh)[:, 1]
        prec, rec, _ = precision_recall_curve(yh, p)
        at_half = max((pr for pr, r in zip(prec, rec) if r >= 0.5), default=0.0)
        print(f"fit on {'+'.join(rest)}, scored on {held}: {int(yh.sum())} worthy of {len(yh)} lines, "
              f"AP {average_precision_score(yh, p):.3f}, precision at recall .5 {at_half:.3f}")
        if args.faq_eval:
            out = None
            if args.predictions:
                Path(args.predictions).mkdir(parents=True, exist_ok=True)
                out = str(Path(args.predictions) / f"{held}.jsonl")
            print(held_out_faq(fit(x, y), x.shape[1] - N_FEATURES, paths[held], out))
    if args.out:
        x = np.vstack([g[0] for g in groups.values()])
        y = np.concatenate([g[1] for g in groups.values()])
        model = fit(x, y)
        dim = x.shape[1] - N_FEATURES
        save(model, dim, args.out)
        print(f"wrote {args.out}: {N_FEATURES} surface and context features + {dim}-d vectors, {int(y.sum())} positives")


if __name__ == "__main__":
    main()
