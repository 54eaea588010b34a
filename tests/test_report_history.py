"""What the site reads across every message, kept by the publish stage a night at a time (site/history.py), equals
what a pass over every message gives: night by night, with messages arriving in an old week, recalls, a sender who
changes name, the platform's own account; and the site a night publishes from it equals a cold build."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from chatgen import generate, write_jsonl
from click.testing import CliRunner

from chendian.cli import main
from chendian.ingest import ingest_paths
from chendian.model import QUOTE, RECALL, SYSTEM, TEXT
from chendian.pipeline.stages.publish import update_history
from chendian.site.build import build_site, thread_signatures
from chendian.site.history import STATE_KEY, Cached, Scratch
from chendian.store import Workspace

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=SH)  # a Monday


def _line(chat, pid, minutes, sender, name, text="说点什么", **more):
    return {"chat": chat, "id": pid, "time": (T0 + timedelta(minutes=minutes)).isoformat(), "sender": sender,
            "sender_name": name, "text": text, **more}


def _ingest(ws: Workspace, tmp: Path, name: str, lines: list[dict]) -> None:
    write_jsonl(tmp / name, lines)
    ingest_paths(ws, [tmp / name])


def _oracle(ws: Workspace) -> dict:
    """The answers, by hand from every message in Python."""
    rows = ws.db.execute("SELECT rowid, chat, ts, sender, sender_name, kind, recalled FROM messages").fetchall()
    newest: dict[str, tuple] = {}
    newest_any: dict[str, tuple] = {}
    kinds: dict[str, set] = {}
    firsts: dict[tuple, int] = {}
    names: set[tuple] = set()
    standing: dict[str, list] = {}
    for rowid, chat, ts, sender, name, kind, recalled in rows:
        kinds.setdefault(sender, set()).add(kind)
        if kind != SYSTEM and sender != "" and (sender not in newest or (ts, rowid) > newest[sender][:2]):
            newest[sender] = (ts, rowid, name)
        if sender != "" and (sender not in newest_any or (ts, rowid) > newest_any[sender][:2]):
            newest_any[sender] = (ts, rowid, name)
        if kind != SYSTEM:
            names.add((sender, name))
        if kind not in (SYSTEM, RECALL) and not recalled:
            standing.setdefault(sender, []).append(ts)
        if kind not in (SYSTEM, RECALL) and not recalled and sender != "":
            firsts[(chat, sender)] = min(ts, firsts.get((chat, sender), ts))
    top = max(r[2] for r in rows)
    since = top - 3 * 86400
    return {"display": [(s, v[2]) for s, v in sorted(newest.items(), key=lambda x: (x[1][0], x[0]))],
            "system": {s for s, k in kinds.items() if SYSTEM in k and not k & {TEXT, QUOTE}},
            "firsts": sorted((ts, chat, sender) for (chat, sender), ts in firsts.items()),
            "newest": top, "names": sorted(names),
            "raw_names": [(s, v[2]) for s, v in sorted(newest_any.items(), key=lambda x: (x[1][0], x[0]))],
            "since": since, "activity": (sum(1 for s in newest if s),
                                         {s: (sum(t >= since for t in ts), max(ts)) for s, ts in standing.items()})}


def _check(ws: Workspace, *, full: bool) -> dict:
    delta = update_history(ws)
    assert delta.full == full
    truth = _oracle(ws)
    for h in (Scratch(ws.db), Cached(ws.db, delta.newest_ts)):
        assert h.newest_ts() == truth["newest"]
        assert h.display() == truth["display"]
        assert h.system() == truth["system"]
        assert h.names() == truth["names"]
        assert h.raw_names() == truth["raw_names"]
        assert h.activity(truth["since"]) == truth["activity"]
        lo = truth["firsts"][0][0]
        got = [p for a in range(lo - 7 * 86400, truth["newest"] + 86400, 7 * 86400) for p in h.first_posts(a, a + 7 * 86400)]
        assert got == [(chat, sender, ts) for ts, chat, sender in truth["firsts"]]
    assert delta.thread_sigs == thread_signatures(ws.db)
    return truth


def test_the_kept_history_equals_a_pass_over_every_message_night_by_night(tmp_path):
    ws = Workspace(tmp_path / "ws", create=True)
    try:
        day1 = [_line("群A", "a1", 0, "u1", "研发-小李", "大家好"), _line("群A", "a2", 5, "u2", "老王"),
                _line("群A", "a3", 6, "10000", "系统消息", "小张 加入了群聊", kind="system"),
                _line("群A", "a4", 8, "u3", "小张", "[图片]", kind="image"), _line("群B", "b1", 9, "u1", "研发-小李"),
                _line("群B", "b2", 20, "u4", "阿芳", "收到")]
        _ingest(ws, tmp_path, "d1.jsonl", day1)
        before = _check(ws, full=True)
        assert before["system"] == {"10000"} and ("群A", "u3") in {(c, s) for _, c, s in before["firsts"]}
        # A week later: 小李 under a new name; 小张 writes; the system account again; a message that arrives late
        # for the first week, earlier than 阿芳's first post in 群B; 老王's first post withdrawn; 小李 quotes.
        week2 = 7 * 24 * 60
        day2 = [_line("群A", "a5", week2, "u1", "运维-小李", "换组了"), _line("群A", "a6", week2 + 1, "u3", "小张", "我来了"),
                _line("群A", "a7", week2 + 2, "10000", "系统消息", "小赵 加入了群聊", kind="system"),
                _line("群B", "b0", 10, "u4", "阿芳", "迟到的一条"),
                _line("群A", "r1", week2 + 3, "u2", "老王", "撤回了一条消息", kind="recall", recalls="a2"),
                _line("群A", "a8", week2 + 4, "u1", "运维-小李", "见上", kind="quote")]
        _ingest(ws, tmp_path, "d2.jsonl", day2)
        after = _check(ws, full=False)
        assert ("群A", "u2") not in {(c, s) for _, c, s in after["firsts"]}  # 老王's only post is withdrawn
        assert dict(after["display"])["u1"] == "运维-小李"
        assert ws.db.execute("SELECT count(*) FROM publish_first_posts").fetchone()[0] == len(after["firsts"])
        # the same tables as a rebuild from nothing
        kept = {t: sorted(map(tuple, ws.db.execute(f"SELECT * FROM {t}")))
                for t in ("publish_senders", "publish_names", "publish_first_posts", "publish_thread_sigs")}
        with ws.transaction():
            ws.db.execute("DELETE FROM state WHERE key = ?", (STATE_KEY,))
        _check(ws, full=True)
        assert kept == {t: sorted(map(tuple, ws.db.execute(f"SELECT * FROM {t}"))) for t in kept}
        # a message gone (no stage removes one, but a mark that no longer fits must not be trusted)
        with ws.transaction():
            ws.db.execute("DELETE FROM messages WHERE platform_id = 'a6'")
        _check(ws, full=True)
    finally:
        ws.close()


def _cli(*args: str) -> dict:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _pages(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): b"\n".join(line for line in p.read_bytes().split(b"\n")
                                                  if "生成于".encode() not in line)
            for p in sorted(site.rglob("*")) if p.is_file() and p.name != ".chendian-pages"}


def _publish_counts(root: Path) -> dict:
    report = json.loads((root / "reports" / "latest.json").read_text(encoding="utf-8"))
    return next(s for s in report["stages"] if s["name"] == "publish")["counts"]


def _same_as_cold(root: Path, tmp: Path, name: str) -> None:
    ws = Workspace(root)
    try:
        build_site(ws, tmp / name)  # no kept history, every page rendered
    finally:
        ws.close()
    a, b = _pages(root / "site"), _pages(tmp / name)
    assert a.keys() == b.keys()
    assert [p for p in a if a[p] != b[p]] == []


def test_a_night_publishes_from_the_kept_history_what_a_cold_build_gives(tmp_path):
    days = list(generate(days=8, messages_per_day=160, chats=2))  # two ISO weeks
    earlier = [m for _, ms in days[:-1] for m in ms]
    # The platform's own account posts join notices; a member's first words come on the last day.
    earlier.append({"chat": "群01", "id": "sys-1", "time": "2024-03-05T08:00:00+08:00", "sender": "10000",
                    "sender_name": "系统消息", "text": "周新来 加入了群聊", "kind": "system"})
    # far (more than thread.reach() messages) before anything new in its chat: only the recall reads it again
    old = next(m for m in earlier if m["chat"] == "群02" and m["time"] < "2024-03-06")
    last = [m for m in days[-1][1] if m["chat"] == "群01"] + [  # 群02 is quiet but for a recall
        {"chat": "群01", "id": "new-1", "time": days[-1][1][-1]["time"], "sender": "u-zhou", "sender_name": "周新来",
         "text": "大家好，我是新来的"},
        # arriving late, in the first week
        {"chat": "群01", "id": "late-1", "time": "2024-03-05T10:31:00+08:00", "sender": "u-late",
         "sender_name": "晚到的", "text": "补一条上周的消息：发票丢了去财务开遗失证明"},
        # an old message withdrawn
        {"chat": "群02", "id": "recall-1", "time": days[-1][1][-1]["time"], "sender": old["sender"],
         "sender_name": old["sender_name"], "text": "撤回了一条消息", "kind": "recall", "recalls": old["id"]}]
    write_jsonl(tmp_path / "earlier.jsonl", earlier)
    write_jsonl(tmp_path / "last.jsonl", last)
    root = tmp_path / "ws"
    _cli("init", str(root))
    _cli("-w", str(root), "ingest", str(tmp_path / "earlier.jsonl"))
    _cli("-w", str(root), "run", "-q")
    assert _publish_counts(root)["history_full"] == 1
    _same_as_cold(root, tmp_path, "cold-0")
    _cli("-w", str(root), "ingest", str(tmp_path / "last.jsonl"))
    _cli("-w", str(root), "run", "-q")
    counts = _publish_counts(root)
    assert (counts["history_full"], counts["history_threads_full"], counts["history_recalls"]) == (0, 0, 1), counts
    ws = Workspace(root)
    try:  # the conversations the night may have changed are read again, not all of them
        assert 0 < counts["history_threads_read"] < ws.db.execute("SELECT count(*) FROM threads").fetchone()[0]
        kept = {r[0]: tuple(r[1:]) for r in ws.db.execute("SELECT thread_id, shown, n, s, h1, h2, h3 FROM publish_thread_sigs")}
        assert kept == thread_signatures(ws.db)
    finally:
        ws.close()
    _same_as_cold(root, tmp_path, "cold-1")
    report = (root / "site" / "report.html").read_text(encoding="utf-8")
    assert "周新来" in report  # a new member this week, and the platform's account is no one's name
    # A config change the report shows: names under pseudonyms (the kept history is the same, the pages are not).
    toml = root / "chendian.toml"
    text, n = re.subn(r'(?m)^names = "real"', 'names = "pseudonym"', toml.read_text(encoding="utf-8"))
    assert n == 1
    toml.write_text(text, encoding="utf-8")
    _cli("-w", str(root), "run", "-q")
    assert _publish_counts(root)["history_full"] == 0
    _same_as_cold(root, tmp_path, "cold-2")
    assert "周新来" not in (root / "site" / "report.html").read_text(encoding="utf-8")
