"""The layout of DESIGN.md "Layout", held by tests: one home per table and per stage, imports pointing down.

The import graph is read with `ast` from every chendian/**.py (function-level imports included, relative
imports resolved), so a lazy import inside a function cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from chendian import schema
from chendian.cli import main
from chendian.pipeline import STAGE_NAMES, STAGES, table_writers

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "chendian"


# -- the import graph -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Import:
    importer: str  # module name, e.g. chendian.search.query
    target: str  # the module imported (a submodule where `from pkg import submodule`)
    name: str | None  # the name imported by `from … import name`, None for `import x`
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports() -> list[Import]:
    out = []
    for module, path in MODULES.items():
        # the package a relative import starts from: the module itself for an __init__, else its parent
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out += [Import(module, a.name, None, node.lineno) for a in node.names if a.name.startswith("chendian")]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[:len(here) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "chendian":
                    continue
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    out.append(Import(module, sub if sub in MODULES else target, a.name, node.lineno))
    return out


IMPORTS = _imports()


def _folder(module: str) -> str:
    """The folder (package) a module lives in: the package itself for an __init__."""
    return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def _unit(module: str) -> str:
    """The node of the folder graph: a sub-folder of chendian/, or a top-level module standing alone (all of
    them share the folder chendian/, whose __init__ every import passes through)."""
    folder = _folder(module)
    return module if folder == "chendian" else folder


def test_import_graph_resolves_every_import():
    # a typo in the resolver would make every test below vacuous
    unknown = {i.target for i in IMPORTS} - set(MODULES)
    assert not unknown
    assert any(i.importer == "chendian.cli" and i.target == "chendian.pipeline" for i in IMPORTS)


# -- (a) every table's DDL in schema.py ---------------------------------------------------------------

def test_create_table_only_in_schema():
    found = [str(p.relative_to(REPO)) for p in PACKAGE.rglob("*") if p.is_file() and p.suffix in {".py", ".sql"}
             and re.search(r"CREATE\s+(VIRTUAL\s+)?TABLE", p.read_text(encoding="utf-8"), re.I)]
    assert found == ["chendian/schema.py"]


# -- (b) one file per stage ------------------------------------------------------------------------------

def test_every_stage_has_its_own_file():
    stage_dir = PACKAGE / "pipeline" / "stages"
    files = {p.stem for p in stage_dir.glob("*.py")} - {"__init__"}
    assert files == set(STAGE_NAMES), "one file per stage, and no other module in pipeline/stages/"
    for stage in STAGES:
        module = importlib.import_module(f"chendian.pipeline.stages.{stage.name}")
        assert module.STAGE is stage, stage.name
    assert len(set(STAGE_NAMES)) == len(STAGE_NAMES)


def test_stage_help_lists_the_stages_in_flow_order():
    result = CliRunner().invoke(main, ["stage", "--help"])
    assert result.exit_code == 0
    listed = re.search(r"Stages, in flow order: ([^.]+)\.", " ".join(result.output.split()))
    assert listed, result.output
    assert tuple(n.strip() for n in listed.group(1).split(",")) == STAGE_NAMES


def test_an_unknown_stage_is_one_line(tmp_path):
    assert CliRunner().invoke(main, ["init", str(tmp_path)]).exit_code == 0
    result = CliRunner().invoke(main, ["-w", str(tmp_path), "stage", "nosuch"])
    assert result.exit_code == 1
    assert "unknown stage 'nosuch'" in result.output and "Traceback" not in result.output


# -- (c) one writer per table, reads after writes ---------------------------------------------------------

def test_every_table_has_exactly_one_owner():
    writers = table_writers()
    for table in schema.TABLES:
        if table in schema.NOT_STAGE_OWNED:
            assert table not in writers, f"{table} is not stage-owned, yet {writers.get(table)} write it"
        else:
            assert len(writers.get(table, [])) == 1, f"{table}: writers {writers.get(table)}"
    assert set(schema.NOT_STAGE_OWNED) <= set(schema.TABLES)
    assert set(schema.SHARED_CACHES) <= set(writers)


def test_stages_name_only_tables_of_the_schema():
    for stage in STAGES:
        assert set(stage.reads) | set(stage.writes) <= set(schema.TABLES), stage.name


def test_each_stage_reads_only_what_earlier_stages_wrote():
    written: set[str] = set(schema.NOT_STAGE_OWNED)
    for stage in STAGES:
        # a shared cache is read and memoised through by every vector user, whoever filled it first
        early = set(stage.reads) - written - schema.SHARED_CACHES
        assert not early, f"{stage.name} reads {sorted(early)} before any stage writes them"
        written |= set(stage.writes)


# -- (d) docs/workspace.md agrees with schema.py and STAGES -------------------------------------------------

def _documented_tables() -> dict[str, str]:
    """table -> the stage docs/workspace.md says writes it (or the first cell's words for the others)."""
    text = (REPO / "docs" / "workspace.md").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not line.lstrip().startswith("|") or set(cells[0]) <= {"-"}:
            continue
        for table in re.findall(r"`(\w+)[(`]", cells[1]):  # `name` or `name(columns…)`, not `index/`
            assert table not in out, f"{table} is listed twice in docs/workspace.md"
            out[table] = cells[0]
    out.pop("table", None)
    return out


def test_workspace_doc_lists_the_schema_tables_and_their_writers():
    documented = _documented_tables()
    assert set(documented) == set(schema.TABLES)
    writers = table_writers()
    for table, owner in documented.items():
        expected = writers[table][0] if table in writers else "(no stage)"
        assert owner == expected, f"docs/workspace.md says {owner} writes {table}; STAGES say {expected}"


# -- (e) no cycle between folders -------------------------------------------------------------------------

def test_no_import_cycle_between_folders():
    edges: dict[str, set[str]] = {}
    for i in IMPORTS:
        a, b = _unit(i.importer), _unit(i.target)
        if a != b and b != "chendian":  # chendian/__init__ (the version) is imported by everything it holds
            edges.setdefault(a, set()).add(b)
    # any cycle, of any length: depth-first search for a back edge
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


# -- (f) dependencies point down ----------------------------------------------------------------------------

# Top to bottom; a module may import its own layer and any layer below, never one above. Longest prefix wins.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("chendian.__main__", "chendian.cli"),
    ("chendian.eval",),  # scores the pipeline: `chendian eval faq` runs its stages on a gold file
    ("chendian.pipeline",),  # the runner and pipeline/stages/
    ("chendian.stats", "chendian.site"),
    ("chendian.search",),
    ("chendian.summarize.qa", "chendian.summarize.topics", "chendian.summarize.llm", "chendian.summarize",
     "chendian.privacy"),  # what the site and search's hits show of a text: both need it
    ("chendian.summarize.threads",),
    ("chendian.summarize.text", "chendian.ingest"),
    ("chendian.store", "chendian.db", "chendian.model", "chendian.schema", "chendian.config", "chendian.errors",
     "chendian.atomic", "chendian"),
)


