"""Thread disentanglement: link every message to the earlier message it replies to, or to nothing.

The linker ranks, for each message, its candidate parents (the previous `window` messages of the same chat,
within `max_gap`) against "starts a new conversation" with a feed-forward network (Kummerfeld et al. 2019's
recipe: 2 hidden layers, softmax over the candidates, an ensemble of seeds) over language-independent
features:

- structure: how many messages lie between, whether either names the other's sender (@name, "name:") or
  both name a third person, same sender, whether the candidate is its sender's latest message, whether it
  is the replier's own previous message, whether either is its sender's first message;
- time, measured against the chat's own pace (the gap divided by the local mean gap of the last messages,
  messages in the last hour, how many people are talking) as well as in minutes, so that one model serves
  a dense IRC channel and a sparse, bursty WeChat/QQ group;
- text: tf-idf cosine (idf from the chat itself, so no stopword list per language) and the sentence-vector
  cosine, both also relative to (and ranked against) the other candidates.
- for dense channels only (DENSE_WEIGHTS_FILE): who has been naming whom before and in between, and a
  bounded look-ahead: whether one of the pair names the other within LOOKAHEAD messages after the message,
  and how soon the candidate's author speaks again; plus a learned projection of both sentence vectors.
- for dense channels, a second look (conversation_scores, CONVERSATION_WEIGHTS_FILE): once those links have
  built conversations, each message's best candidates are rescored by what their conversations look like
  (is the candidate the latest line of its conversation, has the asker spoken in it, does the candidate's
  author answer the message later). The nightly stage re-links the last RELINK_HORIZON messages before each
  new batch, so what came later counts.

Explicit evidence wins outright: a resolved quote (`Message.reply_to`) is the parent. Platform notices
(system lines, pats, recalls) never attract replies and never reply; stickers and images do both.
Decoding adapts to the chat's regime (`link`, decoding="auto"): in a dense channel (many conversations
interleaved, as in #ubuntu) each message takes its best-scored option; in a serial chat (one conversation at a
time, as in most WeChat/QQ work groups and Gitter rooms, recognised per chat by how often the linker's best
parent is simply the previous message) a conversation may only start after a silence, where "silence" is
measured on the chat's own gap distribution (silence_threshold), and any other message joins its best parent.
Conversations are the connected components of the links (union-find), so a conversation's id is its earliest
message and stays stable as the chat grows. The weights are trained by training/train_thread_linker.py on
Ubuntu IRC (with thinned, time-stretched and address-free copies) and shipped as plain arrays
(thread_linker.npz); inference needs numpy only.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...model import PAT, RECALL, SYSTEM, Message

WEIGHTS_FILE = Path(__file__).with_name("thread_linker.npz")
# Weights for dense channels (many conversations interleaved, see link): trained with the sender-pair history
# features, which help there (ubuntu-dev exact F +1.0 over two seeds) but merge conversations in a quiet group
# where the same few people talk in every conversation (qq-dev exact F -3.2), so the default weights omit them;
# and with the look-ahead features, a projection of the default embedding model's sentence vectors and a
# 100-message window (ubuntu-dev 91.61 / 36.2 / link 73.8 -> 92.32 / 38.8 / 75.2; with the conversation pass
# 93.42 / 41.7 / 75.9, training/train_thread_linker.py).
DENSE_WEIGHTS_FILE = Path(__file__).with_name("thread_linker_dense.npz")
# A second look at a dense channel's links (conversation_scores), once the dense weights' links have built
# conversations: is the candidate the latest message of its conversation, has the asker spoken in it, does the
# candidate's author answer later... Trained on held-out first-pass links of the training chats.
CONVERSATION_WEIGHTS_FILE = Path(__file__).with_name("thread_linker_conversations.npz")
DEFAULT_WINDOW = 50
PACE_SPAN = 32  # messages used to measure the chat's local pace
RECENT_SPAN = 20  # messages whose distinct senders measure how many people are talking now
# Platform notices (joins, pats, recalls) neither reply nor get replies; a sticker, an image or a voice note
# does both: in a WeChat/QQ group "[表情]" is as much an answer as "好的".
UNTHREADED_KINDS = frozenset({SYSTEM, RECALL, PAT})
BLOCK = 4096  # messages whose features are built at once (bounds memory on million-message chats)
# Decoding regime (see link): a chat is "serial" when the linker's best parent is the previous message for at
# least this share of its messages. Chosen between the dev sets' chats: the ten #ubuntu chats measure 0.22-0.55,
# the four Gitter rooms 0.82-0.83 (the Chinese QQ group, not used to choose it, 0.83).
SERIAL_REGIME = 0.7
DECODING_VERSION = "auto-serial-4"  # part of the thread stage's fingerprint: a new decoder re-threads
# A gap is a silence between conversations (serial decoding) from where the chat's own mixture of gaps makes it
# this likely a silence rather than a pause inside one (silence_threshold). At 0.5, the even-odds cut, short lulls
# inside a conversation split it: exact F qq-dev 26.3, wechat-dev 14.8, gitter-dev 77.8. At 0.9: 28.1, 18.5, 78.2
# (0.7 / 0.8 / 0.95 / 0.99 gave 26.1 / 26.7 / 28.9 / 28.1 on qq-dev, 17.7 / 18.5 / 18.5 / 18.5 on wechat-dev,
# 77.8 / 77.7 / 76.1 / 70.3 on gitter-dev). Chosen on any two of the three groups, 0.9 or 0.95 comes out, and the
# third moves by +1.8 (qq), +3.7 (wechat), -1.7 (gitter, when chosen on the two Chinese groups: 0.95).
SILENCE_CONFIDENCE = 0.9
# Serial decoding otherwise joins every message to its best parent until the next silence, so a new question asked
# while another conversation goes on is glued to it (wechat-dev: most wrong conversations held a whole gold
# conversation plus others). Where the linker's own "new conversation" score beats its best parent by this margin
# (scores are log-odds: about 33 to 1), the message starts one. Exact F by margin on the serial groups
# (qq-dev / wechat-dev / gitter-dev; never: 28.1 / 18.5 / 78.2): 2 → 27.1 / 15.7 / 79.5, 3 → 28.1 / 19.9 / 80.4,
# 3.5 → 28.1 / 19.5 / 79.8, 4 → 28.1 / 19.7 / 80.0, 5 → 28.1 / 18.5 / 79.1. Chosen on any two groups the margin
# is 3 to 4, and the third gains (qq +0, wechat +1.0 to +1.4, gitter +1.6 to +2.2); 3.5 sits inside that plateau
# rather than at its edge (2.94 already costs qq-dev a conversation).
NEW_CONVERSATION_MARGIN = 3.5
# A question put to the whole group and naming nobody ("有没有人用过…？", "问一个问题：你们…怎么做的？", "请教各位…") opens a
# topic far more often than it follows one, yet the linker, which reads no such words, usually finds it a parent
# nearby: serial decoding missed the start of 86 of wechat-dev's 175 gold conversations, many such questions. It
# starts a conversation there unless a parent beats "new" by more than 1.5. Exact F by margin (qq-dev /
# wechat-dev; never: 28.1 / 19.5): 0 → 28.1 / 19.5, -1 → 28.1 / 20.6, -1.5 → 28.1 / 21.7, -2 → 28.1 / 21.1,
# -2.5 → 28.1 / 21.6, -3 → 27.2 / 20.1, -4 → 25.8 / 18.6. gitter-dev (English) is unchanged at 79.8. Chosen on
# wechat-dev, inside the stretch where qq-dev loses nothing (down to -2.5).
GROUP_QUESTION_MARGIN = -1.5
MIN_REGIME_MESSAGES = 20  # fewer messages with a choice: too few to tell the regime, decode by argmax

# Features of a (message, candidate parent) pair; zero in the "new conversation" slot.
PAIR_FEATURES = (
    "log_distance", "adjacent", "log_gap_rel", "log_gap_min", "same_sender", "child_names_parent",
    "parent_names_child", "child_names_other", "parent_names_other", "both_name_third",
    "parent_latest_of_sender", "parent_is_childs_previous", "child_spoke_between", "parent_first_of_sender",
    "parent_sender_rank", "tfidf", "tfidf_rel", "tfidf_rank", "cosine", "cosine_rel", "cosine_rank",
    "parent_question", "parent_log_len", "parent_has_link",
    "pair_addressed_before", "pair_addressed_between", "child_prev_named_parent",
    "pair_addressed_after", "parent_sender_returns",
)
HISTORY_FEATURES = ("pair_addressed_before", "pair_addressed_between", "child_prev_named_parent")
# Features that look up to LOOKAHEAD messages past the child (the conversation goes on after it): one of the
# pair names the other soon after; how soon the candidate's author speaks again after the child.
LOOKAHEAD_FEATURES = ("pair_addressed_after", "parent_sender_returns")
LOOKAHEAD = 50
# Features of the message itself and of the chat around it (the same in every slot), and the slot flag.
SELF_FEATURES = (
    "is_self", "self_log_prev_gap_rel", "self_log_prev_gap_min", "self_log_pace", "self_log_msgs_hour",
    "self_recent_speakers", "self_names_someone", "self_question", "self_log_len", "self_has_link",
    "self_first_of_sender", "self_log_since_own_prev", "self_max_tfidf", "self_max_cosine",
    "self_prev_same_sender", "self_n_candidates",
)
FEATURES = PAIR_FEATURES + SELF_FEATURES
N_PAIR = len(PAIR_FEATURES)
# Features of the conversation pass (conversation_features), over the first pass's CONVERSATION_CANDIDATES best
# candidates and the "new conversation" slot. "Conversation" is the candidate's conversation as the first pass
# built it from the messages before the child; the *_later features read first-pass links up to LOOKAHEAD
# messages ahead.
CONVERSATION_FEATURES = (
    "new_conversation", "score_gap", "log_rank", "ends_conversation", "log_conversation_size",
    "log_conversation_quiet_rel", "child_sender_in_conversation", "child_previous_in_conversation",
    "new_log_active_conversations", "new_child_previous_ends_conversation", "candidate_starts_conversation",
    "same_sender", "log_distance", "first_pass_choice", "candidate_sender_replies_later",
    "new_log_replies_later", "candidate_margin", "child_next_joins_conversation",
)
CONVERSATION_CANDIDATES = 10
# How far a message's final link can depend on later messages: the conversation pass reads first-pass links
# up to LOOKAHEAD messages ahead, each of which looks LOOKAHEAD further (the nightly stage re-links this tail).
RELINK_HORIZON = 2 * LOOKAHEAD

_QUESTION_RE = re.compile(r"[?？]|吗\s*$|么\s*$|呢\s*$")
# A question put to the whole group ("问个问题，…", "有没有人用过…？", "大家…怎么做的？", "请教各位…"): in a Chinese group
# chat it opens a topic far more often than it follows one (see GROUP_QUESTION_MARGIN).
_GROUP_QUESTION_RE = re.compile(
    r"问(?:一|个|两|几)个?.{0,6}问题|请教|求助|求推荐|求介绍|有没有(?:人|朋友|谁|大佬|大神|同学|公司)"
    r"|有人(?:知道|了解|用|做|遇到|碰到|会|懂|有)|有谁|谁(?:有|知道|了解|用过|做过)|大家|各位|群里|群友|大佬们|大神们")
_LINK_RE = re.compile(r"https?://|www\.|\.(?:com|org|net|cn)\b", re.IGNORECASE)
_LEAD_ADDRESS_RE = re.compile(r"^\s*@?([^\s:：,，@]{2,32})\s*[:：,，]")
_WORD_RE = re.compile(r"[^\W_]+(?:[-_.|'][^\W_]+)*[|_]*|[\w|\[\]^`{}-]+", re.UNICODE)


@dataclass
class LinkerModel:
    """An ensemble of feed-forward scorers exported to plain arrays.

    Every member standardises the features, applies its hidden layers (softsign) and a linear score; the
    ensemble score is the members' mean (a product of experts: argmax over the candidates of one message).
    `layers[m]` is member m's list of (weight, bias) pairs, the last one with a single output.
    `projections[m]`, when not None, is member m's learned (vector dim, d) projection of the sentence vectors:
    the projected child and candidate vectors' elementwise product and |difference| (2d inputs, zero in the
    "new conversation" slot) follow the standardised features into its first layer (Kummerfeld et al. do the
    same with GloVe averages).
    """

    mean: np.ndarray
    std: np.ndarray
    layers: list[list[tuple[np.ndarray, np.ndarray]]]
    features: tuple[str, ...] = FEATURES
    projections: list[np.ndarray | None] | None = None
    window: int | None = None  # candidates the weights were trained with, when not the caller's window
    vector_model: str = ""  # the embedding model whose vectors the projections were learned on
    # Added to the conversation pass's "new conversation" score: the shift that maximised exact-match F on
    # training chats its weights never saw (training/train_thread_linker.py --conversation-pass).
    self_bias: float = 0.0

    @property
    def w1(self) -> np.ndarray:
        return self.layers[0][0][0]

    @property
    def b1(self) -> np.ndarray:
        return self.layers[0][0][1]

    @property
    def columns(self) -> np.ndarray | None:
        """Where this model's features sit among the FEATURES features() computes; None when they are all."""
        if tuple(self.features) == FEATURES:
            return None
        return np.array([FEATURES.index(f) for f in self.features])

    @property
    def uses_vectors(self) -> bool:
        return any(P is not None for P in (self.projections or ()))

    def reads_vectors_of(self, p: "Prepared") -> bool:
        """Whether the chat's sentence vectors come from the model the projections were learned on."""
        dims = {P.shape[0] for P in self.projections if P is not None}
        return (p.vectors is not None and p.vector_model == self.vector_model
                and dims == {p.vectors.shape[1]})

    def __post_init__(self) -> None:
        if self.projections is None:
            self.projections = [None] * len(self.layers)
        if len(self.projections) != len(self.layers):
            raise ValueError(f"{len(self.projections)} projections for {len(self.layers)} members")
        # Standardisation folded into each member's first layer: one operation less per pair at inference.
        F = len(self.mean)
        self._folded = []
        for member in self.layers:
            w0, b0 = member[0]
            w = (w0[:F] / self.std[:, None]).astype(np.float32)
            b = (b0 - (self.mean / self.std) @ w0[:F]).astype(np.float32)
            rest = [(np.asarray(w, np.float32), np.asarray(b, np.float32)) for w, b in member[1:]]
            self._folded.append(((w, b, np.asarray(w0[F:], np.float32)), rest))

    def score(self, x: np.ndarray, vectors: np.ndarray | None = None, child: np.ndarray | None = None,
              candidate: np.ndarray | None = None, chunk: int = 1024) -> np.ndarray:
        """Ensemble score of each row of features `x`. Members with a projection also need the chat's
        sentence `vectors` and, per row, the `child` message index and the `candidate` index (-1 = new
        conversation); without vectors their vector inputs are zero."""
        x = np.asarray(x, dtype=np.float32)
        out = np.empty(len(x), dtype=np.float32)
        projected = [None if P is None or vectors is None else np.asarray(vectors, np.float32) @ P
                     for P in self.projections]
        # Small chunks keep the hidden activations in cache: the network runs 3x faster than on whole blocks.
        for a in range(0, len(x), chunk):
            xb = x[a:a + chunk]
            total = np.zeros(len(xb), dtype=np.float32)
            for ((w, b, wv), rest), Q in zip(self._folded, projected):
                h = xb @ w
                h += b
                if Q is not None:
                    cand = candidate[a:a + chunk]
                    qc, qk = Q[child[a:a + chunk]], Q[np.maximum(cand, 0)]
                    vf = np.concatenate([qc * qk, np.abs(qc - qk)], axis=1)
                    vf[cand < 0] = 0.0
                    h += vf @ wv
                if not rest:  # a linear member (no hidden layer): the first layer is the output
                    total += h.ravel()
                    continue
                _softsign(h)
                for w_hidden, b_hidden in rest[:-1]:
                    h = h @ w_hidden
                    h += b_hidden
                    _softsign(h)
                w_out, b_out = rest[-1]
                total += (h @ w_out).ravel()
                total += b_out[0]
            out[a:a + chunk] = total / len(self._folded)
        return out

    def save(self, path: str | Path) -> None:
        arrays = {"mean": self.mean, "std": self.std, "features": np.array(self.features),
                  "shape": np.array([len(self.layers), len(self.layers[0])])}
        if self.window:
            arrays["window"] = np.array(self.window)
        if self.vector_model:
            arrays["vector_model"] = np.array(self.vector_model)
        if self.self_bias:
            arrays["self_bias"] = np.array(self.self_bias)
        for m, member in enumerate(self.layers):
            for k, (w, b) in enumerate(member):
                arrays[f"m{m}_w{k}"] = w
                arrays[f"m{m}_b{k}"] = b
            if self.projections[m] is not None:
                arrays[f"m{m}_proj"] = self.projections[m]
        np.savez_compressed(path, **arrays)


