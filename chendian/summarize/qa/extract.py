"""Extract: the real questions of each conversation, the answers they got, scored and credited.

Rules over general features of Chinese chat, not a model fitted to one group (held-out chats must work):

question  = interrogative words (什么/怎么/哪/几/多少/是不是/有没有 …), sentence-final particles (吗/么/呢/嘛/咩),
            question marks (full- and half-width), and requests (请问/求助/有人知道/求推荐 …); minus rhetorical
            questions (难道/不是…吗/要不要脸), greetings and chit-chat (吃了吗/在吗/到家了吗), invitations,
            echo questions ("一号楼？") and laughter.
answer    = a later message of another person in the same conversation, scored on explicit reply/quote,
            @ the asker, closeness (messages and minutes), words shared with the question, answer-like
            content (是/可以/不行/links …), and the asker's acknowledgement afterwards (谢谢/懂了/解决了).
            An answerer's consecutive messages are merged into one answer. A question left without one takes
            the first reply of its conversation a few messages on that says its words again, as the least sure.

`extract_qas(messages, thread_of=None, parent_of=None)` works on plain Messages; `run(ws, rc)` is the stage.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...model import CONVERSATIONAL_KINDS, QA, Answer, Message, conversation_id, stable_id
from ..text.segment import fold

# -- text cleaning -----------------------------------------------------------------------------------

_PLACEHOLDER_RE = re.compile(r"\[[^\[\]\s]{1,8}\]")  # [表情] [图片] [动画表情] [Emoji] …
_URL_RE = re.compile(r"(?:https?://|www\.)[A-Za-z0-9./?=&%#:_~+@-]+")
# A mention ends at a space, WeChat's thin space (U+2005; some exporters write it as "?" before the text goes on)
# or punctuation, so "@成员012?上周那个报错…" keeps its question.
_MENTION_RE = re.compile(r"@[^\s@?？\u2005,，:：]{1,20}(?:\u2005|[?？](?=\S))?")
# WeChat puts the thin space after a mention at the end of a message too: "…周末又要加班了@成员017?" asks nothing.
# Read before folding: a typed question mark there is a second "?" or a full-width "？".
_TRAILING_MENTION_SPACE_RE = re.compile(r"(@[^\s@?？\u2005,，:：]{1,20})\?(\s*)$")
_TRAIL_RE = re.compile(r"[\s。.…~～、,，!！'’\"”》]+$")


def clean_text(text: str) -> str:
    """Folded text without placeholders, links and @mentions: what the words themselves say."""
    t = fold(_TRAILING_MENTION_SPACE_RE.sub(r"\1\2", text or ""))
    t = _PLACEHOLDER_RE.sub(" ", t)
    t = _URL_RE.sub(" URL ", t)
    t = _MENTION_RE.sub(" ", t)
    return re.sub(r"\s+", " ", t).strip()


def _core(t: str) -> str:
    """Letters and digits only (length checks, filler detection)."""
    return re.sub(r"[\W_]+", "", t.replace("URL", ""))


# -- question detection ----------------------------------------------------------------------------

REQUEST_RE = re.compile(
    r"请问|求问|求助|求教|请教|求解|求推荐|推荐一?下|求内推|求借|求分享|求链接|求资源|求个|求一?份|求几个"
    r"|求(?:指教|详解|解释|介绍|科普|指导|指点|解答|教程|文档|资料|方案|攻略|帮助)"
    r"|有人知道|谁知道|有谁知道|有没有人|有人(?:用|做|遇到|碰到|了解|会|懂|有)过?|有谁(?:用|做|遇到|了解|会|懂|有)"
    # looking for whoever has or has done it ("哪位有安装包", "哪位做过对账脚本"); not "谁有空", "谁先到谁买单"
    r"|(?:哪位|谁)(?:大佬|大神|同学|朋友|老师)?(?:有(?!空)|做过|用过|接过|试过|遇到过|了解|懂)"
    # announcing the question ("还有个问题，…", "另外一个问题"); alone it is a preamble, like 请问各位
    r"|(?:还有|另外|再问|问大家|请教大家|请教各位|咨询)一?个问题"
    # "问问" asks unless someone is told to ask, or says they will ("可以问问客服", "你问问群里", "我问问他")
    r"|想问|问一?下|(?<!可以)(?<![你去先再就我他她])问问|想知道|想了解|帮忙看|帮我看|帮忙问|麻烦问|咨询一?下|打听一?下"
)
EXPERTS_RE = re.compile(r"大神|大佬们")
WH_RE = re.compile(
    r"什么|啥|怎么|怎样|怎么样|咋|如何|为什么|为何|为毛|哪|几[点号个时天年月位种次岁块k]|多少|多久|多大|多长|多远|谁"
    r"|是不是|(?<!没)有没有|能不能|可不可以|会不会|要不要|用不用|行不行|对不对|好不好|是否|能否|可否|有木有|是啥"
)
# Question words that are almost never indefinite ("什么" often is: "没什么", "看你用什么玩法吧").
# "how should one …" ("一般怎么处理", "应该怎么避免") asks how to do something, where a bare 怎么 is often "how come";
# so do "how is it done" (怎么做到, 怎么才能) and "what is the difference" (有什么区别; "没什么区别" states).
STRONG_WH_RE = re.compile(r"怎么办|怎么样|怎么弄|怎么搞|什么时候|多少|几点|几号|哪里|哪儿|哪个|哪家|哪些|如何|为什么|为啥|是不是|有没有|能不能|可不可以"
                          r"|(?:应该|一般|还要|该|需要)怎么|怎么(?:操作|处理|打开|配置|设置|申请|解决|实现|对接|接入|做到|才能)"
                          r"|(?<![没无])有?(?:什么|啥)(?:区别|不同|不一样|差别|差异)")
# "X还是Y" without a question mark is still a question when it ends a clause as a choice ("去宁波还是杭州",
# "是按月结还是按季结"). Far more often 还是 is the adverb "still / after all / had better" ("升级到新版本以后还是闪退",
# "想想还是发了", "还是转开发吧"): on both labelled groups the bare shape was right 8 times in 58. So the choice
# must be short or framed by 是…还是, and never read as the adverb: after an adverb or a subject, before a
# modal, verb of habit or degree word, closing with 了, or inside 无论/不管…还是 and 看…还是 (no question asked).
ALT_RE = re.compile(r"\S+还是\S+$")
_ALT_FRAMED_RE = re.compile(r"是[^。.!！?？]{0,14}还是")  # "是自动续费，还是手动续呢" too
_ALT_ADVERB_RE = re.compile(
    r"(?:其实|关键|最终|最后|应该|都|也|不过|想想|感觉|觉得|看来|就|却|但|毕竟|总|终究|确实|主要|我|你|他)还是"
    r"|还是(?:有|会|可以|能|不|没|很|蛮|挺|比较|要|得|在|觉得|算|直接|先|习惯|跟|太|更|那么|这么)"
    r"|(?:无论|不管|不论|看).*还是|了$")
ALT_MAX_CHARS = 10  # an unframed choice longer than this is a statement with 还是 in it


def _asks_choice(clause: str) -> bool:
    """Whether a clause without a question mark asks "X or Y"."""
    if not ALT_RE.search(clause) or _ALT_ADVERB_RE.search(clause):
        return False
    return bool(_ALT_FRAMED_RE.search(clause)) or len(_core(clause)) <= ALT_MAX_CHARS


FINAL_PARTICLE_RE = re.compile(r"(?:吗|么|嘛|咩|呢|不|没|没有|伐|否)$")
TAG_RE = re.compile(r"(?:吧|的吧|是吧|对吧|啊|呀|丫|哈)$")
# Rhetorical questions and exclamations dressed as questions. "不是…吗？" expects agreement; "是不是…？" (A-not-A)
# asks: on both labelled groups it was a real question 10 times in 11.
RHETORICAL_RE = re.compile(
    r"难道|岂不|何必|何苦|怎么可能|哪有|哪里有这么|要不要脸|还用问|(?<!是)不是.{0,12}(?:吗|么|嘛)[?]?$"
    r"|(?<!是)不是.{0,12}[?]$"
    r"|(?:不就|这不|那不|不也|不都)[^，,。]{0,16}(?:吗|么|嘛)[?]?$|(?:了|呢)嘛[?]?$"
    r"|好吗$|好不好$|好么$|懂不懂|有病|凭什么|什么鬼|搞什么|干嘛呢$|卧槽|我靠|我去|天哪|天啊"
)
# Greetings, chit-chat and invitations: questions in form, not requests for knowledge.
CHITCHAT_RE = re.compile(
    r"吃(?:了|饭了)?(?:吗|么|没)|在吗|在不在|在么|睡了(?:吗|么|没)|下班了(?:吗|么|没)?|到家了|回家了|起床了|醒了(?:吗|么|没)"
    r"|还在加班|一起.{0,6}(?:吗|么|不|[?])|要不我们|约(?:吗|么|不)|走起|出来玩|开黑|打游戏|玩.{0,4}[?]$|你们?在哪$"
    r"|你说什么|什么情况[?]?$|咋回事|怎么了[?]?$|真的(?:吗|么|假的)|是吗$|是么$|对吗$|然后呢|还有谁|谁啊$|你猜|猜猜"
    r"|^早|晚安|^hello|^hi\b|^哈+|^呵+|^233|^666|组队|来讨论|讨论一[下波]|你.{0,2}说什么|^不知道"
)
HEDGE_RE = re.compile(r"据说|听说|好像|貌似|似乎|难怪")
# An indirect question inside an instruction ("先看采集 agent 有没有装", "检查一下是不是过期了") asks nothing.
INDIRECT_RE = re.compile(r"(?:看看?|查查?|检查|确认|核对|试试)(?:一下|下)?[^，。,.!！?？\n]{0,16}?"
                         r"(?:有没有|是不是|能不能|对不对|行不行|可不可以|在不在)"
                         # "check when / where / how many" ("每天去交费平台看看吧，什么时候可以交"): an instruction
                         r"|(?:看看|查查|检查|确认|核对)(?:一下|下)?(?:吧|呗)?[^。.!！?？\n]{0,16}?(?:什么时候|哪里|哪个|多少|怎么)"
                         # "it depends on which / how much": an answer that names what decides ("要看你们用的是哪个版本")
                         r"|(?:要看|得看|就看|还得看|取决于)[^。.!！?？\n]{0,20}?(?:哪|什么|啥|多少|怎么|如何|是不是|有没有)"
                         # a question word as "any-" or "and so on": 哪里都, 什么也, 谁都; 有多少…就多少; 发票报销啥的
                         r"|(?:哪里|哪儿|什么|啥|谁|怎么)(?:都|也)|(?:无论|不管|不论)[^，。,.!！?？\n]{0,12}?(?:哪|什么|啥|谁|怎么|多少)|(什么|多少|哪里|谁)[^，。,.!！?？\n]{1,8}?就[^，。,.!！?？\n]{0,4}?\1"
                         r"|(?<!是)(?:啥|什么)的(?=[，,。.!！\s]|$)")
VOCATIVE_RE = re.compile(r"老师|学长|学姐|前辈|大佬|大神|各位|大家|群里|小伙伴|童鞋|同学们|亲们")
MODAL_RE = re.compile(r"可以|能|要|需要|必须|得|会|该|用")
STRONG_PARTICLE_RE = re.compile(r"(?:吗|么|咩|嘛)$")
# The bare request words and whom they address: "请问各位老师" alone asks nothing yet.
_ADDRESS_RE = re.compile(REQUEST_RE.pattern + r"|老师|各位|大家|老板|大神|大佬|学长|学姐|前辈|们|一下|下|啊|呀")
LAUGH_RE = re.compile(r"哈哈|呵呵|嘿嘿|2333|hhh|笑死|[?？]{2,}|!{2,}")
SECOND_PERSON_RE = re.compile(r"^(?:你|您)(?!们)|(?:^|[，,\s])你(?:这|又|还|才|都|是不是)")


@dataclass(slots=True)
class QuestionFeatures:
    qmark: bool
    ends_qmark: bool
    particle: bool
    wh: bool
    request: bool
    alternative: bool
    tag: bool
    rhetorical: bool
    chitchat: bool
    laugh: bool
    second_person: bool
    length: int  # letters and digits in the cleaned text
    score: float


# A question in quotation marks is someone else's ("忘了回他“改签要加钱吗？”"), and so are words reported as asked or
# said ("关于你问的“运费怎么算的”，这是…"): they ask only when nothing else is said.
_QUOTED_QUESTION_RE = re.compile(r"[“\"「『][^”\"」』]{0,60}[?][^”\"」』]{0,60}[”\"」』]"
                                  r"|(?:问|说)(?:的|了|过|道)?[：:]?\s*[“\"「『][^”\"」』]{0,60}[”\"」』]")


def question_features(text: str) -> QuestionFeatures:
    t = clean_text(text)
    unquoted = _QUOTED_QUESTION_RE.sub(" ", t)
    if len(_core(unquoted)) >= 4:
        t = unquoted.strip()
    core = _core(t)
    stripped = _TRAIL_RE.sub("", t)
    qmark = "?" in t
    ends_qmark = stripped.endswith("?")
    body = stripped.rstrip("?")
    # A question may sit in the middle of a message ("学费可以延迟交咩？最近没钱"): look at every clause.
    clauses = [_TRAIL_RE.sub("", c) for c in re.split(r"[?。!；;,，\n\s()（）]", t) if _core(c)]
    particle_clause = next((c for c in clauses if FINAL_PARTICLE_RE.search(c)), None)
    particle = particle_clause is not None
    strong_particle = any(STRONG_PARTICLE_RE.search(c) for c in clauses)
    wh = bool(WH_RE.search(t))
    indirect = wh and bool(INDIRECT_RE.search(t))  # the question word sits in an instruction, "it depends" or "any-"
    # Calling on the experts ("各位大神…", "群里有大佬…么") asks for help when something in the message asks;
    # alone it only names them ("跟大佬们学习了", "k8s的大神").
    request = bool(REQUEST_RE.search(t)) or (bool(EXPERTS_RE.search(t))
                                              and (qmark or particle or (wh and not indirect)))
    alternative = any(_asks_choice(c) for c in clauses) or _asks_choice(body)
    tag = bool(TAG_RE.search(body))
    rhetorical = bool(RHETORICAL_RE.search(stripped)) or any(RHETORICAL_RE.search(c) for c in clauses)
    chitchat = bool(CHITCHAT_RE.search(body)) or any(CHITCHAT_RE.search(c) for c in clauses)
    laugh = bool(LAUGH_RE.search(fold(text or "")))
    second_person = bool(SECOND_PERSON_RE.search(t))
    length = len(core)
    cue = qmark or particle or wh or request or alternative

    s = 0.0
    s += 1.6 if ends_qmark else (1.1 if qmark else 0.0)
    s += 1.8 if strong_particle else (0.9 if particle else 0.0)
    s += 1.3 if wh else 0.0
    s += 0.4 if STRONG_WH_RE.search(t) else 0.0
    s += 1.8 if request else 0.0
    s += 1.8 if alternative and not qmark else 0.0
    s += 0.4 if tag and (wh or particle) else 0.0
    s += 0.4 if cue and VOCATIVE_RE.search(t) else 0.0
    s += 0.3 if particle and MODAL_RE.search(particle_clause or "") else 0.0
    s -= 2.2 if rhetorical else 0.0
    s -= 2.2 if chitchat else 0.0
    s -= 0.8 if laugh else 0.0
    # "你…？" to nobody in particular is banter more often than not ("你是受了啥刺激"); opened with an @mention it is
    # put to that person ("@成员031 你到公司了么").
    addressed = bool(re.match(r"\s*@", text or ""))
    s -= 1.0 if second_person and not request and not addressed else 0.0
    s -= 0.8 if HEDGE_RE.search(t) and not (wh or request) else 0.0
    s -= 1.3 if indirect and not (qmark or particle or request) else 0.0
    # Echo questions ("一号楼？", "明天啊？") and bare marks carry no question of their own.
    if length <= 2:
        s -= 2.5
    elif length <= 4 and not (wh or request or particle):
        s -= 1.2
    elif length >= 8:
        s += 0.3
    # Announcements and ads ask "想和最优秀的团队并肩作战吗？" — long messages are questions only when they open with one.
    long_post = length > 80 and not REQUEST_RE.match(t)
    # "请问各位老师" alone is the preamble of the question that follows, not the question.
    if request and not (qmark or particle) and len(_core(_ADDRESS_RE.sub("", t))) <= 2:
        s -= 2.5
    if wh and (particle or qmark):
        s += 0.3
    # A "吧" guess with no question word is a statement more often than not ("应该是吧").
    if not cue:
        s -= 1.0
    if long_post:
        s = min(s, 1.0)
    return QuestionFeatures(qmark, ends_qmark, particle, wh, request, alternative, tag, rhetorical, chitchat,
                            laugh, second_person, length, round(s, 3))


QUESTION_THRESHOLD = 1.8


def question_score(text: str) -> float:
    return question_features(text).score


def is_question(text: str, threshold: float = QUESTION_THRESHOLD) -> bool:
    return question_features(text).score >= threshold


def baseline_is_question(text: str) -> bool:
    """The plain baseline the extractor must beat: the message ends with ？/? or 吗."""
    return bool(re.search(r"[？?]\s*$|吗\s*$", text or ""))


# -- answer linking --------------------------------------------------------------------------------

ACK_RE = re.compile(
    r"谢谢|多谢|感谢|谢啦|谢了|thx|thanks|thank you|懂了|明白了?|了解了?|知道了|学到了|解决了|搞定了?|可以了|好了|好的|收到"
    r"|原来如此|原来是|哦哦|噢噢|嗯嗯|ok|get|有道理|这样啊|这样子|行吧|好吧"
)
ANSWERISH_RE = re.compile(
    r"^(?:是|不是|对|不对|可以|不可以|不行|行|能|不能|会|不会|有|没有|没|要|不要|不用|需要|不需要|在|不在|开|关|嗯|恩)"
    r"|可以|不行|不用|需要|应该|好像|估计|一般|就是|直接|只能|只有|建议|记得|试试|用|去|找|在|要先|得|我(?:的|都|也|之前|当时|们)"
    r"|\d|URL|官网|网站|邮箱|电话|地址|链接"
)
# Also the reply to thanks ("谢谢成员001" → "客气"): it ends an exchange, it answers nothing.
FILLER_RE = re.compile(r"^(?:哈+|呵+|嘿+|h+|2{2,}3*|6{2,}|[?？!！。.…~]+|图片|表情|嗯+|哦+|噢+|额+|呃+|啊+|好|ok|赞|厉害|牛|顶|"
                       r"(?:不用|别|不)?客气(?:了|啦|哈)?|不用谢|不谢)$")

ANSWER_WINDOW_MESSAGES = 15  # candidates after a question, counted in messages of the conversation
ANSWER_WINDOW_MINUTES = 24 * 60.0
ANSWER_THRESHOLD = 0.25  # link probability (chosen by held-out F1; answers are rare among candidates)
RUN_GAP_MINUTES = 5.0  # an answerer's consecutive messages within this gap form one answer
RUN_MAX_MESSAGES = 4
ACK_LOOKBACK = 6  # the asker's thanks credit the latest answer this many messages before it
ACK_LOOKAHEAD = 3  # a candidate's "asker thanked after" feature reads this many messages after it


def name_key(name: str) -> str:
    """A display name without the QQ number / e-mail the exports append ("成员001(12345)" → "成员001")."""
    n = re.sub(r"\s*[(（<][^()（）<>]*[)）>]\s*$", "", name or "")
    return fold(n).strip().lstrip("@")


def _mentions_person(m: Message, sender: str, sender_name: str) -> bool:
    keys = {name_key(sender_name), name_key(sender)} - {""}
    for mention in m.mentions or []:
        k = name_key(mention)
        if k and any(k == key or (len(k) >= 2 and (key.startswith(k) or k.startswith(key))) for key in keys):
            return True
    return False


def _says_nothing(m: Message, text: str) -> bool:
    """Whether message m (`text`: its clean_text) says nothing: a sticker, a laugh, "嗯", "666". A bare link says
    something, though clean_text leaves nothing of it."""
    core = _core(text)
    return (not core or bool(FILLER_RE.match(core)) or (bool(LAUGH_RE.search(text)) and len(core) <= 6)) \
        and not _URL_RE.search(m.text or "")


def _bigrams(s: str) -> set[str]:
    """Character bigrams of the letters and digits of s."""
    core = _core(s)
    return {core[i:i + 2] for i in range(len(core) - 1)}


def _char_overlap(a: str, b: str) -> float:
    """Share of the question's content bigrams that the answer repeats (cheap relevance, no tokenizer)."""
    qa, ab = _bigrams(a), _bigrams(b)
    if not qa or not ab:
        return 0.0
    return len(qa & ab) / len(qa)


