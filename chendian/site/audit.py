"""`chendian audit`: look for personal data that got through to a built site or book.

Scans the pages (HTML text and attribute values, the JSON strings of JS data files, Markdown/text files, the
XHTML inside EPUB files and the text of PDF files through poppler's `pdftotext` when it is installed) with
the detectors the masking itself uses (privacy.find_personal): a value that masking would still change is a
leak, a masked one (138****5678, [身份证号已隐藏]) is not. Under `[site] names = "pseudonym"|"initials"` the
real display names of the workspace's senders are leaks too.

Findings never carry the leaked value whole: the excerpt shows it redacted (the masked form, or its first
and last characters) inside a little masked context.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ChendianError
from .browser_index import BLOB_RE, read_shard_text
from .htmltext import BLOCK_BREAK, clean_reading, page_text
from .pool import ordered_map
from .. import privacy
from ..privacy import find_personal, mask_text, name_variants, names_pattern
from .student import MAX_WORD_CHARS

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
TEXT_SUFFIXES = {".md", ".txt"}
JS_SUFFIXES = {".js", ".json"}
EXCERPT_CONTEXT = 12
# The site's own code (assets/search.js) and styles hold no chat text.
SKIPPED_PARTS = {"assets"}

# Stable ids (model.stable_id: a letter or two, then 20 hex digits) fill the site's URLs; their digit runs look
# like phone numbers (t…16727562615…). A token of 16+ hex digits with a letter among them is an id, not data.
_HEX_ID_RE = re.compile(r"(?<![0-9A-Za-z])[A-Za-z]{0,3}(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{16,}(?![0-9A-Za-z])")
_JS_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')


class LeakError(ChendianError, RuntimeError):
    """A freshly built site holds personal data: it is not published."""


@dataclass(frozen=True)
class Finding:
    file: str  # relative to the audited folder; "book.epub!OEBPS/ch1.xhtml" inside an archive
    line: int
    kind: str  # privacy.KINDS, or "name"
    excerpt: str  # masked: the leaked value never appears whole

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.excerpt}"


@dataclass
class AuditReport:
    root: Path
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    skipped: list[str] = field(default_factory=list)  # "file (why)"
    unchanged: int = 0  # files passed over because the previous, audited site had them as they are

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for f in self.findings:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        by_kind = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return (f"{len(self.findings)} finding(s) in {self.files} file(s){skipped}"
                + (f": {by_kind}" if by_kind else ""))


def redact(value: str, kind: str = "") -> str:
    """A leaked value shown without giving it away: enough of it to find it, never all of it."""
    if kind == "email" and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local.strip()[:1]}***@{domain.strip()}"
    if kind == "wechat_id" and len(value) > 8:
        return value[:5] + "***" + value[-2:]
    masked = mask_text(value)
    if masked != value:
        return masked
    if len(value) <= 2:
        return value[0] + "*"
    keep = 1 if len(value) < 8 else 2
    return value[:keep] + "*" * min(len(value) - 2 * keep, 8) + value[-keep:]


class _Names:
    """Real display names that must not appear (pseudonym/initials mode), matched as Privacy.names_in_text does."""

    def __init__(self, names: Iterable[str]):
        # Privacy only rewrites names of two or more characters; a shorter one would match everywhere.
        wanted = {v for n in names if n and len(n.strip()) >= 2 for v in name_variants(n.strip())}
        self.pattern = names_pattern(wanted)
        # Strings _scan_text found nothing in under these names: texts, attribute values and search terms recur
        # across a night's files, and the scan of a string alone depends on nothing else.
        self.clean: set[str] = set()
        # all_clean() joins strings with block breaks; no name may hold one's characters to match across it.
        self.joinable = not any("\n" in v or "\x00" in v for v in wanted)

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        if self.pattern is not None:
            for m in self.pattern.finditer(text):
                yield m.start(), m.end()


def _blank_ids(text: str) -> str:
    return _HEX_ID_RE.sub(lambda m: "x" * len(m.group(0)), text)


def _scan_text(text: str, names: _Names) -> Iterator[tuple[int, str, str]]:
    """(offset, kind, excerpt) for every leak in one piece of text."""
    scanned = _blank_ids(text)
    hits = [(s, e, kind) for s, e, kind, _ in find_personal(scanned) if kind]
    taken = [(s, e) for s, e, _ in hits]
    for s, e in names.find(scanned):
        if all(e <= a or s >= b for a, b in taken):
            hits.append((s, e, "name"))
    hits.sort()
    for start, end, kind in hits:
        yield start, kind, _excerpt(text, hits, start, end)


def _excerpt(text: str, hits: list[tuple[int, int, str]], start: int, end: int) -> str:
    """The finding in a little context, every leak in that context redacted too (the finding in ⟦⟧)."""
    lo, hi = max(0, start - EXCERPT_CONTEXT), min(len(text), end + EXCERPT_CONTEXT)
    out, at = [], lo
    for s, e, kind in hits:
        if e <= lo or s >= hi:
            continue
        s_, e_ = max(s, at), e
        out.append(mask_text(text[at:s_]))
        shown = redact(text[s:e], kind)
        out.append(f"⟦{shown}⟧" if (s, e) == (start, end) else shown)
        at = e_
    out.append(mask_text(text[at:max(at, hi)]))
    return "…" + re.sub(r"\s+", " ", "".join(out)) + "…"


def all_clean(strings: Iterable[str], names: _Names, vouched: Callable[[], set[str]] | None = None) -> bool:
    """Whether _scan_text finds nothing in any of `strings`, scanning the ones not known clean as one text.

    Exact because no match of a detector (privacy.find_personal, EMAIL_RE, the names) and no site id
    (_HEX_ID_RE) can span a block break "\\n\\x00": only \\s reads a line break, and nothing after a \\s
    in any of those patterns reads a NUL, nor does any of them end in \\s; their lookarounds ([^…] and the
    like) read the break's NUL and line break as they read the start and the end of a text; the detectors
    all need a digit, @, a WeChat or "(at)" mark that the gate of find_personal sees (_MAYBE_PERSONAL_RE). So
    the scan of texts joined by block breaks finds nothing exactly when the scan of each finds nothing
    (tests/test_audit_scan.py holds it to that).

    `vouched()`: strings known clean besides (those of the same page in the audited site the build replaces),
    asked for only when some string is not known clean yet."""
    if not names.joinable:
        return all(not any(True for _ in _scan_text(s, names)) for s in set(strings))
    novel = set(strings)
    novel -= names.clean
    novel.discard("")
    if novel and vouched is not None:
        novel -= vouched()
    if not novel:
        return True
    for _ in _scan_text(BLOCK_BREAK.join(novel), names):
        return False
    if len(names.clean) + len(novel) > _CLEAN_MEMO_MAX:
        names.clean.clear()
    names.clean |= novel
    return True


_CLEAN_MEMO_MAX = 2_000_000


def _scan_html(data: str, names: _Names, vouched: Callable[[], set[str]] | None = None
               ) -> Iterator[tuple[int, str, str]]:
    # A page whose text and attribute values hold nothing is clean, however HTMLParser would order and place
    # them: the fast reading (htmltext.py) decides that. A page it does not read, or one where it finds
    # anything, is read by HTMLParser for the findings with their lines and excerpts.
    strings = _html_strings(data)
    if strings is not None and all_clean(strings, names, vouched):
        return
    yield from _scan_html_exact(data, names)


def _html_strings(data: str) -> list[str] | None:
    """The pieces of a page's text between block breaks and its attribute values, by the fast reading."""
    fast = clean_reading(data)
    if fast is None:
        return None
    text, values = fast
    strings = text.split(BLOCK_BREAK)
    strings += values
    return strings


