"""The ingest driver: idempotence, one transaction per file, bad input, zips, quotes and recalls."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from chendian import ingest as ingest_mod
from chendian.cli import main
from chendian.ingest import ingest_paths
from chendian.ingest.base import Reader

PEOPLE = [("u1", "张伟"), ("u2", "李娜"), ("u3", "王芳")]
LINES = ["报销流程怎么走？", "先在费控系统提单，再把发票交给财务", "好的谢谢", "VPN 连不上怎么办", "重启一下客户端试试"]


def day_lines(first_day: int, last_day: int) -> list[str]:
    """A generic-JSONL export of days first..last of March 2024, ten messages a day."""
    out = []
    for day in range(first_day, last_day + 1):
        t = datetime(2024, 3, day, 9, 0)
        for i in range(10):
            sender, name = PEOPLE[i % 3]
            out.append(json.dumps({"chat": "研发群", "id": f"{day}-{i}", "time": (t + timedelta(minutes=3 * i)).isoformat(),
                                   "sender": sender, "sender_name": name, "text": LINES[i % 5]}, ensure_ascii=False))
    return out


def write(path, lines, encoding="utf-8"):
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def test_overlapping_exports_add_only_new_messages(workspace, tmp_path):
    first = ingest_paths(workspace, [write(tmp_path / "days1-3.jsonl", day_lines(1, 3))])
    assert (first.read, first.new) == (30, 30)
    second = ingest_paths(workspace, [write(tmp_path / "days1-5.jsonl", day_lines(1, 5))])
    assert (second.read, second.new) == (50, 20)
    assert workspace.count_messages() == 50
    days = [r[0] for r in workspace.db.execute("SELECT DISTINCT substr(time, 1, 10) FROM messages ORDER BY 1")]
    assert days == [f"2024-03-0{d}" for d in range(1, 6)]
    again = ingest_paths(workspace, [tmp_path / "days1-5.jsonl"])
    assert again.files[0].skipped.startswith("already imported") and workspace.count_messages() == 50


def test_messages_without_platform_ids_are_deduplicated_by_content_and_ordinal(workspace, tmp_path):
    def strip_ids(lines):
        return [json.dumps({k: v for k, v in json.loads(x).items() if k != "id"}, ensure_ascii=False) for x in lines]

    lines = strip_ids(day_lines(1, 2))
    lines.append(lines[-1])  # the same person says the same thing twice in the same second: two messages
    ingest_paths(workspace, [write(tmp_path / "a.jsonl", lines)])
    assert workspace.count_messages() == 21
    ingest_paths(workspace, [write(tmp_path / "b.jsonl", strip_ids(day_lines(1, 3)) + [lines[-1]])])
    assert workspace.count_messages() == 31


def test_bad_lines_are_reported_with_file_and_line_and_the_rest_imports(workspace, tmp_path):
    lines = day_lines(1, 1)
    lines[2] = '{"chat": "研发群", "time": "2024-03-01 09:06", "sender": "u1"'  # truncated mid-object
    lines[4] = json.dumps({"chat": "研发群", "time": "昨天", "sender": "u1", "text": "x"}, ensure_ascii=False)
    lines[6] = json.dumps({"chat": "研发群", "time": "2024-03-01 09:18", "text": "谁说的"}, ensure_ascii=False)
    path = write(tmp_path / "bad.jsonl", lines)
    report = ingest_paths(workspace, [path])
    assert report.read == 7 and workspace.count_messages() == 7
    where = sorted((i.line, i.message) for i in report.issues)
    assert [w[0] for w in where] == [3, 5, 7]
    assert "expected one JSON object per line" in where[0][1]
    assert "expected a date-time" in where[1][1]
    assert "missing required field(s): sender" in where[2][1]
    assert all(i.file == str(path) for i in report.issues)
    stored = workspace.db.execute("SELECT count(*) FROM import_issues").fetchone()[0]
    assert stored == 3


def test_gbk_and_crlf_exports_decode(workspace, tmp_path):
    path = tmp_path / "gbk.jsonl"
    path.write_bytes("\r\n".join(day_lines(1, 1)).encode("gb18030"))
    report = ingest_paths(workspace, [path])
    assert report.new == 10
    texts = {r[0] for r in workspace.db.execute("SELECT text FROM messages")}
    assert "报销流程怎么走？" in texts


def test_a_failing_file_changes_nothing(workspace, tmp_path, monkeypatch):
    ingest_paths(workspace, [write(tmp_path / "ok.jsonl", day_lines(1, 1))])
    real = {r.name: r for r in ingest_mod.readers()}["jsonl"]

    def explode(src, ctx):
        for i, m in enumerate(real.read(src, ctx)):
            if i == 15:
                raise RuntimeError("disk on fire")
            yield m

    broken = Reader(name="jsonl", label="generic JSONL", sniff=real.sniff, read=explode)
    monkeypatch.setattr(ingest_mod, "readers", lambda: [broken])
    report = ingest_paths(workspace, [write(tmp_path / "more.jsonl", day_lines(1, 3))])
    assert report.failed and "disk on fire" in report.failed[0].error
    assert "nothing from it was stored" in report.failed[0].error
    assert workspace.count_messages() == 10
    assert workspace.db.execute("SELECT count(*) FROM imports").fetchone()[0] == 1


def test_unknown_binary_and_empty_files_fail_clearly(tmp_path):
    ws = tmp_path / "ws"
    runner = CliRunner()
    runner.invoke(main, ["init", str(ws)])
    (tmp_path / "notes.txt").write_text("今天天气不错\n随便写写\n", encoding="utf-8")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4)
    (tmp_path / "empty.csv").write_bytes(b"")
    for name in ("notes.txt", "photo.jpg", "empty.csv"):
        result = runner.invoke(main, ["-w", str(ws), "ingest", str(tmp_path / name)])
        assert result.exit_code == 1, result.output
        assert "not any known export format (tried: " in result.output
        assert "Traceback" not in result.output
    result = runner.invoke(main, ["-w", str(ws), "ingest", str(tmp_path / "missing.txt")])
    assert result.exit_code == 1 and "no such file or folder" in result.output


def test_forcing_a_format_on_the_wrong_file_is_a_clear_error(tmp_path):
    ws = tmp_path / "ws"
    runner = CliRunner()
    runner.invoke(main, ["init", str(ws)])
    (tmp_path / "x.txt").write_text("not json at all\n", encoding="utf-8")
    result = runner.invoke(main, ["-w", str(ws), "ingest", "--format", "jsonl", str(tmp_path / "x.txt")])
    assert result.exit_code == 0  # readable file, every line reported
    assert "x.txt:1: expected one JSON object per line" in result.output
    result = runner.invoke(main, ["-w", str(ws), "ingest", "--format", "nope", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "unknown format 'nope'" in result.output


def test_zip_archives_and_folders(workspace, tmp_path):
    archive = tmp_path / "exports.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("march/days1-3.jsonl", "\n".join(day_lines(1, 3)))
        z.writestr("march/days4-5.jsonl", "\n".join(day_lines(4, 5)))
    report = ingest_paths(workspace, [archive])
    assert report.new == 50
    assert {f.file.rsplit("!", 1)[-1] for f in report.files} == {"march/days1-3.jsonl", "march/days4-5.jsonl"}
    folder = tmp_path / "folder"
    folder.mkdir()
    write(folder / "a.jsonl", day_lines(6, 6))
    assert ingest_paths(workspace, [folder]).new == 10


def test_truncated_zip_is_an_error_not_a_traceback(workspace, tmp_path):
    archive = tmp_path / "cut.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.jsonl", "\n".join(day_lines(1, 3)))
    archive.write_bytes(archive.read_bytes()[:100])
    report = ingest_paths(workspace, [archive])
    assert report.failed and "zip" in report.failed[0].error


def _zip_with_a_corrupt_member(path, corrupt):
    """a.jsonl (20 messages), b.jsonl (20, then corrupted by `corrupt(data, b's ZipInfo)`), c.jsonl (10)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.jsonl", "\n".join(day_lines(1, 2)))
        z.writestr("b.jsonl", "\n".join(day_lines(3, 4)))
        z.writestr("c.jsonl", "\n".join(day_lines(5, 5)))
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("b.jsonl")
    data = bytearray(path.read_bytes())
    corrupt(data, info)
    path.write_bytes(bytes(data))
    return path


