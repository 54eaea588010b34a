"""Static SVG bar charts, made at build time (no script, no CDN): they scale to the page width (viewBox),
carry their own <title>/<desc>, and every chart on a page comes with a text alternative beside it."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, BAR_AREA_HEIGHT, LABEL_HEIGHT, TOP = 640, 160, 34, 16


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


def describe(labels: Sequence[str], values: Sequence[float], unit: str = "") -> str:
    """The chart in words: every bar, and which is highest."""
    if not any(values):
        return "没有数据。"
    peak = max(range(len(values)), key=lambda i: values[i])
    listed = "，".join(f"{label} {value:g}{unit}" for label, value in zip(labels, values))
    return f"最高：{labels[peak]}（{values[peak]:g}{unit}）。各项：{listed}。"
