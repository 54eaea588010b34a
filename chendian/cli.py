"""The `chendian` command: a thin click layer that parses, calls the library and prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .config import PUBLISH_MODES
from .errors import ChendianError
from .store import Workspace


def _open(ctx: click.Context) -> Workspace:
    return Workspace(ctx.obj["workspace"])  # a missing or bad workspace is a ChendianError: one line, exit 1


def _progress(total: int | None, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="msg", disable=None, leave=False, file=sys.stderr)


class _Chendian(click.Group):
    """The root command: every ChendianError (bad input, config, a busy workspace …) becomes one clear line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ChendianError as e:
            raise click.ClickException(str(e)) from None


@click.group(name="chendian", cls=_Chendian, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-w", "--workspace", type=click.Path(file_okay=False), default=".", show_default=True,
              envvar="CHENDIAN_WORKSPACE", help="Workspace folder (has chendian.toml). Env: CHENDIAN_WORKSPACE.")
@click.version_option(__version__, prog_name="chendian")
@click.pass_context
def main(ctx: click.Context, workspace: str) -> None:
    """沉淀 chendian: turn workplace group chat exports into a searchable FAQ, a knowledge site and books."""
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--store-url", metavar="URL", help="Keep the tables in this PostgreSQL database"
              " (postgresql://user@host:5432/db; needs chendian[postgres]) instead of chendian.db.")
def init(directory: str, store_url: str | None) -> None:
    """Create a workspace in DIRECTORY: chendian.toml, the store (SQLite, or --store-url) and an inbox/ folder."""
    with Workspace(directory, create=True, store_url=store_url) as ws:
        click.echo(f"workspace ready: {ws.root}  (config {ws.root / 'chendian.toml'}, "
                   f"put exports in {ws.root / ws.config.ingest.inbox})")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", help="Force a format instead of sniffing (see `chendian formats`).")
@click.option("--chat-name", help="Chat name for exports that do not carry one (copy-paste, 1:1 files).")
@click.option("--names", "names_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="id→name mapping file (JSON object or id,name CSV), e.g. for WeCom userids. Repeatable.")
@click.option("--force", is_flag=True, help="Re-read files already imported (messages already stored are still not duplicated).")
@click.option("-v", "--verbose", is_flag=True, help="List every bad line, not only the first few per file.")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[str, ...], fmt: str | None, chat_name: str | None,
           names_files: tuple[str, ...], force: bool, verbose: bool) -> None:
    """Import chat exports (files, folders, zip archives) into the workspace store.

    Each file is imported as one transaction: a file that fails changes nothing. Bad lines are reported
    with file and line and counted; the rest of the file still imports. Exit status 1 if any file could
    not be imported at all.
    """
    from .ingest import ingest_paths, reader_names

    if fmt and fmt not in reader_names():
        raise click.BadParameter(f"unknown format {fmt!r}; known: {', '.join(reader_names())}", param_hint="--format")
    ws = _open(ctx)
    bar = _progress(None, "ingest")

    def on_file(fr) -> None:
        if fr.error:
            bar.write(f"✗ {fr.file}: {fr.error}", file=sys.stderr)
        elif fr.skipped:
            bar.write(f"- {fr.file}: skipped, {fr.skipped}")
        else:
            bar.write(f"✓ {fr.file} [{fr.format}]: {fr.read} messages read, {fr.new} new"
                      + (f", {len(fr.issues)} bad lines" if fr.issues else ""))
            for issue in fr.issues if verbose else fr.issues[:5]:
                bar.write(f"    {issue}", file=sys.stderr)
            if not verbose and len(fr.issues) > 5:
                bar.write(f"    … {len(fr.issues) - 5} more (use -v to list all)", file=sys.stderr)

    try:
        with ws:
            report = ingest_paths(ws, list(paths), fmt=fmt, chat_name=chat_name, names_files=list(names_files),
                                  force=force, on_file=on_file, progress=bar.update)
            total = ws.count_messages()
    finally:
        bar.close()  # before the error line, so the bar does not overwrite it
    files_ok = sum(1 for f in report.files if not f.error and not f.skipped)
    click.echo(f"{files_ok} file(s) imported, {len(report.failed)} failed, "
               f"{sum(1 for f in report.files if f.skipped)} skipped; {report.read} messages read, {report.new} new, "
               f"{len(report.issues)} bad lines; {total} messages in the store")
    if report.failed:
        sys.exit(1)


