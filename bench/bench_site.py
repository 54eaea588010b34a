"""Site build time, size, search index bytes per entry, and time to first search result in Chromium.

Run by hand: `.venv/bin/python bench/bench_site.py [--entries 10000 --messages 100000 --repeat 3] [--semantic]`.
The browser part opens search.html?q=… from file:// and from a static http server on loopback (no /api, so the
site's own sharded index answers), and reads the page's own marks: firstResultMs (first results shown) and
indexMs (manifest read), both ms after navigation start.
--semantic runs the embed stage on the workspace first (USE; minutes on 2 cores), so the build also fits and
ships the semantic search's student (search-vectors.js); the browser part then also times the vector file.
Synthetic workspace: `messages` messages in threads of messages/entries, each thread opening with a question
that becomes one FAQ entry (so `entries` entries), 20 topics, a weekly digest per week. The browser part needs
/usr/bin/chromium and the playwright package (skipped otherwise). Prints machine, sizes and medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chendian.pipeline.stages.publish import fingerprint as _fingerprint
from chendian.site.build import build_site  # noqa: E402
from chendian.store import Workspace  # noqa: E402
from sitegen import fill  # noqa: E402


def folder_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _static_server(site: Path):
    """A plain static host on loopback (no /api: search.js falls back to the site's own index)."""
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser_timings(site: Path, query: str, runs: int, base: str | None = None) -> dict | None:
    """`base`: the site's URL when served (default: file://)."""
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
            page.goto((f"{base}/search.html" if base else (site / "search.html").as_uri()) + "?q=" + query)
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


QUERY_TIMING = """async () => {
    const qs = ["报销系统怎么申请", "vpn连不上", "打印机 报错", "年假需要哪些材料", "找谁处理"];
    let t = performance.now();
    for (const q of qs) await window.CHENDIAN_SEARCH(q, 20);  // first time: loads their shards
    const cold = (performance.now() - t) / qs.length;
    t = performance.now();
    for (let i = 0; i < 20; i++) for (const q of qs) await window.CHENDIAN_SEARCH(q, 20);
    return [cold, (performance.now() - t) / (20 * qs.length)];
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
        index_bytes = counts.get("index_bytes") or (site / "search-index.js").stat().st_size
        print(f"build: median {statistics.median(seconds):.1f}s over {len(seconds)} runs "
              f"({', '.join(f'{s:.1f}' for s in seconds)}); {counts['pages']:,} pages "
              f"({counts['entries']:,} entries, {counts['threads']:,} conversations, {counts['people']:,} people)")
        print(f"unchanged rerun check (input fingerprint): {fingerprint_s:.2f}s")
        print(f"site: {n_files:,} files, {n_bytes / 1e6:.1f} MB")
        print(f"search index: {index_bytes / 1e6:.2f} MB = {index_bytes / max(1, counts['entries']):.0f} bytes/entry")
        query = "报销系统怎么申请"
        if "index_term_shards" in counts:
            from chendian.site.browser_index import BrowserIndex

            loaded = BrowserIndex(site).shard_bytes([query])
            print(f"  sharded: manifest {counts['index_manifest_bytes'] / 1e3:.1f} kB; {counts['index_term_shards']:,} "
                  f"term shards {counts['index_term_bytes'] / 1e6:.2f} MB ({counts['index_terms']:,} terms, "
                  f"{counts['index_postings']:,} postings); {counts['index_meta_chunks']:,} metadata chunks "
                  f"{counts['index_meta_bytes'] / 1e6:.2f} MB; {counts['index_id_shards']:,} id shards "
                  f"{counts['index_id_bytes'] / 1e6:.2f} MB; the query {query!r} loads {loaded / 1e3:.0f} kB of term shards")
        if counts.get("vector_bytes"):
            vb = counts["vector_bytes"]
            per_entry = max(1, counts["entries"])
            print(f"search vectors: {vb / 1e6:.2f} MB ({counts['vector_terms']:,} terms, "
                  f"{counts['vector_training_texts']:,} training texts) = {vb / per_entry:.0f} bytes/entry;"
                  f" index + vectors {(index_bytes + vb) / per_entry:.0f} bytes/entry")
        else:
            print("search vectors: none (BM25 only)")
        server = _static_server(site)
        for how, base in (("file://", None), ("http, static host", f"http://127.0.0.1:{server.server_port}")):
            b = browser_timings(site, query, args.browser_runs, base)
            if b is None:
                print("browser: skipped (no /usr/bin/chromium or playwright)")
                break
            cold = [q[0] for q in b["query_ms"]]
            warm = [q[1] for q in b["query_ms"]]
            print(f"browser ({how}, headless chromium, {len(b['first_result_ms'])} loads): "
                  f"index ready median {statistics.median(b['index_ready_ms'])} ms, first result median "
                  f"{statistics.median(b['first_result_ms'])} ms after navigation start "
                  f"(runs: {', '.join(map(str, b['first_result_ms']))}; wall incl. goto {statistics.median(b['wall_ms']):.0f} ms); "
                  f"a new query {statistics.median(cold):.1f} ms, repeated {statistics.median(warm):.1f} ms; "
                  f"top hit {b['top']!r}")
            if b["vectors_ready_ms"]:
                print(f"  semantic: vectors ready median {statistics.median(b['vectors_ready_ms'])} ms after navigation "
                      f"start; each fused query {statistics.median([q[1] for q in b['semantic_query_ms']]):.1f} ms; "
                      f"top hit {b['semantic_top']!r}")
        server.shutdown()
        server.server_close()
        ws.close()


if __name__ == "__main__":
    main()
