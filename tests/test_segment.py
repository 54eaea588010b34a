"""The segmenter's shared dictionary and the segment stage's watermark (issue 16: a night's fixed costs)."""

from __future__ import annotations

import jieba

from chendian.pipeline import RunContext
from chendian.pipeline.stages import segment as segment_stage
from chendian.summarize.text.segment import _PUNCT_RE, Segmenter, fold

TEXTS = ["报销单怎么填？财务系统今天又卡住了", "数据库迁移的方案明天评审，大家先看文档",
         "新来的同事问一下VPN账号找谁开通", "K8s集群的ingress证书过期了，谁来续一下"]


def test_segmenters_share_one_loaded_dictionary_and_cut_as_jieba_does(tmp_path):
    plain = jieba.Tokenizer()  # loads jieba's dictionary itself
    first = Segmenter()

    def cut(text):
        return [t for t in plain.lcut(fold(text)) if t.strip() and not _PUNCT_RE.match(t)]

    for text in TEXTS:
        assert first.tokens(text) == cut(text)
    # a user dictionary adds to its own copy: the segmenters made before and after it do not see its words
    (tmp_path / "terms.txt").write_text("单怎么填 100000 n\n", encoding="utf-8")
    custom = Segmenter(tmp_path / "terms.txt")
    later = Segmenter()
    assert "单怎么填" in custom.tokens(TEXTS[0])
    assert first.tokens(TEXTS[0]) == later.tokens(TEXTS[0]) == cut(TEXTS[0])
    assert "单怎么填" not in later.tokenizer.FREQ and later.tokenizer.total == plain.total


def _add(ws, rows):
    from chendian.ingest import ingest_paths
    import json

    path = ws.root / f"day{len(list(ws.root.glob('day*.jsonl')))}.jsonl"
    path.write_text("".join(json.dumps({"chat": "群", "time": t, "sender": s, "sender_name": s, "text": x},
                                       ensure_ascii=False) + "\n" for t, s, x in rows), encoding="utf-8")
    assert not ingest_paths(ws, [path], fmt="jsonl").failed


def test_segment_stage_reads_only_messages_past_its_watermark(workspace):
    rc = RunContext(quiet=True)
    _add(workspace, [("2024-03-01T09:00:00", "张三", TEXTS[0]), ("2024-03-01T09:01:00", "李四", TEXTS[1])])
    assert segment_stage.run(workspace, rc)["segmented"] == 2
    assert workspace.get_state(segment_stage.ROWID_KEY) == 2
    assert segment_stage.run(workspace, rc)["segmented"] == 0
    # a new day, earlier in time than what came before (a late export): its messages still get tokens
    _add(workspace, [("2024-02-28T09:00:00", "王五", TEXTS[2]), ("2024-03-02T09:00:00", "张三", TEXTS[3])])
    counts = segment_stage.run(workspace, rc)
    assert counts["segmented"] == 2 and counts["tokens_rows"] == 4
    toks = segment_stage.load_tokens(workspace, [m.id for m in workspace.messages()])
    assert len(toks) == 4 and "ingress" in toks[next(m.id for m in workspace.messages() if "K8s" in m.text)]


def test_a_segmenter_loads_nothing_until_it_cuts():
    seg = Segmenter()  # the topics stage makes one for its stopwords and cuts only what the segment stage missed
    assert not seg.tokenizer.initialized and not seg.tokenizer.FREQ
    assert seg.tokens(TEXTS[1]) and seg.tokenizer.initialized
