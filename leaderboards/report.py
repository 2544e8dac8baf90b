"""The HTML report: one self-contained page with the provenance, the three leaderboards and
charts of the same numbers.

The page must open years later, offline, from an e-mail attachment or an artifact store, so
everything is inline: CSS in ``<style>``, charts as SVG drawn here (no charting library, no
CDN, no web fonts), and a Content-Security-Policy that forbids any fetch, so a stray external
reference fails loudly in a browser instead of silently depending on the network.

Every number comes from :mod:`leaderboards.tables` (the tables through
:func:`leaderboards.render.to_html_table`), so the page and the Markdown/LaTeX/CSV renderings
always agree. Every string from the results (dataset, synthesizer, reason, command) is escaped.

A small script at the end counts the tables and charts that actually rendered and records any
script or resource error on ``<body>``, so a headless browser can check the page
(``tests/test_report_browser.py``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaderboards import render
from leaderboards.tables import (
    TABLES,
    Cell,
    Leaderboard,
    MetricInfo,
    Results,
    build,
    load_results,
    provenance,
)

#: The privacy-utility scatter: (table, metric) on each axis.
SCATTER_X = ("utility", "mle")
SCATTER_Y = ("privacy", "dcr")
#: The real-data reference: drawn in a neutral grey and never on the scatter (it has no DCR).
REFERENCE = "original"
REFERENCE_COLOR = "#6b6b6b"
#: Tableau 10 without its grey (kept for the reference); with 9+ synthesizers the marker shape
#: changes each time the colours wrap, so (colour, shape) stays unique up to 36 synthesizers.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
)
MARKERS = ("circle", "square", "triangle", "diamond")
#: Glyphs drawn at the baseline of a bar chart where a cell has no value.
STATE_GLYPHS = {"failed": "×", "na": "–", "missing": "?"}
GOAL_WORDS = {"maximize": "higher is better", "minimize": "lower is better"}


# ---- small helpers ----------------------------------------------------------------------------


def _esc(text: object) -> str:
    """Escape for text and quoted attributes alike (names may hold <, & and quotes)."""
    return html.escape(str(text), quote=True)


def _finite(x: float | None) -> float | None:
    """``x`` if it is a real number, else None: NaN and inf are drawn as missing, never plotted."""
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def stats(cell: Cell) -> tuple[float | None, float | None]:
    """(mean, std) of a cell, or (None, None) when a value is not a real number.

    :func:`leaderboards.tables.build` keeps only finite values, but a hand-made board may
    hold NaN, on which ``statistics.stdev`` raises: such a cell is drawn as missing.
    """
    try:
        mean, std = _finite(cell.mean), _finite(cell.std)
    except (ArithmeticError, AttributeError, TypeError, ValueError):
        return None, None
    return (mean, std) if mean is not None else (None, None)


def _num(x: float) -> str:
    """A value for a tooltip: four significant digits are plenty to read a chart."""
    return f"{x:.4g}"


def _px(x: float) -> str:
    """A pixel coordinate: one decimal keeps the SVG small and crisp."""
    return f"{x:.1f}"


def _short(text: str, limit: int) -> str:
    """Long names are cut on the chart (the tooltip keeps the full name)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def goal_text(info: MetricInfo) -> str:
    """What "better" means for a metric, in words."""
    if info.goal == "target":
        return f"closer to {info.target:g} is better" if info.target is not None else "target"
    return GOAL_WORDS.get(info.goal, info.goal)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering [lo, hi].

    The first and last tick become the axis limits, so bars and error bars always fit.
    """
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo <= 1e-12 * max(1.0, abs(lo), abs(hi)):
        pad = abs(lo) * 0.1 if lo else 1.0
        lo, hi = (lo - pad, hi + pad) if lo else (0.0, 1.0)
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    n = round((stop - start) / step)
    return [round(start + i * step, 12) + 0.0 for i in range(n + 1)]


def _tick_label(x: float) -> str:
    return f"{x:.6g}".replace("-", "−")


@dataclass(frozen=True)
class Scale:
    """A linear map from data values [lo, hi] to pixels [a, b]."""

    lo: float
    hi: float
    a: float
    b: float

    def __call__(self, value: float) -> float:
        return self.a + (value - self.lo) / (self.hi - self.lo) * (self.b - self.a)


@dataclass(frozen=True)
class Style:
    """How one synthesizer is drawn, the same in every chart and in the legend."""

    color: str
    marker: str


def styles(synthesizers: Iterable[str]) -> dict[str, Style]:
    """A stable (colour, marker) per synthesizer; the reference is always grey circles."""
    out: dict[str, Style] = {}
    i = 0
    for name in dict.fromkeys(synthesizers):
        if name == REFERENCE:
            out[name] = Style(REFERENCE_COLOR, "circle")
            continue
        out[name] = Style(PALETTE[i % len(PALETTE)], MARKERS[(i // len(PALETTE)) % len(MARKERS)])
        i += 1
    return out


def marker(style: Style, x: float, y: float, r: float = 4.5) -> str:
    """One scatter (or legend) marker centred on (x, y)."""
    fill = f"fill='{style.color}' stroke='#222' stroke-width='0.7'"
    if style.marker == "square":
        side = _px(2 * r)
        return f"<rect x='{_px(x - r)}' y='{_px(y - r)}' width='{side}' height='{side}' {fill}/>"
    if style.marker == "triangle":
        pts = [(x, y - 1.2 * r), (x - 1.1 * r, y + 0.8 * r), (x + 1.1 * r, y + 0.8 * r)]
    elif style.marker == "diamond":
        pts = [(x, y - 1.3 * r), (x + 1.1 * r, y), (x, y + 1.3 * r), (x - 1.1 * r, y)]
    else:
        return f"<circle cx='{_px(x)}' cy='{_px(y)}' r='{_px(r)}' {fill}/>"
    return f"<polygon points='{' '.join(f'{_px(a)},{_px(b)}' for a, b in pts)}' {fill}/>"


def _svg(width: float, height: float, label: str, body: Iterable[str], kind: str) -> str:
    """The chart element; the browser check counts ``svg.chart``."""
    return (
        f"<svg class='chart {kind}' role='img' "
        f"width='{width:.0f}' height='{height:.0f}' viewBox='0 0 {width:.0f} {height:.0f}' "
        f"aria-label='{_esc(label)}'><title>{_esc(label)}</title>{''.join(body)}</svg>"
    )


def _y_axis(scale: Scale, ticks: list[float], x0: float, x1: float) -> list[str]:
    """Horizontal grid lines with their values left of the plot; a darker line at zero."""
    out = []
    for t in ticks:
        y = _px(scale(t))
        cls = "zero" if t == 0 and ticks[0] < 0 < ticks[-1] else "grid"
        out.append(f"<line class='{cls}' x1='{_px(x0)}' x2='{_px(x1)}' y1='{y}' y2='{y}'/>")
        out.append(
            f"<text class='tick' x='{_px(x0 - 4)}' y='{y}' text-anchor='end' "
            f"dominant-baseline='middle'>{_tick_label(t)}</text>"
        )
    return out


def _x_axis(scale: Scale, ticks: list[float], y0: float, y1: float) -> list[str]:
    """Vertical grid lines with their values under the plot."""
    out = []
    for t in ticks:
        x = _px(scale(t))
        out.append(f"<line class='grid' x1='{x}' x2='{x}' y1='{_px(y0)}' y2='{_px(y1)}'/>")
        out.append(
            f"<text class='tick' x='{x}' y='{_px(y1 + 12)}' text-anchor='middle'>"
            f"{_tick_label(t)}</text>"
        )
    return out


def goal_arrow(info: MetricInfo, x: float, y: float) -> str:
    """A drawn arrow (no font needed) pointing where the metric improves, labelled "better"."""
    if info.goal not in ("maximize", "minimize"):
        return ""
    up = info.goal == "maximize"
    tip, tail = (y, y + 14) if up else (y + 14, y)
    head = tip + (4 if up else -4)
    return (
        f"<g class='goal'><line x1='{_px(x)}' x2='{_px(x)}' y1='{_px(tail)}' y2='{_px(head)}'/>"
        f"<polygon points='{_px(x)},{_px(tip)} {_px(x - 3.5)},{_px(head)} "
        f"{_px(x + 3.5)},{_px(head)}'/>"
        f"<text x='{_px(x - 6)}' y='{_px(y + 7)}' text-anchor='end' dominant-baseline='middle'>"
        f"better</text></g>"
    )


# ---- bar charts -------------------------------------------------------------------------------

BAR_SLOT = 26  # pixels per synthesizer
BAR_PLOT_H = 150
BAR_LEFT, BAR_RIGHT, BAR_TOP = 50, 10, 38
LABEL_CHARS = 14
#: Diagonal hatching laid over a bar whose value rests on fewer runs than requested. Defined
#: once per page (pattern ids are document-wide) in an SVG that is not a chart.
HATCH_ID = "hatch-partial"
HATCH_DEFS = (
    "<svg class='defs' width='0' height='0' aria-hidden='true'><defs>"
    f"<pattern id='{HATCH_ID}' width='5' height='5' patternUnits='userSpaceOnUse' "
    "patternTransform='rotate(45)'><rect width='2' height='5' fill='#fff' fill-opacity='0.75'/>"
    "</pattern></defs></svg>"
)


def _bar_tooltip(label: str, dataset: str, info: MetricInfo, cell: Cell) -> str:
    mean, std = stats(cell)
    if mean is None:
        reason = cell.not_applicable or "; ".join(dict.fromkeys(cell.failures)) or "no value"
        if cell.state == "ok":  # values that are not real numbers (a hand-made board)
            reason = "not a finite number"
        state = {"na": "not applicable", "ok": "missing"}.get(cell.state, cell.state)
        return f"{label} on {dataset}: {state} ({reason})"
    text = f"{label} on {dataset}: {info.label} = {_num(mean)}"
    text += f" ± {_num(std)}" if std is not None else " (one run, no std)"
    return text + f", n={cell.n}/{cell.requested}"


def _bar_header(dataset: str, info: MetricInfo, width: float) -> list[str]:
    """Dataset name, then the metric and a drawn "better" arrow, above the plot."""
    fits = max(8, int((width - BAR_LEFT + 40) / 6.6))
    return [
        f"<text class='title' x='{BAR_LEFT - 40}' y='12'>{_esc(_short(dataset, fits))}</text>",
        f"<text class='axis-label' x='{BAR_LEFT - 40}' y='27'>{_esc(info.label)} "
        f"{_esc(info.arrow)}</text>",
        goal_arrow(info, width - BAR_RIGHT - 4, 16),
    ]


def bar_chart(lb: Leaderboard, info: MetricInfo, dataset: str, style: Mapping[str, Style]) -> str:
    """One metric on one dataset: a bar per synthesizer (mean over seeds) from zero, whiskers
    at ± one sample std, a glyph where there is no value.

    Each dataset gets its own chart and axis because metric scales differ a lot between
    datasets (WD 0.01 on one, 0.4 on another): a shared axis would flatten the small ones.
    """
    cells = [(name, label, lb.cell(dataset, info.name, name)) for name, label in lb.synthesizers]
    target = _finite(info.target) if info.goal == "target" else None
    extent = [0.0] + ([target] if target is not None else [])
    for _, _, cell in cells:
        mean, std = stats(cell)
        if mean is not None:
            extent += [mean - (std or 0.0), mean + (std or 0.0)]
    ticks = nice_ticks(min(extent), max(extent))
    plot_w = max(150, BAR_SLOT * len(cells))
    slot = plot_w / max(len(cells), 1)
    longest = max((len(_short(label, LABEL_CHARS)) for _, label, _ in cells), default=4)
    width = BAR_LEFT + plot_w + BAR_RIGHT
    height = BAR_TOP + BAR_PLOT_H + 16 + 4.6 * longest
    y = Scale(ticks[0], ticks[-1], BAR_TOP + BAR_PLOT_H, BAR_TOP)
    base, right = y(0.0), BAR_LEFT + plot_w
    body = [*_bar_header(dataset, info, width), *_y_axis(y, ticks, BAR_LEFT, right)]
    if target is not None:
        ty = _px(y(target))
        body.append(
            f"<line class='target' x1='{BAR_LEFT}' x2='{_px(right)}' y1='{ty}' y2='{ty}'>"
            f"<title>target {target:g}</title></line>"
        )
    for i, (name, label, cell) in enumerate(cells):
        cx = BAR_LEFT + slot * (i + 0.5)
        tip = _bar_tooltip(label, dataset, info, cell)
        body.append(_bar(cell, cx, slot * 0.7, y, base, style[name].color, tip))
        body.append(
            f"<text class='xlabel' transform='translate({_px(cx + 3)},"
            f"{_px(BAR_TOP + BAR_PLOT_H + 8)}) rotate(-40)' text-anchor='end'>"
            f"{_esc(_short(label, LABEL_CHARS))}</text>"
        )
    body.append(
        f"<line class='axis' x1='{BAR_LEFT}' x2='{_px(right)}' y1='{_px(base)}' y2='{_px(base)}'/>"
    )
    label = f"{info.label} ({goal_text(info)}) on {dataset}, mean ± std over seeds"
    return _svg(width, height, label, body, "bars")


def _bar(cell: Cell, cx: float, w: float, y: Scale, base: float, color: str, tip: str) -> str:
    """A bar with its whisker, or the glyph of the cell's state, with a tooltip."""
    mean, std = stats(cell)
    title = f"<title>{_esc(tip)}</title></g>"
    if mean is None:
        state = cell.state if cell.state in STATE_GLYPHS else "missing"
        # above the zero line, or below it when zero is the top of the axis (all negative)
        gy = base - 4 if base - y.b > 14 else base + 13
        return (
            f"<g class='bar {state}'><text class='glyph {state}' x='{_px(cx)}' "
            f"y='{_px(gy)}' text-anchor='middle'>{STATE_GLYPHS[state]}</text>{title}"
        )
    top, bottom = sorted((y(mean), base))
    box = (
        f"x='{_px(cx - w / 2)}' y='{_px(top)}' width='{_px(w)}' "
        f"height='{_px(max(bottom - top, 0.8))}'"
    )
    parts = [f"<g class='bar ok'><rect {box} fill='{color}'/>"]
    if cell.n < cell.requested:
        parts.append(f"<rect class='partial' {box} fill='url(#{HATCH_ID})'/>")
    if std is not None and std > 0:
        lo, hi, cap = _px(y(mean - std)), _px(y(mean + std)), w / 4
        parts.append(
            f"<path class='whisker' d='M{_px(cx)},{lo}V{hi}M{_px(cx - cap)},{lo}"
            f"H{_px(cx + cap)}M{_px(cx - cap)},{hi}H{_px(cx + cap)}'/>"
        )
    return "".join(parts) + title