@main.command()
def formats() -> None:
    """List the export formats chendian reads (names for --format)."""
    from .ingest import readers

    for r in readers():
        click.echo(f"{r.name:20} {r.label}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object; its `messages` field is the total.")
@click.option("--top", default=10, show_default=True, help="How many senders/days to list.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool, top: int) -> None:
    """Messages per chat, day, sender and kind."""
    from .stats import workspace_stats

    with _open(ctx) as ws:
        s = workspace_stats(ws)
    if as_json:
        click.echo(json.dumps(s, ensure_ascii=False, indent=2))
        return
    click.echo(f"messages: {s['messages']}  chats: {len(s['chats'])}  senders: {s['senders']}  "
               f"days: {len(s['days'])}  recalled: {s['recalled']}  bad lines reported: {s['issues']}")
    for c in s["chats"]:
        click.echo(f"  {c['name']} [{c['platform']}]: {c['messages']} messages, {c['first'][:10]} … {c['last'][:10]}")
    click.echo("by kind: " + ", ".join(f"{k} {n}" for k, n in s["kinds"].items()))
    click.echo("top senders: " + ", ".join(f"{p['name']} {p['messages']}" for p in s["top_senders"][:top]))
    busiest = sorted(s["days"].items(), key=lambda kv: -kv[1])[:top]
    click.echo("busiest days: " + ", ".join(f"{d} {n}" for d, n in busiest))
    from .search.misses import top_misses

    misses = top_misses(ctx.obj["workspace"], top)
    if misses:  # what people searched for and nobody has answered (counted by `chendian serve`)
        click.echo("searched, nothing found: " + ", ".join(f"{q} ×{n}" for q, n in misses))


@main.command()
@click.option("--week", help="ISO week, e.g. 2016-W37 (default: the week of the newest question).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (docs/report.md describes every field).")
@click.pass_context
def report(ctx: click.Context, week: str | None, as_json: bool) -> None:
    """The weekly ops report: response times, unanswered questions and who would know, points, stale answers."""
    from .site.report import report_json, report_text, weekly_report

    with _open(ctx) as ws:
        r = weekly_report(ws, week)
    click.echo(report_json(r) if as_json else report_text(r))


@main.command()
@click.option("--week", help="ISO week, e.g. 2016-W37 (default: the latest complete week).")
@click.option("--day", help="One day instead of a week, e.g. 2016-09-12.")
@click.option("--chat", help="Chat id or name (default: every chat active in the period, one digest each).")
@click.option("--audience", type=click.Choice(["group", "ops"]), multiple=True,
              help="group: to forward into the chat (audited); ops: adds review queue, stale and slow answers. Repeatable; default both.")
@click.option("--format", "formats", default="png,html,md", show_default=True,
              help="Comma-separated: png (long image), html, md (Markdown + paste-ready text).")
@click.option("--out", type=click.Path(file_okay=False), help="Folder (default: <workspace>/reports/digest).")
@click.pass_context
def digest(ctx: click.Context, week: str | None, day: str | None, chat: str | None, audience: tuple[str, ...],
           formats: str, out: str | None) -> None:
    """The weekly digest ops post back into the group: long image, page and paste-ready text.

    Data cards with the change since the previous period, 本周精华 (published entries, credited, linked to the
    site under [site] base_url), recognition, 活跃榜, 待回答 with who might know, and the links shared.
    """
    from .site.digest import Shooter, make_digests, parse_formats, write_digest

    fmts = parse_formats(formats)
    with _open(ctx) as ws, Shooter(ws.config.digest.chromium) as shooter:
        digests = make_digests(ws, week=week, day=day, chat=chat, audiences=list(audience) or ["group", "ops"])
        target = Path(out) if out else ws.path(ws.config.digest.out)
        notes = set()
        for d in digests:
            written = write_digest(ws, d, target, fmts, shooter=shooter)
            click.echo(f"{d['chat_name']} {d['period']} {d['audience']}: {written.folder}  "
                       f"({', '.join(p.name for p in written.files)})")
            if written.note:
                notes.add(written.note)
    for note in sorted(notes):
        click.echo(note, err=True)


def _print_stage(sr) -> None:
    mark = {"ok": "✓", "skipped": "-", "failed": "✗"}[sr.status]
    counts = ", ".join(f"{k} {v}" for k, v in sr.counts.items())
    line = f"{mark} {sr.name:10} {sr.seconds:7.2f}s  {counts}"
    if sr.note:
        line += f"  ({sr.note})"
    click.echo(line, err=sr.status == "failed")


def _run(ctx: click.Context, names: list[str] | None, quiet: bool) -> None:
    from .pipeline import run_stages

    ws = _open(ctx)
    with ws:
        report = run_stages(ws, names, quiet=quiet, on_stage=_print_stage)
    for w in report.warnings[:20]:
        click.echo(f"warning: {w}", err=True)
    if len(report.warnings) > 20:
        click.echo(f"… {len(report.warnings) - 20} more warnings in {ws.root / 'reports' / 'latest.json'}", err=True)
    click.echo(f"run {'finished' if report.ok else 'FAILED'}: report in {ws.root / 'reports' / 'latest.json'}")
    if not report.ok:
        sys.exit(1)


@main.command()
@click.option("-q", "--quiet", is_flag=True, help="No progress bars (cron).")
@click.pass_context
def run(ctx: click.Context, quiet: bool) -> None:
    """Run the nightly batch: every stage in order, under the workspace lock.

    Imports new exports from the inbox, then segment → embed → thread → topics → extract → faq →
    summarize → index → publish → digest (off unless `[digest] nightly`). Rerunning on the same input changes nothing; a failed stage stops the
    run and leaves the previous site and index in place. Exit status 1 if a stage failed. The per-chat stages
    run in this process, on worker processes (`[run] executor = "processes"` or "auto") or on Ray
    (docs/workspace.md).
    """
    _run(ctx, None, quiet)


@main.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def stage(ctx: click.Context, names: tuple[str, ...], quiet: bool) -> None:
    """Run only the named stage(s), e.g. `chendian stage thread`.

    Stages, in flow order: ingest, segment, embed, thread, topics, extract, talks, faq, insights, summarize, index, publish,
    digest.
    """
    _run(ctx, list(names), quiet)


# -- evaluation --------------------------------------------------------------------------------------

@main.group(name="eval")
def eval_group() -> None:
    """Score the pipeline against labelled data (DESIGN.md "Evaluation"); --predictions writes what it predicted."""


def _print_metrics(title: str, metrics: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(metrics, ensure_ascii=False, indent=2))
        return
    click.echo(title)
    for k, v in metrics.items():
        click.echo(f"  {k:24} {v:.4f}" if isinstance(v, float) else f"  {k:24} {v}")


# The embedding model of the throw-away workspace `eval faq` and `eval repeat` build from a gold file.
_workspace_model_opt = click.option(
    "--model", default="use-multilingual", show_default=True,
    help="Embedding model: the offline default, or a sentence-transformers name or local path.")
_gold_arg = click.argument("gold", type=click.Path(exists=True, dir_okay=False))
_pairs_arg = click.argument("pairs", type=click.Path(exists=True, dir_okay=False))
_predictions_opt = click.option("--predictions", type=click.Path(dir_okay=False),
                                help="Write the predictions (JSONL) here, to re-score or inspect.")
_json_opt = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
_model_opt = click.option("--model", default="use-multilingual", show_default=True,
                          help="Embedding model: the offline default, or a sentence-transformers name or local path.")
_device_opt = click.option("--device", type=click.Choice(["cpu", "auto", "cuda", "mps"]), default="cpu",
                           show_default=True, help="Where a sentence-transformers model runs (auto: a GPU if present).")


@eval_group.command(name="threads")
@_gold_arg
@_predictions_opt
@click.option("--baseline-minutes", type=float, help="Score the time-gap baseline (a new conversation after N minutes of silence) instead.")
@_model_opt
@_device_opt
@_json_opt
def eval_threads(gold: str, predictions: str | None, baseline_minutes: float | None, model: str, device: str,
                 as_json: bool) -> None:
    """Thread disentanglement on a chat gold file: 1−VI, ARI, 1-1, exact-match P/R/F, reply-link P/R/F.

    Runs segment → embed → thread on every message (annotated or not) and scores the annotated ones.
    Predictions: one line per message, {"id", "thread", "reply_to"}.
    """
    from .eval.threads import evaluate_threads, format_report

    result = evaluate_threads(gold, predictions, baseline_minutes=baseline_minutes, embed_model=model,
                              device=device)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else format_report(result))


