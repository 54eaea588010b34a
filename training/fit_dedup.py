"""Refit the same-question scorer on a labelled pairs file: reproduces chendian/summarize/text/dedup_weights.npz.

    PYTHONPATH=. .venv/bin/python training/fit_dedup.py ../shared/data/search/bq-dev.pairs.jsonl --write \
        [--vectors CACHE.npy]

writes the shipped file (weights rounded to 3 decimals, as shipped, with the feature names); without --write it
only reports.

Fits both scorers: the context-free one (FEATURES → WEIGHTS) and the one with the context features of the
question set (FEATURES + CONTEXT_FEATURES → CONTEXT_WEIGHTS; context = every distinct sentence of the file,
as the faq stage sees its whole question set). Reports 5-fold held-out AP (folds grouped by connected sentences, so no sentence is in train and test) and
the F1-optimal threshold on held-out scores, then the weights fitted on all pairs.
"""

import argparse
import os
import platform
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_fscore_support
from sklearn.model_selection import GroupKFold

from chendian.eval.search import corpus_and_clusters, read_pairs
from chendian.summarize.text import dedup

ap = argparse.ArgumentParser()
ap.add_argument("pairs")
ap.add_argument("--vectors", help="cache file for the sentence vectors (.npy)")
ap.add_argument("--write", action="store_true", help=f"write the weights fitted on all pairs to {dedup.WEIGHTS_FILE.name}")
args = ap.parse_args()
print(platform.platform(), os.cpu_count(), "cpus", file=sys.stderr)
pairs = read_pairs(args.pairs)
corpus, _ = corpus_and_clusters(pairs)
if args.vectors and os.path.exists(args.vectors):
    vecs = np.load(args.vectors)
else:
    vecs = dedup.question_vectors(corpus)
    if args.vectors:
        np.save(args.vectors, vecs)
at = {s: i for i, s in enumerate(corpus)}
ctx = dedup.QuestionContext(corpus, vecs)
X_all = dedup.pair_feature_matrix([p.a for p in pairs], [p.b for p in pairs], vecs[[at[p.a] for p in pairs]],
                                  vecs[[at[p.b] for p in pairs]], ctx)
y = np.array([p.label for p in pairs])
# group = connected component over all pairs (labelled 0 or 1)
parent = list(range(len(corpus)))
def find(x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x
for p in pairs:
    ra, rb = find(at[p.a]), find(at[p.b])
    if ra != rb:
        parent[ra] = rb
groups = np.array([find(at[p.a]) for p in pairs])
print(f"pairs {len(y)}  groups {len(set(groups))}")
print(f"cosine alone AP {average_precision_score(y, X_all[:, 0]):.4f}")
fitted = {}
for name, X in (("context-free", X_all[:, :len(dedup.FEATURES)]), ("with context", X_all)):
    held = np.zeros(len(y))
    for tr, te in GroupKFold(5).split(X, y, groups):
        held[te] = LogisticRegression(max_iter=5000).fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
    full = LogisticRegression(max_iter=5000).fit(X, y)
    print(f"{name}: held-out 5-fold AP {average_precision_score(y, held):.4f}, "
          f"in-sample AP {average_precision_score(y, full.predict_proba(X)[:, 1]):.4f}")
    for t in (0.3, 0.4, 0.5, 0.6):
        p, r, f, _ = precision_recall_fscore_support(y, held >= t, average="binary", zero_division=0)
        print(f"  held-out at {t}: P {p:.3f} R {r:.3f} F1 {f:.3f}")
    print("  weights =", np.round(full.coef_[0], 3).tolist(), " intercept =", round(float(full.intercept_[0]), 3))
    fitted[name] = np.round(full.coef_[0], 3), round(float(full.intercept_[0]), 3)
if dedup.CONTEXT_WEIGHTS is not None:
    print("current module weights AP on these pairs:", round(average_precision_score(y, dedup.score_features(X_all)), 4))
if args.write:
    # one file, beside the module that loads it, with the feature names the columns stand for
    np.savez(dedup.WEIGHTS_FILE, features=np.array(dedup.FEATURES), weights=fitted["context-free"][0],
             intercept=np.float64(fitted["context-free"][1]), context_features=np.array(dedup.CONTEXT_FEATURES),
             context_weights=fitted["with context"][0], context_intercept=np.float64(fitted["with context"][1]))
    print("wrote", dedup.WEIGHTS_FILE)
