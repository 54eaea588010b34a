"""FAQ: repeated questions merged with stable ids, curation re-applied every run, contributors."""

import json
from pathlib import Path

import numpy as np
import pytest

from chendian.ingest import ingest_paths
from chendian.model import QA
from chendian.pipeline import RunContext
from chendian.pipeline.stages import extract as extract_stage, faq as faq_stage, topics as topics_stage
from chendian import curation
from chendian.summarize.qa import faq

FIXTURE = Path(__file__).parent / "fixtures" / "qa" / "office-chat.jsonl"


def _run(ws, *modules):
    for mod in modules:
        rc = RunContext(quiet=True, stage=mod.__name__)
        mod.run(ws, rc)


@pytest.fixture
def built(workspace):
    ingest_paths(workspace, [FIXTURE])
    _run(workspace, topics_stage, extract_stage, faq_stage)
    return workspace


def _entries(ws):
    return {r["question"]: dict(r) for r in ws.db.execute("SELECT * FROM faq_entries")}


def test_repeated_questions_become_one_entry_with_variants_and_sources(built):
    entries = _entries(built)
    leave = next(e for q, e in entries.items() if "年假" in q)
    assert leave["count"] == 2 and leave["answered"] == 1
    assert json.loads(leave["variants"]) and "年假" in json.loads(leave["variants"])[0]
    assert len(json.loads(leave["thread_ids"])) == 2 and len(json.loads(leave["qa_ids"])) == 2
    # Precision first: "打印机又卡纸了，谁知道怎么处理？" / "打印机卡纸了怎么弄" score 0.895, under the 0.9 the FAQ
    # merges from (dedup.SAME_QUESTION_THRESHOLD); both entries show the same right answer, one `faq merge` away.
    printers = [e for q, e in entries.items() if "打印机" in q]
    assert len(printers) == 2 and all("侧面的盖子" in e["answer"] for e in printers if e["answered"])
    assert any(json.loads(e["answerers"]) and json.loads(e["answerers"])[0]["name"] == "周强" for e in printers)
    book = next(e for q, e in entries.items() if "Python" in q)
    assert book["count"] == 1 and json.loads(book["variants"]) == []


def test_ids_are_stable_and_a_rerun_changes_nothing(built):
    before = {r["id"]: dict(r) for r in built.db.execute("SELECT * FROM faq_entries")}
    _run(built, extract_stage, faq_stage)
    after = {r["id"]: dict(r) for r in built.db.execute("SELECT * FROM faq_entries")}
    assert before == after
    first_q = built.db.execute("SELECT question_id FROM qas ORDER BY ts LIMIT 1").fetchone()[0]
    assert faq.stable_id(first_q, prefix="f") in after


def test_curation_is_reapplied_on_every_run(built):
    entries = _entries(built)
    printer = next(e for q, e in entries.items() if "打印机" in q)
    book = next(e for q, e in entries.items() if "Python" in q)
    leave = next(e for q, e in entries.items() if "年假" in q)
    curation.edit(built, printer["id"], question="打印机卡纸怎么处理？")
    curation.hide(built, book["id"])
    curation.pin(built, leave["id"])
    curation.approve(built, leave["id"])
    later_qa = json.loads(leave["qa_ids"])[1]
    curation.split(built, leave["id"], later_qa)
    for _ in range(2):  # the second run starts from the first run's memberships
        _run(built, extract_stage, faq_stage)
        rows = {r["id"]: dict(r) for r in built.db.execute("SELECT * FROM faq_entries")}
        assert rows[printer["id"]]["question"] == "打印机卡纸怎么处理？"
        assert "打印机又卡纸了，谁知道怎么处理？" in json.loads(rows[printer["id"]]["variants"])
        assert rows[book["id"]]["hidden"] == 1
        assert rows[leave["id"]]["pinned"] == 1 and rows[leave["id"]]["approved"] == 1
        assert rows[leave["id"]]["count"] == 1
        assert sum(1 for r in rows.values() if later_qa in json.loads(r["qa_ids"])) == 1
    # merge the split one back into the printer entry (a human's call, however odd): it stays merged.
    split_id = next(i for i, r in rows.items() if later_qa in json.loads(r["qa_ids"]))
    curation.merge(built, split_id, printer["id"])
    for _ in range(2):
        _run(built, faq_stage)
        rows = {r["id"]: dict(r) for r in built.db.execute("SELECT * FROM faq_entries")}
        assert split_id not in rows and later_qa in json.loads(rows[printer["id"]]["qa_ids"])


