"""Quality evaluation against labelled data (`chendian eval …`)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import ChendianError


class EvalError(ChendianError, ValueError):
    """Labelled data or predictions that are not what the evaluation expects; names the file and line."""


def json_lines(path: str | Path, expected: str, error: type[EvalError] = EvalError) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file (gzip when it ends in .gz).

    `expected` describes one line (e.g. 'a JSON object with "a", "b", "label"') for the `error` a bad line gets.
    """
    p = Path(path)
    try:
        f = gzip.open(p, "rt", encoding="utf-8-sig") if p.suffix == ".gz" else p.open(encoding="utf-8-sig")
    except OSError as e:
        raise error(f"{p}: cannot read ({e.strerror})") from None
    n = 0
    try:
        with f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise error(f"{p}:{n}: expected {expected}, one per line ({e.msg})") from None
                if not isinstance(obj, dict):
                    raise error(f"{p}:{n}: expected {expected}, got {type(obj).__name__}")
                yield n, obj
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as e:
        raise error(f"{p}:{n + 1}: not UTF-8 JSON lines ({e})") from None