def _scan_html_exact(data: str, names: _Names) -> Iterator[tuple[int, str, str]]:
    page = page_text(data)
    for offset, kind, excerpt in _scan_text(page.text(), names):
        yield page.line_of(offset), kind, excerpt.replace("\x00", "")
    # A page repeats its attribute values (class names, the same links) thousands of times: a value found clean
    # once is clean wherever it stands (the scan reads the value alone), so it is scanned once per page.
    clean: set[str] = set()
    for line, value in page.pieces:
        if value in clean:
            continue
        found = False
        for _offset, kind, excerpt in _scan_text(value, names):
            found = True
            yield line, kind, excerpt
        if not found:
            clean.add(value)


def _scan_js(data: str, names: _Names, vouched: Callable[[], set[str]] | None = None
             ) -> Iterator[tuple[int, str, str]]:
    """The JSON string literals of a data file (window.X = {...}), decoded (\\u escapes and all)."""
    if all_clean(_js_file_strings(data), names, vouched):
        return  # what the scan below reads one by one, found clean at once
    if data.startswith(_TERM_SHARD_PREFIX):
        shard = _term_shard(data)
        if shard is not None:
            yield from _scan_term_shard(shard, names)
            return
    if data.startswith(_VECTORS_PREFIX):
        data = _without_vector_blobs(data)
    for m in _JS_STRING_RE.finditer(data):
        try:
            value = json.loads(m.group(0))
        except ValueError:
            value = m.group(0)[1:-1]
        line = data.count("\n", 0, m.start()) + 1
        if _is_term_list(value):
            # The browser search's vocabulary: sorted words, one per line. Each word is scanned alone; two
            # neighbours are not a sentence ("wx" then "wxpay…" is no labelled WeChat id).
            for term in value.split("\n"):
                for _offset, kind, excerpt in _scan_text(term, names):
                    yield line, kind, excerpt
            continue
        for offset, kind, excerpt in _scan_text(value, names):
            yield line + value.count("\n", 0, offset), kind, excerpt


