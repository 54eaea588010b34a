"""Train the thread linker (chendian/summarize/threads/linker.py) and export it to chendian/summarize/threads/thread_linker.npz.

Reproduce the shipped weights (5 min 04 s measured on one CPU thread of a shared 2-core box; the sentence vectors
come from the --cache sqlite file; a cold cache embeds 214k texts with USE first, which I did not time):

    OMP_NUM_THREADS=1 .venv/bin/python training/train_thread_linker.py
    DENSE="--features dense-ahead --vector-dim 32 --epochs 6 --window 100"
    for seed in 13 23; do OMP_NUM_THREADS=1 .venv/bin/python training/train_thread_linker.py $DENSE \
        --seed $seed --out /tmp/dense-$seed.npz; done  # 30 min each
    .venv/bin/python training/train_thread_linker.py --merge /tmp/dense-13.npz /tmp/dense-23.npz \
        --out chendian/summarize/threads/thread_linker_dense.npz
    for k in 0 1 2 3; do OMP_NUM_THREADS=1 .venv/bin/python training/train_thread_linker.py $DENSE \
        --holdout $k/4 --out /tmp/fold$k.npz; done  # 20-25 min each, two at a time on 2 cores
    .venv/bin/python training/train_thread_linker.py --conversation-pass /tmp/fold[0-3].npz \
        --out chendian/summarize/threads/thread_linker_conversations.npz  # 9.5 min

The first command trains the default weights. The next ones train the weights for dense channels
(thread.DENSE_WEIGHTS_FILE): the same recipe with the sender-pair history features (thread.HISTORY_FEATURES),
the bounded look-ahead features (thread.LOOKAHEAD_FEATURES) and a learned 32-d projection of the sentence
vectors, over 100 candidates, trained for 6 epochs, two seeds merged into one 6-member ensemble. Serial
chats (gitter-dev, qq-dev) never use them.

The last two train the conversation pass (thread.CONVERSATION_WEIGHTS_FILE, thread.conversation_scores): a
second look at each message's 10 best candidates once the dense weights' links have built conversations (is
the candidate the latest line of its conversation, has the asker spoken in it, does the candidate's author
answer the message later, ...). It must learn from first-pass links as they are on chats the first pass never
saw, so the dense recipe is trained four times, each leaving a quarter of the training chats out
(--holdout K/4), and the pass learns from the links each gives the quarter it left out. Its "new conversation"
shift is cross-fitted on the same chats (each quarter decoded by a pass trained on the other three): -0.25.
Held-out training chats, 4 folds pooled (153 chats, 67k scored lines; 1-VI / exact F): first pass alone
93.64 / 35.65, with the conversation pass 94.09 / 36.31 at the chosen -0.25 (and at 0; F moves by under 0.1
from -0.375 to 0).
Measured on ubuntu-dev (1-VI / exact F / link F):
    the shipped dense weights alone                 92.32 / 38.84 / 75.2
    + the conversation pass (shipped)               93.42 / 41.69 / 75.9   (ARI 79.0, 1-1 83.7)
    + the same pass, network seeds 100-104          93.40 / 41.32 / 76.2   (its cross-fitted shift: -0.125)
    + a pass trained on two quarters only           93.56 / 42.32 / 76.0
The pass's design (10 candidates, 18 features, one hidden layer of 32, 30 epochs, 5 networks) was settled on
two held-out quarters; ubuntu-dev was read three times along the way (single networks: F 39.2-39.8).
The dense weights' own new-conversation shift, fitted on the same held-out chats, is -0.125 to 0 (flat), so
the first pass keeps none.
How the dense weights were chosen (ubuntu-dev, 1-VI / exact F / link F, seeds 13 | 23):
    default features (seeds 13, 23)                 91.27 / 34.88 / 73.1   91.46 / 35.92 / 73.1
    + history (the previous dense weights)          91.61 / 36.20 / 73.8   91.63 / 36.61 / 74.0
    + history + look-ahead                          91.43 / 37.42 / 73.8   92.00 / 38.29 / 74.0
      the same, window 100                          91.64 / 39.19 / 74.2   91.44 / 37.39 / 74.1
    + history + look-ahead + vectors                91.50 / 35.11 / 75.1   92.29 / 38.93 / 75.2
      seeds 33, 43                                  92.02 / 36.72 / 74.6   91.27 / 34.88 / 73.1
      merged 13 + 23 (6 members)                    91.99 / 37.42 / 75.3   (thread time 5.0 s vs 3.9 s before)
      merged 13 + 23 + 33 + 43 (12 members)         91.72 / 37.89 / 75.2   (8.1 s)
      without the augmented copies (--no-augment)   91.19 / 35.50 / 74.0   91.67 / 36.40 / 73.9
      6 epochs instead of 4                         91.97 / 35.11 / 74.9   92.51 / 38.75 / 74.9
      6 epochs, merged 13 + 23                      92.39 / 37.69 / 74.8   (5.0 s)
      6 epochs, window 100                          92.30 / 38.67 / 75.0   92.23 / 39.64 / 75.3
      6 epochs, window 100, merged 13 + 23 (shipped) 92.32 / 38.84 / 75.2  (7.8-8.9 s)
The number of epochs (4 or 6) and the window (50 or 100) were chosen on ubuntu-dev, as Kummerfeld et al.
chose theirs (their window is 101).
The history features alone, as dense weights: gitter-dev 97.99 / 78.89 and qq-dev 88.23 / 23.00 under serial
decoding (vs 97.89 / 77.78 and 87.95 / 26.34 with the default weights), so thread.link uses them for dense
chats only.

Data: Ubuntu IRC disentanglement train split (Kummerfeld et al. 2019, CC BY 4.0), read in place, never
copied. Nothing else is fitted: ubuntu-dev only chooses hyper-parameters, gitter-dev and qq-dev are never used.

Model (Kummerfeld et al. 2019's recipe): for each message a softmax over {new conversation, the previous
`window` messages} scored by a feed-forward network (2 hidden layers, softsign), trained with cross-entropy
and Adam; an ensemble of `--members` seeds whose scores are averaged. Features are language-independent
(structure, @/name addressing, time relative to the chat's own pace, tf-idf with the chat's own idf,
sentence-vector cosine), so the English-trained weights serve Chinese chats.

Regimes: #ubuntu is dense (tens of conversations interleaved); a WeChat/QQ work group is sparse and bursty.
Besides each training chat as it is, the script adds *thinned* copies (only a random fraction of the
conversations kept, with their real timestamps: fewer interleaved conversations, longer gaps) and
*time-stretched* copies (every gap multiplied: the same structure at a slower pace), so that the model
learns from the density features what a given silence means in a given chat. Inference needs numpy only.

`--vector-dim d` (off by default) also learns a d-dimensional projection of the sentence vectors whose
child x candidate product and |difference| join the network's inputs (as Kummerfeld et al. do with GloVe).
It raises reply-link F on ubuntu-dev and qq-dev 1-VI, but costs gitter-dev 1-VI and exact-match F, and its
ubuntu-dev 1-VI gain does not hold across seeds, so the shipped weights do not use it (levers tried below).

Levers measured on ubuntu-dev (1-VI / exact-match F / link F; shipped 3 x 128: 91.27 / 34.88 / 73.12), single
members of one setting differ by up to 1.3 1-VI and 6 F between seeds:
    window 100, 3 x 128          90.96 / 36.36 / 73.04   (and 2.4x slower before the score() speed-up)
    hidden 256, 2 members        91.16 / 33.26 / 73.40
    6 members (seeds 13-18)      91.23 / 35.37 / 73.76
    --vector-dim 16, 5 members   91.00 / 33.33 / 73.92   (qq-dev 86.57 / 20.59, gitter-dev 97.03 / 70.78)
    --vector-dim 32, 3 members   91.69 / 35.56 / 74.36   (qq-dev 86.80 / 21.11, gitter-dev 96.52 / 68.28)
    both, 8 members              90.82 / 35.19 / 74.04
(shipped: qq-dev 83.48 / 17.25, gitter-dev 97.31 / 73.74 with argmax decoding; thread.link's default
"auto" decoding, which gates new conversations by silence in serial chats, makes them 87.95 / 26.34 and
97.89 / 77.78, ubuntu-dev unchanged.)
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chendian.eval.gold import GoldChat, read_gold  # noqa: E402
from chendian.summarize.threads import linker as T  # noqa: E402
from chendian.summarize.text.embed import DEFAULT_MODEL  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "threads"


def thinned(gc: GoldChat, keep: float, rng: random.Random) -> tuple[list, dict[str, str | None]]:
    """Annotated messages of a random `keep` fraction of the conversations; parents re-pointed inside them."""
    msgs = [m for m in gc.messages if gc.labels[m.id].annotated and gc.labels[m.id].thread]
    threads = sorted({gc.labels[m.id].thread for m in msgs})
    kept_threads = {t for t in threads if rng.random() < keep}
    kept = [m for m in msgs if gc.labels[m.id].thread in kept_threads]
    ids = {m.id for m in kept}
    last_in_thread: dict[str, str] = {}
    parent: dict[str, str | None] = {}
    for m in kept:
        lab = gc.labels[m.id]
        p = lab.reply_to if lab.reply_to and lab.reply_to != m.id else None
        if p is not None and p not in ids:
            p = last_in_thread.get(lab.thread)  # its parent was context: the previous kept message of the thread
        parent[m.id] = p
        last_in_thread[lab.thread] = m.id
    return kept, parent


def stretch(p: T.Prepared, factor: float) -> T.Prepared:
    """The same chat with every gap `factor` times longer (pace-relative features stay, minutes change)."""
    if factor == 1.0:
        return p
    p.ts = p.ts[0] + (p.ts - p.ts[0]) * factor
    p.pace = p.pace * factor
    p.msgs_hour = (np.arange(p.n) - np.searchsorted(p.ts, p.ts - 3600.0, side="left")).astype(np.float32)
    return p


def examples(msgs, parent: dict[str, str | None], scored: set[str], tokens, vectors, window: int,
             factor: float = 1.0, unaddressed: bool = False, gpos: np.ndarray | None = None):
    """(X, valid, target, child, candidates) for scored messages whose gold parent is a candidate (or who start
    a conversation); child and candidates are rows of the global vector table `gpos` points into (-1: none).

    `unaddressed` hides who names whom: IRC users answer "name: …", group-chat members mostly just answer,
    and the model must not read a missing address as "starts a new conversation"."""
    p = stretch(T.prepare(msgs, tokens, vectors), factor)
    if unaddressed:
        p.addressed[:] = -1
        p.address_events = p.address_events[:0]
    index = {m.id: i for i, m in enumerate(msgs)}
    xs, vs, ys, cs, gs = [], [], [], [], []
    if gpos is None:
        gpos = np.full(len(msgs), -1, dtype=np.int64)
    ks = np.arange(1, window + 1)
    rows = np.array([i for i, m in enumerate(msgs) if m.id in scored and m.id in parent], dtype=np.int64)
    for lo in range(0, len(msgs), T.BLOCK):
        hi = min(lo + T.BLOCK, len(msgs))
        sel = rows[(rows >= lo) & (rows < hi)]
        if not len(sel):
            continue
        X, valid = T.features(p, lo, hi, window)
        for i in sel:
            m = msgs[i]
            par = parent[m.id]
            k = 0 if par is None else i - index.get(par, -10**9)
            if not (0 <= k <= window) or not valid[i - lo, k]:
                continue  # the gold parent is out of reach: no target among the candidates
            if valid[i - lo].sum() == 1:
                continue  # nothing to choose (a system line, the first message): teaches nothing
            xs.append(X[i - lo])
            vs.append(valid[i - lo])
            ys.append(k)
            cs.append(gpos[i])
            g = np.full(window + 1, -1, dtype=np.int64)
            ok = valid[i - lo, 1:]
            g[1:][ok] = gpos[i - ks[ok]]
            gs.append(g)
    if not xs:
        return None
    return (np.stack(xs).astype(np.float16), np.stack(vs), np.array(ys, dtype=np.int16),
            np.array(cs, dtype=np.int32), np.stack(gs).astype(np.int32))


def load_chats(path: str, cache_path: str | None):
    """(GoldChat, tokens, vectors or None) per chat of a gold file."""
    from chendian.summarize.text.embed import EmbeddingCache, get_embedder
    from chendian.summarize.text.segment import segmenter

    seg = segmenter()
    cache = None
    if cache_path:
        cache = EmbeddingCache(sqlite3.connect(cache_path, isolation_level=None), get_embedder(threads=1))
    out = []
    for gc in read_gold(path):
        tokens = [seg.tokens(m.text) for m in gc.messages]
        vectors = cache.encode([m.text for m in gc.messages])[0] if cache else None
        out.append((gc, tokens, vectors))
    return out


# (fraction of conversations kept, time-stretch factor, addresses hidden) of the augmented copies
VARIANTS = ((0.3, 1.0, False), (0.1, 1.0, False), (0.3, 4.0, False), (0.3, 20.0, True), (0.1, 10.0, True))


def build(chats, window: int, variants=VARIANTS, seed: int = 13, log=print):
    """Training examples: every chat as it is plus one augmented copy per entry of `variants`.

    Returns X, valid, target and, for the learned vector projection, each example's child and candidate
    rows of the table of all the chats' sentence vectors (the last value; None without vectors)."""
    rng = random.Random(seed)
    parts = []
    offset = 0
    for n, (gc, tokens, vectors) in enumerate(chats):
        scored = {m.id for m in gc.messages if gc.labels[m.id].annotated and gc.labels[m.id].has_reply_to}
        parent = {mid: (gc.labels[mid].reply_to if gc.labels[mid].reply_to != mid else None) for mid in scored}
        gpos = offset + np.arange(len(gc.messages))
        offset += len(gc.messages)
        ex = examples(gc.messages, parent, scored, tokens, vectors, window, gpos=gpos)
        if ex:
            parts.append(ex)
        pos = {m.id: i for i, m in enumerate(gc.messages)}
        for keep, factor, unaddressed in variants:
            kept, par = thinned(gc, keep, rng)
            if len(kept) < 5:
                continue
            sub = [pos[m.id] for m in kept]
            sub_tokens = [tokens[i] for i in sub]
            sub_vec = vectors[sub] if vectors is not None else None
            ex = examples(kept, par, set(par), sub_tokens, sub_vec, window, factor, unaddressed, gpos[sub])
            if ex:
                parts.append(ex)
        if (n + 1) % 25 == 0:
            log(f"  {n + 1}/{len(chats)} chats, {sum(len(p[2]) for p in parts)} examples")
    X, V, Y, C, G = (np.concatenate([p[k] for p in parts]) for k in range(5))
    table = None
    if all(c[2] is not None for c in chats):
        table = np.concatenate([c[2] for c in chats]).astype(np.float16)  # like X: half the memory
    return X, V, Y.astype(np.int64), C, G, table


