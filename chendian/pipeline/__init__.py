"""The nightly batch as a plain sequence of stages (MkDocs-style), run under the workspace lock.

A stage is a function `run(ws, rc) -> dict[str, int]` in some module: it reads what earlier stages wrote to
the workspace, writes its own outputs there, and returns the counts that matter. Stages decide their own
incrementality (most compare a state key to the store); a rerun on the same input changes nothing.
The runner records a run report (counts per stage, timings, warnings) in the store and as JSON.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from ..store import Workspace

# name → "module:function". Order is the flow of DESIGN.md.
STAGES: dict[str, str] = {
    "ingest": "chendian.pipeline.ingest_stage:run",
    "segment": "chendian.summarize.segment_stage:run",
    "embed": "chendian.summarize.embed_stage:run",
    "thread": "chendian.summarize.thread_stage:run",
    "topics": "chendian.summarize.topics:run",
    "extract": "chendian.summarize.extract:run",
    "faq": "chendian.summarize.faq:run",
    "summarize": "chendian.summarize.digest:run",
    "index": "chendian.search.index:run",
    "publish": "chendian.site.build:run",
}


class StageError(RuntimeError):
    pass


@dataclass
class RunContext:
    """What a stage gets besides the workspace: progress bars and a place for warnings."""

    warnings: list[str] = field(default_factory=list)
    quiet: bool = False
    stage: str = ""

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.stage}: {message}")

    def progress(self, total: int | None, desc: str, unit: str = "it"):
        from tqdm import tqdm

        return tqdm(total=total, desc=f"{self.stage}: {desc}", unit=unit, leave=False, file=sys.stderr,
                    disable=True if self.quiet else None)


@dataclass
class StageReport:
    name: str
    status: str  # ok | skipped | failed
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


def resolve_stage(name: str) -> Callable | None:
    """The stage's function, or None when its module is not part of this build yet."""
    target = STAGES[name]
    module_name, func = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            return None
        raise
    return getattr(module, func)


def available_stages() -> list[str]:
    return [n for n in STAGES if resolve_stage(n) is not None]


def run_stages(ws: Workspace, names: list[str] | None = None, *, quiet: bool = False,
               on_stage: Callable[[StageReport], None] | None = None) -> RunReport:
    """Run the given stages (default: all) in flow order under the workspace lock.

    A failing stage stops the run (later stages would read half-made inputs); what earlier stages
    committed stays, and the published site and index stay the previous ones.
    """
    unknown = [n for n in names or [] if n not in STAGES]
    if unknown:
        raise StageError(f"unknown stage(s): {', '.join(unknown)}; stages are: {', '.join(STAGES)}")
    wanted = [n for n in STAGES if names is None or n in names]
    report = RunReport(started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    with ws.locked("run " + ",".join(wanted)):
        for name in wanted:
            fn = resolve_stage(name)
            if fn is None:
                sr = StageReport(name, "skipped", 0.0, note="not part of this build yet")
            else:
                rc = RunContext(quiet=quiet, stage=name)
                t0 = time.perf_counter()
                try:
                    counts = fn(ws, rc) or {}
                    sr = StageReport(name, "ok", round(time.perf_counter() - t0, 3), counts)
                except Exception as e:  # reported, not re-raised: the run report must still be written
                    sr = StageReport(name, "failed", round(time.perf_counter() - t0, 3),
                                     note=f"{type(e).__name__}: {e}")
                    if os.environ.get("CHENDIAN_DEBUG"):
                        traceback.print_exc()
                report.warnings.extend(rc.warnings)
            report.stages.append(sr)
            if on_stage:
                on_stage(sr)
            if sr.status == "failed":
                break
    report.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _save_report(ws, report)
    return report


def _save_report(ws: Workspace, report: RunReport) -> None:
    folder = ws.path("reports")
    folder.mkdir(exist_ok=True)
    stamp = report.started.replace(":", "").replace("-", "")[:15]
    text = report.to_json()
    tmp = folder / f".run-{stamp}.json.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, folder / f"run-{stamp}.json")
    latest = folder / ".latest.tmp"
    latest.write_text(text, encoding="utf-8")
    os.replace(latest, folder / "latest.json")
