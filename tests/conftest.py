"""Shared test helpers: a fresh workspace, the shared dev data (skipped when absent) and golden files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from chendian.cli import main
from chendian.ingest import readers, sniff
from chendian.ingest.base import ReadContext, SourceFile
from chendian.store import Workspace

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
SHARED_DATA = Path(os.environ.get("CHENDIAN_SHARED_DATA", TESTS.parent.parent / "shared" / "data"))
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def shared_data() -> Path:
    """../shared/data: real data no one here wrote. Tests that need it skip in a user's fresh checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared dev data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    ws = Workspace(tmp_path / "ws", create=True)
    yield ws
    ws.close()


def read_file(path: Path, fmt: str | None = None, *, chat_name: str | None = None, names: dict | None = None,
              tz: ZoneInfo = SHANGHAI):
    """Read one file with the library's reader (sniffed unless fmt): (reader name, messages, issues)."""
    data = Path(path).read_bytes()
    folder = Path(path).parent
    src = SourceFile(name=str(path), data=data,
                     siblings=lambda n: (folder / n).read_bytes() if (folder / n).is_file() else None)
    all_readers = readers()
    reader = {r.name: r for r in all_readers}[fmt] if fmt else sniff(src, all_readers)
    assert reader is not None, f"no reader claims {path}"
    ctx = ReadContext(src, tz, chat_name=chat_name, names=names)
    messages = list(reader.read(src, ctx))
    return reader.name, messages, ctx.issues


def message_record(m) -> dict:
    """A message as plain JSON for golden files (source without the folder, so goldens are portable)."""
    return {
        "id": m.id,
        "chat": m.chat,
        "time": m.time.isoformat(),
        "sender": m.sender,
        "sender_name": m.sender_name,
        "kind": m.kind,
        "text": m.text,
        "platform_id": m.platform_id,
        "reply_to": m.reply_to,
        "quote": None if m.quote is None else {"platform_id": m.quote.platform_id,
                                               "sender_name": m.quote.sender_name, "text": m.quote.text},
        "mentions": m.mentions,
        "recalled": m.recalled,
        "source": m.source.rsplit("/", 1)[-1],
        "extra": m.extra,
    }


def assert_golden(golden: Path, records: list[dict] | dict) -> None:
    """Compare with a golden JSON file; UPDATE_GOLDEN=1 rewrites it (review the diff before committing)."""
    text = json.dumps(records, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN") or not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
        if not os.environ.get("UPDATE_GOLDEN"):
            pytest.fail(f"golden file {golden} did not exist and was written; review it and rerun")
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert json.loads(text) == expected, f"output differs from {golden} (UPDATE_GOLDEN=1 to rewrite after review)"


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_examples(root: Path, *settings: tuple[str, str]) -> Path:
    """A new workspace at `root` with the bundled WeChat and QQ examples in its inbox, run once; each (old, new) of
    `settings` rewrites one line of its chendian.toml first (e.g. 'publish = "confident"' → '"approved"')."""
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(root)]).exit_code == 0
    config = root / "chendian.toml"
    text = config.read_text(encoding="utf-8")
    for old, new in settings:
        assert old in text, old
        text = text.replace(old, new, 1)
    config.write_text(text, encoding="utf-8")
    for folder in ("wechat", "qq"):
        shutil.copytree(EXAMPLES / folder, root / "inbox" / folder)
    result = runner.invoke(main, ["-w", str(root), "run", "-q"])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def examples_ws(tmp_path_factory):
    """The bundled examples run through the whole pipeline, members shown under pseudonyms (the audit's tests)."""
    return run_examples(tmp_path_factory.mktemp("examples") / "ws", ('names = "real"', 'names = "pseudonym"'))
