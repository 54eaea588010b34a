"""Benchmark: thread linker time on synthetic chats of growing size, and embedding throughput.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_thread.py [--sizes 10000 100000 1000000] [--repeat 3]
        [--embed 2000] [--threads 2] [--dense]

The default chat is a quiet group (serial: one conversation at a time, decoded with the default weights only);
--dense makes it an IRC-like channel of eight interleaved conversations, which is scored a second time with
the dense-chat weights (look-ahead and vector projections included) and then rescored by the conversation pass.

Linking cost should grow linearly (candidates are limited to the previous `window` messages). Vectors are
random unit vectors here (the embed cost is measured separately, with the default model), 512-d float32:
1M messages need about 2 GB for them.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chendian.model import TEXT, Message  # noqa: E402
from chendian.summarize.threads import linker as T  # noqa: E402

WORDS = "报销 流程 发票 原件 数据库 测试 环境 重启 周报 模板 共享盘 团建 报名 服务器 权限 申请 审批 部署 上线 回滚".split()


def _chat(rows, n: int, seed: int) -> tuple[list[Message], list[list[str]], np.ndarray]:
    """Messages, tokens and random unit vectors from (time, sender, text, words) rows."""
    msgs, toks = [], []
    for i, (t, sender, text, words) in enumerate(rows):
        msgs.append(Message(id=f"m{i}", chat="bench", time=t, sender=sender, sender_name=sender, kind=TEXT,
                            text=text, source=f"bench:{i}"))
        toks.append(words)
    vecs = np.random.default_rng(seed).standard_normal((n, 512), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return msgs, toks, vecs


def synthetic_chat(n: int, seed: int = 0) -> tuple[list[Message], list[list[str]], np.ndarray]:
    """A quiet group: bursts of messages from 61 people, long silences, a few @mentions."""
    rng = random.Random(seed)

    def rows():
        t = datetime(2024, 1, 1, 9, tzinfo=timezone.utc)
        for _ in range(n):
            t += timedelta(seconds=rng.expovariate(1 / 40) if rng.random() < 0.95 else rng.expovariate(1 / 7200))
            words = rng.sample(WORDS, rng.randint(1, 5))
            sender = f"u{rng.randint(0, 60)}"
            text = ("@u%d " % rng.randint(0, 60) if rng.random() < 0.1 else "") + "".join(words)
            yield t, sender, text, words

    return _chat(rows(), n, seed)


def synthetic_channel(n: int, seed: int = 0) -> tuple[list[Message], list[list[str]], np.ndarray]:
    """A busy channel: eight two-person conversations interleaved at random, half the lines addressed."""
    rng = random.Random(seed)

    def rows():
        t = datetime(2024, 1, 1, 9, tzinfo=timezone.utc)
        for _ in range(n):
            t += timedelta(seconds=rng.expovariate(1 / 8))
            c = rng.randrange(8)
            sender, other = (f"u{c}a", f"u{c}b") if rng.random() < 0.5 else (f"u{c}b", f"u{c}a")
            words = [WORDS[(c * 2 + k) % len(WORDS)] for k in range(2)] + rng.sample(WORDS, 2)
            yield t, sender, (f"{other}: " if rng.random() < 0.5 else "") + " ".join(words), words

    return _chat(rows(), n, seed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--embed", type=int, default=2000, help="sentences for the embedding throughput (0 = skip)")
    ap.add_argument("--threads", type=int, default=2, help="embedding threads")
    ap.add_argument("--dense", action="store_true", help="an IRC-like channel instead of a quiet group")
    args = ap.parse_args()
    from chendian.summarize.text.embed import DEFAULT_MODEL

    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, cpus={os.cpu_count()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    dense = T.load_dense_model()
    print(f"window={T.DEFAULT_WINDOW} (dense-chat weights: {dense.window if dense else '-'}), "
          f"chat={'dense channel' if args.dense else 'quiet group'}")
    for n in args.sizes:
        msgs, toks, vecs = (synthetic_channel if args.dense else synthetic_chat)(n)
        if n == args.sizes[0]:
            rate = T.previous_parent_rate(T.scores(T.prepare(msgs[:5000], toks[:5000], vecs[:5000])))
            print(f"previous-parent rate {rate:.2f}: decoded as "
                  f"{'serial' if rate >= T.SERIAL_REGIME else 'dense (rescored by the dense weights, then the conversation pass)'}")
        times = []
        for _ in range(args.repeat if n <= 100_000 else 1):
            t0 = time.perf_counter()
            T.thread_messages(msgs, toks, vecs, vector_model=DEFAULT_MODEL)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print(f"thread {n:>9,} messages: median {med:8.2f} s  ({n / med:,.0f} msg/s, runs={len(times)})", flush=True)
        del msgs, toks, vecs
    if args.embed:
        from chendian.summarize.text.embed import get_embedder

        e = get_embedder(threads=args.threads)
        rng = random.Random(1)
        texts = ["".join(rng.sample(WORDS, rng.randint(2, 6))) + f"{i}" for i in range(args.embed)]
        e.encode(texts[:64])  # warm-up
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            e.encode(texts)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print(f"embed {e.name} threads={args.threads}: {len(texts)} sentences, median {med:.2f} s "
              f"({len(texts) / med:,.0f} sentences/s)")


if __name__ == "__main__":
    main()
