"""The topics stage: conversations clustered into topics (the chapters of the site and the book).

A new day's conversations join the nearest existing topic; ids never reshuffle (topic_members remembers every
assignment, topic_centroids every topic's centre).

Incremental: a night reads the conversations the new messages may have changed (thread.changes_since) and the
ones still waiting for a topic (state `topics.waiting`: their vectors' keys, so their messages are not read
again); every other member's share of its topic's centre is the stored sum (`topic_centroids.total`, `n`) less
what the conversations read added before (`topic_members.vec_key`), so the centres are those of all members as
a full read computes them. Labels are c-TF-IDF over `topic_terms`: a conversation's words are added when it joins
a topic and a new message's when it arrives in a member; words are not taken back when a conversation is re-linked
or leaves (history-dependent, like the topics themselves); only the topics that changed are labelled again.
A first run, a re-threading or a workspace from before these tables read everything.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np

from ...model import CONVERSATIONAL_KINDS, Message, Topic
from ...store import Workspace
from ...summarize.text.embed import content_key
from ...summarize.topics import (MAX_TEXT_CHARS, MIN_THREAD_MESSAGES, assign_topics, centroid_sums,
                                 ctfidf_from_counts, ctfidf_keywords, term_counts)
from . import RunContext, Stage
from .embed import encode_texts, workspace_cache
from .segment import load_tokens, workspace_segmenter
from .thread import changes_since, conversations_of

MARK_KEY = "topics.mark"  # thread.changes_since's mark of the last run
WAITING_KEY = "topics.waiting"  # thread id → [vector key, first ts] of conversations not in a topic yet


def conversations(ws: Workspace) -> dict[str, list[Message]]:
    """thread id → its conversational messages (not recalled), in time order."""
    from ...summarize.qa.extract import segment_conversations

    messages = list(ws.messages())
    thread_of, _ = ws.thread_links()
    missing = [m for m in messages if m.id not in thread_of]
    if missing:  # not threaded yet: split by silence, as the extract stage does
        thread_of = {**thread_of, **segment_conversations(missing)}
    convs: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        if m.kind in CONVERSATIONAL_KINDS and not m.recalled and m.id in thread_of:
            convs[thread_of[m.id]].append(m)
    return convs


def _text(ms: list[Message]) -> str:
    return " ".join(m.text for m in ms)[:MAX_TEXT_CHARS]


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    cache = workspace_cache(ws)
    model = cache.embedder.name
    changes = changes_since(ws, ws.get_state(MARK_KEY))
    legacy = ws.db.execute("SELECT 1 FROM topic_centroids WHERE total IS NULL LIMIT 1").fetchone() is not None
    if changes.full or legacy:
        counts = _full(ws, rc, cache, model)
    else:
        counts = _nightly(ws, rc, cache, model, changes)
    ws.set_state(MARK_KEY, changes.mark)
    return counts


def encode(ws: Workspace, rc: RunContext, cache, texts: list[str]) -> np.ndarray:
    """The texts' vectors, as cache.encode gives them, the texts not cached yet embedded by the executor's workers
    (embed.encode_texts). The faq stage embeds through here too."""
    return encode_texts(ws, rc, texts, cache)[0]


def _full(ws: Workspace, rc: RunContext, cache, model: str) -> dict[str, int]:
    """Every conversation read: assignments kept, centres and labels computed afresh."""
    convs = conversations(ws)
    thread_ids = sorted(t for t, ms in convs.items() if len(ms) >= MIN_THREAD_MESSAGES)
    texts = [_text(convs[t]) for t in thread_ids]
    vectors = encode(ws, rc, cache, texts)
    previous = dict(ws.db.execute("SELECT thread_id, topic_id FROM topic_members"))
    centroids = {tid: np.frombuffer(blob, dtype=np.float32) for tid, blob in
                 ws.db.execute("SELECT topic_id, vec FROM topic_centroids")}
    first_ts = {t: int(convs[t][0].time.timestamp()) for t in thread_ids}
    assigned = assign_topics(thread_ids, vectors, previous, centroids, first_ts) if thread_ids else {}

    index = {t: i for i, t in enumerate(thread_ids)}
    members: dict[str, list[str]] = defaultdict(list)
    for t, top in assigned.items():
        if t in index:
            members[top].append(t)
    tokens = topic_tokens(ws, {top: [m for t in ts for m in convs[t]] for top, ts in members.items()})
    keywords = ctfidf_keywords(tokens)
    keys = {t: content_key(model, text) for t, text in zip(thread_ids, texts)}
    waiting = {t: [keys[t], first_ts[t]] for t in thread_ids if t not in assigned}
    with ws.transaction():
        ws.db.execute("DELETE FROM topics")
        ws.db.executemany("INSERT INTO topics (id, label, keywords, size) VALUES (?, ?, ?, ?)",
                          [topic_row(Topic(top, "·".join(keywords[top][:3]) or top, keywords[top], len(ts)))
                           for top, ts in members.items()])
        # conversations that are gone or too short now belong to no topic (as a first run would have it)
        ws.db.executemany("DELETE FROM topic_members WHERE thread_id = ?",
                          [(t,) for t in sorted(previous) if t not in assigned])
        ws.db.executemany("INSERT OR REPLACE INTO topic_members (thread_id, topic_id, vec_key) VALUES (?, ?, ?)",
                          [(t, top, keys.get(t)) for t, top in assigned.items()])
        for top, (c, total, n) in centroid_sums(assigned, index, vectors).items():
            ws.db.execute("INSERT OR REPLACE INTO topic_centroids (topic_id, vec, total, n) VALUES (?, ?, ?, ?)",
                          (top, c.tobytes(), total.tobytes(), n))
        ws.db.execute("UPDATE topic_centroids SET total = ?, n = 0 WHERE total IS NULL",
                      (np.zeros(cache.embedder.dim, np.float64).tobytes(),))
        ws.db.execute("DELETE FROM topic_terms")
        ws.db.executemany("INSERT INTO topic_terms (topic_id, term, n) VALUES (?, ?, ?)",
                          [(top, w, n) for top in sorted(tokens) for w, n in sorted(term_counts(tokens[top]).items())])
        ws.set_state(WAITING_KEY, waiting)
    return {"topics": len(members), "threads": len(thread_ids), "threads_in_topics": len(assigned),
            "new_topics": len(set(members) - set(centroids)), "threads_read": len(convs)}


def _vectors_by_key(ws: Workspace, keys: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for a in range(0, len(keys), 20000):
        for k, blob in ws.db.execute("SELECT key, vec FROM embeddings WHERE key IN (SELECT value FROM json_each(?))",
                                     (json.dumps(keys[a:a + 20000]),)):
            out[k] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    return out


def _nightly(ws: Workspace, rc: RunContext, cache, model: str, changes) -> dict[str, int]:
    """The conversations the day touched and those waiting; every other member counts through the stored sums."""
    touched = changes.thread_ids(ws)
    convs = conversations_of(ws, touched)
    waiting = ws.get_state(WAITING_KEY) or {}
    # Waiting conversations the day did not touch: their vectors from the cache, when they still exist.
    still = {r[0] for r in ws.db.execute("SELECT id FROM threads WHERE id IN (SELECT value FROM json_each(?))",
                                         (json.dumps(sorted(waiting)),))}
    touched_set = set(touched)
    waiting = {t: w for t, w in waiting.items() if t in still and t not in touched_set}
    by_key = _vectors_by_key(ws, sorted({w[0] for w in waiting.values()}))
    lost = sorted(t for t, w in waiting.items() if w[0] not in by_key)
    if lost:  # a vector no longer cached: read the conversation again
        convs.update(conversations_of(ws, lost))
        for t in lost:
            waiting.pop(t)
    fresh = sorted(t for t, ms in convs.items() if len(ms) >= MIN_THREAD_MESSAGES)
    texts = {t: _text(convs[t]) for t in fresh}
    fresh_vectors = encode(ws, rc, cache, [texts[t] for t in fresh])
    keys = {t: content_key(model, texts[t]) for t in fresh} | {t: w[0] for t, w in waiting.items()}
    first_ts = {t: int(convs[t][0].time.timestamp()) for t in fresh} | {t: int(w[1]) for t, w in waiting.items()}
    thread_ids = sorted(keys)
    vec_of = {t: fresh_vectors[i] for i, t in enumerate(fresh)} | {t: by_key[w[0]] for t, w in waiting.items()}
    vectors = (np.vstack([vec_of[t] for t in thread_ids]) if thread_ids
               else np.zeros((0, cache.embedder.dim), np.float32))

    # Members read tonight (and those gone: re-linked away, or no longer a conversation) leave their topic's sum.
    gone = [r[0] for r in ws.db.execute(
        "SELECT tm.thread_id FROM topic_members tm LEFT JOIN threads t ON t.id = tm.thread_id WHERE t.id IS NULL")]
    readd = sorted(set(touched) | set(gone) | set(lost))
    old = {t: (top, key) for t, top, key in ws.db.execute(
        "SELECT thread_id, topic_id, vec_key FROM topic_members WHERE thread_id IN (SELECT value FROM json_each(?))",
        (json.dumps(readd),))}
    base: dict[str, tuple[np.ndarray, int]] = {}
    stored_vec = {}
    for top, blob, total, n in ws.db.execute("SELECT topic_id, vec, total, n FROM topic_centroids"):
        base[top] = (np.frombuffer(total, dtype=np.float64).copy(), int(n or 0))
        stored_vec[top] = np.frombuffer(blob, dtype=np.float32)
    old_vecs = _vectors_by_key(ws, sorted({k for _, k in old.values() if k}))
    changed_topics: set[str] = set()
    for t, (top, key) in old.items():
        if top in base and key in old_vecs:
            total, n = base[top]
            base[top] = (total - old_vecs[key], n - 1)
            changed_topics.add(top)
    previous = {t: top for t, (top, _) in old.items() if t in keys}
    assigned = assign_topics(thread_ids, vectors, previous, stored_vec, first_ts, base=base)
    index = {t: i for i, t in enumerate(thread_ids)}
    sums = centroid_sums(assigned, index, vectors, {top: base[top] for top in changed_topics | set(assigned.values())
                                                    if top in base})
    changed_topics |= set(assigned.values())
    for top in changed_topics - set(sums):  # every member left: the centre stays where it was, with nothing in it
        sums[top] = (stored_vec[top], base[top][0], 0)
    joined = sorted(t for t in assigned if t not in convs)  # waiting conversations that found a topic tonight
    if joined:
        convs.update(conversations_of(ws, joined))

    # Words: a conversation's when it joins a topic, a member's new messages' when they arrive.
    new_ids = {r[0] for r in ws.db.execute("SELECT id FROM messages WHERE rowid > ?",
                                           (int((ws.get_state(MARK_KEY) or {}).get("rowid", 0)),))}
    adding: dict[str, list[Message]] = defaultdict(list)
    for t, top in assigned.items():
        if t in convs:
            adding[top] += convs[t] if previous.get(t) != top else [m for m in convs[t] if m.id in new_ids]
    added = {top: term_counts(toks) for top, toks in topic_tokens(ws, adding).items()}
    removed = [t for t in old if t not in assigned]
    waiting_now = {t: [keys[t], first_ts[t]] for t in thread_ids if t not in assigned}
    with ws.transaction() as db:
        db.executemany("DELETE FROM topic_members WHERE thread_id = ?", [(t,) for t in removed])
        db.executemany("INSERT INTO topic_members (thread_id, topic_id, vec_key) VALUES (?, ?, ?)"
                       " ON CONFLICT (thread_id) DO UPDATE SET topic_id = excluded.topic_id, vec_key = excluded.vec_key"
                       " WHERE topic_members.topic_id != excluded.topic_id OR topic_members.vec_key IS NULL"
                       "    OR topic_members.vec_key != excluded.vec_key",
                       [(t, top, keys[t]) for t, top in sorted(assigned.items())])
        db.executemany("INSERT OR REPLACE INTO topic_centroids (topic_id, vec, total, n) VALUES (?, ?, ?, ?)",
                       [(top, c.tobytes(), total.tobytes(), n) for top, (c, total, n) in sorted(sums.items())])
        db.executemany("INSERT INTO topic_terms (topic_id, term, n) VALUES (?, ?, ?) ON CONFLICT (topic_id, term)"
                       " DO UPDATE SET n = topic_terms.n + excluded.n",
                       [(top, w, n) for top in sorted(added) for w, n in sorted(added[top].items())])
        relabel = sorted(changed_topics)
        sizes = dict(db.execute("SELECT topic_id, count(*) FROM topic_members"
                                " WHERE topic_id IN (SELECT value FROM json_each(?)) GROUP BY topic_id",
                                (json.dumps(relabel),)))
        tf: dict[str, Counter] = {top: Counter() for top in relabel if sizes.get(top)}
        for top, w, n in db.execute("SELECT topic_id, term, n FROM topic_terms"
                                    " WHERE topic_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(tf)),)):
            tf[top][w] = n
        words = sorted({w for c in tf.values() for w in c})
        total = {w: int(n) for w, n in db.execute(
            "SELECT term, sum(n) FROM topic_terms WHERE term IN (SELECT value FROM json_each(?)) GROUP BY term",
            (json.dumps(words),))} if words else {}
        all_terms, n_topics = db.execute("SELECT coalesce(sum(n), 0), count(DISTINCT topic_id) FROM topic_terms"
                                         ).fetchone()
        keywords = ctfidf_from_counts(tf, total, max(1.0, int(all_terms) / max(1, int(n_topics))))
        db.executemany("DELETE FROM topics WHERE id = ?", [(top,) for top in relabel if not sizes.get(top)])
        db.executemany("INSERT OR REPLACE INTO topics (id, label, keywords, size) VALUES (?, ?, ?, ?)",
                       [topic_row(Topic(top, "·".join(keywords[top][:3]) or top, keywords[top], sizes[top]))
                        for top in sorted(tf)])
        ws.set_state(WAITING_KEY, waiting_now)
    n_topics = db.execute("SELECT count(*) FROM topics").fetchone()[0]
    return {"topics": n_topics, "threads": len(thread_ids), "threads_in_topics": len(assigned),
            "new_topics": len(set(assigned.values()) - set(stored_vec)), "threads_read": len(convs)}


def topic_tokens(ws: Workspace, messages_of: dict[str, list[Message]]) -> dict[str, list[str]]:
    """topic id → the content tokens of its messages, from the segment stage's tokens (a whole workspace is not
    segmented again every night); a message the segment stage has not seen is segmented here."""
    seg = workspace_segmenter(ws)[0]
    stored = load_tokens(ws, [m.id for ms in messages_of.values() for m in ms])
    out = {}
    for top, ms in messages_of.items():
        out[top] = [w for m in ms for w in (stored[m.id] if m.id in stored else seg.tokens(m.text))
                    if w not in seg.stopwords]
    return out


def topic_row(topic: Topic) -> tuple:
    """A topic as a row of `topics` (Workspace.topics reads it back)."""
    return (topic.id, topic.label, json.dumps(topic.keywords, ensure_ascii=False), topic.size)


STAGE = Stage("topics", run, reads=("messages", "message_threads", "threads", "tokens", "embeddings"),
              writes=("topics", "topic_members", "topic_centroids", "topic_terms"))
