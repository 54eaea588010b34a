"""The publish stage: a static site from a workspace filled with a small Chinese group chat and stage rows.

The stage tables are written here with the DDL of notes/SCHEMA.md (the stages that own them may not exist
yet in this checkout); `make_site_workspace` is shared with the browser test and the benchmark.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chendian.ingest import ingest_paths
from chendian.model import stable_id
from chendian.pipeline import RunContext
from chendian.site import build
from chendian.pipeline.stages.publish import run
from chendian.site.browser_index import BrowserIndex, read_js_object, read_shard
from chendian.site.build import build_site
from chendian.store import Workspace

FIXTURE = Path(__file__).parent / "fixtures" / "site"
CHAT = "rd-group"
CHAT_NAME = "研发部技术交流群"

# The DDL of notes/SCHEMA.md, for the tables the site reads.

# Conversations of the fixture, by the chat's own message ids: (topic, digest, message ids).
THREADS = [
    ("finance", "报销在 OA 里提交，纸质发票交前台。", ["1", "2", "3", "4"]),
    ("finance", None, ["5", "6"]),
    ("it", "VPN 证书过期：下载新证书并重启客户端。", ["7", "8", "9"]),
    ("it", None, ["10", "11", "12"]),
    ("hr", "年假在 HR 系统申请。", ["13", "14"]),
    ("hr", None, ["15"]),
    ("hr", None, ["16", "17", "18", "19", "20"]),
    ("it", None, ["21"]),
    ("finance", None, ["22", "23", "24"]),
]
TOPICS = {"finance": ("报销与财务", ["报销", "发票", "到账"]), "it": ("IT 支持", ["VPN", "证书", "代码"]),
          "hr": ("人事与假期", ["年假", "工资条", "门禁卡"])}
# Questions: (question id, [(answer ids, acknowledged)]).
QAS = [
    ("1", [(["2"], True)]),
    ("5", [(["6"], False)]),
    ("7", [(["8"], True)]),
    ("10", [(["11"], False), (["12"], False)]),
    ("13", [(["14"], False)]),
    ("15", []),
    ("16", [(["17"], False), (["19"], False)]),  # the first answer was recalled
    ("21", []),
    ("22", [(["23"], True)]),
]
# FAQ entries: (question ids merged, canonical question, answer).
ENTRIES = [
    (["1", "22"], "报销流程怎么走？", "在 OA 提交：OA → 财务 → 费用报销，附发票原件；金额超过 5000 需部门总监审批。"),
    (["5"], "报销多久到账？", "审批完大约 5 个工作日，打到工资卡。加急联系财务 +86 139-8765-4321。"),
    (["7"], "VPN 连不上，提示证书过期怎么办？", "先去 https://it.example.com/vpn 下载新证书，导入后重启客户端。"),
    (["10"], "<script>window.__pwned=1</script> 怎么在群里发代码片段？",
     "用三个反引号包起来，比如 <img src=x onerror=\"window.__pwned=1\"> 这样。[模板](javascript:window.__pwned=1)"),
    (["13"], "請問年假怎麼申請？", "在 HR 系统里点“请假申请”，假期类型选年假，直属领导审批即可。"),
    (["16"], "工资条在哪里看？", "内部薪资表链接 https://secret.example.com/salary 密码123456"),  # stale: from a recalled message
]
WEEKLY = """## 本周热点