# Fallback conversations (no thread stage output) end after this much silence.
FALLBACK_SILENCE_MINUTES = 120.0


def segment_conversations(messages: Sequence[Message],
                          max_gap_minutes: float = FALLBACK_SILENCE_MINUTES) -> dict[str, str]:
    """Fallback conversations when no thread stage ran: split a chat where it falls silent, join explicit replies."""
    thread_of: dict[str, str] = {}
    current: dict[str, tuple[str, float]] = {}  # chat → (thread id, last ts)
    for m in messages:
        ts = m.time.timestamp()
        if m.reply_to and m.reply_to in thread_of:
            thread_of[m.id] = thread_of[m.reply_to]
            current[m.chat] = (current.get(m.chat, (thread_of[m.id], ts))[0], ts)
            continue
        tid, last = current.get(m.chat, (None, None))
        if tid is None or ts - last > max_gap_minutes * 60:
            tid = conversation_id(m.chat, m.id)
        thread_of[m.id] = tid
        current[m.chat] = (tid, ts)
    return thread_of


def is_usable(m: Message) -> bool:
    """Whether the extractor reads a message: conversational, not withdrawn, not empty, not a platform notice."""
    return (m.kind in CONVERSATIONAL_KINDS and not m.recalled and bool((m.text or "").strip())
            and not SYSTEM_TEXT_RE.search(m.text))


