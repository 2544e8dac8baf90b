"""The HTML report page, on small hand-made results stores (no benchmark run, fast).

The stores are written through the real :class:`bench.store.Store` API (``start_run``,
``mark_running``, ``save``), so the page is tested on exactly what a run leaves behind.
"""

from __future__ import annotations

import itertools
import math
import re
from html.parser import HTMLParser

import pytest

from leaderboards import charts, report
from leaderboards.tables import TABLES, Cell, Results, build

from fabricate import Run, fabricate

SEEDS = (1, 2, 3)
HOSTILE_SYNTH = "evil<script>alert('s')</script>&\"q\""
HOSTILE_DATASET = "data<img src=x onerror=alert(1)>&'d'"


def full_metrics(base: float, seed: int) -> dict[str, float | str]:
    """Every metric of the three tables, a little different per seed; DLT is negative."""
    jitter = 0.01 * seed
    return {
        "mle": base + jitter,
        "lle": base - jitter,
        "mle_catboost": base + 2 * jitter,
        "nrs": 0.9 + jitter,
        "dcr": 1.5 * base + jitter,
        "dlt": -164.0 + 10 * base + seed,
        "dm": 0.1 * base,
        "wd": 0.4 - 0.1 * base + jitter,
        "cs": 0.9 + jitter,
    }


def rich_runs() -> list[Run]:
    """Two datasets (one with a hostile name), a reference, a hostile synthesizer, an LLM
    synthesizer with one failed seed, a synthesizer whose every job failed, a metric error."""
    runs = []
    for dataset in ("german", HOSTILE_DATASET):
        for seed in SEEDS:
            reference = full_metrics(0.7, 0) | {
                "nrs": "n/a: the real data is not a synthetic table",
                "dcr": "n/a: the real data is not a synthetic table",
                "dlt": "n/a: the real data is not a synthetic table",
            }
            runs += [
                Run(dataset, "original", seed, reference),
                Run(dataset, "smote", seed, full_metrics(0.8, seed)),
                Run(dataset, HOSTILE_SYNTH, seed, full_metrics(0.5, seed) | {"wd": "error: boom"}),
                Run(dataset, "ctabgan", seed, status="timeout", error="fit exceeded 1800 s"),
            ]
            great = Run(dataset, "great", seed, full_metrics(0.6, seed), params={"llm": "gpt2"})
            if seed == 3:
                great = Run(
                    dataset,
                    "great",
                    seed,
                    status="error",
                    error="CUDA <oom> & more",
                    params={"llm": "gpt2"},
                )
            runs.append(great)
    return runs


@pytest.fixture
def rich(tmp_path) -> Results:
    return fabricate(tmp_path / "rich", rich_runs())


def boards_of(results: Results) -> dict[str, report.Leaderboard]:
    return {name: build(results, name) for name in TABLES}


# ---- checking the page ---------------------------------------------------------------------------

VOID = {"meta", "link", "br", "img", "input", "hr", "wbr", "source", "col", "area", "base"}
#: Elements inside <svg> that the report writes self-closed.
SVG_EMPTY = {"line", "rect", "circle", "polygon", "path"}


