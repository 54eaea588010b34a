"""Text analysis shared by the search index, the query side and the same-question scorer.

Every channel works on the folded text (segment.fold: NFKC full→half width, lower case, traditional →
simplified), so 報銷 finds 报销 and ＡＰＰ finds app. The lexical channels also drop question boilerplate
(请问 / 怎么 / 吗 …): it carries no topic, and in colloquial Chinese it dominates short questions.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from .segment import Segmenter, fold, segmenter

# Question boilerplate: politeness, question words and particles. Removed from the lexical side only (the
# dense channel sees the whole question). Longest first, so 怎么样 goes before 怎么.
BOILERPLATE = sorted({
    "请问", "请教", "问一下", "问下", "想问", "想问下", "想问一下", "我想知道", "想知道", "我想", "你好", "您好",
    "亲", "谢谢", "麻烦", "大家好", "各位", "大佬", "有人知道", "有没有人知道", "谁知道", "求助",
    "怎么样", "怎么办", "怎么弄", "怎么搞", "怎么", "怎样", "怎么回事", "如何", "咋办", "咋弄", "咋样", "咋",
    "为什么", "为啥", "什么", "啥", "哪里", "哪儿", "是不是", "能不能", "可不可以", "能否", "可以", "是否",
    "吗", "呢", "吧", "啊", "呀", "哦", "嘛", "么", "啦", "呐", "哈", "一下", "的", "了", "我", "你", "您",
    "弄", "搞", "我们", "你们", "请", "下",
}, key=len, reverse=True)
BOILERPLATE_WORDS = frozenset(BOILERPLATE)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KEEP_RE = re.compile(rf"[{_CJK}]|[a-z0-9]+")
_CJK_RE = re.compile(rf"[{_CJK}]")
_RUN_RE = re.compile(rf"[{_CJK}]+|[a-z]+|[0-9]+")
_LATIN_RUN_RE = re.compile(r"[a-z]+")


def strip_boilerplate(folded: str, seg: Segmenter | None = None) -> str:
    """The folded text without question boilerplate; the text itself when nothing else would be left.

    Removal works on jieba words, not substrings, so 了解 / 目的 / 父亲 keep their 了 / 的 / 亲. A space
    marks each gap, so no character bigram spans a removed word."""
    seg = seg or segmenter()
    kept: list[str] = []
    gap = False
    for tok in seg.tokenizer.lcut(folded):
        if tok in BOILERPLATE_WORDS or not _KEEP_RE.search(tok):
            gap = True
            continue
        if gap and kept:
            kept.append(" ")
        kept.append(tok)
        gap = False
    return "".join(kept) if kept else folded


def char_units(folded: str) -> list[str]:
    """CJK characters one by one, latin/digit runs as whole words (punctuation and spaces dropped)."""
    return _KEEP_RE.findall(folded)


# An @mention: up to 20 characters after @ (not an e-mail's), ended by a space or punctuation (a name run
# into the sentence, "@张三你好", cannot be told apart and stays).
_MENTION_RE = re.compile(r"(?<![a-z0-9])@[^\s@?？,，:：。!！]{1,20}(?=[\s@?？,，:：。!！])")


def strip_mentions(text: str) -> str:
    """The text without @mentions: a name is never evidence that two questions ask the same thing."""
    return _MENTION_RE.sub(" ", text) if "@" in text else text


# Whom a line is addressed to: @mentions opening it, or closing it after its last sentence ("…缴纳个税。@某人?@成员062?"),
# each with what the exporter put after it (a space, WeChat's thin space U+2005 written as "?", a comma or colon).
_ADDRESS_MENTION = r"@[^\s@?？\u2005,，:：]{1,20}[\s\u2005?？,，:：]*"
_OPENING_ADDRESS_RE = re.compile(rf"^\s*(?:{_ADDRESS_MENTION})+")
_CLOSING_ADDRESS_RE = re.compile(rf"(?<=[。.!！?？~～…\s])\s*(?:{_ADDRESS_MENTION})+$")


def unaddressed(text: str, keep_bare: bool = True) -> str:
    """Each line without the @mentions that only say whom it answers ("@刘洋 报销都在…" → "报销都在…"); a line made of
    nothing else is dropped, and a text made of nothing else is kept whole (`keep_bare`) or emptied. Mentions inside
    a sentence stay."""
    if "@" not in (text or ""):
        return text or ""
    lines = [_CLOSING_ADDRESS_RE.sub("", _OPENING_ADDRESS_RE.sub("", line)).rstrip() for line in text.split("\n")]
    kept = "\n".join(line for line in lines if line.strip())
    return kept or (text if keep_bare else "")


def char_units_runs(folded: str) -> list[list[str]]:
    """char_units of each run of text between punctuation and spaces (bigrams never cross a boundary)."""
    return [units for part in _RUN_RE.findall(folded) if (units := char_units(part))]


def char_ngrams(folded: str, seg: Segmenter | None = None) -> list[str]:
    """Character unigrams and bigrams of the boilerplate-free text: robust where jieba segments badly
    (colloquial words, typos, product names it does not know)."""
    out: list[str] = []
    for part in strip_boilerplate(folded, seg).split():
        units = char_units(part)
        out.extend(units)
        out.extend(a + b for a, b in zip(units, units[1:]))
    return out


def full_char_ngrams(folded: str) -> list[str]:
    """Character unigrams and bigrams of the whole folded text, boilerplate kept: in short questions the
    question words carry intent (为什么 vs 怎么, 能不能 vs 多久). The search index's char channel uses these
    (BQ dev: R@5 0.563 / MRR 0.371 vs 0.555 / 0.361 with the boilerplate-free bigrams)."""
    out: list[str] = []
    for part in _RUN_RE.findall(folded):
        units = char_units(part)
        out.extend(units)
        out.extend(a + b for a, b in zip(units, units[1:]))
    return out


def word_tokens(folded: str, seg: Segmenter | None = None) -> list[str]:
    """jieba search-mode tokens without stopwords and boilerplate."""
    seg = seg or segmenter()
    toks = [t for t in seg.search_tokens(folded) if t not in BOILERPLATE_WORDS]
    return toks or seg.tokens(folded)


# -- pinyin -----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (ü written v), from pypinyin's own character table."""
    from pypinyin.pinyin_dict import pinyin_dict

    out = set()
    for readings in pinyin_dict.values():
        for r in readings.split(","):
            r = re.sub("[üǖǘǚǜ]", "v", r)
            out.add("".join(c for c in unicodedata.normalize("NFD", r) if not unicodedata.combining(c)))
    return frozenset(s for s in out if s.isascii() and s.isalpha())


