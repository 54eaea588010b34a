"""Optional LLM rewriting through an OpenAI-compatible endpoint ([llm] in chendian.toml). Offline is the default.

Plain urllib, no SDK: POST {endpoint}/chat/completions. Every failure is an LLMError with a clear message;
callers keep the extractive text when it happens.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from ..errors import ChendianError

REWRITE_PROMPT = ("你是企业内部学习群的知识整理助手。把下面的群聊摘要改写成通顺、简洁的中文，保留事实、人名和链接，"
                  "不要编造内容，不超过{limit}字。")


class LLMError(ChendianError, RuntimeError):
    pass


def enabled(cfg) -> bool:
    return bool(cfg.endpoint and cfg.model)


def chat_complete(cfg, messages: list[dict], *, opener=urllib.request.urlopen) -> str:
    """One chat completion; `cfg` is config.LLMConfig. `opener` is injectable for tests (no network in tests)."""
    if not enabled(cfg):
        raise LLMError("llm.endpoint and llm.model must both be set in chendian.toml to use an LLM")
    url = cfg.endpoint.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(cfg.api_key_env or "", "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = json.dumps({"model": cfg.model, "messages": messages, "temperature": 0.2}, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with opener(request, timeout=cfg.timeout_seconds) as response:
            payload = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        raise LLMError(f"LLM endpoint {url} answered HTTP {e.code}: {e.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise LLMError(f"LLM endpoint {url} unreachable: {getattr(e, 'reason', e)}") from None
    except json.JSONDecodeError:
        raise LLMError(f"LLM endpoint {url} did not answer JSON") from None
    try:
        return str(payload["choices"][0]["message"]["content"]).strip()
    except (KeyError, IndexError, TypeError):
        raise LLMError(f"LLM endpoint {url} answered without choices[0].message.content") from None


def rewrite(cfg, text: str, limit: int = 200, *, opener=urllib.request.urlopen) -> str:
    """The text rewritten by the LLM (raises LLMError; the caller keeps the original then)."""
    return chat_complete(cfg, [{"role": "system", "content": REWRITE_PROMPT.format(limit=limit)},
                               {"role": "user", "content": text}], opener=opener)
