"""Summarize: a short digest of each conversation and a weekly digest (本周精华) per chat, as Markdown.

Conversation digests are extractive: sentences ranked by TextRank (PageRank over the cosine graph of their
sentence vectors), then chosen by MMR so that the digest has no two sentences saying the same thing, and
shown in the order they were said. An optional LLM ([llm] rewrite_digests) may rewrite them; the offline
path is the default and what the tests check.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from ...model import CONVERSATIONAL_KINDS, QA, Answer, Message
from ..text.patterns import EMAIL_RE
from .faq import entry_wording


# Part of every stored digest's fingerprint (pipeline/stages/summarize.py): raise it when thread_digest changes,
# so that every conversation is digested again.
DIGEST_VERSION = 1
MAX_SENTENCES = 3
MAX_CHARS = 160
MMR_LAMBDA = 0.6
DUPLICATE_COSINE = 0.9
_SENT_SPLIT = re.compile(r"(?<=[。！？!?；;])|\n+")
# Placeholders ([图片]) and @mentions; an e-mail address is matched first and kept whole, or its "@domain" would
# be taken for a mention and the site's masking would publish the half left ("it-help").
_NOISE = re.compile(rf"({EMAIL_RE.pattern})|\[[^\[\]\s]{{1,8}}\]|(?:@\S+\s*)")


def sentences(messages: Sequence[Message]) -> list[tuple[str, str, int]]:
    """(speaker, sentence, order) for every informative sentence of the conversation."""
    out = []
    for m in messages:
        if m.kind not in CONVERSATIONAL_KINDS or m.recalled:
            continue
        for part in _SENT_SPLIT.split(_NOISE.sub(lambda n: n.group(1) or " ", m.text or "")):
            s = part.strip()
            if len(re.sub(r"[\W_]+", "", s)) >= 4:
                out.append((m.sender_name, s, len(out)))
    return out


def textrank(vectors: np.ndarray, damping: float = 0.85, iterations: int = 50) -> np.ndarray:
    """PageRank centrality over the cosine-similarity graph (negative similarities cut)."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0)
    sim = np.clip(vectors @ vectors.T, 0, None)
    np.fill_diagonal(sim, 0)
    rows = sim.sum(axis=1, keepdims=True)
    rows[rows == 0] = 1
    P = sim / rows
    r = np.full(n, 1.0 / n)
    for _ in range(iterations):
        r = (1 - damping) / n + damping * (P.T @ r)
    return r


def mmr(vectors: np.ndarray, relevance: np.ndarray, k: int, lam: float = MMR_LAMBDA) -> list[int]:
    """Maximal marginal relevance: central sentences, each unlike the ones already chosen."""
    chosen: list[int] = []
    rel = relevance / (relevance.max() or 1.0)
    candidates = list(range(len(vectors)))
    while candidates and len(chosen) < k:
        def value(i):
            redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            return lam * rel[i] - (1 - lam) * redundancy
        # Near-duplicates (the same advice repeated by two people) are never both chosen.
        candidates = [i for i in candidates
                      if max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0) < DUPLICATE_COSINE]
        if not candidates:
            break
        best = max(candidates, key=lambda i: (value(i), -i))
        chosen.append(best)
        candidates.remove(best)
    return chosen


def encoded_sentences(sents: list[tuple[str, str, int]], max_sentences: int = MAX_SENTENCES) -> list[str]:
    """The texts thread_digest encodes for a conversation of these sentences (none when all of them are shown),
    so that a caller can embed them ahead, in the same batches."""
    return [s for _, s, _ in sents] if len(sents) > max_sentences else []


def thread_digest(messages: Sequence[Message], encode: Callable[[Sequence[str]], np.ndarray],
                  max_sentences: int = MAX_SENTENCES, max_chars: int = MAX_CHARS) -> str:
    """「张三：…；李四：…」 the central, non-redundant sentences of one conversation, in spoken order."""
    sents = sentences(messages)
    if not sents:
        return ""
    if len(sents) <= max_sentences:
        chosen = list(range(len(sents)))
    else:
        vecs = encode(encoded_sentences(sents, max_sentences))
        chosen = mmr(vecs, textrank(vecs), max_sentences)
    parts, used = [], 0
    for i in sorted(chosen):
        speaker, s, _ = sents[i]
        piece = f"{speaker}：{s}"
        if used and used + len(piece) > max_chars:
            break
        parts.append(piece if len(piece) <= max_chars else piece[:max_chars - 1] + "…")
        used += len(piece)
    return "；".join(parts)


def iso_week(ts: int, tz) -> str:
    y, w, _ = datetime.fromtimestamp(ts, tz).isocalendar()
    return f"{y}-W{w:02d}"


