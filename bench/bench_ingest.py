"""Ingest throughput and peak memory on a generated export (run by hand: `python bench/bench_ingest.py`).

Target (issue 2): at least 50,000 messages/s and under 1 GiB peak for a 1,000,000-message export.
Each size runs in a fresh subprocess so peak RSS is that import's alone (the parent's peak plus its reader
process's peak, an upper bound); prints machine, sizes, medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

WORDS = ["报销", "流程", "怎么", "走", "发票", "费控系统", "提交", "审批", "VPN", "连不上", "重启", "客户端", "谢谢",
         "年假", "申请", "OA", "代码", "评审", "合并", "分支", "部署", "镜像", "哈哈", "好的", "明白", "@张伟\u2005"]
NAMES = [f"成员{i:02d}" for i in range(60)]


def generate(fmt: str, n: int, path: Path, seed: int = 7) -> None:
    rnd = random.Random(seed)
    t = datetime(2024, 1, 1, 8, 0, 0)
    if fmt == "wxcli":
        generate_wxcli(rnd, t, n, path)
        return
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        if fmt == "qq":
            f.write("\ufeff消息记录（此消息记录为文本格式，不支持重新导入）\n\n" + "=" * 64 + "\n消息分组:我的QQ群\n"
                    + "=" * 64 + "\n消息对象:压测群\n" + "=" * 64 + "\n\n")
        for i in range(n):
            t += timedelta(seconds=rnd.randint(1, 40))
            who = rnd.randrange(len(NAMES))
            text = "".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 12)))
            if fmt == "jsonl":
                f.write(json.dumps({"chat": "压测群", "id": str(i), "time": t.strftime("%Y-%m-%dT%H:%M:%S"),
                                    "sender": f"u{who}", "sender_name": NAMES[who], "text": text},
                                   ensure_ascii=False) + "\n")
            else:
                f.write(f"{t.year}-{t.month:02d}-{t.day:02d} {t.hour}:{t.minute:02d}:{t.second:02d} "
                        f"{NAMES[who]}({100000 + who})\n{text}\n\n")


def generate_wxcli(rnd: random.Random, t: datetime, n: int, path: Path) -> None:
    """`wx export 压测群 --format json -n N`: one pretty-printed object, sorted keys, group sender fields."""
    messages = []
    for i in range(n):
        t += timedelta(seconds=rnd.randint(1, 40))
        who = rnd.randrange(len(NAMES))
        text = "".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 12)))
        messages.append({"content": text, "local_id": i + 1, "sender": NAMES[who], "sender_contact_display": NAMES[who],
                         "sender_group_nickname": "", "sender_username": f"wxid_bench{who:02d}",
                         "time": t.strftime("%Y-%m-%d %H:%M"), "timestamp": int(t.timestamp()), "type": "文本"})
    data = {"chat": "压测群", "chat_type": "group", "count": n, "is_group": True, "messages": messages,
            "meta": {"status": "ok", "unknown_shards": []}, "username": "10000001@chatroom"}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8")


def child(path: str, fmt: str) -> None:
    from chendian.ingest import ingest_paths
    from chendian.store import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws", create=True)
        t0 = time.perf_counter()
        report = ingest_paths(ws, [path], fmt=fmt)
        seconds = time.perf_counter() - t0
        assert not report.failed, report.failed[0].error
        # Big files are parsed in a forked reader process: count its peak too (a sum, so an upper bound).
        peak_kib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                    + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        print(json.dumps({"messages": report.new, "seconds": seconds, "peak_mib": peak_kib / 1024}))
        ws.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--formats", default="jsonl,qq", help="jsonl (generic JSONL), qq (classic QQ TXT), wxcli (wx-cli export JSON)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    fmt_names = {"jsonl": "jsonl", "qq": "qq-txt", "wxcli": "wxcli"}
    for fmt in args.formats.split(","):
        for n in map(int, args.sizes.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / {"jsonl": "export.jsonl", "wxcli": "10000001@chatroom.json"}.get(fmt, "export.txt")
                generate(fmt, n, path)
                size_mb = path.stat().st_size / 1e6
                runs = []
                for _ in range(args.repeat):
                    out = subprocess.run([sys.executable, __file__, "--child", str(path), fmt_names[fmt]],
                                         capture_output=True, text=True, check=True)
                    runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                secs = statistics.median(r["seconds"] for r in runs)
                peak = max(r["peak_mib"] for r in runs)
                print(f"{fmt:6} {n:>9,} messages ({size_mb:6.1f} MB): median {secs:6.2f} s = "
                      f"{n / secs:>9,.0f} msg/s, peak RSS {peak:6.0f} MiB  (runs: "
                      + ", ".join(f"{r['seconds']:.2f}s" for r in runs) + ")")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
