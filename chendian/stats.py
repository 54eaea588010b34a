"""Counts over the message store (`chendian stats`)."""

from __future__ import annotations

from .store import Workspace


def workspace_stats(ws: Workspace) -> dict:
    db = ws.db
    total = ws.count_messages()
    chats = [
        {"id": r[0], "name": r[1] or r[0], "platform": r[2] or "", "messages": r[3], "first": r[4], "last": r[5]}
        for r in db.execute(
            "SELECT m.chat, c.name, c.platform, count(*), min(m.time), max(m.time) FROM messages m"
            " LEFT JOIN chats c ON c.id = m.chat GROUP BY m.chat, c.name, c.platform ORDER BY count(*) DESC, m.chat")
    ]
    # Days in each message's own recorded offset (the chat's local day, which is what people mean).
    days = {d: n for d, n in db.execute("SELECT substr(time, 1, 10) d, count(*) FROM messages GROUP BY d ORDER BY d")}
    kinds = {k: n for k, n in db.execute("SELECT kind, count(*) FROM messages GROUP BY kind ORDER BY count(*) DESC, kind")}
    senders = db.execute("SELECT count(DISTINCT chat || '\x1f' || sender) FROM messages").fetchone()[0]
    top = [
        {"chat": r[0], "sender": r[1], "name": r[2], "messages": r[3]}
        for r in db.execute(
            "SELECT chat, sender, max(sender_name), count(*) n FROM messages GROUP BY chat, sender"
            " ORDER BY n DESC, chat, sender LIMIT 50")
    ]
    return {
        "messages": total,
        "chats": chats,
        "days": days,
        "kinds": kinds,
        "senders": senders,
        "top_senders": top,
        "recalled": db.execute("SELECT count(*) FROM messages WHERE recalled = 1").fetchone()[0],
        "issues": db.execute("SELECT count(*) FROM import_issues").fetchone()[0],
        "imports": db.execute("SELECT count(*) FROM imports").fetchone()[0],
    }