def weekly_markdown(chat_name: str, week: str, stats: dict, qas: Sequence[QA], topics: list[tuple[str, int]],
                    people: list[dict]) -> str:
    """本周精华 as Markdown: best Q&A, busiest topics, top contributors, numbers."""
    lines = [f"# {chat_name} · 本周精华 {week}", ""]
    lines.append(f"本周 {stats['messages']} 条消息，{stats['threads']} 个讨论，{stats['questions']} 个问题"
                 f"（{stats['answered']} 个得到回答）。")
    lines += ["", "## 精选问答", ""]
    if not qas:
        lines.append("本周没有可以发布的问答。" if stats["answered"] else "本周没有得到回答的问题。")
    for i, qa in enumerate(qas, 1):
        best = qa.answers[0]
        ack = "（提问者确认有帮助）" if best.acknowledged else ""
        lines.append(f"{i}. **问**（{qa.asker_name}）：{_one_line(entry_wording(qa.question))}")
        lines.append(f"   **答**（{best.sender_name}）：{_one_line(best.text)}{ack}")
    lines += ["", "## 热门话题", ""]
    if not topics:
        lines.append("（尚未归类话题）")
    for label, n in topics:
        lines.append(f"- {label}：{n} 个讨论")
    lines += ["", "## 活跃贡献者", ""]
    if not people:
        lines.append("本周没有人回答问题。")
    for p in people:
        extra = f"，其中 {p['acknowledged']} 个被提问者确认" if p["acknowledged"] else ""
        lines.append(f"- {p['name']}：回答 {p['answers']} 个问题{extra}")
    return "\n".join(lines) + "\n"


def _one_line(text: str, limit: int = 120) -> str:
    t = re.sub(r"\s+", " ", text).strip()
    return t if len(t) <= limit else t[:limit - 1] + "…"


def weekly_digests(convs: dict[str, list[Message]], qas: Sequence[QA], chat_names: dict[str, str],
                   topic_of: dict[str, str], labels: dict[str, str], tz,
                   shown: dict[str, tuple[float, Answer]] | None = None) -> list[tuple[str, str, str]]:
    """(chat, ISO week, Markdown body) for every chat and week with conversations or questions.

    `shown`: QA id → (confidence, answer) for the questions whose FAQ entry the site publishes, with the answer
    that entry shows. Only those are 精选问答, with that answer: a pair the FAQ holds for review (a reply about
    something else) is not featured on the weekly page either. None: every answered question may be."""
    weeks: dict[tuple[str, str], dict] = defaultdict(lambda: {"messages": 0, "threads": set(), "qas": []})
    for tid, ms in convs.items():
        for m in ms:
            w = weeks[(m.chat, iso_week(int(m.time.timestamp()), tz))]
            w["messages"] += 1
            w["threads"].add(tid)
    for qa in qas:
        weeks[(qa.chat, iso_week(qa.ts, tz))]["qas"].append(qa)
    out = []
    for (chat, week), w in sorted(weeks.items()):
        answered = [q for q in w["qas"] if q.answers]
        if shown is None:
            best = sorted(answered, key=lambda q: (-q.score, q.ts))[:5]
        else:
            vetted = [q for q in answered if q.id in shown]
            vetted.sort(key=lambda q: (-shown[q.id][0], q.ts))
            best = [replace(q, answers=[shown[q.id][1]]) for q in vetted[:5]]
        topic_counts = Counter(topic_of[t] for t in w["threads"] if t in topic_of)
        # ties by topic id: most_common keeps first-seen order, and the threads are a set (hash order per process)
        busiest = sorted(topic_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        topics = [(labels.get(t, t), n) for t, n in busiest]
        people: dict[str, dict] = {}
        for q in w["qas"]:
            for a in q.answers:
                p = people.setdefault(a.sender, {"name": a.sender_name or a.sender, "answers": 0, "acknowledged": 0})
                p["answers"] += 1
                p["acknowledged"] += int(a.acknowledged)
        top = sorted(people.values(), key=lambda p: (-p["answers"], -p["acknowledged"], p["name"]))[:5]
        stats = {"messages": w["messages"], "threads": len(w["threads"]), "questions": len(w["qas"]),
                 "answered": len(answered)}
        body = weekly_markdown(chat_names.get(chat, chat), week, stats, best, topics, top)
        out.append((chat, week, body))
    return out


def week_signatures(qas: Sequence[tuple[str, str, int, float, str]], shown: dict[str, tuple[float, Answer]],
                    chat_names: dict[str, str], tz) -> dict[str, str]:
    """"chat\\x1fweek" → a signature of what a week's digest shows besides its conversations: its questions
    (`qas`: id, chat, ts, score and the answers as stored), the confidence and answer the FAQ publishes for them,
    the chat's name. Equal signatures and equal conversations make the same weekly_digests body."""
    hashes: dict[str, object] = {}
    week_of: dict[int, str] = {}  # a quarter hour's week (time zones are offset by whole quarter hours)
    for qa_id, chat, ts, score, answers in qas:
        q = int(ts or 0) // 900
        week = week_of.get(q)
        if week is None:
            week = week_of[q] = iso_week(q * 900, tz)
        key = f"{chat}\x1f{week}"
        h = hashes.get(key)
        if h is None:
            h = hashes[key] = hashlib.blake2b(chat_names.get(chat, chat).encode("utf-8"), digest_size=12)
        h.update(f"\x1e{qa_id}\x1f{ts}\x1f{score!r}\x1f{answers}\x1f{shown.get(qa_id)!r}".encode("utf-8"))
    return {k: h.hexdigest() for k, h in hashes.items()}