def split_pinyin(run: str) -> list[str] | None:
    """Split a latin run such as "chailvfei" into syllables (fewest syllables wins); None if it is not pinyin."""
    syl = pinyin_syllables()
    n = len(run)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(i + 1, min(n, i + 6) + 1):
            piece = run[i:j]
            if piece in syl and (best[j] is None or len(best[i]) + 1 < len(best[j])):
                best[j] = best[i] + [piece]
    return best[n]


def _to_pinyin(chars: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    return [p.replace("ü", "v") for p in lazy_pinyin(chars, style=Style.NORMAL, v_to_u=False)]


def pinyin_sequence(folded: str, seg: Segmenter | None = None) -> list[str]:
    """The toneless syllables of a text: CJK characters converted, latin runs that are pinyin split up.
    Latin runs that are not pinyin (app, ios, 4g) are kept as they are."""
    out: list[str] = []
    for unit in _RUN_RE.findall(strip_boilerplate(folded, seg)):
        if _CJK_RE.match(unit):  # whole runs, so pypinyin picks readings by phrase (还款 → huan kuan)
            out.extend(_to_pinyin(unit))
        elif unit.isalpha():
            out.extend(split_pinyin(unit) or [unit])
        else:
            out.append(unit)
    return out


def pinyin_tokens(folded: str, seg: Segmenter | None = None) -> list[str]:
    """Syllables plus adjacent syllable pairs ("bao", "xiao", "baoxiao"): a query typed in pinyin, or with a
    homophone typo (报消 for 报销), meets the document on sound."""
    syl = pinyin_sequence(folded, seg)
    return syl + [a + b for a, b in zip(syl, syl[1:])]


def pinyin_share(query: str) -> float:
    """How much of a (folded) query is typed in pinyin: 1.0 for "baoxiao", 0 for 报销怎么弄."""
    units = _KEEP_RE.findall(query)
    if not units:
        return 0.0
    latin = [u for u in units if u.isalpha() and u.isascii() and split_pinyin(u)]
    return sum(len(u) for u in latin) / sum(len(u) for u in units)


def is_question_like(text: str) -> bool:
    """A cheap test for messages that ask something (used when there are no FAQ entries yet)."""
    t = fold(text).strip()
    if len(t) < 4 or len(t) > 200:
        return False
    if t.endswith(("?", "？")):
        return True
    return bool(re.search(r"请问|请教|怎么|怎样|如何|为什么|为啥|咋|有没有|能不能|可不可以|是不是|哪里|哪儿|哪个|什么|吗$|呢$", t))
