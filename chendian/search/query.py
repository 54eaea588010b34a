"""Querying the workspace index: `search(ws, query, k)` → Hits (used by `chendian search` and the HTTP API).

Query handling lives in the index (analyze.py): folding (traditional/simplified, full/half width), the
workspace user dictionary, boilerplate removal, character bigrams (typos, colloquial words) and pinyin
(queries typed as "baoxiao", homophone typos).

A hit's question and answer are shown as the site shows them (chendian/privacy.py): phone numbers, e-mail addresses,
ID and card numbers masked, names as `[site] names` says. The index keeps the raw text, which it matches on;
what leaves through `chendian search` and the HTTP API is the published form, like every page of the site.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import load_config
from ..privacy import Privacy
from ..summarize.text.analyze import is_question_like, unaddressed
from .held import HELD_NOTE
from .index import INDEX_LINK, HybridIndex, SearchIndexError

SNIPPET_CHARS = 120
# Below this relevance (HybridIndex: dense cosine + 0.5 × idf-weighted bigram coverage) a hit is not shown
# as related: no result is better than eight wrong ones. Fitted on QQ (`chendian eval repeat`, repeat
# questions vs. eval/repeat.py's off-topic queries) and held on WeChat: it keeps 97% (QQ) / 93% (WeChat) of
# the entries that held another asking, and leaves 87% / 80% of the off-topic queries with nothing.
RELEVANCE_FLOOR = 0.40
# An entry held for review is shown from this relevance on: many held entries are chit-chat, and at the general
# floor they answered off-topic queries (WeChat: 93% → 47% shown nothing). The lowest floor in 0.05 steps that
# kept QQ's off-topic rate (90%), checked on WeChat (90%); `chendian eval repeat`, docs/evaluation.md.
HELD_FLOOR = 0.55


@dataclass
class Hit:
    id: str  # FAQ entry id (or QA / message id when the index holds those)
    question: str
    answer: str  # a snippet of the answer, "" when there is none
    score: float
    kind: str  # faq | qa | message | talk
    source: dict = field(default_factory=dict)  # {"entry"/"qa"/"message": id, "thread_ids": [...], "chat": ...}
    relevance: float | None = None  # what the floor is compared with; None: not judged (a pinyin query)
    held: bool = False  # the entry waits for review (search/held.py): no entry page, its answer unconfirmed

    def to_json(self) -> dict:
        return asdict(self)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


_CACHE: dict[str, tuple[str, HybridIndex, Privacy]] = {}
_LOCK = threading.Lock()


def _privacy_for(root: Path) -> Privacy:
    names = load_config(root).site.names
    if names == "real":
        return Privacy("real")  # numbers and addresses masked; no name to rewrite inside the text
    from ..store import Workspace, sender_names

    with Workspace(root) as ws:  # everyone who wrote: the names the site rewrites inside questions and answers
        return Privacy(names, sender_names(ws.db))


def _loaded(ws_root: str | os.PathLike) -> tuple[HybridIndex, Privacy]:
    """The workspace index and how its hits are published, loaded once per process and again when a rebuild
    swapped in a new index."""
    link = index_folder_for(Path(ws_root))
    if not (link / "meta.json").exists():
        raise SearchIndexError(f"no search index in {ws_root}; run `chendian stage index` (or `chendian run`) first")
    target = os.path.realpath(link)
    key = str(Path(ws_root).resolve())
    with _LOCK:
        cached = _CACHE.get(key)
        if cached and cached[0] == target:
            return cached[1], cached[2]
        index = HybridIndex.load(Path(target))
        # Read with the index: a new night's build (new people, a changed [site] names) brings both anew.
        privacy = _privacy_for(Path(ws_root))
        _CACHE[key] = (target, index, privacy)
        return index, privacy


def index_folder_for(ws_root: Path) -> Path:
    return Path(ws_root) / INDEX_LINK


def looks_like_a_question(text: str) -> bool:
    """An "answer" that only asks back (你看官网了吗？, 同问): ends with a question mark, or is short and asks."""
    t = text.strip()
    return t.endswith(("?", "？")) or (len(t) <= 30 and is_question_like(t))


TRUST_NOTES = {"confirmed": "", "unconfirmed": "答案未经确认", "none": "还没有确认的答案"}


def to_hit(raw, privacy: Privacy | None = None) -> Hit:
    """A ranked document as a reader sees it; `privacy`: the published form of its text (the site's, as search()
    passes it), the raw text when None."""
    d = raw.doc
    shown = privacy.text if privacy is not None else (lambda t: t or "")
    kind = d.fields.get("kind", "doc")
    source = {kind if kind in ("faq", "qa", "message", "talk") else "doc": d.id}
    for key in ("thread_ids", "chat", "ts", "trust"):
        if d.fields.get(key) is not None:
            source[key] = d.fields[key]
    # whom it answered ("@刘洋 …", a closing "…。@某人?" whose "?" is WeChat's thin space) is not shown, nor read as asking
    answer = snippet(unaddressed(shown(d.body)))
    if answer and looks_like_a_question(answer):  # a question is never shown as the answer
        answer, source["trust"] = "", "none"
    relevance = None if raw.relevance is None else round(raw.relevance, 4)
    return Hit(id=d.id, question=shown(d.text), answer=answer, score=round(raw.score, 4), kind=kind, source=source,
               relevance=relevance, held=bool(d.fields.get("held")))


def hit_notes(hit: Hit) -> list[str]:
    """What a reader is told beside a hit: 待审核 when it waits for review, and how far its answer is trusted."""
    notes = [HELD_NOTE] if hit.held else []
    trust = TRUST_NOTES.get(hit.source.get("trust", "confirmed"), "")
    return notes + [trust] if trust else notes


def search(ws, query: str, k: int = 10, *, floor: float | None = RELEVANCE_FLOOR) -> list[Hit]:
    """The k best entries for `query` (ws: a Workspace or its folder), best first, leaving out those whose
    relevance is under `floor` (held entries: under HELD_FLOOR; None: keep all). An empty list means nothing
    related was found."""
    root = Path(ws) if isinstance(ws, (str, os.PathLike)) else ws.root
    if k < 1:
        raise ValueError("k must be at least 1")
    index, privacy = _loaded(root)
    return [to_hit(h, privacy) for h in index.search(query, k)
            if floor is None or h.relevance is None
            or h.relevance >= (max(floor, HELD_FLOOR) if h.doc.fields.get("held") else floor)]