def _js_file_strings(data: str) -> list[str]:
    """What _scan_js scans one by one in a data file."""
    if data.startswith(_TERM_SHARD_PREFIX):
        shard = _term_shard(data)
        if shard is not None:
            return _term_shard_strings(shard)
    if data.startswith(_VECTORS_PREFIX):
        data = _without_vector_blobs(data)
    return list(_js_strings(data))


def _js_strings(data: str) -> Iterator[str]:
    """The strings _scan_js scans one by one in `data`: each decoded literal, or each word of a term list."""
    for literal in _JS_STRING_RE.findall(data):
        if "\\" in literal:
            try:
                value = json.loads(literal)
            except ValueError:
                value = literal[1:-1]
        else:
            value = literal[1:-1]  # json.loads gives the same or refuses a raw control character (then this)
        if "\n" in value and _is_term_list(value):
            yield from value.split("\n")
        else:
            yield value


_VECTORS_PREFIX = "window.CHENDIAN_VECTORS = "
# search-vectors.js's quantised numbers (site/student.py vectors_payload), each in standard base64: at 100k
# entries they are megabytes of random letters and digits, where "QQ" followed by five digits turns up by chance
# (a false finding stopped publish on an 80k-message workspace). They are checked to be base64 and nothing else.
_VECTOR_BLOB_KEYS = ("idf", "table", "entries")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _without_vector_blobs(data: str) -> str:
    """search-vectors.js with its number blobs emptied when they are plain base64 (else the file as it is)."""
    try:
        body = data[len(_VECTORS_PREFIX):].rstrip().rstrip(";")
        payload = json.loads(body)
    except ValueError:
        return data
    if not isinstance(payload, dict):
        return data
    for key in _VECTOR_BLOB_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and len(value) % 4 == 0 and _BASE64_RE.fullmatch(value):
            payload[key] = ""
    return _VECTORS_PREFIX + json.dumps(payload, ensure_ascii=False) + ";\n"


_TERM_SHARD_PREFIX = 'CHENDIAN_SHARD("t",'


def _term_shard(data: str) -> dict | None:
    """A term shard of the site's search index (browser_index.py), when the file is one."""
    try:
        kind, _, shard = read_shard_text(data)
    except ValueError:
        return None
    if kind != "t" or not isinstance(shard, dict) or not all(isinstance(shard.get(k), str) for k in ("terms", "data")):
        return None
    return shard


