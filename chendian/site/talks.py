"""The talks on the site: the talks page and one article per talk (title, speaker, date, the talk in paragraphs with
its slides in place, what was left out, then its Q&A). Text goes through the build's ctx.text (masking, recalled
words out), names through privacy; a hidden talk and a recalled message appear nowhere."""

from __future__ import annotations

from ..model import QA, Message, Talk
from ..summarize.qa.faq import entry_wording
from ..summarize.talks import article_blocks, article_qa

LEFT_OUT_LABELS = {"signin": "签到", "sticker": "表情和喝彩", "chatter": "旁聊", "question": "提问（见问答）", "answer": "主讲人的即时回答（见问答）",
                   "host": "主持", "removed": "人工移出"}


def talk_pages(ctx, qas: list[QA]) -> list[dict]:
    """Page data for every shown talk, oldest first."""
    ws = ctx.ws
    talks = ws.talks(include_hidden=False, warn=ctx.warn)
    if not talks:
        return []
    wanted = {mid for t in talks for mid in t.roles}
    messages = ws.messages_by_id(wanted)  # a talk's messages, not the workspace's
    chat_names = {r["id"]: r["name"] for r in ws.chats()}
    qa_by_id = {q.id: q for q in qas}
    return [talk_article(ctx, t, messages, qa_by_id, chat_names) for t in talks]


def talk_article(ctx, t: Talk, messages: dict[str, Message], qa_by_id: dict[str, QA], chat_names: dict[str, str]) -> dict:
    """One talk as an article (the site's page and the book's chapter): every text through ctx.text, every name
    through privacy, recalled messages left out."""
    article_ids = [mid for mid in t.message_ids if mid not in ctx.recalled_ids]
    t.message_ids = article_ids
    blocks = []
    for b in article_blocks(t, messages):
        blocks.append({"kind": b.kind, "text": ctx.text(b.text), "when": ctx.when(b.ts, "%H:%M"),
                       "lines": [ctx.text(line) for line in b.text.split("\n")] if b.kind == "outline" else []})
    qa_list = []
    credits: dict[str, dict] = {}
    speaker = ctx.privacy.name(t.speaker, t.speaker_name)
    everything = messages | _qa_messages(ctx.ws, t, qa_by_id)
    for q in article_qa(t, [qa_by_id[i] for i in t.qa_ids if i in qa_by_id], everything):
        if q.question_id in ctx.recalled_ids:
            continue
        answers = []
        for a in q.answers:
            if any(mid in ctx.recalled_ids for mid in a.message_ids):
                continue
            first = everything.get(a.message_ids[0]) if a.message_ids else None
            name = ctx.privacy.name(a.sender, a.sender_name)
            answers.append({"name": name, "speaker": a.sender == t.speaker, "text": ctx.text(a.text),
                            "when": ctx.when(int(first.time.timestamp()) if first else None, "%H:%M")})
            c = credits.setdefault(a.sender, {"name": name, "count": 0, "speaker": a.sender == t.speaker})
            c["count"] += 1
        qa_list.append({"question": ctx.text(entry_wording(q.question)), "asker": ctx.privacy.name(q.asker, q.asker_name),
                        "when": ctx.when(q.ts, "%m-%d %H:%M"), "before": q.ts < t.start_ts, "answers": answers})
    left = [{"label": LEFT_OUT_LABELS.get(k, k), "count": n} for k, n in t.left_out().items()]
    return {"id": t.id, "url": f"talks/{t.id}.html", "title": ctx.text(t.title) or "（无题）", "day": t.day,
            "start": ctx.when(t.start_ts, "%H:%M"), "end": ctx.when(t.end_ts, "%H:%M"),
            "chat": ctx.text(chat_names.get(t.chat, t.chat)), "speaker": speaker, "speaker_id": t.speaker,
            "blocks": blocks, "qas": qa_list, "left_out": left, "messages": len(article_ids),
            "answerers": sorted(credits.values(), key=lambda c: (not c["speaker"], -c["count"], c["name"])),
            "text_plain": "\n".join(b["text"] for b in blocks if b["text"])}


def _qa_messages(ws, talk, qa_by_id) -> dict:
    """Answer messages outside the talk's window (the Q&A goes on after it), for article_qa's checks and times."""
    ids = [mid for i in talk.qa_ids if i in qa_by_id for a in qa_by_id[i].answers for mid in a.message_ids
           if mid not in talk.roles]
    return ws.messages_by_id(ids) if ids else {}
