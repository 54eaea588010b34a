"""The site's search in real Chromium shows an entry held for review labelled 待审核 (and 答案未经确认), linked to
its question in the conversation, never to an entry page; under publish = "approved" it is not found (issue 23)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chendian.site.build import build_site
from test_site import entry_id, make_site_workspace, thread_id
from test_site_browser import CHROMIUM, CHROMIUM_ARGS, _results

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (scripts/install-test-deps.sh)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip) is not installed")


def test_held_entry_is_labelled_and_links_to_its_conversation(tmp_path):
    ws = make_site_workspace(tmp_path / "ws")
    held, thread = entry_id(ws, "13"), thread_id(ws, "13")  # the annual-leave question
    with ws.transaction():
        ws.db.execute("UPDATE faq_entries SET published = 0, confidence = 0.2, approved = 0 WHERE id = ?", (held,))
    build_site(ws)
    confident = (tmp_path / "ws" / "site").resolve()
    assert not (confident / "entries" / f"{held}.html").exists()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(confident.joinpath("search.html").as_uri() + "?q=年假怎么申请")
        results = _results(page)
        assert results, "the held entry is found"
        first = page.locator("#search-results li").first
        assert first.locator(".badge.held").text_content() == "待审核"
        assert "答案未经确认" in first.text_content()
        href = results[0][1]
        assert href.startswith(f"threads/{thread}.html#m") and "entries/" not in href
        assert page.locator("#search-results .badge.held").count() == 1  # only the held one says so
        first.locator(".entry-q").click()
        page.wait_for_url(f"**/threads/{thread}.html#m*")
        assert page.locator(f"#{href.split('#')[1]}").count() == 1
        assert not errors

        ws.config.faq.publish = "approved"  # the approved set only: the held entry is not searched
        build_site(ws)
        page.goto(confident.joinpath("search.html").as_uri() + "?q=年假怎么申请")
        _results(page)
        assert page.locator("#search-results .badge.held").count() == 0
        browser.close()
    ws.close()
