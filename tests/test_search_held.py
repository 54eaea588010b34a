"""Entries held for review in search (issue 23): found under publish = "confident", labelled 待审核 in the CLI,
the API and the site's search, linked to their conversation; never under publish = "approved"."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request

import pytest
from click.testing import CliRunner

from chendian.cli import main
from chendian.pipeline import RunContext
from chendian.pipeline.stages import index as index_mod
from chendian.search.api import make_server
from chendian.search.query import search
from chendian.store import Workspace
from test_search import load_faq

HELD = "f003"  # 年假怎么请: answered, but not sure enough to publish under "confident"


def hold(ws, entry_id: str) -> None:
    with ws.transaction():
        ws.db.execute("UPDATE faq_entries SET published = 0, confidence = 0.2, approved = 0 WHERE id = ?", (entry_id,))


@pytest.fixture
def held_ws(tmp_path):
    ws = Workspace(tmp_path / "ws", create=True)
    load_faq(ws)
    hold(ws, HELD)
    yield ws
    ws.close()


def reindex(ws, publish: str = "confident", show_held: bool = True) -> None:
    ws.config.faq.publish = publish
    ws.config.search.show_held = show_held
    index_mod.run(ws, RunContext(quiet=True, stage="index"))


def test_held_entry_is_found_and_labelled_under_confident(held_ws):
    reindex(held_ws)
    hits = search(held_ws, "请问年假怎么请", k=5)
    assert hits[0].id == HELD and hits[0].held
    assert hits[0].source["trust"] == "unconfirmed"  # its answer is not confirmed either
    assert not any(h.held for h in hits[1:])
    assert not any(h.held for h in search(held_ws, "报销怎么弄", k=5) if h.id != HELD)


@pytest.mark.parametrize("publish, show_held", [("approved", True), ("confident", False)])
def test_held_entry_is_not_searched_under_approved_or_when_switched_off(held_ws, publish, show_held):
    if publish == "approved":  # the site shows exactly the approved set: approve all but the held one
        with held_ws.transaction():
            held_ws.db.execute("UPDATE faq_entries SET approved = 1 WHERE id != ?", (HELD,))
    reindex(held_ws, publish, show_held)
    hits = search(held_ws, "请问年假怎么请", k=10, floor=None)
    assert hits and HELD not in {h.id for h in hits} and not any(h.held for h in hits)


def test_cli_and_api_say_held_for_review(held_ws):
    reindex(held_ws)
    out = CliRunner().invoke(main, ["-w", str(held_ws.root), "search", "年假怎么请"])
    assert out.exit_code == 0, out.output
    first = out.output.splitlines()[0]
    assert HELD in first and "待审核" in first and "答案未经确认" in first
    assert "待审核" not in "\n".join(line for line in out.output.splitlines() if HELD not in line)
    as_json = [json.loads(x) for x in CliRunner().invoke(
        main, ["-w", str(held_ws.root), "search", "--json", "年假怎么请"]).output.splitlines()]
    assert as_json[0]["id"] == HELD and as_json[0]["held"] is True

    srv = make_server(held_ws.root, "127.0.0.1", 0, token="s3cret")
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/api/search?q={urllib.parse.quote('年假怎么请')}"
        req = urllib.request.Request(url, headers={"Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(req, timeout=30) as r:
            hits = json.loads(r.read().decode("utf-8"))["hits"]
    finally:
        srv.shutdown()
        srv.server_close()
    assert hits[0]["id"] == HELD and hits[0]["held"] is True
    assert all(h["held"] is False for h in hits[1:])


def test_search_settings_and_the_vocabulary_change_what_publish_rebuilds(held_ws):
    """The site's search holds held entries and vocabulary expansions: toggling either must rebuild the site."""
    from chendian.pipeline.stages.publish import fingerprint
    from chendian.search.index import INDEX_LINK, VOCAB_FILE

    before = fingerprint(held_ws)
    held_ws.config.search.show_held = not held_ws.config.search.show_held
    toggled = fingerprint(held_ws)
    assert toggled != before
    held_ws.config.search.show_held = not held_ws.config.search.show_held
    assert fingerprint(held_ws) == before
    folder = held_ws.path(INDEX_LINK)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VOCAB_FILE).write_text(json.dumps({"网联": ["NUCC"]}, ensure_ascii=False), encoding="utf-8")
    assert fingerprint(held_ws) not in (before, toggled)
