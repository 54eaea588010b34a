"""Train the thread linker (chendian/summarize/thread.py) and export it to chendian/summarize/thread_linker.npz.

Reproduce the shipped weights (5 min 04 s measured on one CPU thread of a shared 2-core box; the sentence vectors
come from the --cache sqlite file; a cold cache embeds 214k texts with USE first, which I did not time):

    OMP_NUM_THREADS=1 .venv/bin/python scripts/train_thread_linker.py

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
from chendian.summarize import thread as T  # noqa: E402

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
             factor: float = 1.0, unaddressed: bool = False):
    """(X, valid, target) for scored messages whose gold parent is a candidate (or who start a conversation).

    `unaddressed` hides who names whom: IRC users answer "name: …", group-chat members mostly just answer,
    and the model must not read a missing address as "starts a new conversation"."""
    p = stretch(T.prepare(msgs, tokens, vectors), factor)
    if unaddressed:
        p.addressed[:] = -1
    index = {m.id: i for i, m in enumerate(msgs)}
    xs, vs, ys = [], [], []
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
    if not xs:
        return None
    return np.stack(xs).astype(np.float16), np.stack(vs), np.array(ys, dtype=np.int16)


def load_chats(path: str, cache_path: str | None):
    """(GoldChat, tokens, vectors or None) per chat of a gold file."""
    from chendian.summarize.embed import EmbeddingCache, get_embedder
    from chendian.summarize.segment import segmenter

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
    """Training examples: every chat as it is plus one augmented copy per entry of `variants`."""
    rng = random.Random(seed)
    parts = []
    for n, (gc, tokens, vectors) in enumerate(chats):
        scored = {m.id for m in gc.messages if gc.labels[m.id].annotated and gc.labels[m.id].has_reply_to}
        parent = {mid: (gc.labels[mid].reply_to if gc.labels[mid].reply_to != mid else None) for mid in scored}
        ex = examples(gc.messages, parent, scored, tokens, vectors, window)
        if ex:
            parts.append(ex)
        pos = {m.id: i for i, m in enumerate(gc.messages)}
        for keep, factor, unaddressed in variants:
            kept, par = thinned(gc, keep, rng)
            if len(kept) < 5:
                continue
            sub_tokens = [tokens[pos[m.id]] for m in kept]
            sub_vec = vectors[[pos[m.id] for m in kept]] if vectors is not None else None
            ex = examples(kept, par, set(par), sub_tokens, sub_vec, window, factor, unaddressed)
            if ex:
                parts.append(ex)
        if (n + 1) % 25 == 0:
            log(f"  {n + 1}/{len(chats)} chats, {sum(len(p[2]) for p in parts)} examples")
    X = np.concatenate([p[0] for p in parts])
    V = np.concatenate([p[1] for p in parts])
    Y = np.concatenate([p[2] for p in parts]).astype(np.int64)
    return X, V, Y


def standardiser(X, V):
    flat = X[V].astype(np.float32)
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def train_member(X, V, Y, mean, std, hidden: int, layers: int, epochs: int, seed: int, lr: float = 1e-3,
                 batch: int = 256, log=print):
    """One network: softmax over the candidate slots, cross-entropy, Adam with a decaying learning rate."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    F = X.shape[-1]
    mods, width = [], F
    for _ in range(layers):
        mods += [torch.nn.Linear(width, hidden), torch.nn.Softsign()]
        width = hidden
    mods.append(torch.nn.Linear(width, 1))
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)
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
    return [(lin.weight.detach().numpy().T.copy(), lin.bias.detach().numpy().copy()) for lin in linears]


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
    ap.add_argument("--no-augment", action="store_true", help="train on the chats as they are only")
    ap.add_argument("--max-chats", type=int, default=0)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)

    t0 = time.time()

    def log(msg):
        print(f"[{time.time() - t0:5.0f}s] {msg}", flush=True)

    chats = load_chats(args.train, None if args.no_vectors else args.cache)
    if args.max_chats:
        chats = random.Random(args.seed).sample(chats, min(args.max_chats, len(chats)))
    log(f"{len(chats)} chats, {sum(len(c[0].messages) for c in chats)} messages")
    X, V, Y = build(chats, args.window, () if args.no_augment else VARIANTS, args.seed, log)
    log(f"{len(Y)} examples, {np.mean(Y == 0):.2%} start a conversation")
    mean, std = standardiser(X, V)
    members = [train_member(X, V, Y, mean, std, args.hidden, args.layers, args.epochs, args.seed + k, log=log)
               for k in range(args.members)]
    T.LinkerModel(mean, std, members).save(args.out)
    log(f"saved {args.out}")


if __name__ == "__main__":
    main()
