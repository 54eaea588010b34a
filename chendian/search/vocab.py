"""The workspace vocabulary: abbreviations, expansions and product names the group itself uses for one thing
(网联 / NUCC, 二清 / 二次清算), learned from the workspace's own text, so that a search in one form finds an
entry written in the other (issue 23).

Evidence, all of it from the group (nothing fitted to one group, no word list):
- the group's text spelling a term out beside its short form: "网联（NUCC）", "NUCC(网联)", "二次清算（二清）",
  "分账系统简称分账"; a Latin acronym beside a Chinese term, or a Chinese abbreviation whose characters are, in
  order, a subset of the longer term (first character shared);
- merged wordings: two wordings of one FAQ entry (its source questions) that differ in one place only, where
  one says the abbreviation the other spells out (二清是什么意思 / 二次清算是什么意思), or a Latin word and a
  Chinese word stand in each other's place (in two entries or more).
Names never count: @mentions are stripped before anything is read, and a term that is (part of) a sender's
name is dropped.

It is used as document expansion: each searchable wording that holds a term also carries its equivalents for
the lexical channels (HybridIndex) and in the site's index (`x`, read by browser_index / student like a
variant, never shown). The dense channel is left alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable

from ..summarize.text import analyze
from ..summarize.text.segment import fold

_HAN = r"[\u4e00-\u9fff]"
_LATIN = r"[a-z][a-z0-9]{1,9}"
# An acronym as the group writes it, in capitals (NUCC, ATM, T0): a word in parentheses in lower or mixed case
# is an example or an aside ("下线（Jetty）", "头寸(position)"), not the term's short form.
_ACRONYM = r"[A-Z][A-Z0-9]{1,7}"
# term (short form) in NFKC text (the parenthesis full- or half-width), traditional or simplified
_PAREN_RE = re.compile(rf"({_HAN}{{2,12}}|{_ACRONYM})\s*\(\s*({_HAN}{{2,12}}|{_ACRONYM})\s*\)")
_CALLED_RE = re.compile(rf"({_HAN}{{2,12}}|{_ACRONYM})\s*[,，]?\s*(?:简称|又称|也叫|俗称|缩写为?|英文缩写|簡稱|又稱|俗稱|縮寫)"
                        rf"\s*[是为:：]?\s*({_HAN}{{2,8}}|{_ACRONYM})")
_END_RE = re.compile(r"[\s?？!！。.,，~～]+$")
_CALLED_HINT_RE = re.compile("简称|又称|也叫|俗称|缩写|簡稱|又稱|俗稱|縮寫")
_LATIN_FULL = re.compile(rf"{_LATIN}")
_HAN_FULL = re.compile(rf"{_HAN}+")
MAX_TERM = 8  # characters of a Chinese term (a longer run is cut to its best suffix)
MIN_ENTRIES = 2  # merged wordings: a Latin↔Chinese swap must be seen in this many entries


def is_abbreviation(short: str, long: str) -> bool:
    """二清 of 二次清算, 北大 of 北京大学: 2–4 Han characters, fewer than the long form's, the first shared, all of
    them found in order in the long form."""
    if not (2 <= len(short) <= 4 and len(short) < len(long) and short[0] == long[0]):
        return False
    if not (_HAN_FULL.fullmatch(short) and _HAN_FULL.fullmatch(long)):
        return False
    it = iter(long)
    return all(c in it for c in short)


def _difference(x: str, y: str) -> tuple[str, str] | None:
    """The one place two wordings differ ("二清是什么意思" / "二次清算是什么意思" → 二清, 二次清算), when the rest
    (at least as long as the changed part) is the same; else None. A shared first (or last) character of the
    changed words is given back to them (二 of 二清 / 二次清算)."""
    p = 0
    while p < min(len(x), len(y)) and x[p] == y[p]:
        p += 1
    q = 0
    while q < min(len(x), len(y)) - p and x[-1 - q] == y[-1 - q]:
        q += 1
    plain = None
    for back_p in range(min(p, 3) + 1):
        for back_q in range(min(q, 3) + 1):
            a = x[p - back_p:len(x) - q + back_q].strip()
            b = y[p - back_p:len(y) - q + back_q].strip()
            if not a or not b or max(len(a), len(b)) > MAX_TERM or p + q - back_p - back_q < max(len(a), len(b), 3):
                continue
            if is_abbreviation(a, b) or is_abbreviation(b, a):
                return a, b
            if back_p == back_q == 0:
                plain = (a, b)
    return plain


def _word_suffixes(run: str) -> list[str]:
    """The last one, two or three words (jieba) of a run of Han characters, shortest first, of 2 to MAX_TERM
    characters: 我们现在走的是网联 → 网联, 是网联 …"""
    from ..summarize.text.segment import segmenter

    words = segmenter().tokens(run[-2 * MAX_TERM:])
    out = ["".join(words[-n:]) for n in range(1, min(3, len(words)) + 1)]
    return [w for w in out if 2 <= len(w) <= MAX_TERM and _HAN_FULL.fullmatch(w)]


def _pair(outside: str, inside: str, counts: Counter) -> tuple[str, str] | None:
    """The (term, term) a "X（Y）" or "X简称Y" spells out, or None. `outside` is the run of Han characters (or
    the Latin word) before the parenthesis: its term is its suffix, chosen as the abbreviation's long form or
    the longest suffix the group also writes on its own (`counts`)."""
    o_latin, i_latin = bool(_LATIN_FULL.fullmatch(outside)), bool(_LATIN_FULL.fullmatch(inside))
    if o_latin and i_latin:
        return None
    if o_latin:  # NUCC（网联）
        return (outside, inside) if len(inside) <= MAX_TERM else None
    tail = outside[-MAX_TERM:]
    if i_latin:  # 网联（NUCC）: the longest run of whole words before it that the group also writes on its own
        suffixes = _word_suffixes(outside)
        if not suffixes:
            return None
        standing = [s for s in suffixes if counts.get(s, 0) > 0]
        return (max(standing, key=len) if standing else suffixes[0], inside)
    for i in range(len(tail) - 1):  # 二次清算（二清）: the suffix that the short form abbreviates
        if is_abbreviation(inside, tail[i:]):
            return (tail[i:], inside)
    for n in range(2, 5):  # 二清（二次清算）
        if is_abbreviation(tail[-n:], inside):
            return (tail[-n:], inside)
    return None


def learn_vocabulary(texts: Iterable[str], entry_wordings: Iterable[list[str]] = (),
                     names: Iterable[str] = ()) -> dict[str, list[str]]:
    """term → its equivalents (folded, sorted), from the group's messages (`texts`) and the wordings of its FAQ
    entries (each a list of one entry's questions); `names`: sender names, never a term."""
    raw = [t for t in texts if t and t.strip()]
    spelled: list[tuple[str, str]] = []
    for t in raw:  # only a message with a parenthesis or a 简称-like word can spell a term out: fold just those
        if "(" in t or "（" in t or _CALLED_HINT_RE.search(t):
            f = analyze.strip_mentions(unicodedata.normalize("NFKC", t))
            spelled += [(fold(a), fold(b)) for a, b in _PAREN_RE.findall(f) + _CALLED_RE.findall(f)]
    # how often the group writes each candidate term outside the pattern (only those strings are counted)
    candidates = {c for o, inner in spelled if _LATIN_FULL.fullmatch(inner) for c in _word_suffixes(o)}
    counts: Counter = Counter()
    if candidates:
        everything = "\n".join(raw).lower()
        counts.update({c: everything.count(c) for c in candidates})
        for o, inner in spelled:  # the pattern's own occurrence is no evidence of the term standing alone
            if _LATIN_FULL.fullmatch(inner):
                for c in _word_suffixes(o):
                    if counts.get(c, 0) > 0:
                        counts[c] -= 1
    pairs: set[tuple[str, str]] = set()
    for o, inner in spelled:
        p = _pair(o, inner, counts)
        if p and p[0] != p[1]:
            pairs.add(p)

    # merged wordings of one entry
    swaps: Counter = Counter()
    for wordings in entry_wordings:
        texts_ = list(dict.fromkeys(_END_RE.sub("", analyze.strip_mentions(fold(w))) for w in wordings if w and w.strip()))
        found: set[tuple[str, str]] = set()
        for i, x in enumerate(texts_):
            for y in texts_[i + 1:]:
                d = _difference(x, y)
                if d is None:
                    continue
                if is_abbreviation(d[0], d[1]):
                    pairs.add((d[1], d[0]))
                elif is_abbreviation(d[1], d[0]):
                    pairs.add(d)
                elif _LATIN_FULL.fullmatch(d[0]) and _HAN_FULL.fullmatch(d[1]):
                    found.add(d)
                elif _LATIN_FULL.fullmatch(d[1]) and _HAN_FULL.fullmatch(d[0]):
                    found.add((d[1], d[0]))
        swaps.update(found)
    pairs.update(p for p, n in swaps.items() if n >= MIN_ENTRIES)

    name_parts = {fold(n).strip() for n in names if n and len(n.strip()) >= 2}
    out: dict[str, set[str]] = defaultdict(set)
    for a, b in pairs:
        if any(a in n or b in n for n in name_parts):
            continue
        out[a].add(b)
        out[b].add(a)
    return {k: sorted(v) for k, v in sorted(out.items())}


def expansions(wordings: Iterable[str], vocab: dict[str, list[str]]) -> list[str]:
    """The equivalents of the vocabulary terms these wordings hold, those they do not already say."""
    if not vocab:
        return []
    text = "\n".join(analyze.strip_mentions(fold(w)) for w in wordings)
    out: list[str] = []
    for term, others in vocab.items():
        if term in text and (not _LATIN_FULL.fullmatch(term) or re.search(rf"(?<![a-z0-9]){term}(?![a-z0-9])", text)):
            out += [o for o in others if o not in text and o not in out]
    return out
