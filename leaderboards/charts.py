"""SVG charts for the HTML report: per-metric bar charts with error bars and the
privacy-utility scatter, drawn as plain SVG strings (no charting library, works offline).

Every string from the results is escaped; every number comes from a
:class:`~leaderboards.tables.Cell`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from leaderboards.tables import Cell, Leaderboard, MetricInfo

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


def esc(text: object) -> str:
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
        f"aria-label='{esc(label)}'><title>{esc(label)}</title>{''.join(body)}</svg>"
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
        f"<text class='title' x='{BAR_LEFT - 40}' y='12'>{esc(_short(dataset, fits))}</text>",
        f"<text class='axis-label' x='{BAR_LEFT - 40}' y='27'>{esc(info.label)} "
        f"{esc(info.arrow)}</text>",
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
            f"{esc(_short(label, LABEL_CHARS))}</text>"
        )
    body.append(
        f"<line class='axis' x1='{BAR_LEFT}' x2='{_px(right)}' y1='{_px(base)}' y2='{_px(base)}'/>"
    )
    label = f"{info.label} ({goal_text(info)}) on {dataset}, mean ± std over seeds"
    return _svg(width, height, label, body, "bars")


def _bar(cell: Cell, cx: float, w: float, y: Scale, base: float, color: str, tip: str) -> str:
    """A bar with its whisker, or the glyph of the cell's state, with a tooltip."""
    mean, std = stats(cell)
    title = f"<title>{esc(tip)}</title></g>"
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
        out.append(f"<h3>{esc(lb.title)}</h3>")
        if not lb.metrics:
            out.append(none_note("No metric of this table is in these results."))
        groups = []
        for info in lb.metrics:
            charts = "".join(bar_chart(lb, info, d, style) for d in lb.datasets)
            groups.append(
                f"<figure class='metric'><figcaption><strong>{esc(info.label)} "
                f"{esc(info.arrow)}</strong> <span class='goal-text'>{esc(goal_text(info))}"
                "</span></figcaption><div class='charts'>"
                f"{charts or none_note('No dataset.')}</div>"
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
        f"<text class='title' x='{x0}' y='14'>{esc(_short(dataset, 40))}</text>",
        *_y_axis(sy, yticks, x0, x1),
        *_x_axis(sx, xticks, y1, y0),
        f"<rect class='frame' x='{x0}' y='{y1}' width='{SC_W}' height='{SC_H}'/>",
        f"<text class='axis-label' x='{_px((x0 + x1) / 2)}' y='{_px(y0 + 32)}' "
        f"text-anchor='middle'>{esc(x_info.label)} {esc(x_info.arrow)} (utility)</text>",
        f"<text class='axis-label' transform='translate(12,{_px((y0 + y1) / 2)}) rotate(-90)' "
        f"text-anchor='middle'>{esc(y_info.label)} {esc(y_info.arrow)} (privacy)</text>",
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
        f"Original {esc(metric)}</text><title>Original (real training data): {esc(metric)} = "
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
    return f"<g class='point'>{whiskers}{marker(style, cx, cy)}<title>{esc(tip)}</title></g>"


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
            f"dominant-baseline='middle'>{esc(_short(p.label, 18))}</text>"
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


def none_note(text: str) -> str:
    return f"<p class='note'>{esc(text)}</p>"
