"""Publishing at scale: pages rendered and audited in several processes are those of one; a night reuses the
semantic student while few messages arrived (site/student.py REFIT_GROWTH) and refits past that bound; person
pages do not change with the 28-day counts (those are on people/index.html)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from chendian.site import pool, student
from chendian.site.audit import audit_site
from chendian.site.build import build_site

_MESSAGE = ("INSERT INTO messages (id, chat, ts, time, sender, sender_name, kind, text, platform_id, reply_to, quote,"
            " mentions, recalled, source, extra, import_id) SELECT ?, chat, ts + 1, time, sender, sender_name, 'text',"
            " ?, ?, NULL, NULL, '[]', 0, 'test', '{}', import_id FROM messages ORDER BY rowid DESC LIMIT 1")


def _pages(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): b"\n".join(line for line in p.read_bytes().split(b"\n")
                                                  if "生成于".encode() not in line)
            for p in site.rglob("*") if p.is_file()}


def _pid(_item) -> int:
    return os.getpid()


def test_ordered_map_keeps_the_order_and_runs_in_other_processes():
    squares = list(pool.ordered_map(lambda x: x * x, range(200), workers=2, chunk=3))
    assert squares == [x * x for x in range(200)]
    pids = list(pool.ordered_map(_pid, range(64), workers=2, chunk=4))
    assert pids and os.getpid() not in pids  # (one worker may take every chunk of so little work)
    assert set(pool.ordered_map(_pid, range(64), workers=1)) == {os.getpid()}
    assert set(pool.ordered_map(_pid, range(3), workers=2, chunk=4)) == {os.getpid()}  # too few to fork for


def test_a_site_built_in_two_processes_is_the_site_built_in_one(tmp_path, monkeypatch):
    from test_site import make_site_workspace

    monkeypatch.setattr(pool, "CHUNK", 2)  # the fixture's few dozen pages in many chunks
    ws = make_site_workspace(tmp_path / "ws", names="pseudonym")
    try:
        with ws.transaction():  # a quote that is not JSON: its page warns, from whichever process renders it
            ws.db.execute("UPDATE messages SET quote = '{not json' WHERE rowid = (SELECT min(m.rowid) FROM messages m"
                          " JOIN message_threads mt ON mt.message_id = m.id WHERE m.kind = 'text')")
        runs = {}
        for workers in (1, 2):
            ws.config.run.workers = workers
            rc = _Recorder()
            runs[workers] = (build_site(ws, tmp_path / str(workers), rc=rc), rc.warnings, rc.ticks)
    finally:
        ws.close()
    assert runs[1] == runs[2] and runs[1][0]["pages"] > 20
    assert any("quote: not valid JSON" in w for w in runs[1][1])
    assert _pages(tmp_path / "1") == _pages(tmp_path / "2")


class _Recorder:
    """A RunContext's warn and progress, recorded."""

    def __init__(self):
        self.warnings, self.ticks = [], 0

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def progress(self, total, what, unit=""):
        return self

    def update(self, n: int = 1) -> None:
        self.ticks += n

    def close(self) -> None:
        pass


def test_the_audit_in_two_processes_finds_what_one_finds(tmp_path, monkeypatch):
    monkeypatch.setattr(pool, "CHUNK", 2)
    for i in range(30):
        leak = f"<p>请联系 1380013{i:04d}</p>" if i % 7 == 3 else "<p>没有问题</p>"
        (tmp_path / f"p{i:02d}.html").write_text(f"<html><body>{leak}<p>张三说好</p></body></html>", encoding="utf-8")
    one = audit_site(tmp_path, ["张三"], workers=1)
    two = audit_site(tmp_path, ["张三"], workers=2)
    assert one.findings == two.findings and one.files == two.files == 30
    assert sum(f.kind == "name" for f in one.findings) == 30
    assert [f.file for f in one.findings if f.kind != "name"] == ["p03.html", "p10.html", "p17.html", "p24.html"]


def _add_messages(ws, n: int, tag: str) -> None:
    with ws.transaction():
        for i in range(n):
            ws.db.execute(_MESSAGE, (f"{tag}-{i}", f"补充一句：第 {i} 号会议室的投影仪坏了", f"{tag}-{i}"))


def test_a_night_reuses_the_student_below_the_bound_and_refits_past_it(tmp_path):
    from semantic_site import make_office_workspace

    ws = make_office_workspace(tmp_path / "ws")
    site = ws.path("site")
    try:
        first = build_site(ws)
        assert first["vector_refit"] == 1 and (site / student.STUDENT_FILE).is_file()
        messages = ws.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        vectors = student.load_student(site / student.STUDENT_FILE)[0]
        # Fewer new messages than REFIT_GROWTH of those it was fitted on: the same student (vocabulary, table)
        below = math.ceil(student.REFIT_GROWTH * messages) - 1
        _add_messages(ws, below, "a")
        night = build_site(ws)
        assert night["vector_refit"] == 0
        kept = student.load_student(site / student.STUDENT_FILE)[0]
        assert kept.terms == vectors.terms and (kept.table == vectors.table).all()
        # one more reaches the bound: refitted, as a build from nothing fits it
        _add_messages(ws, 1, "b")
        night = build_site(ws)
        fresh = build_site(ws, tmp_path / "fresh")
        assert night["vector_refit"] == fresh["vector_refit"] == 1
        assert (site / "search-vectors.js").read_bytes() == (tmp_path / "fresh" / "search-vectors.js").read_bytes()
        # a withdrawn message refits at once, whatever the count: its words must leave the vocabulary
        _add_messages(ws, 1, "c")
        assert build_site(ws)["vector_refit"] == 0
        with ws.transaction():
            ws.db.execute("UPDATE messages SET recalled = 1 WHERE id = (SELECT id FROM messages"
                          " WHERE text LIKE '%打印机%' ORDER BY rowid LIMIT 1)")
        assert build_site(ws)["vector_refit"] == 1
        (site / student.STUDENT_FILE).unlink()
        (site / student.STUDENT_FILE).write_bytes(b"PK\x03\x04 cut short")  # damaged: fitted anew
        assert build_site(ws)["vector_refit"] == 1
    finally:
        ws.close()


def test_person_pages_do_not_change_with_the_recent_counts(tmp_path):
    from test_site import make_site_workspace

    ws = make_site_workspace(tmp_path / "ws")
    try:
        build_site(ws)
        before = _pages(ws.path("site"))
        # a day later, one who answers speaks again: everyone's 28-day window moves and their day last seen,
        # and no person page shows either
        _add_messages(ws, 1, "d")
        with ws.transaction():
            ws.db.execute("UPDATE messages SET ts = ts + 86400, (sender, sender_name) = (SELECT sender, name FROM"
                          " contributors WHERE answers > 0 ORDER BY answers DESC LIMIT 1) WHERE id = 'd-0'")
        counts = build_site(ws)
        after = _pages(ws.path("site"))
    finally:
        ws.close()
    people = [p for p in after if p.startswith("people/") and p != "people/index.html"]
    assert people and all(after[p] == before[p] for p in people)
    assert counts["pages_linked"] >= len(people)
    assert "最近发言".encode() in after["people/index.html"] and "近 28 天".encode() in after["people/index.html"]
