"""Search and dedup figures on a pairs file through the library (what `chendian eval` runs), by hand:
    OMP_NUM_THREADS=1 .venv/bin/python bench/eval_bq.py ../shared/data/search/bq-dev.pairs.jsonl
"""
import json
import os
import platform
import sys
import time

from chendian.eval.dedup import evaluate_dedup
from chendian.eval.search import evaluate_search

print(platform.platform(), os.cpu_count(), "cpus")
t = time.perf_counter()
print("search", json.dumps(evaluate_search(sys.argv[1]), ensure_ascii=False), f"{time.perf_counter() - t:.1f}s")
t = time.perf_counter()
print("dedup", json.dumps(evaluate_dedup(sys.argv[1]), ensure_ascii=False), f"{time.perf_counter() - t:.1f}s")
