"""Contributors: who asks, who answers, whose answers the askers acknowledged, and on which topics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ...model import QA, Contributor

MAX_TOPICS = 10  # per person


def tally(qas: Iterable[QA], topics: dict[str, str] | None = None) -> list[Contributor]:
    """Everyone who asked or answered, first seen first, with their busiest topics."""
    topics = topics or {}
    people: dict[str, Contributor] = {}
    topic_counts: dict[str, Counter] = {}

    def person(sender: str) -> Contributor:
        if sender not in people:
            people[sender] = Contributor(sender, "")
            topic_counts[sender] = Counter()
        return people[sender]

    for qa in qas:
        p = person(qa.asker)
        p.name = qa.asker_name or p.name or qa.asker
        p.questions += 1
        topic = topics.get(qa.thread_id) if qa.thread_id else None
        if topic:
            topic_counts[qa.asker][topic] += 1
        for a in qa.answers:
            p = person(a.sender)
            p.name = a.sender_name or p.name or a.sender
            p.answers += 1
            p.acknowledged += int(a.acknowledged)
            if topic:
                topic_counts[a.sender][topic] += 1
    for sender, p in people.items():
        p.topics = dict(sorted(topic_counts[sender].items(), key=lambda x: (-x[1], x[0]))[:MAX_TOPICS])
    return list(people.values())
