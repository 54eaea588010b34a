"""Topic pages in parts: the newest conversations on the topic page, the older ones on archive pages numbered from
the oldest, so that a night's new conversation leaves the archive pages as they were (linked, not rendered)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chendian.site import build
from chendian.site.build import build_site
from test_site import insert_thread, make_site_workspace, site_text


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(build, "TOPIC_PAGE_THREADS", 2)


def _links(html: str) -> list[str]:
    return re.findall(r'href="\.\./(threads/[^"]+)"', html)


def _topic_threads(ws, topic: str) -> list[str]:
    return [f"threads/{build.slug(t, 't')}.html" for (t,) in ws.db.execute(
        "SELECT m.thread_id FROM topic_members m JOIN threads t ON t.id = m.thread_id WHERE m.topic_id = ?"
        " ORDER BY t.first_ts, t.id", (topic,))]


def _check_links(site: Path) -> None:
    for rel, html in site_text(site).items():
        if rel.endswith(".html"):
            for url in re.findall(r'(?:href|src)="([^"]*)"', html):
                if not url.startswith(("http://", "https://", "#")):
                    assert ((site / rel).parent / url.split("#")[0]).resolve().is_file(), f"{rel}: broken link {url}"


def _without_stamp(path: Path) -> str:
    return "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if "生成于" not in line)


def test_topic_page_shows_the_newest_and_archive_pages_hold_every_older_conversation(tmp_path, small_pages):
    ws = make_site_workspace(tmp_path / "ws")
    build_site(ws)
    site = ws.path("site")
    for topic in ("finance", "it", "hr"):
        threads = _topic_threads(ws, topic)
        assert len(threads) >= 3, topic  # the fixture: each topic needs an archive at a page size of 2
        main = (site / "topics" / f"{topic}.html").read_text(encoding="utf-8")
        assert _links(main)[:2] == threads[::-1][:2]  # newest first
        archived = []
        for k in range(1, len(threads) // 2 + 1):
            page = (site / "topics" / f"{topic}.{k}.html").read_text(encoding="utf-8")
            assert f'href="../topics/{topic}.{k}.html"' in main
            archived += _links(page)
        assert not (site / "topics" / f"{topic}.{len(threads) // 2 + 1}.html").exists()
        assert archived == threads[:len(threads) // 2 * 2]  # full pages from the oldest, in time order
        assert set(archived) | set(_links(main)) == set(threads)
    _check_links(site)
    ws.close()


def test_a_new_conversation_changes_the_topic_page_and_leaves_the_archive_pages(tmp_path, small_pages):
    ws = make_site_workspace(tmp_path / "ws")
    site = ws.path("site")
    build_site(ws)
    threads = _topic_threads(ws, "it")
    before = {p.name: p.stat().st_ino for p in (site / "topics").glob("it*.html")}
    last = ws.db.execute("SELECT max(last_ts), min(id) FROM threads").fetchone()
    root = ws.db.execute("SELECT id FROM messages ORDER BY ts DESC LIMIT 1").fetchone()[0]
    with ws.transaction() as db:
        for i in range(len(threads) % 2 + 1):  # enough to fill the last page: a new archive page appears
            insert_thread(db, f"tnew{i}", "rd-group", last[0] + 3600 * (i + 1), last[0] + 3600 * (i + 1) + 60, 6, root,
                          "it", f"新的讨论 {i}：VPN 又断了")
    counts = build_site(ws)
    after = {p.name: p.stat().st_ino for p in (site / "topics").glob("it*.html")}
    pages = len(threads) // 2
    for k in range(1, pages + 1):  # the archive pages that were: the same files
        assert after[f"it.{k}.html"] == before[f"it.{k}.html"]
    assert after["it.html"] != before["it.html"] and f"it.{pages + 1}.html" in after
    assert counts["pages_linked"] > 0
    # the same pages as a build from nothing
    cold = tmp_path / "cold"
    build_site(ws, cold)
    for p in sorted((cold / "topics").glob("*.html")):
        assert _without_stamp(p) == _without_stamp(site / "topics" / p.name), p.name
    assert sorted(p.name for p in (cold / "topics").glob("*.html")) == sorted(p.name for p in (site / "topics").glob("*.html"))
    _check_links(site)
    ws.close()
