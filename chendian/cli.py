"""The `chendian` command: a thin click layer that parses, calls the library and prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .config import ConfigError
from .store import Workspace, WorkspaceError


def _open(ctx: click.Context) -> Workspace:
    try:
        return Workspace(ctx.obj["workspace"])
    except (WorkspaceError, ConfigError) as e:
        raise click.ClickException(str(e)) from None


def _progress(total: int | None, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="msg", disable=None, leave=False, file=sys.stderr)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
def init(directory: str) -> None:
    """Create a workspace in DIRECTORY: chendian.toml, the SQLite store and an inbox/ folder."""
    try:
        ws = Workspace(directory, create=True)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    with ws:
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
    from .ingest import IngestError, ingest_paths, reader_names

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
    except (IngestError, WorkspaceError) as e:
        bar.close()
        raise click.ClickException(str(e)) from None
    bar.close()
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


def _print_stage(sr) -> None:
    mark = {"ok": "✓", "skipped": "-", "failed": "✗"}[sr.status]
    counts = ", ".join(f"{k} {v}" for k, v in sr.counts.items())
    line = f"{mark} {sr.name:10} {sr.seconds:7.2f}s  {counts}"
    if sr.note:
        line += f"  ({sr.note})"
    click.echo(line, err=sr.status == "failed")


def _run(ctx: click.Context, names: list[str] | None, quiet: bool) -> None:
    from .pipeline import StageError, run_stages

    ws = _open(ctx)
    try:
        with ws:
            report = run_stages(ws, names, quiet=quiet, on_stage=_print_stage)
    except (StageError, WorkspaceError) as e:
        raise click.ClickException(str(e)) from None
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
    summarize → index → publish. Rerunning on the same input changes nothing; a failed stage stops the
    run and leaves the previous site and index in place. Exit status 1 if a stage failed.
    """
    _run(ctx, None, quiet)


@main.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def stage(ctx: click.Context, names: tuple[str, ...], quiet: bool) -> None:
    """Run only the named stage(s), e.g. `chendian stage thread`."""
    _run(ctx, list(names), quiet)


# -- evaluation --------------------------------------------------------------------------------------

@main.group(name="eval")
def eval_group() -> None:
    """Score the pipeline against labelled data (DESIGN.md "Evaluation"); --predictions writes what it predicted."""


def _print_metrics(name: str, metrics: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(metrics, ensure_ascii=False, indent=2))
        return
    click.echo(f"{name}:")

    def walk(d: dict, indent: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                click.echo(f"{indent}{k}:")
                walk(v, indent + "  ")
            elif isinstance(v, float):
                click.echo(f"{indent}{k:28} {v:.4f}")
            else:
                click.echo(f"{indent}{k:28} {v}")

    walk(metrics, "  ")


def _eval_command(kind: str, target: str, argument: str, help_text: str):
    @eval_group.command(name=kind, help=help_text)
    @click.argument(argument, type=click.Path(exists=True, dir_okay=False))
    @click.option("--predictions", type=click.Path(dir_okay=False), help="Write predictions (JSONL) here.")
    @click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
    def command(predictions: str | None, as_json: bool, **kwargs) -> None:
        import importlib

        module_name, func = target.split(":")
        evaluate = getattr(importlib.import_module(module_name), func)
        try:
            metrics = evaluate(kwargs[argument], predictions_path=predictions)
        except (ValueError, KeyError) as e:
            raise click.ClickException(f"{kwargs[argument]}: {e}") from None
        _print_metrics(f"{kind} on {kwargs[argument]}", metrics, as_json)

    return command


_eval_command("threads", "chendian.eval.threads:evaluate_threads", "gold",
              "Thread disentanglement on a chat gold file: 1-VI, ARI, 1-1, exact-match P/R/F, reply-link P/R/F.")
_eval_command("qa", "chendian.eval.qa:evaluate_qa", "gold",
              "Question detection and answer linking on a chat gold file with question/answer_to labels.")
_eval_command("dedup", "chendian.eval.dedup:evaluate_dedup", "pairs",
              "The FAQ stage's same-question scorer on labelled pairs: average precision and F1 at its threshold.")
_eval_command("search", "chendian.eval.search:evaluate_search", "pairs",
              "Search over every distinct sentence of a pairs file: Recall@1/5/10 and MRR@10.")


if __name__ == "__main__":
    main()
