"""The ingest stage of `chendian run`: import whatever is new in the workspace inbox."""

from __future__ import annotations


from ...store import Workspace
from . import RunContext, Stage


def run(ws: Workspace, rc: RunContext) -> dict[str, int]:
    from ...ingest import ingest_paths

    inbox = ws.path(ws.config.ingest.inbox)
    if not inbox.is_dir():
        rc.warn(f"inbox {inbox} does not exist; nothing imported")
        return {"files": 0, "messages_new": 0}
    bar = rc.progress(None, "messages", unit="msg")
    # The runner already holds the workspace lock; ingest_paths takes it again re-entrantly.
    report = ingest_paths(ws, [inbox], progress=bar.update)
    bar.close()
    for fr in report.files:
        if fr.error:
            rc.warn(f"{fr.file}: {fr.error}")
        for issue in fr.issues:
            rc.warn(str(issue))
    return {
        "files": sum(1 for f in report.files if not f.error and not f.skipped),
        "files_failed": len(report.failed),
        "files_unchanged": sum(1 for f in report.files if f.skipped),
        "messages_read": report.read,
        "messages_new": report.new,
        "bad_lines": len(report.issues),
        "messages_total": ws.count_messages(),
    }


STAGE = Stage("ingest", run, writes=("chats", "messages", "imports", "import_issues"))