def _softsign(h: np.ndarray) -> None:
    """h / (1 + |h|), in place (no temporaries beyond one)."""
    d = np.abs(h)
    d += 1.0
    h /= d


def load_model(path: str | Path | None = None) -> LinkerModel:
    return _load_model(str(path or WEIGHTS_FILE))


def load_dense_model() -> LinkerModel | None:
    """The dense-chat weights, or None when the package ships none."""
    return load_model(DENSE_WEIGHTS_FILE) if DENSE_WEIGHTS_FILE.exists() else None


def load_conversation_model() -> LinkerModel | None:
    """The conversation pass's weights, or None when the package ships none."""
    return load_model(CONVERSATION_WEIGHTS_FILE) if CONVERSATION_WEIGHTS_FILE.exists() else None


@functools.lru_cache(maxsize=4)
def _load_model(path: str) -> LinkerModel:
    with np.load(path, allow_pickle=False) as z:
        features = tuple(str(f) for f in z["features"])
        unknown = [f for f in features if f not in FEATURES + CONVERSATION_FEATURES]
        if unknown:
            raise ValueError(f"{path}: weights were trained with features this code does not compute "
                             f"({', '.join(unknown)}); retrain with training/train_thread_linker.py")
        members, depth = (int(v) for v in z["shape"])
        layers = [[(z[f"m{m}_w{k}"].astype(np.float32), z[f"m{m}_b{k}"].astype(np.float32).ravel())
                   for k in range(depth)] for m in range(members)]
        projections = [z[f"m{m}_proj"].astype(np.float32) if f"m{m}_proj" in z else None for m in range(members)]
        window = int(z["window"]) if "window" in z else None
        vector_model = str(z["vector_model"]) if "vector_model" in z else ""
        self_bias = float(z["self_bias"]) if "self_bias" in z else 0.0
        return LinkerModel(z["mean"].astype(np.float32), z["std"].astype(np.float32), layers, features,
                           projections, window, vector_model, self_bias)


