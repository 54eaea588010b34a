"""Independent stages of a night run at once (pipeline.stage_groups), and that changes no table.

The grouping trusts each stage's declared reads and writes, so the first test holds the declarations to what the
stages really touch (SQLite's authorizer sees every table a statement reads or writes). The others run the same
night once stage by stage (executor = "local") and once with the groups in forked processes (the default,
"auto"), and compare every table; and make one stage of a group fail in its own process.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_incremental import _site, _tables

from chendian.cli import main
from chendian.pipeline import STAGES, run_stages, stage_groups
from chendian.store import Workspace

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# What any stage may touch besides its declared tables: its own keys in `state`; SQLite's json_each (a table
# function); the embedding cache, which the stages that embed texts fill as they go (keyed by text and model).
ALWAYS_READ = {"state", "json_each"}
ALWAYS_WRITTEN = {"state", "embeddings"}


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _set_executor(root: Path, executor: str) -> None:
    toml = root / "chendian.toml"
    text = toml.read_text(encoding="utf-8")
    assert 'executor = "auto"' in text
    toml.write_text(text.replace('executor = "auto"', f'executor = "{executor}"', 1), encoding="utf-8")


@pytest.fixture(scope="module")
def first_night(tmp_path_factory) -> Path:
    """A workspace after a first run on the WeChat example, the QQ example waiting in its inbox."""
    root = tmp_path_factory.mktemp("groups") / "ws"
    _cli("init", str(root))
    toml = root / "chendian.toml"  # two workers whatever this machine's cores: the groups run at once
    toml.write_text(toml.read_text(encoding="utf-8").replace("\nworkers = 0", "\nworkers = 2", 1), encoding="utf-8")
    assert "\nworkers = 2" in toml.read_text(encoding="utf-8")
    shutil.copytree(EXAMPLES / "wechat", root / "inbox" / "wechat")
    _cli("-w", str(root), "run", "-q")
    shutil.copytree(EXAMPLES / "qq", root / "inbox" / "qq")
    return root


def test_the_groups_of_a_night():
    assert [[s.name for s in g] for g in stage_groups(list(STAGES))] == [
        ["ingest"], ["segment", "embed"], ["thread"], ["topics", "extract"], ["talks"], ["faq"],
        ["insights", "summarize", "index"], ["publish", "digest"]]


def test_every_stage_touches_only_the_tables_it_declares(first_night, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(first_night, root)
    _set_executor(root, "local")  # every stage in this process, on the one connection watched
    ws = Workspace(root)
    touched: dict[str, set[str]] = {"read": set(), "written": set()}
    writes = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}

    def watch(action, table, _column, _db, _trigger):
        if table and not table.startswith("sqlite_"):
            if action == sqlite3.SQLITE_READ:
                touched["read"].add(table)
            elif action in writes:
                touched["written"].add(table)
        return sqlite3.SQLITE_OK

    ws.db.set_authorizer(watch)
    undeclared = {}
    try:
        for stage in STAGES:
            touched["read"].clear()
            touched["written"].clear()
            report = run_stages(ws, [stage.name], quiet=True)
            assert report.ok, report.stages
            reads = touched["read"] - set(stage.reads) - set(stage.writes) - ALWAYS_READ
            written = touched["written"] - set(stage.writes) - ALWAYS_WRITTEN
            if reads or written:
                undeclared[stage.name] = {"reads": sorted(reads), "writes": sorted(written)}
            if stage.name == "embed":
                assert "embeddings" in touched["written"]  # the watch sees the night's writes
    finally:
        ws.close()
    assert undeclared == {}


def test_a_night_in_groups_holds_what_a_night_stage_by_stage_holds(first_night, tmp_path):
    together, one_by_one = tmp_path / "together", tmp_path / "one-by-one"
    shutil.copytree(first_night, together)
    shutil.copytree(first_night, one_by_one)
    _set_executor(one_by_one, "local")
    _cli("-w", str(together), "run", "-q")
    _cli("-w", str(one_by_one), "run", "-q")
    report = json.loads((together / "reports" / "latest.json").read_text(encoding="utf-8"))
    assert report["together"] == [["segment", "embed"], ["topics", "extract"], ["insights", "summarize", "index"],
                                  ["publish", "digest"]]
    assert [s["name"] for s in report["stages"]] == [s.name for s in STAGES]
    assert json.loads((one_by_one / "reports" / "latest.json").read_text(encoding="utf-8"))["together"] == []
    a, b = _tables(together), _tables(one_by_one)
    assert a.keys() == b.keys()
    for table in a:
        assert a[table] == b[table], table
    assert _site(together) == _site(one_by_one)


def test_a_first_run_goes_stage_by_stage(tmp_path):
    root = tmp_path / "ws"
    _cli("init", str(root))
    shutil.copytree(EXAMPLES / "wechat", root / "inbox" / "wechat")
    _cli("-w", str(root), "run", "-q")
    assert json.loads((root / "reports" / "latest.json").read_text(encoding="utf-8"))["together"] == []


def test_a_stage_that_fails_in_its_own_process_stops_the_run(first_night, tmp_path, monkeypatch):
    root = tmp_path / "ws"
    shutil.copytree(first_night, root)
    from chendian.pipeline.stages import summarize

    def broken(*_args, **_kwargs):
        raise RuntimeError("the weekly rows are unreadable")

    monkeypatch.setattr(summarize, "weekly_rows", broken)  # the forked process inherits it
    result = CliRunner().invoke(main, ["-w", str(root), "run", "-q"])
    assert result.exit_code == 1
    report = json.loads((root / "reports" / "latest.json").read_text(encoding="utf-8"))
    status = {s["name"]: (s["status"], s["note"]) for s in report["stages"]}
    assert status["summarize"] == ("failed", "RuntimeError: the weekly rows are unreadable")
    assert status["insights"][0] == status["index"][0] == "ok"  # its group ran to the end
    assert "publish" not in status  # later stages would read half-made inputs
    assert "✗ summarize" in result.output


def test_a_rerun_after_a_night_changes_nothing(first_night, tmp_path):
    """The QQ example's questions join entries the WeChat example founded, and the same colleague has a name id in
    one and a QQ number in the other: an entry's questions are kept in time order whichever night placed them,
    so its answerers (and so the site) are the same when faq runs again on the same input."""
    root = tmp_path / "ws"
    shutil.copytree(first_night, root)
    _cli("-w", str(root), "run", "-q")

    def entries() -> list[tuple]:
        db = sqlite3.connect(root / "chendian.db")
        try:
            return db.execute("SELECT * FROM faq_entries ORDER BY id").fetchall()
        finally:
            db.close()

    after_the_night = entries()
    assert any(len(json.loads(row[3])) and int(row[5]) > 1 for row in after_the_night)  # answered, repeated
    output = _cli("-w", str(root), "run", "-q")
    assert entries() == after_the_night
    assert "publish       0" in output and "pages 0, unchanged 1" in output
