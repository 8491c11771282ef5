"""Charts as inline SVG drawn on the server: stacked bars per time bucket, with a tooltip per segment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

PALETTE = ("#1565c0", "#c62828", "#2e7d32", "#ef8f00", "#6a1b9a", "#00838f", "#ad1457", "#4e342e", "#558b2f",
           "#37474f", "#f9a825", "#5c6bc0")
WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 28
MAX_LABELS = 8


@dataclass(frozen=True)
class Legend:
    """One series' name, colour and total."""

    name: str
    color: str
    total: int


def colors_for(names: list[str], fixed: dict[str, str] | None = None) -> dict[str, str]:
    """A colour per series: the fixed ones first, then the palette in order."""
    fixed = fixed or {}
    free = iter(c for c in PALETTE * (len(names) // len(PALETTE) + 1) if c not in fixed.values())
    return {name: fixed.get(name) or next(free) for name in names}


def legend(series: dict[str, list[int]], colors: dict[str, str]) -> list[Legend]:
    """The legend of a chart, largest series first."""
    items = [Legend(name, colors[name], sum(counts)) for name, counts in series.items()]
    return sorted(items, key=lambda item: (-item.total, item.name))


def nice_max(value: int) -> int:
    """A round upper bound for the y axis (1, 2 or 5 times a power of ten)."""
    bound = 1
    while True:
        for step in (1, 2, 5):
            if step * bound >= value:
                return step * bound
        bound *= 10


def _label(bucket: datetime, unit: str) -> str:
    return bucket.strftime("%H:%M") if unit == "hour" else bucket.strftime("%m-%d")


def _tip(bucket: datetime, unit: str) -> str:
    return bucket.strftime("%Y-%m-%d %H:00 UTC" if unit == "hour" else "%Y-%m-%d")


def stacked_bars(buckets: list[datetime], series: dict[str, list[int]], colors: dict[str, str], unit: str,
                 title: str) -> Markup:
    """An SVG chart of `series` stacked per bucket; `title` names it for screen readers."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [sum(counts[i] for counts in series.values()) for i in range(len(buckets))]
    top = nice_max(max(totals, default=0) or 1)
    slot = plot_w / max(len(buckets), 1)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    parts += _grid(top, plot_w, plot_h)
    for i, bucket in enumerate(buckets):
        parts += _bar(i, bucket, series, colors, unit, slot, top, plot_h)
    every = max(1, -(-len(buckets) // MAX_LABELS))
    for i in range(0, len(buckets), every):
        x = LEFT + slot * (i + 0.5)
        parts.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                     f'{_label(buckets[i], unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _grid(top: int, plot_w: float, plot_h: float) -> list[str]:
    out = []
    for step in range(5):
        value = top * step / 4
        y = TOP + plot_h - plot_h * step / 4
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        label = f"{value:g}" if value == int(value) else f"{value:.1f}"
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    return out


def _bar(i: int, bucket: datetime, series: dict[str, list[int]], colors: dict[str, str], unit: str, slot: float,
         top: int, plot_h: float) -> list[str]:
    out, base = [], TOP + plot_h
    x, width = LEFT + slot * i + slot * 0.12, max(slot * 0.76, 1)
    for name, counts in series.items():
        count = counts[i]
        if not count:
            continue
        height = plot_h * count / top
        base -= height
        tip = f"{_tip(bucket, unit)} — {name}: {count}"
        out.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{width:.1f}" height="{height:.1f}" '
                   f'fill="{colors[name]}"><title>{escape(tip)}</title></rect>')
    return out
