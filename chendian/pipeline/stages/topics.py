"""The topics stage: conversations clustered into topics (the chapters of the site and the book).

A new day's conversations join the nearest existing topic; ids never reshuffle (topic_members remembers every
assignment, topic_centroids every topic's centre).
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from ...model import CONVERSATIONAL_KINDS, Message, Topic
from ...store import Workspace
from ...summarize.topics import MAX_TEXT_CHARS, MIN_THREAD_MESSAGES, assign_topics, centroids_of, ctfidf_keywords
from . import RunContext, Stage
from .embed import workspace_cache
from .segment import load_tokens, workspace_segmenter


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


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    convs = conversations(ws)
    thread_ids = sorted(t for t, ms in convs.items() if len(ms) >= MIN_THREAD_MESSAGES)
    if not thread_ids:
        return {"topics": 0, "threads": 0, "new_topics": 0}
    texts = [" ".join(m.text for m in convs[t])[:MAX_TEXT_CHARS] for t in thread_ids]
    vectors, _ = workspace_cache(ws).encode(texts)
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
    keywords = ctfidf_keywords(topic_tokens(ws, {top: [m for t in ts for m in convs[t]] for top, ts in members.items()}))
    with ws.transaction():
        ws.db.execute("DELETE FROM topics")
        ws.db.executemany("INSERT INTO topics (id, label, keywords, size) VALUES (?, ?, ?, ?)",
                          [topic_row(Topic(top, "·".join(keywords[top][:3]) or top, keywords[top], len(ts)))
                           for top, ts in members.items()])
        ws.db.executemany("INSERT OR REPLACE INTO topic_members (thread_id, topic_id) VALUES (?, ?)",
                          list(assigned.items()))
        for top, c in centroids_of(assigned, index, vectors).items():
            ws.db.execute("INSERT OR REPLACE INTO topic_centroids (topic_id, vec) VALUES (?, ?)", (top, c.tobytes()))
    return {"topics": len(members), "threads": len(thread_ids), "threads_in_topics": len(assigned),
            "new_topics": len(set(members) - set(centroids))}


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


STAGE = Stage("topics", run, reads=("messages", "message_threads", "tokens", "embeddings"),
              writes=("topics", "topic_members", "topic_centroids"))
