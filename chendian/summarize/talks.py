"""Talks (分享): one member holding the floor for a scheduled lecture, found in any chat and made into an article.

Pure: messages and the extract stage's QAs in, Talk records out (the talks stage stores them).

Detection uses signals every group has, not weights fitted to one chat:

floor      a member's own messages, split where they fall silent for FLOOR_GAP_MINUTES, form a run; a run is a
           candidate when it has MIN_TALK_MESSAGES of their messages, lasts MIN_TALK_MINUTES, and the member
           writes most of the text in its window (FLOOR_SHARE of the characters, images counted as lines).
evidence   a talk differs from a long answer or an argument by how it is framed; each kind counts once:
           an announcement before it (今晚8点 … 分享 … 主题), sign-ins (签到), the speaker's opening
           (今天给大家分享 / 第一部分 / 大家好我是), outline markers (一、二、 / 第二部分 / 首先 … 最后),
           slides (the speaker's images and files), a closing (以上 / 谢谢大家 / over / 就到这), the audience's
           thanks for the sharing (感谢分享 / 干货), a host's introduction (有请 / 欢迎 … 分享).
           MIN_EVIDENCE kinds make a talk; an announcement naming the speaker is enough with the floor.
argument   a run where the speaker keeps addressing one person (你 / @) and that person answers back is a dispute,
           not a talk, whatever its length.

Boundaries: the talk starts at the speaker's opening when one follows a pause (a promise like 晚点我来分享 is not
the start), else at the run's first message; it ends at the run's last message. Q&A: the extract stage's questions
asked of the speaker (answered by them, @ them or quoting them) from QA_BEFORE_HOURS before the start to
QA_AFTER_HOURS after the end, and any answered question in the hour after the end.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..model import FILE, IMAGE, QA, RECALL, SYSTEM, TEXT, VIDEO, VOICE, Answer, Message, Talk, stable_id

FLOOR_GAP_MINUTES = 30.0  # a speaker drawing a slide or fetching a file pauses this long without ending the talk
MIN_TALK_MESSAGES = 10
MIN_TALK_MINUTES = 15.0
FLOOR_SHARE = 0.6  # of the characters written in the run's window
IMAGE_CHARS = 40  # a slide counts as a line of text when measuring the floor
VOICE_CHARS = 80  # many talks are given in voice messages: each counts as a told line
MIN_EVIDENCE = 2  # kinds of evidence, at least one of them framing (slides alone are not a talk: photos of a meetup)
MIN_TEXT_LINES = 8  # the speaker's own lines of text: a talk is told, not only shown
MIN_TEXT_CHARS = 300
ANNOUNCE_HOURS = 72.0  # an announcement is looked for this far before the start
INTRO_MINUTES = 45.0  # a host's introduction or sign-ins this far before the start
QA_BEFORE_HOURS = 3.0
QA_AFTER_HOURS = 3.0
ATTACHMENT_HOURS = 2.0  # the speaker's files posted this long after the talk are its slides, added to the article
ADDRESSED_SHARE = 0.3  # of the speaker's lines addressing one person: a dispute
LECTURE_LINE_CHARS = 60  # a speaker's line this long inside the talk is part of the lecture, not a reply
PARAGRAPH_GAP_SECONDS = 300  # a speaker typing a talk line by line pauses minutes between lines
PARAGRAPH_MAX_CHARS = 400

ANNOUNCE_RE = re.compile(r"分享|讲座|主讲|开讲|分享会|沙龙|微课")
# When it will be (a speaker's own 今天给大家分享 is an opening, not an announcement).
ANNOUNCE_WHEN_RE = re.compile(r"今晚|明晚|今夜|晚上|本周|下周|周[一二三四五六日天]|星期|\d{1,2}\s*[点:：]|\d{1,2}月\d{1,2}[日号]")
ANNOUNCE_WHAT_RE = re.compile(r"主题|题目|主讲|嘉宾|分享人|讲师|《|「|“|(?:为|给|和|跟)大家(?:分享|带来|讲)")
TITLE_RES = (
    re.compile(r"《([^》]{2,60})》"),
    re.compile(r"(?:主题|题目)\s*(?:是|为|：|:)\s*[「“\"]?([^」”\"，,。；;！!\n]{2,60})"),
    re.compile(r"[「“]([^」”]{2,60})[」”]"),
    re.compile(r"(?:为|给|和|跟)大家(?:分享|带来|讲讲?|聊聊?)(?:一下|的是)?\s*[:：]?\s*([^，,。；;！!？?\n]{4,40})"),
)
SIGNIN_RE = re.compile(r"^\s*(?:\d{1,3}\s*[号.、]?\s*)?(?:签到|打卡|报到|到)\s*(?:[!！~～。.]|\[[^\]]{1,6}\])*\s*$|^\s*签到\b|签到\s*$")
# The speaker's opening: the talk begins here (a promise such as 晚点我来分享 does not).
OPENING_RE = re.compile(
    r"^第[一1]部分|^一[、.．]|^(?:我们|今天|今晚)?先(?:从|讲|说|来)|今[天晚](?:给大家|跟大家|和大家|我)?.{0,6}(?:分享|讲|聊|介绍)"
    r"|(?:给|跟|和)大家(?:分享|讲|聊|介绍)|(?:分享|讲座)(?:正式)?开始|开始(?:分享|讲|今天的)|分享的?(?:主题|题目)"
    r"|大家好.{0,20}我是|提纲|大纲|目录")
NOT_YET_RE = re.compile(r"稍等|等下|等一下|一会|待会|晚点|回头|改天|下次")
STRUCTURE_RE = re.compile(
    r"^\s*(?:第[一二三四五六七八九十\d]+(?:部分|点|讲|章|节|步|个)|[一二三四五六七八九十]+[、.．]|\d{1,2}[、.．)）]\s*\S"
    r"|首先|其次|然后|接下来|下面|最后|总结|小结)")
CLOSING_RE = re.compile(r"谢谢大家|感谢大家|以上|over\b|就到这|就这样|讲完|分享完|分享到此|结束|有问题.{0,8}(?:交流|问|提|私聊)",
                        re.IGNORECASE)
# A closing that ends the talk proper (以上 alone also closes a section inside it).
FINAL_RE = re.compile(r"谢谢大家|感谢大家|over\b|就到这|分享到此|分享完|讲完了?[。！!]?$|今[天晚]就(?:这样|到这|讲到)|以上就是",
                      re.IGNORECASE)
THANKS_RE = re.compile(r"(?:感谢|谢谢|多谢).{0,10}分享|分享.{0,6}(?:精彩|太棒|受益|干货)|干货|受益匪浅|鼓掌|👏")
HOST_RE = re.compile(r"有请|欢迎.{0,12}(?:分享|老师|嘉宾|主讲)|掌声|(?:分享|讲座)(?:正式)?开始|开始.{0,4}分享|请.{0,10}开始")
FILE_RE = re.compile(r"\.(?:pdf|pptx?|key|docx?|xlsx?|zip|rar|7z|xmind|png|jpe?g)\s*(?:\d+(?:\.\d+)?\s*[KMG]B)?\s*$",
                     re.IGNORECASE)
STICKER_RE = re.compile(r"^\s*(?:\[[^\[\]\s]{1,8}\]|【表情[包]?】.*|[\U0001F300-\U0001FAFF\u2600-\u27BF]|[!！?？~～。.]"
                        r"|[6６]{2,}|厉害|牛|赞|顶|强|好|嗯|哈+|\s)+\s*$")
SECOND_PERSON_RE = re.compile(r"你(?!们)|@")

ROLE_TALK = "talk"  # the speaker's words, slides and files: the article
ROLE_SIGNIN = "signin"
ROLE_STICKER = "sticker"
ROLE_CHATTER = "chatter"  # side talk inside the talk's window
ROLE_QUESTION = "question"  # a question of its Q&A asked inside the window
ROLE_ANSWER = "answer"  # the speaker's short reply to such a question (shown in the Q&A)
ROLE_ANNOUNCEMENT = "announcement"
ROLE_HOST = "host"  # a host's introduction
ROLE_REMOVED = "removed"  # taken out by a person (curation)
LEFT_OUT_ROLES = (ROLE_SIGNIN, ROLE_STICKER, ROLE_CHATTER, ROLE_QUESTION, ROLE_ANSWER, ROLE_HOST, ROLE_REMOVED)


def talk_id(chat: str, first_message_id: str) -> str:
    return stable_id(chat, first_message_id, prefix="k")


def _ts(m: Message) -> float:
    return m.time.timestamp()


def _shown(m: Message) -> bool:
    return not m.recalled and m.kind not in (SYSTEM, RECALL)


def _is_file(m: Message) -> bool:
    return m.kind == FILE or bool(m.text and FILE_RE.search(m.text) and len(m.text) < 200)


def _is_sticker(m: Message) -> bool:
    return m.kind not in (IMAGE, FILE, VOICE, VIDEO) and (not (m.text or "").strip() or bool(STICKER_RE.match(m.text)))


def _weight(m: Message) -> int:
    if m.kind in (IMAGE, VIDEO) or _is_file(m):
        return IMAGE_CHARS
    if m.kind == VOICE:
        return VOICE_CHARS
    return 0 if _is_sticker(m) else len(m.text or "")


def name_parts(name: str) -> list[str]:
    """The parts of a display name worth finding in an announcement: "王磊-SRE" → ["王磊-SRE", "王磊"]."""
    name = re.sub(r"[（(【\[].*?[】\])）]", "", name or "").strip()
    parts = [name] + [p for p in re.split(r"[-_—·|｜\s]+", name) if p != name]
    return [p for p in parts if len(p) >= 2]


def title_from(text: str) -> str:
    for rx in TITLE_RES:
        m = rx.search(text or "")
        if m:
            return m.group(1).strip()
    return ""


OUTLINE_ITEM_RE = re.compile(r"^第[一二三四五六七八九十\d]+(?:部分|讲|章|点)\s*[:：、.．，,]?\s*(\S.{1,40})$")


def outline_title(lines: Sequence[str]) -> str:
    """An outline given up front (第一部分：门店类业务… 第二部分：电商类业务…) names the talk: its items' shared
    ending with their own beginnings listed ("门店、电商类业务库存管理模式")."""
    items = [m.group(1).strip() for t in lines if (m := OUTLINE_ITEM_RE.match(t.strip()))]
    if len(items) < 2:
        return ""
    n = 0
    while n < min(len(i) for i in items) and len({i[len(i) - n - 1] for i in items}) == 1:
        n += 1
    suffix = items[0][len(items[0]) - n:] if n else ""
    if len(suffix) >= 4:
        heads = [i[:len(i) - n] for i in items]
        title = "、".join(dict.fromkeys(h for h in heads if h)) + suffix
        return title if len(title) <= 60 else suffix
    return "、".join(items)[:60]


def _opening_title(text: str) -> str:
    """A title in the speaker's own opening line: 《…》, 主题是…, or the line after 分享/讲 (短)."""
    t = title_from(text)
    if t:
        return t
    m = re.search(r"(?:分享|讲|聊|介绍)(?:一下|的是|的主题是)?\s*[:：]?\s*([^，,。；;！!？?\n]{4,40})$", text.strip())
    if m and not NOT_YET_RE.search(m.group(1)):
        return m.group(1).strip()
    return ""