def bar_charts(boards: Mapping[str, Leaderboard], style: Mapping[str, Style]) -> list[str]:
    """Per table, per metric: a group of small charts, one per dataset; groups sit side by
    side when the page is wide enough, so few datasets do not leave the page empty."""
    out = []
    for lb in boards.values():
        out.append(f"<h3>{_esc(lb.title)}</h3>")
        if not lb.metrics:
            out.append(_none("No metric of this table is in these results."))
        groups = []
        for info in lb.metrics:
            charts = "".join(bar_chart(lb, info, d, style) for d in lb.datasets)
            groups.append(
                f"<figure class='metric'><figcaption><strong>{_esc(info.label)} "
                f"{_esc(info.arrow)}</strong> <span class='goal-text'>{_esc(goal_text(info))}"
                f"</span></figcaption><div class='charts'>{charts or _none('No dataset.')}</div>"
                "</figure>"
            )
        out.append(f"<div class='metric-groups'>{''.join(groups)}</div>")
    return out


def count_bar_charts(boards: Mapping[str, Leaderboard]) -> int:
    return sum(len(lb.metrics) * len(lb.datasets) for lb in boards.values())


# ---- the privacy-utility scatter ---------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    name: str
    label: str
    x: float
    x_err: float | None
    y: float
    y_err: float | None