@eval_group.command(name="qa")
@_gold_arg
@_predictions_opt
@click.option("--baseline", is_flag=True, help="Score the plain 'ends with ？ or 吗' baseline as the method.")
@click.option("--rescore", type=click.Path(exists=True, dir_okay=False), help="Score this predictions file instead of predicting.")
@_json_opt
def eval_qa(gold: str, predictions: str | None, baseline: bool, rescore: str | None, as_json: bool) -> None:
    """Question detection and answer linking on a chat gold file with question/answer_to labels.

    Prints P/R/F1 for questions and for (answer, question) links, beside the baseline.
    Predictions: {"id", "question", "answer_to"} per message.
    """
    from .eval.qa import evaluate_qa, format_report

    result = evaluate_qa(gold, predictions, method="baseline" if baseline else "rules", predictions_in=rescore)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else format_report(result))


@eval_group.command(name="faq")
@_gold_arg
@_predictions_opt
@_workspace_model_opt
@_json_opt
def eval_faq(gold: str, predictions: str | None, model: str, as_json: bool) -> None:
    """The FAQ as published, on a chat gold file with FAQ-level labels (same_as, worthy, canonical).

    Runs the whole pipeline in a throw-away workspace and prints entry precision, coverage, merge P/R and
    待回答 precision (docs/evaluation.md), with question and answer-link F. Predictions: one line per entry
    (source question, shown answer ids, canonical text, confidence) and per 待回答 item.
    """
    from .eval.faq import evaluate_faq, format_report

    result = evaluate_faq(gold, predictions, model=model)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else format_report(result))


