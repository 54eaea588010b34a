"""Digests: extractive TextRank + MMR per conversation, 本周精华 per chat, and the optional LLM hook (no network)."""

import io
import json
import urllib.error
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from chendian.config import LLMConfig
from chendian.ingest import ingest_paths
from chendian.model import TEXT, Message
from chendian.pipeline import RunContext
from chendian.pipeline.stages import extract as extract_stage, faq as faq_stage, summarize as summarize_stage
from chendian.pipeline.stages import topics as topics_stage
from chendian.summarize import llm
from chendian.summarize.qa import digest

FIXTURE = Path(__file__).parent / "fixtures" / "qa" / "office-chat.jsonl"
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def _msg(i, name, text):
    return Message(id=str(i), chat="c", time=T0 + timedelta(minutes=i), sender=name, sender_name=name, kind=TEXT,
                   text=text, source=f"t:{i}")


def _encode(texts):
    vocab = sorted({c for t in texts for c in t})
    v = np.array([[t.count(c) for c in vocab] for t in texts], dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_thread_digest_keeps_central_sentences_without_repeats():
    conv = [_msg(0, "张伟", "报销流程怎么走？发票交给谁？"),
            _msg(1, "李娜", "先在OA上提交报销单，再把纸质发票交给财务部。"),
            _msg(2, "王芳", "先在OA上提交报销单，再把纸质发票交给财务部。"),
            _msg(3, "李娜", "发票抬头要写公司全称。"),
            _msg(4, "刘洋", "今天食堂的红烧肉不错哈哈哈"),
            _msg(5, "张伟", "好的，谢谢大家，报销单已经提交了。")]
    text = digest.thread_digest(conv, _encode, max_sentences=3, max_chars=200)
    assert text.count("先在OA上提交报销单") == 1  # MMR: the repeated sentence once
    assert "报销" in text and "红烧肉" not in text
    assert text.index("张伟") < text.index("OA")  # spoken order


def test_short_threads_are_kept_whole():
    conv = [_msg(0, "A", "打印机卡纸了怎么弄"), _msg(1, "B", "侧盖打开把纸拉出来")]
    assert digest.thread_digest(conv, _encode) == "A：打印机卡纸了怎么弄；B：侧盖打开把纸拉出来"


def test_textrank_prefers_the_sentence_most_like_the_others():
    v = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    r = digest.textrank(v)
    assert int(np.argmax(r)) in (0, 1, 2) and int(np.argmin(r)) == 3


def test_weekly_digest_stage_writes_markdown_per_chat_and_week(workspace):
    ingest_paths(workspace, [FIXTURE])
    for mod in (topics_stage, extract_stage, faq_stage, summarize_stage):
        mod.run(workspace, RunContext(quiet=True, stage=mod.__name__))
    weeks = dict(workspace.db.execute("SELECT week, body FROM weekly_digests"))
    assert set(weeks) == {"2024-W10", "2024-W11"}
    body = weeks["2024-W10"]
    for section in ("本周精华", "## 精选问答", "## 热门话题", "## 活跃贡献者"):
        assert section in body
    assert "李娜：回答 2 个问题，其中 2 个被提问者确认" in body
    assert "EasyConnect" in body
    digests = [d for (d,) in workspace.db.execute("SELECT digest FROM thread_digests") if d]
    assert any("OA" in d for d in digests)


def test_the_weekly_page_features_only_what_the_faq_publishes():
    from chendian.model import QA, Answer

    def qa(i, question, reply, replier):
        q = _msg(i, "张伟", question)
        answer = Answer([str(i + 1)], replier, replier, reply, 0.9)
        return QA(id=f"q{i}", chat="c", thread_id=None, question_id=q.id, question=question, asker="张伟",
                  asker_name="张伟", ts=int(q.time.timestamp()), answers=[answer], score=2.0)

    held = qa(0, "有人知道停车位怎么申请吗", "下周团建去哪里有消息吗", "王芳")  # a reply about something else
    published = qa(10, "报销发票丢了怎么办？", "去财务开遗失证明", "李娜")
    edited = Answer(["11"], "李娜", "李娜", "去财务开遗失证明，再找开票方补开", 0.9)  # the curator's edit
    convs = {"t": [_msg(0, "张伟", "x")]}
    [(_, _, body)] = digest.weekly_digests(convs, [held, published], {}, {}, {}, T0.tzinfo,
                                           shown={"q10": (0.8, edited)})
    featured = body.split("## 精选问答")[1].split("## 热门话题")[0]
    assert "报销发票丢了怎么办" in featured and "再找开票方补开" in featured
    assert "停车位" not in featured and "团建" not in featured
    assert "2 个问题（2 个得到回答）" in body  # the counts still count every question
    [(_, _, body)] = digest.weekly_digests(convs, [held], {}, {}, {}, T0.tzinfo, shown={})
    assert "本周没有可以发布的问答" in body


def test_llm_rewrite_uses_an_openai_compatible_call_without_network(monkeypatch):
    seen = {}

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    def opener(request, timeout):
        seen["url"] = request.full_url
        seen["body"] = json.loads(request.data)
        seen["auth"] = request.get_header("Authorization")
        return Response(json.dumps({"choices": [{"message": {"content": "改写后的摘要"}}]}).encode())

    monkeypatch.setenv("TEST_LLM_KEY", "sk-test")
    cfg = LLMConfig(endpoint="http://llm.local/v1/", model="qwen", api_key_env="TEST_LLM_KEY", rewrite_digests=True)
    assert llm.rewrite(cfg, "原始摘要", opener=opener) == "改写后的摘要"
    assert seen["url"] == "http://llm.local/v1/chat/completions"
    assert seen["body"]["model"] == "qwen" and seen["body"]["messages"][1]["content"] == "原始摘要"
    assert seen["auth"] == "Bearer sk-test"


def test_llm_errors_are_clear():
    with pytest.raises(llm.LLMError, match="llm.endpoint and llm.model"):
        llm.rewrite(LLMConfig(), "x")

    def down(request, timeout):
        raise urllib.error.URLError("connection refused")

    with pytest.raises(llm.LLMError, match="unreachable: connection refused"):
        llm.rewrite(LLMConfig(endpoint="http://127.0.0.1:9/v1", model="m"), "x", opener=down)


def test_digest_keeps_email_addresses_whole_so_the_site_masks_them():
    from chendian.privacy import Privacy

    conv = [_msg(0, "张伟", "@李娜 VPN 账号过期了找谁？"),
            _msg(1, "李娜", "@张伟 发邮件到 it-help@example.com，抄送 zhang.wei+vpn@corp.example.cn 就行"),
            _msg(2, "张伟", "好的，谢谢，我发到it-help@example.com了")]
    text = digest.thread_digest(conv, _encode, max_sentences=3, max_chars=300)
    assert "@李娜" not in text and "@张伟" not in text  # mentions are still noise
    assert "it-help@example.com" in text and "zhang.wei+vpn@corp.example.cn" in text
    published = Privacy().text(text)
    assert published.count("[邮箱已隐藏]") == 3
    assert "it-help" not in published and "example" not in published and "zhang.wei" not in published


def test_a_rerun_digests_only_the_conversations_that_changed(workspace, monkeypatch):
    ingest_paths(workspace, [FIXTURE])
    for mod in (topics_stage, extract_stage, faq_stage, summarize_stage):
        mod.run(workspace, RunContext(quiet=True, stage=mod.__name__))
    table = "SELECT thread_id, chat, digest FROM thread_digests ORDER BY thread_id"
    first = workspace.db.execute(table).fetchall()
    assert len(first) >= 8
    digested = []
    real = summarize_stage.thread_digest
    monkeypatch.setattr(summarize_stage, "thread_digest", lambda ms, enc: digested.append(ms[0].id) or real(ms, enc))
    counts = summarize_stage.run(workspace, RunContext(quiet=True, stage="summarize"))
    assert digested == [] and counts["digests_kept"] == len(first)
    assert workspace.db.execute(table).fetchall() == first
    # A message of one conversation is withdrawn: that conversation alone is digested again ...
    convs = topics_stage.conversations(workspace)
    mid = next(ms[1].id for _, ms in sorted(convs.items()) if len(ms) >= 4)
    with workspace.transaction():
        workspace.db.execute("UPDATE messages SET recalled = 1 WHERE id = ?", (mid,))
    counts = summarize_stage.run(workspace, RunContext(quiet=True, stage="summarize"))
    assert len(digested) == 1 and counts["digests_kept"] == len(first) - 1
    nightly = workspace.db.execute(table).fetchall()
    # ... and the table is what digesting everything afresh gives.
    with workspace.transaction():  # what each digest was made of is forgotten: all are made again
        workspace.db.execute("UPDATE thread_digests SET fingerprint = NULL")
    summarize_stage.run(workspace, RunContext(quiet=True, stage="summarize"))
    assert workspace.db.execute(table).fetchall() == nightly
    assert len(digested) == 1 + len(first)
