"""The audit's fast paths find exactly what the plain reading finds.

- htmltext.clean_reading (a few patterns over the page) gives HTMLParser's text and attribute values, or None;
- all_clean (the strings not known clean, scanned as one text joined by block breaks) is clean exactly when
  every string scanned alone is;
- the walk's set operations over a folder's names and inodes pass over the same files as a step per entry, and
  the audited site's version of a page rendered anew vouches for no more than its own strings.

Compared on every page of the site built from the bundled examples (with leaks planted), on the hostile strings
of tests/xss_corpus.py inside a page, and on random small HTML and random texts (Hypothesis).
"""

from __future__ import annotations

import html
import os
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chendian.site import audit
from chendian.site.audit import _Names, _scan_text, all_clean, audit_site, same_page
from chendian.site.htmltext import BLOCK_BREAK, clean_reading, page_text
from xss_corpus import VECTORS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LEAKS = ["13912345678", "zhaoting@yunfan.example.com", "11010519491231002X", "wxid_k3m9yunfan01", "QQ号 28765432",
         "微信号：zhangsan_88", "6222 0212 3456 7897", "010-87654321"]
NAMES = ["王磊-SRE", "张三", "Tom Lee"]


def _reference(data: str) -> tuple[str, list[str]]:
    page = page_text(data)
    return page.text(), sorted(value for _, value in page.pieces)


def _same_reading(data: str) -> bool:
    """clean_reading agrees with HTMLParser, or declines; True when it read the page."""
    fast = clean_reading(data)
    if fast is None:
        return False
    text, values = fast
    assert (text, sorted(values)) == _reference(data)
    return True


def _findings(folder: Path, names=(), trusted=None, fast: bool = True):
    if fast:
        return audit_site(folder, names, trusted)
    mp = pytest.MonkeyPatch()
    try:  # the plain reading only: HTMLParser for every page, every string scanned alone
        mp.setattr(audit, "clean_reading", lambda data: None)
        mp.setattr(audit, "all_clean", lambda strings, names, vouched=None: False)
        return audit_site(folder, names, trusted)
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def examples_site(examples_ws):
    """The bundled examples run through the whole pipeline, members under pseudonyms: the site's folder."""
    return examples_ws / "site"


def test_every_page_of_the_examples_site_reads_as_htmlparser_reads_it(examples_site):
    pages = sorted(p for p in examples_site.rglob("*.html") if "assets" not in p.parts)
    read = [_same_reading(p.read_text(encoding="utf-8")) for p in pages]
    assert len(pages) > 50
    assert sum(read) >= 0.9 * len(pages), [p.name for p, ok in zip(pages, read) if not ok]