# -- per-message preparation --------------------------------------------------------------------------

def _norm_name(name: str) -> str:
    return name.strip().lstrip("@").lower()


@dataclass
class Prepared:
    """Per-message arrays for one chat, in chat order."""

    n: int
    ts: np.ndarray  # float64 seconds
    sender: np.ndarray  # int ids
    linkable: np.ndarray  # bool: may reply / be replied to (not a platform notice, not recalled)
    question: np.ndarray
    has_link: np.ndarray
    log_len: np.ndarray
    addressed: np.ndarray  # (n, A) sender ids this message names, -1 padded
    explicit: np.ndarray  # index of the quoted message, -1 when none
    prev_same: np.ndarray  # index of the sender's previous message, -1
    next_same: np.ndarray  # index of the sender's next message, n when none
    pace: np.ndarray  # local mean gap in seconds (>= 1)
    msgs_hour: np.ndarray  # messages in the hour before (this one excluded)
    recent_speakers: np.ndarray  # distinct senders among the last RECENT_SPAN messages (this one included)
    address_events: np.ndarray  # sorted codes pair * (n + 1) + position of "one sender named the other"
    sender_events: np.ndarray  # sorted codes sender * (n + 1) + position of every message
    tfidf: object  # scipy csr (n, V), L2-normalised rows
    vectors: np.ndarray | None  # (n, d) L2-normalised, or None
    vector_model: str = ""  # the embedding model the vectors come from ("" when unknown)
    # asks the whole group something and names nobody ("有没有人用过…？"): serial decoding starts a conversation
    # there more readily (GROUP_QUESTION_MARGIN). None: no message does.
    asks_group: np.ndarray | None = None