@eval_group.command(name="repeat")
@_gold_arg
@_predictions_opt
@_workspace_model_opt
@click.option("--publish", type=click.Choice(PUBLISH_MODES),
              help="Which FAQ entries the site and search show ([faq] publish); default: the workspace default.")
@click.option("--no-floor", is_flag=True, help="Show every result, however unrelated (no relevance floor).")
@_json_opt
def eval_repeat(gold: str, predictions: str | None, model: str, publish: str | None, no_floor: bool,
                as_json: bool) -> None:
    """Does the second asker find the first answer? On a chat gold file with FAQ-level labels (same_as, answer_to).

    Builds the workspace (FAQ stages, then index), searches with the text of every labelled question whose
    same_as cluster has another member, and prints found@1/5 (a top entry holds another asking) and right
    answer@1/5 (that entry's shown answer is a gold answer of the cluster), the queries left with no result
    above the relevance floor, and the off-topic queries rightly left empty. Then where the misses come from:
    for each query without a right answer in its top 5, the first stage that lost it (the chat never answered
    the need, no entry holds another asking, no such entry shows a right answer, only held entries do, or the
    ranking), and reachable@5, the most a better ranking and publishing could reach.
    Predictions: one line per query, its ranked entries with their question and answer message ids, and its miss.
    """
    from .eval.repeat import evaluate_repeat, format_report

    from .search.query import RELEVANCE_FLOOR

    result = evaluate_repeat(gold, predictions, model=model, publish=publish,
                             floor=None if no_floor else RELEVANCE_FLOOR)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else format_report(result))


@eval_group.command(name="dedup")
@_pairs_arg
@_predictions_opt
@_json_opt
def eval_dedup(pairs: str, predictions: str | None, as_json: bool) -> None:
    """The FAQ stage's same-question scorer on labelled pairs: average precision, and P/R/F1 at the
    threshold the faq stage really uses. Predictions: {"a", "b", "score", "same"}."""
    from .eval.dedup import evaluate_dedup

    result = evaluate_dedup(pairs, predictions)
    _print_metrics(f"重复问题判定 dedup on {pairs}:", result, as_json)


@eval_group.command(name="search")
@_pairs_arg
@_predictions_opt
@_model_opt
@_device_opt
@_json_opt
@click.option("--vocabulary", is_flag=True,
              help="Expand the corpus with the vocabulary learned from it, as [search] vocabulary does.")
def eval_search(pairs: str, predictions: str | None, model: str, device: str, as_json: bool, vocabulary: bool) -> None:
    """Search over every distinct sentence of a pairs file: Recall@1/5/10 and MRR@10 (DESIGN.md).

    Queries are each positive pair's `a`; a hit is a result in the query's paraphrase cluster.
    Predictions: {"query", "results": [top 10 texts]}.
    """
    from .eval.search import evaluate_search

    result = evaluate_search(pairs, predictions, embed_model=model, device=device, vocabulary=vocabulary)
    _print_metrics(f"搜索评测 search on {pairs}:", result, as_json)


# -- reading the results -----------------------------------------------------------------------------