def test_findings_on_the_examples_site_with_leaks_planted_are_those_of_the_plain_reading(examples_site, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(examples_site, site)
    rng = random.Random(5)
    pages = sorted(p for p in site.rglob("*.html") if "assets" not in p.parts)
    for page in rng.sample(pages, 12):  # a leak in a text, in an attribute, in a text-level tag, as a name
        data = page.read_text(encoding="utf-8")
        leak = rng.choice(LEAKS)
        spot = rng.choice(["</p>", "</li>", "</h1>", "</a>", "</main>"])
        planted = rng.choice([f"电话 {leak}", f'<span title="{leak}">x</span>', f"<em>{leak[:3]}</em>{leak[3:]}",
                              f"谢谢{rng.choice(NAMES)}", f"<a href=\"mailto:{leak}\">邮件</a>"])
        page.write_text(data.replace(spot, planted + spot, 1) if spot in data else data + planted, encoding="utf-8")
    for names in ((), NAMES):
        fast, plain = _findings(site, names), _findings(site, names, fast=False)
        assert fast.findings == plain.findings and fast.files == plain.files
    assert len(plain.findings) >= 8


@pytest.mark.parametrize("escaped", [False, True])
def test_hostile_strings_inside_a_page_read_as_htmlparser_reads_them(escaped):
    read = 0
    for vector in VECTORS:
        shown = html.escape(vector) if escaped else vector
        for body in (f"<p>{shown}</p>", f'<p title="{html.escape(vector)}">13<em>8</em>12345678 {shown}</p>',
                     f"<ul><li>{shown}\n</li><li>QQ号 28765432 {shown}</li></ul>"):
            data = (f"<!doctype html>\n<html><head><title>t</title></head><body>\n<main>\n{body}\n</main>"
                    "</body></html>\n")
            read += _same_reading(data)
            for names in (_Names([]), _Names(["张三", "alert"])):
                assert list(audit._scan_html(data, names)) == list(audit._scan_html_exact(data, names))
    assert read >= len(VECTORS) if escaped else read > 0


_FRAGMENTS = ["<p>", "</p>", "<em>", "</em>", "<br/>", "<wbr/>", "<a href=\"x&amp;y\">", "</a>", "<title>", "</title>",
              "<script>", "</script>", "<style>", "</style>", "<textarea>", "</textarea>", "<noscript>", "<!doctype html>",
              "<!-- c -->", "<![CDATA[x]]>", "<?php ?>", "<", ">", "</", "/>", "<P CLASS='a'>", "<span title=a>",
              "<img alt=\"\" src=\"13812345678\">", "<div\nclass=\"q\">", "<b data-x='1\"2'>", "&amp;", "&lt;", "&#10;",
              "&#x41;", "&am", "p;", "&", "#39;", "&amp", "\n", " ", "\t", "\x00", "=\"", "='", "\"", "'", "a", "138",
              "12345678", "QQ", "wx", "@", "微信号：", "张三", "x.com", "ab"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=30))
def test_random_html_reads_as_htmlparser_reads_it(parts):
    data = "".join(parts)
    _same_reading(data)
    names = _Names(["张三"])
    assert list(audit._scan_html(data, names)) == list(audit._scan_html_exact(data, names))


@pytest.mark.parametrize("data", ["<p>&am<em>p;</em> &amp<b>;</b> &#3<i>9;</i> &<code>lt;</code> &lt<wbr>;</p>",
                                  "<!doctype html>&am<p>p;</p>", "<p>x</p>&<em>amp;</em>", "<title>&amp;&am</title>"])
def test_a_reference_cut_by_a_tag_is_two_texts(data):
    # HTMLParser decodes each text between two tags alone, text-level tags too: "&am" and "p;" are no "&amp;".
    assert _same_reading(data)


_TEXT_BITS = ["13812345678", "138", "1234", "5678", "+86 ", "0086", "010-", "87654321", "QQ", "qq号", "扣扣", "群", "wx",
              "vx", "V信", "微信号", "：", ":", "abcdef", "_88", "wxid_", "k3m9yunfan01", "@", "＠", " (at) ", "example",
              ".com", "身份证", "110105194912310", "02X", "6222", " ", "-", "\n", "\x00", "\n\x00", "\t", "张三", "Tom",
              "Tomorrow", "f0123456789abcdef0123", "转", "ext.", "12", "。", "的"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_TEXT_BITS), max_size=8).map("".join), max_size=6),
       st.sampled_from([(), ("张三",), ("Tom", "王磊-SRE")]))
def test_strings_joined_by_block_breaks_are_clean_exactly_when_each_is(strings, names):
    alone = all(not list(_scan_text(s, _Names(names))) for s in strings)
    assert all_clean(strings, _Names(names)) == alone
    matcher = _Names(names)  # and again with what the first call learnt
    all_clean(strings[:2], matcher)
    assert all_clean(strings, matcher) == alone


@pytest.mark.parametrize("text", ["QQ\n\x0012345678", "wx\n\x00: abcdef12", "li @\n\x00 example.com",
                                  "138\n\x0012345678", "身份证\n\x0012345678", "010-\n\x0087654321", "张\n\x00三",
                                  "To\n\x00m"])
