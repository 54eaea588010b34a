"""The text and attribute values of an HTML page as the audit reads them: HTMLParser's, and a fast reading of
the pages chendian writes that gives the very same text and values.

The audit (audit.py) reads a page with html.parser.HTMLParser (convert_charrefs=True): the text pieces, a block
break at every tag that does not join its text to its neighbours, every attribute value, each with the line it
starts on. HTMLParser is pure Python, calls upon calls per tag: most of a night's audit. Yet nearly every page
is clean, and a clean page needs neither lines nor order, only its text and the set of its values.
`clean_reading()` gets those with a few compiled patterns over the whole page, for the well-formed markup that
Jinja and Markdown write: `<!doctype html>`, start tags with quoted attribute values (no < or > inside), `</name>`
end tags, and text with character references. A page holding anything else (a comment, `<!`/`<?`/CDATA, a stray
`<`, an unquoted or odd attribute, a raw-text element holding markup, text after the last tag with an `&`) gets
None: the audit reads it with HTMLParser, as it reads every page where the fast reading finds something, so
findings, lines and excerpts are always HTMLParser's (tests/test_audit_scan.py compares both readings).
"""

from __future__ import annotations

import bisect
import re
from html import unescape
from html.parser import HTMLParser

# Between blocks: a line break and a character no rule reads as space, so a pattern never spans two elements
# (the "vx" ending one message and the next sender's name are not a WeChat id).
BLOCK_BREAK = "\n\x00"
# Text-level formatting joins its text to its neighbours (138<em>1234</em>5678 reads as one number); every other
# tag (a block, a <span class="muted"> date after a snippet) ends a piece of text.
JOINING_TAGS = frozenset({"em", "strong", "b", "i", "u", "s", "del", "ins", "mark", "code", "kbd", "sub", "sup",
                          "small", "abbr", "wbr"})


class PageText:
    """A page's joined text (text()), the page line of an offset in it (line_of()), and `pieces`: (line,
    value) for every non-empty attribute value, in page order."""

    def __init__(self, texts: list[str], line_at: list[tuple[int, int]], pieces: list[tuple[int, str]]):
        self._text = texts
        self._line_at = line_at  # (offset in the joined text, page line) where each text piece starts
        self.pieces = pieces
        self._starts = [start for start, _ in line_at]

    def line_of(self, offset: int) -> int:
        """The page line of an offset in text(): where its piece starts, plus the line breaks inside it."""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i < 0:
            return 1
        start, line = self._line_at[i]
        return line + self._text[i].count("\n", 0, offset - start)

    def text(self) -> str:
        return "".join(self._text)


