"""Queries that found nothing, counted for ops: the questions people search for that nobody has answered.

Only the query text and a count are kept (no user, address, time or anything else of the request), in
<ws>/search-misses.json; `[search] count_unfound = false` turns it off. `chendian stats` lists the most
frequent ones.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from .. import atomic

MISSES_FILE = "search-misses.json"
MAX_QUERY_CHARS = 100  # a longer query is cut: the count is for spotting needs, not for keeping what was typed
MAX_DISTINCT = 5000  # beyond this many distinct queries, new ones are not added (the file stays small)
_LOCK = threading.Lock()


def read_misses(ws_root: str | Path) -> dict[str, int]:
    path = Path(ws_root) / MISSES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(q): int(n) for q, n in data.items() if isinstance(n, int)} if isinstance(data, dict) else {}


def record_miss(ws_root: str | Path, query: str) -> None:
    """Count one search for `query` that found nothing."""
    text = " ".join(query.split())[:MAX_QUERY_CHARS]
    if not any(c.isalnum() for c in text):  # punctuation or emoji alone asked for nothing
        return
    with _LOCK:
        counts = read_misses(ws_root)
        if text not in counts and len(counts) >= MAX_DISTINCT:
            return
        counts[text] = counts.get(text, 0) + 1
        atomic.write_text(Path(ws_root) / MISSES_FILE, json.dumps(counts, ensure_ascii=False, indent=0))


def top_misses(ws_root: str | Path, n: int = 10) -> list[tuple[str, int]]:
    return sorted(read_misses(ws_root).items(), key=lambda kv: (-kv[1], kv[0]))[:n]