def _set_flag_in_both_headers(offset_in_local: int, offset_in_central: int, value: int):
    """Corrupt b.jsonl's compression method or flags in its local and its central directory header alike."""
    def corrupt(data: bytearray, info: zipfile.ZipInfo) -> None:
        data[info.header_offset + offset_in_local] |= value
        central = bytes(data).find(b"PK\x01\x02")
        while central != -1:
            if bytes(data[central + 46:central + 46 + len(info.filename)]) == info.filename.encode():
                data[central + offset_in_central] |= value
            central = bytes(data).find(b"PK\x01\x02", central + 1)
    return corrupt


def _flip_compressed_bytes(data: bytearray, info: zipfile.ZipInfo) -> None:
    start = info.header_offset + 30 + len(info.filename) + 10
    data[start] ^= 0xFF
    data[start + 1] ^= 0xFF


def _break_local_header(data: bytearray, info: zipfile.ZipInfo) -> None:
    data[info.header_offset] = 0


@pytest.mark.parametrize("corrupt, what", [
    (_flip_compressed_bytes, "decompressing"),
    (_break_local_header, "header"),
    (_set_flag_in_both_headers(8, 10, 99), "compression method"),  # an unknown compression method
    (_set_flag_in_both_headers(6, 8, 1), "encrypted"),  # a password-protected member
])
def test_zip_with_a_corrupt_member_imports_the_others(workspace, tmp_path, corrupt, what):
    archive = _zip_with_a_corrupt_member(tmp_path / "exports.zip", corrupt)
    report = ingest_paths(workspace, [archive])
    assert report.new == 30  # a.jsonl and c.jsonl
    [failed] = report.failed
    assert failed.file == f"{archive}!b.jsonl"
    assert "zip member" in failed.error and what in failed.error, failed.error
    assert workspace.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 30