- **报销**：@张伟 问了报销流程，李娜 给出了 OA 路径。
- 内部薪资表链接 https://secret.example.com/salary 密码123456
- 有事找陈静 13812345678
"""


def insert_thread(db, tid: str, chat: str, first_ts: int, last_ts: int, size: int, root_id: str,
                  topic_id: str | None, digest: str | None) -> None:
    """A conversation as the thread, topics and summarize stages would write it."""
    db.execute("INSERT OR REPLACE INTO threads VALUES (?, ?, ?, ?, ?, ?)", (tid, chat, first_ts, last_ts, size, root_id))
    if topic_id is not None:
        db.execute("INSERT OR REPLACE INTO topic_members (thread_id, topic_id) VALUES (?, ?)", (tid, topic_id))
    if digest is not None:
        db.execute("INSERT OR REPLACE INTO thread_digests (thread_id, chat, digest) VALUES (?, ?, ?)",
                   (tid, chat, digest))


def _ingest_fixture(ws: Workspace) -> dict[str, dict]:
    report = ingest_paths(ws, [FIXTURE / "chat.jsonl"], chat_name=CHAT_NAME)
    assert not report.failed, report.failed
    rows = ws.db.execute("SELECT id, platform_id, ts, sender, sender_name, text FROM messages WHERE chat = ?", (CHAT,))
    return {r["platform_id"]: dict(r) for r in rows}


def fill_stages(ws: Workspace, by_pid: dict[str, dict]) -> None:
    """Stage rows as the real stages would write them for the fixture chat."""
    db = ws.db
    thread_of: dict[str, str] = {}
    with ws.transaction():
        ws.upsert_chat(CHAT, CHAT_NAME, "generic")
        for tid, (label, keywords) in TOPICS.items():
            size = sum(1 for t in THREADS if t[0] == tid)
            db.execute("INSERT OR REPLACE INTO topics VALUES (?, ?, ?, ?)",
                       (tid, label, json.dumps(keywords, ensure_ascii=False), size))
        for topic, digest, pids in THREADS:
            msgs = [by_pid[p] for p in pids]
            thread_id = stable_id(CHAT, msgs[0]["id"], prefix="t")
            for i, m in enumerate(msgs):
                thread_of[m["platform_id"]] = thread_id
                db.execute("INSERT OR REPLACE INTO message_threads VALUES (?, ?, ?, ?)",
                           (m["id"], CHAT, thread_id, msgs[i - 1]["id"] if i else None))
            insert_thread(db, thread_id, CHAT, msgs[0]["ts"], msgs[-1]["ts"], len(msgs), msgs[0]["id"], topic, digest)
        qa_ids = {}
        answers_by = {}
        for qpid, answers in QAS:
            q = by_pid[qpid]
            qa_id = stable_id(q["id"], prefix="q")
            qa_ids[qpid] = qa_id
            rows = []
            for pids, ack in answers:
                a = by_pid[pids[0]]
                rows.append({"message_ids": [by_pid[p]["id"] for p in pids], "sender": a["sender"],
                             "sender_name": a["sender_name"], "text": "\n".join(by_pid[p]["text"] for p in pids),
                             "score": 0.9 if ack else 0.6, "acknowledged": ack})
                answers_by.setdefault(a["sender"], [a["sender_name"], 0, 0])
                answers_by[a["sender"]][1] += 1
                answers_by[a["sender"]][2] += int(ack)
            db.execute("INSERT OR REPLACE INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (qa_id, CHAT, thread_of[qpid], q["id"], q["text"], q["sender"], q["sender_name"], q["ts"],
                        json.dumps(rows, ensure_ascii=False), 0.8))
        for qpids, question, answer in ENTRIES:
            first = by_pid[qpids[0]]
            answerers = {}
            for qpid in qpids:
                for pids, _ in dict(QAS)[qpid]:
                    a = by_pid[pids[0]]
                    answerers.setdefault(a["sender"], {"sender": a["sender"], "name": a["sender_name"], "count": 0})
                    answerers[a["sender"]]["count"] += 1
            variants = [by_pid[p]["text"] for p in qpids]
            topic = next(t[0] for t in THREADS if qpids[0] in t[2])
            db.execute("INSERT OR REPLACE INTO faq_entries (id, question, answer, answerers, variants, count, topic_id, qa_ids, thread_ids, first_ts, last_ts, answered, hidden, pinned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
                       (stable_id(first["id"], prefix="f"), question, answer,
                        json.dumps(list(answerers.values()), ensure_ascii=False),
                        json.dumps(variants, ensure_ascii=False), len(qpids), topic,
                        json.dumps([qa_ids[p] for p in qpids]), json.dumps(sorted({thread_of[p] for p in qpids})),
                        first["ts"], by_pid[qpids[-1]]["ts"], 1))
        for sender, (name, n, ack) in answers_by.items():
            db.execute("INSERT OR REPLACE INTO contributors VALUES (?, ?, ?, ?, ?, ?)",
                       (sender, name, 0, n, ack, json.dumps([])))
        db.execute("INSERT OR REPLACE INTO weekly_digests VALUES (?, ?, ?)", (CHAT, "2024-W10", WEEKLY))


def new_workspace(root: Path, names: str = "real") -> Workspace:
    """A fresh workspace whose site shows names as `names` (real | pseudonym | initials)."""
    ws = Workspace(root, create=True)
    if names != "real":
        cfg = ws.path("chendian.toml")
        cfg.write_text(cfg.read_text(encoding="utf-8").replace('names = "real"', f'names = "{names}"'), encoding="utf-8")
        ws.close()
        ws = Workspace(root)
    return ws


def make_site_workspace(root: Path, names: str = "real") -> Workspace:
    """A workspace with the fixture chat ingested and every stage table the site reads filled."""
    ws = new_workspace(root, names)
    fill_stages(ws, _ingest_fixture(ws))
    return ws


def entry_id(ws: Workspace, pid: str) -> str:
    mid = ws.db.execute("SELECT id FROM messages WHERE chat = ? AND platform_id = ?", (CHAT, pid)).fetchone()[0]
    return stable_id(mid, prefix="f")


def thread_id(ws: Workspace, pid: str) -> str:
    mid = ws.db.execute("SELECT id FROM messages WHERE chat = ? AND platform_id = ?", (CHAT, pid)).fetchone()[0]
    return ws.db.execute("SELECT thread_id FROM message_threads WHERE message_id = ?", (mid,)).fetchone()[0]


def site_text(site: Path) -> dict[str, str]:
    # The page keys file's values are hex digests, where 11 digits in a row turn up by chance: blanked there.
    return {str(p.relative_to(site)): (re.sub(r'"[0-9a-f]{32}"', '""', p.read_text(encoding="utf-8"))
                                       if p.name == ".chendian-pages" else p.read_text(encoding="utf-8"))
            for p in site.rglob("*") if p.is_file()}


# Anything that still looks like a phone number or an e-mail address after publishing.
PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@pytest.fixture
def site_ws(tmp_path):
    ws = make_site_workspace(tmp_path / "ws")
    yield ws
    ws.close()


# -- tests ---------------------------------------------------------------------------------------------------

def test_builds_every_page_with_relative_links(site_ws):
    counts = build_site(site_ws)
    site = site_ws.path("site")
    assert counts["entries"] == len(ENTRIES) and counts["threads"] == len(THREADS)
    assert counts["topics"] == 3 and counts["weeks"] == 1 and counts["unanswered"] == 2
    for rel in ("index.html", "search.html", "ops.html", "search-index.js", "assets/style.css", "assets/search.js",
                "topics/index.html", "weeks/index.html", "people/index.html"):
        assert (site / rel).is_file(), rel
    eid = entry_id(site_ws, "1")
    assert (site / "entries" / f"{eid}.html").is_file()
    # every href/src resolves inside the site (relative, so file:// works) or is an http(s) link from chat
    for rel, html in site_text(site).items():
        if not rel.endswith(".html"):
            continue
        for url in re.findall(r'(?:href|src|action)="([^"]*)"', html):
            if url.startswith(("http://", "https://", "#")):
                continue
            assert not url.startswith("/"), f"{rel}: absolute link {url}"
            target = (site / rel).parent / url.split("#")[0].split("?")[0]
            assert target.resolve().is_file(), f"{rel}: broken link {url}"


def test_an_asker_without_a_page_is_not_linked(site_ws):
    # Contributors who only asked (no answers) have no person page: the 待回答 lists show their name unlinked.
    asker = site_ws.db.execute("SELECT asker, asker_name FROM qas WHERE answers = '[]' LIMIT 1").fetchone()
    assert asker is not None
    site_ws.db.execute("INSERT OR REPLACE INTO contributors VALUES (?, ?, 1, 0, 0, '[]')", (asker[0], asker[1]))
    site_ws.db.commit()
    build_site(site_ws)
    site = site_ws.path("site")
    linked = [(rel, url) for rel, html in site_text(site).items() if rel.endswith(".html")
              for url in re.findall(r'href="([^"#]*people/[^"#]+\.html)"', html)]
    assert linked  # the answerers' pages are linked
    for rel, url in linked:
        assert ((site / rel).parent / url).resolve().is_file(), f"{rel}: broken link {url}"
    assert asker[1] in (site / "ops.html").read_text(encoding="utf-8")


def test_entry_page_shows_answers_variants_count_and_sources(site_ws):
    build_site(site_ws)
    site = site_ws.path("site")
    html = (site / "entries" / f"{entry_id(site_ws, '1')}.html").read_text(encoding="utf-8")
    assert "报销流程怎么走？" in html
    assert "问过 2 次" in html
    assert "报销流程是什么？需要准备哪些材料" in html  # a variant
    assert "李娜" in html and "刘洋" in html  # authors of the best answers
    assert "提问者确认有用" in html
    assert f"../threads/{thread_id(site_ws, '1')}.html" in html and f"../threads/{thread_id(site_ws, '22')}.html" in html
    thread = (site / "threads" / f"{thread_id(site_ws, '1')}.html").read_text(encoding="utf-8")
    assert "报销在 OA 里提交" in thread  # digest
    assert 'class="quote"' in thread and "李娜：在OA里提交" in thread  # the quote of message 3


def test_an_entry_page_leaves_out_whom_the_answer_was_addressed_to(site_ws):
    # WeChat: "@张伟 在 HR 系统里…" and a closing "…即可。@张伟?@李娜?" (its thin space exported as "?")
    eid = entry_id(site_ws, "13")
    site_ws.db.execute("UPDATE faq_entries SET answer = ? WHERE id = ?",
                       ("@张伟 在 HR 系统里点“请假申请”，假期类型选年假。@张伟?@李娜?\n@张伟", eid))
    site_ws.db.commit()
    build_site(site_ws)
    html = (site_ws.path("site") / "entries" / f"{eid}.html").read_text(encoding="utf-8")
    answer = html[html.index("在 HR 系统里点"):][:200]
    assert "假期类型选年假。" in answer and "@" not in answer


def test_ops_page_lists_unanswered_questions_oldest_first(site_ws):
    build_site(site_ws)
    html = (site_ws.path("site") / "ops.html").read_text(encoding="utf-8")
    assert "消灭零回复" in html
    first, second = html.index("新员工的门禁卡去哪里领？"), html.index("打印机驱动在哪里下载？")
    assert first < second
    assert "报销流程怎么走" not in html


def test_open_questions_are_worded_as_entries_are(site_ws):
    # the 待回答 list (and the no-result page's open questions) shows a question as an entry's title does: without
    # the @mention it was addressed with, the vocative or a trailing sticker; the conversation keeps the original
    site_ws.db.execute("UPDATE qas SET question = ? WHERE question LIKE '%门禁卡去哪里领%'",
                       ("@李娜 王老师，新员工的门禁卡去哪里领？[捂脸]",))
    site_ws.db.commit()
    build_site(site_ws)
    ops = (site_ws.path("site") / "ops.html").read_text(encoding="utf-8")
    item = ops[ops.index("门禁卡去哪里领") - 40:][:120]
    assert "新员工的门禁卡去哪里领？" in item and "@李娜" not in item and "[捂脸]" not in item and "王老师" not in item
    index = (site_ws.path("site") / "search-index.js").read_text(encoding="utf-8")
    assert "新员工的门禁卡去哪里领？" in index and "[捂脸]" not in index


def test_open_questions_say_whether_anyone_took_them_up(site_ws):
    def badge() -> str:
        build_site(site_ws)
        ops = (site_ws.path("site") / "ops.html").read_text(encoding="utf-8")
        item = ops[ops.index("新员工的门禁卡去哪里领？"):]
        return item[:item.index("</li>")]

    assert "无人回复" in badge()  # alone in its conversation
    # 孙悦's two messages join the question's conversation: one person took it up, and the answer may be there
    conversation = thread_id(site_ws, "15")
    ids = [site_ws.db.execute("SELECT id FROM messages WHERE platform_id = ?", (p,)).fetchone()[0] for p in ("16", "17", "19")]
    site_ws.db.executemany("UPDATE message_threads SET thread_id = ? WHERE message_id = ?",
                           [(conversation, mid) for mid in ids[1:]])
    site_ws.db.commit()
    assert "讨论里 1 人接过话" in badge() and "无人回复" not in badge()
    # …unless someone else asked the next question there first: those replies are theirs
    site_ws.db.execute("UPDATE message_threads SET thread_id = ? WHERE message_id = ?", (conversation, ids[0]))
    site_ws.db.execute("UPDATE qas SET thread_id = ? WHERE question_id = ?", (conversation, ids[0]))
    site_ws.db.commit()
    assert "无人回复" in badge()


def test_the_ops_page_leaves_out_what_an_entry_answers_unless_every_answer_was_recalled(site_ws):
    build_site(site_ws)
    assert "工资条在哪里看？" not in (site_ws.path("site") / "ops.html").read_text(encoding="utf-8")  # 19 answers it
    # the answer that was not recalled goes too: the entry's answer came from a recalled message, so nobody answered
    qa_id = site_ws.db.execute("SELECT id FROM qas WHERE question_id = (SELECT id FROM messages WHERE platform_id = '16')"
                               ).fetchone()[0]
    answers = json.loads(site_ws.db.execute("SELECT answers FROM qas WHERE id = ?", (qa_id,)).fetchone()[0])
    site_ws.db.execute("UPDATE qas SET answers = ? WHERE id = ?", (json.dumps(answers[:1], ensure_ascii=False), qa_id))
    site_ws.db.commit()
    build_site(site_ws)
    assert "工资条在哪里看？" in (site_ws.path("site") / "ops.html").read_text(encoding="utf-8")


def test_chat_text_is_escaped_everywhere(site_ws):
    build_site(site_ws)
    for rel, text in site_text(site_ws.path("site")).items():
        if rel.endswith(".html"):
            assert "<script>window" not in text, rel
            assert "<img" not in text, rel
            assert not re.search(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", text, re.I), rel
    thread = (site_ws.path("site") / "threads" / f"{thread_id(site_ws, '10')}.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in thread
    index = (site_ws.path("site") / "search-index.js").read_text(encoding="utf-8")
    assert index.startswith("window.CHENDIAN_INDEX = ")
    json.loads(index[len("window.CHENDIAN_INDEX = "):].rstrip().rstrip(";"))  # data, not code
    shards = sorted((site_ws.path("site") / "search").rglob("*.js"))
    assert {p.parent.name for p in shards} == {"t", "m", "d"}
    for path in shards:  # each one a registration call with JSON data, nothing else
        assert read_shard(path)[0] == path.parent.name


def test_personal_numbers_masked_and_recalled_messages_never_published(site_ws):
    build_site(site_ws)
    pages = site_text(site_ws.path("site"))
    everything = "\n".join(pages.values())
    assert not PHONE_RE.findall(everything)
    assert not EMAIL_RE.findall(everything)
    assert "11010519491231002X" not in everything and "6228 4804 0256 4890 018" not in everything
    assert "138****5678" in everything and "[身份证号已隐藏]" in everything and "[银行卡号已隐藏]" in everything
    # the recalled message (and the stale FAQ answer and weekly digest that quoted it) appears nowhere
    assert "secret.example.com" not in everything and "密码123456" not in everything
    entry = pages[f"entries/{entry_id(site_ws, '16')}.html"]
    assert "我的薪资" in entry  # the answer that was not recalled is still there
    assert "撤回了一条消息" not in everything  # the recall notice itself is not a message either


def test_names_pseudonym_consistent_and_sender_ids_never_published(tmp_path):
    ws = make_site_workspace(tmp_path / "ws", names="pseudonym")
    try:
        build_site(ws)
        pages = site_text(ws.path("site"))
    finally:
        ws.close()
    everything = "\n".join(pages.values())
    for real in ("张伟", "李娜", "刘洋", "孙悦", "黃小明"):
        assert real not in everything, real
    assert "wxid_" not in everything  # platform ids are private too
    from chendian.privacy import pseudonym

    lina = pseudonym("wxid_lina")
    pages_with_lina = [rel for rel, t in pages.items() if lina in t]
    assert len(pages_with_lina) >= 4  # entry pages, thread pages, people pages, weekly digest …
    assert pseudonym("wxid_zhangwei") in pages["weeks/" + next(p.split("/")[1] for p in pages if p.startswith("weeks/2024"))]


def test_names_as_initials(tmp_path):
    ws = make_site_workspace(tmp_path / "ws", names="initials")
    try:
        build_site(ws)
        entry = (ws.path("site") / "entries" / f"{entry_id(ws, '1')}.html").read_text(encoding="utf-8")
    finally:
        ws.close()
    assert "李娜" not in entry and re.search(r"LN·[0-9a-f]{2}", entry)


def test_failed_build_leaves_the_old_site(site_ws, monkeypatch):
    build_site(site_ws)
    site = site_ws.path("site")
    before = site_text(site)
    calls = {"n": 0}
    real_plain = build.plain

    def failing_plain(text):
        calls["n"] += 1
        if calls["n"] > 5:  # well into writing conversation pages
            raise RuntimeError("disk full")
        return real_plain(text)

    monkeypatch.setattr(build, "plain", failing_plain)
    site_ws.db.execute("UPDATE faq_entries SET question = '改过的问题' WHERE id = ?", (entry_id(site_ws, "1"),))
    with pytest.raises(RuntimeError, match="disk full"):
        build_site(site_ws)
    assert site_text(site) == before
    assert not [p for p in site.parent.iterdir() if p.name.startswith(".site-")]  # no half-built folder left
    monkeypatch.undo()
    build_site(site_ws)
    assert "改过的问题" in (site / "entries" / f"{entry_id(site_ws, '1')}.html").read_text(encoding="utf-8")


def test_stage_rebuilds_only_when_inputs_change(site_ws):
    rc = RunContext(quiet=True, stage="publish")
    first = run(site_ws, rc)
    assert first["entries"] == len(ENTRIES)
    assert run(site_ws, rc) == {"pages": 0, "unchanged": 1}
    site_ws.db.execute("UPDATE faq_entries SET hidden = 1 WHERE id = ?", (entry_id(site_ws, "5"),))
    again = run(site_ws, rc)
    assert again["entries"] == len(ENTRIES) - 1
    assert not (site_ws.path("site") / "entries" / f"{entry_id(site_ws, '5')}.html").exists()


def test_builds_before_later_stages_exist(workspace):
    ingest_paths(workspace, [FIXTURE / "chat.jsonl"])
    counts = build_site(workspace)
    assert counts["entries"] == 0 and counts["pages"] >= 6
    assert "还没有整理出的问题" in (workspace.path("site") / "index.html").read_text(encoding="utf-8")


def test_search_index_folds_traditional_characters(site_ws):
    build_site(site_ws)
    index = BrowserIndex(site_ws.path("site"))
    pairs = index.t2s
    assert pairs["請"] == "请" and pairs["報"] == "报" and pairs["銷"] == "销"
    assert {d["u"] for d in index.docs} == {f"entries/{entry_id(site_ws, p)}.html" for p, *_ in
                                             [(e[0][0],) for e in ENTRIES]}
    # a question typed in traditional characters is found by its simplified form, and the other way round
    [(first, _)] = index.search("請問年假怎麼申請", 1, semantic=False)
    assert index.docs[first]["u"] == f"entries/{entry_id(site_ws, '13')}.html"
    [(first, _)] = index.search("年假怎么申请", 1, semantic=False)
    assert index.docs[first]["u"] == f"entries/{entry_id(site_ws, '13')}.html"


def synthesize_stages(ws: Workspace, thread_size: int = 20) -> None:
    """Stage rows derived mechanically from whatever messages the workspace holds (for real-data and bench runs):
    threads are runs of `thread_size` messages per chat, a message ending in ？ is a question answered by the next
    message from someone else, each answered question is a FAQ entry, and every chat-week gets a digest quoting
    its messages (so that every message's text reaches a published page)."""
    from datetime import datetime

    db = ws.db
    rows = db.execute("SELECT id, chat, ts, sender, sender_name, kind, text FROM messages ORDER BY chat, ts, rowid").fetchall()
    threads: list[list] = []
    for r in rows:
        if not threads or threads[-1][0]["chat"] != r["chat"] or len(threads[-1]) >= thread_size:
            threads.append([])
        threads[-1].append(r)
    weeks: dict[tuple[str, str], list[str]] = {}
    with ws.transaction():
        for msgs in threads:
            tid = stable_id(msgs[0]["chat"], msgs[0]["id"], prefix="t")
            db.executemany("INSERT OR REPLACE INTO message_threads VALUES (?, ?, ?, ?)",
                           [(m["id"], m["chat"], tid, None) for m in msgs])
            insert_thread(db, tid, msgs[0]["chat"], msgs[0]["ts"], msgs[-1]["ts"], len(msgs), msgs[0]["id"], None,
                        _snippet_text(msgs))
            for i, q in enumerate(msgs):
                iso = datetime.fromtimestamp(q["ts"]).isocalendar()
                weeks.setdefault((q["chat"], f"{iso[0]}-W{iso[1]:02d}"), []).append(f"- {q['sender_name']}：{q['text']}")
                if q["kind"] != "text" or not q["text"].rstrip().endswith(("?", "？")):
                    continue
                answer = next((a for a in msgs[i + 1:] if a["sender"] != q["sender"] and a["kind"] == "text"), None)
                answers = [] if answer is None else [{"message_ids": [answer["id"]], "sender": answer["sender"],
                                                      "sender_name": answer["sender_name"], "text": answer["text"],
                                                      "score": 0.5, "acknowledged": False}]
                qa_id = stable_id(q["id"], prefix="q")
                db.execute("INSERT OR REPLACE INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (qa_id, q["chat"], tid, q["id"], q["text"], q["sender"], q["sender_name"], q["ts"],
                            json.dumps(answers, ensure_ascii=False), 0.5))
                if answer is not None:
                    db.execute("INSERT OR REPLACE INTO faq_entries (id, question, answer, answerers, variants, count, topic_id, qa_ids, thread_ids, first_ts, last_ts, answered, hidden, pinned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
                               (stable_id(q["id"], prefix="f"), q["text"], answer["text"],
                                json.dumps([{"sender": answer["sender"], "name": answer["sender_name"], "count": 1}],
                                           ensure_ascii=False), "[]", 1, None, json.dumps([qa_id]),
                                json.dumps([tid]), q["ts"], q["ts"], 1))
        for (chat, week), lines in weeks.items():
            db.execute("INSERT OR REPLACE INTO weekly_digests VALUES (?, ?, ?)", (chat, week, "\n".join(lines[:200])))