def _layer(module: str) -> int:
    best, depth = None, -1
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = rank, prefix.count(".")
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_no_module_imports_a_layer_above_it():
    upward = [f"{i.importer}:{i.line} imports {i.target}" for i in IMPORTS
              if _layer(i.target) < _layer(i.importer)]
    assert not upward, "\n".join(upward)


def _importers_of(target_prefix: str, from_prefixes: tuple[str, ...]) -> list[str]:
    return [f"{i.importer}:{i.line} imports {i.target}" for i in IMPORTS
            if i.importer.startswith(from_prefixes)
            and (i.target == target_prefix or i.target.startswith(target_prefix + "."))]


def test_text_algorithms_know_nothing_of_threads_or_qa():
    assert not _importers_of("chendian.summarize.threads", ("chendian.summarize.text",))
    assert not _importers_of("chendian.summarize.qa", ("chendian.summarize.text",))


def test_no_algorithm_imports_the_pipeline_or_the_cli():
    algorithms = ("chendian.summarize", "chendian.search", "chendian.site", "chendian.ingest")
    assert not _importers_of("chendian.pipeline", algorithms)
    # only `python -m chendian` (chendian/__main__.py) runs the CLI
    importers = _importers_of("chendian.cli", tuple(m for m in MODULES if m != "chendian.cli"))
    assert importers == ["chendian.__main__:3 imports chendian.cli"]


# -- (g) private names stay in their package ----------------------------------------------------------------

def test_no_private_name_imported_across_packages():
    leaks = [f"{i.importer}:{i.line} imports {i.name} from {i.target}" for i in IMPORTS
             if i.name and i.name.startswith("_") and not i.name.startswith("__")
             and _folder(i.importer) != _folder(i.target)]
    assert not leaks, "\n".join(leaks)


# -- errors: one base, mapped once by the CLI ---------------------------------------------------------------

def test_every_user_facing_error_is_a_chendian_error():
    from chendian.config import ConfigError
    from chendian.errors import ChendianError
    from chendian.eval import EvalError
    from chendian.eval.gold import GoldError
    from chendian.ingest import IngestError
    from chendian.ingest.base import UnreadableFile
    from chendian.pipeline import StageError
    from chendian.pipeline.executor import ExecutorError
    from chendian.pipeline.stages.segment import SegmentConfigError
    from chendian.search.api import ServeError
    from chendian.search.index import SearchIndexError
    from chendian.store import WorkspaceError
    from chendian.summarize.llm import LLMError
    from chendian.curation import CurationError
    from chendian.summarize.text.embed import EmbedError
    from chendian.site.audit import LeakError
    from chendian.site.book import BookError
    from chendian.site.report import ReportError
    from chendian.summarize.qa.insights import MembersError

    for error in (ConfigError, EvalError, GoldError, IngestError, UnreadableFile, StageError, SegmentConfigError,
                  ServeError, SearchIndexError, WorkspaceError, LLMError, CurationError, EmbedError, LeakError,
                  ReportError, BookError, MembersError, ExecutorError):
        assert issubclass(error, ChendianError), error.__name__
    # and every error class defined in chendian/ is one of them (or one of their subclasses)
    defined = {node.name for path in MODULES.values() for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ClassDef) and re.search(r"(Error|Locked|UnreadableFile)$", node.name)}
    assert defined - {"ChendianError"} <= {"ConfigError", "EvalError", "GoldError", "IngestError", "UnreadableFile",
                                           "StageError", "SegmentConfigError", "ServeError", "SearchIndexError",
                                           "WorkspaceError", "WorkspaceLocked", "StoreError", "LLMError", "CurationError",
                                           "EmbedError", "LeakError", "ReportError", "BookError", "MembersError",
                                           "ExecutorError"}, \
        "a new error class: make it a ChendianError and list it"


def test_a_bad_config_is_one_line_and_exit_1(tmp_path):
    assert CliRunner().invoke(main, ["init", str(tmp_path)]).exit_code == 0
    (tmp_path / "chendian.toml").write_text('[thread]\nmax_gap_minutes = "soon"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["-w", str(tmp_path), "run", "-q"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output and "max_gap_minutes" in result.output
