"""`chendian eval threads`: score conversation disentanglement against a chat gold file.

Metrics follow Kummerfeld et al. 2019 / DSTC8 (DESIGN.md "Evaluation"): 1 − VI/log2(n) (×100), adjusted
Rand index, one-to-one overlap (Hungarian matching), exact-match precision/recall/F over conversations with
more than one message, and reply-link precision/recall/F (a message that starts a conversation links to
itself, as in DSTC8). Only annotated lines are scored; every line is fed to the pipeline as context.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import numpy as np

# -- metrics ------------------------------------------------------------------------------------------------


def _contingency(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> tuple[np.ndarray, list, list]:
    g_ids = {g: i for i, g in enumerate(dict.fromkeys(gold))}
    p_ids = {p: i for i, p in enumerate(dict.fromkeys(pred))}
    table = np.zeros((len(g_ids), len(p_ids)), dtype=np.int64)
    for g, p in zip(gold, pred):
        table[g_ids[g], p_ids[p]] += 1
    return table, list(g_ids), list(p_ids)


def one_minus_vi(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """100 × (1 − VI / log2 n), VI = H(gold|pred) + H(pred|gold) in bits (1 = identical clusterings)."""
    n = len(gold)
    if n <= 1:
        return 100.0
    table, _, _ = _contingency(gold, pred)
    joint = table[table > 0] / n
    pg = table.sum(axis=1) / n
    pp = table.sum(axis=0) / n
    h_joint = -np.sum(joint * np.log2(joint))
    h_g = -np.sum(pg * np.log2(pg))
    h_p = -np.sum(pp * np.log2(pp))
    vi = 2 * h_joint - h_g - h_p
    return 100.0 * (1.0 - vi / math.log2(n))


def adjusted_rand(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """Adjusted Rand index (×100)."""
    n = len(gold)
    if n <= 1:
        return 100.0
    table, _, _ = _contingency(gold, pred)

    def comb2(x):
        return x * (x - 1) / 2.0

    sum_cells = comb2(table).sum()
    sum_g = comb2(table.sum(axis=1)).sum()
    sum_p = comb2(table.sum(axis=0)).sum()
    expected = sum_g * sum_p / comb2(n)
    maximum = (sum_g + sum_p) / 2.0
    if maximum == expected:
        return 100.0
    return 100.0 * (sum_cells - expected) / (maximum - expected)


def one_to_one(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """One-to-one overlap (×100): the best one-to-one matching of gold and predicted conversations."""
    from scipy.optimize import linear_sum_assignment

    n = len(gold)
    if n == 0:
        return 100.0
    table, _, _ = _contingency(gold, pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return 100.0 * table[rows, cols].sum() / n


def prf(correct: int, predicted: int, gold: int) -> dict[str, float]:
    p = 100.0 * correct / predicted if predicted else 0.0
    r = 100.0 * correct / gold if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f": f}


def exact_match(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> dict[str, float]:
    """P/R/F of conversations (size > 1) reproduced exactly, message for message."""
    def clusters(labels):
        by = defaultdict(set)
        for i, c in enumerate(labels):
            by[c].add(i)
        return {frozenset(s) for s in by.values() if len(s) > 1}

    g, p = clusters(gold), clusters(pred)
    return prf(len(g & p), len(p), len(g)) | {"gold": len(g), "predicted": len(p), "matched": len(g & p)}


def link_prf(gold_links: set[tuple[str, str]], pred_links: set[tuple[str, str]]) -> dict[str, float]:
    """P/R/F of (message, parent) links; a conversation start links to itself."""
    return prf(len(gold_links & pred_links), len(pred_links), len(gold_links))


def thread_metrics(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> dict:
    """Every clustering metric for one set of scored messages (labels aligned by position)."""
    em = exact_match(gold, pred)
    return {
        "n": len(gold),
        "one_minus_vi": one_minus_vi(gold, pred),
        "ari": adjusted_rand(gold, pred),
        "one_to_one": one_to_one(gold, pred),
        "exact_p": em["p"], "exact_r": em["r"], "exact_f": em["f"],
        "gold_conversations": em["gold"], "predicted_conversations": em["predicted"],
    }


# -- running the pipeline on a gold file -------------------------------------------------------------------


def as_ingested(chats) -> int:
    """Give gold lines the kinds the platform reader would have given them; returns how many changed.

    A gold file keeps a classic QQ export's raw senders ("系统消息(10000)", "name(12345)"); the QQ reader
    turns system-account lines (joins, file shares) and placeholders into SYSTEM/FILE/IMAGE messages, which
    the pipeline never threads. Without this step the evaluation would score a pipeline that never runs.
    """
    from ..ingest.qq_classic import classify
    from ..model import TEXT
    from .gold import _QQ_SENDER_RE

    changed = 0
    for gc in chats:
        for m in gc.messages:
            found = _QQ_SENDER_RE.match(m.sender)
            if m.kind != TEXT or not found or not found.group(2):
                continue
            kind, _, _ = classify(found.group(2), m.text)
            if kind != TEXT:
                m.kind = kind
                changed += 1
    return changed


def time_gap_baseline(messages, minutes: float = 15.0) -> list[int]:
    """Parent = previous message unless the gap exceeds `minutes` (the classic baseline)."""
    parents = []
    for i, m in enumerate(messages):
        gap = (m.time - messages[i - 1].time).total_seconds() if i else None
        parents.append(i - 1 if gap is not None and gap <= minutes * 60 else -1)
    return parents


def predict_gold_chats(chats, *, embed_model: str = "use-multilingual", embed_threads: int = 0, device: str = "cpu",
                       use_vectors: bool = True, window: int | None = None, max_gap_minutes: float | None = None,
                       self_bias: float = 0.0, baseline_minutes: float | None = None,
                       progress: Callable[[str, int, int], None] | None = None,
                       timings: dict | None = None) -> dict[str, list[int]]:
    """Segment → embed → thread each gold chat; parent index per message (in each chat's message order)."""
    from ..summarize.text.embed import EmbeddingCache, get_embedder
    from ..summarize.text.segment import segmenter
    from ..summarize.threads.linker import DEFAULT_WINDOW, thread_messages

    timings = timings if timings is not None else {}
    out: dict[str, list[int]] = {}
    if baseline_minutes is not None:
        for gc in chats:
            out[gc.chat] = time_gap_baseline(gc.messages, baseline_minutes)
        return out
    t0 = time.perf_counter()
    seg = segmenter()
    tokens = {gc.chat: [seg.tokens(m.text) for m in gc.messages] for gc in chats}
    timings["segment_s"] = time.perf_counter() - t0
    vectors = {}
    if use_vectors:
        t0 = time.perf_counter()
        cache = EmbeddingCache(sqlite3.connect(":memory:"), get_embedder(embed_model, threads=embed_threads,
                                                                        device=device))
        texts = [m.text for gc in chats for m in gc.messages]
        total = len(texts)
        done = [0]

        def tick(k):
            done[0] += k
            if progress:
                progress("embed", done[0], total)

        allv, _ = cache.encode(texts, progress=tick)
        a = 0
        for gc in chats:
            vectors[gc.chat] = allv[a:a + len(gc.messages)]
            a += len(gc.messages)
        timings["embed_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for k, gc in enumerate(chats):
        parents, _ = thread_messages(gc.messages, tokens[gc.chat], vectors.get(gc.chat),
                                     window=window or DEFAULT_WINDOW, max_gap_minutes=max_gap_minutes,
                                     self_bias=self_bias, vector_model=embed_model)
        out[gc.chat] = [int(x) for x in parents]
        if progress:
            progress("thread", k + 1, len(chats))
    timings["thread_s"] = time.perf_counter() - t0
    return out


def score_predictions(chats, parents_by_chat: dict[str, list[int]]) -> dict:
    """Metrics of predicted parents against the gold labels (annotated lines only)."""
    from ..summarize.threads.linker import components

    gold_labels, pred_labels = [], []
    gold_links: set[tuple[str, str]] = set()
    pred_links: set[tuple[str, str]] = set()
    linked_chats = 0
    for gc in chats:
        msgs = gc.messages
        parents = parents_by_chat[gc.chat]
        comp = components(parents)
        has_links = any(gc.labels[m.id].has_reply_to for m in msgs)
        linked_chats += has_links
        for i, m in enumerate(msgs):
            lab = gc.labels[m.id]
            if not lab.annotated:
                continue
            gold_labels.append((gc.chat, lab.thread or ("solo", m.id)))
            pred_labels.append((gc.chat, int(comp[i])))
            if lab.has_reply_to:
                gold_links.add((m.id, lab.reply_to or m.id))
                pred_links.add((m.id, msgs[parents[i]].id if parents[i] >= 0 else m.id))
    result = thread_metrics(gold_labels, pred_labels)
    if gold_links:
        lk = link_prf(gold_links, pred_links)
        result |= {"link_p": lk["p"], "link_r": lk["r"], "link_f": lk["f"]}
    return result


def write_predictions(chats, parents_by_chat: dict[str, list[int]], path: str | Path) -> None:
    """One line per message: {"id", "thread", "reply_to"}; thread = id of the conversation's first message."""
    from ..summarize.threads.linker import components

    with open(path, "w", encoding="utf-8") as f:
        for gc in chats:
            parents = parents_by_chat[gc.chat]
            comp = components(parents)
            for i, m in enumerate(gc.messages):
                rec = {"id": m.id, "thread": gc.messages[int(comp[i])].id,
                       "reply_to": gc.messages[parents[i]].id if parents[i] >= 0 else None}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def evaluate_threads(gold_path: str | Path, predictions_path: str | Path | None = None, *,
                     embed_model: str = "use-multilingual", embed_threads: int = 0, device: str = "cpu",
                     use_vectors: bool = True,
                     window: int | None = None, max_gap_minutes: float | None = None, self_bias: float = 0.0,
                     baseline_minutes: float | None = None, tz: str = "Asia/Shanghai",
                     progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Run segment → embed → thread on a chat gold file and score it (DESIGN.md thread metrics).

    Returns {"metrics": {...}, "messages", "scored", "chats", "timings": {...}}; metric values are ×100.
    `baseline_minutes` scores the time-gap baseline instead of the linker. `predictions_path` receives
    one JSON line per message: {"id", "thread", "reply_to"}.
    """
    from .gold import read_gold

    t0 = time.perf_counter()
    chats = read_gold(gold_path, tz)
    as_ingested(chats)
    timings: dict[str, float] = {}
    parents = predict_gold_chats(chats, embed_model=embed_model, embed_threads=embed_threads, device=device,
                                 use_vectors=use_vectors, window=window, max_gap_minutes=max_gap_minutes,
                                 self_bias=self_bias, baseline_minutes=baseline_minutes, progress=progress,
                                 timings=timings)
    metrics = score_predictions(chats, parents)
    if predictions_path:
        write_predictions(chats, parents, predictions_path)
    timings["total_s"] = time.perf_counter() - t0
    return {
        "metrics": metrics,
        "chats": len(chats),
        "messages": sum(len(c.messages) for c in chats),
        "scored": metrics["n"],
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }


def format_report(result: dict) -> str:
    """Human-readable report (Chinese first) for the CLI."""
    m = result["metrics"]
    lines = [
        f"会话切分评测 thread evaluation: {result['chats']} 个群/chats, {result['messages']} 条消息/messages, "
        f"{result['scored']} 条计分/scored",
        f"  1−VI      {m['one_minus_vi']:6.2f}",
        f"  ARI       {m['ari']:6.2f}",
        f"  1-1       {m['one_to_one']:6.2f}",
        f"  完全匹配 exact match  P {m['exact_p']:6.2f}  R {m['exact_r']:6.2f}  F {m['exact_f']:6.2f}"
        f"  ({m['gold_conversations']} gold / {m['predicted_conversations']} predicted conversations of size > 1)",
    ]
    if "link_f" in m:
        lines.append(f"  回复链接 reply links  P {m['link_p']:6.2f}  R {m['link_r']:6.2f}  F {m['link_f']:6.2f}")
    else:
        lines.append("  回复链接 reply links  — (gold has no reply_to)")
    t = result.get("timings", {})
    if t:
        lines.append("  用时 time: " + ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in t.items()))
    return "\n".join(lines)


__all__ = ["evaluate_threads", "format_report", "thread_metrics", "one_minus_vi", "adjusted_rand", "one_to_one",
           "exact_match", "link_prf", "time_gap_baseline", "as_ingested", "score_predictions", "write_predictions"]
