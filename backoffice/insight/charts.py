"""Server-side SVG charts: bars with a value label on each, a distinct fill pattern per series
(readable in greyscale and by people who do not tell colours apart), a legend, a <title> per bar
and an accessible name. Every chart on the dashboard also has its numbers as a table and a CSV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLOURS = ("#1f5fbf", "#b3261e", "#1d7a46", "#b26b00", "#6b3fa0", "#3d5a66")
PATTERNS = (
    "",  # solid
    '<path d="M0,6 L6,0" stroke="#fff" stroke-width="1.6"/>',  # diagonal stripes
    '<circle cx="3" cy="3" r="1.3" fill="#fff"/>',  # dots
    '<path d="M0,3 H6" stroke="#fff" stroke-width="1.4"/>',  # horizontal lines
    '<path d="M0,6 L6,0 M0,0 L6,6" stroke="#fff" stroke-width="1.1"/>',  # cross-hatch
    '<path d="M3,0 V6" stroke="#fff" stroke-width="1.4"/>',  # vertical lines
)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def _fmt(value: float, unit: str) -> str:
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) and not value.is_integer() \
        else f"{int(value):,}"
    return f"{text}{unit}"


def bar_chart(*, chart_id: str, title: str, categories: Sequence[str], series: Sequence[Series],
              unit: str = "", threshold: float | None = None, threshold_label: str = "",
              height: int = 220) -> SafeString:
    """A grouped bar chart. ``threshold`` draws a dashed reference line (e.g. a program's ratio)."""
    values = [v for s in series for v in s.values if v is not None]
    peak = max([*values, threshold or 0, 0]) or 1
    group_width = max(28 * len(series) + 16, 60, min(160, 720 // max(len(categories), 1)))
    left, top, bottom = 8, 26, 34
    width = left + group_width * max(len(categories), 1) + 8
    plot = height - top - bottom
    parts = [f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" width="100%" '
             f'preserveAspectRatio="xMinYMin meet" role="img" aria-labelledby="{escape(chart_id)}-t" '
             f'data-chart="{escape(chart_id)}" style="max-height:{height + 40}px">',
             f'<title id="{escape(chart_id)}-t">{escape(title)}</title><defs>']
    for i in range(len(series)):
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<pattern id="{escape(chart_id)}-p{i}" width="6" height="6" patternUnits="userSpaceOnUse">'
                     f'<rect width="6" height="6" fill="{colour}"/>{PATTERNS[i % len(PATTERNS)]}</pattern>')
    parts.append("</defs>")
    parts.append(f'<line x1="{left}" y1="{top + plot}" x2="{width - 4}" y2="{top + plot}" stroke="#8a94a3"/>')
    bar = (group_width - 16) / max(len(series), 1)
    for c, category in enumerate(categories):
        x0 = left + c * group_width + 8
        for s, one in enumerate(series):
            value = one.values[c] if c < len(one.values) else None
            if value is None:
                continue
            h = plot * value / peak
            x, y = x0 + s * bar, top + plot - h
            label = f"{category} · {one.name}: {_fmt(value, unit)}"
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                         f'fill="url(#{escape(chart_id)}-p{s})" stroke="#14213d" stroke-width="0.5">'
                         f'<title>{escape(label)}</title></rect>')
            if value:
                parts.append(f'<text x="{x + (bar - 2) / 2:.1f}" y="{y - 3:.1f}" font-size="9" text-anchor="middle">'
                             f'{escape(_fmt(value, unit))}</text>')
        parts.append(f'<text x="{x0 + (group_width - 16) / 2:.1f}" y="{top + plot + 14}" font-size="10" '
                     f'text-anchor="middle">{escape(category)}</text>')
    if threshold is not None:
        y = top + plot - plot * threshold / peak
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}" stroke="#b3261e" '
                     f'stroke-width="1.5" stroke-dasharray="6 4"/><text x="{width - 6}" y="{y - 4:.1f}" '
                     f'font-size="10" text-anchor="end" fill="#b3261e">{escape(threshold_label)}</text>')
    x = left
    for s, one in enumerate(series):
        parts.append(f'<rect x="{x}" y="6" width="14" height="12" fill="url(#{escape(chart_id)}-p{s})" '
                     f'stroke="#14213d" stroke-width="0.5"/><text x="{x + 18}" y="16" font-size="11">'
                     f'{escape(one.name)}</text>')
        x += 26 + 7 * len(one.name)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
