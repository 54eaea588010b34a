"""A night's publish renders the pages that changed and links the rest from the published site, and the result is
what a full build gives: also when a name first seen on the new day, or the words of a message recalled on the
new day, appear on old pages (both change pages the night did not otherwise touch)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from chatgen import generate, write_jsonl
from click.testing import CliRunner
from test_incremental import _site as _site_less_topics

from chendian.cli import main
from chendian.site.build import PAGE_FOLDERS, PAGE_KEYS, build_site
from chendian.privacy import Privacy


def _site(root: Path) -> dict[str, str]:
    """test_incremental's comparison, also without a person's topic chips: the topics are documented to differ
    night by night from one full run, and with them how many answers fall under each."""
    return {name: re.sub(r"<li><topic>(?: · \d+)?</li>", "", text) for name, text in _site_less_topics(root).items()}


def _cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _publish_counts(root: Path) -> dict:
    report = json.loads((root / "reports" / "latest.json").read_text(encoding="utf-8"))
    return next(s for s in report["stages"] if s["name"] == "publish")["counts"]


def _inodes(site: Path) -> dict[str, int]:
    return {str(p.relative_to(site)): p.stat().st_ino
            for folder in PAGE_FOLDERS for p in (site / folder).glob("*.html") if p.name != "index.html"}


def _full_and_nightly(tmp: Path, earlier: list[dict], last: list[dict], names: str = "real"):
    write_jsonl(tmp / "earlier.jsonl", earlier)
    write_jsonl(tmp / "last.jsonl", last)
    full, nightly = tmp / "full", tmp / "nightly"
    for root in (full, nightly):
        _cli("init", str(root))
        if names != "real":
            toml = root / "chendian.toml"
            text, n = re.subn(r'(?m)^names = "real"', f'names = "{names}"', toml.read_text(encoding="utf-8"))
            assert n == 1
            toml.write_text(text, encoding="utf-8")
    _cli("-w", str(full), "ingest", str(tmp / "earlier.jsonl"), str(tmp / "last.jsonl"))
    _cli("-w", str(full), "run", "-q")
    _cli("-w", str(nightly), "ingest", str(tmp / "earlier.jsonl"))
    _cli("-w", str(nightly), "run", "-q")
    before = _inodes(nightly / "site")
    _cli("-w", str(nightly), "ingest", str(tmp / "last.jsonl"))
    _cli("-w", str(nightly), "run", "-q")
    return full, nightly, before


def test_a_night_links_the_pages_it_did_not_change_and_builds_what_a_full_run_builds(tmp_path):
    days = list(generate(days=3, messages_per_day=120, chats=2))
    earlier = [m for _, ms in days[:-1] for m in ms]
    last = [m for m in days[-1][1] if m["chat"] == "群01"]  # 群02 is quiet: its conversations stay as they were
    full, nightly, before = _full_and_nightly(tmp_path, earlier, last)
    a, b = _site(full), _site(nightly)
    assert a.keys() == b.keys()
    assert [name for name in a if a[name] != b[name]] == []
    counts = _publish_counts(nightly)
    after = _inodes(nightly / "site")
    kept = {page for page, ino in after.items() if before.get(page) == ino}
    assert counts["pages_linked"] == len(kept) > 0  # the very files of the published site, not copies
    assert any(page.startswith("threads/") for page in kept)
    assert len(kept) < len(after)  # the new day's conversations were rendered
    keys = json.loads((nightly / "site" / PAGE_KEYS).read_text(encoding="utf-8"))
    assert set(keys["pages"]) == set(after)
    # a rerun with nothing new publishes nothing
    _cli("-w", str(nightly), "run", "-q")
    assert _publish_counts(nightly) == {"pages": 0, "unchanged": 1}


def test_a_name_and_a_recall_first_seen_on_the_new_day_reach_the_old_pages(tmp_path):
    days = list(generate(days=3, messages_per_day=80, chats=1))
    earlier = [m for _, ms in days[:-1] for m in ms]
    # Late on day 1, three colleagues talk about someone who has not written yet, and one posts a password.
    secret = "测试库的临时口令是 kx-ab-2291 用完记得改"
    night = "2024-03-04T22:{:02d}:00+08:00"
    talk = [("u-lao", "运维-老王", f"周新来 下周一入职，{secret}"), ("u-xiao", "研发-小李", "好的，我带他装环境"),
            ("u-lao", "运维-老王", "辛苦，工位在 3 楼")]
    earlier += [{"chat": "群01", "id": f"old-{i}", "time": night.format(10 + i), "sender": s, "sender_name": n,
                 "text": t} for i, (s, n, t) in enumerate(talk)]
    # On the last day he speaks for the first time, and the password is posted again and withdrawn.
    last = days[-1][1] + [
        {"chat": "群01", "id": "new-1", "time": "2024-03-06T22:01:00+08:00", "sender": "u-zhou",
         "sender_name": "周新来", "text": "大家好，我是新来的"},
        {"chat": "群01", "id": "new-2", "time": "2024-03-06T22:02:00+08:00", "sender": "u-lao",
         "sender_name": "运维-老王", "text": secret, "recalled": True}]
    full, nightly, _ = _full_and_nightly(tmp_path, earlier, last, names="pseudonym")
    a, b = _site(full), _site(nightly)
    assert a.keys() == b.keys()
    assert [name for name in a if a[name] != b[name]] == []
    page = next(text for name, text in b.items() if name.startswith("threads/") and "下周一入职" in text)
    assert "周新来" not in page and "kx-ab-2291" not in page and "（已撤回）" in page


def test_names_met_after_the_freeze_are_shown_but_rewrite_no_text():
    late_first, early_first = Privacy("pseudonym"), Privacy("pseudonym")
    for p in (late_first, early_first):
        p.name("u1", "张三丰")
    early_first.name("u2", "李四光")
    for p in (late_first, early_first):
        p.freeze()
    assert late_first.text("李四光说") == "李四光说"
    shown = late_first.name("u2", "李四光")
    assert shown == early_first.name("u2", "李四光") and shown.startswith("成员-")
    assert late_first.text("李四光说") == "李四光说"  # the same on every page, whichever came first
    assert early_first.text("李四光说") == f"{shown}说"
    assert late_first.rewrite_key() != early_first.rewrite_key() != ""
    assert Privacy("real").rewrite_key() == ""


def _pages(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): b"\n".join(line for line in p.read_bytes().split(b"\n")
                                                  if "生成于".encode() not in line)
            for p in site.rglob("*") if p.is_file()}


def _mid(ws, pid: str) -> str:
    return ws.db.execute("SELECT id FROM messages WHERE platform_id = ?", (pid,)).fetchone()[0]


_MESSAGE = ("INSERT INTO messages (id, chat, ts, time, sender, sender_name, kind, text, platform_id, reply_to, quote,"
            " mentions, recalled, source, extra, import_id) SELECT '{id}', chat, ts + 20, time, '{sender}', '{name}',"
            " 'text', '{text}', '{id}', {reply_to}, {quote}, '[]', 0, 'test', '{{{{}}}}', import_id FROM messages WHERE id = {after}")
_JOIN = ("INSERT INTO message_threads SELECT '{id}', chat, thread_id, NULL FROM message_threads"
         " WHERE message_id = {after}")

# Each changes what some pages show, applied one after the other: (what, statements, the name modes under which
# it changes what every page is made of, so that nothing is linked).
MUTATIONS = [
    ("a conversation's digest", ["UPDATE thread_digests SET digest = '新的摘要：先查 OA 再问财务。'"
                                 " WHERE thread_id = (SELECT thread_id FROM message_threads WHERE message_id = {m1})"], ()),
    ("an entry's answer", ["UPDATE faq_entries SET answer = '改过的答案，见 OA。' WHERE qa_ids LIKE '%' ||"
                           " (SELECT id FROM qas WHERE question_id = {m7}) || '%'"], ()),
    ("a week's digest", ["UPDATE weekly_digests SET body = '## 本周\n\n- 改过的一周'"], ()),
    ("a chat's name", ["UPDATE chats SET name = '改名后的群'"], ()),
    ("a topic's label", ["UPDATE topics SET label = '报销（改）' WHERE id = 'finance'"], ()),
    ("a person's counts", ["UPDATE contributors SET acknowledged = acknowledged + 3"
                           " WHERE sender = (SELECT sender FROM messages WHERE id = {m8})"], ()),
    ("a question's wording", ["UPDATE qas SET question = '请问 VPN 证书过期了怎么办' WHERE question_id = {m7}"], ()),
    # a reply moved into another conversation
    ("a message moved", ["UPDATE message_threads SET thread_id = (SELECT thread_id FROM message_threads"
                         " WHERE message_id = {m5}) WHERE message_id = {m3}"], ()),
    # a short message, and a reply to it in another conversation; then the short one is withdrawn: the reply's
    # page shows that, though nothing of its own conversation changed
    ("messages added", [_MESSAGE.format(id="x-short", sender="wxid_lina", name="李娜", text="好", reply_to="NULL",
                                        quote="NULL", after="{m1}"), _JOIN.format(id="x-short", after="{m1}"),
                        _MESSAGE.format(id="x-reply", sender="wxid_wangfang", name="王芳", text="收到",
                                        reply_to="'x-short'", quote="NULL", after="{m5}"),
                        _JOIN.format(id="x-reply", after="{m5}")], ()),
    ("a short message withdrawn", ["UPDATE messages SET recalled = 1 WHERE id = 'x-short'"], ()),
    # a quote of someone who never wrote here: under pseudonyms their name is rewritten on every page
    ("a quote of a stranger", [_MESSAGE.format(id="x-quote", sender="wxid_lina", name="李娜", text="见上",
                                               reply_to="NULL", quote="'{{\"sender_name\": \"欧阳新\", \"text\": \"旧消息\"}}'",
                                               after="{m7}"), _JOIN.format(id="x-quote", after="{m7}")],
     ("pseudonym",)),
    # a long message withdrawn: its words are scrubbed wherever they appear, so every page is rendered again
    ("a message recalled", ["UPDATE messages SET recalled = 1 WHERE id = {m2}"], ("real", "pseudonym")),
]


@pytest.mark.parametrize("names", ["real", "pseudonym"])
def test_each_change_rebuilds_what_a_fresh_build_gives(tmp_path, names):
    from test_site import make_site_workspace

    ws = make_site_workspace(tmp_path / "ws", names=names)
    try:
        build_site(ws)
        ids = {f"m{p}": f"'{_mid(ws, p)}'" for p in ("1", "2", "3", "5", "7", "8")}
        for i, (what, statements, everything) in enumerate(MUTATIONS):
            before = _pages(ws.path("site"))
            with ws.transaction():
                for sql in statements:
                    ws.db.execute(sql.format(**ids))
            counts = build_site(ws)
            after = _pages(ws.path("site"))
            fresh = build_site(ws, tmp_path / f"fresh-{i}")
            assert after != before, what  # the change shows
            assert after == _pages(tmp_path / f"fresh-{i}"), what
            assert counts["bytes"] == fresh["bytes"], what  # a linked page counted by the size its build recorded
            linked = counts["pages_linked"]
            assert (linked == 0) if names in everything else (0 < linked < fresh["pages"]), (what, linked)
    finally:
        ws.close()


def test_the_replaced_site_is_the_next_build_folder_and_the_published_one_is_never_written_through(tmp_path):
    from test_site import make_site_workspace

    ws = make_site_workspace(tmp_path / "ws")
    try:
        site, spare = ws.path("site"), ws.path(".site-spare")
        build_site(ws)  # a first build leaves its keyed pages linked in the spare folder too
        assert spare.is_dir() and _inodes(spare) == _inodes(site)  # the very files
        build_site(ws)  # nothing changed: every keyed page kept, the replaced site is the spare folder
        assert spare.is_dir() and _inodes(spare) == _inodes(site)
        ids = {f"m{p}": f"'{_mid(ws, p)}'" for p in ("1", "7")}
        with ws.transaction():
            for _what, statements, _ in MUTATIONS[:2]:  # a digest and an answer: pages the spare has as links
                for sql in statements:
                    ws.db.execute(sql.format(**ids))
        published = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
        live: dict = {}
        counts = build_site(ws, check=lambda folder: live.update({p: p.read_bytes() for p in site.rglob("*")
                                                                   if p.is_file()}))
        assert live == published  # until the swap the published site is as it was, byte for byte
        build_site(ws, tmp_path / "fresh")
        assert _pages(site) == _pages(tmp_path / "fresh")
        assert 0 < counts["pages_linked"] < counts["pages"]
        # a page of the spare that no build wrote or kept is not published
        (spare / "threads" / "gone.html").write_text("<p>old</p>", encoding="utf-8")
        build_site(ws)
        assert not (site / "threads" / "gone.html").exists()
    finally:
        ws.close()