_ASKS_RE = re.compile(r"[?？]|(?:吗|么|嘛|呢)[\s。.!！~～]*$|(?:吗|么)[，,\s]|怎么|怎样|如何|什么|啥|哪|多少|是不是|有没有|能不能|可不可以"
                      r"|请教|求助|求推荐|求介绍")


def _asks_group(m: Message) -> bool:
    """Whether m asks the whole group something and names nobody. With no @mention in it, no "?" of WeChat's
    exported thin space either: every question mark is one."""
    return not m.mentions and bool(_GROUP_QUESTION_RE.search(m.text or "")) and bool(_ASKS_RE.search(m.text))


def _simple_tokens(text: str) -> list[str]:
    from ..text.segment import fold

    return _WORD_RE.findall(fold(text))


def prepare(messages: Sequence[Message], tokens: Sequence[Sequence[str]] | None = None,
            vectors: np.ndarray | None = None, max_addressed: int = 4, vector_model: str = "") -> Prepared:
    """Arrays the features are built from. `tokens` default to a simple word split of the folded text."""
    from scipy import sparse

    n = len(messages)
    ts = np.array([m.time.timestamp() for m in messages], dtype=np.float64)
    sender_ids: dict[str, int] = {}
    sender = np.array([sender_ids.setdefault(m.sender, len(sender_ids)) for m in messages], dtype=np.int64)
    linkable = np.array([m.kind not in UNTHREADED_KINDS and not m.recalled for m in messages], dtype=bool)
    question = np.array([bool(_QUESTION_RE.search(m.text)) for m in messages], dtype=np.float32)
    asks_group = np.array([_asks_group(m) for m in messages], dtype=bool)
    has_link = np.array([bool(_LINK_RE.search(m.text)) for m in messages], dtype=np.float32)
    log_len = np.array([math.log1p(len(m.text)) for m in messages], dtype=np.float32)

    # Who a message names: explicit @mentions, a leading "name:" (IRC), or a known sender's name as a word.
    names: dict[str, int] = {}
    addressed = np.full((n, max_addressed), -1, dtype=np.int64)
    index_of = {m.id: i for i, m in enumerate(messages)}
    explicit = np.full(n, -1, dtype=np.int64)
    # The names a speaker goes by (_norm_name of display name and id, 2+ chars), once per (name, id): a chat
    # repeats a few dozen; a context of thousands of messages is prepared every night.
    keys_of: dict[tuple[str, str], tuple[str, ...]] = {}
    senders_list = sender.tolist()
    lead_match, words_of = _LEAD_ADDRESS_RE.match, _WORD_RE.findall
    for i, m in enumerate(messages):
        sid = senders_list[i]
        keys = keys_of.get((m.sender_name, m.sender))
        if keys is None:
            keys = keys_of[(m.sender_name, m.sender)] = tuple(
                k for k in (_norm_name(m.sender_name), _norm_name(m.sender)) if len(k) >= 2)
        for key in keys:
            names[key] = sid
        found: list[int] = []
        cands = [_norm_name(x) for x in m.mentions] if m.mentions else []
        lead = lead_match(m.text)
        if lead:
            cands.append(_norm_name(lead.group(1)))
        if names:
            # only a word that is a known name can be found below: the others are skipped here (same order)
            cands.extend(w for w in words_of(m.text.lower()) if w in names and len(w) >= 3)
        for c in cands:
            s = names.get(c)
            if s is not None and s != sid and s not in found:
                found.append(s)
                if len(found) == max_addressed:
                    break
        addressed[i, :len(found)] = found
        if m.reply_to is not None:
            j = index_of.get(m.reply_to, -1)
            if 0 <= j < i:
                explicit[i] = j

    prev_same = np.full(n, -1, dtype=np.int64)
    next_same = np.full(n, n, dtype=np.int64)
    last: dict[int, int] = {}
    for i in range(n):
        s = senders_list[i]
        if s in last:
            prev_same[i] = last[s]
            next_same[last[s]] = i
        last[s] = i

    start = np.maximum(np.arange(n) - PACE_SPAN, 0)
    span = np.maximum(np.arange(n) - start, 1)
    pace = np.maximum((ts - ts[start]) / span, 1.0)
    pace[0] = pace[1] if n > 1 else 1.0
    msgs_hour = (np.arange(n) - np.searchsorted(ts, ts - 3600.0, side="left")).astype(np.float32)
    # distinct senders in a sliding window, counted as it slides (a set per message costs 3x more)
    recent_speakers = np.zeros(n, dtype=np.float32)
    senders = sender.tolist()
    in_window: dict[int, int] = {}
    for i, s in enumerate(senders):
        in_window[s] = in_window.get(s, 0) + 1
        if i >= RECENT_SPAN:
            gone = senders[i - RECENT_SPAN]
            if in_window[gone] == 1:
                del in_window[gone]
            else:
                in_window[gone] -= 1
        recent_speakers[i] = len(in_window)

    # tf-idf with the chat's own document frequencies: frequent words weigh little in any language.
    if tokens is None:
        tokens = [_simple_tokens(m.text) for m in messages]
    vocab: dict[str, int] = {}
    rows, cols = [], []
    setdefault = vocab.setdefault
    for i, toks in enumerate(tokens):
        distinct = set(toks)
        rows += [i] * len(distinct)
        # a word's column is the order it was first seen in (len(vocab) is read before it is added)
        cols += [setdefault(t, len(vocab)) for t in distinct]
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, max(len(vocab), 1)))
    df = np.asarray(x.sum(axis=0)).ravel()
    idf = np.log((n + 1) / (df + 1)).astype(np.float32) + 1.0
    x = x @ sparse.diags(idf)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x = sparse.diags(1.0 / norms) @ x
    x = sparse.csr_matrix(x, dtype=np.float32)
    if vectors is not None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) != n:
            raise ValueError(f"{len(vectors)} vectors for {n} messages")
    # Who has named whom so far: one code per (unordered sender pair, message) naming event, sorted, so a
    # pair's last exchange before any message is one searchsorted away.
    rows_e, cols_e = np.nonzero(addressed >= 0)
    events = np.sort(_pair_code(sender[rows_e], addressed[rows_e, cols_e]) * (n + 1) + rows_e)
    sender_events = np.sort(sender * (n + 1) + np.arange(n))
    return Prepared(n, ts, sender, linkable, question, has_link, log_len, addressed, explicit, prev_same,
                    next_same, pace, msgs_hour, recent_speakers, events, sender_events, x, vectors, vector_model,
                    asks_group)