SC_W, SC_H = 300, 220
SC_LEFT, SC_RIGHT, SC_TOP, SC_BOTTOM = 54, 16, 30, 40


def scatter_points(
    x_board: Leaderboard, y_board: Leaderboard, dataset: str
) -> tuple[list[Point], list[str]]:
    """The synthesizers with both values on ``dataset``, and a sentence for each left out.

    The reference is never a point (the real data has no DCR; its MLE is drawn as a line).
    """
    x_metric, y_metric = SCATTER_X[1], SCATTER_Y[1]
    x_label, y_label = x_metric.upper(), y_metric.upper()
    points, skipped = [], []
    y_synths = dict(y_board.synthesizers)
    for name, label in x_board.synthesizers:
        if name == REFERENCE:
            continue
        if dataset not in y_board.datasets or name not in y_synths:
            skipped.append(f"{label} (no {y_label})")
            continue
        xc = x_board.cell(dataset, x_metric, name)
        yc = y_board.cell(dataset, y_metric, name)
        (x, x_err), (y, y_err) = stats(xc), stats(yc)
        if x is None or y is None:
            lacking = " and ".join(m for m, v in ((x_label, x), (y_label, y)) if v is None)
            skipped.append(f"{label} (no {lacking})")
            continue
        points.append(Point(name, label, x, x_err, y, y_err))
    return points, skipped


