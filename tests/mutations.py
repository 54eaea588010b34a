"""Mutations of an export file, for fuzzing the readers (tests/test_fuzz_readers.py, bench/fuzz_readers.py).

Each mutation is what real exports suffer: cut off, a flipped byte, re-saved as GBK or UTF-16, CRLF line ends,
junk or header-like lines pasted in.
"""

from __future__ import annotations

import random
from collections.abc import Callable

JUNK_LINES = ("", "????", "\x00\x01\x02", "{", "]", '{"a": 1}', "=" * 64, "消息对象:", "2016-07-19 15:27:15",
              "2024-03-12 09:01:00 '张三'", "<tr><td>", "--b--", "\ufeff", "null", "0", "\"", "a,b,c")


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data) + 1)]


def _flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _reencode(encoding: str) -> Callable[[bytes, random.Random], bytes]:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        try:
            return data.decode("utf-8-sig").encode(encoding, errors="replace")
        except UnicodeDecodeError:
            return data
    return mutate


def _crlf(data: bytes, rng: random.Random) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _insert_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    position = rng.randrange(len(lines) + 1)
    if rng.random() < 0.5 and lines:
        junk = rng.choice(lines)  # a line of the file itself, duplicated elsewhere (header-like)
    else:
        junk = rng.choice(JUNK_LINES).encode("utf-8")
    lines.insert(position, junk)
    return b"\n".join(lines)


def _delete_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    if lines:
        del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "truncate": _truncate, "flip": _flip_bytes, "gbk": _reencode("gbk"), "utf-16": _reencode("utf-16"),
    "crlf": _crlf, "insert-line": _insert_line, "delete-line": _delete_line,
}


def mutants(data: bytes, count: int, seed: int = 0):
    """`count` (mutation names, mutated bytes): one to three mutations stacked, reproducible from `seed`."""
    rng = random.Random(seed)
    names = sorted(MUTATIONS)
    for _ in range(count):
        chosen = [rng.choice(names) for _ in range(rng.randint(1, 3))]
        out = data
        for name in chosen:
            out = MUTATIONS[name](out, rng)
        yield "+".join(chosen), out


def fixture_exports():
    """(path, reader) for every export under tests/fixtures/formats that a reader claims (goldens left out)."""
    from pathlib import Path

    from chendian.ingest import readers, sniff

    root = Path(__file__).parent / "fixtures" / "formats"
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "golden" in path.parts:
            continue
        reader = sniff(source(path, path.read_bytes()), readers())
        if reader is not None:
            yield path, reader


def source(path, data: bytes):
    """A SourceFile of `data` under the name of `path`, whose siblings are the real files beside it."""
    from chendian.ingest.base import SourceFile

    folder = path.parent
    return SourceFile(name=str(path), data=data,
                      siblings=lambda n: (folder / n).read_bytes() if (folder / n).is_file() else None)


def read_mutant(reader, path, data: bytes):
    """Read one mutant with `reader` (as --format would): (messages, issues), or None when the reader says
    the file is unreadable. Any other exception escapes: that is the bug a fuzz run looks for."""
    from zoneinfo import ZoneInfo

    from chendian.ingest.base import ReadContext, UnreadableFile

    src = source(path, data)
    ctx = ReadContext(src, ZoneInfo("Asia/Shanghai"))
    try:
        messages = list(reader.read(src, ctx))
    except UnreadableFile:
        return None
    return messages, ctx.issues