@dataclass
class _Run:
    speaker: str
    idx: list[int]  # indices into the chat's shown messages


def _floor_runs(msgs: Sequence[Message]) -> list[_Run]:
    """Each member's own messages, split where they fall silent for FLOOR_GAP_MINUTES."""
    last: dict[str, int] = {}
    runs: dict[str, _Run] = {}
    out: list[_Run] = []
    for i, m in enumerate(msgs):
        if _is_sticker(m) and m.kind != IMAGE:
            continue
        j = last.get(m.sender)
        if j is None or _ts(m) - _ts(msgs[j]) > FLOOR_GAP_MINUTES * 60:
            runs[m.sender] = _Run(m.sender, [])
            out.append(runs[m.sender])
        runs[m.sender].idx.append(i)
        last[m.sender] = i
    return [r for r in out if len(r.idx) >= MIN_TALK_MESSAGES]


def _start_index(msgs: Sequence[Message], run: _Run) -> int:
    """Position in run.idx where the talk starts: the opening after a pause, when the run has one early on."""
    half = max(1, len(run.idx) // 2)
    for k in range(half):
        m = msgs[run.idx[k]]
        if m.kind != TEXT or not OPENING_RE.search(m.text.strip()) or NOT_YET_RE.search(m.text):
            continue
        if k == 0 or _ts(m) - _ts(msgs[run.idx[k - 1]]) >= 8 * 60:
            return k
    return 0


def _floor_share(msgs: Sequence[Message], lo: int, hi: int, speaker: str) -> tuple[float, int]:
    mine = other = 0
    for m in msgs[lo:hi + 1]:
        if m.sender == speaker:
            mine += _weight(m)
        else:
            other += _weight(m)
    return (mine / (mine + other) if mine + other else 0.0), mine


@dataclass
class _Candidate:
    speaker: str
    lo: int  # window in the chat's shown messages, inclusive
    hi: int
    evidence: list[str]
    announcement: Message | None
    title: str
    title_source: str
    score: float


def _announcements(msgs: Sequence[Message]) -> list[Message]:
    return [m for m in msgs if m.kind == TEXT and ANNOUNCE_RE.search(m.text) and ANNOUNCE_WHEN_RE.search(m.text)
            and ANNOUNCE_WHAT_RE.search(m.text) and len(m.text) >= 12]


def _evaluate(msgs: Sequence[Message], run: _Run, announcements: list[Message], times: list[float]) -> _Candidate | None:
    k0 = _start_index(msgs, run)
    idx = run.idx[k0:]
    if len(idx) < MIN_TALK_MESSAGES:
        return None
    lo, hi = idx[0], idx[-1]
    start, end = msgs[lo], msgs[hi]
    if _ts(end) - _ts(start) < MIN_TALK_MINUTES * 60:
        return None
    share, _ = _floor_share(msgs, lo, hi, run.speaker)
    if share < FLOOR_SHARE:
        return None
    mine = [msgs[i] for i in idx]
    texts = [m.text.strip() for m in mine if m.kind == TEXT]
    # A dispute: the speaker keeps addressing one person, who answers back.
    others = Counter(m.sender for m in msgs[lo:hi + 1] if m.sender != run.speaker and not _is_sticker(m))
    addressed = sum(1 for t in texts if SECOND_PERSON_RE.search(t)) / max(1, len(texts))
    if others and addressed >= ADDRESSED_SHARE and others.most_common(1)[0][1] >= 3:
        return None

    evidence: list[str] = []
    title, title_source = "", "none"
    names = name_parts(start.sender_name)
    t0 = _ts(start)
    ann = None
    for a in reversed(announcements):
        if _ts(a) >= t0 or t0 - _ts(a) > ANNOUNCE_HOURS * 3600:
            continue
        if a.sender == run.speaker or any(n in a.text for n in names):
            ann = a
            break
        if ann is None and t0 - _ts(a) <= 12 * 3600:
            ann = a  # the nearest one on the day, unless one naming the speaker is found
    if ann is not None:
        evidence.append("announcement")
        title = title_from(ann.text)
        if title:
            title_source = "announcement"
    before = list(msgs[max(bisect_left(times, t0 - INTRO_MINUTES * 60), lo - 60):lo])
    window = msgs[lo:hi + 1]
    signins = [m for m in before + window if m.sender != run.speaker and m.kind == TEXT and SIGNIN_RE.search(m.text)]
    if len(signins) >= 2:
        evidence.append("signin")
    first_lines = [t for t in texts[:5]]
    if any(OPENING_RE.search(t) and not NOT_YET_RE.search(t) for t in first_lines):
        evidence.append("opening")
        if not title:
            title = next((_opening_title(t) for t in first_lines if _opening_title(t)), "") or outline_title(texts[:8])
            title_source = "opening" if title else title_source
    if sum(1 for t in texts if STRUCTURE_RE.search(t)) >= 3:
        evidence.append("outline")
    if sum(1 for m in mine if m.kind == IMAGE or _is_file(m)) >= 2:
        evidence.append("slides")
    if any(CLOSING_RE.search(t) for t in texts[-8:]):
        evidence.append("closing")
    after_end = _ts(end) + 3600
    audience = [m for m in msgs[lo:bisect_right(times, after_end)] if m.sender != run.speaker and m.kind == TEXT]
    if any(THANKS_RE.search(m.text) for m in audience):
        evidence.append("thanks")
    hosts = [m for m in before if m.sender != run.speaker and m.kind == TEXT and HOST_RE.search(m.text)]
    if hosts:
        evidence.append("host")
        if not title:
            title = title_from(hosts[-1].text)
            title_source = "host" if title else title_source
    named = ann is not None and (ann.sender == run.speaker or any(n in ann.text for n in names))
    framing = [e for e in evidence if e != "slides"]
    if not named and (len(evidence) < MIN_EVIDENCE or not framing):
        return None
    lines = [t for t in texts if not STICKER_RE.match(t)]
    voices = sum(1 for m in mine if m.kind == VOICE)
    if len(lines) + voices < MIN_TEXT_LINES or sum(len(t) for t in lines) + voices * VOICE_CHARS < MIN_TEXT_CHARS:
        return None
    if not title:  # the speaker's first line that reads like a heading
        head = next((t for t in texts[:3] if 4 <= len(t) <= 40 and not NOT_YET_RE.search(t)), "")
        title, title_source = (head, "opening") if head else ("", "none")
    score = len(evidence) + share + len(idx) / 100
    return _Candidate(run.speaker, lo, hi, evidence, ann, title, title_source, score)


def detect_talks(messages: Iterable[Message], qas: Sequence[QA] = (), from_ts: float | None = None) -> list[Talk]:
    """Talks in these messages (any number of chats), oldest first, each with its Q&A from `qas`. `from_ts`: only
    the talks whose speaker's run begins then or later (the messages before are context: a `talk_cut`)."""
    by_chat: dict[str, list[Message]] = defaultdict(list)
    for m in sorted(messages, key=lambda m: (m.chat, _ts(m))):
        if _shown(m):
            by_chat[m.chat].append(m)
    qas_by_chat: dict[str, list[QA]] = defaultdict(list)
    for q in qas:
        qas_by_chat[q.chat].append(q)
    out: list[Talk] = []
    for chat, msgs in by_chat.items():
        announcements = _announcements(msgs)
        times = [_ts(m) for m in msgs]
        runs = [r for r in _floor_runs(msgs) if from_ts is None or times[r.idx[0]] >= from_ts]
        cands = [c for r in runs if (c := _evaluate(msgs, r, announcements, times))]
        # Overlapping candidates: the better one keeps its window; the other is cut to what lies outside it.
        cands.sort(key=lambda c: -c.score)
        kept: list[_Candidate] = []
        for c in cands:
            clash = [k for k in kept if not (c.hi < k.lo or c.lo > k.hi)]
            if not clash:
                kept.append(c)
                continue
            # Two talks on one evening: the earlier speaker's run ends where the later talk starts.
            k = clash[0]
            if len(clash) == 1 and c.lo < k.lo:
                hi = max((i for i in range(c.lo, k.lo) if msgs[i].sender == c.speaker), default=c.lo)
                mine = sum(1 for i in range(c.lo, hi + 1) if msgs[i].sender == c.speaker)
                if mine >= MIN_TALK_MESSAGES:
                    c.hi = hi
                    kept.append(c)
            elif len(clash) == 1 and c.lo > k.lo and c.speaker != k.speaker:
                k_hi = max((i for i in range(k.lo, c.lo) if msgs[i].sender == k.speaker), default=k.lo)
                if sum(1 for i in range(k.lo, k_hi + 1) if msgs[i].sender == k.speaker) >= MIN_TALK_MESSAGES:
                    k.hi = k_hi
                    kept.append(c)
        kept.sort(key=lambda c: c.lo)
        used_qas: set[str] = set()
        chat_qas = sorted(qas_by_chat.get(chat, []), key=lambda q: q.ts)
        qa_times = [q.ts for q in chat_qas]
        for n, c in enumerate(kept):
            nxt = kept[n + 1].lo if n + 1 < len(kept) else None
            out.append(_make_talk(msgs, c, chat_qas, qa_times, used_qas, nxt))
    out.sort(key=lambda t: (t.start_ts, t.chat, t.id))
    return out


# -- incremental detection: where a chat's talks from some time on can be found again on their own -----------
#
# A talk is found in its speaker's run, which a silence of everyone longer than FLOOR_GAP_MINUTES ends; it reads
# back ANNOUNCE_HOURS for its announcement and CONTEXT_MESSAGES messages for sign-ins and a promised question, and
# reads forward up to QA_AFTER_HOURS after its run for its Q&A, the audience's thanks and its slides. A talk also
# takes its questions from QA_BEFORE_HOURS before it, and a question goes to the first talk that takes it. So the
# talks from a time T0 on come out as a run over all messages does when:
#   1. everyone fell silent for longer than FLOOR_GAP_MINUTES before T0 (no run crosses T0);
#   2. no run of MIN_TALK_MESSAGES ended within QA_BEFORE_HOURS + QA_AFTER_HOURS before T0: a talk before T0 reads
#      nothing from T0 on, and it takes no question that a talk after T0 could take;
#   3. the messages read reach ANNOUNCE_HOURS and CONTEXT_MESSAGES before T0, and a silence as in 1 lies at least
#      the margin of 2 before T0 (runs after it are whole), or they begin with the chat.
# and the talks before T0 are unchanged when nothing before T0 changed: no message, no question.
CONTEXT_MESSAGES = 220  # a promise looks 200 messages back, and 20 before each of those
TALK_CUT_MARGIN_SECONDS = (QA_BEFORE_HOURS + QA_AFTER_HOURS) * 3600


def talk_cut(messages: Sequence[Message], dirty_ts: float, at_chat_start: bool) -> float | None:
    """The latest time T0 <= dirty_ts from which one chat's talks can be detected again from `messages` (its
    messages from some point to its end, in time order) alone, by detect_talks(..., from_ts=T0); None when
    these messages cannot show one (read more of the chat). `at_chat_start`: they begin with the chat."""
    msgs = [m for m in sorted(messages, key=_ts) if _shown(m)]
    if not msgs:
        return float("-inf") if at_chat_start else None
    times = [_ts(m) for m in msgs]
    ends = sorted(times[r.idx[-1]] for r in _floor_runs(msgs))
    silent = [k for k in range(1, len(msgs)) if times[k] - times[k - 1] > FLOOR_GAP_MINUTES * 60]
    for k in reversed(silent):
        t0 = times[k]
        if t0 > dirty_ts:
            continue
        if bisect_left(ends, t0 - TALK_CUT_MARGIN_SECONDS) != bisect_left(ends, t0):
            continue  # a run ended too close before
        if not at_chat_start and (k < CONTEXT_MESSAGES or times[0] > t0 - ANNOUNCE_HOURS * 3600
                                  or not any(times[s] <= t0 - TALK_CUT_MARGIN_SECONDS for s in silent)):
            continue
        return t0
    return float("-inf") if at_chat_start else None


def _make_talk(msgs: Sequence[Message], c: _Candidate, qas: Sequence[QA], qa_times: list[int], used_qas: set[str],
               next_lo: int | None) -> Talk:
    start, end = msgs[c.lo], msgs[c.hi]
    speaker_name = start.sender_name
    t = Talk(id=talk_id(start.chat, start.id), chat=start.chat, day=start.time.date().isoformat(),
             start_ts=int(_ts(start)), end_ts=int(_ts(end)), speaker=c.speaker, speaker_name=speaker_name,
             title=c.title, title_source=c.title_source, evidence=c.evidence)
    # The talk proper ends at the speaker's closing (以上 / 谢谢大家) when the run goes on after it with the Q&A.
    mine = [i for i in range(c.lo, c.hi + 1) if msgs[i].sender == c.speaker]
    closings = [i for i in mine[int(len(mine) * 0.6):] if msgs[i].kind == TEXT and FINAL_RE.search(msgs[i].text)]
    close_ts = _ts(msgs[closings[0]]) if closings else _ts(end)
    qa_until = _ts(end) + QA_AFTER_HOURS * 3600
    if next_lo is not None:
        qa_until = min(qa_until, _ts(msgs[next_lo]))
    names = name_parts(speaker_name)
    by_id = {m.id: m for m in msgs[c.lo:c.hi + 1]}
    speaker_ids = {m.id for m in msgs[c.lo:c.hi + 1] if m.sender == c.speaker and _ts(m) <= close_ts}
    # A question the speaker answered with a promise (晚点我来分享) before the talk: the talk is the answer.
    promised: set[str] = set()
    for i in range(max(0, c.lo - 200), c.lo):
        m = msgs[i]
        if m.sender == c.speaker and m.kind == TEXT and NOT_YET_RE.search(m.text) and re.search(r"分享|讲", m.text):
            asked = [x for x in msgs[max(0, i - 20):i] if x.sender != c.speaker and _ts(m) - _ts(x) <= 1800]
            promised.update(x.id for x in asked)
    announced = {c.announcement.id} if c.announcement is not None else set()
    qa_list = []
    lo_q = bisect_left(qa_times, _ts(start) - QA_BEFORE_HOURS * 3600)
    window = qas[lo_q:bisect_right(qa_times, qa_until)]
    # Only the question the promise answered: the latest one before it.
    promised = {q.question_id for q in [q for q in window if q.question_id in promised][-1:]}
    for q in window:
        if q.id in used_qas or q.asker == c.speaker or THANKS_RE.search(q.question) or q.question_id in announced or not (_ts(start) - QA_BEFORE_HOURS * 3600 <= q.ts <= qa_until):
            continue
        by_speaker = any(_replies(a.message_ids, q, speaker_ids, by_id) for a in q.answers if a.sender == c.speaker)
        # Before the talk only an @ counts: an announcement names the speaker too.
        to_speaker = any(("@" + n if q.ts < _ts(start) else n) in q.question for n in names)
        after = close_ts < q.ts <= _ts(end) + 3600 and bool(q.answers)
        if by_speaker or to_speaker or after or q.question_id in promised:
            qa_list.append(q)
            used_qas.add(q.id)
    t.qa_ids = [q.id for q in qa_list]
    question_ids = {q.question_id for q in qa_list}
    if c.announcement is not None:
        t.roles[c.announcement.id] = ROLE_ANNOUNCEMENT
    for m in msgs[c.lo:c.hi + 1]:
        if m.sender == c.speaker:
            role = ROLE_STICKER if _is_sticker(m) else ROLE_TALK
        elif m.id in question_ids:
            role = ROLE_QUESTION
        elif m.kind == TEXT and SIGNIN_RE.search(m.text or ""):
            role = ROLE_SIGNIN
        elif _is_sticker(m):
            role = ROLE_STICKER
        else:
            role = ROLE_CHATTER
        t.roles[m.id] = role
    # The speaker's short replies to questions asked during the talk go to the Q&A, not the article.
    for q in qa_list:
        for a in q.answers:
            if a.sender != c.speaker:
                continue
            for mid in a.message_ids:
                m = by_id.get(mid)
                if m is None or t.roles.get(mid) != ROLE_TALK or (
                        len(m.text or "") >= LECTURE_LINE_CHARS and _ts(m) <= close_ts):
                    break
                if CLOSING_RE.search(m.text or ""):
                    continue  # the talk's closing stays in it
                t.roles[mid] = ROLE_ANSWER
    t.message_ids = [m.id for m in msgs[c.lo:c.hi + 1] if t.roles[m.id] == ROLE_TALK]
    if t.message_ids:
        t.end_ts = int(_ts(by_id[t.message_ids[-1]]))
    # The slides shared after the talk (PPT 能发一下吗): the speaker's files within the Q&A's reach, once each.
    shown_files = {(m.text or "").strip() for m in msgs[c.lo:c.hi + 1] if m.id in t.message_ids and _is_file(m)}
    j = c.hi + 1
    while j < len(msgs) and _ts(msgs[j]) <= _ts(end) + ATTACHMENT_HOURS * 3600 and (next_lo is None or j < next_lo):
        m = msgs[j]
        j += 1
        if m.sender == c.speaker and _is_file(m) and (m.text or "").strip() not in shown_files:
            t.roles[m.id] = ROLE_TALK
            t.message_ids.append(m.id)
            shown_files.add((m.text or "").strip())
    # Sign-ins and the host's introduction just before the start are part of the occasion: counted, left out.
    for m in msgs[max(0, c.lo - 60):c.lo]:
        if _ts(start) - _ts(m) <= INTRO_MINUTES * 60 and m.sender != c.speaker and m.kind == TEXT:
            if SIGNIN_RE.search(m.text):
                t.roles.setdefault(m.id, ROLE_SIGNIN)
            elif HOST_RE.search(m.text):
                t.roles.setdefault(m.id, ROLE_HOST)
    return t


REPLY_SECONDS = 120  # a short line of the speaker this soon after a question asked during the talk answers it


def _replies(answer_ids: Sequence[str], q: QA, lecture: set[str], by_id: dict[str, Message]) -> bool:
    """Whether the speaker's answer replies to the question: anything outside the lecture does; inside it, a line
    addressing the asker (你 / @ / a quote) or a short one right after the question (the linking otherwise takes
    the next lecture lines for answers to a side question)."""
    for mid in answer_ids:
        m = by_id.get(mid)
        if mid not in lecture or m is None:
            return True
        text = m.text or ""
        if m.reply_to == q.question_id or "你" in text or (q.asker_name and "@" + q.asker_name in text):
            return True
        if _ts(m) - q.ts <= REPLY_SECONDS and len(text) < 40:
            return True
    return False


# -- curation (chendian/curation.py records it; the talks stage re-applies it on every run) -------------------

def apply_talk_curation(talks: list[Talk], actions: Sequence[dict], messages: dict[str, Message],
                        warn=lambda msg: None) -> None:
    """Re-apply people's decisions in order: talk-title, talk-add, talk-remove, talk-hide, talk-unhide."""
    by_id = {t.id: t for t in talks}
    for act in actions:
        t = by_id.get(act["entry_id"])
        action, value = act["action"], act.get("value") or ""
        if t is None:
            warn(f"curation {action} {act['entry_id']}: no such talk in this run")
            continue
        if action == "talk-title":
            t.title, t.title_source = value, "curated"
        elif action == "talk-hide":
            t.hidden = True
        elif action == "talk-unhide":
            t.hidden = False
        elif action in ("talk-add", "talk-remove"):
            m = messages.get(value)
            if m is None or m.chat != t.chat:
                warn(f"curation {action} {t.id} {value}: no such message in this talk's chat")
                continue
            if action == "talk-add":
                t.roles[value] = ROLE_TALK
            else:
                t.roles[value] = ROLE_REMOVED
            in_talk = [mid for mid, r in t.roles.items() if r == ROLE_TALK and mid in messages]
            t.message_ids = sorted(in_talk, key=lambda mid: (_ts(messages[mid]), mid))


# -- the article ---------------------------------------------------------------------------------------------

AFTERWORD_RE = re.compile(r"^(?:对了|补充|更正|订正|再补充|另外)")  # a correction or an addition after the talk


@dataclass(slots=True)
class Block:
    """One piece of an article: a heading, a paragraph of joined messages, an image or a file."""

    kind: str  # heading | outline (headings in a row, one per line) | paragraph | image | voice | video | file
    text: str
    message_ids: list[str]
    ts: int


def article_blocks(talk: Talk, messages: dict[str, Message]) -> list[Block]:
    """The talk's messages merged into readable paragraphs: consecutive lines of the speaker joined (a pause,
    a slide or an outline marker starts a new paragraph), short outline lines as headings, images and files in place."""
    blocks: list[Block] = []
    cur: Block | None = None
    last_ts = None
    for mid in talk.message_ids:
        m = messages.get(mid)
        if m is None:
            continue
        ts = int(_ts(m))
        if m.kind in (IMAGE, VOICE, VIDEO):
            said = (m.text or "").strip()
            blocks.append(Block(m.kind, "" if m.kind == IMAGE or STICKER_RE.match(said) else said, [mid], ts))
            cur = None
        elif _is_file(m):
            blocks.append(Block("file", (m.extra.get("file_name") if isinstance(m.extra, dict) else None)
                                or m.text.strip(), [mid], ts))
            cur = None
        else:
            text = (m.text or "").strip()
            if not text:
                continue
            if STRUCTURE_RE.search(text) and len(text) <= 30 and not text.endswith(("。", "？", "?")):
                blocks.append(Block("heading", text.rstrip("：:"), [mid], ts))
                cur = None
            elif (cur is None or (last_ts is not None and ts - last_ts > PARAGRAPH_GAP_SECONDS)
                  or STRUCTURE_RE.search(text) or AFTERWORD_RE.search(text) or FINAL_RE.search(text)
                  or len(cur.text) + len(text) > PARAGRAPH_MAX_CHARS):
                cur = Block("paragraph", text, [mid], ts)
                blocks.append(cur)
            else:
                sep = "" if re.search(r"[。！？!?；;：:，,…）)」”]$", cur.text) else "，"
                cur.text += sep + text
                cur.message_ids.append(mid)
        last_ts = ts
    for b in blocks:
        if b.kind == "paragraph" and not re.search(r"[。！？!?…）)」”~～]$", b.text):
            b.text += "。"
    # Headings in a row with nothing between them are the talk's outline, given up front: one list.
    merged: list[Block] = []
    for b in blocks:
        prev = merged[-1] if merged else None
        if b.kind == "heading" and prev is not None and prev.kind in ("heading", "outline"):
            prev.kind = "outline"
            prev.text += "\n" + b.text
            prev.message_ids += b.message_ids
        else:
            merged.append(b)
    return merged



def article_qa(talk: Talk, qas: Sequence[QA], messages: dict[str, Message]) -> list[QA]:
    """The talk's Q&A as the article shows it: the extract stage's questions, thanks left out, each with the
    speaker's answers first. Lines of the lecture itself (long lines of the talk's body) are not replies: the
    answer linking reads them as answers to a question asked during the talk, so they are taken off."""
    body = {mid for mid, r in talk.roles.items() if r == ROLE_TALK}
    out = []
    for q in qas:
        if q.id not in talk.qa_ids or THANKS_RE.search(q.question):
            continue
        answers = []
        for a in q.answers:
            keep = []
            for mid in a.message_ids:
                line = messages[mid].text.strip() if mid in messages else ""
                if mid in body and len(line) >= LECTURE_LINE_CHARS:
                    break  # the reply is over; the lecture went on
                if mid in body:
                    continue  # a short line of the article (its closing): shown there, not twice
                keep.append((mid, line))
            if keep:
                answers.append(Answer([k[0] for k in keep], a.sender, a.sender_name, "\n".join(k[1] for k in keep),
                                      a.score, a.acknowledged))
        if not answers and q.ts >= talk.start_ts and not any(n in q.question for n in name_parts(talk.speaker_name)):
            continue  # (a question asked before the talk and left open there stays: the talk took it up)
        answers.sort(key=lambda a: (a.sender != talk.speaker, -a.score))
        out.append(QA(q.id, q.chat, q.thread_id, q.question_id, q.question, q.asker, q.asker_name, q.ts, answers,
                      q.score))
    return out


def lecture_questions(qas: Sequence[QA], talks: Sequence[Talk]) -> set[str]:
    """Ids of the QAs whose question is a line of a talk's article: the speaker's "今天给大家分享一下…怎么…" is a
    question in form that asks nobody. (A stored QA knows its first message only.)"""
    body = {mid for t in talks for mid, r in t.roles.items() if r == ROLE_TALK}
    return {q.id for q in qas if q.question_id in body}


def qas_for_faq(qas: Sequence[QA], talks: Sequence[Talk], messages: dict[str, Message]) -> list[QA]:
    """The questions the FAQ is built from, with what talks taught the answer linking: lines of a lecture are not
    answers to a side question asked during it (taken off, as in the article), and a hidden talk's Q&A stays in
    the group with it (left out). `messages` needs the talks' body messages."""
    body = {mid for t in talks for mid, r in t.roles.items() if r == ROLE_TALK}
    withheld = {q for t in talks if t.hidden for q in t.qa_ids}
    out = []
    for q in qas:
        if q.id in withheld:
            continue
        if not any(mid in body for a in q.answers for mid in a.message_ids):
            out.append(q)
            continue
        answers = []
        for a in q.answers:
            keep = []
            for mid in a.message_ids:
                if mid in body and len((messages[mid].text if mid in messages else "") or "") >= LECTURE_LINE_CHARS:
                    break
                keep.append(mid)
            if len(keep) == len(a.message_ids):
                answers.append(a)
            elif keep:
                lines = [(messages[mid].text or "").strip() for mid in keep if mid in messages]
                answers.append(Answer(keep, a.sender, a.sender_name, "\n".join(lines), a.score, a.acknowledged))
        out.append(QA(q.id, q.chat, q.thread_id, q.question_id, q.question, q.asker, q.asker_name, q.ts, answers,
                      q.score))
    return out