def _span(values: list[float], count: int) -> list[float]:
    """Axis ticks for ``values`` with a little air, so no point sits on the frame."""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.06
    return nice_ticks(lo - pad, hi + pad, count)


def _label_rows(ys: list[float], gap: float, lo: float, hi: float) -> list[float]:
    """Label heights pushed apart by at least ``gap`` pixels, kept inside [lo, hi]."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = list(ys)
    previous = -math.inf
    for i in order:
        out[i] = max(ys[i], previous + gap)
        previous = out[i]
    overflow = max((out[i] - hi for i in order), default=0.0)
    if overflow > 0:
        out = [max(v - overflow, lo) for v in out]
    return out


def scatter_chart(
    dataset: str,
    points: list[Point],
    infos: tuple[MetricInfo, MetricInfo],
    reference_x: float | None,
    style: Mapping[str, Style],
) -> str:
    """MLE (x) against DCR (y) on one dataset, with ± std whiskers on both axes."""
    x_info, y_info = infos
    xs = [p.x + s * (p.x_err or 0) for p in points for s in (-1, 1)]
    ys = [p.y + s * (p.y_err or 0) for p in points for s in (-1, 1)]
    xticks = _span(xs + ([reference_x] if reference_x is not None else []), 4)
    yticks = _span(ys, 5)
    x0, x1, y0, y1 = SC_LEFT, SC_LEFT + SC_W, SC_TOP + SC_H, SC_TOP
    sx, sy = Scale(xticks[0], xticks[-1], x0, x1), Scale(yticks[0], yticks[-1], y0, y1)
    body = [
        f"<text class='title' x='{x0}' y='14'>{_esc(_short(dataset, 40))}</text>",
        *_y_axis(sy, yticks, x0, x1),
        *_x_axis(sx, xticks, y1, y0),
        f"<rect class='frame' x='{x0}' y='{y1}' width='{SC_W}' height='{SC_H}'/>",
        f"<text class='axis-label' x='{_px((x0 + x1) / 2)}' y='{_px(y0 + 32)}' "
        f"text-anchor='middle'>{_esc(x_info.label)} {_esc(x_info.arrow)} (utility)</text>",
        f"<text class='axis-label' transform='translate(12,{_px((y0 + y1) / 2)}) rotate(-90)' "
        f"text-anchor='middle'>{_esc(y_info.label)} {_esc(y_info.arrow)} (privacy)</text>",
    ]
    if reference_x is not None:
        body.append(_reference_line(sx(reference_x), reference_x, x_info.label, y0, y1))
    for p in points:
        body.append(_scatter_point(p, sx, sy, style[p.name], dataset))
    body += _scatter_labels(points, sx, sy, x1)
    label = (
        f"Privacy–utility on {dataset}: {x_info.label} ({goal_text(x_info)}) against "
        f"{y_info.label} ({goal_text(y_info)}), mean ± std over seeds"
    )
    return _svg(SC_LEFT + SC_W + SC_RIGHT, SC_TOP + SC_H + SC_BOTTOM, label, body, "scatter")


def _reference_line(x: float, value: float, metric: str, bottom: float, top: float) -> str:
    """Original's value as a dashed vertical line, its label kept inside the frame."""
    anchor = "start" if x < SC_LEFT + 40 else "end" if x > SC_LEFT + SC_W - 40 else "middle"
    return (
        f"<g class='reference'><line x1='{_px(x)}' x2='{_px(x)}' y1='{_px(top)}' "
        f"y2='{_px(bottom)}'/><text x='{_px(x)}' y='{_px(top - 3)}' text-anchor='{anchor}'>"
        f"Original {_esc(metric)}</text><title>Original (real training data): {_esc(metric)} = "
        f"{_num(value)}</title></g>"
    )


