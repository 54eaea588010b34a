"""`chendian run` end to end on the bundled example chats: the nightly contract ops rely on."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from chendian.cli import main
from chendian.site.browser_index import BrowserIndex

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TABLES = ("messages", "message_threads", "threads", "topics", "qas", "faq_entries", "contributors", "weekly_digests")


def table_digests(db_path: Path) -> dict[str, str]:
    db = sqlite3.connect(db_path)
    out = {}
    for table in TABLES:
        h = hashlib.blake2b(digest_size=8)
        for row in db.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
            h.update(repr(row).encode())
        out[table] = h.hexdigest()
    db.close()
    return out


def stage_counts(ws: Path) -> dict[str, dict]:
    report = json.loads((ws / "reports" / "latest.json").read_text(encoding="utf-8"))
    assert report["ok"], report
    return {s["name"]: s["counts"] for s in report["stages"]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A workspace after one nightly run over examples/ (shared by the tests below, which run in order)."""
    ws = tmp_path_factory.mktemp("e2e") / "ws"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(ws)]).exit_code == 0
    for folder in ("wechat", "qq"):
        shutil.copytree(EXAMPLES / folder, ws / "inbox" / folder)
    result = runner.invoke(main, ["-w", str(ws), "run", "-q"])
    assert result.exit_code == 0, result.output
    return ws


def test_first_run_builds_everything(demo):
    counts = stage_counts(demo)
    assert counts["ingest"]["messages_new"] == counts["ingest"]["messages_total"] > 400
    assert counts["ingest"]["bad_lines"] == 0
    assert counts["faq"]["entries"] > 20 and counts["faq"]["repeated"] >= 2
    # precision first: what the site shows is what the faq stage published; the rest waits for review
    assert 0 < counts["faq"]["published"] < counts["faq"]["entries"] - counts["faq"]["hidden"]
    assert counts["publish"]["entries"] == counts["faq"]["published"]
    assert (demo / "site" / "index.html").is_file() and (demo / "site" / "search-index.js").is_file()


def test_search_answers_colloquial_questions(demo):
    runner = CliRunner()
    for query in ("报销怎么弄", "差旅費咋報", "baoxiao"):
        result = runner.invoke(main, ["-w", str(demo), "search", query, "-k", "3", "--json"])
        assert result.exit_code == 0, result.output
        hits = [json.loads(line) for line in result.output.splitlines()]
        assert hits and "报" in hits[0]["question"] + hits[0]["answer"], (query, hits[0])


def test_held_entries_are_searched_labelled_and_linked_to_their_conversation(demo):
    """Under publish = "confident" what waits for review is found, labelled 待审核, and has no entry page: the
    site's search links its question in the (published) conversation (issue 23)."""
    db = sqlite3.connect(demo / "chendian.db")
    held = {r[0]: r[1] for r in db.execute("SELECT id, question FROM faq_entries WHERE published = 0 AND hidden = 0 "
                                           "AND approved = 0 AND answered = 1 AND trim(answer) != ''")}
    db.close()
    assert held
    docs = [d for d in BrowserIndex(demo / "site").docs if d.get("h")]
    assert {d["i"] for d in docs} == set(held)
    for d in docs:
        page, anchor = d["u"].split("#")
        assert page.startswith("threads/") and f'id="{anchor}"' in (demo / "site" / page).read_text(encoding="utf-8")
        assert not (demo / "site" / "entries" / f"{d['i']}.html").exists()
        assert d.get("t") in ("unconfirmed", "none")  # and its answer is not confirmed
    entry_id, question = sorted(held.items())[0]
    result = CliRunner().invoke(main, ["-w", str(demo), "search", question, "-k", "5", "--json"])
    hits = [json.loads(line) for line in result.output.splitlines()]
    assert any(h["id"] == entry_id and h["held"] for h in hits)
    assert all(h["held"] == (h["id"] in held) for h in hits)


def test_rerun_on_the_same_input_changes_nothing(demo):
    before = table_digests(demo / "chendian.db")
    site_before = (demo / "site" / "index.html").read_bytes()
    result = CliRunner().invoke(main, ["-w", str(demo), "run", "-q"])
    assert result.exit_code == 0, result.output
    counts = stage_counts(demo)
    assert counts["ingest"]["messages_new"] == 0 and counts["ingest"]["files_unchanged"] == 2
    assert counts["embed"]["embedded"] == 0 and counts["thread"]["chats_threaded"] == 0
    assert counts["publish"].get("unchanged") == 1
    assert table_digests(demo / "chendian.db") == before
    assert (demo / "site" / "index.html").read_bytes() == site_before


def test_a_new_day_adds_only_its_messages(demo):
    before = stage_counts(demo)["ingest"]["messages_total"]
    day = [{"chat": "运维值班群", "id": f"d6-{i}", "time": f"2024-03-09T10:{i:02d}:00", "sender": f"u{i % 2}",
            "sender_name": ["王磊-SRE", "张伟"][i % 2], "text": t}
           for i, t in enumerate(["周末发版窗口是几点？", "周六上午 10 点到 12 点，记得提前在群里报备", "好的谢谢"])]
    (demo / "inbox" / "day6.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in day),
                                               encoding="utf-8")
    result = CliRunner().invoke(main, ["-w", str(demo), "run", "-q"])
    assert result.exit_code == 0, result.output
    counts = stage_counts(demo)
    assert counts["ingest"]["messages_new"] == 3 and counts["ingest"]["messages_total"] == before + 3
    assert counts["embed"]["embedded"] <= 3
    assert counts["thread"]["chats_threaded"] == 1


def test_curation_survives_the_next_run(demo):
    runner = CliRunner()
    top = json.loads(runner.invoke(main, ["-w", str(demo), "search", "报销怎么弄", "-k", "1", "--json"]).output)
    entry = top["id"]
    assert runner.invoke(main, ["-w", str(demo), "faq", "hide", entry]).exit_code == 0
    assert runner.invoke(main, ["-w", str(demo), "run", "-q"]).exit_code == 0
    assert not (demo / "site" / "entries" / f"{entry}.html").exists()
    assert entry not in {d["i"] for d in BrowserIndex(demo / "site").docs}
    result = runner.invoke(main, ["-w", str(demo), "search", "报销怎么弄", "-k", "5", "--json"])
    assert entry not in result.output
    listing = runner.invoke(main, ["-w", str(demo), "faq", "list", "--all", "--limit", "500"]).output
    assert entry in listing and "🙈" in listing.split(entry, 1)[1].split("\n", 1)[0]


def test_a_killed_run_leaves_the_workspace_usable_and_the_next_run_recovers(tmp_path):
    """SIGKILL mid-run (cron timeout, OOM killer): the lock goes with the process, no half-written stage
    output survives, and the next run finishes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(ws)]).exit_code == 0
    shutil.copytree(EXAMPLES / "wechat", ws / "inbox" / "wechat")
    proc = subprocess.Popen([sys.executable, "-m", "chendian.cli", "-w", str(ws), "run", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:  # kill it once it is past ingest
        db = ws / "chendian.db"
        if db.exists() and sqlite3.connect(db).execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'tokens'").fetchone()[0]:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    result = runner.invoke(main, ["-w", str(ws), "run", "-q"])
    assert result.exit_code == 0, result.output
    counts = stage_counts(ws)
    assert counts["ingest"]["messages_total"] == 282
    assert (ws / "site" / "index.html").is_file()
    assert sqlite3.connect(ws / "chendian.db").execute("PRAGMA integrity_check").fetchone()[0] == "ok"