def extract_qas(messages: Iterable[Message], thread_of: dict[str, str] | None = None,
                parent_of: dict[str, str | None] | None = None, *,
                question_threshold: float = QUESTION_THRESHOLD, answer_threshold: float | None = ANSWER_THRESHOLD,
                max_gap_minutes: float = FALLBACK_SILENCE_MINUTES,
                link_weights: dict[str, float] | None = None,
                quoted: Mapping[str, Message] | None = None) -> list[QA]:
    """Questions and their ranked answers. `thread_of` maps message id → conversation (the thread stage's
    output; a time-gap fallback otherwise); `parent_of` are predicted reply links, weaker than explicit quotes.
    `answer_threshold`: the link probability from which a reply is an answer; None: each chat's own
    (chat_answer_threshold, read off the chat's first messages: `messages` must then hold each chat from its start;
    the extract stage gives a chat's tail its chat's threshold). `quoted`: earlier messages of the chat that
    `messages` quote (when `messages` are a chat's tail from an `extraction_cut`), whose senders the quote features
    read."""
    msgs = sorted((m for m in messages), key=lambda m: (m.chat, m.time.timestamp()))
    if thread_of is None:
        thread_of = segment_conversations(msgs, max_gap_minutes)
    parent_of = parent_of or {}
    by_id = {**(quoted or {}), **{m.id: m for m in msgs}}
    # Answers are looked for in the chat's stream near the question, not only inside its predicted thread:
    # a thread split in the wrong place must not lose an answer. Thread membership is one feature among others.
    chats: dict[str, list[Message]] = defaultdict(list)
    for m in msgs:
        chats[m.chat].append(m)
    out: list[QA] = []
    for stream in chats.values():
        out.extend(_extract_stream(stream, thread_of, by_id, parent_of, question_threshold, answer_threshold,
                                   link_weights))
    out.sort(key=lambda q: (q.chat, q.ts, q.question_id))
    return out


