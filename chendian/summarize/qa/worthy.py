"""Is a question worth an FAQ entry? A self-contained question someone else could look up later, not an
in-the-moment fragment ("这样的咩？可以用？"), banter ("外面还下雨么？") or personal logistics.

A logistic regression over the question's sentence vector (the default model's), surface features every
chat has (question marks and particles, question words, length, a leading anaphor or pronoun, @-mentions,
addressing someone as 你, laughter) and where it was asked: whether it opens its conversation. A question that
opens a conversation after a silence stands on its own far more often than one asked inside a conversation, which
leans on what was just said (with the thread stage's conversations: qq-dev 75% of them worthy against 21–35%,
wechat-dev 61% against 34–39%). Fitted on the labelled Chinese groups (`training/fit_worthy.py`); the shipped
weights file names the features it reads, so a feature list and its weights never drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...model import conversation_id
from .extract import clean_text, question_features

WEIGHTS_FILE = Path(__file__).with_name("worthy_weights.npz")
SURFACE_FEATURES = (
    "qmark", "ends_qmark", "particle", "wh", "request", "alternative", "tag", "rhetorical", "chitchat", "laugh",
    "second_person", "question_score", "log_length", "very_short", "long_post", "leading_anaphor",
    "leading_pronoun", "mention", "link", "digits", "english",
)
# Where the question was asked, beside its words (the faq stage reads it off the QA: opens_conversation).
CONTEXT_FEATURES = ("opens_conversation",)
# A question that leans on what was just said: "那…", "这个…", "还是…", "所以…", "他们…".
_ANAPHOR_RE = re.compile(r"^(?:那|这|那个|这个|那些|这些|这样|那样|还是|所以|然后|也|而且|另外|不过|但是|就是|那就|那要)")
_PRONOUN_RE = re.compile(r"^(?:他|她|它|他们|她们|你们|你|您|我们|咱们)")
_MENTION_RE = re.compile(r"@\S+")
_LINK_RE = re.compile(r"https?://|www\.")


def surface_features(text: str) -> list[float]:
    f = question_features(text)
    t = clean_text(text)
    core_len = f.length
    return [
        float(f.qmark), float(f.ends_qmark), float(f.particle), float(f.wh), float(f.request), float(f.alternative),
        float(f.tag), float(f.rhetorical), float(f.chitchat), float(f.laugh), float(f.second_person),
        max(-3.0, min(5.0, f.score)) / 5.0, np.log1p(core_len) / 5.0, float(core_len <= 5), float(core_len > 80),
        float(bool(_ANAPHOR_RE.match(t))), float(bool(_PRONOUN_RE.match(t))), float(bool(_MENTION_RE.search(text or ""))),
        float(bool(_LINK_RE.search(text or ""))), float(bool(re.search(r"\d", t))),
        float(bool(re.search(r"[A-Za-z]{3,}", t))),
    ]


def opens_conversation(qa) -> bool:
    """Whether a QA's question is the first message of its conversation (conversation ids are their first
    message's, model.conversation_id)."""
    return qa.thread_id is not None and qa.thread_id == conversation_id(qa.chat, qa.question_id)


def feature_matrix(texts: list[str], vectors: np.ndarray, surface_of=surface_features,
                   opens: Sequence[bool] | None = None) -> np.ndarray:
    """`surface_of(text)`: surface_features, or a memo of it (the faq stage keeps them between runs); `opens`:
    whether each question opens its conversation (None: none does, as when nothing threaded the chat)."""
    surface = np.array([surface_of(t) for t in texts], dtype=np.float32).reshape(len(texts), len(SURFACE_FEATURES))
    context = np.asarray(opens if opens is not None else np.zeros(len(texts)), dtype=np.float32).reshape(len(texts), 1)
    return np.hstack([surface, context, np.asarray(vectors, dtype=np.float32)])


@lru_cache(maxsize=4)
def load_weights(path: str = str(WEIGHTS_FILE)) -> tuple[np.ndarray, float, int]:
    with np.load(path) as z:
        names = tuple(str(n) for n in z["surface_features"])
        if names != SURFACE_FEATURES + CONTEXT_FEATURES:
            raise ValueError(f"{path}: weights for features {names}, this code computes "
                             f"{SURFACE_FEATURES + CONTEXT_FEATURES}")
        return z["coef"].astype(np.float32), float(z["intercept"]), int(z["vector_dim"])


def worthy_probability(texts: list[str], vectors: np.ndarray, weights: str | None = None,
                       surface_of=surface_features, opens: Sequence[bool] | None = None) -> np.ndarray:
    """P(worthy) for each question text, given its sentence vector (rows of `vectors`) and whether it opens its
    conversation (`opens`). Vectors of another size than the weights were fitted on (another embedding model) are
    left out: the other features alone."""
    if not texts:
        return np.zeros(0, dtype=np.float32)
    coef, intercept, dim = load_weights(weights or str(WEIGHTS_FILE))
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        vectors = np.zeros((len(texts), dim), dtype=np.float32)
    z = feature_matrix(texts, vectors, surface_of, opens) @ coef + intercept
    return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)