def test_bad_curation_is_refused_with_a_clear_message(built):
    with pytest.raises(curation.CurationError, match="unknown curation action"):
        curation.record_curation(built, "f" + "0" * 20, "delete")
    with pytest.raises(curation.CurationError, match="no FAQ entry"):
        curation.hide(built, "f" + "0" * 20)
    with pytest.raises(curation.CurationError, match="not a FAQ entry id"):
        curation.hide(built, "q123")


def test_contributors_count_questions_answers_and_acknowledgements(built):
    people = {p.name: p for p in built.contributors(warn=pytest.fail)}
    assert people["李娜"].answers == 2 and people["李娜"].acknowledged == 2
    assert people["赵磊"].answers == 2
    assert people["张伟"].questions == 1


def test_new_questions_join_existing_entries_without_renaming_them():
    vocab = sorted(set("VPN怎么连接啊？年假申请"))

    def encode(texts):  # deterministic bag-of-characters vectors: enough to tell these apart
        v = np.array([[t.count(c) for c in vocab] for t in texts], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def row(i, q, ts):
        return QA(f"q{i}", "c", f"t{i}", f"m{i}", q, "u", "U", ts)

    day1 = [row(1, "VPN怎么连接", 1), row(2, "年假怎么申请", 2)]
    first = faq.build_entries(day1, encode)
    previous = {q.id: eid for eid, e in first.items() for q in e.qas}
    day2 = day1 + [row(0, "VPN怎么连接啊", 0), row(3, "VPN怎么连接？", 3)]
    second = faq.build_entries(day2, encode, previous)
    assert set(first) <= set(second)
    vpn = second[faq.entry_id_for(day1[0])]
    assert {q.id for q in vpn.qas} >= {"q1", "q3"}


def test_fragments_that_only_their_moment_explains_are_never_merged():
    vocab = sorted(set("这个吗？你也试了VPN怎么连接"))

    def encode(texts):
        v = np.array([[t.count(c) for c in vocab] for t in texts], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def row(i, q, ts):
        return QA(f"q{i}", "c", f"t{i}", f"m{i}", q, "u", "U", ts)

    qas = [row(1, "这个吗？", 1), row(2, "这个吗？", 2), row(3, "你也试了吗？", 3), row(4, "VPN怎么连接", 4),
           row(5, "VPN怎么连接？", 5)]
    entries = faq.build_entries(qas, encode)
    together = {frozenset(q.id for q in e.qas) for e in entries.values()}
    # the same words, but nothing says that the two "这个" are the same thing; a real question still merges
    assert {"q1"} in [set(t) for t in together] and {"q2"} in [set(t) for t in together]
    assert frozenset({"q4", "q5"}) in together
    assert faq.is_fragment("你也试了吗？") and not faq.is_fragment("怎么报销") and not faq.is_fragment("那个说的就是你们单位吗")


def test_an_entry_is_titled_from_its_question_not_from_the_call_for_help_before_it():
    def row(i, q, ts):
        return QA(f"q{i}", "c", f"t{i}", f"m{i}", q, "u", "U", ts)

    # wechat-dev's openers: asking whether anyone knows, or announcing a question, before asking it
    asked = {"群里有做消费分期的大牛吗？ 利息是从放款当天起算，还是从合同签署日起算？": "利息是从放款当天起算，还是从合同签署日起算？",
             "咨询各位一个小问题， 会员储值卡的退款走原路返回合适吗？": "会员储值卡的退款走原路返回合适吗？",
             "请教一个问题:邮政编码如何对应到所属城市": "邮政编码如何对应到所属城市"}
    entries = faq.build_entries([row(i, q, i) for i, q in enumerate(asked)], None)
    assert sorted(e.question for e in entries.values()) == sorted(asked.values())
    # nothing asked after the opener, or only the announcement of a question: the words stay as they were
    for kept in ("群里有熟悉SAP财务模块的兄弟吗？ 有个问题想请教一下", "有没有大神？", "王老师，请问考生号在哪查？"):
        assert faq.entry_wording(kept) == faq.clean_question(kept)


def _set_publish(ws, mode: str):
    text = ws.path("chendian.toml").read_text(encoding="utf-8").replace('publish = "confident"', f'publish = "{mode}"')
    ws.path("chendian.toml").write_text(text, encoding="utf-8")
    from chendian.config import load_config

    ws.config = load_config(ws.root)


def test_review_in_the_terminal_approves_and_rejects_and_publish_approved_shows_exactly_those(built):
    from click.testing import CliRunner

    from chendian.cli import main

    _set_publish(built, "approved")  # nothing approved yet: everything answered waits for review
    _run(built, faq_stage)
    assert built.db.execute("SELECT count(*) FROM faq_entries WHERE published = 1").fetchone()[0] == 0
    queue = curation.review_queue(built)
    assert len(queue) >= 2 and all(item.entry.answers and item.context for item in queue)
    assert item_question_in_context(queue[0])
    runner = CliRunner()
    result = runner.invoke(main, ["-w", str(built.root), "review"], input="a\nr\nq\n")
    assert result.exit_code == 0, result.output
    assert "2 decisions stored" in result.output
    _run(built, faq_stage)
    published = {r[0] for r in built.db.execute("SELECT id FROM faq_entries WHERE published = 1")}
    hidden = {r[0] for r in built.db.execute("SELECT id FROM faq_entries WHERE hidden = 1")}
    assert published == {queue[0].entry.id} and queue[1].entry.id in hidden
    assert queue[1].entry.id not in {item.entry.id for item in curation.review_queue(built)}  # off the queue for good
    listed = runner.invoke(main, ["-w", str(built.root), "review", "--json"])
    assert listed.exit_code == 0 and queue[0].entry.id not in listed.output
    assert all(json.loads(line)["context"] for line in listed.output.splitlines())


def item_question_in_context(item) -> bool:
    return item.question_id is not None and any(m.id == item.question_id for m in item.context)


def test_the_review_queue_reads_the_context_of_many_questions_as_of_each_alone(built):
    """review_queue reads every held entry's context at once (store.messages_around_each): the same messages as
    messages_around per question, at a chat's first and last message too, and nothing for an unknown id."""
    _set_publish(built, "approved")
    _run(built, faq_stage)
    queue = curation.review_queue(built)
    assert len(queue) >= 2
    for item in queue:
        alone = [m for m in built.messages_around(item.question_id) if not m.recalled and m.kind != "recall"]
        assert [m.id for m in item.context] == [m.id for m in alone] and item_question_in_context(item)
    chat = built.db.execute("SELECT chat FROM messages LIMIT 1").fetchone()[0]
    ids = [r[0] for r in built.db.execute("SELECT id FROM messages WHERE chat = ? ORDER BY ts, rowid", (chat,))]
    probe = [ids[0], ids[-1], ids[len(ids) // 2], "no-such-message", ids[0]]
    each = built.messages_around_each(probe, 2, 1)
    assert each["no-such-message"] == [] and len(each[ids[0]]) == 2 and len(each[ids[-1]]) == 3
    assert {mid: [m.id for m in ms] for mid, ms in each.items()} == {
        mid: [m.id for m in built.messages_around(mid, 2, 1)] for mid in probe}