def _link_candidates(usable: list[Message], qids: list[str], feats, texts, by_id, parent_of, thread_of):
    """(candidate, question, features) for every later message of another person within reach of a question."""
    pos = {m.id: i for i, m in enumerate(usable)}
    quoted_by: dict[str, list[int]] = defaultdict(list)  # explicit quotes reach beyond the window
    for i, m in enumerate(usable):
        if m.reply_to:
            quoted_by[m.reply_to].append(i)
    for qid in qids:
        q = by_id[qid]
        j = pos[qid]
        last = j
        for i in range(j + 1, len(usable)):
            c = usable[i]
            if i - j > ANSWER_WINDOW_MESSAGES:
                break
            last = i
            if c.sender == q.sender:
                continue
            f = link_features(c, q, usable, j, i, feats, texts, by_id, parent_of, thread_of)
            if f is not None:
                yield c, q, f
        for i in quoted_by.get(qid, []):
            if i > last and usable[i].sender != q.sender:
                f = link_features(usable[i], q, usable, j, i, feats, texts, by_id, parent_of, thread_of)
                if f is not None:
                    yield usable[i], q, f


def link_candidates(messages: Iterable[Message], thread_of: dict[str, str] | None = None,
                    parent_of: dict[str, str | None] | None = None, *, question_threshold: float = QUESTION_THRESHOLD,
                    max_gap_minutes: float = FALLBACK_SILENCE_MINUTES):
    """Every (candidate id, question id, features) pair the linker scores: for fitting and inspecting weights."""
    msgs = sorted(messages, key=lambda m: (m.chat, m.time.timestamp()))
    thread_of = thread_of or segment_conversations(msgs, max_gap_minutes)
    parent_of = parent_of or {}
    by_id = {m.id: m for m in msgs}
    chats: dict = defaultdict(list)
    for m in msgs:
        chats[m.chat].append(m)
    for stream in chats.values():
        usable = [m for m in stream if is_usable(m)]
        feats = {m.id: question_features(m.text) for m in usable}
        texts = {m.id: clean_text(m.text) for m in usable}
        qids = [m.id for m in usable if feats[m.id].score >= question_threshold]
        for c, q, f in _link_candidates(usable, qids, feats, texts, by_id, parent_of, thread_of):
            yield c.id, q.id, f


