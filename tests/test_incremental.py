"""The nightly contract: a workspace built night by night holds what one full run on all days holds.

Workspace A imports days 1–N and runs once; workspace B imports days 1–(N−1), runs, then imports day N and runs
again, as cron does. Every stage-owned table and every page of the site must be the same, apart from what is
documented to depend on history (listed in HISTORY_DEPENDENT with the reason) and run bookkeeping.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from chatgen import generate, write_jsonl
from click.testing import CliRunner

from chendian.cli import main
from chendian.schema import NOT_STAGE_OWNED, TABLES

# Run bookkeeping: when and from where, not what.
BOOKKEEPING_COLUMNS = {"imports": {"id", "at", "file", "sha256"}, "messages": {"import_id", "source"},
                       "import_issues": {"import_id"}}
# Documented history dependence (docs/workspace.md, "Nightly runs and full runs"): the topics stage keeps its
# topics stable from night to night — a new day's conversations join the topics they are closest to, and a topic
# is re-clustered only when it has grown — where one full run clusters everything at once. The topics and what
# names them may differ; nothing else may.
TOPIC_TABLES = {"topics", "topic_members", "topic_centroids", "topic_terms"}
TOPIC_COLUMNS = {"faq_entries": {"topic_id"}, "contributors": {"topics"}, "expert_suggestions": {"score"},
                 "insights_inputs": {"topic"}}
# the weekly digest's 热门话题 lines, whole: a full run may list another number of topics than the nights did
TOPIC_LINE = re.compile(r"(?m)^- .+：\d+ 个讨论\n?")
# A text embedded in another batch may differ in the last bit of its float16 vector (batched matrix products).
EMBEDDING_TOLERANCE = 2e-3


def _cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _tables(root: Path, skip: dict[str, set[str]] = BOOKKEEPING_COLUMNS) -> dict[str, list[tuple]]:
    db = sqlite3.connect(root / "chendian.db")
    out = {}
    for table in TABLES:
        if table in NOT_STAGE_OWNED:
            continue
        cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        keep = [c for c in cols if c not in skip.get(table, set())]
        rows = db.execute(f"SELECT {', '.join(keep)} FROM {table}").fetchall()
        if table == "weekly_digests":
            rows = [tuple(TOPIC_LINE.sub("", v) if isinstance(v, str) else v for v in r) for r in rows]
        out[table] = sorted(rows, key=repr)
    db.close()
    return out


TOPIC_LINK = re.compile(r'<a [^>]*href="[^"]*topics/p[0-9a-f]+\.html"[^>]*>[^<]*</a>')
# In the search index: the topics offered when nothing is found, and the t→s map, which covers their names too.
TOPIC_IN_INDEX = re.compile(r'"topics": ?\[.*?\]\]|"t2s": ?"[^"]*"')
# a week's 热门话题; a crumb to its topic; a topic chip (the home page lists every topic, however many there are)
TOPIC_IN_PAGE = re.compile(r"<li>[^<>]+：\d+ 个讨论</li>| › <topic>|<li><topic> <span class=\"muted\">\d+ (?:问|段讨论)</span></li>")


def _site(root: Path) -> dict[str, str]:
    """Every page and data file, less the build stamp and, as documented, the topics (their pages, links, names)."""
    site = root / "site"
    pages = {}
    for p in sorted(site.rglob("*")):
        name = str(p.relative_to(site))
        if not p.is_file() or p.suffix not in (".html", ".js", ".json", ".xml") or name.startswith("topics/"):
            continue
        text = p.read_text(encoding="utf-8")
        text = TOPIC_IN_PAGE.sub("", TOPIC_IN_INDEX.sub("", TOPIC_LINK.sub("<topic>", text)))
        # the build stamp (生成于 …) is the one line that must differ
        pages[name] = "\n".join(line for line in text.splitlines() if "生成于" not in line and line.strip())
    return pages


@pytest.fixture(scope="module")
def nightly_and_full(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incremental")
    days = list(generate(days=4, messages_per_day=160, chats=2))
    assert {m["chat"] for m in days[-1][1]} == {"群01", "群02"}
    earlier = [m for _, ms in days[:-1] for m in ms]
    last = [m for m in days[-1][1] if m["chat"] != "群02"]  # one group quiet on the last day: nothing to redo there
    write_jsonl(tmp / "days-1-3.jsonl", earlier)
    write_jsonl(tmp / "day-4.jsonl", last)
    full, nightly = tmp / "full", tmp / "nightly"
    for root in (full, nightly):
        _cli("init", str(root))
    _cli("-w", str(full), "ingest", str(tmp / "days-1-3.jsonl"), str(tmp / "day-4.jsonl"))
    _cli("-w", str(full), "run", "-q")
    _cli("-w", str(nightly), "ingest", str(tmp / "days-1-3.jsonl"))
    _cli("-w", str(nightly), "run", "-q")
    _cli("-w", str(nightly), "ingest", str(tmp / "day-4.jsonl"))
    _cli("-w", str(nightly), "run", "-q")
    report = json.loads((nightly / "reports" / "latest.json").read_text(encoding="utf-8"))
    return full, nightly, len(earlier), len(last), report


def test_the_night_redoes_only_the_groups_that_spoke(nightly_and_full):
    *_, report = nightly_and_full
    extract = next(s for s in report["stages"] if s["name"] == "extract")["counts"]
    assert (extract["chats_extracted"], extract["chats_unchanged"]) == (1, 1)


def test_the_generated_chat_looks_like_a_group(nightly_and_full):
    full, _, earlier, last, _ = nightly_and_full
    db = sqlite3.connect(full / "chendian.db")
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == earlier + last
    assert db.execute("SELECT COUNT(*) FROM faq_entries WHERE count > 1").fetchone()[0] > 0  # repeated needs
    assert db.execute("SELECT COUNT(*) FROM qas WHERE answers != '[]'").fetchone()[0] > 10
    db.close()


def test_every_table_is_what_a_full_run_gives(nightly_and_full):
    full, nightly, *_ = nightly_and_full
    skip = {t: BOOKKEEPING_COLUMNS.get(t, set()) | TOPIC_COLUMNS.get(t, set()) for t in TABLES}
    a, b = _tables(full, skip), _tables(nightly, skip)
    differing = {t: (len(a[t]), len(b[t])) for t in a
                 if a[t] != b[t] and t not in TOPIC_TABLES and t != "embeddings"}
    assert not differing, f"tables that differ (rows full, nightly): {differing}"
    assert [r[0] for r in a["embeddings"]] == [r[0] for r in b["embeddings"]]
    for (_, blob_a), (_, blob_b) in zip(a["embeddings"], b["embeddings"]):
        va, vb = np.frombuffer(blob_a, dtype=np.float16), np.frombuffer(blob_b, dtype=np.float16)
        assert np.abs(va.astype(np.float32) - vb.astype(np.float32)).max() <= EMBEDDING_TOLERANCE
    # the topics differ only as documented: night by night they still group the conversations much as one run does
    full_topic, nightly_topic = ({r[0]: r[1] for r in t["topic_members"]} for t in (a, b))
    threads = sorted(set(full_topic) | set(nightly_topic))
    agreement = adjusted_rand_score([full_topic.get(t, "-") for t in threads], [nightly_topic.get(t, "-") for t in threads])
    assert agreement >= 0.5, agreement


def test_the_site_is_what_a_full_run_builds(nightly_and_full):
    full, nightly, *_ = nightly_and_full
    a, b = _site(full), _site(nightly)
    assert a.keys() == b.keys()
    differing = [name for name in a if a[name] != b[name]]
    assert not differing, f"{len(differing)} page(s) differ, e.g. {differing[:5]}"

