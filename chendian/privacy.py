"""Privacy on publish: personal numbers and addresses masked, names shown as configured.

Every piece of text that leaves the workspace for the site (messages, questions, answers, digests, names,
the search index) or through search (the CLI's and the HTTP API's hits) goes through `Privacy.text()`; every
person goes through `Privacy.name()`. It sits beside the rooms, not in site/, because search needs it too.

Masked: mainland mobile numbers (with or without +86 and separators), landlines with an area code, e-mail
addresses (also written "name @ domain.com" or "name(at)domain.com"), 18-digit ID-card numbers whose check
character is right, 16–19 digit bank-card numbers that pass the Luhn check, any number of 8+ digits right
after 身份证/银行卡/卡号/账号/手机 whatever its checksum, WeChat ids (wxid_…, or after 微信号/vx) and QQ numbers
after their label (QQ号 12345678). Full-width digits count as digits (people type them on phones).
`chendian audit` (site/audit.py) looks for leaks with the same detectors (find_personal).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from .summarize.qa.insights import name_without_team
from .summarize.text.patterns import EMAIL_RE

NAME_MODES = ("real", "pseudonym", "initials")

# Full-width digits and separators map 1:1 onto ASCII, so a match found in the folded copy has the same span
# in the original text.
_FOLD_DIGITS = str.maketrans("０１２３４５６７８９＋－（）　＠Ｘｘ", "0123456789+-() @Xx")

# Shared with the digest, which must keep addresses whole for this masking to find them.
# 18-digit ID card: 6-digit region, birth date, 3-digit sequence, check character.
_ID_CARD_RE = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")
# Bank cards: 16–19 digits, optionally in groups separated by a space or a hyphen.
_BANK_CARD_RE = re.compile(r"(?<![\d\-])\d(?:[ \-]?\d){15,18}(?![\d\-])")
# Mainland mobile: optional +86/0086/86, then 1[3-9] and nine digits, with optional separators (3-4-4).
_MOBILE_RE = re.compile(
    r"(?<!\d)(?:(?:\+|00)?86[ \-]?)?(1[3-9]\d)[ \-]?(\d{4})[ \-]?(\d{4})(?!\d)"
)
# Landline: area code 0xx/0xxx (optionally in parentheses) + 7–8 digits, optional extension.
_LANDLINE_RE = re.compile(
    r"(?<!\d)(?:\+?86[ \-]?)?(?:\((0\d{2,3})\)|(0\d{2,3}))[ \-]?(\d{3,4})[ \-]?(\d{4})(?:[ \-]?(?:转|ext\.?|x)\s?\d{1,5})?(?!\d)"
)

# A number right after a word that says whose number it is (身份证号是 …, 卡号：…) is masked whatever its checksum:
# people mistype a digit, and the label, not the checksum, says it is personal. At most a few characters between
# (号码是：), none of them a digit or sentence punctuation; at least 8 digits (卡号后四位 1234 identifies no one).
_LABELLED_RE = re.compile(
    r"(身份证|银行卡|卡号|账号|帐号|手机)[^\d\n，。；;！!？?]{0,6}?(?<![\d\-])(\d(?:[ \-]?\d){7,22}(?:[ \-]?[Xx])?)(?![\dXx])"
)
_LABEL_MASKS = {"身份证": "[身份证号已隐藏]", "银行卡": "[银行卡号已隐藏]", "卡号": "[银行卡号已隐藏]",
                "账号": "[账号已隐藏]", "帐号": "[账号已隐藏]", "手机": "[手机号已隐藏]"}

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_card_valid(number: str) -> bool:
    """GB 11643 check character of an 18-digit resident ID number."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# An address written around the filters: spaces around the @, or "(at)", between the local part and the domain.
_SPACED_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+(?:\s+[@＠]\s+|\s*[(\[（]at[)\]）]\s*)"
    r"[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9])", re.IGNORECASE)
# WeChat: the internal id (wxid_…) anywhere, and a custom WeChat id (6–20 characters, a letter first) after its label.
_WXID_RE = re.compile(r"(?<![A-Za-z0-9_])wxid_[A-Za-z0-9_\-]{4,40}", re.IGNORECASE)
_WECHAT_LABELLED_RE = re.compile(r"(?:微信号|微信ID|微信id|(?<![A-Za-z])[vVwW][xX]号?|[vV]信号?)(?![A-Za-z])\s*[:：是为]?\s*([A-Za-z][A-Za-z0-9_\-]{5,19})(?![A-Za-z0-9_\-])")
# QQ numbers (5–11 digits) after their label; a QQ group's number (QQ群) is not a person's.
_QQ_LABELLED_RE = re.compile(r"(?:(?<![A-Za-z])[Qq]{2}(?!群)|扣扣|企鹅号)\s*(?:号码?)?\s*[:：是为]?\s*([1-9]\d{4,10})(?!\d)")

