"""Train the thread linker (chendian/summarize/thread.py) and export it to chendian/summarize/thread_linker.npz.

    .venv/bin/python scripts/train_thread_linker.py [--train ../shared/data/threads/ubuntu-train.jsonl.gz]
        [--cache /tmp/chendian-train-embeddings.sqlite] [--out chendian/summarize/thread_linker.npz]

Data: Ubuntu IRC disentanglement (Kummerfeld et al. 2019, CC BY 4.0), read in place, never copied.
Every feature is language-independent (structure, time relative to the chat's pace, tf-idf with the chat's
own idf, sentence-vector cosine), so the English-trained weights serve Chinese chats.

Regimes: Ubuntu #ubuntu is dense (tens of conversations interleaved); a WeChat/QQ work group is sparse and
bursty. Besides each training chat as it is, the script adds *thinned* copies: only a random fraction of
its conversations is kept (with their real timestamps), which is what a quieter channel looks like — fewer
interleaved conversations, longer gaps. The model sees both regimes and the density features tell them apart.
Training is a listwise softmax over {new conversation, previous `window` messages} (torch, CPU); inference
needs numpy only.
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
from chendian.summarize.embed import EmbeddingCache, get_embedder  # noqa: E402
from chendian.summarize.segment import segmenter  # noqa: E402

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


def examples(msgs, parent: dict[str, str | None], scored: set[str], tokens, vectors, window: int):
    """(X, valid, target) for scored messages whose gold parent is a candidate (or who start a conversation)."""
    p = T.prepare(msgs, tokens, vectors)
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
            xs.append(X[i - lo])
            vs.append(valid[i - lo])
            ys.append(k)
    if not xs:
        return None
    return np.stack(xs), np.stack(vs), np.array(ys)


def chat_inputs(gc_msgs, seg, cache):
    tokens = [seg.tokens(m.text) for m in gc_msgs]
    vectors, _ = cache.encode([m.text for m in gc_msgs]) if cache else (None, 0)
    return tokens, vectors


def build(chats, seg, cache, window, keeps, copies, seed):
    rng = random.Random(seed)
    parts = []
    for n, gc in enumerate(chats):
        scored = {m.id for m in gc.messages if gc.labels[m.id].annotated and gc.labels[m.id].has_reply_to}
        parent = {mid: (gc.labels[mid].reply_to if gc.labels[mid].reply_to != mid else None) for mid in scored}
        tokens, vectors = chat_inputs(gc.messages, seg, cache)
        ex = examples(gc.messages, parent, scored, tokens, vectors, window)
        if ex:
            parts.append(ex)
        for keep in keeps:
            for _ in range(copies):
                kept, par = thinned(gc, keep, rng)
                if len(kept) < 5:
                    continue
                pos = {m.id: i for i, m in enumerate(gc.messages)}
                sub_tokens = [tokens[pos[m.id]] for m in kept]
                sub_vec = vectors[[pos[m.id] for m in kept]] if vectors is not None else None
                ex = examples(kept, par, set(par), sub_tokens, sub_vec, window)
                if ex:
                    parts.append(ex)
        if (n + 1) % 20 == 0:
            print(f"  {n + 1}/{len(chats)} chats, {sum(len(p[2]) for p in parts)} examples", flush=True)
    X = np.concatenate([p[0] for p in parts])
    V = np.concatenate([p[1] for p in parts])
    Y = np.concatenate([p[2] for p in parts])
    return X, V, Y


def train(X, V, Y, hidden: int, epochs: int, seed: int, lr: float = 3e-3, weight_decay: float = 1e-4) -> T.LinkerModel:
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    flat = X[V]
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std[std < 1e-6] = 1.0
    Xt = torch.from_numpy((X - mean) / std).float()
    Vt = torch.from_numpy(V)
    Yt = torch.from_numpy(Y).long()
    F = X.shape[-1]
    net = torch.nn.Sequential(torch.nn.Linear(F, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(Y)
    for epoch in range(epochs):
        perm = torch.randperm(n)
        total, correct = 0.0, 0
        for a in range(0, n, 512):
            b = perm[a:a + 512]
            scores = net(Xt[b]).squeeze(-1).masked_fill(~Vt[b], -1e9)
            loss = torch.nn.functional.cross_entropy(scores, Yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
            correct += int((scores.argmax(1) == Yt[b]).sum())
        print(f"  epoch {epoch + 1}: loss {total / n:.4f}, slot accuracy {correct / n:.3f}", flush=True)
    w1 = net[0].weight.detach().numpy().T.copy()
    b1 = net[0].bias.detach().numpy().copy()
    w2 = net[2].weight.detach().numpy().ravel().copy()
    b2 = float(net[2].bias.detach().numpy()[0])
    return T.LinkerModel(mean.astype(np.float32), std.astype(np.float32), w1, b1, w2, b2)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", default=str(SHARED / "ubuntu-train.jsonl.gz"))
    ap.add_argument("--cache", default="/tmp/chendian-train-embeddings.sqlite",
                    help="sqlite file caching sentence vectors between runs")
    ap.add_argument("--no-vectors", action="store_true")
    ap.add_argument("--out", default=str(T.WEIGHTS_FILE))
    ap.add_argument("--window", type=int, default=T.DEFAULT_WINDOW)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--keep", type=float, nargs="*", default=[0.3, 0.1], help="thinning fractions")
    ap.add_argument("--copies", type=int, default=1, help="thinned copies per fraction and chat")
    ap.add_argument("--max-chats", type=int, default=0)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)

    t0 = time.time()
    chats = read_gold(args.train)
    if args.max_chats:
        chats = random.Random(args.seed).sample(chats, min(args.max_chats, len(chats)))
    print(f"{len(chats)} chats, {sum(len(c.messages) for c in chats)} messages ({time.time() - t0:.0f}s)", flush=True)
    cache = None if args.no_vectors else EmbeddingCache(sqlite3.connect(args.cache, isolation_level=None),
                                                         get_embedder(threads=1))
    X, V, Y = build(chats, segmenter(), cache, args.window, args.keep, args.copies, args.seed)
    print(f"{len(Y)} examples, {np.mean(Y == 0):.2%} start a conversation ({time.time() - t0:.0f}s)", flush=True)
    model = train(X, V, Y, args.hidden, args.epochs, args.seed)
    model.save(args.out)
    print(f"saved {args.out} ({time.time() - t0:.0f}s)")


if __name__ == "__main__":
    main()
