"""The nightly batch: STAGES, one Stage object per stage in flow order, run under the workspace lock.

A stage lives in `pipeline/stages/<name>.py` (named as `chendian stage <name>` names it), declares the tables
it reads and writes (chendian/schema.py defines them), and returns the counts that matter. The runner is a plain
loop (MkDocs-style): each stage in order, a report of counts, timings and warnings saved as JSON at the end.
A rerun on the same input changes nothing.

On a night (a day's messages, fewer than `[run] auto_messages`, under executor = "auto") the stages are the
parallel work: consecutive stages of which none reads or writes what another writes (`stage_groups`: segment and
embed, topics and extract, insights, summarize and index) run at once, each but the first in a forked process
with its own connection to the store. What each writes depends only on the tables the earlier groups wrote, so
the tables are those of a run one stage at a time (tests/test_stage_groups.py).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from .. import atomic
from ..store import Workspace
from .executor import LocalExecutor, executor_for
from .stages import RunContext, Stage, StageError
from .stages import digest, embed, extract, faq, index, ingest, insights, publish, segment, summarize, talks, thread, topics

# The flow of DESIGN.md.
STAGES: tuple[Stage, ...] = (
    ingest.STAGE, segment.STAGE, embed.STAGE, thread.STAGE, topics.STAGE, extract.STAGE, talks.STAGE, faq.STAGE,
    insights.STAGE, summarize.STAGE, index.STAGE, publish.STAGE, digest.STAGE,
)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)

__all__ = ["STAGES", "STAGE_NAMES", "RunContext", "RunReport", "Stage", "StageError", "StageReport", "run_stages",
           "stage_groups", "stage_named", "table_writers"]


def stage_named(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise StageError(f"unknown stage {name!r}; stages are: {', '.join(STAGE_NAMES)}")


def table_writers() -> dict[str, list[str]]:
    """table → the stages that write it (one each: a test holds the stage list to it)."""
    out: dict[str, list[str]] = {}
    for s in STAGES:
        for t in s.writes:
            out.setdefault(t, []).append(s.name)
    return out


@dataclass
class StageReport:
    name: str
    status: str  # ok | failed
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    note: str = ""


@dataclass
class RunReport:
    started: str
    finished: str = ""
    stages: list[StageReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    together: list[list[str]] = field(default_factory=list)  # the stages that ran at once (stage_groups)

    @property
    def ok(self) -> bool:
        return all(s.status != "failed" for s in self.stages)

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"ok": self.ok}, ensure_ascii=False, indent=2)


def run_stages(ws: Workspace, names: list[str] | None = None, *, quiet: bool = False,
               on_stage: Callable[[StageReport], None] | None = None, executor=None) -> RunReport:
    """Run the given stages (default: all) in flow order under the workspace lock.

    A failing stage stops the run (later stages would read half-made inputs); what earlier stages
    committed stays, and the published site and index stay the previous ones. The per-chat stages fan out
    on `executor` (default: the one `[run]` asks for, started on first use and shut down at the end).
    """
    wanted = [stage_named(n) for n in names] if names else list(STAGES)
    wanted = [s for s in STAGES if s in wanted]  # flow order, whatever order they were named in
    report = RunReport(started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    own = executor is None
    if own:
        executor = executor_for(ws.config.run)
    try:
        _run(ws, wanted, report, quiet, on_stage, executor)
    finally:
        if own:
            executor.close()
    report.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _save_report(ws, report)
    return report


def stage_groups(stages: list[Stage]) -> list[list[Stage]]:
    """The stages, in flow order, cut into runs of consecutive stages that may run at once: a stage joins the
    group before it when it reads no table a member writes, writes no table a member reads or writes, and
    writes no folder a member writes. (The embedding cache, which several stages fill as they go, is shared:
    rows are keyed by text and model, and two stages that embed the same text write the same row.)"""
    groups: list[list[Stage]] = []
    for stage in stages:
        group = groups[-1] if groups else None
        if group and all(_independent(stage, member) for member in group):
            group.append(stage)
        else:
            groups.append([stage])
    return groups


def _independent(a: Stage, b: Stage) -> bool:
    a_reads, b_reads = set(a.reads) | set(a.writes), set(b.reads) | set(b.writes)
    return not (a_reads & set(b.writes)) and not (b_reads & set(a.writes)) and not (set(a.files) & set(b.files))


def _run(ws: Workspace, wanted: list[Stage], report: RunReport, quiet: bool,
         on_stage: Callable[[StageReport], None] | None, executor) -> None:
    with ws.locked("run " + ",".join(s.name for s in wanted)):
        seen = _threaded_up_to(ws)
        for group in stage_groups(wanted):
            at_once = _concurrent_stages(ws, executor, seen) if len(group) > 1 else 1
            if at_once > 1:
                done = _run_group(ws, group, quiet, executor)
                report.together.append([s.name for s in group])
            else:  # one at a time, stopping at the first that fails
                done = []
                for stage in group:
                    done.append(_run_one(ws, stage, quiet, executor))
                    if done[-1][0].status == "failed":
                        break
            for sr, warnings in done:
                report.warnings.extend(warnings)
                report.stages.append(sr)
                if on_stage:
                    on_stage(sr)
            if any(sr.status == "failed" for sr, _ in done):
                break


def _threaded_up_to(ws: Workspace) -> int | None:
    """The rowid up to which the thread stage had seen every message when this run began (None: never ran)."""
    from .stages import thread

    seen = ws.get_state(thread.ROWID_KEY)
    return None if seen is None else int(seen)


def _concurrent_stages(ws: Workspace, executor, seen: int | None) -> int:
    """How many stages of a group may run at once: the executor says, from the messages this run brings that
    the thread stage had not seen when it began (the night's; None before a first run: that is work for the
    pool, not a night). Asked before each group, after ingest has imported what it found."""
    decide = getattr(executor, "concurrent_stages", None)
    if decide is None:
        return 1
    if seen is None:
        return decide(None)
    top = ws.db.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]
    return decide(max(0, top - seen))


def _run_one(ws: Workspace, stage: Stage, quiet: bool, executor) -> tuple[StageReport, list[str]]:
    rc = RunContext(quiet=quiet, stage=stage.name, executor=executor)
    t0 = time.perf_counter()
    try:
        counts = stage.run(ws, rc) or {}
        sr = StageReport(stage.name, "ok", round(time.perf_counter() - t0, 3), counts)
    except Exception as e:  # reported, not re-raised: the run report must still be written
        sr = StageReport(stage.name, "failed", round(time.perf_counter() - t0, 3), note=f"{type(e).__name__}: {e}")
        if os.environ.get("CHENDIAN_DEBUG"):
            traceback.print_exc()
    return sr, rc.warnings


def _run_group(ws: Workspace, group: list[Stage], quiet: bool, executor) -> list[tuple[StageReport, list[str]]]:
    """The group's stages at once: the first here, each other in a forked process with its own connection to
    the store (never this one's), its jobs in that process (a night's are small) and no progress bar (two
    would garble the terminal). Reports come back in flow order, whatever order the stages finish in."""
    context = multiprocessing.get_context("fork")
    children = []
    for stage in group[1:]:
        receive, send = context.Pipe(duplex=False)
        # Not a daemon: a stage that forks workers of its own (publish's pages) may do so here as in this process.
        child = context.Process(target=_stage_process, args=(ws.root, stage, send), name=f"chendian-{stage.name}")
        child.start()
        send.close()
        children.append((stage, child, receive))
    done = [_run_one(ws, group[0], quiet, executor)]
    for stage, child, receive in children:
        t0 = time.perf_counter()
        try:
            done.append(receive.recv())
        except EOFError:  # the process died before it could report (killed, out of memory)
            child.join()
            done.append((StageReport(stage.name, "failed", round(time.perf_counter() - t0, 3),
                                     note=f"its process ended without a report (exit code {child.exitcode})"), []))
        finally:
            receive.close()
            child.join()
    return done


def _stage_process(root, stage: Stage, send) -> None:
    """A forked process's whole life: open the workspace anew, run one stage, send back its report."""
    from threadpoolctl import threadpool_limits

    from .stages import set_worker_cores

    set_worker_cores(1)  # one BLAS thread: the other stages of the group have the other cores
    threadpool_limits(limits=1)  # BLAS and OpenMP as loaded in the parent
    try:
        ws = Workspace(root)
    except Exception as e:
        send.send((StageReport(stage.name, "failed", 0.0, note=f"{type(e).__name__}: {e}"), []))
        return
    try:
        send.send(_run_one(ws, stage, True, LocalExecutor()))
    finally:
        ws.db.close()
        send.close()


def _save_report(ws: Workspace, report: RunReport) -> None:
    folder = ws.path("reports")
    folder.mkdir(exist_ok=True)
    stamp = report.started.replace(":", "").replace("-", "")[:15]
    text = report.to_json()
    atomic.write_text(folder / f"run-{stamp}.json", text)
    atomic.write_text(folder / "latest.json", text)
