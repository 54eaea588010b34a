"""The search index's files whose bytes a night does not change stay the published files (hard links): not
written again, and known to the audit by their inode."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from chendian.site.audit import audit_site, same_page
from chendian.site.build import build_site
from test_site import make_site_workspace


def _files(site: Path) -> dict[str, Path]:
    files = {str(p.relative_to(site)): p for p in (site / "search").rglob("*.js")}
    files["search-index.js"] = site / "search-index.js"
    return files


def test_unchanged_index_files_are_the_published_files_and_changed_ones_equal_a_cold_build(tmp_path):
    ws = make_site_workspace(tmp_path / "ws")
    site = ws.path("site")
    build_site(ws)
    first = {rel: (p.stat().st_ino, p.read_bytes()) for rel, p in _files(site).items()}
    counts = build_site(ws)  # nothing changed: every index file is kept
    assert counts["index_files_kept"] == len(first)
    assert {rel: p.stat().st_ino for rel, p in _files(site).items()} == {rel: i for rel, (i, _) in first.items()}

    eid = ws.db.execute("SELECT id FROM faq_entries WHERE hidden = 0 ORDER BY id LIMIT 1").fetchone()[0]
    with ws.transaction() as db:
        db.execute("UPDATE faq_entries SET question = '发票抬头写公司全称吗' WHERE id = ?", (eid,))
    previous = tmp_path / "published"
    shutil.copytree(site, previous, copy_function=os.link)  # the site as published before this night
    counts = build_site(ws)
    now = _files(site)
    changed = {rel for rel, p in now.items() if rel not in first or p.read_bytes() != first[rel][1]}
    assert changed and counts["index_files_kept"] == len(now) - len(changed)
    for rel, p in now.items():  # kept exactly when the bytes are the same
        assert (p.stat().st_ino == first.get(rel, (None,))[0]) == (rel not in changed), rel
    cold = tmp_path / "cold"
    build_site(ws, cold)
    assert {rel: p.read_bytes() for rel, p in now.items()} == {rel: p.read_bytes() for rel, p in _files(cold).items()}
    # the audit passes over the kept files by their inode and reads the others
    report = audit_site(site, trusted=same_page(previous))
    assert report.ok and report.files >= len(changed)
    ws.close()
