"""An XSS corpus (tests/xss_corpus.py, 100+ vectors) through the whole pipeline, then every built page in a real
headless Chromium served from 127.0.0.1 by `chendian serve`'s own server.

The vectors go in as a generic JSONL export: in questions and answers (so they reach the FAQ entries, the
conversations, the search index and the digests), and in sender names, chat names and file names. On every
page: no dialog opens, no request leaves for another origin, the Content-Security-Policy meta is the one
the template writes (one, unchanged), and the DOM holds no event-handler attribute, no javascript:/data:
link and no script, frame or object that the site did not ship.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from click.testing import CliRunner

from chendian.cli import main
from test_site_browser import CHROMIUM, CHROMIUM_ARGS
from xss_corpus import NAME_VECTORS, VECTORS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (scripts/install-test-deps.sh)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip) is not installed")

TEMPLATE_CSP = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"',
                         (Path(__file__).resolve().parent.parent / "chendian/site/templates/base.html")
                         .read_text(encoding="utf-8")).group(1)
CHATS = 6
START = datetime(2024, 5, 6, 9, 0, tzinfo=timezone(timedelta(hours=8)))

# What the page's DOM may not hold once chat text is in it (run in the page).
DOM_PROBLEMS_JS = """() => {
  const problems = [];
  const bad = /^\\s*(javascript|data|vbscript):/i;
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (/^on/i.test(a.name)) problems.push(el.tagName + ' ' + a.name);
      if (['href', 'src', 'action', 'formaction', 'srcdoc', 'xlink:href', 'background', 'poster', 'data']
            .includes(a.name.toLowerCase()) && (bad.test(a.value.replace(/[\\x00-\\x20]/g, '')) || a.name === 'srcdoc'))
        problems.push(el.tagName + ' ' + a.name + '=' + a.value.slice(0, 40));
    }
  }
  // svg.chart: the weekly report's own charts, drawn at build time (site/charts.py); any other svg is injected
  for (const tag of ['iframe', 'object', 'embed', 'frame', 'base', 'form[action^="javascript"]', 'svg:not(.chart)', 'math',
                     'video', 'audio', 'img', 'link[rel=stylesheet][href*="evil"]'])
    for (const el of document.querySelectorAll(tag)) problems.push('element ' + tag);
  for (const s of document.scripts) {
    if (!s.src || new URL(s.src).origin !== location.origin) problems.push('script ' + (s.src || s.text.slice(0, 40)));
  }
  const csp = [...document.querySelectorAll('meta[http-equiv]')].map(m => m.httpEquiv + ': ' + m.content);
  return {problems, csp};
}"""


# Different questions around each vector, so that the FAQ keeps them apart as entries of their own.
QUESTIONS = ("请问案例{i:03d}：{v} 这段发到群里会被执行吗？", "案例{i:03d} 报销单备注里写了 {v} 会出问题吗？",
             "VPN 登录页提示 {v}，案例{i:03d}怎么处理？", "案例{i:03d}：年假申请理由填 {v} 能提交吗？",
             "Wiki 页面标题是 {v}，案例{i:03d}为什么显示不出来？", "案例{i:03d} 发布平台日志里出现 {v} 是被攻击了吗？",
             "工牌照片文件名叫 {v}，案例{i:03d}上传失败怎么办？", "案例{i:03d}：Git 提交信息写 {v} 会触发流水线吗？")


def _export_lines() -> list[dict]:
    """Three vectors a conversation (so the pipeline stays quick): one in the question, two in the answer
    replying to it; each vector after its marker 案例NNN. Then a file message with a hostile file name."""
    lines = []
    chat_names = [f"{NAME_VECTORS[-1 - c]} 群{c}" for c in range(CHATS)]
    for k in range(0, len(VECTORS), 3):
        i = k // 3
        t = START + timedelta(hours=i)
        chat = chat_names[i % CHATS]
        asker, answerer = f"u{i}a", f"u{i}b"
        asker_name = NAME_VECTORS[i % len(NAME_VECTORS)]
        answerer_name = f"答{i:03d}{NAME_VECTORS[(i * 7 + 3) % len(NAME_VECTORS)]}"
        more = "；".join(f"案例{j:03d} {VECTORS[j]}" for j in range(k + 1, min(k + 3, len(VECTORS))))
        q, a = f"c{i}q", f"c{i}a"
        lines += [
            {"chat": chat, "id": q, "time": t.isoformat(), "sender": asker, "sender_name": asker_name,
             "text": QUESTIONS[i % len(QUESTIONS)].format(i=k, v=VECTORS[k])},
            {"chat": chat, "id": a, "time": (t + timedelta(minutes=1)).isoformat(), "sender": answerer,
             "sender_name": answerer_name, "reply_to": q, "mentions": [asker_name],
             "text": f"@{asker_name} 不会的，只会按文字显示，放心发。{more}"},
            {"chat": chat, "id": f"c{i}f", "time": (t + timedelta(minutes=3)).isoformat(), "sender": answerer,
             "sender_name": answerer_name, "kind": "file", "text": f"{NAME_VECTORS[i % len(NAME_VECTORS)]}.pdf"},
        ]
    return lines


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws = tmp_path_factory.mktemp("xss") / "ws"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(ws)]).exit_code == 0
    export = ws / "inbox" / "<img src=x onerror=alert(1)>.jsonl"  # a hostile export file name as well
    export.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in _export_lines()),
                      encoding="utf-8")
    result = runner.invoke(main, ["-w", str(ws), "run", "-q"])
    assert result.exit_code == 0, result.output
    # The real `chendian serve`, in its own process, as ops would run it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "chendian.cli", "-w", str(ws), "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    origin = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(origin + "/index.html", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield ws, origin
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_corpus_is_big_and_reaches_the_pages(served):
    ws, _ = served
    assert len(VECTORS) >= 100
    html = "\n".join(p.read_text(encoding="utf-8") for p in (ws / "site").rglob("*.html"))
    reached = {int(n) for n in re.findall(r"案例(\d{3})", html)}
    # The vectors must really be on the pages for the browser test to mean anything.
    assert len(reached) >= 0.9 * len(VECTORS), f"only {len(reached)} of {len(VECTORS)} vectors were published"
    assert "群0" in html and "答000" in html and ".pdf" in html


def test_no_vector_runs_or_calls_out_on_any_page(served):
    ws, origin = served
    pages = sorted(p.relative_to(ws / "site").as_posix() for p in (ws / "site").rglob("*.html"))
    urls = [f"{origin}/{p}" for p in pages]
    # The search page renders hits from the API and from the browser's own index: hostile queries too.
    urls += [f"{origin}/search.html?q={quote(q)}" for q in ("script alert", "<img src=x onerror=alert(1)>",
                                                            "javascript", "案例042", "点我")]
    dialogs, foreign, failures = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append((page.url, d.message)), d.dismiss()))
        page.on("request", lambda r: foreign.append((page.url, r.url))
                if urlsplit(r.url).netloc != urlsplit(origin).netloc else None)
        for url in urls:
            response = page.goto(url, wait_until="load")
            assert response is not None and response.status == 200, url
            if "search.html?q=" in url:
                page.wait_for_function("() => document.documentElement.dataset.searchDone")
            found = page.evaluate(DOM_PROBLEMS_JS)
            if found["problems"] or found["csp"] != [f"Content-Security-Policy: {TEMPLATE_CSP}"]:
                failures.append((url, found))
        browser.close()
    print(f"xss corpus: {len(VECTORS)} vectors, {len(urls)} pages opened, {len(dialogs)} dialogs, "
          f"{len(foreign)} foreign requests, {len(failures)} pages with DOM/CSP problems")
    assert dialogs == []
    assert foreign == []
    assert failures == []