def test_no_detector_reads_across_a_block_break(text):
    # The joined scan's premise (all_clean): a break between two halves leaves nothing for any detector, where
    # the halves side by side are a leak.
    names = ["张三", "Tom"]
    assert list(_scan_text(text.replace(BLOCK_BREAK, ""), _Names(names))), text
    assert not list(_scan_text(text, _Names(names))), text
    assert all_clean(text.split(BLOCK_BREAK), _Names(names))


def test_a_name_that_holds_a_line_break_turns_the_joined_scan_off():
    names = _Names(["张\n\x00三"])
    assert not names.joinable
    assert not all_clean(["张", "三", "张\n\x00三"], names)


def test_term_shards_and_data_files_give_the_findings_of_the_plain_reading(tmp_path):
    site = tmp_path / "site"
    (site / "search" / "t").mkdir(parents=True)
    terms = "\n".join(["api", "wx", "wxpayment", "b报销", "w13912345678", "张三", "tom"] + [f"w{i}" for i in range(12)])
    (site / "search" / "t" / "0.js").write_text(
        'CHENDIAN_SHARD("t",0,{"terms":' + html.escape(repr(terms), quote=False).replace("'", '"') +
        ',"at":[0],"data":"QUJD Tom"});\n', encoding="utf-8")
    (site / "search-index.js").write_text(
        'window.CHENDIAN_INDEX = {"docs": [{"q": "找谁", "a": "问张三\\n或者 13812345678"}, {"q": "wx", "a": "\\u5f20三"}],'
        ' "terms": "' + terms.replace("\n", "\\n") + '"};\n', encoding="utf-8")
    for names in ((), ("张三", "Tom")):
        fast, plain = _findings(site, names), _findings(site, names, fast=False)
        assert fast.findings == plain.findings and fast.findings


def test_the_walk_passes_over_linked_pages_as_a_step_per_entry_does(examples_site, tmp_path):
    new = tmp_path / "new"
    for path in sorted(examples_site.rglob("*")):  # the build's way: unchanged pages hard-linked
        target = new / path.relative_to(examples_site)
        if path.is_dir():
            target.mkdir(parents=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
    threads = sorted((new / "threads").glob("*.html"))
    for page in threads[:3]:  # rendered anew: one with a leak, one the same bytes, one another page
        data = page.read_text(encoding="utf-8")
        page.unlink()
        page.write_text(data if page == threads[1] else data.replace("</main>", "<p>电话 13912345678</p></main>"),
                        encoding="utf-8")
    (new / "..html").write_text("<p>13912345678</p>", encoding="utf-8")  # no suffix to splitext: not a page
    (new / "entries" / "NEW.HTML").write_text("<p>13912345678</p>", encoding="utf-8")

    class StepByStep:  # same_page without its folder-at-once inodes
        def __init__(self, previous):
            self.check = same_page(previous)

        def __call__(self, path, rel, inode=None):
            return self.check(path, rel, inode)

    bulk, steps = audit_site(new, NAMES, same_page(examples_site)), audit_site(new, NAMES, StepByStep(examples_site))
    # same_page's site also vouches for the strings a page rendered anew shares with its audited version
    plain = _findings(new, NAMES, StepByStep(examples_site), fast=False)
    assert bulk.findings == steps.findings == plain.findings and len(bulk.findings) == 3
    assert (bulk.files, bulk.unchanged) == (steps.files, steps.unchanged) and bulk.unchanged > 50


def test_audited_names_are_counted_as_splitext_reads_them():
    names = ["a.html", ".html", "..html", "a..html", "x.HTML", "b.js", "c.JSON", "d.txt.bak", "e", ".chendian-pages",
             "f.pdf", "g.epub", "h.htm", "i.xhtml", "j.md", ".a.md", "...x.js", "a.b.c.json", "k.css", "l.html.",
             "m. html", ".", "..", ".js.js", "xhtml", "a.xhtml.htm", "报销.Md"]
    assert audit._audited_count(names) == sum(os.path.splitext(n)[1].lower() in audit._AUDITED_SUFFIXES
                                              for n in names) == 16
