"""Benchmark: talk detection (chendian/summarize/talks.py detect_talks) on a real group and on a large synthetic one.

    .venv/bin/python bench/bench_talks.py [--repeat 5] [--days 365]

Real: ../shared/data/threads/wechat-dev.jsonl (skipped when absent), its questions extracted first (not timed).
Synthetic: `--days` days of an invented 80-member group, ~270 messages a day of short chatter with one evening
talk a week (announcement, sign-ins, 40 lines with slides, thanks, questions). Prints the machine, the sizes,
the talks found and the median seconds of `--repeat` runs of detect_talks alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chendian.model import IMAGE, TEXT, Message  # noqa: E402
from chendian.summarize.qa.extract import extract_qas  # noqa: E402
from chendian.summarize.talks import detect_talks  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "threads" / "wechat-dev.jsonl"
CHATTER = ["早", "哈哈", "有人知道测试环境怎么又挂了吗", "[强]", "收到", "中午吃什么", "这个我也遇到过，重启一下就好",
           "发票抬头是什么", "好的谢谢", "周报记得交", "[捂脸]", "晚上加班吗", "明天发版几点", "OK"]


def real_messages() -> list[Message]:
    out = []
    for n, line in enumerate(SHARED.read_text(encoding="utf-8").splitlines(), 1):
        r = json.loads(line)
        out.append(Message(id=r["id"], chat=r["chat"], time=datetime.fromisoformat(r["time"]), sender=r["sender"],
                           sender_name=r["sender"], kind=r["kind"], text=r["text"], source=f"{SHARED.name}:{n}"))
    return out


def synthetic(days: int, seed: int = 7) -> list[Message]:
    rng = random.Random(seed)
    out: list[Message] = []

    def say(t: datetime, who: int, text: str, kind: str = TEXT) -> None:
        out.append(Message(id=f"s{len(out)}", chat="bench", time=t, sender=f"u{who}", sender_name=f"成员{who:03d}",
                           kind=kind, text=text, source=f"bench:{len(out)}"))

    start = datetime(2024, 1, 1, tzinfo=TZ)
    for d in range(days):
        day = start + timedelta(days=d)
        times = sorted(day + timedelta(seconds=rng.randint(8 * 3600, 23 * 3600)) for _ in range(rng.randint(200, 340)))
        talk = d % 7 == 3
        for t in times:
            if talk and 19 * 3600 + 1800 <= (t - day).seconds <= 21 * 3600:
                continue  # the audience is quiet during the talk
            say(t, rng.randint(1, 80), rng.choice(CHATTER))
        if talk:
            speaker = rng.randint(1, 80)
            say(day + timedelta(hours=10), 0, f"今晚 20:00 分享，主讲人成员{speaker:03d}，主题《第{d}期 技术分享》")
            for i in range(4):
                say(day + timedelta(hours=19, minutes=50 + i), rng.randint(1, 80), "签到")
            say(day + timedelta(hours=20), speaker, "大家好，今天给大家分享一下我们的系统设计")
            for i in range(40):
                t = day + timedelta(hours=20, minutes=1 + i * 1.5)
                if i % 8 == 0:
                    say(t, speaker, "", IMAGE)
                say(t, speaker, f"第{i + 1}点，这里讲的是系统设计里的一个具体问题和我们的做法，细节见图{i}")
            say(day + timedelta(hours=21, minutes=2), speaker, "以上就是今天的分享，谢谢大家")
            say(day + timedelta(hours=21, minutes=3), rng.randint(1, 80), "感谢分享，干货满满")
    out.sort(key=lambda m: m.time)
    return out


def timed(messages: list[Message], repeat: int) -> tuple[float, int]:
    qas = extract_qas(messages)
    runs, found = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        found = len(detect_talks(messages, qas))
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--days", type=int, default=365)
    args = ap.parse_args()
    cpu = platform.processor() or next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                        if line.startswith("model name")), "") if os.path.exists("/proc/cpuinfo") else ""
    print(f"machine: {platform.machine()} {cpu} · {os.cpu_count()} CPUs · Python {platform.python_version()}")
    if SHARED.is_file():
        msgs = real_messages()
        sec, found = timed(msgs, args.repeat)
        print(f"wechat-dev: {len(msgs):,} messages · {found} talk(s) · median {sec:.3f} s "
              f"({len(msgs) / sec:,.0f} msg/s)")
    else:
        print(f"wechat-dev: skipped ({SHARED} not found)")
    msgs = synthetic(args.days)
    sec, found = timed(msgs, args.repeat)
    print(f"synthetic: {len(msgs):,} messages over {args.days} days · {found} talk(s) "
          f"(planted {sum(1 for d in range(args.days) if d % 7 == 3)}) · median {sec:.3f} s ({len(msgs) / sec:,.0f} msg/s)")


if __name__ == "__main__":
    main()