def _snippet_text(msgs) -> str:
    return "；".join(m["text"][:60] for m in msgs[:3])


def test_bad_stage_rows_are_warned_not_fatal(site_ws):
    site_ws.db.execute("UPDATE qas SET answers = '{\"oops\": 1}' WHERE id = (SELECT min(id) FROM qas)")
    site_ws.db.execute("UPDATE faq_entries SET variants = 'not json' WHERE id = ?", (entry_id(site_ws, "7"),))
    rc = RunContext(quiet=True, stage="publish")
    counts = build_site(site_ws, rc=rc)
    assert counts["entries"] == len(ENTRIES)
    assert any("expected a JSON list, got dict" in w for w in rc.warnings)
    assert any(f"faq_entries {entry_id(site_ws, '7')} variants: not valid JSON" in w for w in rc.warnings)


# -- semantic search's vector file (chendian/site/student.py) -------------------------------------------------

def test_small_workspace_ships_no_vector_file(site_ws):
    counts = build_site(site_ws)
    site = site_ws.path("site")
    assert counts["vector_bytes"] == 0 and not (site / "search-vectors.js").exists()
    assert "vectors" not in BrowserIndex(site).manifest  # search.js loads nothing


def test_vector_file_is_deterministic_and_matches_the_index(tmp_path):
    from semantic_site import OFFICE_ENTRIES, make_office_workspace

    ws = make_office_workspace(tmp_path / "ws")
    try:
        first = build_site(ws, tmp_path / "a")
        second = build_site(ws, tmp_path / "b")
    finally:
        ws.close()
    assert first["vector_training_texts"] >= 200 and first["vector_bytes"] > 0
    assert second["vector_bytes"] == first["vector_bytes"]
    search_files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "search").rglob("*.js"))
    for name in ("search-vectors.js", "search-index.js", *search_files):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    vectors = read_js_object(tmp_path / "a" / "search-vectors.js", "CHENDIAN_VECTORS")
    search = BrowserIndex(tmp_path / "a", vectors)
    assert search.manifest["vectors"] == "search-vectors.js" and vectors["n"] == search.n == len(OFFICE_ENTRIES)
    # every entry is found by its own question, semantic or not
    for d, doc in enumerate(search.docs):
        assert search.search(doc["q"], 1)[0][0] == d, doc["q"]