def _extend_answer_runs(usable: list[Message], link: dict[str, tuple[str, float]], feats, texts,
                        q_threshold: float, thread_of: Mapping[str, str] | None = None) -> None:
    """An answerer often goes on over several messages ("拿那个病历本" … "都是拿那个病历本去的"): the messages
    that follow a linked answer from the same person, soon and with only the asker in between, answer too."""
    for i, m in enumerate(usable):
        if m.id not in link:
            continue
        qid, prob = link[m.id]
        asker = None
        last = m
        for n in usable[i + 1:i + 1 + 2 * RUN_MAX_MESSAGES]:
            if n.sender == m.sender:
                if n.time.timestamp() - last.time.timestamp() > RUN_GAP_MINUTES * 60:
                    break
                # the answerer turned to another conversation ("先加个重试就行" then "我周末去爬山…")
                if thread_of and thread_of.get(n.id, n.id) != thread_of.get(m.id, m.id):
                    break
                core = _core(texts[n.id])
                if n.id not in link and core and not FILLER_RE.match(core) and feats[n.id].score < q_threshold \
                        and not feats[n.id].chitchat:
                    link[n.id] = (qid, prob * 0.9)
                last = n
            elif asker is None and n.sender != m.sender:
                asker = n.sender  # the first other voice may be the asker reacting; anyone else ends the run
                if n.id in link or feats[n.id].score >= q_threshold:
                    break
            elif n.sender != asker:
                break


# Bigrams with a function character ("这个", "的学" across two words) say nothing of what a reply is about.
_FUNCTION_CHAR_RE = re.compile(r"[的了是这那个我你他她它们么吗呢吧啊就也都有在和]")
# How far on (in usable messages of the chat) an unanswered question looks for a reply that says its words.
WORDS_FALLBACK_MESSAGES = 6


def _content_bigrams(text: str) -> set[str]:
    """Character bigrams that can name what a message is about: none with a function character, none of digits
    only (years and amounts: "2016" and "2017" share "20")."""
    return {g for g in _bigrams(text) if not _FUNCTION_CHAR_RE.search(g) and not g.isdigit()}


def _link_unanswered_by_words(usable, qids, link, feats, texts, pos, thread_of, q_threshold, a_threshold) -> None:
    """A question the weights gave no answer takes the first reply of its conversation, two to
    WORDS_FALLBACK_MESSAGES messages on and in its sender's first turn since the question (their first message and
    those they add straight after it: "http://…" then "查询学费是否交了用这个"), that says one of its words again (a
    content bigram): the turn from its first message, at the lowest linked probability, so its entry waits for
    review. The linear weights cannot learn this far link: on both labelled
    groups such a reply is a gold answer 27-46% of the time, against 5-10% for one sharing nothing, and as a link
    feature it let far replies outbid near answers of other questions (docs/evaluation.md, seventeenth stop)."""
    answered = {qid for qid, _ in link.values()}
    for qid in qids:
        if qid in answered:
            continue
        j = pos[qid]
        q = usable[j]
        words = _content_bigrams(texts[qid])
        if not words:
            continue
        spoke: set[str] = {usable[j + 1].sender} if j + 1 < len(usable) else set()
        turn: Message | None = None  # the first message of a sender's first turn, while that turn goes on
        turn_length = 0
        for k in range(j + 2, min(len(usable), j + 1 + WORDS_FALLBACK_MESSAGES)):
            c = usable[k]
            core = _core(texts[c.id])
            # Only someone's first turn after the question: a speaker who goes on talking later (a lecture, their
            # own thread) says the question's words without answering it. A turn is their consecutive messages (a
            # link, then what it is for).
            if c.sender not in spoke:
                turn, turn_length = c, 1
            elif turn is not None and turn.sender == c.sender and usable[k - 1].sender == c.sender \
                    and turn_length < RUN_MAX_MESSAGES:
                turn_length += 1
            else:
                turn = None
            spoke.add(c.sender)
            if turn is None or c.sender == q.sender or turn.id in link or feats[c.id].score >= q_threshold \
                    or feats[turn.id].score >= q_threshold or feats[turn.id].chitchat \
                    or _says_nothing(turn, texts[turn.id]) \
                    or feats[c.id].chitchat or not core or FILLER_RE.match(core) or len(core) > 80 \
                    or thread_of.get(c.id, c.id) != thread_of.get(qid, qid):
                continue
            if words & _content_bigrams(texts[c.id]):
                link[turn.id] = (qid, a_threshold)
                break


def _new_question(c: Message, q: Message, feats, texts, q_threshold: float, f: dict[str, float]) -> bool:
    """Whether candidate c is a question of its own rather than a reply to q: it asks, does not quote q, and
    either shares no word with q (another need: "小公司一般怎么解决发票开具的问题啊？" after "谁有银行网点对应
    城市的数据表？") or repeats it ("+1" by copying). A reply that asks back about q's words ("网点表是啥格式？") or
    answers in question form stays a candidate."""
    if feats[c.id].score < q_threshold or f["explicit_reply"]:
        return False
    qc, cc = _core(texts[q.id]), _core(texts[c.id])
    return f["overlap"] == 0.0 or (len(cc) > 0 and (cc in qc or qc in cc))