# The kinds of personal data find_personal() reports (the audit prints them).
KINDS = ("email", "id_card", "bank_card", "account", "mobile", "landline", "wechat_id", "qq")
_LABEL_KINDS = {"身份证": "id_card", "银行卡": "bank_card", "卡号": "bank_card", "账号": "account", "帐号": "account",
                "手机": "mobile"}


# What every detector of find_personal needs somewhere in the text: a digit (full-width ones are digits too), an @,
# a WeChat label (its x may be full-width: folded first) or an "(at)". Most chat text has none of them, and one
# search for them costs a tenth of the nine detectors: a night's publish masks every question and answer of the
# site, and its audit scans every attribute value of the pages it renders.
_MAYBE_PERSONAL_RE = re.compile(r"\d|[@＠]|[vVwW][xXＸｘ]|[vV]信|微信|[(\[（][aA][tT][)\]）]")


def find_personal(text: str, star: str = "*") -> list[tuple[int, int, str, str]]:
    """Personal numbers and addresses in `text`: sorted, non-overlapping (start, end, kind, masked form).

    The one detector behind both the masking on publish (mask_text) and `chendian audit` (site/audit.py).
    kind is one of KINDS, or "" for a span kept as it is (a card-like number failing Luhn: an order number).
    """
    if not text or not _MAYBE_PERSONAL_RE.search(text):
        return []
    return _find_all(text, star)


def _find_all(text: str, star: str) -> list[tuple[int, int, str, str]]:
    folded = text.translate(_FOLD_DIGITS)
    spans: list[tuple[int, int, str, str]] = []  # first rule wins

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _, _ in spans)

    for m in EMAIL_RE.finditer(folded):
        spans.append((m.start(), m.end(), "email", "[邮箱已隐藏]"))
    for m in _SPACED_EMAIL_RE.finditer(folded):
        if free(m.start(), m.end()):
            spans.append((m.start(), m.end(), "email", "[邮箱已隐藏]"))
    for m in _WXID_RE.finditer(folded):
        if free(m.start(), m.end()):
            spans.append((m.start(), m.end(), "wechat_id", "[微信号已隐藏]"))
    for m in _ID_CARD_RE.finditer(folded):
        if free(m.start(), m.end()) and id_card_valid(m.group(0)):
            spans.append((m.start(), m.end(), "id_card", "[身份证号已隐藏]"))
    for m in _LABELLED_RE.finditer(folded):
        start, end = m.span(2)
        label = m.group(1)
        if label == "手机" and _MOBILE_RE.fullmatch(m.group(2)):
            continue  # a real mobile number: the mobile rule below masks it the usual way (138****5678)
        if free(start, end):
            spans.append((start, end, _LABEL_KINDS[label], _LABEL_MASKS[label]))
    for m in _QQ_LABELLED_RE.finditer(folded):
        start, end = m.span(1)
        if free(start, end) and not _MOBILE_RE.fullmatch(m.group(1)):
            spans.append((start, end, "qq", "[QQ号已隐藏]"))
    for m in _WECHAT_LABELLED_RE.finditer(folded):
        start, end = m.span(1)
        if free(start, end):
            spans.append((start, end, "wechat_id", "[微信号已隐藏]"))
    for m in _BANK_CARD_RE.finditer(folded):
        digits = re.sub(r"\D", "", m.group(0))
        if free(m.start(), m.end()) and 16 <= len(digits) <= 19:
            # A card-like number that fails Luhn (an order number) stays, and no phone rule may bite into it.
            if luhn_valid(digits):
                spans.append((m.start(), m.end(), "bank_card", "[银行卡号已隐藏]"))
            else:
                spans.append((m.start(), m.end(), "", text[m.start():m.end()]))
    for m in _MOBILE_RE.finditer(folded):
        if free(m.start(), m.end()):
            spans.append((m.start(), m.end(), "mobile", f"{m.group(1)}{star * 4}{m.group(3)}"))
    for m in _LANDLINE_RE.finditer(folded):
        if free(m.start(), m.end()):
            area = m.group(1) or m.group(2)
            spans.append((m.start(), m.end(), "landline", f"{area}-{star * 4}{m.group(4)}"))
    return sorted(spans)


def mask_text(text: str, star: str = "*") -> str:
    """The text with phone numbers, e-mail addresses, ID-card and bank-card numbers, WeChat and QQ ids masked.

    `star` is the masking character as it must be written in the target syntax (r"\\*" inside Markdown).
    Masked again until nothing is found, as the audit reads the result: a long digit run (an xrandr modeline)
    may hide a second card-like number that only stands alone once the first is masked.
    """
    for _ in range(4):
        spans = find_personal(text, star)
        if not spans or all(kind == "" for _, _, kind, _ in spans):
            return text
        out, last = [], 0
        for start, end, _kind, replacement in spans:
            out.append(text[last:start])
            out.append(replacement)
            last = end
        out.append(text[last:])
        text = "".join(out)
    return text


def pseudonym(sender: str) -> str:
    """A stable pseudonym for a sender id: the same person gets the same one on every page and every run."""
    return "成员-" + hashlib.blake2b(sender.encode("utf-8"), digest_size=3).hexdigest()