def standardiser(X, V):
    flat = X[V].astype(np.float32)
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def merge(paths: list[str], out: str) -> None:
    """One ensemble of the members of several trained files (same features and window): each member's
    standardisation is folded into its first layer, so members trained on differently drawn copies agree."""
    models = [T.load_model(p) for p in paths]
    if len({(m.features, m.window, m.vector_model) for m in models}) != 1:
        raise SystemExit("--merge: the files were trained with different features, windows or vector models")
    layers, projections = [], []
    for m in models:
        F = len(m.mean)
        for member, P in zip(m.layers, m.projections):
            w0, b0 = member[0]
            w = np.vstack([w0[:F] / m.std[:, None], w0[F:]]).astype(np.float32)
            b = (b0 - (m.mean / m.std) @ w0[:F]).astype(np.float32)
            layers.append([(w, b), *member[1:]])
            projections.append(P)
    F = len(models[0].mean)
    T.LinkerModel(np.zeros(F, np.float32), np.ones(F, np.float32), layers, models[0].features, projections,
                  models[0].window, models[0].vector_model).save(out)


def train_member(X, V, Y, mean, std, hidden: int, layers: int, epochs: int, seed: int, lr: float = 1e-3,
                 batch: int = 256, log=print, vectors=None, C=None, G=None, dim: int = 0, decay: float = 0.5):
    """One network: softmax over the candidate slots, cross-entropy, Adam with a decaying learning rate.

    With `dim` > 0 the network also learns a projection of the sentence vectors (`vectors` rows indexed by
    the examples' child `C` and candidates `G`, -1 = none) whose product and |difference| join its inputs.
    Returns (layers as (weight, bias) arrays, projection or None)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    F = X.shape[-1]
    proj = None
    if dim:
        proj = torch.nn.Linear(vectors.shape[1], dim, bias=False)
        table = torch.from_numpy(vectors.astype(np.float32))
    mods, width = [], F + 2 * dim
    for _ in range(layers):
        mods += [torch.nn.Linear(width, hidden), torch.nn.Softsign()]
        width = hidden
    mods.append(torch.nn.Linear(width, 1))
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.Adam(list(net.parameters()) + (list(proj.parameters()) if proj else []), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: decay ** e)
    mean_t, std_t = torch.from_numpy(mean), torch.from_numpy(std)
    n = len(Y)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=g).numpy()
        total, correct = 0.0, 0
        for a in range(0, n, batch):
            b = np.sort(perm[a:a + batch])
            xb = (torch.from_numpy(X[b].astype(np.float32)) - mean_t) / std_t
            vb = torch.from_numpy(V[b])
            yb = torch.from_numpy(Y[b])
            if proj is not None:
                gb = torch.from_numpy(G[b].astype(np.int64))
                qc = proj(table[torch.from_numpy(C[b].astype(np.int64))]).unsqueeze(1)  # (B, 1, d)
                qk = proj(table[gb.clamp(min=0)])  # (B, window + 1, d)
                vf = torch.cat([qc * qk, (qc - qk).abs()], dim=-1) * (gb >= 0).unsqueeze(-1)
                xb = torch.cat([xb, vf], dim=-1)
            scores = net(xb).squeeze(-1).masked_fill(~vb, -1e9)
            loss = torch.nn.functional.cross_entropy(scores, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
            correct += int((scores.argmax(1) == yb).sum())
        sched.step()
        log(f"  seed {seed} epoch {epoch + 1}: loss {total / n:.4f}, slot accuracy {correct / n:.3f}")
    linears = [mod for mod in net if isinstance(mod, torch.nn.Linear)]
    weights = [(lin.weight.detach().numpy().T.copy(), lin.bias.detach().numpy().copy()) for lin in linears]
    return weights, (proj.weight.detach().numpy().T.copy() if proj is not None else None)


BIAS_GRID = np.round(np.arange(-1.0, 0.76, 0.125), 3)


def held_out_scores(paths: list[str], chats) -> list[list[tuple]]:
    """Per --holdout file: (gold chat, prepared chat, first-pass scores) of each training chat it left out,
    scored as thread.link scores a dense channel."""
    folds = []
    for path in paths:
        with np.load(path, allow_pickle=False) as z:
            if "holdout" not in z:
                raise SystemExit(f"{path} was not trained with --holdout")
            k, n = (int(v) for v in z["holdout"])
        model = T.load_model(path)
        held = []
        for pos, (gc, tokens, vectors) in enumerate(chats):
            if pos % n == k:
                p = T.prepare(gc.messages, tokens, vectors, vector_model=DEFAULT_MODEL)
                held.append((gc, p, T.scores(p, model, model.window or T.DEFAULT_WINDOW)))
        folds.append(held)
    return folds


def conversation_examples(held) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The conversation pass's training examples: features of each scored message's candidate slots, which
    slots exist, and the gold slot (messages whose gold parent the first pass did not rank are left out,
    as are quotes and notices, which the decoder links without the model)."""
    xs, vs, ys = [], [], []
    for gc, p, sc in held:
        slots, F = T.conversation_features(p, sc)
        pos = {m.id: i for i, m in enumerate(gc.messages)}
        for i, m in enumerate(gc.messages):
            lab = gc.labels[m.id]
            if not (lab.annotated and lab.has_reply_to) or p.explicit[i] >= 0 or not p.linkable[i]:
                continue
            if lab.reply_to in (None, m.id):
                slot = 0
            elif lab.reply_to in pos:
                slot = i - pos[lab.reply_to]
            else:
                continue
            hit = np.flatnonzero(slots[i] == slot)
            if len(hit):
                xs.append(F[i])
                vs.append(slots[i] >= 0)
                ys.append(hit[0])
    return np.stack(xs), np.stack(vs), np.array(ys, dtype=np.int64)


