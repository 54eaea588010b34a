"""Which unpublished FAQ entries search still finds, labelled as held for review (issue 23).

Under `[faq] publish = "confident"` about half of what a second asker could find waits in the review queue
(`chendian eval repeat`: QQ found@5 0.32 published only, 0.71 with everything). Those entries are searched too,
ranked by relevance like the rest, and every result says so: `held` on the hit (待审核 in the CLI and the site,
a field in the API), their answer's trust (答案未经确认). They have no entry page: the site links the question
in its conversation, which is published. Under publish = "approved" the site and search show exactly the
approved set, so nothing held is ever searched there.
"""

from __future__ import annotations

HELD_NOTE = "待审核"


def searchable_held(entry, config) -> bool:
    """Whether search finds this unpublished entry as held for review: the review queue's entries (answered,
    not hidden, not published, not approved), under publish = "confident" with `[search] show_held`."""
    return (config.faq.publish == "confident" and config.search.show_held and entry.answered
            and not entry.hidden and not entry.published and not entry.approved and bool(entry.answer.strip()))