def _pair_code(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One integer per unordered pair of sender ids."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return hi * (hi + 1) // 2 + lo


def _last_event_before(p: "Prepared", pair: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Position of the pair's last naming event strictly before `before`, or -1."""
    if not len(p.address_events):
        return np.full(pair.shape, -1, dtype=np.int64)
    q = pair * (p.n + 1) + before
    k = np.searchsorted(p.address_events, q, side="left") - 1
    found = p.address_events[np.maximum(k, 0)]
    same = (k >= 0) & (found // (p.n + 1) == pair)
    return np.where(same, found % (p.n + 1), -1)


def _next_event_after(events: np.ndarray, n: int, code: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Position of the first event of `code` strictly after `after` in a sorted code * (n + 1) + position
    array, or n when there is none."""
    if not len(events):
        return np.full(code.shape, n, dtype=np.int64)
    k = np.searchsorted(events, code * (n + 1) + after, side="right")
    found = events[np.minimum(k, len(events) - 1)]
    same = (k < len(events)) & (found // (n + 1) == code)
    return np.where(same, found % (n + 1), n)


# -- features -------------------------------------------------------------------------------------------

def _rank(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """0 for the best valid candidate of each row, 1 for the next …, as log1p (invalid entries: anything)."""
    v = np.where(mask, values, -np.inf)
    order = np.argsort(-v, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(v.shape[1])[None, :].repeat(len(v), 0), axis=1)
    return np.log1p(ranks).astype(np.float32)


def features(p: Prepared, lo: int, hi: int, window: int = DEFAULT_WINDOW,
             max_gap: float = float("inf"), lookahead: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Features of messages lo..hi-1: (rows, window + 1, F) with slot 0 = "new conversation", slot k =
    the message k places earlier; and a validity mask of the same leading shape. `lookahead=False` leaves
    the LOOKAHEAD_FEATURES columns zero (the default weights do not read them)."""
    m = hi - lo
    W = window
    F = len(FEATURES)
    X = np.zeros((m, W + 1, F), dtype=np.float32)
    valid = np.zeros((m, W + 1), dtype=bool)
    valid[:, 0] = True
    idx = np.arange(lo, hi)
    ks = np.arange(1, W + 1)
    j = idx[:, None] - ks[None, :]  # (m, W)
    inb = j >= 0
    jc = np.where(inb, j, 0)
    gap = p.ts[idx][:, None] - p.ts[jc]
    valid[:, 1:] = inb & p.linkable[jc] & p.linkable[idx][:, None] & (gap <= max_gap)
    vmask = valid[:, 1:]

    f = {}
    f["log_distance"] = np.log1p(np.broadcast_to(ks, (m, W)).astype(np.float32))
    f["adjacent"] = np.broadcast_to((ks == 1).astype(np.float32), (m, W))
    pace = p.pace[idx][:, None]
    f["log_gap_rel"] = np.log1p(np.maximum(gap, 0) / pace)
    f["log_gap_min"] = np.log1p(np.maximum(gap, 0) / 60.0)
    si, sj = p.sender[idx][:, None], p.sender[jc]
    f["same_sender"] = (si == sj)
    ai = p.addressed[idx]  # (m, A)
    f["child_names_parent"] = (ai[:, None, :] == sj[:, :, None]).any(axis=2)
    aj = p.addressed[jc]  # (m, W, A)
    f["parent_names_child"] = (aj == si[:, :, None]).any(axis=2)
    names_any = (ai >= 0).any(axis=1)[:, None]
    f["child_names_other"] = names_any & ~f["child_names_parent"]
    f["parent_names_other"] = ((aj >= 0) & (aj != si[:, :, None])).any(axis=2)
    f["both_name_third"] = ((ai[:, None, :, None] == aj[:, :, None, :]) & (ai[:, None, :, None] >= 0)).any(axis=(2, 3))
    f["parent_latest_of_sender"] = p.next_same[jc] >= idx[:, None]
    prev_i = p.prev_same[idx][:, None]
    f["parent_is_childs_previous"] = jc == prev_i
    f["child_spoke_between"] = prev_i > jc
    f["parent_first_of_sender"] = p.prev_same[jc] < 0
    # Which of the parent sender's messages in the window this is, counting back from the latest (0).
    rank_of_sender = np.zeros((m, W), dtype=np.float32)
    nxt = p.next_same[jc]
    for step in range(1, 4):  # 0, 1, 2, 3+ later messages of the same sender before the child
        later = nxt < idx[:, None]
        rank_of_sender += later
        nxt = np.where(later, p.next_same[np.minimum(nxt, p.n - 1)], nxt)
    f["parent_sender_rank"] = rank_of_sender
    # The two senders' history (used by the dense-chat weights): one named the other before the candidate
    # (they have been talking) or in between (the exchange goes on); the child's author named the parent's
    # author in their previous message.
    pair = _pair_code(np.broadcast_to(si, (m, W)), sj)
    f["pair_addressed_between"] = _last_event_before(p, pair, np.broadcast_to(idx[:, None], (m, W))) > jc
    f["pair_addressed_before"] = _last_event_before(p, pair, jc) >= 0
    prev_addr = p.addressed[np.maximum(prev_i[:, 0], 0)]  # (m, A)
    f["child_prev_named_parent"] = (prev_i >= 0) & (prev_addr[:, None, :] == sj[:, :, None]).any(axis=2)
    # Look-ahead, bounded: the nightly stage need only re-link the LOOKAHEAD messages before new ones.
    if lookahead:
        later = np.broadcast_to(idx[:, None], (m, W))
        named_after = _next_event_after(p.address_events, p.n, pair, later)
        f["pair_addressed_after"] = (named_after < p.n) & (named_after - later <= LOOKAHEAD)
        returns = _next_event_after(p.sender_events, p.n, sj, later)
        f["parent_sender_returns"] = np.log1p(np.where(returns < p.n, np.minimum(returns - later, LOOKAHEAD + 1),
                                                       LOOKAHEAD + 1))
    else:
        f["pair_addressed_after"] = f["parent_sender_returns"] = np.zeros((m, W), dtype=np.float32)

    tf = np.zeros((m, W), dtype=np.float32)
    cos = np.zeros((m, W), dtype=np.float32)
    x = p.tfidf
    for k in range(1, W + 1):
        a = max(lo, k)
        if a >= hi:
            break
        rows_child = x[a:hi]
        rows_parent = x[a - k:hi - k]
        tf[a - lo:, k - 1] = np.asarray(rows_child.multiply(rows_parent).sum(axis=1)).ravel()
        if p.vectors is not None:
            cos[a - lo:, k - 1] = np.einsum("ij,ij->i", p.vectors[a:hi], p.vectors[a - k:hi - k])
    tf_max = np.where(vmask, tf, 0).max(axis=1, initial=0.0)
    cos_max = np.where(vmask, cos, -1).max(axis=1, initial=-1.0)
    cos_max = np.where(vmask.any(axis=1), cos_max, 0.0)
    f["tfidf"] = tf
    f["tfidf_rel"] = tf - tf_max[:, None]
    f["tfidf_rank"] = _rank(tf, vmask)
    f["cosine"] = cos
    f["cosine_rel"] = cos - cos_max[:, None]
    f["cosine_rank"] = _rank(cos, vmask)
    f["parent_question"] = p.question[jc]
    f["parent_log_len"] = p.log_len[jc]
    f["parent_has_link"] = p.has_link[jc]
    for c, name in enumerate(PAIR_FEATURES):
        X[:, 1:, c] = f[name]
    X[:, 1:, :N_PAIR][~vmask] = 0.0

    prev_gap = np.where(idx > 0, p.ts[idx] - p.ts[np.maximum(idx - 1, 0)], 0.0)
    own_prev = p.prev_same[idx]
    since_own = np.where(own_prev >= 0, p.ts[idx] - p.ts[np.maximum(own_prev, 0)], 30 * 86400.0)
    s = {
        "is_self": np.ones(m),
        "self_log_prev_gap_rel": np.log1p(np.maximum(prev_gap, 0) / p.pace[idx]),
        "self_log_prev_gap_min": np.log1p(np.maximum(prev_gap, 0) / 60.0),
        "self_log_pace": np.log(p.pace[idx]),
        "self_log_msgs_hour": np.log1p(p.msgs_hour[idx]),
        "self_recent_speakers": np.log(np.maximum(p.recent_speakers[idx], 1.0)),
        "self_names_someone": names_any[:, 0],
        "self_question": p.question[idx],
        "self_log_len": p.log_len[idx],
        "self_has_link": p.has_link[idx],
        "self_first_of_sender": own_prev < 0,
        "self_log_since_own_prev": np.log1p(np.maximum(since_own, 0) / 60.0),
        "self_max_tfidf": tf_max,
        "self_max_cosine": cos_max,
        "self_prev_same_sender": (idx > 0) & (p.sender[np.maximum(idx - 1, 0)] == p.sender[idx]),
        "self_n_candidates": np.log1p(vmask.sum(axis=1)),
    }
    # The message's own and the chat's context features go into every slot (the network weighs the
    # candidates *given* the context); only the "new conversation" slot carries the is_self flag.
    for c, name in enumerate(SELF_FEATURES):
        X[:, :, N_PAIR + c] = np.asarray(s[name], dtype=np.float32)[:, None]
    X[:, 1:, N_PAIR] = 0.0
    X[:, 1:, :][~vmask] = 0.0
    return X, valid


# -- linking and decoding -------------------------------------------------------------------------------

def scores(p: Prepared, model: LinkerModel | None = None, window: int = DEFAULT_WINDOW,
           max_gap: float = float("inf"), start: int = 0) -> np.ndarray:
    """(n - start, window + 1) candidate scores of messages start..n-1: slot 0 = new conversation, slot k = k
    messages back; -inf = invalid. A message's scores read only the arrays of `p` (its window, its look-ahead),
    never another message's scores, so scoring from `start` gives those rows of scoring all."""
    model = model or load_model()
    columns = model.columns
    lookahead = any(f in LOOKAHEAD_FEATURES for f in model.features)  # ~12% of the time when computed
    out = np.full((p.n - start, window + 1), -np.inf, dtype=np.float32)
    for lo in range(start, p.n, BLOCK):
        hi = min(lo + BLOCK, p.n)
        X, valid = features(p, lo, hi, window, max_gap, lookahead)
        x = X[valid] if columns is None else X[valid][:, columns]
        if model.uses_vectors and p.vectors is not None:
            # Only this block's rows and their candidates are projected (the whole chat per block would
            # make a long chat quadratic).
            base = max(0, lo - window)
            rows, slots = np.nonzero(valid)  # the order of X[valid]
            child = lo + rows - base
            sc = model.score(x, p.vectors[base:hi], child, np.where(slots > 0, child - slots, -1))
        else:
            sc = model.score(x)
        out[lo - start:hi - start][valid] = sc  # invalid slots (notices, beyond max_gap) stay -inf
    return out


def calibrated_self_bias(sc: np.ndarray, lo: float = -8.0, hi: float = 8.0) -> float:
    """The per-chat shift of the "new conversation" score that makes hard decisions agree with the model.

    Taking the argmax of each message separately starts a different number of conversations than the
    model itself expects (the sum over messages of P(new conversation)); how far off depends on the chat's
    regime (a dense channel vs. a quiet, bursty group). The shift is found by bisection so that both
    counts agree: an unsupervised, per-chat calibration that needs no labels.
    """
    finite = np.isfinite(sc)
    multi = finite.sum(axis=1) > 1  # messages with a real choice
    if multi.sum() < 20:
        return 0.0
    s = np.where(finite[multi], sc[multi], -np.inf)
    z = s - s.max(axis=1, keepdims=True)
    prob = np.exp(z)
    expected = (prob[:, 0] / prob.sum(axis=1)).sum()
    others = s[:, 1:].max(axis=1)
    for _ in range(40):
        mid = (lo + hi) / 2
        starts = (s[:, 0] + mid > others).sum()
        if starts > expected:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def previous_parent_rate(sc: np.ndarray) -> float | None:
    """How often the linker's best parent is the immediately previous message (among messages with a
    candidate); None when fewer than MIN_REGIME_MESSAGES messages have one. High in a chat that holds one
    conversation at a time, low in a channel where several interleave."""
    return regime_rate(previous_parent_flags(sc))


def previous_parent_flags(sc: np.ndarray) -> np.ndarray:
    """Per message (row of scores): 1 when its best parent is the previous message, 0 when another, -1 when it
    has no candidate. What previous_parent_rate counts, kept per message so that a nightly run need not score
    the context again (thread stage)."""
    flags = (sc[:, 1:].argmax(axis=1) == 0).astype(np.int8)
    flags[~np.isfinite(sc[:, 1:]).any(axis=1)] = -1
    return flags


def regime_rate(flags: np.ndarray) -> float | None:
    """previous_parent_rate from previous_parent_flags."""
    has = flags >= 0
    if has.sum() < MIN_REGIME_MESSAGES:
        return None
    return float((flags[has] == 1).mean())


def silence_threshold(ts: np.ndarray, confidence: float = SILENCE_CONFIDENCE) -> float | None:
    """Seconds of quiet after which a gap counts as a silence between conversations rather than a pause
    inside one, from the chat's own rhythm: a two-component Gaussian mixture on the log gaps (bursts and
    silences), cut where a gap is a silence with probability `confidence`. None when the chat has too few gaps.

    Timestamps of minute resolution (many exports) are spread uniformly within their minute first
    (seeded, so deterministic): otherwise the pile of zero gaps captures a component on its own.
    """
    ts = np.asarray(ts, dtype=np.float64)
    gaps = np.diff(ts)
    if len(gaps) < MIN_REGIME_MESSAGES:
        return None
    if np.all(np.mod(ts, 60.0) == 0):
        gaps = gaps + np.random.default_rng(0).uniform(0.0, 60.0, len(gaps))
    x = np.log(np.maximum(gaps, 1.0))
    if np.ptp(x) < 1e-6:
        return None
    mu = np.percentile(x, [25, 90]).astype(np.float64)
    var = np.full(2, max(float(x.var()), 0.05))
    w = np.array([0.5, 0.5])
    # EM on a fine histogram of the log gaps (bins 1/1000 of the range wide): the same fit as on the raw
    # gaps, at a cost that does not grow with the chat.
    counts, edges = np.histogram(x, bins=1000)
    keep = counts > 0
    centres, counts = ((edges[:-1] + edges[1:]) / 2)[keep], counts[keep].astype(np.float64)

    def responsibilities(v: np.ndarray) -> np.ndarray:
        ll = -0.5 * (v[:, None] - mu) ** 2 / var - 0.5 * np.log(var) + np.log(w)
        ll -= ll.max(axis=1, keepdims=True)
        r = np.exp(ll)
        return r / r.sum(axis=1, keepdims=True)

    for _ in range(200):  # EM
        r = responsibilities(centres) * counts[:, None]
        nk = r.sum(axis=0) + 1e-9
        w = nk / nk.sum()
        new_mu = (r * centres[:, None]).sum(axis=0) / nk
        var = np.maximum((r * (centres[:, None] - new_mu) ** 2).sum(axis=0) / nk, 0.05)
        done = np.allclose(new_mu, mu, atol=1e-6)
        mu = new_mu
        if done:
            break
    lo, hi = np.argsort(mu)
    grid = np.linspace(mu[lo], mu[hi], 1000)
    silent = responsibilities(grid)[:, hi] > confidence
    return float(np.exp(grid[np.argmax(silent)] if silent.any() else grid[-1]))


def link(p: Prepared, model: LinkerModel | None = None, window: int = DEFAULT_WINDOW,
         max_gap: float = float("inf"), self_bias: float | None = 0.0,
         decoding: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Parent index of every message (-1 = starts a conversation) and the margin of that decision.

    `self_bias` is added to the "new conversation" score (> 0: more, shorter conversations); None
    calibrates it per chat (calibrated_self_bias). `decoding`: "argmax" takes each message's best option;
    "serial" lets a conversation start only after a silence (silence_threshold) and otherwise takes the
    best parent; "auto" uses "serial" in a chat that holds one conversation at a time (previous_parent_rate
    at least SERIAL_REGIME) and "argmax" elsewhere, where it also switches to the dense-chat weights
    (DENSE_WEIGHTS_FILE) unless `model` is given.
    """
    with _one_thread():  # many small products: waking BLAS threads costs more than it saves (see _link)
        parents, margin, _ = _link(p, model, window, max_gap, self_bias, decoding)
    return parents, margin


def link_tail(p: Prepared, start: int, flags_before: np.ndarray | None = None, window: int = DEFAULT_WINDOW,
              max_gap: float = float("inf")) -> tuple[np.ndarray, np.ndarray]:
    """link(p) (default weights, auto decoding, no bias) for messages start..n-1 only: their parents, and the
    previous_parent_flags of all n messages.

    `flags_before`: the flags of messages 0..start-1 as an earlier run computed them (None: score them now).
    With them only the tail is scored, unless the chat turns out dense: the conversation pass reads the first
    pass's links of every message before, so a dense chat is scored whole, as link() does. In a serial chat the
    tail's links equal link()'s as far as the flags do (the regime is the one thing the context's scores decide).
    """
    with _one_thread():
        return _link(p, None, window, max_gap, 0.0, "auto", start, flags_before)[::2]


@functools.lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # finding the loaded BLAS libraries takes milliseconds: once per process


def _one_thread():
    return _controller().limit(limits=1)


def _link(p: Prepared, model: LinkerModel | None, window: int, max_gap: float, self_bias: float | None,
          decoding: str, start: int = 0,
          flags_before: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parents and margins of messages start..n-1, and the first pass's flags of all n (see link_tail).

    The callers run it with one BLAS thread: the network scores chunks of 1,024 rows (small products), where a
    second thread costs more to wake than it saves, and on a busy machine far more (a new day's 20 chats of a
    100k workspace: 10.7 s against 1.7 s with the box loaded). The scores are bitwise the same either way."""
    if decoding not in ("auto", "argmax", "serial"):
        raise ValueError(f"decoding must be 'auto', 'argmax' or 'serial', not {decoding!r}")
    if flags_before is not None and len(flags_before) != start:
        raise ValueError(f"{len(flags_before)} flags for {start} messages before the tail")

    def biased_scores(weights: LinkerModel | None, first: int) -> np.ndarray:
        sc = scores(p, weights, (weights.window if weights is not None else None) or window, max_gap, first)
        sc[:, 0] += calibrated_self_bias(sc) if self_bias is None else self_bias
        return sc

    first = 0 if flags_before is None else start  # the first message the default weights score
    sc = biased_scores(model, first)
    flags = previous_parent_flags(sc)
    if flags_before is not None:
        flags = np.concatenate([np.asarray(flags_before, dtype=np.int8), flags])
    if decoding == "auto":
        rate = regime_rate(flags)
        decoding = "serial" if rate is not None and rate >= SERIAL_REGIME else "argmax"
        dense = load_dense_model() if model is None and decoding == "argmax" and rate is not None else None
        if dense is not None and dense.uses_vectors and not dense.reads_vectors_of(p):
            dense = None  # its projections read another model's vectors: the default weights decode alone
        if dense is not None:  # a dense channel: the weights that also read who has been talking to whom
            sc = biased_scores(dense, 0)
            second = load_conversation_model()
            if second is not None:
                sc = conversation_scores(p, sc, second)
            parents, margin = decode(p, sc, decoding)
            return parents[start:], margin[start:], flags
    parents, margin = decode(p, sc[start - first:], decoding, start)
    return parents, margin, flags


def conversation_features(p: Prepared, sc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The conversation pass's inputs: (n, C + 1) candidate slots (slot 0 = new conversation, then the first
    pass's C = CONVERSATION_CANDIDATES best slots by score; -1 = none) and their (n, C + 1, F) features
    (CONVERSATION_FEATURES), given the first pass's scores `sc`."""
    (NEW, GAP, RANK, ENDS, SIZE, QUIET, CHILD_IN, CHILD_PREV_IN, ACTIVE, CHILD_PREV_ENDS, STARTS, SAME_SENDER,
     DISTANCE, CHOICE, AUTHOR_REPLIES, REPLIES, MARGIN, NEXT_JOINS) = range(len(CONVERSATION_FEATURES))
    n = p.n
    parents = decode(p, sc, "argmax")[0]
    root = np.arange(n)
    replies: list[list[int]] = [[] for _ in range(n)]
    for m in range(n):
        if parents[m] >= 0:
            root[m] = root[parents[m]]  # parents point backwards: the root is known already
            replies[parents[m]].append(m)
    top2 = np.sort(sc, axis=1)[:, -2:]
    margin = np.clip(np.where(np.isfinite(top2[:, 0]), top2[:, 1] - top2[:, 0], 10.0), 0.0, 10.0) / 10.0
    best = sc.max(axis=1)
    C = CONVERSATION_CANDIDATES
    order = np.argsort(-sc[:, 1:], axis=1, kind="stable")[:, :C] + 1
    slots = np.full((n, C + 1), -1, dtype=np.int64)
    slots[:, 0] = 0
    F = np.zeros((n, C + 1, len(CONVERSATION_FEATURES)), dtype=np.float32)
    last: dict[int, int] = {}  # conversation root -> its latest message so far
    size: dict[int, int] = {}
    speakers: dict[int, set] = {}
    for i in range(n):
        prev = int(p.prev_same[i])
        later = [m for m in replies[i] if m <= i + LOOKAHEAD]
        nxt = int(p.next_same[i])
        next_parent = int(parents[nxt]) if nxt < n and nxt <= i + LOOKAHEAD else -1
        f = F[i, 0]
        f[NEW] = 1.0
        f[GAP] = max(sc[i, 0] - best[i], -30.0) if np.isfinite(sc[i, 0]) else -30.0
        f[ACTIVE] = math.log1p(len({int(root[x]) for x in range(max(0, i - RECENT_SPAN), i)}))
        f[CHILD_PREV_ENDS] = float(prev >= 0 and last.get(int(root[prev])) == prev)
        f[REPLIES] = math.log1p(len(later))
        later_senders = {int(p.sender[m]) for m in later}
        for c, k in enumerate(order[i], start=1):
            j = i - int(k)
            if j < 0 or not np.isfinite(sc[i, k]):
                continue
            slots[i, c] = k
            r = int(root[j])
            f = F[i, c]
            f[GAP] = max(sc[i, k] - best[i], -30.0)
            f[RANK] = math.log1p(c - 1)
            f[ENDS] = float(last.get(r) == j)
            f[SIZE] = math.log1p(size.get(r, 1))
            f[QUIET] = math.log1p(max(p.ts[i] - p.ts[last.get(r, j)], 0.0) / max(p.pace[i], 1.0))
            f[CHILD_IN] = float(p.sender[i] in speakers.get(r, ()))
            f[CHILD_PREV_IN] = float(prev >= 0 and root[prev] == r)
            f[STARTS] = float(parents[j] < 0)
            f[SAME_SENDER] = float(p.sender[j] == p.sender[i])
            f[DISTANCE] = math.log1p(k)
            f[CHOICE] = float(parents[i] == j)
            f[AUTHOR_REPLIES] = float(int(p.sender[j]) in later_senders)
            f[MARGIN] = margin[j]
            f[NEXT_JOINS] = float(next_parent >= 0 and next_parent != i and root[next_parent] == r)
        r = int(root[i])
        last[r] = i
        size[r] = size.get(r, 0) + 1
        speakers.setdefault(r, set()).add(p.sender[i])
    return slots, F


def conversation_scores(p: Prepared, sc: np.ndarray, model: LinkerModel) -> np.ndarray:
    """The conversation pass: new scores for the first pass's best candidates (and the "new conversation"
    slot, shifted by the model's self_bias), -inf elsewhere; decode() takes them like any scores."""
    slots, F = conversation_features(p, sc)
    z = model.score(F.reshape(-1, F.shape[-1])).reshape(slots.shape)
    z[:, 0] += model.self_bias
    out = np.full_like(sc, -np.inf)
    rows, cols = np.nonzero(slots >= 0)
    out[rows, slots[rows, cols]] = z[rows, cols]
    return out


def decode(p: Prepared, sc: np.ndarray, decoding: str = "argmax", start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Parent index of messages start..n-1 (-1 = starts a conversation) and the margin of that decision, from
    their (already biased) candidate scores `sc`; `decoding` is "argmax" or "serial" (see link). The silence
    threshold is fitted on all n messages' gaps, whatever `start`."""
    rows = np.arange(start, p.n)
    best = sc.argmax(axis=1)
    threshold = silence_threshold(p.ts) if decoding == "serial" and sc.shape[1] > 1 else None
    if threshold is not None:
        # The gap to the previous message that can take part in a conversation (notices do not count).
        idx = np.flatnonzero(p.linkable)
        prev_ts = np.full(len(rows), -np.inf)
        before = np.searchsorted(idx, rows, side="left") - 1
        prev_ts[before >= 0] = p.ts[idx[before[before >= 0]]]
        after_silence = p.ts[rows] - prev_ts > threshold
        best_parent = sc[:, 1:].argmax(axis=1) + 1
        has_parent = np.isfinite(sc[:, 1:]).any(axis=1)
        # A new conversation also starts without a silence where the linker is sure of it (a new question in a
        # busy hour): "new" outscores every parent by NEW_CONVERSATION_MARGIN; and at a question put to the whole
        # group unless a parent outscores "new" by more than -GROUP_QUESTION_MARGIN.
        new_margin = sc[:, 0] - np.where(has_parent, sc[np.arange(len(rows)), best_parent], -np.inf)
        starts = (best == 0) & (after_silence | (new_margin > NEW_CONVERSATION_MARGIN))
        if p.asks_group is not None:
            starts |= p.asks_group[rows] & (new_margin > GROUP_QUESTION_MARGIN)
        best = np.where(has_parent & ~starts, best_parent, 0)
    parents = np.where(best == 0, -1, rows - best).astype(np.int64)
    top2 = np.sort(sc, axis=1)[:, -2:]
    margin = np.where(np.isfinite(top2[:, 0]), top2[:, 1] - top2[:, 0], np.inf).astype(np.float32)
    # Explicit quotes are the best evidence there is; unlinkable messages never reply.
    explicit, linkable = p.explicit[rows], p.linkable[rows]
    has_explicit = (explicit >= 0) & linkable
    parents[has_explicit] = explicit[has_explicit]
    parents[~linkable] = -1
    return parents, margin


def components(parents: Sequence[int] | np.ndarray) -> np.ndarray:
    """Conversation label of every message: the index of the earliest message of its connected component."""
    n = len(parents)
    root = np.arange(n)

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    for i, j in enumerate(parents):
        if j is not None and 0 <= j < n:
            a, b = find(i), find(int(j))
            if a != b:
                root[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def thread_messages(messages: Sequence[Message], tokens: Sequence[Sequence[str]] | None = None,
                    vectors: np.ndarray | None = None, *, model: LinkerModel | None = None,
                    window: int = DEFAULT_WINDOW, max_gap_minutes: float | None = None,
                    self_bias: float | None = 0.0, decoding: str = "auto",
                    vector_model: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Disentangle one chat (messages in time order): (parent index or -1, conversation label) per message.
    `vector_model` names the embedding model of `vectors` (the dense-chat weights read only their own)."""
    if not messages:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    p = prepare(messages, tokens, vectors, vector_model=vector_model)
    max_gap = float("inf") if not max_gap_minutes else max_gap_minutes * 60.0
    parents, _ = link(p, model, window, max_gap, self_bias, decoding)
    return parents, components(parents)