def test_vector_training_sample_is_fixed_by_content_not_arrival(tmp_path, monkeypatch):
    """Beyond MAX_TRAINING_TEXTS the student learns from a sample chosen by content (only the sample's vectors are
    read): the same chat imported in another order trains on the same texts, in the same order."""
    from semantic_site import OFFICE_CHAT, make_office_workspace

    from chendian.site import student

    monkeypatch.setattr(student, "MAX_TRAINING_TEXTS", 210)
    trained = []
    fit = student.fit_student
    monkeypatch.setattr(student, "fit_student", lambda texts, *a, **k: trained.append(list(texts)) or fit(texts, *a, **k))
    lines = OFFICE_CHAT.read_text(encoding="utf-8").splitlines()
    reversed_chat = tmp_path / "office-chat.jsonl"
    reversed_chat.write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")
    for name, chat in (("in-order", OFFICE_CHAT), ("reversed", reversed_chat)):
        ws = make_office_workspace(tmp_path / name, chat_file=chat)
        try:
            counts = build_site(ws, tmp_path / f"site-{name}")
        finally:
            ws.close()
        assert counts["vector_bytes"] > 0
    assert len(trained) == 2 and trained[0] == trained[1]
    assert 210 < len(trained[0]) < 210 + 40  # the sample, then the 12 entries' wordings


