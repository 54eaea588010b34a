"""Static SVG bar charts, made at build time (no script, no CDN): they scale to the page width (viewBox),
carry their own <title>/<desc>, and every chart on a page comes with a text alternative beside it."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

# A narrow canvas: on a 360 px phone it is drawn at about 0.8×, so its 13-unit labels stay readable there.
WIDTH, BAR_AREA_HEIGHT, LABEL_HEIGHT, TOP = 400, 140, 30, 16
ROW_HEIGHT, NAME_WIDTH = 24, 110  # horizontal bars: one row per name


def bar_chart(chart_id: str, title: str, labels: Sequence[str], values: Sequence[float], *,
              label_every: int = 1, unit: str = "") -> Markup:
    """A vertical bar chart; `label_every` thins the axis labels (24 hours do not fit a phone)."""
    n = max(len(values), 1)
    top = max(values, default=0) or 1
    slot = WIDTH / n
    bar = max(slot * 0.7, 1)
    height = TOP + BAR_AREA_HEIGHT + LABEL_HEIGHT
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d"'
             f' xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-t">{escape(title)}</title>',
             f'<desc id="{chart_id}-d">{escape(describe(labels, values, unit))}</desc>',
             f'<line x1="0" y1="{TOP + BAR_AREA_HEIGHT}" x2="{WIDTH}" y2="{TOP + BAR_AREA_HEIGHT}" class="axis"/>']
    for i, (label, value) in enumerate(zip(labels, values)):
        h = BAR_AREA_HEIGHT * value / top
        x = i * slot + (slot - bar) / 2
        y = TOP + BAR_AREA_HEIGHT - h
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                     f'<title>{escape(label)}: {value:g}{escape(unit)}</title></rect>')
        if value:
            parts.append(f'<text class="value" x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">{value:g}</text>')
        if i % label_every == 0:
            parts.append(f'<text class="label" x="{x + bar / 2:.1f}" y="{TOP + BAR_AREA_HEIGHT + 22}"'
                         f' text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def hbar_chart(chart_id: str, title: str, labels: Sequence[str], values: Sequence[float], *, unit: str = "") -> Markup:
    """Horizontal bars, one row per label: for names, which would collide under vertical bars."""
    top = max(values, default=0) or 1
    height = max(len(values), 1) * ROW_HEIGHT + 8
    room = WIDTH - NAME_WIDTH - 40  # leave space for the value after the longest bar
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d"'
             f' xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-t">{escape(title)}</title>',
             f'<desc id="{chart_id}-d">{escape(describe(labels, values, unit))}</desc>']
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 4 + i * ROW_HEIGHT
        w = max(room * value / top, 1)
        short = label if len(label) <= 8 else label[:7] + "…"
        parts.append(f'<text class="label" x="{NAME_WIDTH - 6}" y="{y + 16}" text-anchor="end">{escape(short)}</text>'
                     f'<rect class="bar" x="{NAME_WIDTH}" y="{y + 3}" width="{w:.1f}" height="{ROW_HEIGHT - 8}">'
                     f'<title>{escape(label)}: {value:g}{escape(unit)}</title></rect>'
                     f'<text class="value" x="{NAME_WIDTH + w + 4:.1f}" y="{y + 16}">{value:g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def describe(labels: Sequence[str], values: Sequence[float], unit: str = "") -> str:
    """The chart in words: every bar, and which is highest."""
    if not any(values):
        return "没有数据。"
    peak = max(range(len(values)), key=lambda i: values[i])
    listed = "，".join(f"{label} {value:g}{unit}" for label, value in zip(labels, values))
    return f"最高：{labels[peak]}（{values[peak]:g}{unit}）。各项：{listed}。"
