"""The review queue in real Chromium: under `[faq] publish = "approved"` an ops person approves one held entry and
rejects another on the review page served by `chendian serve`; after a rebuild the site shows exactly the
approved set."""

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import run_examples

from chendian.cli import main
from chendian.site.browser_index import BrowserIndex
from chendian.search.api import make_server
from chendian.store import Workspace

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (scripts/install-test-deps.sh)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip) is not installed")


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_approve_one_reject_another_and_the_site_shows_exactly_the_approved(tmp_path):
    ws_dir = run_examples(tmp_path / "ws", ('publish = "confident"', 'publish = "approved"'))
    assert not list((ws_dir / "site" / "entries").glob("*.html"))  # nothing approved yet: nothing published

    server = make_server(ws_dir, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/review.html")
            items = page.eval_on_selector_all(".review-item", "els => els.map(e => e.id)")
            assert len(items) >= 2
            assert page.locator(f"#{items[0]} .evidence li.asked").count() == 1  # the question, in its context
            page.click(f"#{items[0]} button[data-action=approve]")
            page.wait_for_selector(f"#{items[0]}[data-decided=approve]")
            page.click(f"#{items[1]} button[data-action=reject]")
            page.wait_for_selector(f"#{items[1]}[data-decided=reject]")
            assert "已驳回" in page.text_content(".review-status")
            assert not errors
            browser.close()
    finally:
        server.shutdown()
        server.server_close()

    _cli("-w", str(ws_dir), "stage", "faq", "index", "publish", "-q")
    pages = {p.stem for p in (ws_dir / "site" / "entries").glob("*.html")}
    assert pages == {items[0]}
    docs = BrowserIndex(ws_dir / "site").docs
    # the FAQ entries searchable are exactly the approved one (talk articles are not FAQ entries: no publish policy)
    assert [d["u"] for d in docs if not d["u"].startswith("talks/")] == [f"entries/{items[0]}.html"]
    with Workspace(ws_dir) as ws:
        log = [(r["entry_id"], r["action"]) for r in ws.db.execute("SELECT entry_id, action FROM curation")]
        hidden = {r[0] for r in ws.db.execute("SELECT id FROM faq_entries WHERE hidden = 1")}
    assert log == [(items[0], "approve"), (items[1], "reject")] and items[1] in hidden
    review = (ws_dir / "site" / "review.html").read_text(encoding="utf-8")
    assert items[0] not in review and items[1] not in review  # both decided: off the queue