def _term_shard_strings(shard: dict) -> list[str]:
    """The strings _scan_term_shard scans one by one."""
    strings = shard["terms"].split("\n")
    if not BLOB_RE.fullmatch(shard["data"]):
        strings.append(shard["data"])
    return strings


def _scan_term_shard(shard: dict, names: _Names) -> Iterator[tuple[int, str, str]]:
    """Each term alone (a term is a word or two characters of published text; neighbours are not a sentence);
    the postings blob is numbers written in BLOB_ALPHABET, where no digit, '@', '_' or CJK can be: it holds
    nothing a detector looks for, and is scanned as text only if it holds anything else."""
    for term in shard["terms"].split("\n"):
        for _offset, kind, excerpt in _scan_text(term, names):
            yield 1, kind, excerpt
    if not BLOB_RE.fullmatch(shard["data"]):
        for _offset, kind, excerpt in _scan_text(shard["data"], names):
            yield 1, kind, excerpt


def _is_term_list(value: str) -> bool:
    """A newline-joined list of single words (no spaces), as site/student.py writes its vocabulary."""
    return value.count("\n") >= 10 and not re.search(r"[ \t]", value) and \
        max(map(len, value.split("\n"))) <= 2 * MAX_WORD_CHARS


def _scan_plain(data: str, names: _Names) -> Iterator[tuple[int, str, str]]:
    for offset, kind, excerpt in _scan_text(data, names):
        yield data.count("\n", 0, offset) + 1, kind, excerpt


def _scanner(name: str):
    suffix = os.path.splitext(name.lower())[1]
    if suffix in HTML_SUFFIXES:
        return _scan_html
    if suffix in JS_SUFFIXES:
        return _scan_js
    if suffix in TEXT_SUFFIXES:
        return _scan_plain
    return None


def audit_site(root: str | os.PathLike, names: Iterable[str] = (),
               trusted: Callable[[Path, str, int], bool] | None = None, workers: int = 1) -> AuditReport:
    """Scan every page under `root` (a built site or a book folder). `names`: real names that must not appear.
    `trusted(path, rel, inode)`: files that need no scan (the same as in a site that passed this audit before).
    `workers`: processes the files are scanned in (pool.ordered_map); the report is the same whatever the number."""
    root = Path(root)
    report = AuditReport(root=root)
    matcher = _Names(names)

    bulk = getattr(trusted, "inodes", None)  # same_page's: a folder of the previous site at once
    previous = getattr(trusted, "previous", None)  # same_page's: the audited site, whose pages vouch for strings

    def wanted() -> Iterator[tuple[Path, str]]:
        # In path order (by parts, as sorted Paths compare: a folder's entries by name, depth first). A page the
        # build linked from the previous site is known by the inode its directory entry carries, a folder at a
        # time: a night links almost all of a big site's pages, and per-page Python work is what it costs.
        def visit(folder: str, prefix: str) -> Iterator[tuple[Path, str]]:
            with os.scandir(folder) as it:
                entries = list(it)
            before = bulk(folder, prefix) if bulk is not None else {}
            if before:
                # The entries of the previous site's folder with the same name and inode are its very files (a
                # folder is never one: the build makes its own), found with set operations rather than a Python
                # step per entry; only the rest are looked at one by one.
                names = list(map(_entry_name, entries))
                now = set(zip(names, map(os.DirEntry.inode, entries)))
                changed = now - before.items()
                if len(changed) < len(now):
                    report.unchanged += _audited_count(names) - _audited_count(name for name, _ in changed)
                    by_name = dict(zip(names, entries))
                    entries = [by_name[name] for name, _ in changed]
                    before = {}
            for entry in sorted(entries, key=_entry_name):
                name = entry.name
                if entry.is_dir(follow_symlinks=False):  # as rglob: no descent into linked folders
                    if name not in SKIPPED_PARTS:
                        yield from visit(entry.path, f"{prefix}{name}/")
                    continue
                scanned = os.path.splitext(name)[1].lower() in _AUDITED_SUFFIXES
                if before and before.get(name) == entry.inode():
                    report.unchanged += scanned  # the very file of the published, audited site
                    continue
                if not scanned or not entry.is_file():
                    continue  # nothing a reader sees (the build's page keys)
                rel = prefix + name
                if trusted is not None and trusted(Path(entry.path), rel, entry.inode()):
                    report.unchanged += 1
                    continue
                yield Path(entry.path), rel

        yield from visit(str(root), "")

    for found, skipped, scanned in ordered_map(lambda job: _scan_file(*job, matcher, previous), wanted(), workers):
        report.findings.extend(found)
        report.skipped.extend(skipped)
        report.files += scanned
    return report


