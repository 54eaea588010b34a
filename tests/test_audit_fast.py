"""The audit's shortcut for repeated attribute values (a value found clean once is not scanned again on the same
page) finds exactly what scanning every value finds: same findings, same lines, same order."""

from __future__ import annotations

import random

from chendian.site import audit
from chendian.site.audit import _Names, _scan_html, _scan_text
from chendian.site.htmltext import HtmlText

VALUES = ["muted", "../threads/t0123456789abcdef01234.html", "13812345678", "张三", "wxid_abcdef123",
          "mailto:li.si@example.com", "QQ号 123456789", "138****5678", "entry-q", "6222 0212 3456 7897",
          "微信号：zhangsan_88", "../people/p9f8e7d6c5b4a39281706.html", "review-item", ""]
TEXTS = ["报销走 OA", "电话 13912345678", "2024-05-01 12:30", "张三：好的", "身份证 11010519491231002X", "谢谢"]


def _reference(data: str, names: _Names):
    """Every attribute value scanned, as the audit did before the shortcut."""
    parser = HtmlText()
    parser.feed(data)
    parser.close()
    text = parser.text()
    for offset, kind, excerpt in _scan_text(text, names):
        yield parser.line_of(offset), kind, excerpt.replace("\x00", "")
    for line, value in parser.pieces:
        for _offset, kind, excerpt in _scan_text(value, names):
            yield line, kind, excerpt


def _page(rng: random.Random) -> str:
    lines = ["<!doctype html>", "<html><body>"]
    for _ in range(rng.randint(20, 120)):
        attrs = " ".join(f'{rng.choice(["class", "href", "title", "data-x", "id"])}="{rng.choice(VALUES)}"'
                         for _ in range(rng.randint(0, 3)))
        lines.append(f"<p {attrs}>{rng.choice(TEXTS)}</p>" if rng.random() < 0.8 else
                     f"<a {attrs}\n title=\"{rng.choice(VALUES)}\">{rng.choice(TEXTS)}</a>")
    lines.append("</body></html>")
    return "\n".join(lines)


def test_repeated_attribute_values_give_the_findings_of_a_full_scan():
    rng = random.Random(7)
    for names in (_Names([]), _Names(["张三", "李四"])):
        for _ in range(60):
            page = _page(rng)
            assert list(_scan_html(page, names)) == list(_reference(page, names))


def test_a_leak_repeated_in_attributes_is_reported_on_every_line():
    page = "\n".join(f'<p title="13812345678" class="muted">第 {i} 行</p>' for i in range(5))
    found = [(line, kind) for line, kind, _ in audit._scan_html(page, _Names([]))]
    assert found == [(i, "mobile") for i in range(1, 6)]