@main.command()
@click.option("--chat", help="Only this chat (id or name).")
@click.option("--thread", "thread_id", help="Only this conversation (thread id).")
@click.option("--min-size", default=2, show_default=True, help="Hide conversations smaller than this.")
@click.option("--limit", default=20, show_default=True, help="How many conversations to show (newest last).")
@click.pass_context
def threads(ctx: click.Context, chat: str | None, thread_id: str | None, min_size: int, limit: int) -> None:
    """Read a chat as conversations: who replied to whom, indented under what they answered."""
    from .pipeline.stages.thread import conversations, format_conversation

    with _open(ctx) as ws:
        if chat:
            match = [r["id"] for r in ws.chats() if chat in (r["id"], r["name"])]
            if not match:
                raise click.ClickException(f"no chat named {chat!r}; chats: {', '.join(r['name'] for r in ws.chats())}")
            chat = match[0]
        try:
            convs = conversations(ws, chat, min_size=1 if thread_id else min_size, limit=limit, thread=thread_id)
        except LookupError as e:
            raise click.ClickException(str(e)) from None
        for conv in convs:
            click.echo(format_conversation(conv, tz=ws.config.tz))
            click.echo()
        if not convs:
            click.echo("没有符合条件的对话 (no conversations match)")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, message ids included.")
@click.option("--all", "show_all", is_flag=True, help="Hidden talks too.")
@click.pass_context
def talks(ctx: click.Context, as_json: bool, show_all: bool) -> None:
    """Talks (分享) found in the chats: day, start, end, speaker, title, message and Q&A counts, and their curation."""
    if ctx.invoked_subcommand is not None:
        return
    from datetime import datetime

    with _open(ctx) as ws:
        found = ws.talks(include_hidden=show_all, warn=lambda m: click.echo(f"warning: {m}", err=True))
        tz = ws.config.tz
    for t in found:
        start = datetime.fromtimestamp(t.start_ts, tz).strftime("%H:%M")
        end = datetime.fromtimestamp(t.end_ts, tz).strftime("%H:%M" if t.end_ts - t.start_ts < 86400 else "%m-%d %H:%M")
        if as_json:
            click.echo(json.dumps({"id": t.id, "chat": t.chat, "day": t.day, "start": start, "end": end,
                                   "speaker": t.speaker, "speaker_name": t.speaker_name, "title": t.title,
                                   "title_source": t.title_source, "messages": len(t.message_ids),
                                   "qas": len(t.qa_ids), "left_out": t.left_out(), "evidence": t.evidence,
                                   "hidden": t.hidden, "message_ids": t.message_ids, "qa_ids": t.qa_ids},
                                  ensure_ascii=False))
        else:
            click.echo(f"{t.day} {start}–{end}  {t.speaker_name}  《{t.title or '（无题）'}》  {len(t.message_ids)} 条消息"
                       f" · {len(t.qa_ids)} 个问答{'  🙈' if t.hidden else ''}  ({t.id} · {t.chat})")
    if not found and not as_json:
        click.echo("没有找到分享 (no talks found; run `chendian run` first)")


def _talk_curation(ctx: click.Context, talk_id: str, action: str, value: str | None = None) -> None:
    from .curation import record_talk_curation

    with _open(ctx) as ws:
        record_talk_curation(ws, talk_id, action, value)
    click.echo(f"recorded {action} {talk_id}{' ' + value if value else ''}; the next run (or `chendian stage talks`)"
               " applies it")


@talks.command(name="title")
@click.argument("talk_id")
@click.argument("title")
@click.pass_context
def talks_title(ctx: click.Context, talk_id: str, title: str) -> None:
    """Give a talk a new title."""
    _talk_curation(ctx, talk_id, "talk-title", title)


@talks.command(name="add")
@click.argument("talk_id")
@click.argument("message_id")
@click.pass_context
def talks_add(ctx: click.Context, talk_id: str, message_id: str) -> None:
    """Move a message of the talk's chat into its article."""
    _talk_curation(ctx, talk_id, "talk-add", message_id)


@talks.command(name="remove")
@click.argument("talk_id")
@click.argument("message_id")
@click.pass_context
def talks_remove(ctx: click.Context, talk_id: str, message_id: str) -> None:
    """Take a message out of a talk's article."""
    _talk_curation(ctx, talk_id, "talk-remove", message_id)


