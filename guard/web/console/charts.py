"""Charts as inline SVG drawn on the server: stacked bars per time bucket, with a tooltip per segment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

# Rule colours stay clear of the outcome colours (green, red, amber, blue), so a rule is not read as an outcome.
PALETTE = ("#6a1b9a", "#00838f", "#ad1457", "#5c6bc0", "#8d6e63", "#9e9d24", "#37474f", "#d81b60", "#00695c",
           "#7e57c2", "#f4511e", "#546e7a")
# Two drawings of each chart: a wide one for screens, a narrow one for phones (CSS shows one), so the text
# stays legible without scaling the wide one down to a third of its size.
SIZES = {"wide": (720, 200, 8), "narrow": (360, 190, 4)}
LEFT, RIGHT, TOP, BOTTOM = 40, 18, 10, 26
TICKS = 4


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


def nice_step(value: int, ticks: int = TICKS) -> int:
    """A whole, round step (1, 2 or 5 times a power of ten) so that `ticks` steps reach `value`."""
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power * ticks >= value:
                return step * power
        power *= 10


def _label(bucket: datetime, unit: str) -> str:
    return bucket.strftime("%H:%M") if unit == "hour" else bucket.strftime("%m-%d")


def _tip(bucket: datetime, unit: str) -> str:
    return bucket.strftime("%Y-%m-%d %H:00 UTC" if unit == "hour" else "%Y-%m-%d")


def stacked_bars(buckets: list[datetime], series: dict[str, list[int]], colors: dict[str, str], unit: str,
                 title: str) -> Markup:
    """The chart of `series` stacked per bucket, drawn wide and narrow; `title` names it for screen readers."""
    return Markup("").join(_drawing(size, buckets, series, colors, unit, title) for size in SIZES)


def _drawing(size: str, buckets: list[datetime], series: dict[str, list[int]], colors: dict[str, str], unit: str,
             title: str) -> Markup:
    width, height, labels = SIZES[size]
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    totals = [sum(counts[i] for counts in series.values()) for i in range(len(buckets))]
    step = nice_step(max(totals, default=0))
    top = step * TICKS
    slot = plot_w / max(len(buckets), 1)
    parts = [f'<svg class="chart chart-{size}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    parts += _grid(step, plot_w, plot_h)
    for i, bucket in enumerate(buckets):
        parts += _bar(i, bucket, series, colors, unit, slot, top, plot_h)
    every = max(1, -(-len(buckets) // labels))
    for i in range(len(buckets) - 1, -1, -every):  # from the newest bucket back, so "now" is always labelled
        x = LEFT + slot * (i + 0.5)
        parts.append(f'<text class="axis" x="{x:.1f}" y="{height - 8}" text-anchor="middle">'
                     f'{_label(buckets[i], unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _grid(step: int, plot_w: float, plot_h: float) -> list[str]:
    out = []
    for tick in range(TICKS + 1):
        y = TOP + plot_h - plot_h * tick / TICKS
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{step * tick}</text>')
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
