"""Topics: readable c-TF-IDF labels and ids that stay put from one run to the next."""

from pathlib import Path

import numpy as np

from chendian.ingest import ingest_paths
from chendian.pipeline import RunContext
from chendian.pipeline.stages import topics as topics_stage
from chendian.summarize import topics

FIXTURE = Path(__file__).parent / "fixtures" / "qa" / "office-chat.jsonl"


def test_ctfidf_prefers_words_of_this_topic():
    kw = topics.ctfidf_keywords({
        "a": "报销 发票 报销 财务 流程 问题".split(),
        "b": "vpn 密码 认证 vpn 登录 问题".split(),
    }, k=2)
    assert kw["a"][0] == "报销" and kw["b"][0] == "vpn"
    assert "问题" not in kw["a"] + kw["b"]


def _unit(rows):
    v = np.array(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_new_threads_join_nearest_topic_and_ids_do_not_reshuffle():
    ids = ["t1", "t2", "t3", "t4", "t5", "t6"]
    vecs = _unit([[1, 0, 0], [0.95, 0.05, 0], [0.9, 0.1, 0], [0, 1, 0], [0.05, 0.95, 0], [0, 0.9, 0.1]])
    ts = {t: i for i, t in enumerate(ids)}
    first = topics.assign_topics(ids, vecs, {}, {}, ts)
    assert first["t1"] == first["t2"] == first["t3"] == topics.stable_id("t1", prefix="p")
    assert first["t4"] == first["t5"] == first["t6"] == topics.stable_id("t4", prefix="p")
    centroids = {}
    for top in set(first.values()):
        c = vecs[[i for i, t in enumerate(ids) if first[t] == top]].mean(axis=0)
        centroids[top] = c / np.linalg.norm(c)
    # Next day: one thread like the first topic, and three about something new.
    ids2 = ids + ["t7", "t8", "t9", "t10"]
    vecs2 = np.vstack([vecs, _unit([[0.97, 0.03, 0], [0, 0, 1], [0, 0.05, 0.95], [0.02, 0, 0.98]])])
    ts2 = {t: i for i, t in enumerate(ids2)}
    second = topics.assign_topics(ids2, vecs2, first, centroids, ts2)
    assert {t: second[t] for t in ids} == first
    assert second["t7"] == first["t1"]
    assert second["t8"] == second["t9"] == second["t10"] == topics.stable_id("t8", prefix="p")


def test_stage_labels_topics_and_reruns_stably(workspace):
    ingest_paths(workspace, [FIXTURE])
    counts = topics_stage.run(workspace, RunContext(quiet=True, stage="topics"))
    assert counts["threads"] >= 8
    before = workspace.db.execute("SELECT * FROM topics ORDER BY id").fetchall()
    members = dict(workspace.db.execute("SELECT thread_id, topic_id FROM topic_members"))
    topics_stage.run(workspace, RunContext(quiet=True, stage="topics"))
    assert [tuple(r) for r in workspace.db.execute("SELECT * FROM topics ORDER BY id")] == [tuple(r) for r in before]
    assert dict(workspace.db.execute("SELECT thread_id, topic_id FROM topic_members")) == members
    for row in before:
        assert row["label"] and "·" in row["label"]


def test_a_big_first_run_is_clustered_in_batches_with_the_same_topics(monkeypatch):
    # Four subjects discussed one after another (as in a group's history), one thread of the first coming back
    # at the end; with at most 5 threads clustered at once the topics are those of clustering all 17 together.
    rng = np.random.default_rng(0)
    axes = np.eye(8, dtype=np.float32)
    ids, rows = [], []
    for subject in range(4):
        for k in range(4):
            ids.append(f"s{subject}-{k}")
            rows.append(axes[subject] + 0.1 * rng.standard_normal(8))
    ids.append("s0-late")
    rows.append(axes[0] + 0.1 * rng.standard_normal(8))
    vecs = _unit(rows)
    ts = {t: i for i, t in enumerate(ids)}
    whole = topics.assign_topics(ids, vecs, {}, {}, ts)
    calls = []
    from sklearn import cluster

    real = cluster.AgglomerativeClustering

    class Recording(real):
        def fit_predict(self, X, y=None):
            calls.append(len(X))
            return super().fit_predict(X)

    monkeypatch.setattr(cluster, "AgglomerativeClustering", Recording)
    monkeypatch.setattr(topics, "MAX_CLUSTER", 5)
    batched = topics.assign_topics(ids, vecs, {}, {}, ts)
    assert calls and max(calls) <= 5
    assert batched == whole
    assert len(set(whole.values())) == 4 and len(whole) == len(ids)
    assert whole["s0-late"] == whole["s0-0"] == topics.stable_id("s0-0", prefix="p")


def test_keywords_from_stored_tokens_equal_segmenting_afresh(workspace):
    from chendian.pipeline.stages import segment as segment_stage

    ingest_paths(workspace, [FIXTURE])
    topics_stage.run(workspace, RunContext(quiet=True, stage="topics"))  # no tokens stored: segments itself
    fresh = [tuple(r) for r in workspace.db.execute("SELECT * FROM topics ORDER BY id")]
    segment_stage.run(workspace, RunContext(quiet=True, stage="segment"))
    assert workspace.db.execute("SELECT count(*) FROM tokens").fetchone()[0] > 0
    topics_stage.run(workspace, RunContext(quiet=True, stage="topics"))
    assert [tuple(r) for r in workspace.db.execute("SELECT * FROM topics ORDER BY id")] == fresh
