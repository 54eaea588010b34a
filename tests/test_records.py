"""Each typed record survives the trip through the store: its stage's writer, then Workspace's reader."""

import pytest

from chendian.model import QA, Answer, Answerer, Contributor, FaqAnswer, FaqEntry, Thread, Topic
from chendian.pipeline.stages.extract import qa_row
from chendian.pipeline.stages.faq import contributor_row, entry_row
from chendian.pipeline.stages.thread import thread_row
from chendian.pipeline.stages.topics import topic_row
from chendian.store import Workspace

ANSWER = Answer(["m2", "m3"], "wxid_li", "李娜", "在 OA 里申请\n就行", 0.875, acknowledged=True)
QUESTION = QA("q1", "c1", "t1", "m1", "年假怎么申请？", "wxid_zhang", "张伟", 1_700_000_000, [ANSWER], 2.5)
ENTRY = FaqEntry("f1", "年假怎么申请？", "在 OA 里申请", 2, qa_ids=["q1", "q2"], thread_ids=["t1"],
                 variants=["年假咋申请"], answers=[FaqAnswer(ANSWER, "q1", "t1")],
                 answerers=[Answerer("wxid_li", "李娜", 1)], topic_id="k1", first_ts=1_700_000_000,
                 last_ts=1_700_000_100, answered=True, pinned=True, worthy=0.7, confidence=0.6,
                 published=False)
HIDDEN = FaqEntry("f2", "在吗", "", 1, qa_ids=["q3"], first_ts=1_700_000_200, last_ts=1_700_000_200, hidden=True)


@pytest.fixture
def ws(tmp_path):
    with Workspace(tmp_path / "ws", create=True) as ws:
        yield ws


def test_records_round_trip_through_the_store(ws):
    db = ws.db
    db.execute("INSERT INTO threads VALUES (?, ?, ?, ?, ?, ?)", thread_row(Thread("t1", "c1", 1, 2, 3, "m1")))
    db.execute("INSERT INTO topics VALUES (?, ?, ?, ?)", topic_row(Topic("k1", "年假·申请", ["年假", "申请"], 4)))
    db.execute("INSERT INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", qa_row(QUESTION))
    for entry in (ENTRY, HIDDEN):
        db.execute(f"INSERT INTO faq_entries VALUES ({', '.join('?' * 19)})", entry_row(entry))
    person = Contributor("wxid_li", "李娜", questions=0, answers=1, acknowledged=1, topics={"k1": 1})
    db.execute("INSERT INTO contributors VALUES (?, ?, ?, ?, ?, ?)", contributor_row(person))

    assert ws.threads() == [Thread("t1", "c1", 1, 2, 3, "m1")]
    assert ws.topics(warn=pytest.fail) == [Topic("k1", "年假·申请", ["年假", "申请"], 4)]
    assert ws.qas(warn=pytest.fail) == [QUESTION]
    assert ws.faq_entries(include_hidden=True, warn=pytest.fail) == [ENTRY, HIDDEN]
    assert ws.faq_entries(include_hidden=False, warn=pytest.fail) == [ENTRY]
    assert ws.contributors(warn=pytest.fail) == [person]


def test_malformed_json_columns_are_reported_and_read_as_empty(ws):
    ws.db.execute("INSERT INTO qas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", qa_row(QUESTION)[:8] + ('{"oops": 1}', 1.0))
    ws.db.execute("INSERT INTO topics VALUES ('k1', 'x', 'not json', 1)")
    warnings: list[str] = []
    assert ws.qas(warn=warnings.append)[0].answers == []
    assert ws.topics(warn=warnings.append)[0].keywords == []
    assert warnings == ["qas q1 answers: expected a JSON list, got dict; read as empty",
                        "topics k1 keywords: not valid JSON (Expecting value: line 1 column 1 (char 0)); read as empty"]