# -- how sure a reply must be, in this chat ------------------------------------------------------------------
# The link weights rank a chat's replies well on a group they were not fitted on, but where to cut may not carry
# over: fitted on wechat-dev and cut at ANSWER_THRESHOLD they score qq-dev answer-link F 30.1 (and wechat-dev
# itself 18.3: its answers are rarer and less sure than qq-dev's). A chat's own probabilities say so, without
# labels: with p the best link probability of each reply, highest first, linking the first k is expected to
# score F1 = 2·Σ_{i≤k} p_i / (k + Σ p) if they are right (the "plug-in" rule). Where that expectation at
# ANSWER_THRESHOLD falls under MIN_EXPECTED_F1_SHARE of its best, the chat is cut where it is best instead: the
# weights fitted on wechat-dev then score qq-dev 38.6 and wechat-dev 30.6. The shipped weights keep 0.25 on both
# labelled groups (99.9% and 100% of the best), so nothing changes there (docs/evaluation.md, eighteenth stop).
# The cut is read off the chat's first THRESHOLD_REFERENCE_MESSAGES messages only, so that a new day never moves
# it once a chat is past them (it settles within a few hundred messages on both groups).
THRESHOLD_REFERENCE_MESSAGES = 2000
MIN_REFERENCE_REPLIES = 150  # fewer replies with a candidate question: too few to say; ANSWER_THRESHOLD
MIN_EXPECTED_F1_SHARE = 0.95
THRESHOLD_RANGE = (0.1, 0.4)  # never outside this, whatever the chat says


def plug_in_threshold(probabilities: Sequence[float]) -> float:
    """ANSWER_THRESHOLD, or where the chat's replies (`probabilities`: each one's best link probability) are
    expected to score a clearly better F1 (see above); ANSWER_THRESHOLD with fewer than MIN_REFERENCE_REPLIES."""
    p = np.sort(np.asarray(probabilities, dtype=np.float64))[::-1]
    if len(p) < MIN_REFERENCE_REPLIES or p.sum() <= 0:
        return ANSWER_THRESHOLD
    expected_f1 = 2 * np.cumsum(p) / (np.arange(1, len(p) + 1) + p.sum())
    at_default = int((p >= ANSWER_THRESHOLD).sum())
    if at_default and expected_f1[at_default - 1] >= MIN_EXPECTED_F1_SHARE * expected_f1.max():
        return ANSWER_THRESHOLD
    cut = float(p[int(np.argmax(expected_f1))])
    return round(min(THRESHOLD_RANGE[1], max(THRESHOLD_RANGE[0], cut)), 4)


def _reference_threshold(usable: list[Message], qids: list[str], feats, texts, by_id, parent_of, thread_of,
                         q_threshold: float, link_weights) -> float:
    prefix = usable[:THRESHOLD_REFERENCE_MESSAGES]
    inside = {m.id for m in prefix}
    best: dict[str, float] = {}
    for c, q, f in _link_candidates(prefix, [q for q in qids if q in inside], feats, texts, by_id, parent_of,
                                    thread_of):
        if not _new_question(c, q, feats, texts, q_threshold, f):
            best[c.id] = max(best.get(c.id, 0.0), link_probability(f, link_weights))
    return plug_in_threshold(list(best.values()))


def chat_answer_threshold(messages: Iterable[Message], thread_of: dict[str, str] | None = None,
                          parent_of: dict[str, str | None] | None = None, *,
                          question_threshold: float = QUESTION_THRESHOLD,
                          link_weights: dict[str, float] | None = None) -> float:
    """One chat's answer threshold (plug_in_threshold), from its first THRESHOLD_REFERENCE_MESSAGES usable
    messages: `messages` must start at the chat's start (more than those are not read)."""
    msgs = sorted(messages, key=lambda m: m.time.timestamp())
    usable = [m for m in msgs if is_usable(m)][:THRESHOLD_REFERENCE_MESSAGES]
    if thread_of is None:
        thread_of = segment_conversations(msgs)
    feats = {m.id: question_features(m.text) for m in usable}
    texts = {m.id: clean_text(m.text) for m in usable}
    qids = [m.id for m in usable if feats[m.id].score >= question_threshold]
    return _reference_threshold(usable, qids, feats, texts, {m.id: m for m in msgs}, parent_of or {}, thread_of,
                                question_threshold, link_weights)


def _extract_stream(stream: list[Message], thread_of: dict[str, str], by_id: dict[str, Message], parent_of: dict,
                    q_threshold: float, a_threshold: float | None,
                    link_weights: dict[str, float] | None = None) -> list[QA]:
    usable = [m for m in stream if is_usable(m)]
    feats = {m.id: question_features(m.text) for m in usable}
    texts = {m.id: clean_text(m.text) for m in usable}
    qids = [m.id for m in usable if feats[m.id].score >= q_threshold]
    if not qids:
        return []
    pos = {m.id: i for i, m in enumerate(usable)}
    if a_threshold is None:
        a_threshold = _reference_threshold(usable, qids, feats, texts, by_id, parent_of, thread_of, q_threshold,
                                           link_weights)

    # Each candidate message is linked to at most one question: the open question it fits best.
    link: dict[str, tuple[str, float]] = {}
    for c, q, f in _link_candidates(usable, qids, feats, texts, by_id, parent_of, thread_of):
        if _new_question(c, q, feats, texts, q_threshold, f):
            continue
        s = link_probability(f, link_weights)
        if s >= a_threshold and (c.id not in link or s > link[c.id][1]):
            link[c.id] = (q.id, s)
    _link_unanswered_by_words(usable, qids, link, feats, texts, pos, thread_of, q_threshold, a_threshold)
    _extend_answer_runs(usable, link, feats, texts, q_threshold, thread_of)

    # The asker's thanks after an answer credits the latest answer before it.
    acked: set[str] = set()
    for i, m in enumerate(usable):
        if m.id in feats and ACK_RE.search(texts[m.id]) and feats[m.id].score < q_threshold:
            for prev in reversed(usable[max(0, i - ACK_LOOKBACK):i]):
                if prev.id in link and by_id[link[prev.id][0]].sender == m.sender:
                    acked.add(prev.id)
                    break

    # Group consecutive question messages of one asker into one QA (first message is its id).
    qas: dict[str, QA] = {}
    owner: dict[str, str] = {}  # question message id → QA question id
    last_q_by_sender: dict[str, tuple[str, int]] = {}
    for qid in qids:
        q = by_id[qid]
        j = pos[qid]
        prev = last_q_by_sender.get(q.sender)
        # Same asker, nobody else answered in between, within a few messages: one question in several lines.
        if prev and j - pos[prev[0]] <= 3 and not any(
                usable[k].id in link for k in range(pos[prev[0]] + 1, j)) and \
                q.time.timestamp() - by_id[prev[0]].time.timestamp() <= 600:
            head = owner[prev[0]]
            if q.text.strip() not in qas[head].question.split("\n"):  # a line sent twice is shown once
                qas[head].question += "\n" + q.text.strip()
            qas[head].question_ids.append(qid)
            owner[qid] = head
        else:
            qas[qid] = QA(id=stable_id(qid, prefix="q"), chat=q.chat, thread_id=thread_of.get(qid), question_id=qid,
                          question=q.text.strip(), asker=q.sender, asker_name=q.sender_name,
                          ts=int(q.time.timestamp()), question_ids=[qid])
            owner[qid] = qid
        last_q_by_sender[q.sender] = (qid, j)

    # Merge each answerer's consecutive linked messages into one answer.
    grouped: dict[str, list[list[Message]]] = defaultdict(list)
    for c in usable:
        if c.id not in link:
            continue
        head = owner[link[c.id][0]]
        runs = grouped[head]
        if runs and runs[-1][-1].sender == c.sender and \
                c.time.timestamp() - runs[-1][-1].time.timestamp() <= RUN_GAP_MINUTES * 60 and \
                pos[c.id] - pos[runs[-1][-1].id] <= 3:
            runs[-1].append(c)
        else:
            runs.append([c])
    for head, runs in grouped.items():
        qa = qas[head]
        for run in runs:
            score = max(link[m.id][1] for m in run) + 0.05 * (len(run) - 1)
            ack = any(m.id in acked for m in run)
            if ack:
                score += 0.5  # the asker said it helped
            for m in run:
                qa.answer_to[m.id] = link[m.id][0]
            qa.answers.append(Answer([m.id for m in run], run[0].sender, run[0].sender_name,
                                     "\n".join(m.text.strip() for m in run), round(score, 3), ack))
        qa.answers.sort(key=lambda a: (-a.score, a.message_ids[0]))
    for qa in qas.values():
        qscore = max(feats[i].score for i in qa.question_ids)
        qa.score = round(qscore + (qa.answers[0].score if qa.answers else 0.0), 3)
    return list(qas.values())


