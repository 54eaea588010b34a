"""Books (issue 14): the manifest round trip, credits that match who answered, EPUB/PDF structure and privacy."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.dom.minidom
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from chendian.cli import main
from chendian.site.audit import audit_site
from chendian.site.book import book_content, dump_manifest, parse_manifest, read_manifest
from chendian.privacy import NAME_MODES, Privacy
from chendian.store import Workspace
from test_site import make_site_workspace

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EPUBCHECK_JAR = Path("/usr/share/java/epubcheck.jar")

# A day of messages in a chat the examples do not have: two questions, each answered and thanked.
NEW_DAY = [
    ("d1", "10:00", "u1", "张伟", "请问周末发版窗口是几点？"),
    ("d2", "10:01", "u2", "王磊-SRE", "周六上午 10 点到 12 点，记得提前一天在群里报备变更单"),
    ("d3", "10:02", "u1", "张伟", "好的，谢谢！"),
    ("d4", "11:00", "u3", "李娜", "线上日志在哪里看？"),
    ("d5", "11:01", "u2", "王磊-SRE", "日志在 Kibana 上看，地址在 Wiki 的运维手册里，选 prod 索引就行"),
    ("d6", "11:02", "u3", "李娜", "找到了，谢谢"),
]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def examples_ws(tmp_path_factory) -> Path:
    """The bundled examples after one nightly run."""
    ws = tmp_path_factory.mktemp("book") / "ws"
    invoke("init", str(ws))
    for folder in ("wechat", "qq"):
        shutil.copytree(EXAMPLES / folder, ws / "inbox" / folder)
    invoke("-w", str(ws), "run", "-q")
    return ws


def test_round_trip_author_edits_survive_a_new_day_and_update(examples_ws, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(examples_ws, ws, symlinks=True)
    manifest_path = tmp_path / "book.toml"
    invoke("-w", str(ws), "book", "init", "--out", str(manifest_path))
    m = read_manifest(manifest_path)
    assert len(m.chapters) >= 3 and all(c.entries for c in m.chapters)

    # The author: rename and swap the first two chapters, drop an entry, edit an answer, write a preface.
    first, second = m.chapters[0], m.chapters[1]
    first.title, second.title = "报销与出差", "新人入职"
    m.chapters[0], m.chapters[1] = second, first
    dropped = first.entries.pop(1)
    edited = first.entries[0]
    m.answers[edited] = "作者改写：先在 OA 提交申请，审批通过后把发票交给财务。"
    m.preface = "这本书整理自两个群一年的问答。\n感谢每一位回答问题的同事。"
    with Workspace(ws) as w:
        manifest_path.write_text(dump_manifest(m, w), encoding="utf-8")

    # A day of messages, the nightly run, then the author's update.
    day = [{"chat": "运维值班群", "id": pid, "time": f"2024-03-09T{t}:00", "sender": s, "sender_name": n, "text": x}
           for pid, t, s, n, x in NEW_DAY]
    (ws / "inbox" / "day.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in day), "utf-8")
    invoke("-w", str(ws), "run", "-q")
    out = invoke("-w", str(ws), "book", "init", "--out", str(manifest_path), "--update")
    assert "new entries" in out

    after = read_manifest(manifest_path)
    titles = [c.title for c in after.chapters]
    assert titles[:2] == ["新人入职", "报销与出差"]
    assert dropped not in [e for c in after.chapters for e in c.entries]
    assert after.answers[edited] == m.answers[edited] and after.preface.strip() == m.preface.strip()
    new_ids = [e for c in after.chapters for e in c.new_entries]
    assert new_ids, "the new day's question should be offered"
    for c in after.chapters:
        assert c.entries[len(c.entries) - len(c.new_entries):] == c.new_entries  # appended at the end, flagged
    # A second update offers nothing again: what was offered once is the author's to keep or drop.
    assert "0 new entries" in invoke("-w", str(ws), "book", "init", "--out", str(manifest_path), "--update")

    book_dir = tmp_path / "out"
    invoke("-w", str(ws), "book", "build", "--manifest", str(manifest_path), "--format", "md,html,epub", "--out", str(book_dir))
    md = (book_dir / "book.md").read_text(encoding="utf-8")
    assert md.index("新人入职") < md.index("报销与出差")
    assert "作者改写：先在 OA 提交申请" in md and "这本书整理自两个群一年的问答" in md
    with Workspace(ws) as w:
        entries = {e.id: e for e in w.faq_entries(include_hidden=True, warn=lambda m: None)}
    # no section for the dropped entry (its words may still appear in a talk's transcript)
    assert f"### {entries[dropped].question}" not in md
    assert f"### {entries[new_ids[0]].question}" in md
    html = (book_dir / "book.html").read_text(encoding="utf-8")
    assert "本章回答者" in html and "贡献者索引" in html and "版本说明" in html


@pytest.mark.parametrize("mode", NAME_MODES)
def test_credits_name_exactly_the_people_who_answered_in_each_chapter(examples_ws, mode):
    with Workspace(examples_ws) as ws:
        book = book_content(ws, names=mode)
        # Who answered, computed here from the questions behind each chapter's entries (recalled ones aside).
        recalled = {r[0] for r in ws.db.execute("SELECT id FROM messages WHERE recalled = 1 OR kind = 'recall'")}
        qas = {q.id: q for q in ws.qas(warn=lambda m: None)}
        entries = {e.id: e for e in ws.faq_entries(include_hidden=True, warn=lambda m: None)}
        privacy = Privacy(mode)
        assert book.chapters and any(c["credits"] for c in book.chapters)
        for chapter in book.chapters:
            expected: dict[str, int] = {}
            for section in chapter["sections"]:
                for qa_id in entries[section["id"]].qa_ids:
                    qa = qas[qa_id]
                    if qa.question_id in recalled:
                        continue
                    for a in qa.answers:
                        if a.sender and a.text.strip() and not recalled & set(a.message_ids):
                            name = privacy.name(a.sender, a.sender_name)
                            expected[name] = expected.get(name, 0) + 1
            credited = {}
            for p in chapter["credits"]:
                credited[p["name"]] = credited.get(p["name"], 0) + p["count"]
            assert credited == expected, chapter["title"]
        indexed = {(p["name"], ch["n"]) for p in book.index for ch in p["chapters"]}
        assert indexed == {(p["name"], c["n"]) for c in book.chapters for p in c["credits"]}


def test_default_book_offers_only_published_entries(examples_ws):
    with Workspace(examples_ws) as ws:
        book = book_content(ws)
        published = {e.id for e in ws.faq_entries(include_hidden=False, warn=lambda m: None) if e.published}
        unpublished = {e.id for e in ws.faq_entries(include_hidden=True, warn=lambda m: None)} - published
        shown = {s["id"] for c in book.chapters for s in c["sections"]}
        assert shown == published and unpublished
        # An author may add a held-back entry by id.
        manifest = parse_manifest('title = "t"\n[[chapters]]\ntitle = "c"\nentries = ["%s"]\n' % sorted(unpublished)[0])
        assert [s["id"] for s in book_content(ws, manifest).chapters[0]["sections"]] == [sorted(unpublished)[0]]


def test_epub_is_well_formed_and_passes_epubcheck(examples_ws, tmp_path):
    invoke("-w", str(examples_ws), "book", "build", "--format", "epub", "--out", str(tmp_path))
    with zipfile.ZipFile(tmp_path / "book.epub") as z:
        names = z.namelist()
        assert names[0] == "mimetype" and z.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        assert z.read("mimetype") == b"application/epub+zip"
        for name in names:
            if name.endswith((".xhtml", ".opf", ".xml")):
                xml.dom.minidom.parseString(z.read(name))  # every document is well-formed XML
        assert "OEBPS/nav.xhtml" in names and "OEBPS/people.xhtml" in names
    if not EPUBCHECK_JAR.is_file() or not shutil.which("java"):
        pytest.skip("epubcheck (Debian package) not installed")
    result = subprocess.run(["java", "-jar", str(EPUBCHECK_JAR), str(tmp_path / "book.epub")],
                            capture_output=True, text=True, timeout=120)
    assert "0 fatals / 0 errors / 0 warnings" in result.stdout, result.stdout + result.stderr


def test_pdf_embeds_cjk_fonts(examples_ws, tmp_path):
    pytest.importorskip("weasyprint")
    invoke("-w", str(examples_ws), "book", "build", "--format", "pdf", "--out", str(tmp_path))
    if not shutil.which("pdffonts"):
        pytest.skip("pdffonts (poppler-utils) not installed")
    fonts = subprocess.run(["pdffonts", str(tmp_path / "book.pdf")], capture_output=True, text=True).stdout
    cjk = [line for line in fonts.splitlines() if "CJK" in line]
    assert cjk and all(" yes yes yes " in line for line in cjk), fonts
    # 避头尾: no line of the laid-out text starts with closing punctuation.
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "book.pdf"), "-"], capture_output=True, text=True).stdout
    assert "本章回答者" in text and "贡献者索引" in text
    assert not [line for line in text.splitlines() if line.strip()[:1] in set("，。、；：？！）」』”")]


def test_manifest_mistakes_are_one_line(examples_ws, tmp_path):
    manifest = tmp_path / "book.toml"
    invoke("-w", str(examples_ws), "book", "init", "--out", str(manifest))
    again = CliRunner().invoke(main, ["-w", str(examples_ws), "book", "init", "--out", str(manifest)])
    assert again.exit_code == 1 and "--update" in again.output
    manifest.write_text('title = "t"\n[[chapters]]\nentries = "not a list"\n', encoding="utf-8")
    bad = CliRunner().invoke(main, ["-w", str(examples_ws), "book", "build", "--manifest", str(manifest), "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "entries must be a list" in bad.output and "Traceback" not in bad.output
    fmt = CliRunner().invoke(main, ["-w", str(examples_ws), "book", "build", "--format", "docx", "--out", str(tmp_path)])
    assert fmt.exit_code == 1 and "docx" in fmt.output


def test_book_keeps_the_privacy_rules(tmp_path):
    ws = make_site_workspace(tmp_path / "ws", names="pseudonym")
    out = tmp_path / "book"
    invoke("-w", str(ws.root), "book", "build", "--format", "md,html,epub", "--out", str(out))
    text = (out / "book.md").read_text(encoding="utf-8") + (out / "book.html").read_text(encoding="utf-8")
    assert "secret.example.com" not in text  # recalled
    assert "13912345678" not in text and "11010519491231002X" not in text
    real = [r[0] for r in ws.db.execute("SELECT DISTINCT sender_name FROM messages WHERE kind != 'system'")]
    report = audit_site(out, names=real)
    assert not report.findings, report.findings[:3]
    ws.close()
