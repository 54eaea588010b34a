"""Embedding: the sentence-transformers loading path with a tiny model built here (no download), the
content-hash cache and the embed stage's incrementality."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from chendian.pipeline import RunContext


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A random-weight BERT with a WordPiece vocabulary, wrapped as a SentenceTransformer and saved."""
    torch = pytest.importorskip("torch")
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-st")
    bert_dir = folder / "bert"
    bert_dir.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys("报销流程怎么走发票要原件吗数据库连不上了重启"),
             "a", "b"]
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    assert tokenizer("报销")["input_ids"] == [2, 5, 6, 3]  # a real WordPiece vocabulary, not all [UNK]
    tokenizer.save_pretrained(bert_dir)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(bert_dir)
    word = models.Transformer(str(bert_dir), max_seq_length=32)
    pool = models.Pooling(cfg.hidden_size, pooling_mode="mean")
    out = folder / "model"
    SentenceTransformer(modules=[word, pool], device="cpu").save(str(out))
    return out


def test_sentence_transformer_loads_a_local_model_by_path(tiny_model_dir):
    from chendian.summarize.text.embed import SentenceTransformerEmbedder, get_embedder

    e = SentenceTransformerEmbedder(str(tiny_model_dir))
    assert e.dim == 16
    v = e.encode(["报销流程怎么走", "数据库连不上了", "报销流程怎么走"])
    assert v.shape == (3, 16) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.allclose(v[0], v[2]) and not np.allclose(v[0], v[1])
    assert get_embedder(str(tiny_model_dir)).dim == 16
    assert e.encode([]).shape == (0, 16)


def test_cache_embeds_only_new_text(tiny_model_dir):
    from chendian.summarize.text.embed import EmbeddingCache, SentenceTransformerEmbedder

    calls = []
    e = SentenceTransformerEmbedder(str(tiny_model_dir))
    real = e.encode
    e.encode = lambda texts: calls.append(list(texts)) or real(texts)
    cache = EmbeddingCache(sqlite3.connect(":memory:"), e)
    v1, n1 = cache.encode(["报销", "发票", "报销"])
    assert n1 == 2 and calls == [["报销", "发票"]]
    v2, n2 = cache.encode(["发票", "重启"])
    assert n2 == 1 and calls[-1] == ["重启"]
    assert np.allclose(v1[1], v2[0], atol=1e-3)  # stored as float16


def test_embed_stage_is_incremental(workspace, tiny_model_dir, tmp_path):
    from chendian.ingest import ingest_paths
    from chendian.store import Workspace
    from chendian.pipeline.stages import embed as embed_stage

    (workspace.root / "chendian.toml").write_text(f'[embed]\nmodel = "{tiny_model_dir}"\n', encoding="utf-8")
    ws = Workspace(workspace.root)
    src = tmp_path / "a.jsonl"
    src.write_text('{"chat":"c","id":"1","time":"2024-03-01 09:00","sender":"u","text":"报销流程怎么走"}\n'
                   '{"chat":"c","id":"2","time":"2024-03-01 09:01","sender":"v","text":"报销流程怎么走"}\n'
                   '{"chat":"c","id":"3","time":"2024-03-01 09:02","sender":"v","text":"x","kind":"system"}\n',
                   encoding="utf-8")
    ingest_paths(ws, [src], fmt="jsonl")
    rc = RunContext(quiet=True, stage="embed")
    assert embed_stage.run(ws, rc) == {"messages_seen": 2, "embedded": 1, "from_cache": 1}
    assert embed_stage.run(ws, rc)["messages_seen"] == 0
    vecs = embed_stage.message_vectors(ws, list(ws.messages()))
    assert vecs.shape == (3, 16) and np.allclose(vecs[0], vecs[1]) and not vecs[2].any()
    ws.close()


def test_embed_device_is_validated_and_resolved():
    from chendian.config import ConfigError, parse_config
    from chendian.summarize.text.embed import resolve_device

    assert parse_config("[embed]\ndevice = 'cuda:1'\n").embed.device == "cuda:1"
    with pytest.raises(ConfigError, match=r"chendian.toml: embed.device must be cpu, auto"):
        parse_config("[embed]\ndevice = 'gpu'\n")
    torch = pytest.importorskip("torch")
    assert resolve_device(None) == resolve_device("cpu") == "cpu"
    assert resolve_device("cuda:1") == "cuda:1"
    if torch.cuda.is_available():
        assert resolve_device("auto") == "cuda"
    else:
        assert resolve_device("auto") in ("mps", "cpu")


def test_eval_search_scores_a_local_model(tiny_model_dir, tmp_path):
    """`chendian eval search --model PATH`: how a user measures a stronger model they have on disk."""
    from click.testing import CliRunner

    from chendian.cli import main

    pairs = tmp_path / "pairs.jsonl"
    rows = [("报销流程怎么走", "报销流程怎么走啊", 1), ("数据库连不上了", "数据库连不上了重启", 1),
            ("发票要原件吗", "报销流程怎么走", 0)]
    pairs.write_text("".join(f'{{"a": "{a}", "b": "{b}", "label": {y}}}\n' for a, b, y in rows), encoding="utf-8")
    res = CliRunner().invoke(main, ["eval", "search", str(pairs), "--model", str(tiny_model_dir), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)  # transformers may draw a progress bar on stderr while it loads the weights
    assert out["queries"] == 2 and out["corpus"] == 5
    assert out["recall@10"] == 1.0  # 4 candidates per query: the partner is always in the top 10
    # A model that is not there: one line naming it, no traceback.
    res = CliRunner().invoke(main, ["eval", "search", str(pairs), "--model", str(tmp_path / "no-such-model")])
    assert res.exit_code == 1 and "no-such-model" in res.output and "cannot be loaded" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


@pytest.mark.skipif(not __import__("importlib").util.find_spec("torch"), reason="torch not installed")
def test_sentence_transformer_on_a_gpu_matches_the_cpu(tiny_model_dir):
    """Runs where a CUDA GPU is present (skipped elsewhere): `embed.device = "auto"` puts the model on it
    and the vectors agree with the CPU's."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from chendian.config import EmbedConfig
    from chendian.summarize.text.embed import SentenceTransformerEmbedder, embedder_for

    texts = ["报销流程怎么走", "数据库连不上了", "发票要原件吗"] * 50
    gpu = embedder_for(EmbedConfig(model=str(tiny_model_dir), device="auto"))
    assert gpu.device == "cuda" and str(gpu.model.device).startswith("cuda")
    cpu = SentenceTransformerEmbedder(str(tiny_model_dir))
    assert np.allclose(gpu.encode(texts), cpu.encode(texts), atol=1e-4)
