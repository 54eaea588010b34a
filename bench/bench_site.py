"""Site build time, size, search index bytes per entry, and time to first search result in Chromium.

Run by hand: `.venv/bin/python bench/bench_site.py [--entries 10000 --messages 100000 --repeat 3] [--semantic]`.
--semantic runs the embed stage on the workspace first (USE; minutes on 2 cores), so the build also fits and
ships the semantic search's student (search-vectors.js); the browser part then also times the vector file.
Synthetic workspace: `messages` messages in threads of messages/entries, each thread opening with a question
that becomes one FAQ entry (so `entries` entries), 20 topics, a weekly digest per week. The browser part needs
/usr/bin/chromium and the playwright package (skipped otherwise). Prints machine, sizes and medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chendian.model import Message, stable_id  # noqa: E402
from chendian.pipeline.stages.publish import fingerprint as _fingerprint
from chendian.site.build import build_site  # noqa: E402
from chendian.store import Workspace  # noqa: E402
from test_site import insert_thread  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
SYSTEMS = ["OA", "VPN", "报销系统", "HR 系统", "邮箱", "打印机", "门禁", "工资条", "年假", "发票", "差旅", "会议室",
           "Git 仓库", "CI 流水线", "测试环境", "生产环境", "堡垒机", "企业微信", "钉钉", "代码评审", "镜像仓库", "数据库",
           "监控告警", "日志平台", "内网", "WiFi", "笔记本", "显示器", "工牌", "社保", "公积金", "体检", "培训", "入职",
           "离职", "转正", "绩效", "预算", "采购", "合同"]
ACTIONS = ["怎么申请", "在哪里看", "连不上", "登录不了", "怎么配置", "多久能批", "找谁处理", "报错了", "怎么重置密码",
           "需要哪些材料", "怎么续期", "权限怎么开", "速度很慢", "怎么迁移", "能不能加急", "流程是什么", "怎么取消",
           "费用谁出", "上限是多少", "有模板吗"]
TAILS = ["", "，急", "，谢谢", "，有人知道吗", "？在线等", "，新人求助", "，试了好几次"]
ANSWER_BITS = ["先在", "提交申请", "找直属领导审批", "联系 IT 值班", "重启客户端", "清一下缓存", "看内网 wiki", "走 OA 流程",
               "大概三个工作日", "需要部门总监签字", "下载最新证书", "用公司邮箱登录", "在工单系统提单", "周五前提交",
               "带上工牌", "发票原件", "截图发群里", "找财务小刘", "重新绑定手机", "升级到最新版"]
CHAT_TALK = ["好的", "收到", "谢谢", "+1", "我也遇到了", "解决了", "哈哈", "明白", "同问", "试试看", "可以了", "👍"]
NAMES = [f"同事{i:03d}" for i in range(300)]


def fill(ws: Workspace, n_entries: int, n_messages: int, seed: int = 11) -> None:
    rnd = random.Random(seed)
    per_thread = max(2, n_messages // n_entries)
    t = datetime(2024, 1, 1, 9, 0, tzinfo=TZ)
    db = ws.db
    with ws.transaction():
        import_id = db.execute("INSERT INTO imports (file, sha256, format, at, messages_read, messages_new, issues)"
                               " VALUES ('bench', 'bench', 'bench', '', 0, 0, 0)").lastrowid
        ws.upsert_chat("bench", "压测群", "generic")
        for k in range(20):
            db.execute("INSERT INTO topics VALUES (?, ?, ?, ?)",
                       (f"k{k}", f"{SYSTEMS[k]}相关", json.dumps([SYSTEMS[k], ACTIONS[k]], ensure_ascii=False), 0))
        messages: list[Message] = []
        weeks: dict[str, list[str]] = {}
        for e in range(n_entries):
            system, action = SYSTEMS[e % len(SYSTEMS)], ACTIONS[(e // len(SYSTEMS)) % len(ACTIONS)]
            question = f"{system}{action}{rnd.choice(TAILS)}？（{e}）"
            answer = "，".join(rnd.sample(ANSWER_BITS, 4)) + f"。参考 https://wiki.example.com/kb/{e}"
            thread = []
            for i in range(per_thread):
                t += timedelta(seconds=rnd.randint(20, 300))
                who = rnd.randrange(len(NAMES))
                text = question if i == 0 else answer if i == 1 else rnd.choice(CHAT_TALK)
                pid = f"{e}-{i}"
                m = Message(id=stable_id("bench", "pid", pid), chat="bench", time=t, sender=f"u{who}",
                            sender_name=NAMES[who], kind="text", text=text, source=f"bench:{pid}", platform_id=pid)
                thread.append(m)
            messages.extend(thread)
            q, a = thread[0], thread[1]
            tid, qa_id = stable_id("bench", q.id, prefix="t"), stable_id(q.id, prefix="q")
            ts = int(q.time.timestamp())
            db.executemany("INSERT INTO message_threads VALUES (?, ?, ?, ?)", [(m.id, "bench", tid, None) for m in thread])
            insert_thread(db, tid, "bench", ts, int(thread[-1].time.timestamp()), len(thread), q.id, f"k{e % 20}",
                        f"{q.text} —— {a.text[:40]}")
            answers = [{"message_ids": [a.id], "sender": a.sender, "sender_name": a.sender_name, "text": a.text,
                        "score": 0.8, "acknowledged": e % 3 == 0}]
            db.execute("INSERT INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (qa_id, "bench", tid, q.id, q.text, q.sender, q.sender_name, ts,
                        json.dumps(answers if e % 50 else [], ensure_ascii=False), 0.8))
            db.execute("INSERT INTO faq_entries (id, question, answer, answerers, variants, count, topic_id, qa_ids, thread_ids, first_ts, last_ts, answered, hidden, pinned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
                       (stable_id(q.id, prefix="f"), q.text, a.text,
                        json.dumps([{"sender": a.sender, "name": a.sender_name, "count": 1}], ensure_ascii=False),
                        json.dumps([f"{system}{action}"], ensure_ascii=False), 1 + e % 7, f"k{e % 20}",
                        json.dumps([qa_id]), json.dumps([tid]), ts, ts, 1))
            iso = q.time.isocalendar()
            weeks.setdefault(f"{iso[0]}-W{iso[1]:02d}", []).append(f"- **{q.text}** {a.text}")
        ws.insert_messages(messages, import_id)
        for week, lines in weeks.items():
            db.execute("INSERT INTO weekly_digests VALUES (?, ?, ?)", ("bench", week, "\n".join(lines[:100])))
        people = {}
        for r in db.execute("SELECT sender, sender_name FROM messages"):
            people[r[0]] = r[1]
        db.executemany("INSERT INTO contributors VALUES (?, ?, 0, 1, 0, '[]')", list(people.items()))


def folder_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def browser_timings(site: Path, query: str, runs: int) -> dict | None:
    if not Path("/usr/bin/chromium").exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    first, ready, wall, per_query, vectors_ready, semantic_query, semantic_top = [], [], [], [], [], [], None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        for _ in range(runs):
            page = browser.new_page()
            t0 = time.perf_counter()
            page.goto((site / "search.html").as_uri() + "?q=" + query)
            page.wait_for_function("() => document.documentElement.dataset.searchDone")
            wall.append((time.perf_counter() - t0) * 1000)
            first.append(int(page.evaluate("() => document.documentElement.dataset.firstResultMs")))
            ready.append(int(page.evaluate("() => document.documentElement.dataset.indexMs")))
            per_query.append(page.evaluate(QUERY_TIMING))
            top = page.eval_on_selector("#search-results li .entry-q", "e => e.textContent")
            if (site / "search-vectors.js").exists():
                page.wait_for_function("() => document.documentElement.dataset.vectors", timeout=120_000)
                vectors_ready.append(int(page.evaluate("() => document.documentElement.dataset.vectorsMs")))
                semantic_query.append(page.evaluate(QUERY_TIMING))
                semantic_top = page.eval_on_selector("#search-results li .entry-q", "e => e.textContent")
            page.close()
        browser.close()
    return {"first_result_ms": first, "index_ready_ms": ready, "wall_ms": wall, "query_ms": per_query, "top": top,
            "vectors_ready_ms": vectors_ready, "semantic_query_ms": semantic_query, "semantic_top": semantic_top}


QUERY_TIMING = """() => {
    const qs = ["报销系统怎么申请", "vpn连不上", "打印机 报错", "年假需要哪些材料", "找谁处理"];
    const t = performance.now();
    for (let i = 0; i < 20; i++) for (const q of qs) window.CHENDIAN_SEARCH(q, 20);
    return (performance.now() - t) / (20 * qs.length);
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=10000)
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--browser-runs", type=int, default=5)
    ap.add_argument("--semantic", action="store_true", help="embed the messages first (ships search-vectors.js)")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws", create=True)
        t0 = time.perf_counter()
        fill(ws, args.entries, args.messages)
        print(f"workspace: {ws.count_messages():,} messages, {args.entries:,} FAQ entries "
              f"(filled in {time.perf_counter() - t0:.1f}s)")
        if args.semantic:
            from chendian.pipeline import RunContext
            from chendian.pipeline.stages import embed as embed_stage

            t0 = time.perf_counter()
            embedded = embed_stage.run(ws, RunContext(quiet=True, stage="embed"))
            print(f"embed stage: {embedded} in {time.perf_counter() - t0:.1f}s")
        seconds, counts = [], {}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            counts = build_site(ws)
            seconds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _fingerprint(ws)
        fingerprint_s = time.perf_counter() - t0
        site = ws.path("site")
        n_files, n_bytes = folder_size(site)
        index_bytes = (site / "search-index.js").stat().st_size
        print(f"build: median {statistics.median(seconds):.1f}s over {len(seconds)} runs "
              f"({', '.join(f'{s:.1f}' for s in seconds)}); {counts['pages']:,} pages "
              f"({counts['entries']:,} entries, {counts['threads']:,} conversations, {counts['people']:,} people)")
        print(f"unchanged rerun check (input fingerprint): {fingerprint_s:.2f}s")
        print(f"site: {n_files:,} files, {n_bytes / 1e6:.1f} MB")
        print(f"search index: {index_bytes / 1e6:.2f} MB = {index_bytes / max(1, counts['entries']):.0f} bytes/entry")
        if counts.get("vector_bytes"):
            vb = counts["vector_bytes"]
            per_entry = max(1, counts["entries"])
            print(f"search vectors: {vb / 1e6:.2f} MB ({counts['vector_terms']:,} terms, "
                  f"{counts['vector_training_texts']:,} training texts) = {vb / per_entry:.0f} bytes/entry;"
                  f" index + vectors {(index_bytes + vb) / per_entry:.0f} bytes/entry")
        else:
            print("search vectors: none (BM25 only)")
        b = browser_timings(site, "报销系统怎么申请", args.browser_runs)
        if b is None:
            print("browser: skipped (no /usr/bin/chromium or playwright)")
        else:
            print(f"browser (file://, headless chromium, {len(b['first_result_ms'])} loads): "
                  f"index ready median {statistics.median(b['index_ready_ms'])} ms, first result median "
                  f"{statistics.median(b['first_result_ms'])} ms after navigation start "
                  f"(wall incl. goto {statistics.median(b['wall_ms']):.0f} ms); "
                  f"each further query {statistics.median(b['query_ms']):.1f} ms; top hit {b['top']!r}")
            if b["vectors_ready_ms"]:
                print(f"  semantic: vectors ready median {statistics.median(b['vectors_ready_ms'])} ms after navigation "
                      f"start; each fused query {statistics.median(b['semantic_query_ms']):.1f} ms; "
                      f"top hit {b['semantic_top']!r}")
        ws.close()


if __name__ == "__main__":
    main()