def conversation_pass(paths: list[str], train: str, cache: str | None, out: str, members: int = 5,
                      seed: int = 0, log=print) -> None:
    """Train the conversation pass (thread.conversation_scores) on the first-pass links of training chats the
    --holdout files never saw, and fit its "new conversation" shift by cross-fitting: each fold is decoded by
    a pass trained on the other folds, and the shift that maximises exact-match F over all of them (averaged
    with its grid neighbours: the curve is noisy) is kept. The final pass is trained on every fold."""
    from chendian.eval.threads import score_predictions

    folds = held_out_scores(paths, load_chats(train, cache))
    log(f"{sum(len(f) for f in folds)} held-out chats in {len(folds)} folds")
    examples = [conversation_examples(f) for f in folds]
    F = examples[0][0].shape[-1]
    identity = (np.zeros(F, np.float32), np.ones(F, np.float32))  # the features are small already

    def fit(parts) -> T.LinkerModel:
        X, V, Y = (np.concatenate([e[k] for e in parts]) for k in range(3))
        trained = [train_member(X, V, Y, *identity, hidden=32, layers=1, epochs=30, seed=seed + s,
                                lr=3e-3, batch=512, decay=1.0, log=lambda _: None)[0] for s in range(members)]
        return T.LinkerModel(*identity, trained, T.CONVERSATION_FEATURES)

    decoded = []  # (gold chat, prepared chat, conversation-pass scores without a shift)
    for f, held in enumerate(folds):
        model = fit([e for g, e in enumerate(examples) if g != f])
        decoded += [(gc, p, T.conversation_scores(p, sc, model)) for gc, p, sc in held]
        log(f"  fold {f + 1}/{len(folds)} decoded by a pass trained on the others")
    f_by_bias = []
    for bias in BIAS_GRID:
        parents = {}
        for gc, p, sc in decoded:
            shifted = sc.copy()
            shifted[:, 0] += bias
            parents[gc.chat] = [int(x) for x in T.decode(p, shifted, "argmax")[0]]
        m = score_predictions([gc for gc, _, _ in decoded], parents)
        f_by_bias.append(m["exact_f"])
        log(f"  shift {bias:+.3f}: 1-VI {m['one_minus_vi']:.2f}, exact F {m['exact_f']:.2f}")
    smooth = np.convolve(np.pad(f_by_bias, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    model = fit(examples)
    model.self_bias = float(BIAS_GRID[int(np.argmax(smooth))])
    model.save(out)
    log(f"self_bias {model.self_bias:+.3f} (smoothed held-out exact F {smooth.max():.2f}); saved {out}")


def parse_fold(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise SystemExit(f"--holdout: expected K/N with 0 <= K < N, got {text!r}")
    return int(k), int(n)


def add_arrays(path: str, **arrays) -> None:
    """Add (or replace) named arrays in a saved weights file."""
    with np.load(path, allow_pickle=False) as z:
        kept = {k: z[k] for k in z.files if k not in arrays}
    np.savez_compressed(path, **kept, **arrays)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", default=str(SHARED / "ubuntu-train.jsonl.gz"))
    ap.add_argument("--cache", default="/tmp/chendian-train-embeddings.sqlite",
                    help="sqlite file caching sentence vectors between runs")
    ap.add_argument("--no-vectors", action="store_true")
    ap.add_argument("--out", default=str(T.WEIGHTS_FILE))
    ap.add_argument("--window", type=int, default=T.DEFAULT_WINDOW)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--members", type=int, default=3, help="ensemble size (seeds)")
    ap.add_argument("--vector-dim", type=int, default=0,
                    help="learned projection of the sentence vectors to this many dimensions (0: none)")
    ap.add_argument("--no-augment", action="store_true", help="train on the chats as they are only")
    ap.add_argument("--features", choices=["default", "dense", "dense-ahead"], default="default",
                    help="dense: also the sender-pair history features (the weights for dense channels); "
                         "dense-ahead: and the look-ahead features")
    ap.add_argument("--max-chats", type=int, default=0)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--holdout", metavar="K/N",
                    help="leave out the training chats whose position is K modulo N (for --conversation-pass)")
    ap.add_argument("--conversation-pass", nargs="+", metavar="NPZ",
                    help="train the conversation pass on the first-pass links that these --holdout files "
                         "give the chats they left out, and save it to --out")
    ap.add_argument("--merge", nargs="+", metavar="NPZ",
                    help="train nothing: write the members of these trained files as one ensemble to --out")
    args = ap.parse_args(argv)
    if args.merge:
        merge(args.merge, args.out)
        print(f"merged {len(args.merge)} files into {args.out}")
        return
    if args.conversation_pass:
        conversation_pass(args.conversation_pass, args.train, args.cache, args.out)
        return

    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:5.0f}s] {msg}", flush=True)

    chats = load_chats(args.train, None if args.no_vectors else args.cache)
    holdout = parse_fold(args.holdout) if args.holdout else None
    if holdout:  # positions in the whole file, as --conversation-pass counts them
        chats = [c for n, c in enumerate(chats) if n % holdout[1] != holdout[0]]
    if args.max_chats:
        chats = random.Random(args.seed).sample(chats, min(args.max_chats, len(chats)))
    log(f"{len(chats)} chats, {sum(len(c[0].messages) for c in chats)} messages")
    X, V, Y, C, G, table = build(chats, args.window, () if args.no_augment else VARIANTS, args.seed, log)
    log(f"{len(Y)} examples, {np.mean(Y == 0):.2%} start a conversation")
    if args.vector_dim and table is None:
        ap.error("--vector-dim needs sentence vectors (drop --no-vectors)")
    left_out = {"default": T.HISTORY_FEATURES + T.LOOKAHEAD_FEATURES, "dense": T.LOOKAHEAD_FEATURES,
                "dense-ahead": ()}[args.features]
    names = tuple(f for f in T.FEATURES if f not in left_out)
    X = X[..., [T.FEATURES.index(f) for f in names]]
    mean, std = standardiser(X, V)
    trained = [train_member(X, V, Y, mean, std, args.hidden, args.layers, args.epochs, args.seed + k, log=log,
                            vectors=table, C=C, G=G, dim=args.vector_dim)
               for k in range(args.members)]
    own_window = args.window if args.window != T.DEFAULT_WINDOW else None
    T.LinkerModel(mean, std, [t[0] for t in trained], names, projections=[t[1] for t in trained],
                  window=own_window, vector_model=DEFAULT_MODEL if args.vector_dim else "").save(args.out)
    if holdout:
        add_arrays(args.out, holdout=np.array(holdout))
    log(f"saved {args.out}")


if __name__ == "__main__":
    main()