class StrictParser(HTMLParser):
    """Fails on unbalanced tags: html.parser itself forgives everything."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag not in VOID | SVG_EMPTY:
            self.errors.append(f"self-closed <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == [], (parser.errors, parser.stack)
    return parser


def count_charts(page: str) -> int:
    return len(re.findall(r"<svg class='chart ", page))


def expected_charts(boards: dict[str, report.Leaderboard]) -> int:
    """One bar chart per metric × dataset, one scatter per dataset with a point on it."""
    bars = sum(len(b.metrics) * len(b.datasets) for b in boards.values())
    utility, privacy = boards["utility"], boards["privacy"]
    if not {"mle"} <= {m.name for m in utility.metrics} or "dcr" not in {
        m.name for m in privacy.metrics
    }:
        return bars
    return bars + sum(1 for d in utility.datasets if charts.scatter_points(utility, privacy, d)[0])


# ---- tests ------------------------------------------------------------------------------------


def test_page_is_self_contained(rich):
    page = report.render_report(boards_of(rich), rich)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"<link[^>]*stylesheet", page, re.I)
    assert "@import" not in page
    assert set(re.findall(r"url\(([^)]*)\)", page)) == {"#hatch-partial"}  # in-page only
    assert "<script src" not in page.lower()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    parse(page)


def test_three_tables_and_one_chart_per_metric_dataset_plus_scatters(rich):
    boards = boards_of(rich)
    page = report.render_report(boards, rich)
    for name in TABLES:
        assert f"<table class='leaderboard' id='table-{name}'>" in page
    assert page.count("<table class='leaderboard'") == 3
    # 9 metrics × 2 datasets of bars + one scatter per dataset
    assert count_charts(page) == 9 * 2 + 2 == expected_charts(boards)
    assert page.count("<svg class='chart scatter'") == 2
    assert "data-expected-tables='3' data-expected-charts='20'" in page


def test_hostile_names_are_escaped_everywhere(rich):
    page = report.render_report(boards_of(rich), rich)
    for raw in (HOSTILE_SYNTH, HOSTILE_DATASET, "<script>alert", "<img src=x", "CUDA <oom>"):
        assert raw not in page
    assert "evil&lt;script&gt;alert(&#x27;s&#x27;)&lt;/script&gt;&amp;&quot;q&quot;" in page
    assert "data&lt;img src=x onerror=alert(1)&gt;&amp;&#x27;d&#x27;" in page
    # exactly the two scripts the report writes itself
    assert page.count("<script>") == 2
    text = "".join(parse(page).text)
    assert HOSTILE_SYNTH in text and HOSTILE_DATASET in text  # shown, as text


def test_failed_missing_and_not_applicable_cells(rich):
    boards = boards_of(rich)
    page = report.render_report(boards, rich)
    # ctabgan failed everywhere: a × glyph in every chart, the reason in the table notes
    assert page.count("<g class='bar failed'>") >= 9 * 2
    assert "timeout: fit exceeded 1800 s" in page
    assert "error: boom" in page  # a metric failure of the hostile synthesizer (WD)
    # Original: "not applicable" for privacy metrics, and never a scatter point
    assert page.count("<g class='bar na'>") == 3 * 2
    assert "Original (the real training data) has no DCR" in page
    assert "german: not plotted: CTAB-GAN (no MLE and DCR)." in page
    # GReaT lost one of three seeds: a hatched bar and n=2/3
    assert "GReaT on german: MLE = " in page and "n=2/3" in page
    assert page.count("<rect class='partial'") == 9 * 2


def test_negative_values_get_an_axis_below_zero(rich):
    lb = build(rich, "privacy")
    dlt = next(m for m in lb.metrics if m.name == "dlt")
    svg = charts.bar_chart(lb, dlt, "german", charts.styles(n for n, _ in lb.synthesizers))
    assert "−175" in svg or "−200" in svg  # DLT is about -160: the axis goes below it
    assert "class='zero'" not in svg  # all values negative: zero is the top of the axis
    ticks = charts.nice_ticks(-164.0, 0.0)
    assert ticks[0] <= -164 and ticks[-1] == 0 and len(ticks) <= 8


def test_provenance_banner_and_quick_warning(rich, tmp_path):
    page = report.render_report(boards_of(rich), rich)
    assert "not the paper's numbers" in page
    assert "gpt2" in page  # the LLM backbone of GReaT
    assert "bench run --out" in page and "numpy <code>2.0</code>" in page
    assert "Seeds</dt><dd>1, 2, 3" in page
    assert "WD: geomloss Sinkhorn divergence" in page  # metric variants
    assert "How to read this report" in page
    paper = fabricate(tmp_path / "paper", [Run("german", "smote", 1, {"mle": 0.5})], "paper")
    assert "not the paper's numbers" not in report.render_report(boards_of(paper), paper)


def test_single_synthesizer_single_seed(tmp_path):
    results = fabricate(tmp_path / "one", [Run("german", "smote", 1, {"mle": 0.7, "dcr": 1.2})])
    boards = boards_of(results)
    page = report.render_report(boards, results)
    parse(page)
    # MLE and DCR only: two bar charts and one scatter point without whiskers
    assert count_charts(page) == 3 == expected_charts(boards)
    assert "one run, no std" in page
    scatter = page[page.index("<svg class='chart scatter'") :]
    assert "class='whisker'" not in scatter[: scatter.index("</svg>")]


def test_many_synthesizers_get_distinct_styles(tmp_path):
    names = [f"synth{i:02d}" for i in range(14)]
    runs = [
        Run("german", name, seed, {"mle": 0.5 + i / 50 + seed / 100, "dcr": 1 + i / 10})
        for i, name in enumerate(names)
        for seed in (1, 2)
    ]
    results = fabricate(tmp_path / "many", runs)
    styles = charts.styles(["original", *names])
    assert len({(s.color, s.marker) for s in styles.values()}) == len(names) + 1
    page = report.render_report(boards_of(results), results)
    parse(page)
    assert page.count("<g class='point'>") == len(names)
    for name in names:
        assert "<li><svg class='swatch'" in page and f"{name}</li>" in page


def test_nan_and_none_are_drawn_as_missing_never_as_numbers(rich):
    # build() keeps finite values only; a hand-made board may still hold NaN or inf
    boards = boards_of(rich)
    utility, privacy = boards["utility"], boards["privacy"]
    utility.cells[("german", "mle", "smote")] = Cell(values=[math.nan, math.nan], requested=2)
    utility.cells[("german", "lle", "smote")] = Cell(values=[math.inf], requested=1)
    style = charts.styles(n for n, _ in utility.synthesizers)
    svgs = [charts.bar_chart(utility, m, "german", style) for m in utility.metrics]
    svgs += charts.scatter_charts(boards, style)[0]
    for svg in svgs:
        parse(svg)
        assert not re.search(r"\b(nan|inf)\b", svg, re.I)
    assert "SMOTE on german: missing" in svgs[0] and "SMOTE on german: missing" in svgs[1]
    points, skipped = charts.scatter_points(utility, privacy, "german")
    assert "smote" not in {p.name for p in points} and "SMOTE (no MLE)" in skipped


def test_no_boards_and_absent_metrics_still_make_a_page(tmp_path):
    page = report.render_report({}, None)
    parse(page)
    assert "data-expected-tables='0' data-expected-charts='0'" in page
    results = fabricate(tmp_path / "dm", [Run("german", "smote", s, {"dm": 0.0}) for s in SEEDS])
    page = report.render_report(boards_of(results), results)
    parse(page)
    assert "Not drawn: MLE and DCR not in these results." in page
    assert count_charts(page) == 1  # DM only; all zeros still get a 0..1 axis
    assert charts.nice_ticks(0.0, 0.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_nice_ticks_cover_the_range_with_round_steps():
    for lo, hi in [(0.0, 0.73), (0.3945, 1.5088), (-164.0, 12.0), (1e-5, 3e-5), (5.0, 5.0)]:
        ticks = charts.nice_ticks(lo, hi)
        assert ticks[0] <= min(lo, hi) and ticks[-1] >= max(lo, hi)
        assert 2 <= len(ticks) <= 12
        steps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1


def test_write_report_from_a_folder(rich, tmp_path):
    path = report.write_report(rich.folder, tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<table class='leaderboard'") == 3
