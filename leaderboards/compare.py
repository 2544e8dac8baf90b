"""Our numbers next to the paper's: per-cell differences and per dataset × metric the rank
agreement (Kendall tau) between our ordering of synthesizers and the paper's.

The paper's values (``paper-results.csv``, caveats in ``paper-results.md`` beside it) are
published facts for a side-by-side view, never targets: several of its metric
implementations are unpublished, so orderings and magnitudes are what compare, not the last
digit.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import pandas as pd

from leaderboards.render import DAGGER, settings_lines
from leaderboards.tables import PAPER_SYNTHESIZERS, TABLES, Cell, Leaderboard, Results, build

#: The paper's metric and method spellings -> this project's names.
PAPER_METRICS = {
    "MLE": "mle",
    "LLE": "lle",
    "NRS": "nrs",
    "DCR": "dcr",
    "DLT": "dlt",
    "DM": "dm",
    "WD": "wd",
    "CS": "cs",
}
PAPER_METHODS = {label: name for name, label in PAPER_SYNTHESIZERS.items()} | {
    "HARMONIC w/o filter": "harmonic-no-filter",
    "HARMONIC w/o permutation": "harmonic-no-permutation",
    "HARMONIC w/o kNN": "harmonic-no-knn",
}


def paper_results() -> pd.DataFrame:
    """The vendored table, with this project's metric and synthesizer names added."""
    path = Path(str(resources.files("leaderboards") / "paper-results.csv"))
    table = pd.read_csv(path)
    table["metric_name"] = table.metric.map(PAPER_METRICS)
    table["synthesizer"] = table.method.map(PAPER_METHODS)
    return table


def kendall_tau(ours: list[float], paper: list[float]) -> float:
    """Kendall's tau-b of two orderings (NaN when fewer than two items or no variation)."""
    if len(ours) < 2:
        return math.nan
    from scipy.stats import kendalltau

    tau = kendalltau(ours, paper).statistic
    return float(tau) if tau is not None else math.nan


CELL_COLUMNS = (
    "dataset",
    "metric",
    "synthesizer",
    "ours_mean",
    "ours_std",
    "n",
    "paper_mean",
    "paper_std",
    "diff",
    "paper_source",
    "note",
)
RANK_COLUMNS = ("dataset", "metric", "synthesizers", "kendall_tau", "compared")


def _note(cell: Cell) -> str:
    """Why our side of a cell has no value (or fewer seeds): the leaderboards' † reasons."""
    if cell.state == "missing":
        return "not computed in these results"
    return "; ".join(dict.fromkeys(cell.failures))


def compare(results: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, ranks): one row per dataset × metric × synthesizer, one per dataset × metric."""
    paper = paper_results().dropna(subset=["metric_name", "synthesizer"])
    boards: list[Leaderboard] = [build(results, t) for t in TABLES]
    rows = []
    for lb in boards:
        for (dataset, metric, synth), cell in lb.cells.items():
            hit = paper[
                (paper.dataset == dataset)
                & (paper.metric_name == metric)
                & (paper.synthesizer == synth)
            ]
            p_mean = float(hit["mean"].iloc[0]) if len(hit) else math.nan
            p_std = float(hit["std"].iloc[0]) if len(hit) else math.nan
            ours = cell.mean if cell.mean is not None else math.nan
            rows.append(
                {
                    "dataset": dataset,
                    "metric": metric,
                    "synthesizer": synth,
                    "ours_mean": ours,
                    "ours_std": cell.std,
                    "n": cell.n,
                    "paper_mean": p_mean,
                    "paper_std": p_std,
                    "diff": ours - p_mean,
                    "paper_source": hit["source"].iloc[0] if len(hit) else "",
                    "note": _note(cell),
                }
            )
    cells = pd.DataFrame(rows, columns=list(CELL_COLUMNS))
    ranks = []
    for (dataset, metric), group in cells.groupby(["dataset", "metric"], sort=False):
        both = group[
            (group.synthesizer != "original") & group.ours_mean.notna() & group.paper_mean.notna()
        ]
        ranks.append(
            {
                "dataset": dataset,
                "metric": metric,
                "synthesizers": len(both),
                "kendall_tau": kendall_tau(both.ours_mean.tolist(), both.paper_mean.tolist()),
                "compared": ", ".join(both.synthesizer),
            }
        )
    return cells, pd.DataFrame(ranks, columns=list(RANK_COLUMNS))


def _fmt(x: float | None, digits: int = 2) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def to_markdown(cells: pd.DataFrame, ranks: pd.DataFrame, provenance: dict) -> str:
    lines = [
        "### Ours vs the paper",
        "",
        f"> Ours: preset {provenance['preset']}, LLM backbone {provenance['llm_backbone']}, "
        f"seeds {', '.join(map(str, provenance['seeds']))}. Paper: HARMONIC (arXiv "
        "2408.02927) and its poster; its Adult and Buddy synthetic sets had 5,000 rows and "
        "several of its metric implementations are unpublished, so compare orderings and "
        "magnitudes, not the last digit. Kendall tau: rank agreement over the synthesizers "
        "both have (Original excluded); NaN with fewer than two. DLT: ours is in nats on "
        "the generator's training format (spec); the paper's came from its authors' script, "
        "base 2 on another text format (our base-2 value is stored as value_base2 in "
        "results.sqlite), so compare its sign and ordering only.",
        *(f"> {line}" for line in settings_lines(provenance)),
        "",
        "| Dataset | Metric | Synthesizer | Ours | Paper | Ours − paper |",
        "|---|---|---|---:|---:|---:|",
    ]
    notes: list[str] = []
    for r in cells.itertuples():
        if math.isnan(r.ours_mean) and math.isnan(r.paper_mean) and not r.note:
            continue
        ours = _fmt(r.ours_mean) + (
            f" ± {_fmt(r.ours_std)}" if r.ours_std is not None and not pd.isna(r.ours_std) else ""
        )
        if r.note:  # a failure, numbered as in the leaderboards
            notes += [] if r.note in notes else [r.note]
            ours += f"<sup>{DAGGER}{notes.index(r.note) + 1}</sup>"
        paper = _fmt(r.paper_mean) + (f" ± {_fmt(r.paper_std)}" if not pd.isna(r.paper_std) else "")
        lines.append(
            f"| {r.dataset} | {r.metric} | {r.synthesizer} | {ours} | {paper} | {_fmt(r.diff)} |"
        )
    if notes:
        lines += ["", *(f"- {DAGGER}{i} {note}" for i, note in enumerate(notes, start=1))]
    lines += [
        "",
        "| Dataset | Metric | Synthesizers compared | Kendall tau |",
        "|---|---|---|---:|",
    ]
    for r in ranks.itertuples():
        lines.append(
            f"| {r.dataset} | {r.metric} | {r.compared or '—'} | {_fmt(r.kendall_tau) or 'NaN'} |"
        )
    return "\n".join(lines) + "\n"
