"""Search benchmark, by hand: build time, index size on disk, query latency p50/p99 (library and HTTP).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_search.py --sizes 10000 100000 [--queries 200] [--embed]

Entries are synthetic FAQ questions from templates (every run the same). Vectors are random unit vectors
unless --embed (USE on every wording: ~1–2k/s per core, so 100k entries take minutes); query vectors are
always computed by USE, so latency includes the query embedding, as in the product.
"""

import argparse
import os
import platform
import random
import shutil
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from chendian.search.api import make_server
from chendian.search.index import HybridIndex, SearchDocument

TOPICS = ["报销", "差旅费", "年假", "VPN", "打印机", "工资条", "公积金", "社保", "入职", "会议室", "电脑", "加班",
          "团建", "发票", "合同", "门禁卡", "食堂", "班车", "体检", "培训", "绩效", "转正", "离职", "邮箱", "账号"]
ASPECTS = ["流程", "材料", "时间", "审批", "额度", "标准", "系统", "负责人", "地点", "问题", "规定", "申请"]
FORMS = ["{t}{a}是什么？", "{t}的{a}怎么弄", "请问{t}{a}在哪里看", "{t}{a}有变化吗", "{t}{a}怎么办理？", "{t}{a}咋处理"]
QUERIES = ["报销怎么弄", "差旅费咋报", "報銷流程", "baoxiao", "年假有几天", "vpn连不上", "工资条在哪看", "发票抬头"]


def entries(n: int) -> list[SearchDocument]:
    rnd = random.Random(7)
    docs = []
    for i in range(n):
        t, a, f = rnd.choice(TOPICS), rnd.choice(ASPECTS), rnd.choice(FORMS)
        q = f.format(t=t, a=a) + f" #{i}"
        docs.append(SearchDocument(id=f"f{i}", text=q, variants=[f"{t}{a}" + rnd.choice(["？", "呢", "吗"])],
                                   body=f"{t}的{a}请看内部文档第 {i % 97} 节，或者找行政。"))
    return docs


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--embed", action="store_true")
    args = ap.parse_args()
    print(f"{platform.platform()} {platform.processor() or ''} cpus={os.cpu_count()}")
    from chendian.summarize.text.embed import get_embedder

    embedder = get_embedder(threads=1)
    for n in args.sizes:
        docs = entries(n)
        rows = sum(len(d.wordings()) for d in docs)
        t0 = time.perf_counter()
        if args.embed:
            index = HybridIndex.build(docs, embedder=embedder)
        else:
            v = np.random.default_rng(0).standard_normal((rows, 512)).astype(np.float32)
            index = HybridIndex.build(docs, vectors=v / np.linalg.norm(v, axis=1, keepdims=True))
        index.embedder_name = embedder.name
        build = time.perf_counter() - t0
        tmp = Path(tempfile.mkdtemp())
        index.save(tmp / "ws" / ".index-versions" / "v1")
        os.symlink(".index-versions/v1", tmp / "ws" / "index")
        size = sum(f.stat().st_size for f in (tmp / "ws" / ".index-versions").rglob("*") if f.is_file())
        qs = [QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else str(i % 50)) for i in range(args.queries)]
        index.search(qs[0], 10)  # warm up (loads the query embedder)
        lib = []
        for q in qs:
            t = time.perf_counter()
            index.search(q, 10)
            lib.append(time.perf_counter() - t)
        srv = make_server(tmp / "ws", "127.0.0.1", 0)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{srv.server_address[1]}/api/search?k=10&q="
        urllib.request.urlopen(base + "x", timeout=600).read()  # loads the index from disk
        http = []
        for q in qs:
            t = time.perf_counter()
            urllib.request.urlopen(base + urllib.parse.quote(q), timeout=60).read()
            http.append(time.perf_counter() - t)
        srv.shutdown()
        srv.server_close()
        shutil.rmtree(tmp)
        print(f"entries={n} rows={rows} faiss={type(index.faiss).__name__} vectors={'USE' if args.embed else 'random'} "
              f"build={build:.1f}s size={size / 2**20:.1f}MiB | library p50={pct(lib, 50):.1f}ms p99={pct(lib, 99):.1f}ms "
              f"median={statistics.median(lib) * 1000:.1f}ms | http p50={pct(http, 50):.1f}ms p99={pct(http, 99):.1f}ms",
              flush=True)


if __name__ == "__main__":
    main()
