"""Turning chat-derived text into safe HTML: escaped plain text, and Markdown without raw HTML or unsafe links.

Chat text is written by anyone in the group, so it is never trusted: raw HTML in it stays text, and only
http(s) links survive (no `javascript:`, `data:` or `vbscript:` URLs, no remote images that would track readers).
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as etree

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

_URL_RE = re.compile(r"https?://[^\s<>\"'\u3000-\u303f\uff00-\uffef（）【】《》“”‘’]+", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]+")
# Bare URLs in chat become Markdown autolinks, except when they already sit inside a link or autolink.
_BARE_URL_RE = re.compile(r"(?<![<(\[\w/])(https?://[^\s<>()\[\]\u3000-\u303f\uff00-\uffef“”‘’]+)", re.IGNORECASE)


def safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) link, else None (browsers ignore control characters in schemes)."""
    if not url:
        return None
    cleaned = _CONTROL_RE.sub("", html.unescape(url)).lower()
    if cleaned.startswith(("http://", "https://")):
        return url.strip()
    return None


def plain(text: str | None) -> Markup:
    """Chat text as HTML: escaped, http(s) URLs made into links (line breaks are kept by CSS pre-wrap)."""
    if not text:
        return Markup("")
    out, last = [], 0
    for m in _URL_RE.finditer(text):
        url = m.group(0).rstrip(".,;:!?")
        end = m.start() + len(url)
        out.append(html.escape(text[last:m.start()]))
        out.append(f'<a href="{html.escape(url)}" rel="nofollow noopener noreferrer">{html.escape(url)}</a>')
        last = end
    out.append(html.escape(text[last:]))
    return Markup("".join(out))


class _SafeTree(Treeprocessor):
    """Drop unsafe link targets and turn images into their alt text."""

    def run(self, root: etree.Element) -> None:
        for el in root.iter():
            if el.tag == "a":
                href = safe_url(el.get("href"))
                el.attrib.clear()
                if href:
                    el.set("href", href)
                    el.set("rel", "nofollow noopener noreferrer")
            elif el.tag == "img":
                alt = el.get("alt") or "图片"
                el.tag = "span"
                el.attrib.clear()
                el.text = f"[{alt}]"
            else:
                # Markdown itself sets no other attributes except code classes; nothing else may carry URLs.
                for attr in list(el.attrib):
                    if attr != "class":
                        del el.attrib[attr]


class _SafeExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")  # raw HTML blocks stay text
        md.inlinePatterns.deregister("html")  # inline tags stay text
        md.treeprocessors.register(_SafeTree(md), "chendian_safe", 1)  # after inline, before unescape


class MarkdownRenderer:
    def __init__(self, output_format: str = "html") -> None:
        # "xhtml" for the book's EPUB, whose pages must be well-formed XML (<br />)
        self._md = markdown.Markdown(extensions=["nl2br", "sane_lists", "fenced_code", _SafeExtension()],
                                     output_format=output_format)

    def __call__(self, text: str | None) -> Markup:
        if not text:
            return Markup("")
        self._md.reset()
        text = _BARE_URL_RE.sub(r"<\1>", text)
        return Markup(self._md.convert(text))
