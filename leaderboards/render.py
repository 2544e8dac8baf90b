"""Leaderboards as Markdown (GitHub), LaTeX (booktabs), tidy CSV and HTML tables.

Cells read ``mean ± std`` over seeds (ddof = 1), with ``(n=2/3)`` when fewer runs succeeded
than were requested; best bold and second underlined by the metric's goal (the real-data
reference is not ranked); "—" where a metric does not apply; a dagger with a numbered
footnote where runs failed or a value is missing.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Iterable
from typing import Any

from leaderboards.tables import Cell, Leaderboard

DAGGER = "†"
DASH = "—"


def _num(x: float, digits: int) -> str:
    return f"{x:.{digits}f}"


def _parts(lb: Leaderboard, cell: Cell, digits: int) -> tuple[str, str]:
    """(value text, footnote marks) of one cell, without emphasis."""
    marks = "".join(f"{DAGGER}{lb.footnote(r)}" for r in dict.fromkeys(cell.failures))
    if cell.state == "na":
        return DASH, ""
    if cell.state in ("failed", "missing"):
        if cell.state == "missing":
            marks = f"{DAGGER}{lb.footnote('not computed in these results')}"
        return "", marks
    text = _num(cell.mean or 0.0, digits)
    if cell.std is not None:
        text += f" ± {_num(cell.std, digits)}"
    if cell.n < cell.requested:
        text += f" (n={cell.n}/{cell.requested})"
    return text, marks


def _rows(
    lb: Leaderboard,
    digits: int,
    emph: Callable[[str, int | None], str],
    mark: Callable[[str], str],
) -> Iterable[tuple[str, str, list[str]]]:
    for dataset in lb.datasets:
        for info in lb.metrics:
            cells = []
            for synth, _ in lb.synthesizers:
                cell = lb.cell(dataset, info.name, synth)
                text, marks = _parts(lb, cell, digits)
                cells.append(emph(text, cell.rank) + (mark(marks) if marks else ""))
            yield dataset, f"{info.label} {info.arrow}", cells


def settings_lines(p: dict[str, Any]) -> list[str]:
    """Where the jobs left the preset, and which jobs of the folder the cells do not use."""
    lines = []
    if p.get("overrides"):
        each = "; ".join(f"{label} {', '.join(items)}" for label, items in p["overrides"].items())
        lines.append(f"Settings other than the preset's: {each}.")
    if p.get("left_out"):
        lines.append(
            "Left out, superseded by later jobs in the same folder ('bench status' lists "
            "them): " + "; ".join(p["left_out"]) + "."
        )
    return lines


def caption(lb: Leaderboard) -> list[str]:
    """The header every rendering carries: nobody can mistake a quick run for the paper."""
    p = lb.provenance
    lines = [
        f"{lb.title}.",
        f"Preset: {p['preset']}. LLM backbone: {p['llm_backbone']}. "
        f"Seeds: {', '.join(map(str, p['seeds']))}. Cells: mean ± {p['std']}; "
        "best bold, second underlined (Original is the reference and not ranked); "
        f"{DASH} not applicable; {DAGGER} see notes.",
    ]
    if lb.absent_metrics:
        names = ", ".join(m.upper() for m in lb.absent_metrics)
        lines.append(f"Not in these results: {names}.")
    lines += settings_lines(p)
    lines.append("Metric variants: " + "; ".join(p["metric_variants"]) + ".")
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in p["versions"].items()) + ".")
    return lines


def _notes(lb: Leaderboard) -> list[str]:
    return [f"{DAGGER}{i} {reason}" for i, reason in enumerate(lb.footnotes, start=1)]


# ---- Markdown ---------------------------------------------------------------------------------


def to_markdown(lb: Leaderboard, digits: int = 2) -> str:
    def emph(text: str, rank: int | None) -> str:
        if not text or text == DASH:
            return text
        return f"**{text}**" if rank == 1 else f"<u>{text}</u>" if rank == 2 else text

    head = ["Dataset", "Metric", *(label for _, label in lb.synthesizers)]
    out = [f"### {lb.title}", "", *(f"> {line}" for line in caption(lb)[1:]), ""]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] * 2 + [":---:"] * len(lb.synthesizers)) + "|")
    for dataset, metric, cells in _rows(lb, digits, emph, lambda m: f"<sup>{m}</sup>"):
        out.append(f"| {dataset} | {metric} | " + " | ".join(cells) + " |")
    notes = _notes(lb)
    if notes:
        out += ["", *(f"- {n}" for n in notes)]
    return "\n".join(out) + "\n"


# ---- LaTeX ------------------------------------------------------------------------------------

_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    out = "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)
    return (
        out.replace("±", r"$\pm$")
        .replace("—", "---")
        .replace("↑", r"$\uparrow$")
        .replace("↓", r"$\downarrow$")
        .replace("→", r"$\rightarrow$")
        .replace(DAGGER, r"\textsuperscript{\dag}")
    )


def to_latex(lb: Leaderboard, digits: int = 2) -> str:
    def emph(text: str, rank: int | None) -> str:
        body = tex_escape(text)
        if not text or text == DASH:
            return body
        return (
            rf"\textbf{{{body}}}" if rank == 1 else rf"\underline{{{body}}}" if rank == 2 else body
        )

    def mark(marks: str) -> str:
        numbers = [m for m in marks.split(DAGGER) if m]
        return "".join(rf"\textsuperscript{{\dag{n}}}" for n in numbers)

    cols = "ll" + "c" * len(lb.synthesizers)
    head = " & ".join(["Dataset", "Metric", *(tex_escape(lbl) for _, lbl in lb.synthesizers)])
    lines = [
        "% requires \\usepackage{booktabs} and \\usepackage{graphicx} (for \\resizebox)",
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{" + tex_escape(" ".join(caption(lb))) + "}",
        r"\label{tab:" + lb.name + "}",
        r"\resizebox{\linewidth}{!}{%",
        rf"\begin{{tabular}}{{{cols}}}",
        r"\toprule",
        head + r" \\",
        r"\midrule",
    ]
    previous = None
    for dataset, metric, cells in _rows(lb, digits, emph, mark):
        if previous is not None and dataset != previous:
            lines.append(r"\midrule")
        name = tex_escape(dataset) if dataset != previous else ""
        lines.append(" & ".join([name, tex_escape(metric), *cells]) + r" \\")
        previous = dataset
    lines += [r"\bottomrule", r"\end{tabular}}"]
    for i, reason in enumerate(lb.footnotes, start=1):
        lines.append(rf"\par{{\footnotesize \dag{i} {tex_escape(reason)}\par}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


# ---- CSV --------------------------------------------------------------------------------------

CSV_FIELDS = (
    "table",
    "dataset",
    "metric",
    "synthesizer",
    "label",
    "mean",
    "std",
    "n",
    "requested",
    "state",
    "rank",
    "goal",
    "note",
    "preset",
    "llm_backbone",
    "seeds",
)


def stamp(p: dict[str, Any]) -> dict[str, str]:
    """The provenance every CSV row carries, so a row read alone cannot pass for the paper."""
    return {
        "preset": str(p["preset"]),
        "llm_backbone": str(p["llm_backbone"]),
        "seeds": " ".join(map(str, p["seeds"])),
    }


def to_csv(boards: Iterable[Leaderboard]) -> str:
    """Tidy: one row per table × dataset × metric × synthesizer, with no comment line (it
    reads with any CSV reader); each row names its preset, LLM backbone and seeds."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for lb in boards:
        for (dataset, metric, synth), cell in lb.cells.items():
            label = dict(lb.synthesizers)[synth]
            info = next(m for m in lb.metrics if m.name == metric)
            note = cell.not_applicable or "; ".join(dict.fromkeys(cell.failures))
            writer.writerow(
                {
                    "table": lb.name,
                    "dataset": dataset,
                    "metric": metric,
                    "synthesizer": synth,
                    "label": label,
                    "mean": cell.mean,
                    "std": cell.std,
                    "n": cell.n,
                    "requested": cell.requested,
                    "state": cell.state,
                    "rank": cell.rank,
                    "goal": info.goal,
                    "note": note,
                    **stamp(lb.provenance),
                }
            )
    return buf.getvalue()


# ---- HTML table (the report page wraps it) ------------------------------------------------------


def to_html_table(lb: Leaderboard, digits: int = 2) -> str:
    def emph(text: str, rank: int | None) -> str:
        body = html.escape(text)
        if not text or text == DASH:
            return body
        return f"<strong>{body}</strong>" if rank == 1 else f"<u>{body}</u>" if rank == 2 else body

    def mark(marks: str) -> str:
        return f"<sup class='note'>{html.escape(marks)}</sup>"

    head = "".join(f"<th>{html.escape(lbl)}</th>" for _, lbl in lb.synthesizers)
    rows = []
    for dataset, metric, cells in _rows(lb, digits, emph, mark):
        tds = "".join(f"<td>{c}</td>" for c in cells)
        rows.append(
            f"<tr><th scope='row'>{html.escape(dataset)}</th>"
            f"<td>{html.escape(metric)}</td>{tds}</tr>"
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in _notes(lb))
    cap = "<br>".join(html.escape(line) for line in caption(lb))
    return (
        f"<table class='leaderboard' id='table-{lb.name}'><caption>{cap}</caption>"
        f"<thead><tr><th>Dataset</th><th>Metric</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        + (f"<ul class='notes'>{notes}</ul>" if notes else "")
    )