@talks.command(name="hide")
@click.argument("talk_id")
@click.pass_context
def talks_hide(ctx: click.Context, talk_id: str) -> None:
    """Keep a talk off the site, search and books (a speaker asked that it stay inside the group)."""
    _talk_curation(ctx, talk_id, "talk-hide")


@talks.command(name="unhide")
@click.argument("talk_id")
@click.pass_context
def talks_unhide(ctx: click.Context, talk_id: str) -> None:
    """Show a hidden talk again."""
    _talk_curation(ctx, talk_id, "talk-unhide")


@main.command()
@click.argument("query")
@click.option("-k", default=5, show_default=True, help="How many results.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def search(ctx: click.Context, query: str, k: int, as_json: bool) -> None:
    """Search the FAQ in plain colloquial Chinese (or pinyin): 报销怎么弄, 報銷流程, baoxiao."""
    from .search.query import search as run_search

    with _open(ctx) as ws:
        hits = run_search(ws, query, k=k)
    if as_json:
        for h in hits:
            click.echo(json.dumps(h.to_json(), ensure_ascii=False))
        return
    if not hits:  # nothing above the relevance floor: say so rather than show unrelated entries
        click.echo("没有找到相关的问题 (nothing related found): 换个说法试试，或者到群里问一下")
    from .search.query import hit_notes

    for i, h in enumerate(hits, 1):
        note = " · ".join(hit_notes(h))  # 待审核 (held for review), 答案未经确认 …
        click.echo(f"{i}. {h.question}  [{h.score:.3f}]  ({h.kind} {h.id}){'  〔' + note + '〕' if note else ''}")
        if h.answer:
            click.echo(f"   {h.answer}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; anything but loopback needs --token.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--token", envvar="CHENDIAN_TOKEN", help="Access token required on every request (Authorization: Bearer …). Env: CHENDIAN_TOKEN.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    """Serve the JSON search API (/api/search?q=) and the built site."""
    from .search.api import serve as run_server

    _open(ctx).close()  # a clear error now if this is not a workspace
    try:
        run_server(ctx.obj["workspace"], host=host, port=port, token=token)
    except OSError as e:  # e.g. the port is taken
        raise click.ClickException(str(e)) from None


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.pass_context
def audit(ctx: click.Context, directory: str) -> None:
    """Look for personal data that got through to a built site or book in DIRECTORY.

    Scans pages, JS data files, EPUB and PDF (with poppler's pdftotext) for phone numbers, e-mail
    addresses, ID-card and bank numbers, WeChat ids and QQ numbers, and, when the workspace (-w, or the
    current folder) shows names as pseudonyms or initials, its members' real names. One line per finding,
    the value masked. Exit status 1 when anything is found.
    """
    from click.core import ParameterSource

    from .config import CONFIG_NAME
    from .site.audit import audit_site, names_to_hide

    given = ctx.parent.get_parameter_source("workspace") != ParameterSource.DEFAULT
    names: list[str] = []
    if given or (Path(ctx.obj["workspace"]) / CONFIG_NAME).exists():
        with _open(ctx) as ws:
            names = names_to_hide(ws)
            mode = ws.config.site.names
        click.echo(f"names: {mode}" + (f", {len(names)} real names checked" if names else ", not checked"), err=True)
    else:
        click.echo("names: not checked (no workspace; pass -w WORKSPACE)", err=True)
    report = audit_site(directory, names)
    for finding in report.findings:
        click.echo(str(finding))
    for skipped in report.skipped:
        click.echo(f"skipped: {skipped}", err=True)
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


# -- curation ------------------------------------------------------------------------------------------

@main.group()
def faq() -> None:
    """Curate FAQ entries. Every action is stored by entry id and re-applied on every run."""


def _curate(ctx: click.Context, action: str, entry_id: str, value=None) -> None:
    from .curation import record_curation

    with _open(ctx) as ws, ws.locked(f"faq {action}"):
        record_curation(ws, entry_id, action, value)
    click.echo(f"{action}: done; applied to the site on the next run (or `chendian stage faq index publish`)")


for _action, _help in (("approve", "Mark an entry as reviewed and approved (published whatever its confidence)."),
                       ("reject", "Reviewed and not an FAQ entry: hidden, and off the review queue."),
                       ("hide", "Hide an entry from the site and search."),
                       ("unhide", "Show a hidden entry again."), ("pin", "Pin an entry to the top of the home page."),
                       ("unpin", "Unpin an entry.")):
    def _make(action: str, help_text: str):
        @faq.command(name=action, help=help_text)
        @click.argument("entry_id")
        @click.pass_context
        def command(ctx: click.Context, entry_id: str) -> None:
            _curate(ctx, action, entry_id)
        return command
    _make(_action, _help)


@faq.command(name="edit")
@click.argument("entry_id")
@click.option("--question", help="New canonical question.")
@click.option("--answer", help="New answer text.")
@click.pass_context
def faq_edit(ctx: click.Context, entry_id: str, question: str | None, answer: str | None) -> None:
    """Edit an entry's question and/or answer (kept across runs)."""
    if not question and not answer:
        raise click.UsageError("give --question and/or --answer")
    _curate(ctx, "edit", entry_id, {k: v for k, v in (("question", question), ("answer", answer)) if v})


@faq.command(name="merge")
@click.argument("source_id")
@click.argument("target_id")
@click.pass_context
def faq_merge(ctx: click.Context, source_id: str, target_id: str) -> None:
    """Merge entry SOURCE_ID into TARGET_ID (the same question asked differently)."""
    _curate(ctx, "merge", source_id, target_id)


@faq.command(name="split")
@click.argument("entry_id")
@click.argument("qa_id")
@click.pass_context
def faq_split(ctx: click.Context, entry_id: str, qa_id: str) -> None:
    """Split question QA_ID out of ENTRY_ID into an entry of its own."""
    _curate(ctx, "split", entry_id, qa_id)


@faq.command(name="list")
@click.option("--all", "show_all", is_flag=True, help="Include hidden entries.")
@click.option("--limit", default=30, show_default=True)
@click.pass_context
def faq_list(ctx: click.Context, show_all: bool, limit: int) -> None:
    """List FAQ entries, most asked first, with their ids for curation."""
    with _open(ctx) as ws:
        try:
            rows = ws.db.execute(
                "SELECT id, question, count, hidden, pinned, answered FROM faq_entries"
                + ("" if show_all else " WHERE hidden = 0") + " ORDER BY pinned DESC, count DESC, first_ts LIMIT ?",
                (limit,)).fetchall()
        except Exception:
            raise click.ClickException("no FAQ yet: run `chendian run` first") from None
    for r in rows:
        flags = "".join(f for f, on in (("📌", r["pinned"]), ("🙈", r["hidden"]), ("∅", not r["answered"])) if on)
        click.echo(f"{r['id']}  ×{r['count']:<3} {flags:3} {r['question']}")


@main.command()
@click.option("--list", "list_only", is_flag=True, help="Print the queue and exit (no prompts).")
@click.option("--json", "as_json", is_flag=True, help="The queue as JSON lines, with its evidence.")
@click.option("--limit", type=int, default=None, help="At most this many entries.")
@click.pass_context
def review(ctx: click.Context, list_only: bool, as_json: bool, limit: int | None) -> None:
    """Review the entries `[faq] publish` held back, most confident first, with their evidence.

    For each: the messages around the question and every candidate answer; then [a]pprove (publish it),
    [r]eject (not an FAQ entry), [e]dit the answer, [m]erge into another entry, [s]kip or [q]uit. Every
    choice is stored by entry id and applied on the next run (or `chendian stage faq index publish`).
    """
    from .curation import record_curation, review_queue

    with _open(ctx) as ws:
        queue = review_queue(ws, limit)
        if as_json:
            for item in queue:
                e = item.entry
                click.echo(json.dumps({
                    "id": e.id, "question": e.question, "answer": e.answer, "asked": e.count, "confidence": e.confidence,
                    "worthy": e.worthy, "question_id": item.question_id,
                    "context": [{"id": m.id, "time": m.time.isoformat(), "sender_name": m.sender_name, "text": m.text}
                                for m in item.context],
                    "answers": [a.to_json() for a in e.answers]}, ensure_ascii=False))
            return
        if not queue:
            click.echo("待审核 review queue: empty")
            return
        tz = ws.config.tz
        click.echo(f"待审核 review queue: {len(queue)} entries")
        decided = 0
        for n, item in enumerate(queue, 1):
            e = item.entry
            click.echo(f"\n[{n}/{len(queue)}] {e.id}  confidence {e.confidence:.2f}  worthy {e.worthy:.2f}  asked ×{e.count}")
            click.secho(f"  问 {e.question}", bold=True)
            for m in item.context:
                mark = "▶" if m.id == item.question_id else " "
                click.echo(f"  {mark} {m.time.astimezone(tz):%m-%d %H:%M} {m.sender_name}: {_one_line(m.text)}")
            for k, a in enumerate(e.answers, 1):
                click.echo(f"  答{k} {a.answer.sender_name or a.answer.sender}: {_one_line(a.answer.text)}")
            if list_only:
                continue
            choice = click.prompt("  [a]pprove [r]eject [e]dit [m]erge [s]kip [q]uit", default="s",
                                  type=click.Choice(list("aremsq")), show_choices=False)
            if choice == "q":
                break
            with ws.locked("review"):
                if choice == "a":
                    record_curation(ws, e.id, "approve")
                elif choice == "r":
                    record_curation(ws, e.id, "reject")
                elif choice == "e":
                    answer = click.prompt("  answer", default=e.answer)
                    record_curation(ws, e.id, "edit", {"answer": answer})
                    record_curation(ws, e.id, "approve")
                elif choice == "m":
                    record_curation(ws, e.id, "merge", click.prompt("  merge into entry id"))
            decided += choice != "s"
        if not list_only:
            click.echo(f"\n{decided} decisions stored; applied on the next run (or `chendian stage faq index publish`)")


def _one_line(text: str, limit: int = 100) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@faq.command(name="log")
@click.pass_context
def faq_log(ctx: click.Context) -> None:
    """Every curation action recorded in this workspace, oldest first."""
    from .curation import curation_log

    with _open(ctx) as ws:
        for row in curation_log(ws):
            click.echo(f"{row['at']}  {row['action']:8} {row['entry_id']}  {row['value']}")


@main.group()
def book() -> None:
    """Books for authors: a manifest (book.toml) by stable ids, built as Markdown, HTML, EPUB and PDF."""


@book.command(name="init")
@click.option("--out", "out", default="book.toml", show_default=True, type=click.Path(dir_okay=False),
              help="Manifest to write.")
@click.option("--update", is_flag=True, help="Keep the author's manifest; only append what is new (flagged).")
@click.pass_context
def book_init(ctx: click.Context, out: str, update: bool) -> None:
    """Write the book manifest: every topic a chapter (most asked first) with its published entries."""
    from .site.book import default_manifest, dump_manifest, read_manifest, update_manifest

    path = Path(out)
    if path.exists() and not update:
        raise click.ClickException(f"{path} exists: use --update to add what is new, keeping your edits")
    with _open(ctx) as ws:
        warn = lambda m: click.echo(f"warning: {m}", err=True)  # noqa: E731
        if update and path.exists():
            manifest, added = update_manifest(ws, read_manifest(path), warn)
            summary = (f"{added.get('entries', 0)} new entries, {added.get('chapters', 0)} new chapters"
                       + (f", {added['skipped_dropped_chapter']} skipped (their chapter was dropped)"
                          if added.get("skipped_dropped_chapter") else ""))
        else:
            manifest = default_manifest(ws, warn)
            summary = f"{len(manifest.chapters)} chapters, {len(manifest.seen_entries)} entries"
        text = dump_manifest(manifest, ws, warn)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # an interrupted update never leaves half a manifest
    click.echo(f"{path}: {summary}")


@book.command(name="build")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False),
              help="The author's manifest (default: book.toml when it exists, else the default book).")
@click.option("--format", "formats", default="html,epub,pdf,md", show_default=True, help="Comma-separated formats.")
@click.option("--out", "out", default="book", show_default=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--names", type=click.Choice(["real", "pseudonym", "initials"]), help="Name mode (default: [site] names).")
@click.pass_context
def book_build(ctx: click.Context, manifest: str | None, formats: str, out: str, names: str | None) -> None:
    """Build the book: title page, preface, TOC, chapters with credit lines, contributors' index, colophon."""
    import time

    from .site.book import build_book, read_manifest

    if manifest is None and Path("book.toml").is_file():
        manifest = "book.toml"
    started = time.monotonic()
    with _open(ctx) as ws:
        result = build_book(ws, out, [f.strip() for f in formats.split(",") if f.strip()],
                            read_manifest(manifest) if manifest else None, names=names,
                            warn=lambda m: click.echo(f"warning: {m}", err=True))
    click.echo(f"book: {result['chapters']} chapters, {result['entries']} entries, {result['people']} contributors "
               f"in {time.monotonic() - started:.1f}s")
    for fmt, path in result["files"].items():
        click.echo(f"  {fmt}: {path}")


if __name__ == "__main__":
    main()
