"""Segment: text folding (traditional→simplified, full→half width) and jieba tokens.

Uses an explicit `jieba.Tokenizer`, never jieba's global one, so a user dictionary loaded for one workspace
cannot leak into another in the same process (the server, tests).
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from pathlib import Path

import jieba

jieba.setLogLevel(logging.WARNING)  # jieba prints "Building prefix dict…" to stderr at INFO

_STOPWORDS_FILE = Path(__file__).with_name("stopwords_zh.txt")
_PUNCT_RE = re.compile(r"^[\W_]+$", re.UNICODE)


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """The matching form of a text: NFKC (full-width → half-width), lower case, traditional → simplified."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _t2s().convert(text)


def load_stopwords(path: str | Path | None = None) -> frozenset[str]:
    p = Path(path) if path else _STOPWORDS_FILE
    words = p.read_text(encoding="utf-8").split()
    return frozenset(fold(w) for w in words)


@functools.lru_cache(maxsize=1)
def _base_dictionary() -> tuple[dict[str, int], int]:
    """jieba's default prefix dictionary (word → frequency, and their total), loaded once per process."""
    t = jieba.Tokenizer()
    t.initialize()
    return t.FREQ, t.total


class _Tokenizer(jieba.Tokenizer):
    """A jieba.Tokenizer that starts, when first used, from a copy of the dictionary this process loaded.

    Each Tokenizer would load jieba's dictionary itself (a second or more, every time: the segment stage, then
    the FAQ and the index in one nightly run); a copy is the same dictionary in 30 ms. A copy, because a user
    dictionary adds its words to it."""

    def initialize(self, dictionary=None):
        if dictionary is None and not self.initialized and self.dictionary == jieba.DEFAULT_DICT:
            freq, total = _base_dictionary()
            with self.lock:
                self.FREQ, self.total = dict(freq), total
                self.initialized = True
            return
        super().initialize(dictionary)


class Segmenter:
    """jieba tokens over folded text, with an optional user dictionary and stopword list."""

    def __init__(self, user_dict: str | Path | None = None, stopwords: str | Path | None = None):
        self.tokenizer = _Tokenizer()
        if user_dict:
            self.tokenizer.load_userdict(str(user_dict))
        self.stopwords = load_stopwords(stopwords)

    def tokens(self, text: str) -> list[str]:
        """Every token of the folded text except whitespace and punctuation (stopwords kept)."""
        return [t for t in self.tokenizer.lcut(fold(text)) if t.strip() and not _PUNCT_RE.match(t)]

    def content_tokens(self, text: str) -> list[str]:
        """Tokens that carry meaning: no stopwords, no punctuation (for BM25 and keywords)."""
        return [t for t in self.tokens(text) if t not in self.stopwords]

    def search_tokens(self, text: str) -> list[str]:
        """Tokens for search: jieba's search mode (long words also split into their sub-words)."""
        return [t for t in self.tokenizer.lcut_for_search(fold(text))
                if t.strip() and not _PUNCT_RE.match(t) and t not in self.stopwords]


@functools.lru_cache(maxsize=4)
def segmenter(user_dict: str = "", stopwords: str = "") -> Segmenter:
    """A shared Segmenter per configuration (building one loads jieba's dictionary, about a second)."""
    return Segmenter(user_dict or None, stopwords or None)
