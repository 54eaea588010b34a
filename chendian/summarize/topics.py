"""Topics: conversations clustered into topics with readable keyword labels, stable from run to run.

Threads are embedded (sentence vectors of their text, a fixed space across runs). A thread placed in a topic
stays there (topic_members); a new thread joins the topic with the nearest centroid when close enough; the
rest are clustered among themselves (average-linkage, cosine) and clusters big enough become new topics,
id = stable_id(earliest thread id, prefix="p"). Ids therefore never reshuffle. Labels are c-TF-IDF keywords
over jieba content tokens (the words frequent in this topic and rare in the others).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from ..model import stable_id


JOIN_SIMILARITY = 0.55  # a new thread joins an existing topic at or above this cosine to its centroid
CLUSTER_DISTANCE = 0.5  # average-linkage cosine distance that still makes one new topic
MIN_TOPIC_SIZE = 3
MIN_THREAD_MESSAGES = 2
MAX_TEXT_CHARS = 600
MAX_CLUSTER = 4000  # threads clustered at once: average linkage holds n² distances (4000: 64 MB)
KEYWORDS = 6


def term_counts(tokens: list[str]) -> Counter:
    """The words c-TF-IDF counts in a class: no single characters, no numbers."""
    return Counter(t for t in tokens if len(t) > 1 and not t.isdigit())


def ctfidf_keywords(docs_tokens: dict[str, list[str]], k: int = KEYWORDS) -> dict[str, list[str]]:
    """c-TF-IDF (BERTopic): tf of a word in its class × log(1 + mean class size / its total frequency)."""
    tf = {c: term_counts(toks) for c, toks in docs_tokens.items()}
    total: Counter = Counter()
    for c in tf.values():
        total.update(c)
    avg = max(1.0, sum(sum(c.values()) for c in tf.values()) / max(1, len(tf)))
    return ctfidf_from_counts(tf, total, avg, k)


def ctfidf_from_counts(tf: dict[str, Counter], total, avg: float, k: int = KEYWORDS) -> dict[str, list[str]]:
    """c-TF-IDF keywords of the classes in `tf` given every class's word totals (`total`, word → count) and the
    mean class size `avg` (at least 1): the classes need not be all of them."""
    out = {}
    for cid, counts in tf.items():
        n = sum(counts.values()) or 1
        scored = sorted(((cnt / n) * math.log(1 + avg / total[w]), w) for w, cnt in counts.items() if cnt > 0)
        out[cid] = [w for _, w in sorted(scored, key=lambda x: (-x[0], x[1]))[:k]]
    return out


def centroids_of(assigned: dict[str, str], index: dict[str, int], vectors: np.ndarray,
                 base: dict[str, tuple[np.ndarray, int]] | None = None) -> dict[str, np.ndarray]:
    """Normalised mean vector of each topic's members (the same computation the stage stores). `base`: topic →
    (sum of the vectors, count) of members that are not among `index` (a nightly run reads only some threads)."""
    return {top: c for top, (c, _, _) in centroid_sums(assigned, index, vectors, base).items()}


def centroid_sums(assigned: dict[str, str], index: dict[str, int], vectors: np.ndarray,
                  base: dict[str, tuple[np.ndarray, int]] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """topic → (normalised mean, float64 sum of the members' vectors, members) over `assigned` members in `index`
    and `base`'s (see centroids_of)."""
    rows: dict[str, list[int]] = defaultdict(list)
    for t, top in assigned.items():
        if t in index:
            rows[top].append(index[t])
    out = {}
    for top in sorted(set(rows) | set(base or ())):
        idx = rows.get(top, [])
        if base and top in base:
            total, n = base[top]
            total = total + vectors[idx].astype(np.float64).sum(axis=0)
            n += len(idx)
            c = total / max(n, 1)
        else:
            total, n = vectors[idx].astype(np.float64).sum(axis=0), len(idx)
            c = vectors[idx].mean(axis=0)
        if n == 0:
            continue
        out[top] = ((c / (np.linalg.norm(c) or 1.0)).astype(np.float32), np.asarray(total, np.float64), n)
    return out


def assign_topics(thread_ids: list[str], vectors: np.ndarray, previous: dict[str, str],
                  centroids: dict[str, np.ndarray], first_ts: dict[str, int], max_rounds: int = 6,
                  base: dict[str, tuple[np.ndarray, int]] | None = None) -> dict[str, str]:
    """thread id → topic id (threads left out belong to no topic yet).

    `base`: topic → (sum of the vectors, count) of its members left out of `thread_ids` (a nightly run reads the
    threads the day touched and those waiting for a topic; the others' share of each centre comes from here).

    Joining and clustering repeat until neither changes anything, so the result is a fixed point: the next
    run on the same threads (with the centroids stored from this one) assigns nothing new. Clustering holds all
    pairwise distances, so at most MAX_CLUSTER threads are clustered at once: with more waiting (a first run on a
    big workspace), they are clustered in windows of MAX_CLUSTER in time order; between windows the waiting threads
    try to join the topics made so far. Every waiting thread is clustered at least once.
    """
    index = {t: i for i, t in enumerate(thread_ids)}
    assigned = {t: previous[t] for t in thread_ids if t in previous}
    current = dict(centroids) | centroids_of(assigned, index, vectors, base)
    tried: set[int] = set()  # waiting threads that were clustered once (with more than MAX_CLUSTER waiting)
    for _ in range(max_rounds + len(thread_ids) // MAX_CLUSTER):
        changed = False
        new = [i for i, t in enumerate(thread_ids) if t not in assigned]
        if current and new:
            ids = sorted(current)
            matrix = np.vstack([current[c] for c in ids])
            rest = []
            for a in range(0, len(new), MAX_CLUSTER):  # in blocks: the similarity matrix stays small
                part = new[a:a + MAX_CLUSTER]
                sims = vectors[part] @ matrix.T
                best = sims.argmax(axis=1)
                for row, i in enumerate(part):
                    j = int(best[row])
                    if sims[row, j] >= JOIN_SIMILARITY:
                        assigned[thread_ids[i]] = ids[j]
                        changed = True
                    else:
                        rest.append(i)
            new = rest
        if len(new) > MAX_CLUSTER:
            # A window in time order from the first thread not clustered yet, reaching back half a window over
            # those that were (and made no topic): a subject's first thread founds its topic with the later ones.
            waiting = sorted(new, key=lambda i: (first_ts.get(thread_ids[i], 0), thread_ids[i]))
            first = next((p for p, i in enumerate(waiting) if i not in tried), None)
            batch = [] if first is None else waiting[max(0, first - MAX_CLUSTER // 2):][:MAX_CLUSTER]
            tried.update(batch)
            changed = changed or bool(batch)
        else:
            batch = new
        if len(batch) >= MIN_TOPIC_SIZE:
            from sklearn.cluster import AgglomerativeClustering

            labels = AgglomerativeClustering(n_clusters=None, distance_threshold=CLUSTER_DISTANCE, metric="cosine",
                                             linkage="average").fit_predict(vectors[batch])
            groups: dict[int, list[int]] = defaultdict(list)
            for i, lab in zip(batch, labels):
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
        current = dict(centroids) | centroids_of(assigned, index, vectors, base)
    return assigned