def _scatter_point(p: Point, sx: Scale, sy: Scale, style: Style, dataset: str) -> str:
    cx, cy = sx(p.x), sy(p.y)
    paths = []
    if p.x_err:
        a, b = _px(sx(p.x - p.x_err)), _px(sx(p.x + p.x_err))
        paths.append(
            f"M{a},{_px(cy)}H{b}M{a},{_px(cy - 3)}V{_px(cy + 3)}M{b},{_px(cy - 3)}V{_px(cy + 3)}"
        )
    if p.y_err:
        a, b = _px(sy(p.y - p.y_err)), _px(sy(p.y + p.y_err))
        paths.append(
            f"M{_px(cx)},{a}V{b}M{_px(cx - 3)},{a}H{_px(cx + 3)}M{_px(cx - 3)},{b}H{_px(cx + 3)}"
        )
    whiskers = (
        f"<path class='whisker' stroke='{style.color}' d='{''.join(paths)}'/>" if paths else ""
    )
    tip = f"{p.label} on {dataset}: x = {_num(p.x)}"
    tip += f" ± {_num(p.x_err)}" if p.x_err is not None else ""
    tip += f", y = {_num(p.y)}" + (f" ± {_num(p.y_err)}" if p.y_err is not None else "")
    return f"<g class='point'>{whiskers}{marker(style, cx, cy)}<title>{_esc(tip)}</title></g>"


def _scatter_labels(points: list[Point], sx: Scale, sy: Scale, right: float) -> list[str]:
    """Point names beside their markers, nudged apart vertically so they stay legible."""
    rows = _label_rows([sy(p.y) for p in points], 11, SC_TOP + 6, SC_TOP + SC_H - 4)
    out = []
    for p, ly in zip(points, rows, strict=True):
        px = sx(p.x)
        left = px > right - 80
        lx, anchor = (px - 8, "end") if left else (px + 8, "start")
        out.append(
            f"<text class='plabel' x='{_px(lx)}' y='{_px(ly)}' text-anchor='{anchor}' "
            f"dominant-baseline='middle'>{_esc(_short(p.label, 18))}</text>"
        )
    return out