def test_quotes_resolve_by_platform_id_and_recalls_mark_the_original(workspace, tmp_path):
    lines = day_lines(1, 1)
    lines.append(json.dumps({"chat": "研发群", "id": "q1", "time": "2024-03-01T10:00:00", "sender": "u2",
                             "text": "同问", "reply_to": "1-0"}, ensure_ascii=False))
    lines.append(json.dumps({"chat": "研发群", "id": "r1", "time": "2024-03-01T10:01:00", "sender": "u1",
                             "text": "张伟撤回了一条消息", "kind": "recall", "recalls": "1-3"}, ensure_ascii=False))
    ingest_paths(workspace, [write(tmp_path / "q.jsonl", lines)])
    by_pid = {r["platform_id"]: r for r in workspace.db.execute("SELECT * FROM messages")}
    assert by_pid["q1"]["reply_to"] == by_pid["1-0"]["id"]
    assert by_pid["1-3"]["recalled"] == 1


def test_stats_json_counts(tmp_path):
    ws = tmp_path / "ws"
    runner = CliRunner()
    runner.invoke(main, ["init", str(ws)])
    write(tmp_path / "d.jsonl", day_lines(1, 2))
    assert runner.invoke(main, ["-w", str(ws), "ingest", str(tmp_path / "d.jsonl")]).exit_code == 0
    result = runner.invoke(main, ["-w", str(ws), "stats", "--json"])
    stats = json.loads(result.output)
    assert stats["messages"] == 20
    assert stats["days"] == {"2024-03-01": 10, "2024-03-02": 10}
    assert stats["chats"][0]["name"] == "研发群"
    assert {p["name"] for p in stats["top_senders"]} == {"张伟", "李娜", "王芳"}
    assert sum(stats["kinds"].values()) == 20


