"""FAQ: the same question asked in different threads and days becomes one entry, curated by people.

An entry has a canonical wording (the most central of its questions), its other wordings, "asked N times",
the best answers with their authors, and links to every source conversation. Entry ids are stable: an entry
keeps the id of its earliest question (stable_id(question message id, prefix="f")), and a question once
placed in an entry stays there on later runs (faq_members), so a new day only adds to existing entries.

Human curation (approve, hide, unhide, edit, merge, split, pin, unpin) is stored by entry id in `curation`
and re-applied after every rebuild, in the order it was recorded: no run loses a human edit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...model import QA, Answer, Answerer, FaqAnswer, FaqEntry, stable_id
from ..text import dedup
from .answer_type import answer_type_mismatch
from .extract import QUESTION_THRESHOLD, clean_text, question_features
from .worthy import opens_conversation, surface_features, worthy_probability
from ..text import HERE as TEXT_DIR, analyze, code_fingerprint
from ..text.segment import fold, segmenter


# Replies that answer nothing ("不知道", "应该是吧", "我也想知道", "同问", "+1", "没看懂"): never an entry's shown answer.
NON_ANSWER_RE = re.compile(
    r"^(?:不知道|不清楚|不太清楚|不晓得|不懂|没听说过?|(?:没|没有|不太?)(?:看|听)?(?:懂|明白)了?|[看听]不懂了?|不理解|我也(?:想|不)知道|我也想问|同问|同求|求\+1|\+1|1|顶|蹲|mark|"
    r"应该是吧|可能吧|也许吧|好像是吧|不知道[吖啊呀哦诶]?|我也不清楚|问问|等等|在线等|"
    r"没有?(?:用|做|接触|试|玩|接|碰)过|不了解)[\s。.!！~～?？…]*$", re.I)
# An answer's link probability from which it counts as sure (extract.ANSWER_THRESHOLD admits weaker ones).
SURE_ANSWER = 0.5


# Thanks and "got it" ("找到了，谢谢", "学到了", "好的谢谢老师") react to an answer given elsewhere or in private: a reply
# made only of them answers nothing, whoever wrote it (the asker's thanks are linked to the answer they thank).
_REACTION_RE = re.compile(r"谢谢|多谢|感谢|谢啦|谢了|thx|thanks|thank you|找到了|懂了|明白了|了解了|知道了|收到了?|学到了|"
                          r"学习了|受教了?|原来如此|原来是这样", re.I)
_REACTION_FILLER_RE = re.compile(r"好的?|哦+|噢+|嗯+|恩+|ok|啦|啊|呀|哈+|了|你|您|大家|各位|老师|大佬|大神|学长|学姐|"
                                 r"[\s,，。.!！~～…]", re.I)


def _non_answer_line(line: str) -> bool:
    if NON_ANSWER_RE.match(line):
        return True
    return bool(_REACTION_RE.search(line)) and not _REACTION_FILLER_RE.sub("", _REACTION_RE.sub("", line))


def is_non_answer(text: str) -> bool:
    """Whether a reply answers nothing: every message of it says it doesn't know, asks too, or only thanks."""
    lines = [t for t in (re.sub(r"\[[^\[\]\s]{1,8}\]|@\S+\s*", "", line).strip() for line in (text or "").split("\n"))
             if t]
    return bool(lines) and all(_non_answer_line(line) for line in lines)


def entry_confidence(worthy: float, answers: list[FaqAnswer], contested: set[str] = frozenset()) -> float:
    """P(worthy question) × how sure the shown answer is: its link probability up to SURE_ANSWER, full when
    the asker acknowledged it, times how well it fits the question (answer_fit), times CONTESTED_SURE when its
    question is in `contested` (contested_questions). An entry with no answer has confidence 0 (it belongs on the
    待回答 list)."""
    if not answers:
        return 0.0
    best = answers[0].answer
    sure = 1.0 if best.acknowledged else min(1.0, best.score / SURE_ANSWER)
    if answers[0].qa_id in contested and not best.acknowledged:
        sure *= CONTESTED_SURE
    return round(float(worthy) * sure * answers[0].fit, 3)


# Two questions open at once: a reply may answer either, and the linker leans to the newer one (e.g. "大家的跨境
# 收款通道，手续费一般多少？" shown "最新的邮政编码对照表…", the answer to the question a minute before it). A question
# asked within CONTESTED_MINUTES after another asker's is contested: its answer counts CONTESTED_SURE as sure,
# unless the asker acknowledged it. On both labelled groups (every entry showing an answer to a gold question,
# published or held) the shown answer is right for 52% / 50% of contested questions and 73% / 72% of the others
# (qq-dev / wechat-dev): a ratio of 0.7. 0.8 holds fewer back; of 5 windows × {0.7, 0.8} tried on held-out
# predictions every one raised wechat-dev entry precision, and 5 min × 0.8 held back the most wrong entries while
# costing neither group a right one (docs/evaluation.md, sixteenth stop).
CONTESTED_MINUTES = 5.0
CONTESTED_SURE = 0.8