def initials(name: str) -> str:
    """张三 → ZS, John Smith → JS; the pinyin of Chinese characters, the first letter of other words."""
    from pypinyin import Style, lazy_pinyin

    letters = []
    for part in lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default"):
        for word in re.findall(r"[A-Za-z]+|\d+", part):
            letters.append(word[0].upper())
    return "".join(letters)[:4] or "?"


# A display name often carries a tag after the name (王磊-SRE, 周敏（群管理员）) while colleagues write the name alone.
_NAME_TAG_RE = re.compile(r"\s*(?:[-－—]|[（(\[【]).*$", re.DOTALL)


def name_variants(real: str) -> list[str]:
    """How a display name may appear in text: as it is, without its tag (王磊-SRE → 王磊), and without a
    department before it (大数据-张三 → 张三)."""
    variants = [real]
    base = _NAME_TAG_RE.sub("", real).strip()
    if base != real and len(base) >= 2:
        variants.append(base)
    person = name_without_team(real)  # "产品-李四": the name is after the department (李四 in "谢谢李四")
    if person and len(person) >= 2 and person not in variants:
        variants.append(person)
    return variants


def names_pattern(names: Iterable[str]) -> re.Pattern | None:
    """One pattern for real names inside text (the rewriting here, the audit's check): longest first (张三丰
    before 张三); a Latin name only as a whole word (Tom is no one inside "Tomorrow")."""
    ordered = sorted(set(names), key=len, reverse=True)
    if not ordered:
        return None
    return re.compile("|".join(rf"(?<![A-Za-z]){re.escape(n)}(?![A-Za-z])" if n.isascii() else re.escape(n)
                               for n in ordered))


class Privacy:
    """The site's privacy policy: one instance per build, so that every page shows a person the same way."""

    def __init__(self, names: str = "real", known: Iterable[tuple[str, str]] = ()):
        if names not in NAME_MODES:
            raise ValueError(f"site.names must be one of {', '.join(NAME_MODES)}, not {names!r}")
        self.mode = names
        self._display: dict[str, str] = {}
        # Real display name → shown name, to rewrite names inside free text (@mentions, digests).
        self._rewrite: dict[str, str] = {}
        self._rewrite_base: dict[str, str] = {}  # 王磊 → 王磊-SRE's shown name; a person's full name wins over it
        self._rewrite_re: re.Pattern | None = None
        self._frozen = False
        for sender, name in known:
            self.name(sender, name)

    def freeze(self) -> None:
        """Names met from now on are shown as configured but no longer rewritten inside other text: every page
        then rewrites with the same names, whatever order the pages are built in (a page rebuilt alone on a
        later night reads as it does in a full build)."""
        self._frozen = True

    @property
    def frozen(self) -> bool:
        return self._frozen

    def rewrite_key(self) -> str:
        """A digest of the names rewritten inside text (empty under real names): pages built under the same key
        rewrite alike."""
        if not self._rewrite and not self._rewrite_base:
            return ""
        h = hashlib.blake2b(digest_size=16)
        for real, shown in sorted({**self._rewrite_base, **self._rewrite}.items()):
            h.update(f"{real}\x1f{shown}\x1e".encode("utf-8"))
        return h.hexdigest()

    def name(self, sender: str | None, name: str | None = None) -> str:
        """How a person is shown on the site."""
        sender = sender or name or "?"
        key = f"{sender}\x1f{name or ''}"
        shown = self._display.get(key)
        if shown is not None:
            return shown
        real = (name or sender).strip()
        if self.mode == "pseudonym":
            shown = pseudonym(sender)
        elif self.mode == "initials":
            # Initials alone collide (张三 and 周松 are both ZS); a short tag from the id keeps people apart.
            shown = f"{initials(mask_text(real))}·{hashlib.blake2b(sender.encode('utf-8'), digest_size=1).hexdigest()}"
        else:
            shown = mask_text(real)
        self._display[key] = shown
        if self._frozen:
            return shown
        if self.mode != "real" and len(real) >= 2 and real not in self._rewrite:
            self._rewrite[real] = shown
            self._rewrite_re = None
        if self.mode != "real":
            for base in name_variants(real)[1:]:
                self._rewrite_base.setdefault(base, shown)
                self._rewrite_re = None
        return shown

    def names_in_text(self, text: str) -> str:
        """Replace the real names of known people inside free text (only when names are not shown as is)."""
        if not self._rewrite or not text:
            return text
        if self._rewrite_re is None:
            self._rewrite_all = {**self._rewrite_base, **self._rewrite}
            self._rewrite_re = names_pattern(self._rewrite_all)
        return self._rewrite_re.sub(lambda m: self._rewrite_all[m.group(0)], text)

    def text(self, text: str | None, star: str = "*") -> str:
        """Published form of a piece of chat-derived text: names rewritten, numbers and addresses masked."""
        if not text:
            return ""
        return mask_text(self.names_in_text(text), star=star)
