"""Extract and talks redo only what changed: a chat's questions and talks from a cut on, the rest kept.

The cuts (`extraction_cut`, `talk_cut`) are held to what a full run gives on generated chats with the shapes that
reach far — quotes of questions days old, answerers who go on over several messages, withdrawn messages, talks
with their announcements and Q&A — first as pure functions, then through the stages on a workspace built night
by night, against one built in one run.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from chatgen import GroupChat, write_jsonl
from conftest import SHANGHAI
from test_talks import LECTURE  # the talk the talk tests read

from chendian.ingest import ingest_paths
from chendian.model import IMAGE, TEXT, Message
from chendian.pipeline import run_stages
from chendian.store import Workspace
from chendian.summarize.qa.extract import extract_qas, extraction_cut, segment_conversations
from chendian.summarize.talks import detect_talks, talk_cut

START = date(2024, 3, 4)


def _records(days: int, per_day: int, seed: int = 7, chat: str = "群01") -> list[dict]:
    g = GroupChat(chat, seed=seed, variety=0.3)
    return [m for d in range(days) for m in g.day(START + timedelta(days=d), per_day)]


def _message(r: dict) -> Message:
    return Message(id=r["id"], chat=r["chat"], time=datetime.fromisoformat(r["time"]), sender=r["sender"],
                   sender_name=r["sender_name"], kind=r.get("kind", TEXT), text=r["text"], source="gen",
                   reply_to=r.get("reply_to"), mentions=r.get("mentions") or [])


def _hard_chat(seed: int) -> list[Message]:
    """A generated group with what reaches far: quotes of questions asked days before, and answerers who go on
    writing (a run the extraction extends for as long as they keep within a few minutes)."""
    rnd = random.Random(seed)
    msgs = [_message(r) for r in _records(8, 180, seed=seed)]
    questions = [i for i, m in enumerate(msgs) if m.text.endswith(("？", "吗")) or "怎么" in m.text]
    for _ in range(12):  # a quote of an old question
        q = rnd.choice(questions[:len(questions) // 2])
        i = rnd.randrange(q + 200, len(msgs)) if q + 200 < len(msgs) else len(msgs) - 1
        msgs[i] = replace(msgs[i], reply_to=msgs[q].id, text="这个问题后来解决了吗，我也遇到了")
    for _ in range(10):  # an answer in several messages, sent minutes apart
        i = rnd.randrange(20, len(msgs) - 10)
        who = msgs[i]
        for k in range(1, 5):
            msgs[i + k] = replace(msgs[i + k], sender=who.sender, sender_name=who.sender_name,
                                  text=f"第{k}步：先看配置中心，再重启服务，可以用工单系统申请权限")
    msgs.sort(key=lambda m: m.time)
    return msgs


def _links(msgs: list[Message]) -> tuple[dict[str, str], dict[str, str | None]]:
    """Conversations and predicted parents as a thread stage would give them (a function of the messages)."""
    thread_of = segment_conversations(msgs)
    parent_of: dict[str, str | None] = {}
    for i, m in enumerate(msgs):
        parent_of[m.id] = m.reply_to or next((p.id for p in reversed(msgs[max(0, i - 3):i]) if p.sender != m.sender),
                                             None)
    return thread_of, parent_of


def _key(qas) -> list[tuple]:
    return sorted((q.id, q.thread_id, q.question, tuple(q.question_ids), q.ts, q.score,
                   tuple((tuple(a.message_ids), a.score, a.acknowledged) for a in q.answers)) for q in qas)


def _tail(msgs: list[Message], cut: int, thread_of, parent_of) -> list:
    tail = msgs[cut:]
    ids = {m.id for m in tail}
    by_id = {m.id: m for m in msgs}
    quoted = {m.reply_to: by_id[m.reply_to] for m in tail if m.reply_to in by_id and m.reply_to not in ids}
    return extract_qas(tail, {k: thread_of[k] for k in ids}, {k: parent_of[k] for k in ids}, quoted=quoted)


@pytest.mark.parametrize("seed", [7, 23])
def test_questions_before_the_cut_keep_and_the_tail_alone_gives_the_rest(seed):
    msgs = _hard_chat(seed)
    thread_of, parent_of = _links(msgs)
    rnd = random.Random(seed)
    found = naive_differs = 0
    for _ in range(20):
        limit = rnd.randrange(len(msgs) // 4, len(msgs) - 5)
        # last night's store: the messages before `limit`, one of them withdrawn since, linked as they were then
        before = msgs[:limit]
        old_links = _links(before)
        new = list(msgs)
        gone = rnd.randrange(limit, len(msgs))
        new[gone] = replace(new[gone], recalled=True)
        # the thread stage re-linked what came from `limit` on
        parents = parent_of | {m.id: msgs[i - 1].id for i, m in enumerate(msgs) if i >= limit}
        full = extract_qas(new, thread_of, parents)
        start = rnd.choice([0, max(0, limit - 600)])
        window = new[start:]
        by_id = {m.id: m for m in new}
        inside = {m.id for m in window}
        quoted = {m.reply_to: by_id[m.reply_to] for m in window if m.reply_to in by_id and m.reply_to not in inside}
        c = extraction_cut(window, limit - start, start == 0, quoted)
        if c is None:
            continue
        cut = start + c
        assert cut <= limit
        found += 1
        old = extract_qas(before, *old_links)
        position = {m.id: i for i, m in enumerate(new)}
        kept = [q for q in old if position[q.question_id] < cut]
        assert _key(kept + _tail(new, cut, thread_of, parents)) == _key(full), (seed, limit, cut)
        # the conditions matter: cutting at the first change without them gets some questions wrong
        naive = [q for q in old if position[q.question_id] < limit] + _tail(new, limit, thread_of, parents)
        naive_differs += _key(naive) != _key(full)
    assert found >= 10
    assert naive_differs >= 1


def test_a_cut_needs_a_silence_and_no_open_question_before_it():
    t = datetime(2024, 3, 4, 9, 0, tzinfo=SHANGHAI)

    def say(i: int, who: str, text: str, minutes: float, **kw) -> Message:
        return Message(id=f"m{i}", chat="c", time=t + timedelta(minutes=minutes), sender=who, sender_name=who,
                       kind=TEXT, text=text, source="t", **kw)

    chatter = [say(i, f"u{i % 3}", "今天好热", i * 0.5) for i in range(30)]
    late = [say(100 + i, f"u{i % 3}", "收到", 60 + i * 0.5) for i in range(10)]  # after an hour of silence
    assert extraction_cut(chatter + late, 35, True) == 35  # chatter only: any whole second will do
    asked = chatter[:25] + [say(50, "u1", "VPN 连不上怎么办？", 12.25)] + chatter[25:]
    # the question may still get its answer after the silence: the cut goes back before it
    assert extraction_cut(asked + late, 36, True) <= 25
    assert extraction_cut(asked + late, 36, False) is None  # unless these messages cannot show one
    quoting = late[:3] + [say(200, "u2", "这个我知道", 61.25, reply_to="m50")] + late[3:]
    assert extraction_cut(asked + quoting, 40, True) <= 25


# -- talks ------------------------------------------------------------------------------------------------------

def _talk_records(chat: str, day: date, speaker: tuple[str, str], n: int) -> list[dict]:
    """An announced talk at 23:00 (the group's evening chat is over) with slides, a question during it and
    thanks after."""
    def at(hh: int, mm: int, sec: int = 0, d: date = day) -> str:
        return datetime(d.year, d.month, d.day, hh, mm, sec, tzinfo=SHANGHAI).isoformat()

    sid, name = speaker
    out = [{"chat": chat, "id": f"{chat}-t{n}-a", "time": at(10, 5, d=day - timedelta(days=1)), "sender": "host",
            "sender_name": "群主", "text": f"明晚11点请{name}给大家分享《Kubernetes 网络入门》，主题是 Service 和 Ingress"}]
    for i, line in enumerate(LECTURE):
        out.append({"chat": chat, "id": f"{chat}-t{n}-{i}", "time": at(23, 3 * i, 0), "sender": sid,
                    "sender_name": name, "text": line})
        if i in (2, 6):
            out.append({"chat": chat, "id": f"{chat}-t{n}-img{i}", "time": at(23, 3 * i, 20), "sender": sid,
                        "sender_name": name, "text": "[图片]", "kind": IMAGE})
    out.append({"chat": chat, "id": f"{chat}-t{n}-q", "time": at(23, 10, 30), "sender": "aud",
                "sender_name": "听众", "text": f"@{name} Service 和 Ingress 有什么区别？"})
    out.append({"chat": chat, "id": f"{chat}-t{n}-r", "time": at(23, 11, 10), "sender": sid, "sender_name": name,
                "text": "一个管集群内部，一个管外部入口", "reply_to": f"{chat}-t{n}-q"})
    out.append({"chat": chat, "id": f"{chat}-t{n}-thx", "time": at(23, 40), "sender": "aud2",
                "sender_name": "听众二", "text": "感谢分享，干货满满"})
    return out


def _talk_chat(days: int = 9, per_day: int = 120, chat: str = "群01") -> list[dict]:
    g = GroupChat(chat, seed=5, variety=0.3)
    records = [m for d in range(days) for m in g.day(START + timedelta(days=d), per_day)]
    expert = g.experts[0]
    for n, d in enumerate((2, 5, 6)):
        records += _talk_records(chat, START + timedelta(days=d), expert, n)
    return sorted(records, key=lambda r: r["time"])


def _talk_key(talks) -> list[tuple]:
    return sorted((t.id, t.start_ts, t.end_ts, t.title, t.title_source, tuple(t.qa_ids), tuple(t.evidence),
                   tuple(sorted(t.roles.items()))) for t in talks)


def test_talks_after_the_cut_alone_and_the_earlier_ones_as_they_were():
    msgs = [_message(r) for r in _talk_chat()]
    full_qas = extract_qas(msgs)
    full = detect_talks(msgs, full_qas)
    assert len(full) == 3
    rnd = random.Random(3)
    index = {m.id: i for i, m in enumerate(msgs)}
    # changes inside a talk, in its Q&A and in the hours after it, and anywhere
    limits = [index[f"群01-t{n}-{k}"] + d for n in range(3) for k, d in (("a", 1), (0, 0), (5, 0), ("q", 0), ("thx", 1))]
    limits += [rnd.randrange(len(msgs) // 3, len(msgs)) for _ in range(15)]
    found = naive_differs = 0
    for limit in limits:
        before = msgs[:limit]
        old_qas = extract_qas(before)
        old = detect_talks(before, old_qas)
        # what changed since last night: the new messages, and the questions whose rows differ
        rows = {q.id: q for q in old_qas}
        moved = [q.ts for q in full_qas if rows.get(q.id) != q] + [q.ts for q in old_qas if q.id not in
                                                                 {x.id for x in full_qas}]
        dirty = min([msgs[limit].time.timestamp(), *moved])
        start = rnd.choice([0, max(0, limit - 700)])
        t0 = talk_cut(msgs[start:], dirty, start == 0)
        if t0 is None:
            continue
        found += 1
        assert t0 <= dirty
        again = detect_talks(msgs[start:], [q for q in full_qas if q.ts >= t0 - 3 * 3600],
                             from_ts=None if t0 == float("-inf") else t0)
        kept = [t for t in old if t0 != float("-inf") and t.start_ts < math.floor(t0)]
        assert _talk_key(kept + again) == _talk_key(full), (limit, t0)
        # the conditions matter: redoing the talks from the first change alone gets some wrong
        naive = [t for t in old if t.start_ts < dirty] + detect_talks(msgs, full_qas, from_ts=dirty)
        naive_differs += _talk_key(naive) != _talk_key(full)
    assert found >= 20 and naive_differs >= 3


# -- the stages, night by night ----------------------------------------------------------------------------------

def _nights() -> list[list[dict]]:
    """Five nights of two groups: a talk, quotes of old questions, a withdrawn message, a late export."""
    a = _talk_chat(days=7, per_day=150)
    b = _records(7, 150, seed=9, chat="群02")
    by_day: dict[str, list[dict]] = {}
    for r in a + b:
        by_day.setdefault(r["time"][:10], []).append(r)
    days = [by_day[k] for k in sorted(by_day)]
    nights = [sum(days[:3], []), days[3], days[4], days[5], days[6]]
    questions = [r for r in days[1] if r["chat"] == "群01" and r["text"].endswith(("？", "吗"))]
    last = [r for r in nights[1] if r["chat"] == "群01"][-1]
    nights[1].append({**last, "id": "群01-late-quote", "reply_to": questions[0]["id"],
                      "text": "这个后来怎么解决的？我也碰到了"})
    victim = next(r for r in days[3] if r["chat"] == "群02" and any(w in r["text"] for w in ("？", "吗", "怎么")))
    nights[2].append({"chat": "群02", "id": "群02-recall", "time": nights[2][0]["time"], "sender": victim["sender"],
                      "sender_name": victim["sender_name"], "text": "撤回了一条消息", "kind": "recall",
                      "recalls": victim["id"]})
    # a member's export of an earlier afternoon arrives late, with the last night
    late = [{**r, "id": r["id"] + "-x", "sender": "late", "sender_name": "迟到的人"} for r in days[2][:12]]
    nights[4] = nights[4] + late
    return nights


def _tables(ws: Workspace) -> dict[str, list]:
    return {t: sorted((tuple(r) for r in ws.db.execute(f"SELECT * FROM {t}")), key=repr)
            for t in ("qas", "talks", "talk_messages")}


STAGES = ["segment", "embed", "thread", "extract", "talks"]


def _run(ws: Workspace, stages: list[str] = STAGES) -> dict:
    report = run_stages(ws, stages, quiet=True)
    assert report.ok, [s.note for s in report.stages]
    return {s.name: s.counts for s in report.stages}


def _redone(ws: Workspace, tmp: Path) -> dict[str, list]:
    """The tables extract and talks give when they start from nothing on a copy of the workspace."""
    copy = tmp / "redo.db"
    copy.unlink(missing_ok=True)
    ws.db.execute("VACUUM INTO ?", (str(copy),))
    root = tmp / "redo"
    Workspace(root, create=True).close()
    (root / "chendian.db").write_bytes(copy.read_bytes())
    with Workspace(root) as again:
        for key in ("extract.state", "extract.log", "talks.state"):
            again.set_state(key, "null")
        _run(again, ["extract", "talks"])
        return _tables(again)


def test_night_by_night_equals_doing_it_all_again(tmp_path):
    """Each night, the questions and talks are what extracting and detecting everything again gives (on the same
    conversations: the thread stage's own history is its test's business)."""
    nights = _nights()
    ws = Workspace(tmp_path / "nightly", create=True)
    counts = []
    for i, night in enumerate(nights):
        write_jsonl(tmp_path / f"night-{i}.jsonl", night)
        ingest_paths(ws, [tmp_path / f"night-{i}.jsonl"])
        counts.append(_run(ws))
        if i:
            mine = _tables(ws)
            assert mine == _redone(ws, tmp_path), f"night {i}"
        if i == 2:  # a person retitles the first talk between two nights
            talk_id = ws.db.execute("SELECT id FROM talks ORDER BY start_ts LIMIT 1").fetchone()[0]
            with ws.transaction() as db:
                db.execute("INSERT INTO curation (entry_id, action, value, at) VALUES (?, 'talk-title', ?, 'now')",
                           (talk_id, "Service 与 Ingress"))
    assert len(mine["talks"]) >= 2 and len(mine["qas"]) > 50
    assert any(r[7] == "Service 与 Ingress" for r in mine["talks"])
    # the later nights redid a tail of each chat that spoke, not the chats
    last = counts[3]["extract"]
    assert last["chats_extracted"] == 2 and last["rows_written"] < last["questions"] / 3, last
    assert counts[3]["talks"]["talks_written"] == 2  # that night's talk, and the one retitled the night before
    ws.close()


def test_a_talks_run_that_cannot_tell_what_extract_changed_redoes_every_chat(tmp_path):
    ws = Workspace(tmp_path / "ws", create=True)
    for i, night in enumerate(_nights()[:2]):
        write_jsonl(tmp_path / f"n{i}.jsonl", night)
        ingest_paths(ws, [tmp_path / f"n{i}.jsonl"])
        _run(ws)
    log = json.loads(ws.get_state("extract.log"))["runs"]
    assert len(log) == 2 and log[0]["all"] and not log[1]["all"] and set(log[1]["chats"]) == {"群01", "群02"}
    before = _tables(ws)
    assert run_stages(ws, ["extract", "talks"], quiet=True).ok  # nothing new: nothing redone
    assert json.loads(ws.get_state("extract.log"))["runs"] == log
    state = json.loads(ws.get_state("talks.state"))
    ws.set_state("talks.state", json.dumps(state | {"extract": "a run the log no longer holds"}))
    counts = _run(ws)["talks"]
    assert counts["chats_redone"] == 2 and counts["talks_written"] == 0
    assert _tables(ws) == before
    ws.close()


def test_the_cut_asks_only_the_messages_near_it_whether_they_are_questions(monkeypatch):
    # A night's cut is usually found near the first change: the messages loaded before it are not all scored as
    # questions (the cuts are held to a full run above).
    from chendian.summarize.qa import extract as E

    msgs = [_message(r) for r in _records(8, 180, seed=5)]
    asked = []
    monkeypatch.setattr(E, "question_features", lambda text, real=E.question_features: asked.append(text)
                        or real(text))
    limit = len(msgs) - 150
    cut = extraction_cut(msgs, limit, True)
    assert cut is not None and limit - 400 < cut <= limit
    assert 0 < len(asked) < len(msgs) / 4


# -- each chat's answer threshold ---------------------------------------------------------------------------------

def test_the_plug_in_threshold_moves_only_when_the_default_clearly_loses():
    from chendian.summarize.qa import extract as E

    assert E.plug_in_threshold([0.9] * 20) == E.ANSWER_THRESHOLD  # too few replies to say
    rnd = random.Random(3)
    # replies as the shipped weights see a group like those they were fitted on: a few sure answers, many not
    like_home = [rnd.choice([0.7, 0.5, 0.3]) for _ in range(150)] + [rnd.uniform(0.0, 0.1) for _ in range(850)]
    assert E.plug_in_threshold(like_home) == E.ANSWER_THRESHOLD
    # a group whose answers all come out less sure (weights fitted elsewhere): 0.25 would link almost nothing
    unsure = [rnd.uniform(0.12, 0.24) for _ in range(300)] + [rnd.uniform(0.0, 0.06) for _ in range(700)]
    cut = E.plug_in_threshold(unsure)
    assert E.THRESHOLD_RANGE[0] <= cut < 0.2
    # and one that is sure of everything still keeps to THRESHOLD_RANGE
    assert E.plug_in_threshold([0.95] * 200 + [0.9] * 800) <= E.THRESHOLD_RANGE[1]


def test_a_chat_extracted_with_its_own_threshold_is_what_passing_that_threshold_gives(monkeypatch):
    from chendian.summarize.qa import extract as E

    msgs = [_message(r) for r in _records(6, 160, seed=11)]
    thread_of, parent_of = _links(msgs)
    monkeypatch.setattr(E, "plug_in_threshold", lambda probabilities: 0.15)
    own = extract_qas(msgs, thread_of, parent_of, answer_threshold=None)
    assert _key(own) == _key(extract_qas(msgs, thread_of, parent_of, answer_threshold=0.15))
    assert _key(own) != _key(extract_qas(msgs, thread_of, parent_of))  # a lower cut links more replies


def test_a_chat_whose_threshold_moved_is_extracted_again_whole(tmp_path, monkeypatch):
    from chendian.summarize.qa import extract as E

    nights = _nights()
    ws = Workspace(tmp_path / "nightly", create=True)
    for i, night in enumerate(nights[:2]):
        write_jsonl(tmp_path / f"night-{i}.jsonl", night)
        ingest_paths(ws, [tmp_path / f"night-{i}.jsonl"])
        _run(ws)
    state = json.loads(ws.get_state("extract.state"))
    # both chats are shorter than the messages a threshold is read from: read again each night, not settled
    assert {c: v["end"] for c, v in state["thresholds"].items()} == {"群01": None, "群02": None}
    assert {v["t"] for v in state["thresholds"].values()} == {E.ANSWER_THRESHOLD}
    # the next night a chat's replies say another cut (as a group unlike the labelled ones would)
    before = {r[0]: r for r in _tables(ws)["qas"]}
    monkeypatch.setattr(E, "plug_in_threshold", lambda probabilities: 0.18)
    write_jsonl(tmp_path / "night-2.jsonl", nights[2])
    ingest_paths(ws, [tmp_path / "night-2.jsonl"])
    _run(ws)
    assert {v["t"] for v in json.loads(ws.get_state("extract.state"))["thresholds"].values()} == {0.18}
    after = _tables(ws)["qas"]
    assert after == _redone(ws, tmp_path)["qas"]
    # the first night's questions were extracted again: a lower cut gave some of them more answers
    first_night = min(datetime.fromisoformat(r["time"]).timestamp() for r in nights[1])
    assert any(r[7] < first_night and before.get(r[0]) != r for r in after)
    ws.close()


def test_a_threshold_read_off_messages_no_night_relinks_is_kept_without_reading_them_again(tmp_path, monkeypatch):
    from chendian.pipeline.stages import extract as stage
    from chendian.summarize.qa import extract as E

    monkeypatch.setattr(E, "THRESHOLD_REFERENCE_MESSAGES", 120)  # the first night's chats hold more than this
    reads = []
    monkeypatch.setattr(stage, "chat_threshold", lambda ws, chat, real=stage.chat_threshold: reads.append(chat)
                        or real(ws, chat))
    nights = _nights()
    ws = Workspace(tmp_path / "nightly", create=True)
    for i, night in enumerate(nights[:3]):
        write_jsonl(tmp_path / f"night-{i}.jsonl", night)
        ingest_paths(ws, [tmp_path / f"night-{i}.jsonl"])
        reads.clear()
        _run(ws)
        ends = {c: v["end"] for c, v in json.loads(ws.get_state("extract.state"))["thresholds"].items()}
        assert all(ends.values()), ends
        if i:
            assert reads == [], f"night {i}"  # each change lies far past the messages the threshold read
            assert _tables(ws)["qas"] == _redone(ws, tmp_path)["qas"]
    ws.close()
