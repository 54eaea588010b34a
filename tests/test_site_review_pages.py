"""The review queue in pages: review.html shows the first REVIEW_TOP held entries and links the day pages, where
every held entry is once, on the page of the day it was first asked, in the order asked; a decision re-renders
that day's page and no other. The open questions likewise, by ISO week."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner
from conftest import run_examples

from chendian.cli import main
from chendian.curation import review_queue
from chendian.site import build
from chendian.site.build import build_site
from chendian.store import Workspace



def _cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _ids(html: str) -> list[str]:
    return re.findall(r'<li class="review-item" id="([^"]+)"', html)


def _without_stamp(path: Path) -> str:
    return "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if "生成于" not in line)


def test_review_pages_hold_every_held_entry_once_and_a_decision_changes_one_week(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "REVIEW_TOP", 2)
    monkeypatch.setattr(build, "OPEN_TOP", 2)
    root = run_examples(tmp_path / "ws", ('publish = "confident"', 'publish = "approved"'))
    site = root / "site"
    ws = Workspace(root)
    queue = [item.entry for item in review_queue(ws)]
    ws.close()
    assert len(queue) > 3  # held entries on more than one week's page
    review = (site / "review.html").read_text(encoding="utf-8")
    assert _ids(review) == [e.id for e in queue[:2]]  # the queue's first
    weeks = re.findall(r'href="(review/[^"]+\.html)"', review)
    assert len(weeks) >= 2 and len(set(weeks)) == len(weeks)
    on_pages = {}
    for rel in weeks:
        for eid in _ids((site / rel).read_text(encoding="utf-8")):
            assert eid not in on_pages, eid  # once
            on_pages[eid] = rel
    assert set(on_pages) == {e.id for e in queue}
    for e in queue:  # on the page of the day it was first asked (the workspace's time zone)
        assert on_pages[e.id] == f"review/{datetime.fromtimestamp(e.first_ts, ws.config.tz):%Y-%m-%d}.html", e.id
    first = {e.id: (e.first_ts, e.id) for e in queue}
    for rel in weeks:  # in the order asked
        ids = _ids((site / rel).read_text(encoding="utf-8"))
        assert ids == sorted(ids, key=first.get)

    # the open questions likewise: ops.html the two asked last, every one on its week's page, oldest first
    ops = (site / "ops.html").read_text(encoding="utf-8")
    total = int(re.search(r"(\d+) 个待处理", ops).group(1))
    open_weeks = re.findall(r'href="(open/[^"]+\.html)"', ops)
    asked = []
    for rel in sorted(open_weeks):
        page = (site / rel).read_text(encoding="utf-8")
        asked += re.findall(r'<p class="entry-q">(.*?)</p>\s*<p class="muted">.*?(\d{4}-\d\d-\d\d \d\d:\d\d)', page, re.S)
    assert total > 2 and len(asked) == total and len(open_weeks) >= 2
    assert [w for _, w in asked] == sorted(w for _, w in asked)
    assert re.findall(r'<p class="entry-q">(.*?)</p>', ops)[:2] == [q for q, _ in asked[-2:]]

    before = {p.name: p.stat().st_ino for p in (site / "review").iterdir()}
    decided = queue[-1]
    _cli("-w", str(root), "faq", "reject", decided.id)
    _cli("-w", str(root), "stage", "-q", "faq", "index", "publish")
    after = {p.name: p.stat().st_ino for p in (site / "review").iterdir()}
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed <= {Path(on_pages[decided.id]).name}  # that week only (gone if it was its only entry)
    page = site / on_pages[decided.id]
    assert not page.exists() or decided.id not in page.read_text(encoding="utf-8")
    ws = Workspace(root)
    cold = tmp_path / "cold"
    build_site(ws, cold)
    ws.close()
    assert sorted(p.name for p in (cold / "review").iterdir()) == sorted(after)
    for p in (cold / "review").iterdir():
        assert _without_stamp(p) == _without_stamp(site / "review" / p.name), p.name


def test_the_review_page_marks_each_candidate_answer_in_its_conversation(tmp_path):
    # as `chendian review` does in the terminal: the candidates are 答1, 答2, … and where one was said within the
    # messages shown around the question, that message carries its number
    root = run_examples(tmp_path / "ws")
    ws = Workspace(root)
    queue = review_queue(ws)
    ws.close()
    review = (root / "site" / "review.html").read_text(encoding="utf-8")
    items = re.split(r'<li class="review-item" id="', review)[1:]
    assert items and len(items) == min(len(queue), build.REVIEW_TOP)
    marked = 0
    for item, held in zip(items, queue):
        e = held.entry
        assert item.startswith(e.id)
        candidates = item[item.index('<ol class="candidates"'):]
        assert re.findall(r'<span class="badge">答(\d+)</span>', candidates) == [str(n) for n in range(1, len(e.answers) + 1)]
        in_context = {m.id for m in held.context}
        for n, a in enumerate(e.answers, 1):
            shown = [mid for mid in a.answer.message_ids if mid in in_context]
            context = item[:item.index('<ol class="candidates"')]
            assert len(re.findall(rf'<li class="candidate">.*?<span class="badge">答{n}</span></li>', context)) == len(shown)
            marked += len(shown)
    assert marked  # the examples' held entries do have answers next to their question