def contested_questions(qas: Iterable[QA]) -> set[str]:
    """Ids of the QAs whose question came within CONTESTED_MINUTES after a question of another asker in the chat."""
    out: set[str] = set()
    by_chat: dict[str, list[QA]] = defaultdict(list)
    for q in qas:
        by_chat[q.chat].append(q)
    for chat_qas in by_chat.values():
        chat_qas.sort(key=lambda q: (q.ts, q.question_id))
        for i, q in enumerate(chat_qas):
            j = i - 1
            while j >= 0 and q.ts - chat_qas[j].ts <= CONTESTED_MINUTES * 60:
                if chat_qas[j].asker != q.asker:
                    out.add(q.id)
                    break
                j -= 1
    return out


# -- does the answer address the question? ------------------------------------------------------------------
# A reply that merely follows a question in time ("先约出去,干一架.", a job advert, the next person's question)
# is the commonest wrong answer. Its words are no closer to the question's than any other reply's are: the
# relatedness of a pair is measured against chance in the same workspace (the share of mismatched
# question/answer pairs that are less similar), so it means the same under any sentence encoder.
#
# The mismatched pairs are drawn from a reference set that a new day does not change: the earliest pairs (by
# question time), all of them below NULL_PAIRS, else the largest NULL_PAIRS·2^k of them (null_reference). Drawn
# from all pairs, every night's new pairs moved the whole null, so every entry's fit and confidence (and at times
# its shown answer) moved with them, and publish re-rendered pages of years ago. A prefix in time is the one
# choice that stays put as days are added (a hash-sampled set keeps admitting new pairs); doubling it keeps it
# at least half of the workspace, so it stays chance in *this* workspace as its chats drift, and it moves on
# only the few nights the workspace doubles (1M messages: 53k pairs, the earliest 32k; next at 64k).
NULL_PAIRS = 4000
RELEVANT = 0.8     # from this percentile on, the answer is as related as answers get: full fit
UNRELATED = 0.2    # at or below, no more related than a random reply: lowest fit
MIN_FIT = 0.2
QUESTION_REPLY_FIT = 0.5  # a reply that is itself a question ("800啥时候回来") or only "没用过" rarely answers
TYPE_MISMATCH_FIT = 0.5  # a reply without the number/time/place its question asks for (answer_type)
QUOTED_FIT = 0.6  # the least fit of a reply that quotes the question
# Short yes/no replies share no words with their question and are right ("属于", "不会", "可以的").
_YES_NO_REPLY_RE = re.compile(r"^(?:是|对|嗯|恩|可以|不行|不可以|能|不能|会|不会|要|不要|不用|需要|不需要|有|没有|没|"
                              r"属于|不属于|行|不|当然|肯定|一定|必须|应该)")


def null_reference(n: int) -> int:
    """How many of the n earliest pairs the chance pairs are drawn from: all below NULL_PAIRS, else the
    largest NULL_PAIRS·2^k ≤ n (the same from one night to the next until the workspace doubles)."""
    if n <= NULL_PAIRS:
        return n
    r = NULL_PAIRS
    while 2 * r <= n:
        r *= 2
    return r


