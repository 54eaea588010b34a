"""The thread linker (features, scoring, decoding) and the segment/thread stages on a real workspace."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from chendian.eval.gold import read_gold
from chendian.ingest.base import extract_mentions
from chendian.model import SYSTEM, TEXT, Message
from chendian.pipeline import RunContext
from chendian.pipeline.stages import segment as segment_stage, thread as thread_stage
from chendian.summarize.threads import linker as T
from chendian.summarize.text.embed import DEFAULT_MODEL
from conftest import FIXTURES, SHANGHAI

TOY = FIXTURES / "threads" / "toy-chat.jsonl"


def _msg(i, minute, sender, text, kind=TEXT, reply_to=None, chat="群"):
    t = datetime(2024, 3, 1, 9, 0, tzinfo=SHANGHAI) + timedelta(minutes=minute)
    return Message(id=f"m{i}", chat=chat, time=t, sender=sender, sender_name=sender, kind=kind, text=text,
                   source=f"t:{i}", reply_to=reply_to, mentions=extract_mentions(text))  # as every reader does


def test_components_are_connected_links():
    assert T.components([-1, 0, -1, 1, 2, -1]).tolist() == [0, 0, 2, 0, 2, 5]


def test_shipped_weights_match_the_feature_set():
    default, dense = T.load_model(), T.load_dense_model()
    # The default weights leave the sender-pair history (it merges conversations in quiet groups) and the
    # look-ahead out; the dense-channel weights read every feature.
    assert default.features == tuple(f for f in T.FEATURES if f not in T.HISTORY_FEATURES + T.LOOKAHEAD_FEATURES)
    assert dense is not None and dense.features == T.FEATURES and dense.columns is None
    for model in (default, dense):
        vector_inputs = [0 if P is None else 2 * P.shape[1] for P in model.projections]
        assert model.w1.shape == (len(model.features) + vector_inputs[0], model.b1.shape[0])
        assert len(model.layers) >= 1 and all(member[-1][0].shape[1] == 1 for member in model.layers)


def test_a_model_of_fewer_features_reads_its_own_columns(tmp_path):
    rng = np.random.default_rng(2)
    names = T.FEATURES[::2]
    F = len(names)
    member = [(rng.normal(size=(F, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)),
              (rng.normal(size=(3, 1)).astype(np.float32), rng.normal(size=1).astype(np.float32))]
    model = T.LinkerModel(np.zeros(F, np.float32), np.ones(F, np.float32), [member], names)
    model.save(tmp_path / "sub.npz")
    loaded = T.load_model(tmp_path / "sub.npz")
    p = T.prepare(_chat([(i, "ab"[i % 2], f"第{i}条 bob: hi") for i in range(30)]))
    sc = T.scores(p, loaded, window=5)
    X, valid = T.features(p, 0, p.n, 5)
    expected = model.score(X[valid][:, [T.FEATURES.index(f) for f in names]])
    assert np.allclose(sc[valid], expected, atol=1e-5)


def test_sender_pair_history_features():
    # alice names bob, then (unaddressed) goes on; carol never talked with bob.
    p = T.prepare(_chat([(0, "bob", "my wifi driver fails"), (1, "alice", "bob: which card?"),
                         (2, "carol", "anyone using zfs"), (3, "bob", "an intel one"),
                         (4, "alice", "then try the backport")]))
    X, valid = T.features(p, 4, 5, window=4)
    col = {f: T.FEATURES.index(f) for f in T.HISTORY_FEATURES}
    # candidates of message 4 (alice): k=1 bob's "an intel one", k=2 carol, k=3 alice herself, k=4 bob's first
    assert X[0, 1, col["pair_addressed_between"]] == 0 and X[0, 4, col["pair_addressed_between"]] == 1
    assert X[0, 1, col["pair_addressed_before"]] == 1 and X[0, 2, col["pair_addressed_before"]] == 0
    assert X[0, 1, col["child_prev_named_parent"]] == 1 and X[0, 2, col["child_prev_named_parent"]] == 0


def test_look_ahead_features_see_a_bounded_future():
    # bob asks; alice answers unaddressed; bob thanks alice by name two messages later; carol never returns.
    rows = [(0, "carol", "anyone using zfs"), (1, "bob", "my wifi driver fails"), (2, "alice", "try the backport"),
            (3, "dave", "hello"), (4, "bob", "alice: that worked, thanks")]
    p = T.prepare(_chat(rows))
    X, _ = T.features(p, 2, 3, window=2)
    col = {f: T.FEATURES.index(f) for f in T.LOOKAHEAD_FEATURES}
    # candidates of message 2 (alice): k=1 bob, who names alice later and speaks again 2 messages on; k=2 carol
    assert X[0, 1, col["pair_addressed_after"]] == 1 and X[0, 2, col["pair_addressed_after"]] == 0
    assert X[0, 1, col["parent_sender_returns"]] == pytest.approx(np.log1p(2))
    assert X[0, 2, col["parent_sender_returns"]] == pytest.approx(np.log1p(T.LOOKAHEAD + 1))  # never again
    # The same exchange with bob's thanks beyond the horizon: as if it never came.
    far = rows[:4] + [(5 + k, "dave", f"noise {k}") for k in range(T.LOOKAHEAD)] + [(99, "bob", "alice: thanks")]
    Xf, _ = T.features(T.prepare(_chat(far)), 2, 3, window=2)
    assert Xf[0, 1, col["pair_addressed_after"]] == 0
    assert Xf[0, 1, col["parent_sender_returns"]] == pytest.approx(np.log1p(T.LOOKAHEAD + 1))


def test_dense_chats_use_the_dense_weights(monkeypatch):
    n, W = 60, 4
    msgs = _chat([(i, "abcd"[i % 4], f"m{i}") for i in range(n)])
    base = np.full((n, W + 1), -np.inf, dtype=np.float32)
    dense_sc = base.copy()
    for i in range(n):
        base[i, 0] = dense_sc[i, 0] = 0.0
        for k in range(1, min(i, W) + 1):
            base[i, k] = 1.0 if k == 2 else 0.5  # interleaved: the best parent is two back
            dense_sc[i, k] = 1.0 if k == 3 else 0.5
    dense_model = T.load_dense_model()
    monkeypatch.setattr(T, "scores", lambda p, model=None, *a, **k: (dense_sc if model is dense_model else base).copy())
    # The conversation pass takes a second look at the dense weights' scores: here it only records them.
    second_looks = []

    def conversation_scores(p, sc, model):
        second_looks.append(sc.copy())
        return sc

    monkeypatch.setattr(T, "conversation_scores", conversation_scores)
    vectors = np.zeros((n, 512), np.float32)
    p = T.prepare(msgs, vectors=vectors, vector_model=DEFAULT_MODEL)
    parents, _ = T.link(p, window=W)
    assert parents[10:].tolist() == list(range(10 - 3, n - 3))
    assert len(second_looks) == 1 and np.array_equal(second_looks[0], dense_sc)
    given, _ = T.link(p, T.load_model(), window=W)  # an explicit model is used as it is
    assert given[10:].tolist() == list(range(10 - 2, n - 2))
    # The dense weights' vector projections were learned on the default model's vectors: with another
    # model's vectors (or none) the default weights decode alone.
    assert dense_model.uses_vectors and dense_model.vector_model == DEFAULT_MODEL
    for other in (T.prepare(msgs, vectors=vectors, vector_model="BAAI/bge-small-zh-v1.5"), T.prepare(msgs)):
        assert T.link(other, window=W)[0][10:].tolist() == list(range(10 - 2, n - 2))
    assert len(second_looks) == 1  # nor does the conversation pass, which learned from the dense weights' scores


def test_ensemble_score_is_the_members_mean(tmp_path):
    rng = np.random.default_rng(0)
    F = len(T.FEATURES)

    def member():
        return [(rng.normal(size=(F, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)),
                (rng.normal(size=(4, 1)).astype(np.float32), rng.normal(size=1).astype(np.float32))]

    mean, std = np.zeros(F, np.float32), np.ones(F, np.float32)
    a, b = member(), member()
    both = T.LinkerModel(mean, std, [a, b])
    x = rng.normal(size=(5, F)).astype(np.float32)
    expected = (T.LinkerModel(mean, std, [a]).score(x) + T.LinkerModel(mean, std, [b]).score(x)) / 2
    assert np.allclose(both.score(x), expected, atol=1e-5)
    both.save(tmp_path / "m.npz")
    assert np.allclose(T.load_model(tmp_path / "m.npz").score(x), expected, atol=1e-5)


def test_merged_weight_files_score_as_the_mean_of_their_ensembles(tmp_path):
    # Two trained files standardise differently (their augmented copies were drawn differently); the merged
    # ensemble folds each member's standardisation into its first layer and keeps window and vector model.
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "training" / "train_thread_linker.py"
    spec = importlib.util.spec_from_file_location("train_thread_linker", script)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    rng = np.random.default_rng(3)
    F = len(T.FEATURES)
    files, models = [], []
    for k in range(2):
        layers = [[(rng.normal(size=(F, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)),
                   (rng.normal(size=(4, 1)).astype(np.float32), rng.normal(size=1).astype(np.float32))]]
        m = T.LinkerModel(rng.normal(size=F).astype(np.float32), rng.uniform(0.5, 2, F).astype(np.float32),
                          layers, window=100, vector_model=DEFAULT_MODEL)
        m.save(tmp_path / f"{k}.npz")
        files.append(str(tmp_path / f"{k}.npz"))
        models.append(m)
    train.merge(files, str(tmp_path / "merged.npz"))
    merged = T.load_model(tmp_path / "merged.npz")
    x = rng.normal(size=(6, F)).astype(np.float32)
    assert np.allclose(merged.score(x), (models[0].score(x) + models[1].score(x)) / 2, atol=1e-4)
    assert (merged.window, merged.vector_model, len(merged.layers)) == (100, DEFAULT_MODEL, 2)


def test_fast_score_equals_the_plain_network_over_several_chunks():
    """score() folds the standardisation into the first layer and works in chunks; the numbers must be the
    textbook network's: standardise, (linear, softsign) x hidden layers, linear, mean over members."""
    rng = np.random.default_rng(1)
    F = len(T.FEATURES)
    mean = rng.normal(size=F).astype(np.float32)
    std = rng.uniform(0.5, 3.0, size=F).astype(np.float32)
    members = [[(rng.normal(size=(F, 8)).astype(np.float32), rng.normal(size=8).astype(np.float32)),
                (rng.normal(size=(8, 6)).astype(np.float32), rng.normal(size=6).astype(np.float32)),
                (rng.normal(size=(6, 1)).astype(np.float32), rng.normal(size=1).astype(np.float32))]
               for _ in range(3)]
    x = rng.normal(size=(2500, F)).astype(np.float32)

    def plain(member):
        h = (x - mean) / std
        for w, b in member[:-1]:
            h = h @ w + b
            h = h / (1 + np.abs(h))
        return (h @ member[-1][0]).ravel() + member[-1][1][0]

    expected = np.mean([plain(m) for m in members], axis=0)
    model = T.LinkerModel(mean, std, members)
    assert np.allclose(model.score(x, chunk=1000), expected, atol=1e-4)
    assert np.allclose(model.score(x), expected, atol=1e-4)


