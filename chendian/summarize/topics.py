"""Topics: conversations clustered into topics with readable keyword labels, stable from run to run.

Threads are embedded (sentence vectors of their text, a fixed space across runs). A thread placed in a topic
stays there (topic_members); a new thread joins the topic with the nearest centroid when close enough; the
rest are clustered among themselves (average-linkage, cosine) and clusters big enough become new topics,
id = stable_id(earliest thread id, prefix="p"). Ids therefore never reshuffle. Labels are c-TF-IDF keywords
over jieba content tokens (the words frequent in this topic and rare in the others).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict

import numpy as np

from ..model import stable_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (id TEXT PRIMARY KEY, label TEXT, keywords TEXT, size INTEGER);
CREATE TABLE IF NOT EXISTS topic_members (thread_id TEXT PRIMARY KEY, topic_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS topic_centroids (topic_id TEXT PRIMARY KEY, vec BLOB NOT NULL);
"""

JOIN_SIMILARITY = 0.55  # a new thread joins an existing topic at or above this cosine to its centroid
CLUSTER_DISTANCE = 0.5  # average-linkage cosine distance that still makes one new topic
MIN_TOPIC_SIZE = 3
MIN_THREAD_MESSAGES = 2
MAX_TEXT_CHARS = 600
KEYWORDS = 6


def ctfidf_keywords(docs_tokens: dict[str, list[str]], k: int = KEYWORDS) -> dict[str, list[str]]:
    """c-TF-IDF (BERTopic): tf of a word in its class × log(1 + mean class size / its total frequency)."""
    tf = {c: Counter(t for t in toks if len(t) > 1 and not t.isdigit()) for c, toks in docs_tokens.items()}
    total: Counter = Counter()
    for c in tf.values():
        total.update(c)
    avg = max(1.0, sum(sum(c.values()) for c in tf.values()) / max(1, len(tf)))
    out = {}
    for cid, counts in tf.items():
        n = sum(counts.values()) or 1
        scored = sorted(((cnt / n) * math.log(1 + avg / total[w]), w) for w, cnt in counts.items())
        out[cid] = [w for _, w in sorted(scored, key=lambda x: (-x[0], x[1]))[:k]]
    return out


def _centroids(assigned: dict[str, str], index: dict[str, int], vectors: np.ndarray) -> dict[str, np.ndarray]:
    """Normalised mean vector of each topic's members (the same computation the stage stores)."""
    rows: dict[str, list[int]] = defaultdict(list)
    for t, top in assigned.items():
        if t in index:
            rows[top].append(index[t])
    out = {}
    for top, idx in rows.items():
        c = vectors[idx].mean(axis=0)
        out[top] = (c / (np.linalg.norm(c) or 1.0)).astype(np.float32)
    return out


def assign_topics(thread_ids: list[str], vectors: np.ndarray, previous: dict[str, str],
                  centroids: dict[str, np.ndarray], first_ts: dict[str, int], max_rounds: int = 6) -> dict[str, str]:
    """thread id → topic id (threads left out belong to no topic yet).

    Joining and clustering repeat until neither changes anything, so the result is a fixed point: the next
    run on the same threads (with the centroids stored from this one) assigns nothing new.
    """
    index = {t: i for i, t in enumerate(thread_ids)}
    assigned = {t: previous[t] for t in thread_ids if t in previous}
    current = dict(centroids) | _centroids(assigned, index, vectors)
    for _ in range(max_rounds):
        changed = False
        new = [i for i, t in enumerate(thread_ids) if t not in assigned]
        if current and new:
            ids = sorted(current)
            sims = vectors[new] @ np.vstack([current[c] for c in ids]).T
            rest = []
            for row, i in enumerate(new):
                j = int(np.argmax(sims[row]))
                if sims[row, j] >= JOIN_SIMILARITY:
                    assigned[thread_ids[i]] = ids[j]
                    changed = True
                else:
                    rest.append(i)
            new = rest
        if len(new) >= MIN_TOPIC_SIZE:
            from sklearn.cluster import AgglomerativeClustering

            labels = AgglomerativeClustering(n_clusters=None, distance_threshold=CLUSTER_DISTANCE, metric="cosine",
                                             linkage="average").fit_predict(vectors[new])
            groups: dict[int, list[int]] = defaultdict(list)
            for i, lab in zip(new, labels):
                groups[int(lab)].append(i)
            for members in groups.values():
                if len(members) < MIN_TOPIC_SIZE:
                    continue
                founder = min((thread_ids[i] for i in members), key=lambda t: (first_ts.get(t, 0), t))
                tid = stable_id(founder, prefix="p")
                for i in members:
                    assigned[thread_ids[i]] = tid
                changed = True
        if not changed:
            break
        current = dict(centroids) | _centroids(assigned, index, vectors)
    return assigned


