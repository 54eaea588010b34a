"""The topics, faq and summarize stages embed what is not cached yet through the executor (rc.map), in the batches
one process forms, and get what one process gets."""

from __future__ import annotations

import numpy as np
from test_ray import _tables, local_and_shuffled

from chendian.pipeline import RunContext
from chendian.pipeline.stages import embed, topics
from chendian.summarize.text.embed import EmbeddingCache, get_embedder
from chendian.store import Workspace

STAGES = ["ingest", "segment", "embed", "thread", "topics", "extract", "talks", "faq", "insights", "summarize"]
TABLES = ("topics", "topic_members", "topic_centroids", "topic_terms", "faq_entries", "faq_members", "contributors",
          "expert_suggestions", "thread_digests", "weekly_digests", "embeddings", "state")


def test_stages_on_shuffled_workers_equal_a_local_run(tmp_path, monkeypatch):
    monkeypatch.setattr(embed, "TEXT_BATCH", 5)  # many jobs even on a small chat
    _, roots, counts, shuffled = local_and_shuffled(tmp_path, STAGES, chats=4, workers=2, seed=3)
    local = counts["local"]
    assert local["topics"]["threads"] > 4 * embed.TEXT_BATCH and local["topics"]["topics"] >= 1, local
    assert local["faq"]["entries"] > 10 and local["summarize"]["thread_digests"] > 20, local
    assert shuffled.finished_out_of_order > 3  # the jobs really finished out of order
    a, b = _tables(roots["local"], order="rowid"), _tables(roots["shuffled"], order="rowid")
    assert local == counts["shuffled"]
    assert [t for t in TABLES if a[t] != b[t]] == []


def test_encode_forms_the_batches_the_cache_forms(tmp_path, monkeypatch, workspace):
    """Vectors of texts embedded in other batches may differ in their last bits: topics.encode must batch the
    uncached texts as EmbeddingCache.encode does (duplicates once, cached ones left out, in first-seen order)."""
    monkeypatch.setattr(embed, "TEXT_BATCH", 4)
    texts = ["报销流程是怎样的", "VPN 连不上怎么办", "报销流程是怎样的", "发票丢了能补吗", "周五几点开会",
             "工牌在哪领", "VPN 连不上怎么办", "年假怎么请", "打印机没纸了", "新同事的电脑谁配"]
    embedder = get_embedder()
    with workspace.transaction():
        EmbeddingCache(workspace.db, embedder).encode(texts[3:5])  # already cached before the stage
    got = topics.encode(workspace, RunContext(quiet=True, stage="topics"), EmbeddingCache(workspace.db, embedder),
                        texts)
    with Workspace(tmp_path / "other", create=True) as other:
        cache = EmbeddingCache(other.db, embedder)
        with other.transaction():
            cache.encode(texts[3:5])
            want, computed = cache.encode(texts, chunk=4)
    assert computed == 6 and got.dtype == np.float32 and np.array_equal(got, want)
