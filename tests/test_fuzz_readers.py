"""Fuzzing every reader with mutated fixtures: a reader reports bad input (issues, or the file as unreadable),
it never crashes, and the line-oriented text readers account for every line (tests/line_accounting.py).
bench/fuzz_readers.py runs the same with ≥10,000 inputs per format."""

from __future__ import annotations

import traceback
import zlib

from line_accounting import account_lines, is_line_oriented
from mutations import fixture_exports, mutants, read_mutant, source

from chendian.ingest import qq_classic
from chendian.ingest.base import Reader

MUTANTS_PER_FIXTURE = 12
ACCOUNTED_MUTANTS_PER_FIXTURE = 40  # the line-oriented fixtures are few and small: more mutants each


def test_mutated_fixtures_never_crash_a_reader():
    crashes, inputs = [], 0
    for path, reader in fixture_exports():
        data = path.read_bytes()
        for what, mutant in mutants(data, MUTANTS_PER_FIXTURE, seed=zlib.crc32(path.name.encode())):
            inputs += 1
            try:
                read_mutant(reader, path, mutant)
            except Exception:  # noqa: BLE001 — every crash is collected and shown together
                crashes.append(f"{path.name} [{reader.name}] {what}: {traceback.format_exc(limit=-2)}")
    assert inputs >= 300
    assert not crashes, f"{len(crashes)} of {inputs} inputs crashed a reader:\n" + "\n".join(crashes[:5])


def _unaccounted(reader, path, data: bytes) -> list[tuple[int, str]]:
    result = read_mutant(reader, path, data)
    if result is None:  # reported unreadable as a whole: nothing is silently lost
        return []
    return account_lines(reader.name, source(path, data).text, *result).unaccounted


def test_line_oriented_readers_import_or_report_every_line():
    lost, inputs, formats = [], 0, set()
    for path, reader in fixture_exports():
        if not is_line_oriented(reader.name, path):
            continue
        formats.add(reader.name)
        data = path.read_bytes()
        cases = [("original", data), *mutants(data, ACCOUNTED_MUTANTS_PER_FIXTURE, seed=zlib.crc32(path.name.encode()))]
        for what, mutant in cases:
            inputs += 1
            unaccounted = _unaccounted(reader, path, mutant)
            if unaccounted:
                lost.append(f"{path.name} [{reader.name}] {what}: lines {unaccounted[:3]}")
    assert formats >= {"qq-txt", "wechat-copypaste", "memotrace-txt", "wechatexporter", "weflow", "chatlog", "wxcli"}
    assert inputs >= 300
    assert not lost, f"{len(lost)} of {inputs} inputs lost lines silently:\n" + "\n".join(lost[:5])


QQ_CHAT = """消息记录（此消息记录为文本格式，不支持重新导入）

================================================================
消息分组:我的QQ群
================================================================
消息对象:学习群
================================================================

2016-07-19 15:27:15 【管理员】张三(123456789)
报销流程在哪里看？
第二行也要算上

2016-07-19 15:28:00 李四(987654321)
在 OA 的制度库里

2016-07-19 15:29:30 王五(555666777)
谢谢
最后一行
"""


def _skipping_line(lineno: int) -> Reader:
    """The QQ reader broken on purpose: it reads the file as if line `lineno` were blank (a silent drop)."""
    def read(src, ctx):
        lines = src.text.split("\n")
        lines[lineno - 1] = ""
        src._text = "\n".join(lines)
        return qq_classic.READER.read(src, ctx)
    return Reader(name="qq-txt", label="broken", sniff=qq_classic.sniff, read=read)


def test_accounting_catches_a_reader_that_drops_a_line(tmp_path):
    path = tmp_path / "学习群.txt"
    data = QQ_CHAT.encode("utf-8")
    assert _unaccounted(qq_classic.READER, path, data) == []  # the real reader accounts for every line
    # a continuation line, a whole message (its header), and the end of the file (truncation)
    for dropped, text in ((11, "第二行也要算上"), (13, "2016-07-19 15:28:00 李四(987654321)"), (18, "最后一行")):
        assert _unaccounted(_skipping_line(dropped), path, data) == [(dropped, text)]
