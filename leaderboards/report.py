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

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from leaderboards import render
from leaderboards.charts import (
    HATCH_DEFS,
    Style,
    bar_charts,
    count_bar_charts,
    esc,
    marker,
    none_note,
    scatter_charts,
    styles,
)
from leaderboards.tables import (
    TABLES,
    Leaderboard,
    Results,
    build,
    load_results,
    provenance,
)

# ---- page parts -------------------------------------------------------------------------------


def table_block(lb: Leaderboard) -> str:
    """A table from :func:`render.to_html_table` under its caption set at the page's width.

    The table's own ``<caption>`` would be squeezed to the table's width (a tall, narrow
    column of text beside a two-column table); it stays for screen readers but is hidden, and
    the banner already holds the metric variants and versions the caption repeats.
    """
    title, *lines = render.caption(lb)
    shown = [x for x in lines if not x.startswith(("Metric variants:", "Versions:"))]
    text = "".join(f"<p>{esc(x)}</p>" for x in shown)
    return (
        f"<div class='table-block'><h3>{esc(title)}</h3><div class='table-caption'>{text}</div>"
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
        items.append(f"<li>{swatch}{esc(label)}</li>")
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
            f"<p class='warning'><strong>Preset “{esc(preset)}”: not the paper's numbers.</strong>"
            " They come from reduced settings (fewer epochs, smaller models, a tiny LLM "
            "backbone: the same methods, cut for a laptop); do not cite them as the paper's "
            "numbers or compare them with published tables as equals.</p>"
        )
    seeds = ", ".join(str(s) for s in prov.get("seeds", [])) or "none"
    rows = [
        ("Preset", esc(preset)),
        ("LLM backbone", esc(prov.get("llm_backbone", "?"))),
        ("Seeds", f"{esc(seeds)} <span class='muted'>({esc(prov.get('std', ''))})</span>"),
        ("Jobs", _job_summary(results)),
        ("Settings", esc(" ".join(render.settings_lines(dict(prov))))),
        ("Commands", _code_list(prov.get("commands", [])) or "<span class='muted'>none</span>"),
        ("Results", f"<code>{esc(prov.get('results', ''))}</code>"),
        ("Generated", esc(prov.get("generated", ""))),
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
    return esc(", ".join(f"{n} {status}" for status, n in counts.items()))


def _code_list(items: Iterable[str]) -> str:
    return "".join(f"<code class='command'>{esc(c)}</code>" for c in items)


def _list(items: Iterable[str]) -> str:
    lis = "".join(f"<li>{esc(i)}</li>" for i in items)
    return f"<ul>{lis}</ul>" if lis else ""


def _versions(versions: Mapping[str, str]) -> str:
    return " ".join(
        f"<span class='version'>{esc(k)} <code>{esc(v)}</code></span>" for k, v in versions.items()
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
        f"<section id='tables'><h2>Leaderboards</h2>{tables or none_note('No table.')}</section>",
        f"<section id='charts'><h2>Charts</h2>{HATCH_DEFS}{legend(boards, style)}",
        "<section id='scatter'><h3>Privacy–utility trade-off (MLE against DCR)</h3>"
        f"<div class='charts'>{''.join(scatters) or none_note('No point to plot.')}</div>",
        f"<ul class='scatter-notes'>{''.join(f'<li>{esc(n)}</li>' for n in notes)}</ul></section>",
        f"<section id='bars'><h2>Per-metric charts</h2>{''.join(bars)}</section></section>",
        HOW_TO_READ,
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title} ({esc(prov.get('preset', '?'))})</title>"
        f"<link rel='icon' href='data:,'>{HEAD_SCRIPT}<style>{CSS}</style></head>\n"
        f"<body data-expected-tables='{len(boards)}' data-expected-charts='{n_charts}'>\n"
        + "\n".join(parts)
        + f"\n{TAIL_SCRIPT}\n</body></html>\n"
    )


def write_report(results: Results | str | Path, path: str | Path) -> Path:
    """Build the three leaderboards of ``results`` (or of a results folder) and write the page."""
    if not isinstance(results, Results):
        results = load_results(str(results))
    boards = {name: build(results, name) for name in TABLES}
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(boards, results), encoding="utf-8")
    return out