def _conversations(ws) -> tuple[dict[str, list], dict[str, str]]:
    """thread id → its messages; and whether the thread stage's threads table exists."""
    from .extract import load_threads, segment_conversations

    messages = list(ws.messages())
    thread_of, _ = load_threads(ws)
    if thread_of is None:
        thread_of = segment_conversations(messages)
    convs: dict[str, list] = defaultdict(list)
    for m in messages:
        if m.kind in ("text", "quote", "link", "forward") and not m.recalled and m.id in thread_of:
            convs[thread_of[m.id]].append(m)
    return convs, thread_of


def run(ws, rc) -> dict[str, int]:
    from .embed import EmbeddingCache, embedder_for
    from .segment import segmenter

    ws.db.executescript(SCHEMA)
    convs, _ = _conversations(ws)
    thread_ids = sorted(t for t, ms in convs.items() if len(ms) >= MIN_THREAD_MESSAGES)
    if not thread_ids:
        return {"topics": 0, "threads": 0, "new_topics": 0}
    texts = [" ".join(m.text for m in convs[t])[:MAX_TEXT_CHARS] for t in thread_ids]
    cfg = ws.config.embed
    cache = EmbeddingCache(ws.db, embedder_for(cfg))
    vectors, _ = cache.encode(texts)
    previous = dict(ws.db.execute("SELECT thread_id, topic_id FROM topic_members"))
    centroids = {tid: np.frombuffer(blob, dtype=np.float32) for tid, blob in
                 ws.db.execute("SELECT topic_id, vec FROM topic_centroids")}
    first_ts = {t: int(convs[t][0].time.timestamp()) for t in thread_ids}
    assigned = assign_topics(thread_ids, vectors, previous, centroids, first_ts)

    index = {t: i for i, t in enumerate(thread_ids)}
    members: dict[str, list[str]] = defaultdict(list)
    for t, top in assigned.items():
        if t in index:
            members[top].append(t)
    seg = segmenter(ws.config.segment.user_dict and str(ws.path(ws.config.segment.user_dict)) or "",
                    ws.config.segment.stopwords and str(ws.path(ws.config.segment.stopwords)) or "")
    tokens = {top: [w for t in ts for m in convs[t] for w in seg.content_tokens(m.text)] for top, ts in members.items()}
    keywords = ctfidf_keywords(tokens)
    has_threads = ws.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='threads'").fetchone()
    with ws.transaction():
        ws.db.execute("DELETE FROM topics")
        ws.db.executemany("INSERT INTO topics (id, label, keywords, size) VALUES (?, ?, ?, ?)",
                          [(top, "·".join(keywords[top][:3]) or top, json.dumps(keywords[top], ensure_ascii=False),
                            len(ts)) for top, ts in members.items()])
        ws.db.executemany("INSERT OR REPLACE INTO topic_members (thread_id, topic_id) VALUES (?, ?)",
                          list(assigned.items()))
        for top, c in _centroids(assigned, index, vectors).items():
            ws.db.execute("INSERT OR REPLACE INTO topic_centroids (topic_id, vec) VALUES (?, ?)", (top, c.tobytes()))
        if has_threads:
            ws.db.execute("UPDATE threads SET topic_id = NULL")
            ws.db.executemany("UPDATE threads SET topic_id = ? WHERE id = ?",
                              [(top, t) for t, top in assigned.items()])
    return {"topics": len(members), "threads": len(thread_ids), "threads_in_topics": len(assigned),
            "new_topics": len(set(members) - set(centroids))}


def topic_of_threads(ws) -> dict[str, str]:
    """thread id → topic id, from the thread stage's table or this stage's own members table."""
    ws.db.executescript(SCHEMA)
    return dict(ws.db.execute("SELECT thread_id, topic_id FROM topic_members"))