_AUDITED_SUFFIXES = HTML_SUFFIXES | TEXT_SUFFIXES | JS_SUFFIXES | {".epub", ".pdf"}


_entry_name = operator.attrgetter("name")


def _audited_count(names: Iterable[str]) -> int:
    """How many of `names` (file names: no "/") have an audited suffix as os.path.splitext reads it, counted
    in one string: a suffix then "/" ends a name."""
    names = list(names)
    joined = "/" + "/".join(names).lower() + "/"
    count = sum(joined.count(suffix + "/") for suffix in _AUDITED_SUFFIXES)
    if "/." in joined:  # splitext gives ".html" no suffix: a name of dots and a suffix is no page
        count -= sum(1 for name in names if name.startswith(".") and not os.path.splitext(name)[1]
                     and name.lower().endswith(tuple(_AUDITED_SUFFIXES)))
    return count


def _scan_file(path: Path, rel: str, matcher: _Names, previous: Path | None = None
               ) -> tuple[list[Finding], list[str], int]:
    """One file's findings, what could not be read (\"file (why)\"), and 1 when it was scanned. `previous`: the
    audited site the build replaces, whose page of the same name vouches for the strings it shares with this one."""
    found: list[Finding] = []

    def add(rel: str, hits: Iterable[tuple[int, str, str]]) -> None:
        found.extend(Finding(rel, line, kind, excerpt) for line, kind, excerpt in hits)

    suffix = path.suffix.lower()
    if suffix == ".epub":
        skipped: list[str] = []
        add_epub(path, rel, matcher, add, skipped)
        return found, skipped, 1
    if suffix == ".pdf":
        text = _pdf_text(path)
        if text is None:
            return found, [f"{rel} (pdftotext from poppler-utils is not installed)"], 0
        add(rel, ((line, kind, f"{excerpt} (page text)") for line, kind, excerpt in _scan_plain(text, matcher)))
        return found, [], 1
    scan = _scanner(rel)
    data = path.read_text(encoding="utf-8", errors="replace")
    if previous is not None and scan in _VOUCHED_STRINGS:
        add(rel, scan(data, matcher, lambda: _vouched(previous / rel, _VOUCHED_STRINGS[scan])))
    else:
        add(rel, scan(data, matcher))
    return found, [], 1


def _vouched(old: Path, strings_of: Callable[[str], list[str] | None]) -> set[str]:
    """The strings of a page of the audited site (all clean: it passed the audit under the same rules)."""
    try:
        data = old.read_text(encoding="utf-8", errors="replace")
    except OSError:  # no such page before (or no file)
        return set()
    return set(strings_of(data) or ())


_VOUCHED_STRINGS = {_scan_html: _html_strings, _scan_js: _js_file_strings}


def add_epub(path: Path, rel: str, matcher: _Names, add, skipped: list[str]) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                scan = _scanner(member) or (_scan_html if member.lower().endswith((".ncx", ".opf")) else None)
                if scan is not None:
                    add(f"{rel}!{member}", scan(z.read(member).decode("utf-8", errors="replace"), matcher))
    except (zipfile.BadZipFile, OSError) as e:
        skipped.append(f"{rel} (not a readable EPUB: {e})")


def _pdf_text(path: Path) -> str | None:
    exe = shutil.which("pdftotext")
    if exe is None:
        return None
    done = subprocess.run([exe, "-enc", "UTF-8", str(path), "-"], capture_output=True, timeout=120)
    return done.stdout.decode("utf-8", errors="replace")


