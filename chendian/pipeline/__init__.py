"""The nightly batch: STAGES, one Stage object per stage in flow order, run under the workspace lock.

A stage lives in `pipeline/stages/<name>.py` (named as `chendian stage <name>` names it), declares the tables
it reads and writes (chendian/schema.py defines them), and returns the counts that matter. The runner is a plain
loop (MkDocs-style): each stage in order, a report of counts, timings and warnings saved as JSON at the end.
A rerun on the same input changes nothing.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from .. import atomic
from ..store import Workspace
from .executor import executor_for
from .stages import RunContext, Stage, StageError
from .stages import digest, embed, extract, faq, index, ingest, insights, publish, segment, summarize, talks, thread, topics

# The flow of DESIGN.md.
STAGES: tuple[Stage, ...] = (
    ingest.STAGE, segment.STAGE, embed.STAGE, thread.STAGE, topics.STAGE, extract.STAGE, talks.STAGE, faq.STAGE,
    insights.STAGE, summarize.STAGE, index.STAGE, publish.STAGE, digest.STAGE,
)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)

__all__ = ["STAGES", "STAGE_NAMES", "RunContext", "RunReport", "Stage", "StageError", "StageReport", "run_stages",
           "stage_named", "table_writers"]


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


def _run(ws: Workspace, wanted: list[Stage], report: RunReport, quiet: bool,
         on_stage: Callable[[StageReport], None] | None, executor) -> None:
    with ws.locked("run " + ",".join(s.name for s in wanted)):
        for stage in wanted:
            rc = RunContext(quiet=quiet, stage=stage.name, executor=executor)
            t0 = time.perf_counter()
            try:
                counts = stage.run(ws, rc) or {}
                sr = StageReport(stage.name, "ok", round(time.perf_counter() - t0, 3), counts)
            except Exception as e:  # reported, not re-raised: the run report must still be written
                sr = StageReport(stage.name, "failed", round(time.perf_counter() - t0, 3),
                                 note=f"{type(e).__name__}: {e}")
                if os.environ.get("CHENDIAN_DEBUG"):
                    traceback.print_exc()
            report.warnings.extend(rc.warnings)
            report.stages.append(sr)
            if on_stage:
                on_stage(sr)
            if sr.status == "failed":
                break


def _save_report(ws: Workspace, report: RunReport) -> None:
    folder = ws.path("reports")
    folder.mkdir(exist_ok=True)
    stamp = report.started.replace(":", "").replace("-", "")[:15]
    text = report.to_json()
    atomic.write_text(folder / f"run-{stamp}.json", text)
    atomic.write_text(folder / "latest.json", text)