# Platform notices exported as text. A red packet is a notice only as one ("微信红包", "[红包]", "领取了…的红包"):
# people talk about 红包 too ("海外手机号注册的微信，能收红包么？" asks something).
# A WeChat group message is stored as "wxid_…:\n<content>"; a dump that cannot read the content (a file, a mini
# program) leaves the sender prefix alone ("wxid_a1b2c3d4e5f6:"), which says nothing.
SYSTEM_TEXT_RE = re.compile(r"撤回了一条消息|加入本群|加入了群聊|退出了群聊|邀请.{1,30}加入|拍了拍|修改群名|移出了群聊"
                            r"|^\s*(?:微信)?\[?红包\]?\s*$|^\s*\[红包\]|发了一?个红包|领取了.{0,20}红包|红包已被领完"
                            r"|^\s*wxid_[A-Za-z0-9_-]{4,40}:\s*$")
AFFIRM_RE = re.compile(r"^(?:是的?|对的?|嗯+|恩+|不是|没有|有的?|可以|不行|不可以|能|不能|会|不会|要|不要|不用|需要|开|关|在|行|不)$")

# Logistic weights of the link model over general features (no words of any one group), by feature name, in
# answer_link_weights.npz beside this module. training/qa_fit.py fits them (L2 logistic regression, C=0.3) on
# qq-dev candidate pairs with time-block cross-validation and writes the file; same_thread and
# predicted_parent are fitted under the thread module's output. explicit_reply (3.5), quotes_other (-1.5) and
# system (-5.0) are priors for signals qq-dev never shows (QQ text exports carry no quotes): an explicit quote
# of the question is near-certain, quoting someone else unlikely; qa_fit keeps them as they are.
LINK_WEIGHTS_FILE = Path(__file__).with_name("answer_link_weights.npz")
LINK_PRIOR_FEATURES = ("explicit_reply", "quotes_other", "system")
with np.load(LINK_WEIGHTS_FILE) as _link:
    LINK_WEIGHTS: dict[str, float] = {"bias": float(_link["intercept"])} | {
        str(name): float(w) for name, w in zip(_link["features"], _link["weights"])}
LINK_FEATURES = [k for k in LINK_WEIGHTS if k != "bias"]


def link_features(c: Message, q: Message, usable: list[Message], j: int, i: int, feats, texts, by_id,
                  parent_of, thread_of=None) -> dict[str, float] | None:
    """Features of "message c (position i) answers question q (position j)"; None when out of reach."""
    import math

    distance = i - j
    minutes = max(0.0, (c.time.timestamp() - q.time.timestamp()) / 60)
    explicit = c.reply_to == q.id
    if not explicit and (distance > ANSWER_WINDOW_MESSAGES or minutes > ANSWER_WINDOW_MINUTES):
        return None
    ct = texts[c.id]
    core = _core(ct)
    cf = feats[c.id]
    between = usable[j + 1:i]
    others_between = sum(1 for m in between if m.sender not in (q.sender, c.sender))
    mentions_asker = _mentions_person(c, q.sender, q.sender_name)
    asker_ack = 0.0
    for n in usable[i + 1:i + 1 + ACK_LOOKAHEAD]:
        if n.sender == q.sender:
            asker_ack = float(bool(ACK_RE.search(texts[n.id])) and feats[n.id].score < QUESTION_THRESHOLD)
            break
    qf = feats[q.id]
    return {
        "explicit_reply": float(explicit),
        "predicted_parent": float(parent_of.get(c.id) == q.id),
        "mentions_asker": float(mentions_asker),
        "mentions_other": float(bool(c.mentions) and not mentions_asker),
        "log_distance": math.log1p(distance - 1),
        "log_others_between": math.log1p(others_between),
        "log_minutes": math.log1p(minutes),
        "first_of_sender": float(not any(m.sender == c.sender for m in between)),
        "first_other": float(all(m.sender == q.sender for m in between)),
        "asker_newer_question": float(any(m.sender == q.sender and feats[m.id].score >= QUESTION_THRESHOLD
                                          for m in between)),
        "other_newer_question": float(any(m.sender not in (q.sender, c.sender) and feats[m.id].score >= QUESTION_THRESHOLD
                                          for m in between)),
        "overlap": min(1.0, _char_overlap(texts[q.id], ct)),
        "answerish": float(bool(ANSWERISH_RE.search(ct))),
        "filler": float(_says_nothing(c, ct)),
        "candidate_question": float(cf.score >= QUESTION_THRESHOLD),
        "log_length": math.log1p(len(core)),
        "long": float(len(core) > 80),
        "asker_ack_after": asker_ack,
        "yesno_affirm": float((qf.particle or qf.qmark) and not qf.wh and bool(AFFIRM_RE.match(core))),
        "sender_spoke_between": float(any(m.sender == c.sender for m in between)),
        "after_asker": float(bool(between) and between[-1].sender == q.sender or not between),
        "rhetorical_or_chitchat": float(cf.rhetorical or cf.chitchat),
        "laugh": float(bool(LAUGH_RE.search(ct))),
        "question_score": max(-3.0, min(5.0, qf.score)),
        "system": float(bool(SYSTEM_TEXT_RE.search(c.text or ""))),
        "same_thread": float(thread_of is not None and thread_of.get(c.id, c.id) == thread_of.get(q.id, q.id)),
        "quotes_other": float(bool(c.reply_to) and c.reply_to in by_id and by_id[c.reply_to].sender != q.sender
                              and not explicit),
    }