class HtmlText(HTMLParser):
    """The reference reading: HTMLParser's events, gathered as PageText's parts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[tuple[int, str]] = []
        self.texts: list[str] = []
        self.line_at: list[tuple[int, int]] = []
        self._length = 0

    def _add(self, text: str) -> None:
        self.line_at.append((self._length, self.getpos()[0]))
        self.texts.append(text)
        self._length += len(text)

    def handle_starttag(self, tag, attrs):
        if tag not in JOINING_TAGS:
            self._add(BLOCK_BREAK)
        for _name, value in attrs:
            if value:
                self.pieces.append((self.getpos()[0], value))

    def handle_endtag(self, tag):
        if tag not in JOINING_TAGS:
            self._add(BLOCK_BREAK)

    def handle_data(self, data):
        self._add(data)

    def page(self) -> PageText:
        return PageText(self.texts, self.line_at, self.pieces)

    def text(self) -> str:
        self._page = self.page()
        return self._page.text()

    def line_of(self, offset: int) -> int:
        return self._page.line_of(offset)


def page_text(data: str) -> PageText:
    """PageText by HTMLParser."""
    parser = HtmlText()
    parser.feed(data)
    parser.close()
    return parser.page()


_S = r"[ \t\n\r\f]"
_NAME = r"[a-zA-Z_:@][-a-zA-Z0-9_:.@]*"
# Every tag the fast reading knows, with its name: a start tag (quoted values without < or >:
# HTMLParser's versions disagree on those), an end tag, the doctype. A page is read fast only when each of its
# `<` opens one of these; then no `<` is inside a tag or a text, and a tag ends at the first `>` after its `<`.
_TAG_RE = re.compile(rf"""<(?:([a-zA-Z][a-zA-Z0-9]*)(?:{_S}+{_NAME}(?:="[^"<>]*"|='[^'<>]*')?)*{_S}*/?>"""
                     rf"""|/([a-zA-Z][a-zA-Z0-9]*)>|![dD][oO][cC][tT][yY][pP][eE] html>)""")
_ANY_TAG_RE = re.compile(r"<[^>]*>")
_TAG_LEFT_RE = re.compile(r"<[^>]+>")  # not the `<>` left for a text-level tag
_JOINING_RE = re.compile(rf"</?(?i:{'|'.join(sorted(JOINING_TAGS))})(?=[\s/>])[^>]*>")
_DOCTYPE_RE = re.compile(r"<![^>]*>")
_CLOSED_RE = re.compile(r"<[a-zA-Z][^>]*/>")  # <br/>: a start tag and an end tag
# Raw text (script, style: read as it is) and escapable raw text (title, textarea: references decoded) must hold
# no markup, only their end tag after them; elements whose parsing differs between Python versions are refused.
_SPECIAL = frozenset({"script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript",
                      "plaintext"})
_SPECIAL_RE = re.compile(rf"<({'|'.join(sorted(_SPECIAL))})(?=[\s/>])([^>]*)>([^<]*)(<[^>]*>)?", re.I)
_RAW = frozenset({"script", "style"})
_ESCAPABLE = frozenset({"title", "textarea"})
_TITLE_RE = re.compile(r"<title>[^<]*</title>")
_DOUBLE_QUOTED_RE = re.compile(r'="([^"]*)"')
_QUOTED_RE = re.compile(r"""="([^"]*)"|='([^']*)'""")
_BLOCK_PAIR = BLOCK_BREAK + BLOCK_BREAK


def clean_reading(data: str) -> tuple[str, list[str]] | None:
    """(page_text(data).text(), the values of page_text(data).pieces in some order, repeats or not) for a page
    of the markup described above, else None."""
    tags = _TAG_RE.findall(data)  # (start tag's name, end tag's name)
    if len(tags) != data.count("<"):
        return None  # a `<` that opens no tag known here
    last = data.rfind("<")
    if last >= 0 and "&" in data[data.find(">", last) + 1:]:
        return None  # HTMLParser may hold such text back for a reference cut in two
    pairs = set(tags)
    kinds = {start for start, _ in pairs}
    lowered = {name.lower() for pair in pairs for name in pair}
    special = lowered & _SPECIAL
    if special == {"title"} and all(k == "title" for k in kinds if k.lower() == "title") \
            and data.count("<title") == len(_TITLE_RE.findall(data)):
        pass  # <title>text</title>, the page's one special element
    elif special:
        for m in _SPECIAL_RE.finditer(data):
            name, attrs, inside, after = m.groups()
            if name not in _RAW and name not in _ESCAPABLE or attrs.endswith("/") or after != f"</{name}>" \
                    or (name in _RAW and "&" in inside):
                return None
    # Text-level tags and the doctype become `<>` (no text holds a `<`), the others a block break (two for
    # <br/>). A `<>` parts the text as HTMLParser parts it: no reference spans a `<` (nor a block break's line
    # break), so the pieces between are decoded alone.
    text = data
    if lowered & JOINING_TAGS:
        text = _JOINING_RE.sub("<>", text)
    if "<!" in text:
        text = _DOCTYPE_RE.sub("<>", text)
    if "/>" in text:
        text = _CLOSED_RE.sub(_BLOCK_PAIR, text)
    text = _TAG_LEFT_RE.sub(BLOCK_BREAK, text)
    # Every ="…" of the page is then an attribute value, unless a text holds one or a value is single-quoted.
    if "='" in data or '="' in text:
        values = [a or b for a, b in _QUOTED_RE.findall("".join(_ANY_TAG_RE.findall(data)))]
    else:
        values = _DOUBLE_QUOTED_RE.findall(data)
    if "&" in text:
        text = "".join(map(unescape, text.split("<>"))) if "<>" in text else unescape(text)
    elif "<>" in text:
        text = text.replace("<>", "")
    values = [unescape(v) if "&" in v else v for v in values if v]
    return text, values
