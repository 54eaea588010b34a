"""wx-cli reader: golden files per layout and version, kinds and senders, identity across export/history/feed/
markdown/txt (fixtures and a property test), quotes resolved into thread links, members files, bad input."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chendian.cli import main
from chendian.ingest import IngestError, ingest_paths, load_names, readers
from chendian.ingest.base import ReadContext, SourceFile, UnreadableFile
from chendian.store import Workspace

from conftest import FIXTURES, SHANGHAI, assert_golden, message_record, read_file
from wxcli_render import feed, history, message, to_json, to_markdown, to_txt

WXCLI = FIXTURES / "formats" / "wxcli"
GOLDEN = WXCLI / "golden"
MEMBERS = WXCLI / "names" / "members_12345678@chatroom.json"
GROUP = "12345678@chatroom"

CASES = [  # every layout and version of FORMATS.md "wx-cli", invented content
    "12345678@chatroom.json",  # export/history 0.3 object: every kind, a renamed member, a bad record
    "12345678@chatroom.yaml",  # history's default YAML; `yes` stays text; meta.status possibly_stale
    "12345678@chatroom.md",  # export --format markdown (stdout, trailing newline)
    "12345678@chatroom.txt",  # export --format txt (-o FILE, no trailing newline)
    "history_v0.2_wxid_example01.json",  # 0.2 bare array, private chat, cut off mid-message
    "new-messages.json",  # 0.3 feed: three chats in one list
    "new-messages_v0.2.json",  # 0.2 bare-array feed, one item without `username`
]


def _source(path: Path) -> SourceFile:
    return SourceFile(name=str(path), data=path.read_bytes())


def _by_text(messages):
    return {m.text: m for m in messages}


# -- golden files ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", CASES)
def test_fixture_golden(rel):
    name, messages, issues = read_file(WXCLI / rel)
    assert name == "wxcli"
    assert_golden(GOLDEN / (rel.replace("@", "_") + ".json"), {
        "reader": name,
        "messages": [message_record(m) for m in messages],
        "issues": [f"{Path(i.file).name}:{i.line}: {i.message}" for i in issues],
    })


@pytest.mark.parametrize("rel", CASES)
def test_only_wxcli_claims_it(rel):
    assert [r.name for r in readers() if r.sniff(_source(WXCLI / rel))] == ["wxcli"]


def test_every_fixture_has_a_case():
    files = {p.name for p in WXCLI.iterdir() if p.is_file()}
    assert files == set(CASES)


def test_members_file_is_not_claimed_as_an_export():
    assert [r.name for r in readers() if r.sniff(_source(MEMBERS))] == []


# -- kinds, senders, quotes --------------------------------------------------------------------------------------

def test_kinds_from_type_labels_and_content_prefixes():
    _, messages, issues = read_file(WXCLI / "12345678@chatroom.json")
    kinds = [m.kind for m in messages]
    assert kinds == ["text", "image", "quote", "file", "link", "link", "forward", "system", "recall", "pat", "image",
                     "voice", "video", "other", "text", "text", "text", "text", "quote", "text", "text"]
    by = _by_text(messages)
    link = by["如何读一本书\nhttps://mp.weixin.qq.com/s/abcDEF123"]
    assert link.extra["url"] == "https://mp.weixin.qq.com/s/abcDEF123" and link.extra["title"] == "如何读一本书"
    assert by["读书打卡"].extra["placeholder"] == "小程序"
    assert by["读书会书单.pdf"].extra == {"type": "链接/文件", "local_id": 104, "placeholder": "文件",
                                      "file": "读书会书单.pdf", "size": "1.5 KB, pdf"}
    forward = next(m for m in messages if m.kind == "forward")
    assert forward.extra["title"] == "上周讨论" and [r["name"] for r in forward.extra["forward"]] == ["阿周", "小林"]
    sticker = messages[10]
    assert sticker.extra["placeholder"] == "表情" and sticker.text == ""
    assert messages[1].extra["local_id"] == 102 and messages[1].text == ""
    # A text message that merely starts like a placeholder is text when the type label says so.
    assert by["[图片] 这是我打的字，不是图片"].kind == "text"
    assert messages[13].extra["xml"].startswith("<?xml")  # a name card passes through as raw XML
    assert [(i.line, "timestamp" in i.message) for i in issues] == [(18, True)]


def test_group_senders_key_on_username_across_renames():
    _, messages, _ = read_file(WXCLI / "12345678@chatroom.json")
    lin = [m for m in messages if m.sender == "wxid_example01"]
    assert {m.sender_name for m in lin} == {"小林", "林老师"}  # the group card changed; one person
    notices = [m for m in messages if m.kind in ("system", "recall", "pat")]
    assert {m.sender for m in notices} == {"system"}
    assert _by_text(messages)["（发送者未能识别）"].sender == "unknown"


def test_private_chat_partner_and_self():
    _, messages, issues = read_file(WXCLI / "new-messages.json")
    private = [m for m in messages if m.chat == "wxid_example01"]
    assert [(m.sender, m.sender_name) for m in private] == [
        ("wxid_example01", "林同学"), ("self", "我"), ("wxid_example01", "林同学")]
    assert {m.chat for m in messages} == {GROUP, "wxid_example01", "87654321@chatroom"}
    assert issues == []


def test_quotes_carry_the_quoted_sender_and_text():
    _, messages, _ = read_file(WXCLI / "12345678@chatroom.json")
    quotes = [m for m in messages if m.kind == "quote"]
    assert [(q.text, q.quote.sender_name, q.quote.text) for q in quotes] == [
        ("十点", "小林", "明天几点见？ 带上书"),
        # quoted under the contact name 林同学: named by the label the member's own messages carry now
        ("同意", "林老师", "这本书值得精读，第二章尤其好")]


# -- identity and de-duplication -------------------------------------------------------------------------------

def test_export_markdown_txt_yaml_and_feed_agree_on_ids():
    ids = {rel: [m.id for m in read_file(WXCLI / rel)[1]] for rel in CASES}
    group_ids = ids["12345678@chatroom.json"]
    assert len(set(group_ids)) == len(group_ids) == 21  # the two 收到 of one minute are two messages
    assert ids["12345678@chatroom.md"] == group_ids == ids["12345678@chatroom.txt"]
    assert set(ids["12345678@chatroom.yaml"]) < set(group_ids)
    feed_ids = set(ids["new-messages.json"])
    assert len(feed_ids & set(group_ids)) == 5 and set(ids["history_v0.2_wxid_example01.json"]) < feed_ids | set(
        ids["new-messages_v0.2.json"])


def test_importing_every_layout_stores_each_message_once(workspace):
    first = ingest_paths(workspace, [WXCLI / "12345678@chatroom.json"])
    assert (first.read, first.new) == (21, 21)
    rest = ingest_paths(workspace, [WXCLI / rel for rel in CASES[1:]])
    assert not rest.failed
    new = {Path(f.file).name: f.new for f in rest.files}
    assert new == {"12345678@chatroom.yaml": 0, "12345678@chatroom.md": 0, "12345678@chatroom.txt": 0,
                   "history_v0.2_wxid_example01.json": 4, "new-messages.json": 1, "new-messages_v0.2.json": 1}
    assert workspace.count_messages() == 21 + 4 + 1 + 1
    # Sender ids stay those of the JSON export, which came first.
    assert workspace.db.execute("SELECT count(*) FROM messages WHERE sender LIKE 'name:%'").fetchone()[0] == 0


def test_quote_resolves_against_earlier_imports(workspace):
    ingest_paths(workspace, [WXCLI / "new-messages.json"])  # holds 提醒: 带伞 and the group's 林老师 message
    ingest_paths(workspace, [WXCLI / "new-messages_v0.2.json"])  # the private quote of it
    rows = dict(workspace.db.execute("SELECT text, id FROM messages").fetchall())
    reply = workspace.db.execute("SELECT reply_to FROM messages WHERE text = '好的'").fetchone()[0]
    assert reply == rows["提醒: 带伞"]


def test_quotes_of_multiline_messages_resolve_within_a_file(workspace):
    ingest_paths(workspace, [WXCLI / "12345678@chatroom.json"])
    replies = dict(workspace.db.execute("SELECT text, reply_to FROM messages WHERE kind = 'quote'").fetchall())
    texts = dict(workspace.db.execute("SELECT id, text FROM messages").fetchall())
    assert texts[replies["十点"]] == "明天几点见？\n带上书"  # quoted as "明天几点见？ 带上书"
    assert texts[replies["同意"]] == "这本书值得精读，第二章尤其好"


def test_members_file_keys_markdown_senders_on_usernames(workspace, tmp_path):
    names = load_names(MEMBERS)
    assert names == {"wxid_example02": "阿周", "wxid_example01": "林老师", "wxid_example03": "小王"}
    report = ingest_paths(workspace, [WXCLI / "12345678@chatroom.md"], names_files=[str(MEMBERS)])
    assert not report.failed
    senders = dict(workspace.db.execute("SELECT sender_name, sender FROM messages").fetchall())
    assert senders["阿周"] == "wxid_example02" and senders["林老师"] == "wxid_example01"
    assert senders["小林"] == "name:小林"  # the old group card is not in today's member list


def test_members_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "members.json"
    bad.write_text('[\n  {"display": "阿周", "username": "wxid_example02"},\n  {"display": "无名"}\n]', encoding="utf-8")
    with pytest.raises(IngestError, match=r"members.json:3: .*username, display"):
        load_names(bad)


def test_markdown_without_username_in_the_name_is_reported(tmp_path):
    path = tmp_path / "读书会.md"
    path.write_bytes((WXCLI / "12345678@chatroom.md").read_bytes())
    _, messages, issues = read_file(path)
    assert {m.chat for m in messages} == {"读书会"}
    assert [i.line for i in issues] == [1] and "name the file after the username" in issues[0].message
    # A --names file that names the chat (wx contacts --json) supplies the username instead.
    _, messages, issues = read_file(path, names={GROUP: "读书会"})
    assert {m.chat for m in messages} == {GROUP} and issues == []


def test_markdown_and_txt_that_are_cut_off_say_so(tmp_path):
    text = (WXCLI / "12345678@chatroom.md").read_text(encoding="utf-8")
    cut = tmp_path / f"{GROUP}.md"
    cut.write_text(text[: text.index("### 2026-05-01 09:45")] + "这一行不属于任何消息\n", encoding="utf-8")
    _, messages, issues = read_file(cut)
    assert len(messages) == 10
    assert [i.message[:40] for i in issues] == ["expected a `### YYYY-MM-DD HH:MM` messag",
                                                "the header says 21 messages, the file ho"]
    assert issues[0].line == text[: text.index("### 2026-05-01 09:45")].count("\n") + 1
    txt = (WXCLI / "12345678@chatroom.txt").read_text(encoding="utf-8")
    cut_txt = tmp_path / f"{GROUP}.txt"
    cut_txt.write_text(txt[: txt.index("[2026-05-01 09:45]")], encoding="utf-8")
    _, messages, issues = read_file(cut_txt)
    assert len(messages) == 10 and "the header says 21 messages, the file holds 10" in issues[0].message


def test_a_cut_off_export_object_imports_nothing(workspace, tmp_path):
    text = (WXCLI / "12345678@chatroom.json").read_text(encoding="utf-8")
    path = tmp_path / f"{GROUP}.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    report = ingest_paths(workspace, [path])
    assert report.failed and "wx-cli" in report.failed[0].error and "line " in report.failed[0].error
    assert "truncated" in report.failed[0].error and workspace.count_messages() == 0


def test_bad_yaml_names_its_line(tmp_path):
    path = tmp_path / f"{GROUP}.yaml"
    path.write_text((WXCLI / "12345678@chatroom.yaml").read_text(encoding="utf-8").replace(
        "  local_id: 102\n", "  local_id: [102\n"), encoding="utf-8")
    reader = next(r for r in readers() if r.name == "wxcli")
    src = _source(path)
    assert reader.sniff(src)
    with pytest.raises(UnreadableFile, match=r"^line \d+: expected wx-cli YAML"):
        list(reader.read(src, ReadContext(src, SHANGHAI)))


def test_a_history_array_without_a_username_in_its_name_is_refused(tmp_path):
    path = tmp_path / "history.json"
    path.write_bytes((WXCLI / "history_v0.2_wxid_example01.json").read_bytes())
    reader = next(r for r in readers() if r.name == "wxcli")
    src = _source(path)
    with pytest.raises(UnreadableFile, match="name the file after the chat username"):
        list(reader.read(src, ReadContext(src, SHANGHAI)))


def test_formats_lists_wxcli():
    result = CliRunner().invoke(main, ["formats"])
    assert result.exit_code == 0 and "wxcli" in result.output and "wx-cli" in result.output


# -- the quote becomes a reply link the thread stage uses ---------------------------------------------------------

def test_quote_becomes_the_thread_parent(tmp_path):
    from chendian.pipeline import run_stages

    t = 1777599000
    lin = dict(username="wxid_example01", contact_display="林同学", group_nickname="小林")
    zhou = dict(username="wxid_example02", contact_display="周老师", group_nickname="阿周")
    chat = [message(t, "小林", "周末读书会在哪里举行？\n需要带什么", local_id=1, **lin),
            message(t + 20, "阿周", "我先去吃饭了", local_id=2, **zhou),
            message(t + 40, "小林", "有人知道停车场在哪吗", local_id=3, **lin),
            message(t + 60, "阿周", "今天天气不错", local_id=4, **zhou),
            message(t + 90, "阿周", "[引用] 在图书馆三楼，带上笔记本\n  ↳ 小林: 周末读书会在哪里举行？ 需要带什么",
                    "链接/文件", local_id=5, **zhou)]
    path = tmp_path / f"{GROUP}.json"
    path.write_text(to_json(history(GROUP, "读书会", True, chat)), encoding="utf-8")
    with Workspace(tmp_path / "ws", create=True) as ws:
        assert not ingest_paths(ws, [path]).failed
        report = run_stages(ws, ["segment", "embed", "thread"], quiet=True)
        assert [s.status for s in report.stages] == ["ok", "ok", "ok"], [s.note for s in report.stages]
        ids = {r["text"]: r["id"] for r in ws.db.execute("SELECT id, text FROM messages")}
        quoting = ids["在图书馆三楼，带上笔记本"]
        asked = ids["周末读书会在哪里举行？\n需要带什么"]
        assert ws.db.execute("SELECT reply_to FROM messages WHERE id = ?", (quoting,)).fetchone()[0] == asked
        row = ws.db.execute("SELECT parent_id, thread_id FROM message_threads WHERE message_id = ?", (quoting,)).fetchone()
        assert row["parent_id"] == asked
        assert row["thread_id"] == ws.db.execute("SELECT thread_id FROM message_threads WHERE message_id = ?",
                                                 (asked,)).fetchone()[0]


# -- property: every layout of the same random chat gives the same ids ----------------------------------------------

_word = st.text(alphabet=st.characters(whitelist_categories=("Lo", "Ll", "Lu", "Nd"), whitelist_characters=" ，。？！>"),
                min_size=1, max_size=12).filter(lambda s: s.strip() and not s.startswith(">"))
_content = st.one_of(st.lists(_word, min_size=1, max_size=3).map("\n".join), st.sampled_from(["收到", "好的", "+1"]))
_chat = st.tuples(
    st.booleans(),  # a group?
    st.lists(st.tuples(st.integers(0, 3 * 86400), st.integers(0, 3), _content), min_size=1, max_size=12),
)
BASE = int(datetime(2026, 5, 1, tzinfo=SHANGHAI).timestamp())


def _render(is_group: bool, rows) -> dict:
    members = [("wxid_a", "小林"), ("wxid_b", "阿周"), ("wxid_c", "老吴"), ("wxid_d", "小王")]
    messages = []
    for i, (offset, who, content) in enumerate(sorted(rows, key=lambda r: r[0])):
        if is_group:
            username, label = members[who]
            messages.append(message(BASE + offset, label, content, local_id=i, username=username))
        else:  # the partner's messages carry no sender; yours carry your name
            messages.append(message(BASE + offset, "我" if who % 2 else "", content, local_id=i))
    return history("12345678@chatroom" if is_group else "wxid_partner", "读书会" if is_group else "林同学",
                   is_group, messages)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chat=_chat)
def test_every_layout_of_a_chat_gives_the_same_ids(tmp_path_factory, chat):
    tmp = tmp_path_factory.mktemp("wx")
    data = _render(*chat)
    username = data["username"]
    files = {
        "json": (f"{username}.json", to_json(data)),
        "md": (f"{username}.md", to_markdown(data) + "\n"),
        "txt": (f"{username}.txt", to_txt(data)),
        "feed": ("feed.json", to_json(feed([(username, data["chat"], data["is_group"], data["messages"])]))),
    }
    ids = {}
    for layout, (name, text) in files.items():
        (tmp / name).write_text(text, encoding="utf-8")
        reader, messages, issues = read_file(tmp / name)
        assert reader == "wxcli" and issues == [], (layout, issues)
        assert [m.text for m in messages] == [m["content"] for m in data["messages"]], layout
        ids[layout] = [m.id for m in messages]
    assert ids["md"] == ids["json"] == ids["txt"] == ids["feed"]
    with Workspace(tmp / "ws", create=True) as ws:
        report = ingest_paths(ws, [tmp / name for name, _ in files.values()])
        assert not report.failed and report.new == len(data["messages"]) == ws.count_messages()


def test_a_feed_that_splits_a_minute_drops_the_repeat_there():
    """The documented collision: the same text on the same side in one minute, split between two feed runs."""
    t = BASE + 9 * 3600
    first = [message(t + 10, "小林", "收到", username="wxid_a")]
    second = [message(t + 50, "阿周", "收到", username="wxid_b")]
    ids = []
    for batch in (first, second):
        src = SourceFile(name="feed.json", data=to_json(feed([(GROUP, "读书会", True, batch)])).encode())
        ids += [m.id for m in next(r for r in readers() if r.name == "wxcli").read(src, ReadContext(src, SHANGHAI))]
    assert ids[0] == ids[1]
    # In one file (an export, or a feed holding the whole minute) they are two messages.
    src = SourceFile(name="feed.json", data=to_json(feed([(GROUP, "读书会", True, first + second)])).encode())
    both = [m.id for m in next(r for r in readers() if r.name == "wxcli").read(src, ReadContext(src, SHANGHAI))]
    assert len(set(both)) == 2 and both[0] == ids[0]


def test_text_layouts_read_after_leading_blank_lines_or_a_bare_title(tmp_path):
    # Found by bench/fuzz_readers.py: the title was matched on another line than the one read() sniffed.
    for name, text in (("a.md", "\n\n# 读书会（群聊）\n"), ("b.md", "# "), ("c.txt", "\n=== 读书会[群] (0 条) ===\n")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        reader, messages, _ = read_file(path, "wxcli")
        assert messages == []