def link_probability(features: dict[str, float], weights: dict[str, float] | None = None) -> float:
    import math

    w = weights or LINK_WEIGHTS
    z = w.get("bias", 0.0) + sum(w.get(k, 0.0) * v for k, v in features.items())
    p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
    # Quoting the question is the asker-visible act of answering it: near-certain whatever the distance.
    return max(p, 0.95) if features.get("explicit_reply") else p


# -- incremental extraction: where a chat's tail can be extracted on its own ---------------------------------
#
# The rules above read a bounded neighbourhood of each message of the usable stream — a question's candidates
# (ANSWER_WINDOW_MESSAGES after it, and the ACK_LOOKAHEAD messages after each candidate), the thanks that look
# back ACK_LOOKBACK messages, questions of one asker merged within 3 messages — with two exceptions: an explicit
# quote reaches any earlier question, and an answerer's run (_extend_answer_runs) goes on for as long as they
# keep writing, each message within RUN_GAP_MINUTES of their last. A silence longer than RUN_GAP_MINUTES between
# two usable messages ends every run. So a cut before message c of the chat splits the extraction exactly — the
# questions asked before c come out as a run over the messages before c gives them, those from c on as a run
# over the messages from c on gives them — when, with p the usable messages before c:
#   1. the last usable message before c is older (whole seconds) than the one at c, so both orders agree;
#   2. a silence lies at usable position y <= p - ACK_LOOKBACK (the chat's start counts as one);
#   3. no question among the ANSWER_WINDOW_MESSAGES usable messages before y, nor from y up to c: then no
#      question before c has a candidate at or after y, no answer is linked from y on (a run cannot cross the
#      silence), so nothing after c is read by a question before it, and the thanks after c find no answer
#      within their look-back;
#   4. no message from y up to c quotes a question (a quote links at any distance);
#   5. no message from c on quotes a question before c.
# Both sides depend on the messages before c only through these conditions, so a night that changed messages at
# or after c (new ones, recalled ones, re-linked conversations) leaves every question before c as it was.
CUT_QUIET_MESSAGES = ANSWER_WINDOW_MESSAGES


def _quoted_question(m: Message, by_id: Mapping[str, Message], flags: dict[str, bool]) -> bool:
    """Whether m quotes a usable question of its own chat."""
    target = by_id.get(m.reply_to) if m.reply_to else None
    if target is None or target.chat != m.chat or not is_usable(target):
        return False
    return _asks(target, flags)


def _asks(m: Message, flags: dict[str, bool]) -> bool:
    """Whether m is a question, computed once per message id (flags: the memo)."""
    if m.id not in flags:
        flags[m.id] = question_features(m.text).score >= QUESTION_THRESHOLD
    return flags[m.id]


def extraction_cut(messages: Sequence[Message], limit: int, at_chat_start: bool,
                   quoted: Mapping[str, Message] | None = None) -> int | None:
    """The latest cut c <= limit in `messages` (a chat's messages from some point to its end, in store order:
    time, then arrival) at which the extraction splits exactly (the conditions above), or None when none can be
    shown from these messages (load more of the chat). `quoted`: the earlier messages that these quote.
    `at_chat_start`: the messages begin with the chat's first, so a cut at 0 (the whole chat) is always exact."""
    n = len(messages)
    limit = min(limit, n)
    by_id: dict[str, Message] = {**(quoted or {}), **{m.id: m for m in messages}}
    pos = {m.id: i for i, m in enumerate(messages)}
    flags: dict[str, bool] = {}  # message id → is a question, computed when a condition first reads it
    usable_idx: list[int] = []
    upos = [0] * (n + 1)  # usable messages before index i
    for i, m in enumerate(messages):
        upos[i] = len(usable_idx)
        if is_usable(m):
            usable_idx.append(i)
    upos[n] = len(usable_idx)
    nu = len(usable_idx)

    # Only the usable messages between a candidate cut's quiet stretch and the cut are asked whether they are
    # questions (the latest cut is usually found near `limit`): question_features is most of a night's cut.
    quoters = [0] * (nu + 1)  # prefix sums over usable positions
    for k, i in enumerate(usable_idx):
        quoters[k + 1] = quoters[k] + _quoted_question(messages[i], by_id, flags)
    silences = [0] if at_chat_start else []  # usable positions y after a silence
    for k in range(1, nu):
        a, b = messages[usable_idx[k - 1]], messages[usable_idx[k]]
        if b.time.timestamp() - a.time.timestamp() > RUN_GAP_MINUTES * 60:
            silences.append(k)
    # condition 5: the earliest question quoted by a message at or after c (outside these messages: -1)
    earliest_quoted = [n] * (n + 1)
    for i in range(n - 1, -1, -1):
        m = messages[i]
        e = earliest_quoted[i + 1]
        if m.reply_to and _quoted_question(m, by_id, flags):
            e = min(e, pos.get(m.reply_to, -1))
        earliest_quoted[i] = e
    for c in range(limit, 0, -1):
        if c < n and int(messages[c - 1].time.timestamp()) >= int(messages[c].time.timestamp()):
            continue
        if earliest_quoted[c] < c:
            continue
        p = upos[c]
        s = bisect_right(silences, p - ACK_LOOKBACK) - 1
        if s < 0:
            continue
        y = silences[s]
        lo = y - CUT_QUIET_MESSAGES
        if lo < 0 and not at_chat_start:
            continue
        lo = max(lo, 0)
        if quoters[p] - quoters[y] or any(_asks(messages[usable_idx[k]], flags) for k in range(lo, p)):
            continue
        return c
    return 0 if at_chat_start else None