def answer_relevance(pairs: Sequence[tuple[str, str]], encode) -> list[float]:
    """For each (question, answer): the share of mismatched pairs (a question beside another question's answer)
    whose cosine is lower than this pair's. 0.5: no more related than chance; 1.0: more than any chance pair.
    `pairs` in time order (answer_fits): the mismatched pairs are drawn from the earliest (null_reference)."""
    if not pairs or encode is None:
        return [1.0] * len(pairs)
    q = np.asarray(encode([clean_question(a) or a for a, _ in pairs]), dtype=np.float32)
    a = np.asarray(encode([re.sub(r"\[[^\[\]\s]{1,8}\]|@\S+\s*", "", b).strip() or b for _, b in pairs]),
                   dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-9
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-9
    own = (q * a).sum(axis=1)
    n = len(pairs)
    if n < 2:
        return [1.0] * n
    m = null_reference(n)
    rng = np.random.default_rng(0)  # deterministic: the same reference pairs give the same confidences
    i = rng.integers(0, m, NULL_PAIRS)
    j = (i + rng.integers(1, m, NULL_PAIRS)) % m  # never the pair itself
    null = np.sort((q[i] * a[j]).sum(axis=1))
    return [float(x) for x in np.searchsorted(null, own) / len(null)]


def reply_kind(question: str, answer_text: str) -> list[bool]:
    """[a yes/no reply to a yes/no question, a reply that is itself a question or only says its author has no
    experience of the thing (lacks_experience), a reply without the number, time or place its question asks for
    (answer_type)]: what answer_fit reads of the two texts besides the relevance (the faq stage keeps them between
    runs, FeatureMemo)."""
    qf = question_features(question)
    yes_no = bool((qf.particle or qf.qmark) and not qf.wh and _YES_NO_REPLY_RE.match(clean_text(answer_text)))
    return [yes_no, asks_back(answer_text) or lacks_experience(answer_text),
            bool(answer_type_mismatch(question, answer_text))]


# "没用过OpenWrt", "我也没碰过Mac": the replier has not used, tried or met it. Like 不知道, it answers nothing.
_NO_EXPERIENCE_RE = re.compile(r"没(?:有)?(?:用过|试过|接触过|遇到过|碰到过|做过|玩过|碰过|研究过|了解过|听说过|听过)|不了解|不太懂")
NO_EXPERIENCE_MAX_CHARS = 20  # a longer reply goes on to say something


def lacks_experience(reply: str) -> bool:
    """Whether every message of a reply only says that its author has no experience of the thing asked about."""
    lines = [clean_text(line) for line in (reply or "").split("\n") if clean_text(line)]
    return bool(lines) and all(len(line) <= NO_EXPERIENCE_MAX_CHARS and _NO_EXPERIENCE_RE.search(line)
                               for line in lines)


_ASKS_BACK_RE = re.compile(r"[?？]|(?:吗|么|呢|咩|嘛)(?:[\s，,。.!！~～…]|$)|什么时候|啥时候|怎么|为什么|为啥|多少|哪里|哪儿|是不是|有没有|能不能")


def asks_back(reply: str) -> bool:
    """Whether a reply asks something itself ("800啥时候回来", "没有offer怎么谈", "你投了几家…么"): any question mark,
    sentence-final question particle or question word, not only what question detection would count as a question
    (its threshold is set for finding the group's questions, and a reply that only half asks still doesn't answer).
    A reply of several messages asks back when each of them does ("…退出了吗？" then the explanation answers)."""
    lines = [line for line in (reply or "").split("\n") if clean_text(line)]  # one line per message of the answer
    return bool(lines) and all(question_features(line).score >= QUESTION_THRESHOLD
                               or _ASKS_BACK_RE.search(clean_text(line)) for line in lines)


def answer_fit(question: str, answer: Answer, relevance: float, kind: list[bool] | None = None) -> float:
    """How well a reply fits its question, 0..1: full for an acknowledged answer and for a yes/no reply to a
    yes/no question; otherwise by relevance, ramped from UNRELATED to RELEVANT (at least QUOTED_FIT for a reply
    quoting the question), halved for a reply that is itself a question. Halved again, acknowledged or not, for
    a reply without the number, time or place its question asks for (answer_type): "电话多少？" → "明天老师们都在
    办公室吧" shares words with its question, and the asker's 谢谢 may thank another reply. `kind`: reply_kind of
    the two texts."""
    fit = _fit(question, answer, relevance, kind)
    if kind[2] if kind is not None else answer_type_mismatch(question, answer.text):
        fit *= TYPE_MISMATCH_FIT
    return round(fit, 3)


def _fit(question: str, answer: Answer, relevance: float, kind: list[bool] | None) -> float:
    if answer.acknowledged:
        return 1.0  # the asker said it helped
    yes_no, not_yet = kind[:2] if kind is not None else reply_kind(question, answer.text)[:2]
    if yes_no:
        return 1.0
    fit = MIN_FIT + (1 - MIN_FIT) * min(1.0, max(0.0, (relevance - UNRELATED) / (RELEVANT - UNRELATED)))
    if answer.score >= 0.95:
        # Quoting the question shows whom a reply addresses, not that it answers: "成员022总，这个梗绝了" quotes too.
        fit = max(fit, QUOTED_FIT)
    if not_yet:
        # asking back ("新版接口文档有吗？") or "没用过" (lacks_experience) is not an answer yet
        fit *= QUESTION_REPLY_FIT
    return fit


TOP_ANSWERS = 3

# -- same-question scoring (one place to swap the scorer) -------------------------------------------------

def _bigrams(text: str) -> set[str]:
    t = re.sub(r"[\W_]+", "", fold(text))
    return {t[i:i + 2] for i in range(len(t) - 1)} or ({t} if t else set())


def _jaccard(a: str, b: str) -> float:
    """Character-bigram overlap: how central a wording is among its entry's wordings."""
    x, y = _bigrams(a), _bigrams(b)
    return len(x & y) / len(x | y) if x and y else 0.0


def same_question_scorer(encode: Callable[[Sequence[str]], np.ndarray] | None = None,
                         questions: Sequence[str] = (), memo: "FeatureMemo | None" = None):
    """(score_pairs(a, b) → array, threshold): dedup's scorer, the one `chendian eval dedup` measures.
    `questions` is the whole set being clustered: when it is large enough, dedup's context features are
    computed once over it and used for every pair (each question's words through `memo` when given)."""
    context = None
    unique = list(dict.fromkeys(questions))
    # Clustering scores each question against its neighbours, one call per question: each text's vector and
    # features are made once (a vector read back from the cache is the same whichever call first asked for it).
    features: dict[str, dedup.QuestionFeatures] = {}
    vector_of: dict[str, np.ndarray] = {}
    if encode is not None and len(unique) >= dedup.MIN_CONTEXT:
        words = None
        if memo is not None:
            seg = segmenter()
            words = memo.of("words", lambda f: analyze.word_tokens(f, seg))
        context = dedup.QuestionContext(unique, dedup.question_vectors(unique, encode=encode), word_tokens=words)
        vector_of.update(zip(unique, context.vectors))

    def vectors(texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in vector_of]
        if todo:
            # through the caller's (cached) encoder; dedup folds the text the same way
            vector_of.update(zip(todo, dedup.question_vectors(todo, encode=encode)))
        return np.array([vector_of[t] for t in texts], dtype=np.float32)

    def score_pairs(a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        if encode is None:
            return dedup.score_pairs(a, b, features=features)
        return dedup.score_pairs(a, b, vectors_a=vectors(a), vectors_b=vectors(b), context=context,
                                 features=features)

    def prefetch(texts: Sequence[str]) -> None:
        """Search the nearest questions of these texts in one batch (pairs about to be scored need them)."""
        if context is not None:
            context.neighbours(np.array([context.at[t] for t in dict.fromkeys(texts) if t in context.at], dtype=np.int64))

    score_pairs.prefetch = prefetch

    return score_pairs, float(dedup.SAME_QUESTION_THRESHOLD)


# -- building entries ---------------------------------------------------------------------------------

@dataclass
class Entry:
    """An entry while it is built and curated; `entry_record` makes what the faq stage stores of it."""

    id: str
    qas: list[QA] = field(default_factory=list)
    question: str = ""
    answer: str = ""
    variants: list[str] = field(default_factory=list)
    answers: list[FaqAnswer] = field(default_factory=list)
    topic_id: str | None = None
    hidden: bool = False
    pinned: bool = False
    approved: bool = False
    rejected: bool = False  # reviewed and turned down: hidden, and off the review queue
    edited_question: str | None = None
    edited_answer: str | None = None
    worthy: float = 0.0  # P(worth an entry) of its most worthy wording
    confidence: float = 0.0  # how sure we are that this is a question worth an entry, shown with a right answer


def entry_id_for(qa: QA) -> str:
    return stable_id(qa.question_id, prefix="f")


# Who a question is addressed to is not part of it: "王老师，…", "各位大佬，…", "…@合作办 王老师".
_VOCATIVE_RE = re.compile(
    r"^(?:(?:\S{1,4}老师|各位|大家|老师们?|学长|学姐|师兄|师姐|前辈们?|大佬们?|大神们?|同学们|亲们?|群里的?朋友们?"
    r"|小伙伴们?|群友们?|\S{1,3}老板|\S{1,3}总)(?:们|好)?\s*)+[，,、！!：:~～\s]+")
_LEADING_MENTIONS_RE = re.compile(r"^(?:@[^\s@?？\u2005,，:：]{1,20}[\s\u2005?？]*)+")
_TRAILING_MENTION_RE = re.compile(r"(?<=\S)\s*@[^@?？。！!\n]{1,16}$")  # "…补办吗@合作办 王老师": the name may hold a space
# A mention ends at a space, WeChat's thin space (U+2005, exported by some tools as "?") or punctuation: names do
# not run on into the question ("@成员012?上周那个报错…" keeps its question).
_MENTION_RE = re.compile(r"@[^\s@?？\u2005,，:：]{1,20}[\s\u2005?？]?")
_STICKER_RE = re.compile(r"\[[^\[\]\s]{1,8}\]|[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]")  # [表情] [图片] 😀


@functools.lru_cache(maxsize=1 << 17)  # a run cleans each question several times (clustering, worthiness, fit)
def clean_question(text: str) -> str:
    """The question as an entry shows it: without stickers, @mentions or the vocative it was addressed with."""
    original = re.sub(r"\s+", " ", text or "").strip()
    text = _STICKER_RE.sub("", text or "").strip()
    text = _LEADING_MENTIONS_RE.sub("", text)
    text = _TRAILING_MENTION_RE.sub("", text)
    text = _MENTION_RE.sub("", text)
    text = _VOCATIVE_RE.sub("", text.strip())
    return re.sub(r"\s+", " ", text).strip() or original


# "Anyone who knows X?" and "a question for you all:" open a question without asking it: "群里有跨境电商大牛吗？ 关税是按…
# 还是…？", "请教一个小问题： 会员系统的积分…". The title an entry shows starts at the question itself.
_OPENER_RE = re.compile(
    r"^(?:(?:群里|这里|各位|大家|请问)?(?:有没有|有|谁)(?:人|谁)?(?:懂|会|做|熟悉|了解|用过|做过|搞过|研究过|接触过|知道)?"
    r"[^，,。？?！!\n]{0,14}?(?:大牛|大神|大佬|高手|专家|的人|的朋友|的同学|的兄弟|的前辈)们?(?:吗|么|嘛|不|没)?[？?]+"
    r"|(?:想|来)?(?:请教|问|请问|咨询|求助|求教)(?:一下|下)?(?:各位|大家|群里|大佬|大神)?们?(?:一个|个|两个|几个|一些)?小?问题"
    r"[，,：:。.！!～~]+)\s*")
_PREAMBLE_RE = re.compile(r"^(?:有个|有一个|还有个|一个)?问题")


def entry_wording(question: str) -> str:
    """A question as an entry's title shows it: clean_question, and without an opener that only calls for help
    when a question follows it. Clustering and worthiness read clean_question: the opener's request counts there."""
    text = clean_question(question)
    opener = _OPENER_RE.match(text)
    if opener:
        rest = text[opener.end():]
        if not _PREAMBLE_RE.match(rest) and question_features(rest).score >= QUESTION_THRESHOLD:
            return rest
    return text


# Pronouns, demonstratives, particles and the commonest function words: what is left of "这个吗？" or "刚写的吗？"
# once they are gone is the question's own content.
_FUNCTION_CHARS_RE = re.compile(r"[这那哪个些样么吗呢吧啊呀嘛的了是你我他她它们说就也都还在有没不要会能刚又再很太"
                                r"怎啥谁什如何为多少几?？!！。，,.~～\s]")
FRAGMENT_CONTENT_CHARS = 2  # fewer content characters than this: a fragment that only its moment explains


def is_fragment(question: str) -> bool:
    """A question with (next to) no content of its own ("这个吗？", "刚写的吗？", "那呢"): two such fragments look
    alike whatever they asked about, so their likeness is no evidence of the same question."""
    return len(_FUNCTION_CHARS_RE.sub("", question)) < FRAGMENT_CONTENT_CHARS


def _answer_vectors(order: list[QA], encode) -> list[np.ndarray | None] | None:
    """The vector of each QA's best answer (None for an unanswered one)."""
    if encode is None:
        return None
    best = [q.answers[0].text if q.answers else "" for q in order]
    present = [t for t in best if t]
    vecs = dict(zip(present, encode(present))) if present else {}
    return [vecs.get(t) if t else None for t in best]


def answer_adjusted(question_score: float, answer_a: np.ndarray | None, answer_b: np.ndarray | None) -> float:
    """The question score, moved by how alike the two questions' answers are (when both were answered).

    Colleagues answer the same question alike (费控系统, the same steps) and different questions differently,
    however alike the wording: 工位号在哪看 / 工牌在哪领 score 0.69 as questions, but their answers 0.24.
    Cosines of sentence vectors: ≥ 0.5 is clearly the same content, < 0.4 clearly not (USE on the bundled
    example chat: answers to the same question 0.44–0.80, to different ones 0.07–0.40).
    """
    if answer_a is None or answer_b is None:
        return question_score
    similarity = float(answer_a @ answer_b)
    if similarity >= 0.5:
        return question_score + 0.2
    if similarity >= 0.4:
        return question_score
    return question_score - 0.3


def cluster_questions(qas: list[QA], score_pairs, threshold: float, previous: dict[str, str] | None = None,
                      encode: Callable[[Sequence[str]], np.ndarray] | None = None, neighbours: int = 10) -> dict[str, list[QA]]:
    """entry id → its QAs. QAs keep their previous entry; new ones join the best matching entry, else found one.

    Each new QA is compared with its `neighbours` nearest placed QAs (by question vector). The nearest are found a
    block of new QAs at a time (one matrix product against everything placed before the block, then the block's
    own earlier QAs one by one), so a workspace of n questions costs a few GEMMs instead of n copies of the placed
    vectors: the same candidates as one-at-a-time, but for exact floating-point ties.
    """
    previous = previous or {}
    entries: dict[str, list[QA]] = defaultdict(list)
    order = sorted(qas, key=lambda q: (q.ts, q.question_id))
    texts = [clean_question(q.question) for q in order]
    fragment = [is_fragment(t) for t in texts]  # never merged: nothing in them says what they ask
    vecs = encode(texts) if encode is not None and texts else None
    answer_vecs = _answer_vectors(order, encode)
    prefetch = getattr(score_pairs, "prefetch", None)
    placed: list[int] = []  # indexes of QAs already in an entry (their entry = entry_of[i]), in placing order
    placed_vecs = np.empty_like(vecs) if vecs is not None else None  # row r = vecs[placed[r]]
    entry_of: dict[int, str] = {}

    def place(i: int, eid: str) -> None:
        entry_of[i] = eid
        entries[eid].append(order[i])
        if placed_vecs is not None:
            placed_vecs[len(placed)] = vecs[i]
        placed.append(i)

    for i, qa in enumerate(order):
        if qa.id in previous:
            place(i, previous[qa.id])
    new = [i for i in range(len(order)) if i not in entry_of]
    for start in range(0, len(new), _BLOCK):
        block = new[start:start + _BLOCK]
        base = len(placed)
        block_sims = vecs[block] @ placed_vecs[:base].T if vecs is not None and base else None
        if prefetch is not None:  # the block's questions and their likely candidates, searched at once
            likely = list(block)
            if block_sims is not None and base > neighbours:
                likely += [placed[k] for k in np.argpartition(-block_sims, neighbours - 1, axis=1)[:, :neighbours].ravel()]
            elif base:
                likely += placed[:base]
            prefetch([texts[k] for k in likely])
        for row, i in enumerate(block):
            qa = order[i]
            best, best_score = None, threshold
            if placed and not fragment[i]:
                cands = placed
                if vecs is not None and len(placed) > neighbours:
                    later = placed_vecs[base:len(placed)] @ vecs[i]
                    sims = later if block_sims is None else np.concatenate([block_sims[row], later])
                    top = np.argpartition(-sims, neighbours - 1)[:neighbours]
                    cands = [placed[k] for k in top[np.argsort(-sims[top], kind="stable")]]
                scores = score_pairs([texts[i]] * len(cands), [texts[k] for k in cands])
                scores = [0.0 if fragment[k] else s for k, s in zip(cands, scores)]
                if answer_vecs is not None:
                    scores = [answer_adjusted(s, answer_vecs[i], answer_vecs[k]) for k, s in zip(cands, scores)]
                # Average over an entry's members (not the best one): no chaining from 报销流程 to 发票丢了.
                per_entry: dict[str, list[float]] = defaultdict(list)
                for k, s in zip(cands, scores):
                    per_entry[entry_of[k]].append(float(s))
                for eid, values in sorted(per_entry.items()):
                    mean = sum(values) / len(values)
                    if mean >= best_score:
                        best, best_score = eid, mean
            place(i, best or entry_id_for(qa))
    # An entry's questions in time order, whichever night placed them: a full run places them so, and what is
    # read off the list (the answerers' names and ids) must not depend on the night a question came in.
    return {eid: sorted(members, key=lambda q: (q.ts, q.question_id)) for eid, members in entries.items()}


_BLOCK = 256  # new questions whose nearest placed questions are found by one matrix product


def _summarise(entry: Entry, encode=None, fits: dict[tuple[str, str], float] | None = None) -> None:
    qas = sorted(entry.qas, key=lambda q: (q.ts, q.question_id))
    wordings = list(dict.fromkeys(w for w in map(entry_wording, (q.question for q in qas)) if w))
    canonical = wordings[0] if wordings else ""
    if len(wordings) > 2:
        # The most central wording, among those of a readable length.
        if encode is not None:
            v = encode(wordings)
            centrality = (v @ v.T).mean(axis=1)
        else:
            centrality = np.array([np.mean([_jaccard(a, b) for b in wordings]) for a in wordings])
        readable = np.array([1.0 if 5 <= len(w) <= 60 else 0.0 for w in wordings])
        canonical = wordings[int(np.argmax(centrality + readable))]
    entry.question = canonical
    seen = {fold(canonical)}
    entry.variants = []
    for w in wordings:
        folded = fold(w)
        if folded not in seen:
            seen.add(folded)
            entry.variants.append(w)
    fits = fits or {}
    answers = [FaqAnswer(a, q.id, q.thread_id, fits.get((q.id, a.message_ids[0]), 1.0))
               for q in qas for a in q.answers if not is_non_answer(a.text)]
    # The answer shown first: sure of its link and fitting the question (a well-linked reply about something
    # else loses to a fitting one).
    answers.sort(key=lambda a: (-a.answer.score * a.fit, -int(a.answer.acknowledged), a.answer.message_ids[0]))
    entry.answers = answers[:TOP_ANSWERS]
    entry.answer = answers[0].answer.text if answers else ""


def answerers_of(entry: Entry) -> list[Answerer]:
    """Who answered, most answers first. One person exported from two groups has two sender ids
    (a wxid here, a QQ number there) but one display name: counted once, under the first id seen."""
    counts: Counter = Counter()
    sender_of: dict[str, str] = {}
    for q in entry.qas:
        for a in q.answers:
            name = a.sender_name or a.sender
            sender_of.setdefault(name, a.sender)
            counts[name] += 1
    return [Answerer(sender_of[n], n, c) for n, c in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]


def entry_record(entry: Entry) -> FaqEntry:
    """A built entry as the faq stage stores it."""
    qas = sorted(entry.qas, key=lambda q: (q.ts, q.question_id))
    return FaqEntry(id=entry.id, question=entry.question, answer=entry.answer, count=len(qas),
                    qa_ids=[q.id for q in qas], thread_ids=sorted({q.thread_id for q in qas if q.thread_id}),
                    variants=entry.variants, answers=entry.answers, answerers=answerers_of(entry),
                    topic_id=entry.topic_id, first_ts=qas[0].ts, last_ts=qas[-1].ts,
                    answered=any(q.answers for q in qas), hidden=entry.hidden, pinned=entry.pinned,
                    approved=entry.approved, worthy=entry.worthy, confidence=entry.confidence)


# -- curation -----------------------------------------------------------------------------------------


def apply_curation(entries: dict[str, Entry], actions: list[dict], warn: Callable[[str], None] = lambda m: None) -> None:
    """Apply the curation log to freshly built entries (in place). Unknown ids are warned about, not dropped."""
    redirect: dict[str, str] = {}

    def resolve(eid: str) -> str:
        seen = set()
        while eid in redirect and eid not in seen:
            seen.add(eid)
            eid = redirect[eid]
        return eid

    for act in actions:
        eid, action, value = resolve(act["entry_id"]), act["action"], act["value"]
        if action == "split":
            # The QA may have moved entries since; find it wherever it is now.
            holder = next((e for e in entries.values() if any(q.id == value for q in e.qas)), None)
            if holder is None:
                warn(f"curation split {act['entry_id']} {value}: QA not found")
                continue
            qa = next(q for q in holder.qas if q.id == value)
            if len(holder.qas) == 1:
                continue
            holder.qas.remove(qa)
            new_id = entry_id_for(qa)
            if new_id == holder.id:  # splitting out the founding question: the rest get the next one's id
                new_id = stable_id(qa.question_id, "split", prefix="f")
            entries[new_id] = Entry(id=new_id, qas=[qa])
            continue
        entry = entries.get(eid)
        if entry is None and action == "merge":
            redirect[eid] = resolve(value)  # already merged on an earlier run (faq_members remembers)
            continue
        if entry is None:
            warn(f"curation {action} {act['entry_id']}: no such entry in this run")
            continue
        if action == "merge":
            target_id = resolve(value)
            target = entries.get(target_id)
            if target is None:
                warn(f"curation merge {act['entry_id']} → {value}: target not found")
                continue
            target.qas.extend(entry.qas)
            del entries[eid]
            redirect[eid] = target_id
        elif action == "edit":
            v = json.loads(value)
            entry.edited_question = v.get("question", entry.edited_question)
            entry.edited_answer = v.get("answer", entry.edited_answer)
        elif action in ("hide", "unhide", "reject"):
            entry.hidden = action != "unhide"
            entry.rejected = action == "reject"
        elif action in ("pin", "unpin"):
            entry.pinned = action == "pin"
        elif action in ("approve", "unapprove"):
            entry.approved = action == "approve"


def publishable(entry: Entry, mode: str, min_confidence: float) -> bool:
    """Whether the site and search show the entry under `[faq] publish` (hidden entries never are);
    the rest waits for review. Unanswered entries are shown on the 待回答 list, not as entries."""
    if entry.hidden:
        return False
    if mode == "approved":
        return entry.approved
    if mode == "confident":
        return entry.approved or entry.confidence >= min_confidence
    return True


def unlisted(entry, min_worthy: float) -> bool:
    """Whether an entry's questions stay off every list of open questions and answerers: the entry is hidden, or
    unlikely to be worth an entry (worthy under `min_worthy`, `[faq] min_worthy_unanswered`)."""
    return bool(entry.hidden) or entry.worthy < min_worthy


def off_the_open_list(entries: Iterable, min_worthy: float, unanswered: set[str]) -> set[str]:
    """QA ids the 待回答 list leaves out, from their FAQ entries (FaqEntry-like: hidden, worthy, answer, qa_ids
    oldest first): those under an `unlisted` entry; those under an entry that shows an answer, another asking's
    (published, or waiting in the review queue): the entry answers them; and of an unanswered entry's askings in
    `unanswered` all but the first: one need, one item."""
    out: set[str] = set()
    for e in entries:
        if unlisted(e, min_worthy) or (e.answer or "").strip():
            out.update(e.qa_ids)
            continue
        out.update([q for q in e.qa_ids if q in unanswered][1:])
    return out


def question_worthiness(questions: list[tuple[str, bool]], encode=None,
                        memo: "FeatureMemo | None" = None) -> dict[tuple[str, bool], float]:
    """(question text, whether it opens its conversation) → P(worth an entry), from the cleaned wording, its
    sentence vector and where it was asked."""
    keys = list(dict.fromkeys(questions))
    cleaned = [clean_question(t) or t for t, _ in keys]
    vectors = encode(cleaned) if encode is not None and cleaned else np.zeros((len(cleaned), 0), np.float32)
    surface = memo.of("surface", surface_features) if memo is not None else surface_features
    p = worthy_probability(cleaned, vectors, surface_of=surface, opens=[o for _, o in keys])
    return dict(zip(keys, (float(x) for x in p)))


def answer_fits(qas: Sequence[QA], encode=None, memo: "FeatureMemo | None" = None) -> dict[tuple[str, str], float]:
    """(QA id, answer's first message id) → answer_fit, for every answer of every question."""
    keys, pairs, answers = [], [], []
    # In time order (the store's), whatever order the caller gives: answer_relevance's chance pairs are drawn
    # from the earliest.
    for qa in sorted(qas, key=lambda q: (q.ts, q.id)):
        for a in qa.answers:
            if a.message_ids:
                keys.append((qa.id, a.message_ids[0]))
                pairs.append((qa.question, a.text))
                answers.append(a)
    relevance = answer_relevance(pairs, encode)
    if memo is None:
        return {k: answer_fit(q, a, r) for k, (q, _), a, r in zip(keys, pairs, answers, relevance)}
    kind = memo.of("reply", lambda pair: reply_kind(*json.loads(pair)))
    return {k: answer_fit(q, a, r, kind(json.dumps([q, a.text], ensure_ascii=False)))
            for k, (q, _), a, r in zip(keys, pairs, answers, relevance)}


def build_entries(qas: list[QA], encode=None, previous: dict[str, str] | None = None,
                  topics: dict[str, str] | None = None, curation: list[dict] | None = None,
                  warn: Callable[[str], None] = lambda m: None, memo: "FeatureMemo | None" = None,
                  asks_nobody: set[str] = frozenset()) -> dict[str, Entry]:
    """The FAQ from QAs: cluster, apply curation, summarise. Pure (no database) so it is easy to test.
    `memo`: per-text features kept from earlier runs (FeatureMemo); the entries are the same without it.
    `asks_nobody`: ids of QAs whose question is a question in form only (a speaker's lines in their own talk,
    talks.lecture_questions): worth nothing, so never published unvouched nor listed as 待回答."""
    score_pairs, threshold = same_question_scorer(encode, [clean_question(q.question) for q in qas], memo)
    clusters = cluster_questions(qas, score_pairs, threshold, previous, encode)
    entries = {eid: Entry(id=eid, qas=members) for eid, members in clusters.items()}
    apply_curation(entries, curation or [], warn)
    topics = topics or {}
    opens = {q.id: opens_conversation(q) for q in qas}
    worthy = question_worthiness([(q.question, opens[q.id]) for q in qas], encode, memo)
    fits = answer_fits(qas, encode, memo)
    contested = contested_questions(qas)
    for entry in entries.values():
        _summarise(entry, encode, fits)
        entry.worthy = round(max((0.0 if q.id in asks_nobody else worthy[(q.question, opens[q.id])]
                                  for q in entry.qas), default=0.0), 3)
        entry.confidence = entry_confidence(entry.worthy, entry.answers, contested)
        if entry.approved or entry.edited_answer:
            entry.confidence = 1.0  # a person vouched for it
        if entry.edited_question:
            if entry.question and entry.question not in entry.variants:
                entry.variants.insert(0, entry.question)
            entry.question = entry.edited_question
        if entry.edited_answer:
            entry.answer = entry.edited_answer
        votes = Counter(topics[q.thread_id] for q in entry.qas if q.thread_id in topics)
        entry.topic_id = votes.most_common(1)[0][0] if votes else None
    return entries


# -- features kept between runs -------------------------------------------------------------------------------

_FEATURE_SOURCES = ("qa/faq.py", "qa/extract.py", "qa/worthy.py", "text/dedup.py", "text/analyze.py",
                    "text/segment.py", "text/stopwords_zh.txt")


def features_fingerprint() -> str:
    """What the kept features are a function of besides their text: the code that computes them and jieba's
    version (its dictionary). Any change makes every key new, so nothing computed otherwise is reused."""
    return code_fingerprint([TEXT_DIR.parent / name for name in _FEATURE_SOURCES], packages=("jieba",))


class FeatureMemo:
    """Per-text features that cost Python time for every question of the workspace on every run, and depend on
    nothing but their text (and the code: features_fingerprint): dedup's context words of each question
    ("words"), worthy's surface features ("surface"), answer_fit's reading of a question and reply ("reply").
    The faq stage keeps them in `faq_features` (key → JSON), so a night computes them for its new texts only.
    Values are exact (strings, booleans, floats through JSON's round trip), so the entries are the same as
    without the memo (tests/test_faq_incremental.py)."""

    def __init__(self, saved: dict[str, str] | None = None, fingerprint: str | None = None):
        self.saved = saved or {}  # key → JSON, as the stage read them
        self.fingerprint = fingerprint if fingerprint is not None else features_fingerprint()
        self.used: set[str] = set()
        self.added: dict[str, str] = {}  # key → JSON, computed in this run

    def key(self, kind: str, text: str) -> str:
        return hashlib.blake2b(f"{self.fingerprint}\x1f{kind}\x1f{text}".encode("utf-8"), digest_size=16).hexdigest()

    def of(self, kind: str, fn: Callable[[str], object]) -> Callable[[str], object]:
        """`fn` through the memo: a text's value is read back when kept, else computed and added."""
        values: dict[str, object] = {}

        def get(text: str):
            if text in values:
                return values[text]
            key = self.key(kind, text)
            raw = self.saved.get(key)
            value = json.loads(raw) if raw is not None else None
            if value is None:
                value = fn(text)
                self.added[key] = json.dumps(value, ensure_ascii=False)
            self.used.add(key)
            values[text] = value
            return value
        return get

    def stale(self) -> list[str]:
        """Kept keys this run did not use (texts gone, or computed by other code): the stage deletes them."""
        return [k for k in self.saved if k not in self.used]
