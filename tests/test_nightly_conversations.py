"""Night by night, the thread, topics and summarize stages read and write only what the new messages touch, and
what they keep equals what reading everything gives (tests/test_incremental.py holds whole workspaces to it)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from chatgen import generate, write_jsonl

from chendian.ingest import ingest_paths
from chendian.model import conversation_id
from chendian.pipeline import run_stages
from chendian.pipeline.stages import thread as thread_stage
from chendian.pipeline.stages.topics import _text
from chendian.store import Workspace
from chendian.summarize.text.embed import content_key
from chendian.summarize.threads import linker as T
from chendian.summarize.topics import MIN_THREAD_MESSAGES

STAGES = ["segment", "embed", "thread", "topics", "summarize"]
TOPIC_LINE = re.compile(r"(?m)^- .+：\d+ 个讨论$")  # a week's 热门话题: topic names are history-dependent


def _day_files(tmp_path, days=6, per_day=240):
    out = []
    for k, (_, ms) in enumerate(generate(days=days, messages_per_day=per_day, chats=2)):
        path = tmp_path / f"day{k}.jsonl"
        write_jsonl(path, ms)
        out.append(path)
    return out


def _nights(ws: Workspace, files, monkeypatch, context=120):
    """Import and run the stages one day at a time, with a small context (the chats outgrow it)."""
    monkeypatch.setattr(thread_stage, "CONTEXT", context)
    reports = []
    for path in files:
        assert not ingest_paths(ws, [path], fmt="jsonl").failed
        reports.append({s.name: s.counts for s in run_stages(ws, STAGES, quiet=True).stages})
    return reports


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nightly")
    mp = pytest.MonkeyPatch()
    ws = Workspace(tmp / "ws", create=True)
    reports = _nights(ws, _day_files(tmp), mp)
    yield ws, reports, tmp
    ws.close()
    mp.undo()


def _tables(ws, *names):
    return {n: sorted(map(tuple, ws.db.execute(f"SELECT * FROM {n}").fetchall()), key=repr) for n in names}


def test_a_night_reuses_the_context_flags_and_reads_a_bounded_tail(nights):
    ws, reports, _ = nights
    last = reports[-1]["thread"]
    assert last["chats_threaded"] == 2 and last["contexts_not_rescored"] == 2
    per_chat = ws.db.execute("SELECT count(*) FROM messages GROUP BY chat").fetchall()
    assert min(r[0] for r in per_chat) > 120 + T.RELINK_HORIZON + last["messages_linked"]  # a tail, not the chat
    assert reports[-1]["summarize"]["digests_read"] < reports[-1]["summarize"]["thread_digests"]
    assert reports[-1]["topics"]["threads_read"] < ws.db.execute("SELECT count(*) FROM threads").fetchone()[0]


def test_stored_conversations_are_the_components_of_the_stored_links(nights):
    # What write_chat derives from the tail alone equals deriving every conversation from every link.
    ws, *_ = nights
    for (chat,) in ws.db.execute("SELECT id FROM chats").fetchall():
        msgs = list(ws.messages(chat))
        index = {m.id: i for i, m in enumerate(msgs)}
        links = {mid: (tid, pid) for mid, tid, pid in ws.db.execute(
            "SELECT message_id, thread_id, parent_id FROM message_threads WHERE chat = ?", (chat,))}
        comp = T.components([index[links[m.id][1]] if links[m.id][1] else -1 for m in msgs])
        assert [links[m.id][0] for m in msgs] == [conversation_id(chat, msgs[c].id) for c in comp]
        agg = {}
        for i, m in enumerate(msgs):
            tid, ts = links[m.id][0], int(m.time.timestamp())
            first, last, n, root = agg.get(tid, (ts, ts, 0, m.id))
            agg[tid] = (first, max(last, ts), n + 1, root)
        stored = {r[0]: tuple(r[1:]) for r in ws.db.execute(
            "SELECT id, first_ts, last_ts, size, root_id FROM threads WHERE chat = ?", (chat,))}
        assert stored == agg


def test_reused_flags_link_the_tail_as_scoring_the_context_again(nights, tmp_path, monkeypatch):
    import shutil

    _, _, tmp = nights
    day7 = _day_files(tmp_path, days=7)[-1]
    monkeypatch.setattr(thread_stage, "CONTEXT", 120)
    out = []
    for name, forget in (("kept", False), ("forgotten", True)):
        shutil.copytree(tmp / "ws", tmp_path / name)
        w = Workspace(tmp_path / name)
        if forget:
            w.db.execute("DELETE FROM state WHERE key = ?", (thread_stage.FLAGS_KEY,))
        assert not ingest_paths(w, [day7], fmt="jsonl").failed
        counts = run_stages(w, ["segment", "embed", "thread"], quiet=True).stages[-1].counts
        assert counts["contexts_not_rescored"] == (0 if forget else 2)
        out.append(_tables(w, "message_threads", "threads"))
        w.close()
    assert out[0] == out[1]


def test_a_quote_from_before_the_context_is_a_link_as_in_a_full_run(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(thread_stage, "CONTEXT", 20)
    lines = []
    for i in range(200):
        lines.append({"chat": "g", "id": str(i), "time": f"2024-03-04T{9 + i // 60:02d}:{i % 60:02d}:00",
                      "sender": f"u{i % 5}", "text": f"第 {i} 条消息 内容{i % 7}"})
    late = {"chat": "g", "id": "q", "time": "2024-03-05T09:00:00", "sender": "u9", "text": "回复这个", "reply_to": "3"}
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(first, lines)
    write_jsonl(second, [late])
    for path in (first, second):
        ingest_paths(workspace, [path], fmt="jsonl")
        run_stages(workspace, ["segment", "embed", "thread"], quiet=True)
    quoting = workspace.db.execute("SELECT m.id, m.reply_to FROM messages m WHERE m.text = '回复这个'").fetchone()
    assert quoting["reply_to"]  # the importer resolved the quote

    def link_of(mid):
        return tuple(workspace.db.execute("SELECT thread_id, parent_id FROM message_threads WHERE message_id = ?",
                                          (mid,)).fetchone())

    nightly = link_of(quoting["id"])
    assert nightly == (link_of(quoting["reply_to"])[0], quoting["reply_to"])
    thread_stage.thread_chat(workspace, "g", full=True)
    assert link_of(quoting["id"]) == nightly


def test_a_quote_inside_the_context_far_before_the_tail_is_a_link_as_in_a_full_run(workspace, tmp_path):
    # A night reads the stored links of its tail only; a tail message that quotes a context message well before
    # the tail (past the linker's window) joins that message's stored conversation all the same.
    lines = []
    for i in range(300):
        lines.append({"chat": "g", "id": str(i), "time": f"2024-03-04T{8 + i // 60:02d}:{i % 60:02d}:00",
                      "sender": f"u{i % 5}", "text": f"第 {i} 条消息 内容{i % 7}"})
    late = [{"chat": "g", "id": "q", "time": "2024-03-05T09:00:00", "sender": "u9", "text": "回复这个",
             "reply_to": "20"},
            {"chat": "g", "id": "r", "time": "2024-03-05T09:01:00", "sender": "u1", "text": "我也看到了"}]
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(first, lines)
    write_jsonl(second, late)
    for path in (first, second):
        ingest_paths(workspace, [path], fmt="jsonl")
        report = {s.name: s.counts for s in run_stages(workspace, ["segment", "embed", "thread"], quiet=True).stages}
    assert report["thread"]["messages_relinked"] == T.RELINK_HORIZON  # a tail: 280 messages are context
    quoting = workspace.db.execute("SELECT m.id, m.reply_to FROM messages m WHERE m.text = '回复这个'").fetchone()
    assert quoting["reply_to"]

    def links():
        return sorted(map(tuple, workspace.db.execute("SELECT * FROM message_threads").fetchall()))

    def threads():
        return sorted(map(tuple, workspace.db.execute("SELECT * FROM threads").fetchall()))

    nightly, nightly_threads = links(), threads()
    quoted_thread = workspace.db.execute("SELECT thread_id FROM message_threads WHERE message_id = ?",
                                         (quoting["reply_to"],)).fetchone()[0]
    assert (quoted_thread, quoting["reply_to"]) in {(t, p) for m, _, t, p in nightly if m == quoting["id"]}
    thread_stage.thread_chat(workspace, "g", full=True)
    assert links() == nightly and threads() == nightly_threads


def test_summaries_kept_night_by_night_equal_summarizing_everything(nights, tmp_path):
    ws, *_ = nights
    nightly = _tables(ws, "thread_digests", "weekly_digests")
    ws.db.execute("DELETE FROM state WHERE key = 'summarize.mark'")
    run_stages(ws, ["summarize"], quiet=True)
    full = _tables(ws, "thread_digests", "weekly_digests")
    assert nightly["thread_digests"] == full["thread_digests"]

    def strip(rows):
        return [(c, w, TOPIC_LINE.sub("", body)) for c, w, body in rows]

    assert strip(nightly["weekly_digests"]) == strip(full["weekly_digests"])


def test_topic_centres_are_the_mean_of_their_members_and_the_rest_wait(nights):
    ws, *_ = nights
    from chendian.pipeline.stages.topics import conversations

    convs = conversations(ws)
    from chendian.pipeline.stages.embed import workspace_cache

    cache = workspace_cache(ws)
    qualified = sorted(t for t, ms in convs.items() if len(ms) >= MIN_THREAD_MESSAGES)
    vectors = dict(zip(qualified, cache.encode([_text(convs[t]) for t in qualified])[0]))
    members = {t: (top, key) for t, top, key in ws.db.execute("SELECT thread_id, topic_id, vec_key FROM topic_members")}
    assert set(members) <= set(qualified)
    assert all(key == content_key(cache.embedder.name, _text(convs[t])) for t, (_, key) in members.items())
    waiting = json.loads(ws.db.execute("SELECT value FROM state WHERE key = 'topics.waiting'").fetchone()[0])
    assert sorted(waiting) == sorted(set(qualified) - set(members))
    by_topic = {}
    for t, (top, _) in members.items():
        by_topic.setdefault(top, []).append(vectors[t])
    sizes = dict(ws.db.execute("SELECT id, size FROM topics"))
    assert sizes == {top: len(v) for top, v in by_topic.items()}
    for top, blob, total, n in ws.db.execute("SELECT topic_id, vec, total, n FROM topic_centroids"):
        if top not in by_topic:
            continue
        mean = np.mean(by_topic[top], axis=0)
        assert n == len(by_topic[top])
        assert np.allclose(np.frombuffer(total, np.float64), np.sum(by_topic[top], axis=0, dtype=np.float64), atol=1e-4)
        assert np.allclose(np.frombuffer(blob, np.float32), mean / np.linalg.norm(mean), atol=1e-5)
