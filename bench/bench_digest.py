"""One week's digest on a 100k-message workspace, and the long image's renderers compared.

Run by hand: `.venv/bin/python bench/bench_digest.py [--messages 100000 --entries 10000 --repeat 5] [--renderers]`.
The workspace is bench_site.py's (messages in threads, each opening with a question that becomes an FAQ entry),
plus the insights stage's response rows and points computed from it, so the digest reads what a real run leaves.
Times: gathering one chat-week (both audiences), Markdown + text + HTML, and writing them with the group audit;
with --renderers also the long image three ways on the same digest: headless Chromium through playwright (what
chendian uses), WeasyPrint → PDF → pdftoppm, and Pillow drawing the text lines itself. Prints machine, sizes, medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_site import fill  # noqa: E402
from chendian.site import digest as dg  # noqa: E402
from chendian.store import Workspace  # noqa: E402
from chendian.summarize.qa.insights import PointRules, answer_points, responses  # noqa: E402

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


def add_insights(ws: Workspace) -> None:
    """The insights stage's response rows and points, from the filled qas (no embedding: no experts)."""
    qas = ws.qas(warn=print)
    ts = dict(ws.db.execute("SELECT id, ts FROM messages"))
    counts = {q: e.count for e in ws.faq_entries(include_hidden=True, warn=print) for q in e.qa_ids}
    with ws.transaction():
        ws.db.executemany("INSERT INTO question_responses VALUES (?, ?, ?, ?, ?)",
                          [(r.qa_id, r.chat, r.week, r.asked_ts, r.first_answer_ts)
                           for r in responses(qas, ts, ws.config.tz)])
        ws.db.executemany("INSERT INTO answer_points VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(p.qa_id, p.sender, p.name, p.week, p.points, int(p.acknowledged), p.repeats)
                           for p in answer_points(qas, counts, PointRules(), ws.config.tz)])


def timed(fn, repeat: int) -> tuple[float, object]:
    seconds, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), out


def weasy_png(html: Path, out: Path) -> Path:
    """WeasyPrint lays the page out as one tall PDF page (375 px wide), pdftoppm rasterises it at 2×, the blank
    bottom is cropped."""
    from PIL import Image, ImageChops
    from weasyprint import CSS, HTML

    pdf = out / "weasy.pdf"
    HTML(filename=str(html)).write_pdf(pdf, stylesheets=[CSS(string="@page { size: 375px 12000px; margin: 0 }")])
    subprocess.run(["pdftoppm", "-png", "-r", "192", "-singlefile", str(pdf), str(out / "weasy")], check=True)
    png = out / "weasy.png"
    im = Image.open(png).convert("RGB")
    box = ImageChops.difference(im, Image.new("RGB", im.size, im.getpixel((im.width - 1, im.height - 1)))).getbbox()
    if box:
        im.crop((0, 0, im.width, box[3] + 20)).save(png)
    return png


def pillow_png(text: str, out: Path) -> Path:
    """Pillow draws the digest's Markdown lines itself (no cards, no layout engine): the floor on cost."""
    from PIL import Image, ImageDraw, ImageFont

    font, bold = ImageFont.truetype(FONT, 28), ImageFont.truetype(FONT, 34)
    width, margin, line_h = 750, 32, 44
    lines: list[tuple[str, object]] = []
    for raw in text.splitlines():
        f = bold if raw.startswith("#") else font
        raw = raw.lstrip("# ").replace("**", "")
        current = ""
        for ch in raw:
            if f.getlength(current + ch) > width - 2 * margin:
                lines.append((current, f))
                current = ""
            current += ch
        lines.append((current, f))
    im = Image.new("RGB", (width, margin * 2 + line_h * len(lines)), "white")
    draw = ImageDraw.Draw(im)
    for i, (line, f) in enumerate(lines):
        draw.text((margin, margin + i * line_h), line, font=f, fill=(31, 35, 41))
    path = out / "pillow.png"
    im.save(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--entries", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--renderers", action="store_true", help="also time the long image three ways")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ws = Workspace(tmp / "ws", create=True)
        t0 = time.perf_counter()
        fill(ws, args.entries, args.messages)
        add_insights(ws)
        weeks = ws.db.execute("SELECT count(DISTINCT week) FROM question_responses").fetchone()[0]
        print(f"workspace: {ws.count_messages():,} messages, {args.entries:,} FAQ entries, {weeks} weeks "
              f"(filled in {time.perf_counter() - t0:.1f}s)")
        period = dg.latest_complete_week(ws)
        week_msgs = ws.db.execute("SELECT count(*) FROM messages WHERE ts >= ? AND ts < ?",
                                  (period.start, period.end)).fetchone()[0]
        print(f"digest week: {period.label}, {week_msgs:,} messages in it")

        reader_s, reader = timed(lambda: dg._Reader(ws), args.repeat)
        gather_s, pair = timed(lambda: [dg.gather(ws, period, "bench", a, reader=reader) for a in dg.AUDIENCES],
                               args.repeat)
        total_s, _ = timed(lambda: dg.make_digests(ws, week=period.label, audiences=list(dg.AUDIENCES)), args.repeat)
        group, ops = pair
        render_s, html = timed(lambda: (dg.render_markdown(ops), dg.render_text(ops), dg.render_html(ops))[2],
                               args.repeat)
        write_s, written = timed(lambda: dg.write_digest(ws, group, tmp / "out", ["html", "md"]), args.repeat)
        text = (written.folder / "digest.txt").read_text(encoding="utf-8")
        print(f"make_digests (read the workspace, gather both audiences): median {total_s:.2f}s over {args.repeat} runs"
              f" (reading {reader_s:.2f}s, gathering {gather_s * 1000:.0f} ms)")
        print(f"render Markdown + text + HTML (ops): {render_s * 1000:.1f} ms; write group version with audit:"
              f" {write_s * 1000:.0f} ms")
        print(f"paste-ready text: {len(text)} characters, {len(text.encode('utf-8'))} bytes"
              f" (limit {dg.TEXT_LIMIT_BYTES} bytes)")

        if not args.renderers:
            return
        page = tmp / "digest.html"
        page.write_text(html, encoding="utf-8")
        shots = tmp / "shots"
        shots.mkdir()
        from PIL import Image

        def report(name, seconds, paths):
            sizes = [Image.open(p).size for p in paths]
            print(f"  {name}: median {seconds:.2f}s, {len(paths)} part(s) {sizes}, "
                  f"{sum(p.stat().st_size for p in paths) / 1e3:.0f} kB")

        print(f"long image of the ops digest ({args.repeat} runs each):")
        if dg.image_renderer() is None:
            s, paths = timed(lambda: dg.render_png(page, shots, "chromium"), args.repeat)
            report("Chromium via playwright (launch included)", s, paths)
        else:
            print("  Chromium: not installed")
        if shutil.which("pdftoppm"):
            s, path = timed(lambda: weasy_png(page, shots), args.repeat)
            report("WeasyPrint + pdftoppm", s, [path])
        s, path = timed(lambda: pillow_png(dg.render_markdown(ops), shots), args.repeat)
        report("Pillow, text lines only", s, [path])
        print(f"  images left in {shots} are deleted on exit; run with CHENDIAN_BENCH_KEEP=dir to keep them")
        keep = os.environ.get("CHENDIAN_BENCH_KEEP")
        if keep:
            shutil.copytree(shots, keep, dirs_exist_ok=True)
        ws.close()


if __name__ == "__main__":
    main()