def scatter_charts(
    boards: Mapping[str, Leaderboard], style: Mapping[str, Style]
) -> tuple[list[str], list[str]]:
    """(one scatter per dataset with at least one point, notes on what is not plotted)."""
    x_board, y_board = boards.get(SCATTER_X[0]), boards.get(SCATTER_Y[0])
    x_info = _info(x_board, SCATTER_X[1])
    y_info = _info(y_board, SCATTER_Y[1])
    if x_board is None or y_board is None or x_info is None or y_info is None:
        missing = [m.upper() for m, i in ((SCATTER_X[1], x_info), (SCATTER_Y[1], y_info)) if not i]
        return [], [f"Not drawn: {' and '.join(missing)} not in these results."]
    charts, notes = [], []
    for dataset in x_board.datasets:
        points, skipped = scatter_points(x_board, y_board, dataset)
        if skipped:
            notes.append(f"{dataset}: not plotted: {', '.join(skipped)}.")
        if not points:
            continue
        ref = x_board.cells.get((dataset, SCATTER_X[1], REFERENCE))
        ref_x = stats(ref)[0] if ref is not None else None
        charts.append(scatter_chart(dataset, points, (x_info, y_info), ref_x, style))
    return charts, notes


def _info(board: Leaderboard | None, metric: str) -> MetricInfo | None:
    if board is None:
        return None
    return next((m for m in board.metrics if m.name == metric), None)


# ---- page parts -------------------------------------------------------------------------------


def table_block(lb: Leaderboard) -> str:
    """A table from :func:`render.to_html_table` under its caption set at the page's width.

    The table's own ``<caption>`` would be squeezed to the table's width (a tall, narrow
    column of text beside a two-column table); it stays for screen readers but is hidden, and
    the banner already holds the metric variants and versions the caption repeats.
    """
    title, *lines = render.caption(lb)
    shown = [x for x in lines if not x.startswith(("Metric variants:", "Versions:"))]
    text = "".join(f"<p>{_esc(x)}</p>" for x in shown)
    return (
        f"<div class='table-block'><h3>{_esc(title)}</h3><div class='table-caption'>{text}</div>"
        f"<div class='table-wrap'>{render.to_html_table(lb)}</div></div>"
    )


def legend(boards: Mapping[str, Leaderboard], style: Mapping[str, Style]) -> str:
    """One shared legend: colours and markers are the same in every chart."""
    items = []
    for name, label in _synthesizers(boards):
        swatch = (
            "<svg class='swatch' width='14' height='14' viewBox='0 0 14 14'>"
            f"{marker(style[name], 7, 7, 5)}</svg>"
        )
        items.append(f"<li>{swatch}{_esc(label)}</li>")
    return f"<ul class='legend' aria-label='synthesizers'>{''.join(items)}</ul>"


