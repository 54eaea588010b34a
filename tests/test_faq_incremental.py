"""The faq stage keeps per-text features between runs (FeatureMemo, table faq_features): a night computes
those of its new texts only, and the entries are exactly those computed without them."""

from __future__ import annotations

import numpy as np

from chendian.model import QA, Answer
from chendian.summarize.qa import faq

SUBJECTS = ["报销", "年假", "VPN", "打印机", "工资条", "门禁卡", "会议室", "发票", "公积金", "体检", "团建", "工牌",
            "测试环境", "内网", "差旅费", "社保", "合同", "入职", "转正", "停车位"]
ASKS = ["怎么申请", "在哪里办", "多久能到账", "为什么不行了", "找谁处理", "有模板吗", "能不能线上办", "要带什么材料",
        "今天还能弄吗", "流程是什么", "坏了怎么办", "是不是要审批", "几点截止"]
TAILS = ["？", "啊？", "呀", "", "，急", "，谢谢"]
REPLIES = ["找行政就行，在三楼", "可以的", "不知道", "你问下HR？", "OA上提交，走审批流程", "一般三个工作日",
           "不行，要本人去", "我也想知道"]


def questions(n: int, seed: int) -> list[QA]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        text = rng.choice(SUBJECTS) + rng.choice(ASKS) + rng.choice(TAILS)
        answers = [Answer([f"a{seed}-{i}-{k}"], f"u{k}", f"同事{k}", str(rng.choice(REPLIES)),
                          float(rng.uniform(0.3, 1.0)), bool(rng.random() < 0.2))
                   for k in range(int(rng.integers(0, 3)))]
        out.append(QA(f"q{seed}-{i}", "c", f"t{seed}-{i % 40}", f"m{seed}-{i}", text, f"u{i % 7}", f"成员{i % 7}",
                      1000 * seed + i, answers, 2.0))
    return out


def bag_of_characters(texts):
    """Deterministic vectors (characters counted, a little noise by text): enough to tell the questions apart."""
    chars = sorted(set("".join(SUBJECTS + ASKS + TAILS + REPLIES)))
    rows = []
    for t in texts:
        v = np.array([t.count(c) for c in chars], dtype=np.float32)
        v += np.random.default_rng(sum(map(ord, t))).normal(0, 0.05, len(chars)).astype(np.float32)
        rows.append(v / (np.linalg.norm(v) + 1e-9))
    return np.array(rows, dtype=np.float32).reshape(len(texts), len(chars))


def records(entries):
    return [faq.entry_record(e) for e in sorted(entries.values(), key=lambda e: e.id)]


def test_a_night_with_the_kept_features_builds_what_computing_them_builds():
    days = questions(700, 1)  # over dedup.MIN_CONTEXT distinct wordings: the context features are on
    assert len({faq.clean_question(q.question) for q in days}) >= faq.dedup.MIN_CONTEXT
    first_memo = faq.FeatureMemo({})
    first = faq.build_entries(days, bag_of_characters, memo=first_memo)
    assert first_memo.added and not first_memo.stale()

    previous = {q.id: eid for eid, e in first.items() for q in e.qas}
    night = days + questions(60, 2)
    memo = faq.FeatureMemo(dict(first_memo.added))
    warm = faq.build_entries(night, bag_of_characters, previous, memo=memo)
    cold = faq.build_entries(night, bag_of_characters, previous)
    assert records(warm) == records(cold)
    # only the night's new texts were computed; every kept feature of the earlier questions was used
    assert 0 < len(memo.added) < len(first_memo.added) / 3
    assert not memo.stale()

    # a question gone (re-extracted away) leaves its features stale: the stage deletes them
    fewer = faq.FeatureMemo(dict(first_memo.added))
    faq.build_entries(days[:650], bag_of_characters, memo=fewer)
    assert fewer.stale() and not fewer.added


def test_features_made_by_other_code_are_not_reused():
    days = questions(30, 3)
    memo = faq.FeatureMemo({}, fingerprint="old code")
    faq.build_entries(days, bag_of_characters, memo=memo)
    again = faq.FeatureMemo(dict(memo.added))  # today's code: another fingerprint, every key differs
    assert records(faq.build_entries(days, bag_of_characters, memo=again)) == records(
        faq.build_entries(days, bag_of_characters))
    assert set(again.stale()) == set(memo.added) and len(again.added) == len(memo.added)


def test_a_night_leaves_the_entries_it_did_not_touch_as_they_were(monkeypatch):
    # A workspace past its first NULL_PAIRS pairs, as any big one is: answer_fit's chance pairs come from its
    # earliest pairs, which a night does not change; drawn from all pairs, every entry's fit moved each night.
    monkeypatch.setattr(faq, "NULL_PAIRS", 100)
    days = questions(700, 1)
    first = faq.build_entries(days, bag_of_characters)
    previous = {q.id: eid for eid, e in first.items() for q in e.qas}
    night = days + questions(60, 2)
    pairs = [sum(1 for q in qs for a in q.answers) for qs in (days, night)]
    assert faq.null_reference(pairs[0]) == faq.null_reference(pairs[1]) < pairs[0]
    second = faq.build_entries(night, bag_of_characters, previous)

    touched = {eid for eid, e in second.items() if any(q.id not in previous for q in e.qas)}
    untouched = [eid for eid in first if eid not in touched]
    assert len(untouched) > len(touched) > 0
    assert [faq.entry_record(first[eid]) for eid in untouched] == [faq.entry_record(second[eid]) for eid in untouched]
    assert len({a.fit for eid in untouched for a in first[eid].answers}) > 10  # fits that could have moved


def test_answer_fits_are_a_function_of_the_questions_not_of_their_order(monkeypatch):
    monkeypatch.setattr(faq, "NULL_PAIRS", 100)
    days = questions(300, 4)
    shuffled = [days[i] for i in np.random.default_rng(1).permutation(len(days))]
    assert faq.answer_fits(shuffled, bag_of_characters) == faq.answer_fits(days, bag_of_characters)


def test_the_chance_reference_grows_only_when_the_workspace_doubles():
    assert [faq.null_reference(n) for n in (0, 2, 3999, 4000, 4001, 7999, 8000, 80_000, 127_999, 128_000)] == [
        0, 2, 3999, 4000, 4000, 4000, 8000, 64_000, 64_000, 128_000]
