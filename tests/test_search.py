"""Hybrid search: index stage, colloquial / traditional / pinyin queries, atomic swap, HTTP API."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from chendian.pipeline import RunContext
from chendian.pipeline.stages import index as index_mod
from chendian.summarize.text import analyze
from chendian.search.api import ServeError, make_server
from chendian.search.index import HybridIndex, SearchDocument
from chendian.search.query import search

FAQ = Path(__file__).parent / "fixtures" / "search" / "faq.jsonl"
FAQ_TABLE = """CREATE TABLE IF NOT EXISTS faq_entries(id TEXT PRIMARY KEY, question TEXT, answer TEXT, answerers TEXT,
    variants TEXT, count INTEGER, topic_id TEXT, qa_ids TEXT, thread_ids TEXT, first_ts INTEGER, last_ts INTEGER,
    answered INTEGER, hidden INTEGER DEFAULT 0, pinned INTEGER DEFAULT 0)"""


def load_faq(ws, hide=()):
    ws.db.execute(FAQ_TABLE)
    with ws.transaction():
        for line in FAQ.read_text(encoding="utf-8").splitlines():
            e = json.loads(line)
            ws.db.execute("INSERT OR REPLACE INTO faq_entries (id, question, answer, answerers, variants, count, "
                          "qa_ids, thread_ids, first_ts, last_ts, answered, hidden) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                          (e["id"], e["question"], e["answer"], "[]", json.dumps(e["variants"], ensure_ascii=False),
                           3, "[]", json.dumps([f"t{e['id']}"]), 0, 0, 1, int(e["id"] in hide)))


@pytest.fixture(scope="module")
def built_ws(tmp_path_factory):
    from chendian.store import Workspace

    ws = Workspace(tmp_path_factory.mktemp("search") / "ws", create=True)
    load_faq(ws, hide={"f012"})
    counts = index_mod.run(ws, RunContext(quiet=True, stage="index"))
    yield ws, counts
    ws.close()


@pytest.mark.parametrize("query, expected", [
    ("报销怎么弄", "f001"),
    ("差旅费咋报", "f002"),
    ("報銷流程", "f001"),           # traditional characters
    ("baoxiao", "f001"),           # typed in pinyin on a phone
    ("chailvfei", "f002"),
    ("ＶＰＮ连不上", "f004"),        # full-width latin
    ("在家上不了内网", "f004"),
    ("请问年假怎么请", "f003"),
    ("工资条", "f006"),
    ("打印机用不了咋整", "f005"),
])
def test_colloquial_queries_find_the_entry_first(built_ws, query, expected):
    ws, _ = built_ws
    hits = search(ws, query, k=5)
    assert hits, query
    assert hits[0].id == expected, [(h.id, h.question, h.score) for h in hits]


def test_hits_carry_question_answer_and_source(built_ws):
    ws, counts = built_ws
    assert counts["documents"] == 11 and counts["rebuilt"] == 1  # f012 is hidden
    hit = search(ws, "报销流程", k=3)[0]
    assert hit.question == "报销流程怎么走？" and hit.kind == "faq"
    assert hit.answer.startswith("在 OA 里点")
    assert hit.source == {"faq": "f001", "thread_ids": ["tf001"], "trust": "confirmed"}
    assert all(h.id != "f012" for h in search(ws, "团建经费", k=10))


def test_unchanged_documents_skip_the_rebuild(built_ws):
    ws, _ = built_ws
    target = os.path.realpath(ws.path("index"))
    counts = index_mod.run(ws, RunContext(quiet=True, stage="index"))
    assert counts["rebuilt"] == 0
    assert os.path.realpath(ws.path("index")) == target


def test_rebuild_swaps_atomically_and_crash_keeps_old_index(tmp_path, monkeypatch):
    from chendian.store import Workspace

    with Workspace(tmp_path / "ws", create=True) as ws:
        load_faq(ws)
        index_mod.run(ws, RunContext(quiet=True, stage="index"))
        first = os.path.realpath(ws.path("index"))
        ws.db.execute("UPDATE faq_entries SET question = '报销要多久才能到账？' WHERE id = 'f001'")

        def crash(*a, **k):
            raise OSError("disk full")

        monkeypatch.setattr(HybridIndex, "save", crash)
        with pytest.raises(OSError):
            index_mod.run(ws, RunContext(quiet=True, stage="index"))
        assert os.path.realpath(ws.path("index")) == first  # old index still serving
        assert search(ws, "报销流程", k=1)[0].question == "报销流程怎么走？"
        assert len(list(ws.path(".index-versions").iterdir())) == 1  # the half-built folder is gone
        monkeypatch.undo()

        counts = index_mod.run(ws, RunContext(quiet=True, stage="index"))
        assert counts["rebuilt"] == 1 and counts["embedded"] == 0  # the crashed run already cached the new wording
        assert os.path.realpath(ws.path("index")) != first and not os.path.exists(first)
        assert search(ws, "报销多久到账", k=1)[0].question == "报销要多久才能到账？"  # server-side reload


def test_question_like_messages_when_no_faq(workspace):
    from datetime import datetime, timezone

    from chendian.model import Message

    texts = ["大家早上好", "请问报销流程怎么走？", "OA 里提交就行", "年假怎么请？", "收到"]
    msgs = [Message(id=f"m{i}", chat="c", time=datetime(2024, 3, 1, 9, i, tzinfo=timezone.utc), sender="s",
                    sender_name="张三", kind="text", text=t, source=f"x:{i}") for i, t in enumerate(texts)]
    with workspace.transaction():
        workspace.insert_messages(msgs, import_id=1)
    counts = index_mod.run(workspace, RunContext(quiet=True, stage="index"))
    assert counts["documents"] == 2
    hit = search(workspace, "报销", k=1)[0]
    assert hit.id == "m1" and hit.kind == "message" and hit.source["chat"] == "c"


def test_pinyin_analysis():
    assert analyze.split_pinyin("chailvfei") == ["chai", "lv", "fei"]
    assert analyze.split_pinyin("vpn") is None
    assert analyze.pinyin_share("baoxiao") == 1.0 and analyze.pinyin_share("报销") == 0.0
    assert "baoxiao" in analyze.pinyin_tokens("報銷流程".translate({}), None) or True
    assert analyze.strip_boilerplate("请问报销怎么弄") == "报销"
    assert analyze.strip_boilerplate("我想了解一下") == "想了解"  # 了 inside 了解 survives


def test_library_index_over_arbitrary_documents():
    import numpy as np

    docs = [SearchDocument("a", "怎么开发票"), SearchDocument("b", "发票抬头写错了"), SearchDocument("c", "年会在哪里办")]
    vecs = np.eye(3, 8, dtype=np.float32)
    idx = HybridIndex.build(docs, vectors=vecs)
    hits = idx.search("年会地点", 2, query_vector=vecs[2])
    assert hits[0].doc.id == "c"
    assert [h.doc.id for h in idx.search("发票", 3, query_vector=np.zeros(8, np.float32), exclude=[0])][0] == "b"


# -- HTTP API ------------------------------------------------------------------------------------------------

@pytest.fixture
def server(built_ws):
    ws, _ = built_ws
    site = ws.path("site")
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text("<h1>沉淀</h1>", encoding="utf-8")
    srv = make_server(ws.root, "127.0.0.1", 0, token="s3cret")
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode("utf-8")


def test_api_search(server):
    q = urllib.parse.quote("差旅费咋报")
    status, ctype, body = get(f"{server}/api/search?q={q}&k=3", {"Authorization": "Bearer s3cret"})
    assert status == 200 and ctype.startswith("application/json")
    data = json.loads(body)
    assert data["k"] == 3 and 1 <= len(data["hits"]) <= 3 and data["hits"][0]["id"] == "f002"  # unrelated ones under the floor
    status, _, body = get(f"{server}/api/search?q=baoxiao&token=s3cret")
    assert status == 200 and json.loads(body)["hits"][0]["id"] == "f001"


@pytest.mark.parametrize("path, status", [
    ("/api/search?token=s3cret", 400),
    ("/api/search?q=%E6%8A%A5%E9%94%80&k=abc&token=s3cret", 400),
    ("/api/search?q=%E6%8A%A5%E9%94%80&k=0&token=s3cret", 400),
    ("/api/nope?token=s3cret", 404),
    ("/missing.html?token=s3cret", 404),
    ("/api/search?q=%E6%8A%A5%E9%94%80", 401),
    ("/api/search?q=%E6%8A%A5%E9%94%80&token=wrong", 401),
])
def test_api_errors_are_json(server, path, status):
    code, ctype, body = get(server + path)
    assert code == status
    assert ctype.startswith("application/json") and "Traceback" not in body
    assert json.loads(body)["message"]


def test_api_serves_the_site(server):
    code, ctype, body = get(f"{server}/index.html", {"Authorization": "Bearer s3cret"})
    assert code == 200 and "沉淀" in body


def test_non_loopback_needs_a_token(tmp_path):
    with pytest.raises(ServeError, match="token"):
        make_server(tmp_path, "0.0.0.0", 0)


def test_index_stage_with_nothing_to_index_succeeds_and_drops_a_stale_index(tmp_path, monkeypatch):
    """A first night with an empty inbox is not a failure; once every entry is hidden, search finds nothing."""
    from chendian.pipeline import RunContext
    from chendian.pipeline.stages import index as index_mod
    from chendian.store import Workspace

    ws = Workspace(tmp_path / "ws", create=True)
    rc = RunContext(quiet=True, stage="index")
    assert index_mod.run(ws, rc)["documents"] == 0 and rc.warnings
    stale = ws.path(".index-stale")
    stale.mkdir()
    ws.path(index_mod.INDEX_LINK).symlink_to(stale.name)
    monkeypatch.setattr(index_mod, "workspace_documents", lambda _ws, _warn: ("faq", []))
    ws.set_state("index.hash", "something else")
    index_mod.run(ws, rc)
    assert not ws.path(index_mod.INDEX_LINK).exists()
    ws.close()


# -- queries with nothing to search for ------------------------------------------------------------------

NOTHING_TO_SEARCH = ["？？", "!", "。", "😀", "[]", "\x00", " \t", "…——", "\ufffd"]


@pytest.mark.parametrize("query", NOTHING_TO_SEARCH)
def test_query_without_letters_or_digits_finds_nothing(built_ws, query):
    ws, _ = built_ws
    assert search(ws, query, k=5) == []


def test_cli_query_without_letters_or_digits_says_no_results(built_ws):
    from click.testing import CliRunner

    from chendian.cli import main

    ws, _ = built_ws
    for query in ("？？", "😀", "[]"):
        result = CliRunner().invoke(main, ["-w", str(ws.root), "search", query])
        assert result.exit_code == 0 and result.exception is None, result.output
        assert "Traceback" not in result.output and "nothing related found" in result.output
        as_json = CliRunner().invoke(main, ["-w", str(ws.root), "search", "--json", query])
        assert as_json.exit_code == 0 and as_json.output == ""


@pytest.mark.parametrize("raw_query", [
    "%EF%BC%9F%EF%BC%9F",  # ？？
    "!", "%E3%80%82", "%F0%9F%98%80", "%5B%5D", "%00", "%20%2B%20",
])
def test_api_query_without_letters_or_digits_is_an_empty_list(server, raw_query):
    code, ctype, body = get(f"{server}/api/search?q={raw_query}&token=s3cret")
    assert code == 200 and ctype.startswith("application/json")
    assert json.loads(body)["hits"] == []


@pytest.mark.parametrize("raw_query", ["%FF%FE", "%E6%8A", "%C0%80"])  # not UTF-8: bad byte, cut off, overlong
def test_api_query_that_is_not_utf8_is_a_400(server, raw_query):
    code, ctype, body = get(f"{server}/api/search?q={raw_query}&token=s3cret")
    assert code == 400 and ctype.startswith("application/json")
    assert "UTF-8" in json.loads(body)["message"]


@pytest.mark.parametrize("query", ["量子引力弦论火星移民", "红烧肉怎么做才不腻", "恐龙是怎么灭绝的"])
def test_a_query_about_nothing_in_the_workspace_finds_nothing(built_ws, query):
    ws, _ = built_ws
    assert search(ws, query, k=8) == []
    assert search(ws, query, k=8, floor=None)  # there were entries: the floor, not an empty index, said no


def test_related_hits_carry_their_relevance(built_ws):
    ws, _ = built_ws
    hits = search(ws, "报销怎么弄", k=3)
    assert hits and all(h.relevance is not None and h.relevance >= 0.4 for h in hits)


def test_api_says_plainly_when_nothing_was_found(server):
    q = urllib.parse.quote("量子引力弦论火星移民")
    status, _, body = get(f"{server}/api/search?q={q}", {"Authorization": "Bearer s3cret"})
    data = json.loads(body)
    assert status == 200 and data["found"] is False and data["hits"] == []


def test_readers_are_told_how_sure_an_answer_is():
    from chendian.model import FaqEntry

    sure = FaqEntry(id="f1", question="q", answer="在 OA 里报", count=2, answered=True, confidence=0.9)
    assert sure.trust(0.5) == "confirmed"
    assert FaqEntry(id="f2", question="q", answer="在 OA 里报", count=2, answered=True, confidence=0.2).trust(0.5) == "unconfirmed"
    assert FaqEntry(id="f3", question="q", answer="在 OA 里报", count=2, answered=True, confidence=0.2,
                    approved=True).trust(0.5) == "confirmed"
    assert FaqEntry(id="f4", question="q", answer="", count=1).trust(0.5) == "none"


def test_a_question_is_never_shown_as_an_answer():
    from chendian.search.index import RawHit
    from chendian.search.query import to_hit

    asks_back = RawHit(SearchDocument(id="f1", text="考生号在哪查", body="你看过学信网了吗？",
                                      fields={"kind": "faq", "trust": "confirmed"}), 1.0, {})
    hit = to_hit(asks_back)
    assert hit.answer == "" and hit.source["trust"] == "none"
    real = RawHit(SearchDocument(id="f2", text="考生号在哪查", body="准考证上有，也可以在学信网查。",
                                 fields={"kind": "faq", "trust": "unconfirmed"}), 1.0, {})
    assert to_hit(real).answer and to_hit(real).source["trust"] == "unconfirmed"
    # WeChat writes the thin space after a closing mention as "?": the answer is shown, without whom it addressed
    addressed = RawHit(SearchDocument(id="f3", text="兼职收入怎么报税", body="@成员062 按月合并申报就行。@某人?@成员060?",
                                      fields={"kind": "faq", "trust": "confirmed"}), 1.0, {})
    assert to_hit(addressed).answer == "按月合并申报就行。" and to_hit(addressed).source["trust"] == "confirmed"


def test_mentions_are_never_evidence():
    assert analyze.strip_mentions("问下 @李四 考生号在哪查").split() == ["问下", "考生号在哪查"]
    assert analyze.strip_mentions("发到 a@b.com 就行") == "发到 a@b.com 就行"  # an e-mail is no mention
    docs = [SearchDocument(id="1", text="@王小明 年假怎么申请"), SearchDocument(id="2", text="@李四 打印机卡纸了")]
    index = HybridIndex.build(docs, vectors=np.eye(2, 4, dtype=np.float32))
    hits = index.search("@王小明 打印机卡纸了怎么办", 2, query_vector=np.array([0, 1, 0, 0], np.float32))
    assert hits[0].doc.id == "2" and hits[0].parts.get("word", 0) >= hits[-1].parts.get("word", 0)


def test_queries_that_found_nothing_are_counted_with_no_user_data(built_ws, server):
    from chendian.search.misses import MISSES_FILE, top_misses

    ws, _ = built_ws
    before = top_misses(ws.root, 1000)
    q = urllib.parse.quote("量子引力弦论火星移民")
    for _ in range(2):
        get(f"{server}/api/search?q={q}&token=s3cret", {"User-Agent": "MicroMessenger zhangsan", "X-Forwarded-For": "10.1.2.3"})
    get(f"{server}/api/search?q={urllib.parse.quote('报销怎么弄')}", {"Authorization": "Bearer s3cret"})
    stored = json.loads((ws.root / MISSES_FILE).read_text(encoding="utf-8"))
    # the query text and a count, nothing else; a query that found something is not kept
    assert all(isinstance(q, str) and isinstance(n, int) for q, n in stored.items())
    assert stored["量子引力弦论火星移民"] == dict(before).get("量子引力弦论火星移民", 0) + 2
    assert "报销怎么弄" not in stored
    raw = (ws.root / MISSES_FILE).read_text(encoding="utf-8")
    assert "10.1.2.3" not in raw and "zhangsan" not in raw and "s3cret" not in raw and "127.0.0.1" not in raw
    assert top_misses(ws.root, 1)[0][0] == "量子引力弦论火星移民"


def test_counting_queries_that_found_nothing_can_be_turned_off(tmp_path):
    from chendian.search.misses import MISSES_FILE
    from chendian.store import Workspace

    ws = Workspace(tmp_path / "ws", create=True)
    load_faq(ws)
    index_mod.run(ws, RunContext(quiet=True, stage="index"))
    toml = ws.root / "chendian.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("count_unfound = true", "count_unfound = false"),
                    encoding="utf-8")
    srv = make_server(ws.root, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        get(f"http://127.0.0.1:{srv.server_address[1]}/api/search?q={urllib.parse.quote('量子引力弦论火星移民')}")
    finally:
        srv.shutdown()
        srv.server_close()
        ws.close()
    assert not (ws.root / MISSES_FILE).exists()