def names_to_hide(ws) -> list[str]:
    """The real display names that must not appear on the workspace's site: none when it shows real names."""
    if ws.config.site.names == "real":
        return []
    from .build import known_people

    # As Privacy.name sees a person: the display name, else the sender id.
    return sorted({(name or sender or "").strip() for sender, name in known_people(ws.db, ws.contributors(warn=lambda _: None))} - {""})


# Every page carries its build time; two builds of an unchanged page differ only there.
_BUILD_STAMP_RE = re.compile(rb"\xe7\x94\x9f\xe6\x88\x90\xe4\xba\x8e \d{4}-\d{2}-\d{2} \d{2}:\d{2}")  # 生成于 …
RULES_FILES = (Path(__file__), Path(privacy.__file__), Path(__file__).with_name("htmltext.py"))


def audit_key(names: Iterable[str]) -> str:
    """What an audit's verdict depends on besides the pages: the names to hide and the rules (this module,
    chendian/privacy.py and the page reading, htmltext.py). A site audited under the same key may vouch for the pages it shares with a new build."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(names):
        h.update(name.encode("utf-8") + b"\0")
    for path in RULES_FILES:
        h.update(path.read_bytes())
    return h.hexdigest()


class SamePage:
    """trusted() for audit_site: the file is in `previous` with the same bytes, build stamp aside. A page the
    build hard-linked from `previous` is known by its inode, read with the directory (no stat per page: a
    night links almost all of a big site's pages); `inodes(folder)` hands audit_site a whole folder's at once."""

    def __init__(self, previous: Path):
        self.previous = Path(previous)
        self._same_device: bool | None = None  # inodes compare within one file system only

    def inodes(self, folder: str, rel_folder: str) -> dict[str, int]:
        """name → inode of the entries of the previous site's folder `rel_folder` ("" or "entries/"), the one
        at `folder` in the new build."""
        if self._same_device is None:
            self._same_device = os.stat(folder).st_dev == os.stat(self.previous).st_dev
        if not self._same_device:
            return {}
        try:
            with os.scandir(os.path.join(self.previous, rel_folder)) as it:
                entries = list(it)
        except OSError:
            return {}
        return dict(zip(map(_entry_name, entries), map(os.DirEntry.inode, entries)))

    def __call__(self, path: Path, rel: str, inode: int | None = None) -> bool:
        old = self.previous / rel
        try:
            a_stat, b_stat = path.stat(), old.stat()
        except OSError:
            return False
        if (a_stat.st_ino, a_stat.st_dev) == (b_stat.st_ino, b_stat.st_dev):
            return True
        if not old.is_file() or b_stat.st_size != a_stat.st_size:
            return False
        a, b = path.read_bytes(), old.read_bytes()
        return a == b or _BUILD_STAMP_RE.sub(b"", a) == _BUILD_STAMP_RE.sub(b"", b)


def same_page(previous: Path) -> SamePage:
    return SamePage(previous)


class LeakCheck:
    """A check for build_site: audit the new folder before it is swapped in, raise LeakError on any finding.
    With `previous` (a site that passed an audit under the same audit_key), its unchanged pages are not scanned
    again: a new night's build scans what the night changed. `report` is the last audit's."""

    def __init__(self, names: Iterable[str], previous: Path | None = None, workers: int = 1):
        self.names = list(names)
        self.previous = previous
        self.workers = workers
        self.report: AuditReport | None = None

    def __call__(self, folder: Path) -> None:
        trusted = same_page(self.previous) if self.previous is not None and self.previous.is_dir() else None
        self.report = report = audit_site(folder, self.names, trusted, self.workers)
        if not report.ok:
            first = "; ".join(str(f) for f in report.findings[:3])
            raise LeakError(f"site not published, the previous one stays: the audit of the new build found "
                            f"{report.summary()} — {first}")


def refuse_leaks(names: Iterable[str], previous: Path | None = None, workers: int = 1) -> LeakCheck:
    return LeakCheck(names, previous, workers)