def _synthesizers(boards: Mapping[str, Leaderboard]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for lb in boards.values():
        for name, label in lb.synthesizers:
            seen.setdefault(name, label)
    return list(seen.items())


def provenance_banner(prov: Mapping[str, Any], results: Results | None) -> str:
    """What a reader must know before trusting a number, above everything else."""
    preset = str(prov.get("preset", "?"))
    warning = ""
    if preset != "paper":
        warning = (
            f"<p class='warning'><strong>Preset “{_esc(preset)}”: not the paper's numbers.</strong>"
            " They come from reduced settings (fewer epochs, smaller models, a tiny LLM "
            "backbone: the same methods, cut for a laptop); do not cite them as the paper's "
            "numbers or compare them with published tables as equals.</p>"
        )
    seeds = ", ".join(str(s) for s in prov.get("seeds", [])) or "none"
    rows = [
        ("Preset", _esc(preset)),
        ("LLM backbone", _esc(prov.get("llm_backbone", "?"))),
        ("Seeds", f"{_esc(seeds)} <span class='muted'>({_esc(prov.get('std', ''))})</span>"),
        ("Jobs", _job_summary(results)),
        ("Commands", _code_list(prov.get("commands", [])) or "<span class='muted'>none</span>"),
        ("Results", f"<code>{_esc(prov.get('results', ''))}</code>"),
        ("Generated", _esc(prov.get("generated", ""))),
        ("Versions", _versions(prov.get("versions", {}))),
        ("Metric variants", _list(prov.get("metric_variants", []))),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows if v)
    cls = "provenance" if preset == "paper" else "provenance quick"
    return f"<section class='{cls}' id='provenance'>{warning}<dl>{dl}</dl></section>"


def _job_summary(results: Results | None) -> str:
    if results is None or results.jobs.empty:
        return ""
    counts = results.jobs.status.value_counts()
    return _esc(", ".join(f"{n} {status}" for status, n in counts.items()))


def _code_list(items: Iterable[str]) -> str:
    return "".join(f"<code class='command'>{_esc(c)}</code>" for c in items)


def _list(items: Iterable[str]) -> str:
    lis = "".join(f"<li>{_esc(i)}</li>" for i in items)
    return f"<ul>{lis}</ul>" if lis else ""


def _versions(versions: Mapping[str, str]) -> str:
    return " ".join(
        f"<span class='version'>{_esc(k)} <code>{_esc(v)}</code></span>"
        for k, v in versions.items()
    )


HOW_TO_READ = """
<section id='how-to-read'><h2>How to read this report</h2><ul>
<li><strong>Table cells</strong> read <em>mean ± std</em> over seeds (sample standard deviation,
ddof = 1; no std with a single run). <em>(n=2/3)</em> means fewer runs succeeded than were
requested. The best synthesizer per row is <strong>bold</strong>, the second
<u>underlined</u>, by the metric's goal; <em>Original</em> (the real training data) is the
reference and is not ranked. “—” means the metric does not apply; “†<i>k</i>” points to
note <i>k</i> under the table (a failure or a missing value).</li>
<li><strong>Arrows</strong>: ↑ higher is better, ↓ lower is better, →<i>v</i> closer to
<i>v</i> is better. Each bar chart repeats the direction with a drawn arrow marked
“better”; a dashed line marks a target value.</li>
<li><strong>Bar charts</strong>: one per metric and dataset, each with its own axis (scales
differ between datasets). Bars start at zero (they go down for negative values), whiskers
span ± one std over seeds. A hatched bar rests on fewer successful runs than requested.
Instead of a bar: <span class='failed'>×</span> the runs failed, – not applicable,
? not computed. Hover over a bar for its exact value and run count.</li>
<li><strong>Privacy–utility scatter</strong>: one point per synthesizer and dataset, x = MLE
(utility), y = DCR (privacy: distance from synthetic rows to the closest training row), with
± std whiskers on both axes. Up and to the right is better on both, but a very high DCR
can also mean the rows are far from the real data. Original has no DCR (it is the
training data itself), so it is not a point; its MLE is the dashed vertical line.</li>
<li>Colours and markers identify synthesizers the same way in every chart (legend above the
charts).</li>
</ul></section>
"""

CSS = """
:root { --fg: #1d1d1f; --muted: #666; --line: #d9d9d9; --warn: #8a1c0b; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: var(--fg); margin: 0 auto; max-width: 1400px; padding: 0 24px 48px; }
h1 { margin: 24px 0 8px; } h2 { margin-top: 36px; border-bottom: 1px solid var(--line); }
h4 { margin: 18px 0 4px; } .goal-text, .muted { color: var(--muted); font-weight: normal; }
nav { margin: 10px 0; } nav a { margin-right: 14px; }
code { font: 12px/1.3 "DejaVu Sans Mono", monospace; background: #f3f3f3; padding: 1px 4px; }
.provenance { border: 1px solid #b9c6d6; background: #f4f8fc; padding: 12px 16px;
              border-radius: 6px; }
.provenance.quick { border: 2px solid #d9822b; background: #fff7ed; }
.provenance .warning { color: var(--warn); font-size: 16px; margin: 0 0 10px; }
.provenance dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px;
                 margin: 0; }
.provenance dt { font-weight: 600; } .provenance dd { margin: 0; }
.provenance ul { margin: 0; padding-left: 18px; }
code.command { display: block; margin: 2px 0; white-space: pre-wrap; word-break: break-all; }
.version { margin-right: 12px; white-space: nowrap; }
.table-wrap { overflow-x: auto; margin: 8px 0 4px; }
table.leaderboard { border-collapse: collapse; font-size: 13px; }
table.leaderboard caption { position: absolute; width: 1px; height: 1px; overflow: hidden;
                            clip: rect(0 0 0 0); white-space: nowrap; }
.table-caption p { margin: 0; color: var(--muted); font-size: 12px; }
table.leaderboard th, table.leaderboard td { border-bottom: 1px solid var(--line);
                                             padding: 3px 8px; white-space: nowrap; }
table.leaderboard thead th { border-bottom: 2px solid #999; }
table.leaderboard tbody th { text-align: left; }
ul.notes { font-size: 12px; color: var(--muted); }
.legend { position: sticky; top: 0; z-index: 1; background: rgba(255, 255, 255, .95);
          list-style: none; margin: 0; padding: 6px 0; display: flex; flex-wrap: wrap;
          gap: 4px 16px; border-bottom: 1px solid var(--line); }
.legend li { display: flex; align-items: center; gap: 5px; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 20px; align-items: flex-start; }
svg.chart { max-width: 100%; height: auto; overflow: visible; }
svg.chart text { font: 10px "DejaVu Sans", sans-serif; fill: #333; }
svg.chart text.title { font-weight: 600; font-size: 11px; }
svg.chart text.axis-label { fill: #555; }
svg.chart text.glyph { font-size: 13px; font-weight: 700; fill: #888; }
svg.chart text.glyph.failed { fill: #c0392b; }
svg.defs { position: absolute; }
.metric-groups { display: flex; flex-wrap: wrap; gap: 8px 48px; }
figure.metric { margin: 8px 0; } figure.metric figcaption { margin-bottom: 4px; }
svg.chart line.grid { stroke: #ececec; } svg.chart line.zero, svg.chart line.axis { stroke: #888; }
svg.chart line.target { stroke: #444; stroke-dasharray: 4 3; }
svg.chart .frame { fill: none; stroke: #bbb; }
svg.chart .whisker { stroke: #222; stroke-width: 1.1; fill: none; }
svg.chart .goal line { stroke: #2a7a2a; stroke-width: 1.6; }
svg.chart .goal polygon { fill: #2a7a2a; } svg.chart .goal text { fill: #2a7a2a; }
svg.chart .reference line { stroke: #6b6b6b; stroke-dasharray: 4 3; }
svg.chart .reference text { fill: #6b6b6b; }
.failed { color: #c0392b; font-weight: 700; }
p.note, ul.scatter-notes { color: var(--muted); font-size: 12px; }
"""

#: First thing in <head>: record any script or resource error on <body> for the browser test.
HEAD_SCRIPT = """<script>
window.__reportErrors = [];
function __reportError(text) {
  window.__reportErrors.push(String(text));
  if (document.body) document.body.dataset.errors = window.__reportErrors.join(" | ");
}
window.onerror = function (message, source, line) {
  __reportError(message + " (" + source + ":" + line + ")");
};
window.addEventListener("error", function (event) {
  var t = event.target;
  if (t && t !== window && t.tagName) __reportError("failed to load " + t.tagName);
}, true);
</script>"""

#: Last thing in <body>: compare what rendered with what the page was built to hold.
TAIL_SCRIPT = """<script>
(function () {
  var body = document.body;
  var tables = document.querySelectorAll("table.leaderboard").length;
  var charts = document.querySelectorAll("svg.chart").length;
  body.dataset.tables = tables;
  body.dataset.charts = charts;
  var expected = tables === Number(body.dataset.expectedTables) &&
                 charts === Number(body.dataset.expectedCharts);
  body.dataset.rendered = expected ? "ok" : "mismatch";
  if (window.__reportErrors.length) body.dataset.errors = window.__reportErrors.join(" | ");
})();
</script>"""

#: Nothing may be fetched: inline styles and scripts only, images only as data: URLs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


# ---- the page ---------------------------------------------------------------------------------


def render_report(boards: Mapping[str, Leaderboard], results: Results | None = None) -> str:
    """The whole page for ``boards`` (name -> leaderboard); ``results`` adds the job summary."""
    prov = next(iter(boards.values())).provenance if boards else None
    if prov is None:
        prov = provenance(results) if results is not None else {}
    style = styles(name for name, _ in _synthesizers(boards))
    tables = "".join(table_block(lb) for lb in boards.values())
    scatters, scatter_notes = scatter_charts(boards, style)
    bars = bar_charts(boards, style)
    n_charts = len(scatters) + count_bar_charts(boards)
    notes = [
        "Original (the real training data) has no DCR, so it is never a point; its MLE is "
        "the dashed vertical line.",
        *scatter_notes,
    ]
    title = "Synthetic-data benchmark report"
    parts = [
        f"<h1>{title}</h1>",
        provenance_banner(prov, results),
        "<nav><a href='#tables'>Tables</a><a href='#scatter'>Privacy–utility</a>"
        "<a href='#bars'>Per-metric charts</a><a href='#how-to-read'>How to read</a></nav>",
        f"<section id='tables'><h2>Leaderboards</h2>{tables or _none('No table.')}</section>",
        f"<section id='charts'><h2>Charts</h2>{HATCH_DEFS}{legend(boards, style)}",
        "<section id='scatter'><h3>Privacy–utility trade-off (MLE against DCR)</h3>"
        f"<div class='charts'>{''.join(scatters) or _none('No point to plot.')}</div>",
        f"<ul class='scatter-notes'>{''.join(f'<li>{_esc(n)}</li>' for n in notes)}</ul></section>",
        f"<section id='bars'><h2>Per-metric charts</h2>{''.join(bars)}</section></section>",
        HOW_TO_READ,
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title} ({_esc(prov.get('preset', '?'))})</title>"
        f"<link rel='icon' href='data:,'>{HEAD_SCRIPT}<style>{CSS}</style></head>\n"
        f"<body data-expected-tables='{len(boards)}' data-expected-charts='{n_charts}'>\n"
        + "\n".join(parts)
        + f"\n{TAIL_SCRIPT}\n</body></html>\n"
    )


def _none(text: str) -> str:
    return f"<p class='note'>{_esc(text)}</p>"


def write_report(results: Results | str | Path, path: str | Path) -> Path:
    """Build the three leaderboards of ``results`` (or of a results folder) and write the page."""
    if not isinstance(results, Results):
        results = load_results(str(results))
    boards = {name: build(results, name) for name in TABLES}
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(boards, results), encoding="utf-8")
    return out
