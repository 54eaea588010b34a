"""Benchmark: sentence-transformers embedding throughput by `embed.device`, for models of real Chinese sizes.

    .venv/bin/python bench/bench_embed_device.py [--n 4000] [--repeat 3] [--devices cpu auto]

Nothing is downloaded: the models are random-weight BERTs built here with the shapes of bge-small-zh
(4 layers x 512, vocabulary 21,128) and bge-base-zh (12 x 768), wrapped as SentenceTransformers and loaded
by path through chendian's own embedder, exactly as a user's local copy would be. Throughput depends on
the shape, not the weights, so the figures tell an ops person what `device = "auto"` buys on their machine.
Prints the machine, sizes and the median sentences/s of `--repeat` runs; the default USE model is
numpy-only and always runs on the CPU (bench/bench_thread.py --embed measures it).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chendian.config import EmbedConfig  # noqa: E402
from chendian.summarize.text.embed import embedder_for  # noqa: E402

SHAPES = {"bge-small-zh shape": (4, 512, 8, 2048), "bge-base-zh shape": (12, 768, 12, 3072)}
CHARS = "报销流程怎么走发票要原件吗数据库连不上了重启周报模板共享盘团建报名服务器权限申请审批部署上线回滚年假工牌电脑领取"


def build_model(folder: Path, layers: int, hidden: int, heads: int, ffn: int) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    bert = folder / "bert"
    bert.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(CHARS)]
    vocab += [f"[unused{i}]" for i in range(21128 - len(vocab))]
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(bert)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=ffn, max_position_embeddings=512)
    BertModel(cfg).save_pretrained(bert)
    out = folder / "model"
    SentenceTransformer(modules=[models.Transformer(str(bert), max_seq_length=64),
                                 models.Pooling(hidden, pooling_mode="mean")], device="cpu").save(str(out))
    return out


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(CHARS, k=rng.randint(6, 30))) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000, help="sentences per run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--devices", nargs="+", default=["cpu", "auto"])
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, GPU: {gpu}, "
          f"torch {torch.__version__}, torch threads {torch.get_num_threads()}")
    texts = sentences(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        for label, shape in SHAPES.items():
            path = build_model(Path(tmp) / label.split()[0], *shape)
            for device in args.devices:
                e = embedder_for(EmbedConfig(model=str(path), device=device, batch_size=args.batch_size))
                e.encode(texts[:256])  # warm-up (CUDA context, kernels)
                rates = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    e.encode(texts)
                    rates.append(len(texts) / (time.perf_counter() - t0))
                print(f"{label:20s} device={device:5s} ({e.device:4s}) {args.n} sentences: "
                      f"median {statistics.median(rates):,.0f} sentences/s (runs: {', '.join(f'{r:,.0f}' for r in rates)})",
                      flush=True)


if __name__ == "__main__":
    main()
