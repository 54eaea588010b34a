"""The digest stage: with `[digest] nightly = true`, the latest complete week's digest of every chat active in
it (site/digest.py), written under `[digest] out` (default reports/digest/).

A stage of its own, after publish, rather than part of it: the long image launches Chromium (seconds), which
every site rebuild would otherwise pay; a digest the audit refuses must not fail the site's publish; and the
site folder is rebuilt and swapped whole, so a file put into it from outside would vanish on the next build.
Skipped when nothing it shows changed (`digest.fingerprint`).
"""

from __future__ import annotations

from ...site.digest import ReportError, Shooter, digest_fingerprint, make_digests, write_digest
from ...store import Workspace
from . import RunContext, Stage

STATE_KEY = "digest.fingerprint"


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    cfg = ws.config.digest
    if not cfg.nightly:
        return {"digests": 0, "off": 1}
    if ws.db.execute("SELECT 1 FROM messages LIMIT 1").fetchone() is None:
        return {"digests": 0}
    try:
        digests = make_digests(ws, audiences=cfg.audiences, warn=rc.warn)
    except ReportError:  # every message is from the week under way: nothing complete to sum up yet
        return {"digests": 0, "no_complete_week": 1}
    out = ws.path(cfg.out)
    fp = digest_fingerprint(digests, cfg.formats)
    if ws.get_state(STATE_KEY) == fp and out.is_dir():
        return {"digests": 0, "unchanged": len(digests)}
    images, notes = 0, set()
    with Shooter(cfg.chromium) as shooter:
        for d in digests:
            written = write_digest(ws, d, out, cfg.formats, shooter=shooter)
            images += sum(1 for p in written.files if p.suffix == ".png")
            notes.add(written.note)
    for note in sorted(notes - {""}):
        rc.warn(note)
    ws.set_state(STATE_KEY, fp)
    return {"digests": len(digests), "images": images}


STAGE = Stage("digest", run, reads=("messages", "chats", "message_threads", "qas", "faq_entries", "contributors",
                                     "question_responses", "expert_suggestions", "answer_points", "superseded_answers"),
              files=("reports/digest",))