def test_projected_vector_inputs_are_the_product_and_difference_of_the_pair(tmp_path):
    """A member with a projection P adds [Pc * Pk, |Pc - Pk|] of the child's and the candidate's vectors to its
    inputs, zero in the "new conversation" slot; the projection survives save/load."""
    rng = np.random.default_rng(2)
    F, d, n = len(T.FEATURES), 3, 12
    mean, std = rng.normal(size=F).astype(np.float32), rng.uniform(0.5, 2.0, size=F).astype(np.float32)
    member = [(rng.normal(size=(F + 2 * d, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)),
              (rng.normal(size=(5, 1)).astype(np.float32), rng.normal(size=1).astype(np.float32))]
    P = rng.normal(size=(8, d)).astype(np.float32)
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    x = rng.normal(size=(30, F)).astype(np.float32)
    child = rng.integers(1, n, size=30)
    cand = np.where(np.arange(30) % 4 == 0, -1, rng.integers(0, n, size=30))
    qc, qk = vectors[child] @ P, vectors[np.maximum(cand, 0)] @ P
    extra = np.where((cand >= 0)[:, None], np.concatenate([qc * qk, np.abs(qc - qk)], axis=1), 0.0)
    h = np.concatenate([(x - mean) / std, extra], axis=1) @ member[0][0] + member[0][1]
    h = h / (1 + np.abs(h))
    expected = (h @ member[1][0]).ravel() + member[1][1][0]
    model = T.LinkerModel(mean, std, [member], projections=[P])
    model.save(tmp_path / "p.npz")
    loaded = T.load_model(tmp_path / "p.npz")
    assert loaded.uses_vectors and np.allclose(loaded.projections[0], P)
    assert np.allclose(loaded.score(x, vectors, child, cand, chunk=7), expected, atol=1e-4)
    # Without sentence vectors the vector inputs are zero: the linker still runs.
    zero = np.concatenate([(x - mean) / std, np.zeros((30, 2 * d))], axis=1) @ member[0][0] + member[0][1]
    zero = zero / (1 + np.abs(zero))
    assert np.allclose(loaded.score(x), (zero @ member[1][0]).ravel() + member[1][1][0], atol=1e-4)


def test_features_are_finite_and_respect_the_window():
    chat = read_gold(TOY)[0]
    p = T.prepare(chat.messages)
    X, valid = T.features(p, 0, p.n, window=3)
    assert X.shape == (8, 4, len(T.FEATURES)) and np.isfinite(X).all()
    assert valid[:, 0].all()  # "new conversation" is always possible
    assert not valid[0, 1:].any()  # the first message has no earlier message
    assert not valid[:, 1:][6].any()  # the system message replies to nothing …
    assert not valid[7, 1]  # … and attracts no reply (message 8 is one after it)
    name = T.FEATURES.index("child_names_parent")
    assert X[1, 1, name] == 1.0  # "@张三" names the sender of the message one back


def test_linker_follows_mentions_quotes_and_time_on_a_realistic_chat():
    chat = read_gold(TOY)[0]
    parents, labels = T.thread_messages(chat.messages)
    assert parents[1] == 0 and parents[4] == 3  # @mention answers
    assert parents[6] == -1 and parents[7] == -1  # system line; next-day announcement
    assert labels[0] != labels[3]  # 5.5 hours apart, other people, other topic


def test_explicit_quote_wins_and_max_gap_cuts():
    msgs = [_msg(0, 0, "a", "周报模板在哪里下载？"), _msg(1, 1, "b", "今天食堂有红烧肉"),
            _msg(2, 2, "c", "在共享盘", reply_to="m0"), _msg(3, 600, "d", "在共享盘的模板目录")]
    parents, _ = T.thread_messages(msgs, max_gap_minutes=120)
    assert parents[2] == 0  # the quote, not whatever the model prefers
    assert parents[3] == -1  # ten hours later: beyond max_gap, nothing to link to


def _chat(rows, chat="群"):
    """Messages from (minute, sender, text[, kind]) rows; the sender doubles as display name."""
    return [_msg(i, r[0], r[1], r[2], *(r[3:] or [TEXT]), chat=chat) for i, r in enumerate(rows)]


def test_two_interleaved_conversations_in_a_bursty_group_are_separated():
    # A quiet work group wakes up: two people ask at once, answers interleave (with and without @),
    # then an hour of silence and a lone announcement.
    rows = [
        (0, "张三", "报销单在OA哪里提交？发票要原件吗"),
        (1, "王五", "测试环境数据库又连不上了，谁在维护？"),
        (2, "李四", "@张三 OA里点财务报销，发票原件交财务室"),
        (2, "赵六", "@王五 数据库刚在迁移，半小时后再连"),
        (3, "张三", "@李四 好的，报销单填完要领导签字吗"),
        (4, "王五", "@赵六 好的，迁移完在群里说一声"),
        (5, "李四", "@张三 要部门领导在OA里审批报销单"),
        (6, "张三", "[表情]", "image"),
        (35, "赵六", "@王五 数据库迁移好了，可以连了"),
        (100, "钱七", "周五下午团建，大家记得报名"),
    ]
    parents, labels = T.thread_messages(_chat(rows))
    reimburse, database = [0, 2, 4, 6, 7], [1, 3, 5, 8]
    assert len({labels[i] for i in reimburse}) == 1 and len({labels[i] for i in database}) == 1
    assert labels[0] != labels[1]
    assert parents[7] >= 0  # a sticker is an answer too
    assert parents[9] == -1  # the announcement after an hour of silence starts its own conversation


# A quiet work group: eight short Q&A bursts, one after another, hours apart (no two at once).
SERIAL_TOPICS = [
    ("张三", "周五的周报模板在哪里下载？", "李四", "在共享盘 周报 目录下", "张三", "找到了，谢谢"),
    ("王五", "测试环境数据库又连不上了", "赵六", "正在迁移，半小时后再试", "王五", "好的"),
    ("钱七", "下周团建去哪里？", "孙八", "听说去千岛湖", "钱七", "要自己带帐篷吗"),
    ("李四", "报销发票要原件吗", "周九", "要原件，交到财务室", "李四", "[表情]"),
    ("赵六", "新来的实习生工位在哪", "吴十", "三楼靠窗那排", "赵六", "收到"),
    ("孙八", "打印机卡纸了谁会修", "郑一", "我去看看", "孙八", "多谢"),
    ("周九", "年假怎么申请？", "王五", "OA里提交请假单", "周九", "好的谢谢"),
    ("吴十", "VPN 账号过期了找谁", "张三", "找IT服务台续期", "吴十", "ok"),
]


def _serial_chat():
    rows, minute = [], 0
    for k, topic in enumerate(SERIAL_TOPICS):
        for j in range(0, 6, 2):
            rows.append((minute, topic[j], topic[j + 1]))
            minute += 1 + j % 3
        minute += 180 + 37 * k  # three to seven hours of silence
    return _chat(rows)


def test_serial_chat_starts_conversations_only_after_a_silence():
    # The linker alone tends to read a short Chinese answer ("在共享盘 周报 目录下") as a new conversation;
    # in a chat that holds one conversation at a time, a conversation starts only after a silence.
    p = T.prepare(_serial_chat())
    sc = T.scores(p)
    assert T.previous_parent_rate(sc) >= T.SERIAL_REGIME  # recognised as serial
    assert 10 * 60 < T.silence_threshold(p.ts) < 180 * 60  # between the bursts' pauses and the silences
    parents, _ = T.link(p)  # decoding="auto"
    labels = T.components(parents)
    bursts = [labels[3 * k:3 * k + 3].tolist() for k in range(len(SERIAL_TOPICS))]
    assert all(b == [3 * k] * 3 for k, b in enumerate(bursts)), bursts
    assert T.link(p, decoding="serial")[0].tolist() == parents.tolist()


def _fake_scores(monkeypatch, sc):
    monkeypatch.setattr(T, "scores", lambda *a, **k: sc.copy())


def test_auto_decoding_keeps_argmax_in_an_interleaved_chat(monkeypatch):
    # Best parent two or three messages back (conversations interleave), "new" preferred at every 4th
    # message: auto must decode exactly as argmax, even where a long silence would have allowed a cut.
    n, W = 60, 4
    msgs = _chat([(i * (30 if i % 10 else 240), "abcd"[i % 4], f"m{i}") for i in range(n)])
    sc = np.full((n, W + 1), -np.inf, dtype=np.float32)
    for i in range(n):
        sc[i, 0] = 0.0
        for k in range(1, min(i, W) + 1):
            sc[i, k] = 1.0 if k == 2 + i % 2 else 0.5
        if i % 4 == 0:
            sc[i, 0] = 2.0
    _fake_scores(monkeypatch, sc)
    p = T.prepare(msgs)
    assert T.previous_parent_rate(sc) < T.SERIAL_REGIME
    auto, _ = T.link(p, window=W)
    argmax, _ = T.link(p, window=W, decoding="argmax")
    assert auto.tolist() == argmax.tolist()
    assert (auto[4::4] == -1).all()


def test_serial_decoding_gates_new_conversations_by_silence(monkeypatch):
    # Bursts of 5 messages one minute apart, 4 hours between bursts; the model wants "new" at every
    # 3rd message but the previous message is always its best parent.
    n, W = 40, 3
    minute = [(i // 5) * 240 + i % 5 for i in range(n)]
    msgs = _chat([(minute[i], "ab"[i % 2], f"m{i}") for i in range(n)])
    sc = np.full((n, W + 1), -np.inf, dtype=np.float32)
    for i in range(n):
        sc[i, 0] = 2.0 if i % 3 == 0 else 0.0
        for k in range(1, min(i, W) + 1):
            sc[i, k] = 1.0 if k == 1 else 0.2
    _fake_scores(monkeypatch, sc)
    p = T.prepare(msgs)
    parents, _ = T.link(p, window=W)
    starts = set(np.flatnonzero(parents == -1).tolist())
    # a start needs both: after a silence (every 5th message) and the model's "new" (every 3rd)
    assert starts == {0} | {i for i in range(n) if i % 5 == 0 and i % 3 == 0}
    assert T.link(p, window=W, decoding="argmax")[0].tolist().count(-1) == len(range(0, n, 3))
    with pytest.raises(ValueError, match="decoding"):
        T.link(p, window=W, decoding="greedy")


def test_serial_decoding_starts_a_conversation_the_linker_is_sure_of_without_a_silence(monkeypatch):
    # As above, but at every 7th message "new" beats the best parent by more than the margin: that message starts
    # a conversation mid-burst; the mild preferences for "new" (every 3rd) still wait for a silence.
    n, W = 40, 3
    minute = [(i // 5) * 240 + i % 5 for i in range(n)]
    msgs = _chat([(minute[i], "ab"[i % 2], f"m{i}") for i in range(n)])
    sc = np.full((n, W + 1), -np.inf, dtype=np.float32)
    sure = {i for i in range(1, n) if i % 7 == 0}
    for i in range(n):
        sc[i, 0] = 1.0 + T.NEW_CONVERSATION_MARGIN + 0.5 if i in sure else (2.0 if i % 3 == 0 else 0.0)
        for k in range(1, min(i, W) + 1):
            sc[i, k] = 1.0 if k == 1 else 0.2
    _fake_scores(monkeypatch, sc)
    parents, _ = T.link(T.prepare(msgs), window=W)
    starts = set(np.flatnonzero(parents == -1).tolist())
    assert starts == {0} | sure | {i for i in range(n) if i % 5 == 0 and i % 3 == 0}


def test_serial_decoding_starts_a_conversation_at_a_question_put_to_the_whole_group(monkeypatch):
    # Bursts as above; the linker mildly prefers the previous message everywhere ("new" 1 below it). A question
    # asked of the whole group ("有没有人…？", "问个问题，各位…") starts a conversation mid-burst unless a parent beats
    # "new" by more than GROUP_QUESTION_MARGIN; the same question put to someone by name does not.
    n, W = 40, 3
    minute = [(i // 5) * 240 + i % 5 for i in range(n)]
    texts = {i: "ok" for i in range(n)}
    texts |= {2: "有没有人用过网联的对账接口？", 7: "问个问题，各位退款是怎么记账的？", 12: "@b 有没有人用过网联的对账接口？",
              13: "有没有人用过网联的对账接口？"}
    msgs = _chat([(minute[i], "ab"[i % 2], texts[i]) for i in range(n)])
    sc = np.full((n, W + 1), -np.inf, dtype=np.float32)
    for i in range(n):
        sc[i, 0] = 0.0
        for k in range(1, min(i, W) + 1):
            sc[i, k] = 1.0 if k == 1 else -1.0
    sc[13, 1] = 2.5  # the linker is sure this one replies
    _fake_scores(monkeypatch, sc)
    parents, _ = T.link(T.prepare(msgs), window=W)
    assert set(np.flatnonzero(parents == -1).tolist()) == {0, 2, 7}
    assert -2.5 < T.GROUP_QUESTION_MARGIN < -1 < 0 < T.NEW_CONVERSATION_MARGIN


def test_silence_threshold_separates_bursts_from_silences():
    rng = np.random.default_rng(3)
    gaps = np.concatenate([rng.uniform(5, 90, 300), rng.uniform(3 * 3600, 12 * 3600, 40)])
    rng.shuffle(gaps)
    ts = 1.7e9 + np.concatenate([[0.0], np.cumsum(gaps)])
    assert 90 < T.silence_threshold(ts) < 3 * 3600
    # Minute-resolution exports (most gaps are 0): still between the bursts and the silences.
    minute_ts = np.floor(ts / 60) * 60
    assert 90 < T.silence_threshold(minute_ts) < 3 * 3600
    assert T.silence_threshold(ts[:5]) is None  # too few gaps to tell


def test_a_lull_inside_a_conversation_is_not_yet_a_silence():
    # Pauses inside conversations (median a minute, some of 20+ minutes) and silences between them (median two
    # hours, some under an hour) overlap. At even odds the mixture cuts inside the overlap and splits conversations
    # at their longest lulls; a conversation starts only after a gap that is a silence with probability
    # SILENCE_CONFIDENCE, which splits fewer of them (and misses a few short silences).
    rng = np.random.default_rng(5)
    inside, silences = rng.lognormal(np.log(60), 1.3, 800), rng.lognormal(np.log(2 * 3600), 1.0, 80)
    gaps = np.concatenate([inside, silences])
    rng.shuffle(gaps)
    ts = 1.7e9 + np.concatenate([[0.0], np.cumsum(gaps)])
    even, confident = T.silence_threshold(ts, confidence=0.5), T.silence_threshold(ts)
    assert T.SILENCE_CONFIDENCE == 0.9 and 10 * 60 < even < confident < 2 * 3600
    assert (inside > confident).sum() < (inside > even).sum()
    assert (silences > confident).mean() > 0.75


def test_system_lines_never_reply_nor_get_replies():
    rows = [(0, "张三", "周会改到几点？"), (0, "系统", "王五 加入了群聊", SYSTEM), (1, "李四", "@张三 三点")]
    parents, _ = T.thread_messages(_chat(rows))
    assert parents[1] == -1 and parents[2] == 0


def test_linker_is_linear_in_blocks():
    # Splitting work in blocks must not change any decision (features only look backwards).
    chat = read_gold(TOY)[0]
    msgs = chat.messages * 3
    msgs = [_msg(i, i, m.sender, m.text) for i, m in enumerate(msgs)]
    p = T.prepare(msgs)
    whole, _ = T.link(p)
    old = T.BLOCK
    try:
        T.BLOCK = 5
        blocked, _ = T.link(p)
    finally:
        T.BLOCK = old
    assert whole.tolist() == blocked.tolist()


def _load(ws, path):
    from chendian.ingest import ingest_paths

    report = ingest_paths(ws, [path], fmt="jsonl")
    assert not report.failed


def test_stages_write_schema_and_rethread_incrementally(workspace, tmp_path, monkeypatch):
    # No sentence model in this test: vectors are zeros (the linker still works on structure and words).
    from chendian.pipeline.stages import embed as embed_stage

    monkeypatch.setattr(embed_stage, "message_vectors", lambda ws, msgs, cache=None: np.zeros((len(msgs), 8), np.float32))
    monkeypatch.setattr(embed_stage, "workspace_cache", lambda ws: None)
    lines = TOY.read_text(encoding="utf-8").splitlines()
    first = tmp_path / "day1.jsonl"
    first.write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    _load(workspace, first)
    rc = RunContext(quiet=True, stage="thread")
    assert segment_stage.run(workspace, rc)["segmented"] == 6
    counts = thread_stage.run(workspace, rc)
    assert counts["chats_threaded"] == 1 and counts["messages_linked"] == 6
    rows = workspace.db.execute("SELECT * FROM threads ORDER BY first_ts").fetchall()
    ids_before = {r["id"]: r["size"] for r in rows}
    assert all(r["id"].startswith("t") for r in rows)
    # Same input again: nothing to do.
    assert thread_stage.run(workspace, rc)["chats_threaded"] == 0
    # Day 2 arrives: only the new messages are linked; earlier conversations keep their ids.
    second = tmp_path / "day2.jsonl"
    second.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _load(workspace, second)
    segment_stage.run(workspace, rc)
    counts = thread_stage.run(workspace, rc)
    assert counts["messages_linked"] == 2
    after = {r["id"]: r["size"] for r in workspace.db.execute("SELECT * FROM threads")}
    assert set(ids_before) <= set(after)
    n = workspace.db.execute("SELECT count(*) FROM message_threads").fetchone()[0]
    assert n == 8
    system_row = workspace.db.execute(
        "SELECT t.parent_id FROM message_threads t JOIN messages m ON m.id = t.message_id WHERE m.kind = ?",
        (SYSTEM,)).fetchone()
    assert system_row["parent_id"] is None
    # The reading view: conversations with their messages in order, replies indented.
    convs = thread_stage.conversations(workspace, min_size=2)
    assert convs and all(c.size >= 2 for c in convs)
    conv = next(c for c in convs if c.lines[0].message.text.startswith("报销"))
    assert [line.depth for line in conv.lines][0] == 0 and max(line.depth for line in conv.lines) >= 1
    text = thread_stage.format_conversation(conv, tz=SHANGHAI)
    assert "会话" in text and "张三: 报销流程怎么走" in text and "↳ " in text


def test_segment_stage_reports_a_missing_user_dictionary(workspace):
    (workspace.root / "chendian.toml").write_text('[segment]\nuser_dict = "terms.txt"\n', encoding="utf-8")
    from chendian.store import Workspace

    ws = Workspace(workspace.root)
    with pytest.raises(segment_stage.SegmentConfigError, match="terms.txt"):
        segment_stage.run(ws, RunContext(quiet=True))
    ws.close()


def test_user_dictionary_changes_resegment(workspace, tmp_path):
    _load(workspace, TOY)
    rc = RunContext(quiet=True)
    segment_stage.run(workspace, rc)
    (workspace.root / "terms.txt").write_text("报销单 10 n\n", encoding="utf-8")
    (workspace.root / "chendian.toml").write_text('[segment]\nuser_dict = "terms.txt"\n', encoding="utf-8")
    from chendian.store import Workspace

    ws = Workspace(workspace.root)
    counts = segment_stage.run(ws, rc)
    assert counts["resegmented_after_dictionary_change"] == 8 and counts["segmented"] == 8
    toks = segment_stage.load_tokens(ws, [m.id for m in ws.messages()])
    assert any("报销单" in t for t in toks.values())
    ws.close()


def _busy_channel(n=150, seed=10):
    """An IRC-like channel: five two-person conversations interleaved at random, half the lines addressed."""
    import json
    import random

    rng = random.Random(seed)
    topics = ["wifi driver", "grub install", "nvidia card", "samba share", "apt lock"]
    lines = []
    for i in range(n):
        c = rng.randrange(5)
        sender, other = (f"user{c}a", f"user{c}b") if rng.random() < 0.5 else (f"user{c}b", f"user{c}a")
        text = f"{other}: {topics[c]} step {i}" if rng.random() < 0.5 else f"{topics[c]} step {i}"
        lines.append({"chat": "#help", "id": str(i), "time": f"2024-03-01T09:{i // 6:02d}:{(i % 6) * 10:02d}",
                      "sender": sender, "sender_name": sender, "text": text})
    return [json.dumps(r) for r in lines]


def test_incremental_threading_equals_a_full_run_despite_look_ahead(workspace, tmp_path, monkeypatch):
    # The dense-chat weights look past a message, so the nightly run re-links the tail before the new messages:
    # threading day 1 then day 2 must give the links a single run over both days gives.
    from chendian.pipeline.stages import embed as embed_stage

    def vectors(ws, msgs, cache=None):  # stand-ins of the default model's: one direction per topic word
        v = np.zeros((len(msgs), 512), np.float32)
        for i, m in enumerate(msgs):
            v[i, sum(map(ord, m.text.split()[-3])) % 512] = 1.0
        return v

    monkeypatch.setattr(embed_stage, "message_vectors", vectors)
    monkeypatch.setattr(embed_stage, "workspace_cache", lambda ws: None)
    lines = _busy_channel()
    rc = RunContext(quiet=True, stage="thread")
    for name, part in (("day1.jsonl", lines[:110]), ("day2.jsonl", lines)):
        path = tmp_path / name
        path.write_text("\n".join(part) + "\n", encoding="utf-8")
        _load(workspace, path)
        segment_stage.run(workspace, rc)
        counts = thread_stage.run(workspace, rc)
    assert counts["messages_linked"] == 40 and counts["messages_relinked"] == T.RELINK_HORIZON
    p = T.prepare(list(workspace.messages("#help")))
    assert T.previous_parent_rate(T.scores(p)) < T.SERIAL_REGIME  # decoded as a dense channel
    incremental = dict(workspace.db.execute("SELECT message_id, parent_id FROM message_threads").fetchall())
    thread_stage.thread_chat(workspace, "#help", full=True)
    full = dict(workspace.db.execute("SELECT message_id, parent_id FROM message_threads").fetchall())
    assert incremental == full


def test_vector_projections_score_the_same_in_any_block_size(monkeypatch):
    # Each block projects only its own rows and their candidates; the scores must not depend on where blocks end.
    rng = np.random.default_rng(5)
    rows = [(i, "abcd"[rng.integers(4)], f"{'abcd'[rng.integers(4)]}: 第{i}条 wifi driver") for i in range(40)]
    vectors = rng.standard_normal((40, 512)).astype(np.float32)
    p = T.prepare(_chat(rows), vectors=vectors, vector_model=DEFAULT_MODEL)
    dense = T.load_dense_model()
    assert dense.uses_vectors
    whole = T.scores(p, dense, window=6)
    monkeypatch.setattr(T, "BLOCK", 7)
    assert np.allclose(T.scores(p, dense, window=6), whole, atol=1e-5, equal_nan=True)
    assert np.isfinite(whole[10:, 1:]).all()  # every later message has 6 real candidates, all scored


def _scores_preferring(n, W, parents):
    """First-pass scores whose best option for message i is parents[i] (-1: new conversation)."""
    sc = np.full((n, W + 1), -np.inf, dtype=np.float32)
    for i in range(n):
        sc[i, 0] = 0.0
        sc[i, 1:min(i, W) + 1] = -1.0
        if parents[i] >= 0:
            sc[i, i - parents[i]] = 2.0
    return sc


def test_conversation_features_read_the_conversations_the_first_pass_built():
    # Two conversations: alice 0 <- bob 2 <- alice 4, and carol 1 <- dave 3 <- carol 5; then alice asks again (6)
    # and dave (7), who answered carol before, replies to her. Message 6's candidates are read in their
    # first-pass conversations.
    rows = [(i, s, f"line {i}") for i, s in enumerate(["alice", "carol", "bob", "dave", "alice", "carol", "alice",
                                                        "dave"])]
    p = T.prepare(_chat(rows))
    first = [-1, -1, 0, 1, 2, 3, 4, 6]
    sc = _scores_preferring(p.n, 6, first)
    slots, F = T.conversation_features(p, sc)
    f = {name: k for k, name in enumerate(T.CONVERSATION_FEATURES)}
    assert slots.shape == (8, T.CONVERSATION_CANDIDATES + 1) and slots[6, 0] == 0
    assert slots[6, 1] == 2  # the first pass's best: message 4
    assert sorted(slots[6][slots[6] > 0].tolist()) == [1, 2, 3, 4, 5, 6]  # every real candidate, none twice
    row = {int(k): F[6, c] for c, k in enumerate(slots[6]) if k >= 0}
    assert row[0][f["new_conversation"]] == 1 and row[2][f["new_conversation"]] == 0
    assert row[2][f["first_pass_choice"]] == 1 and row[1][f["first_pass_choice"]] == 0
    # message 4 (alice) ends conversation {0, 2, 4}; message 5 (carol) ends {1, 3, 5}; message 2 ends nothing
    assert row[2][f["ends_conversation"]] == 1 and row[1][f["ends_conversation"]] == 1
    assert row[4][f["ends_conversation"]] == 0
    assert row[2][f["log_conversation_size"]] == pytest.approx(np.log1p(3))
    assert row[2][f["child_sender_in_conversation"]] == 1 and row[1][f["child_sender_in_conversation"]] == 0
    assert row[2][f["child_previous_in_conversation"]] == 1  # alice's previous line is message 4
    assert row[6][f["candidate_starts_conversation"]] == 1 and row[4][f["candidate_starts_conversation"]] == 0
    assert row[2][f["same_sender"]] == 1
    # dave replies to 6 later (first pass), so a candidate by dave is "answered by its author later"
    assert row[3][f["candidate_sender_replies_later"]] == 1 and row[2][f["candidate_sender_replies_later"]] == 0
    assert row[0][f["new_log_replies_later"]] == pytest.approx(np.log1p(1))
    assert row[0][f["new_log_active_conversations"]] == pytest.approx(np.log1p(2))


def test_conversation_scores_fill_the_candidate_slots_and_shift_new_conversations():
    import dataclasses

    rows = [(i, "abcd"[i % 4], f"line {i}") for i in range(30)]
    p = T.prepare(_chat(rows))
    sc = _scores_preferring(p.n, 12, [-1] + [i - 1 for i in range(1, 30)])
    rng = np.random.default_rng(4)
    F = len(T.CONVERSATION_FEATURES)
    member = [(rng.normal(size=(F, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)),
              (rng.normal(size=(5, 1)).astype(np.float32), rng.normal(size=1).astype(np.float32))]
    model = T.LinkerModel(np.zeros(F, np.float32), np.ones(F, np.float32), [member], T.CONVERSATION_FEATURES)
    out = T.conversation_scores(p, sc, model)
    slots, feats = T.conversation_features(p, sc)
    expected = model.score(feats.reshape(-1, F)).reshape(slots.shape)
    for i in (0, 5, 29):
        have = np.flatnonzero(np.isfinite(out[i]))
        assert sorted(have.tolist()) == sorted(slots[i][slots[i] >= 0].tolist())
        for c, k in enumerate(slots[i]):
            if k >= 0:
                assert out[i, k] == pytest.approx(expected[i, c], abs=1e-5)
    shifted = dataclasses.replace(model, self_bias=-0.5)
    shifted_out = T.conversation_scores(p, sc, shifted)
    assert np.allclose(shifted_out[:, 0], out[:, 0] - 0.5, atol=1e-5)
    assert np.array_equal(shifted_out[:, 1:], out[:, 1:])


def test_the_conversation_pass_weights_survive_save_and_load(tmp_path):
    shipped = T.load_conversation_model()
    assert shipped is not None and shipped.features == T.CONVERSATION_FEATURES
    assert shipped.self_bias != 0.0  # fitted on held-out training chats
    shipped.save(tmp_path / "c.npz")
    again = T.load_model(tmp_path / "c.npz")
    assert again.self_bias == shipped.self_bias and again.features == shipped.features


def test_the_conversation_pass_trains_from_held_out_folds_end_to_end(tmp_path):
    # training/train_thread_linker.py --conversation-pass on a small gold file: two "fold" weight files (the
    # dense weights, each marked as having left half of the chats out), cross-fitted shift, saved weights.
    import importlib.util
    import json
    import random

    script = Path(__file__).resolve().parents[1] / "training" / "train_thread_linker.py"
    spec = importlib.util.spec_from_file_location("train_thread_linker", script)
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    rng = random.Random(7)
    lines = []
    for c in range(4):  # four busy chats: three two-person conversations interleaved, replies addressed
        last = {}
        for i in range(60):
            t = rng.randrange(3)
            a, b = f"c{c}u{t}a", f"c{c}u{t}b"
            sender, other = (a, b) if i % 2 else (b, a)
            mid = f"{c}-{i}"
            lines.append({"chat": f"#c{c}", "id": mid, "time": f"2024-03-01T09:{i // 6:02d}:{(i % 6) * 10:02d}",
                          "sender": sender, "sender_name": sender, "text": f"{other}: topic{t} step {i}",
                          "thread": f"t{t}", "reply_to": last.get(t)})
            last[t] = mid
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(r) for r in lines) + "\n", encoding="utf-8")
    folds = []
    for k in range(2):
        path = tmp_path / f"fold{k}.npz"
        T.load_dense_model().save(path)
        train.add_arrays(str(path), holdout=np.array([k, 2]))
        folds.append(str(path))
    logged = []
    out = tmp_path / "conversations.npz"
    train.conversation_pass(folds, str(gold), None, str(out), members=1, log=logged.append)
    assert logged[0] == "4 held-out chats in 2 folds"
    model = T.load_model(out)
    assert model.features == T.CONVERSATION_FEATURES and len(model.layers) == 1
    assert model.self_bias in train.BIAS_GRID
    X, V, Y = train.conversation_examples(train.held_out_scores(folds[:1], train.load_chats(str(gold), None))[0])
    assert len(X) > 0 and X.shape[1:] == (T.CONVERSATION_CANDIDATES + 1, len(T.CONVERSATION_FEATURES))
    assert V[np.arange(len(Y)), Y].all()  # the gold slot is always a real candidate


def test_scores_are_bitwise_the_same_on_one_blas_thread_as_on_several():
    # link() scores with one BLAS thread (faster for its small products, far faster on a busy machine); a night's
    # links must not depend on it.
    from threadpoolctl import threadpool_limits

    words = ["报销", "发票", "服务器", "证书", "会议室", "VPN", "打印机", "工资条"]
    msgs = [_msg(i, i // 3, f"u{i % 7}", f"{words[i % 8]} 第{i}步怎么弄？" if i % 5 == 0 else f"{words[(i * 3) % 8]} 好的 {i}")
            for i in range(400)]
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(len(msgs), 512)).astype(np.float32)
    p = T.prepare(msgs, vectors=vecs / np.linalg.norm(vecs, axis=1, keepdims=True), vector_model=DEFAULT_MODEL)
    dense = T.load_dense_model()
    out = {}
    for n in (1, 2):
        with threadpool_limits(n):
            out[n] = (T.scores(p), T.scores(p, dense, window=dense.window))
    for a, b in zip(out[1], out[2]):
        assert a.shape[0] == len(msgs) and np.array_equal(a, b)
