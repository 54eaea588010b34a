"""`chendian audit` and the publish stage's refusal of a leaky build.

The audit must fail on planted leaks (a phone number, an e-mail address, an ID-card number, a WeChat id,
a real name under pseudonym mode), never print a leaked value whole, pass masked values and the site's own
hex ids, and pass the site built from the bundled examples; the publish stage must keep the previous site
when the new build leaks.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

from click.testing import CliRunner

from chendian.cli import main
from chendian import privacy
from chendian.site.audit import audit_site
from chendian.store import Workspace

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PHONE, EMAIL, ID_CARD, WXID = "13912345678", "zhaoting@yunfan.example.com", "11010519491231002X", "wxid_k3m9yunfan01"


def _page(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body>\n<main>\n{body}\n</main></body></html>\n"


def test_planted_leaks_are_found_and_never_printed_whole(tmp_path):
    site = tmp_path / "site"
    (site / "threads").mkdir(parents=True)
    (site / "threads" / "t1.html").write_text(_page(
        f"<p>有问题打我电话 {PHONE}</p>\n<p>或者发邮件 <a href=\"mailto:{EMAIL}\">邮件</a></p>\n"
        f"<p>身份证 {ID_CARD}</p>\n<p>文件在 WeChat Files\\{WXID}\\FileStorage</p>\n"
        "<p>138<em>1234</em>5678 写成强调也还是号码</p>\n<p>QQ号 28765432，邮箱 songjia (at) example.com</p>"),
        encoding="utf-8")
    (site / "search-index.js").write_text(
        "window.CHENDIAN_INDEX = " + json.dumps({"docs": [{"q": "找谁", "a": "问王磊-SRE，或者 王磊"}]}) + ";\n",
        encoding="utf-8")
    report = audit_site(site, names=["王磊-SRE"])
    kinds = sorted(f.kind for f in report.findings)
    assert kinds == ["email", "email", "id_card", "mobile", "mobile", "name", "name", "qq", "wechat_id"], report.findings
    assert {f.file for f in report.findings} == {"threads/t1.html", "search-index.js"}
    phone = next(f for f in report.findings if f.kind == "mobile")
    assert phone.line == 3 and "139****5678" in phone.excerpt
    printed = "\n".join(map(str, report.findings))
    for secret in (PHONE, EMAIL, ID_CARD, WXID, "13812345678", "28765432", "王磊"):
        assert secret not in printed
    assert not report.ok and report.summary().startswith("9 finding(s) in 2 file(s)")


def test_masked_values_ids_and_real_mode_pass(tmp_path):
    site = tmp_path / "site"
    (site / "entries").mkdir(parents=True)
    # What the masking writes, the site's own stable ids (digit runs like 16727562615 inside them) and
    # ordinary numbers are no leak; without names to hide, a name is not one either.
    (site / "entries" / "fc1167275626159562e0d.html").write_text(_page(
        "<p>电话 138****5678，[身份证号已隐藏]，[邮箱已隐藏]，[微信号已隐藏]</p>\n"
        "<a href=\"../threads/tc1167275626159562e0d.html\">王磊</a> <span>2024-03-08</span>\n"
        "<p>用 LDAP 账号登录</p><span class=\"muted\">2024-03-08</span><p>订单号 1234567890123456</p>"),
        encoding="utf-8")
    report = audit_site(site)
    assert report.ok, report.findings
    assert report.files == 1


def test_the_search_vocabulary_is_scanned_word_by_word(tmp_path):
    # The browser search's vocabulary is sorted words, one per line: "wx" beside "wxpayment" is no labelled
    # WeChat id (a false finding that stopped publish on a real WeChat group), but a number among them still is.
    site = tmp_path / "site"
    site.mkdir()
    terms = ["api", "token", "uid", "vip", "wwww", "wx", "wxpayment", "wxml", "xml", "支付", "账户", "退款"]
    vectors = site / "search-vectors.js"
    vectors.write_text("window.CHENDIAN_VECTORS = " + json.dumps({"terms": "\n".join(terms)}) + ";\n", encoding="utf-8")
    assert audit_site(site).ok
    vectors.write_text("window.CHENDIAN_VECTORS = " + json.dumps({"terms": "\n".join(terms + [PHONE])}) + ";\n",
                       encoding="utf-8")
    assert [f.kind for f in audit_site(site).findings] == ["mobile"]


def test_the_semantic_files_number_blobs_are_not_read_as_text(tmp_path):
    # search-vectors.js holds megabytes of base64 numbers; "QQ" and five digits turn up in them by chance (a false
    # finding that stopped publish at 80k messages). A blob that is plain base64 holds no text; anything else in
    # the file is still scanned, and so is a "blob" that is not base64.
    site = tmp_path / "site"
    site.mkdir()
    vectors = site / "search-vectors.js"
    chance = "AAA+QQ123456789A"  # as found: "…G+QQ5…7…"
    assert len(chance) % 4 == 0

    def write(payload):
        vectors.write_text("window.CHENDIAN_VECTORS = " + json.dumps(payload) + ";\n", encoding="utf-8")

    write({"terms": "支付\n退款", "idf": "AAAA", "table": chance, "entries": chance})
    assert audit_site(site).ok
    write({"terms": "支付\n退款", "idf": "AAAA", "table": chance, "entries": chance, "t2s": chance})
    assert [f.kind for f in audit_site(site).findings] == ["qq"]
    write({"terms": "支付", "idf": "AAAA", "table": f"电话 {PHONE}", "entries": chance})
    assert [f.kind for f in audit_site(site).findings] == ["mobile"]


def test_epub_members_are_scanned(tmp_path):
    with zipfile.ZipFile(tmp_path / "book.epub", "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("OEBPS/ch1.xhtml", _page(f"<p>联系 {EMAIL}</p>"))
    (tmp_path / "book.pdf").write_bytes(b"%PDF-1.4\n")
    report = audit_site(tmp_path)
    assert [(f.file, f.kind) for f in report.findings] == [("book.epub!OEBPS/ch1.xhtml", "email")]
    if shutil.which("pdftotext") is None:
        assert report.skipped == ["book.pdf (pdftotext from poppler-utils is not installed)"]


def test_cli_exit_status_and_one_line_per_finding(tmp_path):
    (tmp_path / "leak.html").write_text(_page(f"<p>{PHONE}</p>"), encoding="utf-8")
    result = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert result.exit_code == 1
    assert "leak.html:3: mobile: " in result.output and PHONE not in result.output
    assert "1 finding(s) in 1 file(s): mobile 1" in result.output
    (tmp_path / "leak.html").write_text(_page("<p>139****5678</p>"), encoding="utf-8")
    assert CliRunner().invoke(main, ["audit", str(tmp_path)]).exit_code == 0




def test_examples_site_passes_the_audit(examples_ws):
    result = CliRunner().invoke(main, ["-w", str(examples_ws), "audit", str(examples_ws / "site")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("names: pseudonym, ")
    assert "0 finding(s) in " in result.output
    # The examples' own planted phone numbers, addresses and the wxid in a file path are really there to catch.
    raw = "".join(p.read_text(encoding="utf-8") for p in (EXAMPLES / "wechat").glob("*.txt"))
    assert "13912345678" in raw and "wxid_k3m9yunfan01" in raw


def test_publish_refuses_a_leaky_build_and_keeps_the_old_site(examples_ws, monkeypatch):
    site = examples_ws / "site"
    before = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    # The masking switched off: the new build carries every number, address and real name in the chats.
    monkeypatch.setattr(privacy, "mask_text", lambda text, star="*": text)
    monkeypatch.setattr(privacy.Privacy, "names_in_text", lambda self, text: text)
    with Workspace(examples_ws) as ws:
        ws.set_state("publish.fingerprint", "forced rebuild")
    result = CliRunner().invoke(main, ["-w", str(examples_ws), "stage", "publish", "-q"])
    assert result.exit_code != 0
    report = json.loads((examples_ws / "reports" / "latest.json").read_text(encoding="utf-8"))
    note = report["stages"][-1]["note"]
    assert report["stages"][-1]["status"] == "failed" and note.startswith("LeakError: site not published")
    assert "mobile" in note and "13912345678" not in note
    after = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert after == before
    assert not list(examples_ws.glob(".site-build-*"))  # the rejected build is gone


def _publish_counts(ws_dir: Path, audit_key: str | None = None) -> dict:
    with Workspace(ws_dir) as ws:
        ws.set_state("publish.fingerprint", "forced rebuild")
        if audit_key is not None:
            ws.set_state("publish.audit_key", audit_key)
    result = CliRunner().invoke(main, ["-w", str(ws_dir), "stage", "publish", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads((ws_dir / "reports" / "latest.json").read_text(encoding="utf-8"))
    return report["stages"][-1]["counts"]


def test_a_nightly_publish_scans_only_the_pages_that_changed(examples_ws):
    first = _publish_counts(examples_ws, audit_key="another names list or other rules")
    assert first["audit_unchanged_files"] == 0 and first["audited_files"] > 100  # nothing vouched for: all
    again = _publish_counts(examples_ws)
    # the same inputs build the same pages (the build stamp aside): the audited site vouches for them
    assert again["audited_files"] == 0 and again["audit_unchanged_files"] == first["audited_files"]


def test_a_page_that_changed_is_scanned_even_after_an_audited_publish(examples_ws, tmp_path):
    from chendian.site.audit import audit_key, same_page

    site = examples_ws / "site"
    new = tmp_path / "new"
    shutil.copytree(site, new)
    page = next(new.glob("entries/*.html"))
    page.write_text(page.read_text(encoding="utf-8").replace("</main>", f"<p>{PHONE}</p></main>"), encoding="utf-8")
    report = audit_site(new, trusted=same_page(site))
    assert [f.file for f in report.findings] == [page.relative_to(new).as_posix()]
    assert report.files == 1 and report.unchanged > 100
    assert audit_key(["王磊"]) != audit_key([]) and audit_key(["王磊"]) == audit_key(["王磊"])


def test_pages_linked_from_the_published_site_are_known_without_a_stat_each(examples_ws, tmp_path, monkeypatch):
    # A night hard-links almost every page of a big site (168k at 1M messages): the audit knows them by the
    # inodes its directory walk reads, and stats or scans only the pages rendered anew.
    from chendian.site.audit import same_page

    site, new = examples_ws / "site", tmp_path / "new"
    for p in sorted(site.rglob("*")):
        target = new / p.relative_to(site)
        if p.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif p.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(p, target)
    page = next(new.glob("entries/*.html"))
    text = page.read_text(encoding="utf-8")
    page.unlink()  # rendered anew tonight: a file of its own
    page.write_text(text.replace("</main>", f"<p>{PHONE}</p></main>"), encoding="utf-8")
    stats = []
    real_stat = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, *a, **k: stats.append(self) or real_stat(self, *a, **k))
    report = audit_site(new, trusted=same_page(site))
    assert [f.file for f in report.findings] == [page.relative_to(new).as_posix()]
    assert report.files == 1 and report.unchanged > 100
    assert len(stats) <= 3, stats[:5]  # the page rendered anew, not two per linked page


def test_search_term_shards_are_scanned_term_by_term_and_their_blobs_are_not_text(tmp_path):
    # A term shard (site/browser_index.py): the terms are published words, scanned one by one; the postings blob
    # is numbers in a digit-free alphabet, where a Latin name can turn up by chance ("#Tom!") and means nothing.
    site = tmp_path / "site"
    (site / "search" / "t").mkdir(parents=True)
    shard = site / "search" / "t" / "0.js"

    def write(terms, data):
        shard.write_text('CHENDIAN_SHARD("t",0,' + json.dumps({"terms": "\n".join(terms), "at": [0], "data": data},
                                                               ensure_ascii=False) + ");\n", encoding="utf-8")

    write(["b报销", "wwx", "wxpayment"], "#Tom!QUJDREVG")
    assert audit_site(site, names=["Tom"]).ok
    write(["b报销", "w" + PHONE], "QUJD")  # an unmasked number among the terms
    assert [f.kind for f in audit_site(site).findings] == ["mobile"]
    write(["b报销"], "QUJD Tom " + PHONE)  # anything outside the blob alphabet is read as text
    assert sorted(f.kind for f in audit_site(site, names=["Tom"]).findings) == ["mobile", "name"]


def test_a_pattern_never_spans_two_elements(tmp_path):
    # Ubuntu IRC: one message ends in "wx", the next block starts with its sender's nick; joined across the block
    # break they looked like a labelled WeChat id and the audit refused the site. Within one element it still is.
    page = tmp_path / "t.html"
    page.write_text("<ol><li><p>did you set the wx</p></li>\n<li><span>foofoobar</span> <time>05-28 07:12</time>"
                    "</li><li><p>加我 vx: abcdef123 谢谢</p></li></ol>", encoding="utf-8")
    report = audit_site(tmp_path)
    assert [(f.kind, f.line) for f in report.findings] == [("wechat_id", 2)]
    assert "abcde" in str(report.findings[0]) and "foofo" not in str(report.findings[0])