@pytest.mark.parametrize("value, expected", [
    ("2024/10/4 11:42", "2024-10-04T11:42:00+08:00"),
    ("2023/09/16 2:51 PM", "2023-09-16T14:51:00+08:00"),
    ("2016-07-20 0:00:37", "2016-07-20T00:00:37+08:00"),
    ("2025-11-19T10:35:53+08:00", "2025-11-19T10:35:53+08:00"),
    ("2025-11-19T02:35:53Z", "2025-11-19T02:35:53+00:00"),
    ("2024-03-01 12:05:00 AM", "2024-03-01T00:05:00+08:00"),
    ("2024-03-01 下午 3:05", None),
])
def test_parse_time_layouts(value, expected):
    from chendian.ingest.base import parse_time
    from zoneinfo import ZoneInfo

    if expected is None:
        with pytest.raises(ValueError, match="expected a date-time"):
            parse_time(value, ZoneInfo("Asia/Shanghai"))
    else:
        assert parse_time(value, ZoneInfo("Asia/Shanghai")).isoformat() == expected


def test_reader_process_gives_the_same_store_as_reading_in_process(tmp_path, monkeypatch):
    """Big files are parsed in a forked reader process; the result must not depend on it."""
    from chendian.store import Workspace

    lines = day_lines(1, 3)
    lines.append(json.dumps({"chat": "研发群", "id": "q1", "time": "2024-03-03T10:00:00", "sender": "u2",
                             "text": "同问", "reply_to": "1-0"}, ensure_ascii=False))  # quotes an earlier batch
    lines.append(json.dumps({"chat": "研发群", "id": "r1", "time": "2024-03-03T10:01:00", "sender": "u1",
                             "text": "撤回了一条消息", "kind": "recall", "recalls": "2-3"}, ensure_ascii=False))
    lines.insert(5, "{broken")
    path = write(tmp_path / "export.jsonl", lines)
    monkeypatch.setattr(ingest_mod, "BATCH", 7)  # several batches, so quotes cross them
    results = {}
    for name, threshold in (("in-process", 1 << 40), ("reader process", 0)):
        monkeypatch.setattr(ingest_mod, "PARALLEL_MIN_BYTES", threshold)
        ws = Workspace(tmp_path / name, create=True)
        report = ingest_paths(ws, [path])
        rows = ws.db.execute("SELECT id, reply_to, recalled, text FROM messages ORDER BY id").fetchall()
        results[name] = ([tuple(r) for r in rows], [str(i) for i in report.issues], report.new)
        ws.close()
    assert results["in-process"] == results["reader process"]
    rows, issues, new = results["reader process"]
    assert new == 32 and len(issues) == 1 and ":6: expected one JSON object" in issues[0]
    assert any(r[1] for r in rows) and any(r[2] for r in rows)


def test_reader_process_failures_are_reported_like_in_process_ones(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_mod, "PARALLEL_MIN_BYTES", 0)
    real = {r.name: r for r in ingest_mod.readers()}["jsonl"]

    def explode(src, ctx):
        yield from list(real.read(src, ctx))[:3]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest_mod, "readers", lambda: [Reader(name="jsonl", label="generic JSONL",
                                                               sniff=real.sniff, read=explode)])
    report = ingest_paths(workspace, [write(tmp_path / "x.jsonl", day_lines(1, 1))])
    assert report.failed and "disk on fire" in report.failed[0].error
    assert workspace.count_messages() == 0