def test_vector_vocabulary_learns_only_published_text(tmp_path):
    """Names rewritten and numbers masked before the student sees a message: neither reaches the vocabulary."""
    from semantic_site import make_office_workspace

    ws = make_office_workspace(tmp_path / "ws", names="pseudonym")
    try:
        build_site(ws)
        vectors_js = ws.path("site", "search-vectors.js").read_text(encoding="utf-8")
    finally:
        ws.close()
    terms = set(json.loads(vectors_js[len("window.CHENDIAN_VECTORS = "):].rstrip().rstrip(";"))["terms"].split("\n"))
    assert "b显示" in terms and "u键" in terms  # the vocabulary is there …
    assert not {"b张伟", "b陈静", "w13912345678"} & terms  # … without the names and the phone number said twice


def test_python_terms_are_the_browsers():
    """student.browser_terms (a regex) against search.js terms() transcribed character by character."""
    import random

    from chendian.site.student import _browser_terms_slow, browser_fold, browser_terms

    samples = ["VPN 连不上，提示证书过期怎么办？", "ｖｐｎ證書過期", "wifi_5G密码是 abc123 吗", "第Ⅻ条〇々", "𠀀𠀁ab x²"]
    rnd = random.Random(3)
    pool = [chr(c) for c in [*range(0x20, 0x180), *range(0x3000, 0x3040), *range(0x4E00, 0x4E30),
                             *range(0xFF00, 0xFF60), 0x2E80, 0x2F00, 0x20000, 0xB2, 0x2160]]
    samples += ["".join(rnd.choice(pool) for _ in range(rnd.randrange(15))) for _ in range(3000)]
    for text in samples:
        folded = browser_fold(text, {"證": "证", "書": "书", "過": "过"})
        assert browser_terms(folded) == _browser_terms_slow(folded), text
