"""Leaderboard rendering and the paper comparison, on small hand-made results stores."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from leaderboards import render
from leaderboards.compare import compare, kendall_tau
from leaderboards.tables import build

from fabricate import Run, fabricate

SEEDS = (1, 2, 3)


def _runs(rows: list[tuple], failed: list[tuple] = ()) -> list[Run]:
    """(dataset, synth, seed, metric, value or (status, reason)) rows -> one Run per job."""
    runs: dict[tuple, Run] = {}
    for dataset, synth, seed, metric, value in rows:
        run = runs.setdefault((dataset, synth, seed), Run(dataset, synth, seed))
        run.metrics[metric] = f"{value[0]}: {value[1]}" if isinstance(value, tuple) else value
    failures = [Run(d, s, seed, status=st, error=err) for d, s, seed, st, err in failed]
    return [*runs.values(), *failures]


@pytest.fixture
def results(tmp_path):
    rows = []
    for seed in SEEDS:
        rows += [
            ("german", "original", seed, "mle", 0.75),
            ("german", "original", seed, "nrs", ("n/a", "the real data is not a synthetic table")),
            ("german", "smote", seed, "mle", 0.9),
            ("german", "tvae", seed, "mle", 0.8),
            ("german", "smote", seed, "dm", 0.3),
            ("german", "tvae", seed, "dm", 0.1),
            ("german", "smote", seed, "nrs", 0.5),
            ("german", "tvae", seed, "nrs", 0.6),
        ]
    rows += [("german", "great", s, "mle", v) for s, v in ((1, 0.1), (2, 0.2), (3, 0.3))]
    rows += [("german", "great", s, "dm", 0.2) for s in (1, 2)]
    rows += [("german", "great", s, "nrs", ("error", "toy metric failure")) for s in SEEDS]
    failed = [("german", "ctabgan", s, "timeout", "fit exceeded its 1800 s limit") for s in SEEDS]
    return fabricate(tmp_path / "res", _runs(rows, failed))


def test_bold_and_underline_follow_each_metrics_direction(results):
    md = render.to_markdown(build(results, "utility"))
    row = next(line for line in md.splitlines() if line.startswith("| german | MLE"))
    # columns: Original, SMOTE, TVAE, CTAB-GAN, GReaT (paper order); Original not ranked
    assert row.split(" | ")[2:] == [
        "0.75 ± 0.00",
        "**0.90 ± 0.00**",
        "<u>0.80 ± 0.00</u>",
        "<sup>†1</sup>",
        "0.20 ± 0.10 |",
    ]
    fid = render.to_markdown(build(results, "fidelity"))
    dm = next(line for line in fid.splitlines() if line.startswith("| german | DM"))
    assert "**0.10 ± 0.00**" in dm and "<u>0.20 ± 0.00 (n=2/3)</u>" in dm  # lower is better


def test_paper_column_order_and_dashes_for_not_applicable(results):
    lb = build(results, "privacy")
    assert [label for _, label in lb.synthesizers] == [
        "Original",
        "SMOTE",
        "TVAE",
        "CTAB-GAN",
        "GReaT",
    ]
    md = render.to_markdown(lb)
    row = next(line for line in md.splitlines() if line.startswith("| german | NRS"))
    cells = row.strip("| ").split(" | ")
    assert cells[2] == "—" and cells[4] == "**0.60 ± 0.00**"
    assert "Not in these results: DCR, DLT." in md


def test_daggers_carry_the_stored_reason(results):
    md = render.to_markdown(build(results, "privacy"))
    notes = [line for line in md.splitlines() if line.startswith("- †")]
    assert any("timeout: fit exceeded its 1800 s limit" in n for n in notes)
    assert any("error: toy metric failure" in n for n in notes)
    nums = re.findall(r"<sup>†(\d+)</sup>", md)
    assert set(nums) == {str(i) for i in range(1, len(notes) + 1)}


def test_mean_std_uses_ddof_1_and_counts_short_cells(results):
    cell = build(results, "utility").cell("german", "mle", "great")
    assert cell.mean == pytest.approx(0.2) and cell.std == pytest.approx(0.1)
    short = build(results, "fidelity").cell("german", "dm", "great")
    assert (short.n, short.requested) == (2, 3)


def test_caption_states_preset_backbone_seeds(results):
    for text in (
        render.to_markdown(build(results, "utility")),
        render.to_latex(build(results, "utility")),
    ):
        assert "Preset: quick" in text and "LLM backbone: none" in text
        assert "Seeds: 1, 2, 3" in text and "ddof = 1" in text


def _latex_is_well_formed(tex: str) -> None:
    body = re.sub(r"\\[{}%&$#_]", "", tex)
    depth = 0
    for ch in body:
        depth += ch == "{"
        depth -= ch == "}"
        assert depth >= 0
    assert depth == 0
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    for cmd in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert cmd in tex
    cols = len(re.search(r"\\begin\{tabular\}\{(\w+)\}", tex).group(1))
    rows = [r for r in tex.split("\n") if r.endswith(r"\\") and "&" in r]
    assert rows and all(len(re.findall(r"(?<!\\)&", r)) == cols - 1 for r in rows)


def test_latex_is_booktabs_and_well_formed(results, tmp_path):
    for table in ("utility", "privacy", "fidelity"):
        tex = render.to_latex(build(results, table))
        _latex_is_well_formed(tex)
        assert r"\textbf{" in tex or table == "privacy"
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("no TeX engine here; the structure checks above ran")
    doc = (
        "\\documentclass{article}\\usepackage{booktabs}\\usepackage{graphicx}"
        "\\begin{document}" + render.to_latex(build(results, "utility")) + "\\end{document}"
    )
    (tmp_path / "t.tex").write_text(doc, encoding="utf-8")
    res = subprocess.run(
        [engine, "-interaction=nonstopmode", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-2000:]


def test_csv_is_tidy(results):
    text = render.to_csv(build(results, t) for t in ("utility", "privacy", "fidelity"))
    table = pd.read_csv(io.StringIO(text))
    assert list(table.columns[:4]) == ["table", "dataset", "metric", "synthesizer"]
    assert not table.duplicated(["table", "dataset", "metric", "synthesizer"]).any()
    row = table[(table.metric == "mle") & (table.synthesizer == "great")].iloc[0]
    assert (row["mean"], row["n"]) == (pytest.approx(0.2), 3)


def test_compare_paper_differences_and_kendall_tau(tmp_path):
    # the paper's German MLE: SMOTE 0.64 > TVAE 0.61 > CTAB-GAN 0.57 > GReaT 0.44
    ours = {"smote": 0.9, "tvae": 0.8, "ctabgan": 0.7, "great": 0.6}
    rows = [("german", s, 1, "mle", v) for s, v in ours.items()]
    cells, ranks = compare(fabricate(tmp_path / "a", _runs(rows)))
    smote = cells[(cells.synthesizer == "smote") & (cells.metric == "mle")].iloc[0]
    assert smote.paper_mean == 0.64 and smote["diff"] == pytest.approx(0.26)
    assert ranks.set_index("metric").loc["mle", "kendall_tau"] == pytest.approx(1.0)

    reverse = {"smote": 0.6, "tvae": 0.7, "ctabgan": 0.8, "great": 0.9}
    rows = [("german", s, 1, "mle", v) for s, v in reverse.items()]
    _, ranks = compare(fabricate(tmp_path / "b", _runs(rows)))
    assert ranks.set_index("metric").loc["mle", "kendall_tau"] == pytest.approx(-1.0)
    assert kendall_tau([1.0], [2.0]) != kendall_tau([1.0], [2.0])  # NaN with one item


def test_cli_writes_every_format(results, bench_cli):
    out = results.folder
    for fmt in ("md", "latex", "csv"):
        res = bench_cli("leaderboard", "--out", out, "--format", fmt)
        assert res.returncode == 0, res.stderr
    res = bench_cli("compare-paper", "--out", out)
    assert res.returncode == 0 and "Kendall tau" in res.stdout
    files = sorted(p.name for p in (Path(out) / "leaderboards").iterdir())
    assert {"utility.md", "privacy.tex", "leaderboard.csv", "compare-paper.md"} <= set(files)
    first = (Path(out) / "leaderboards" / "utility.md").read_text()
    assert first.startswith("<!-- regenerate: bench run --out ")
    assert " && bench leaderboard --out " in first.splitlines()[0]


def test_csv_files_read_as_they_are_and_name_their_provenance(results, bench_cli):
    out = Path(results.folder)
    assert bench_cli("leaderboard", "--out", out, "--format", "csv").returncode == 0
    assert bench_cli("compare-paper", "--out", out).returncode == 0
    first = {"leaderboard": "table", "compare-paper": "dataset", "compare-paper-ranks": "dataset"}
    for name, column in first.items():
        table = pd.read_csv(out / "leaderboards" / f"{name}.csv")  # no comment line to skip
        assert table.columns[0] == column and len(table) > 0
        assert (table.preset == "quick").all() and (table.seeds == "1 2 3").all()
        assert table.llm_backbone.str.len().gt(0).all()
    for name in ("leaderboard", "compare-paper"):
        about = json.loads((out / "leaderboards" / f"{name}.provenance.json").read_text())
        assert about["regenerate"].startswith("bench run --out ")
        assert about["preset"] == "quick" and about["seeds"] == [1, 2, 3]


def test_a_cell_averages_one_setting_never_settings_as_seeds(tmp_path):
    # three seeds at the preset, then seed 1 again with another parameter: the cell must not
    # read as "mean ± std over seeds" of two settings
    runs = [Run("german", "smote", s, {"mle": 0.6 + 0.01 * s}) for s in SEEDS]
    runs.append(Run("german", "smote", 1, {"mle": 0.9}, params={"delay": 0.5}))
    runs += [Run("german", "tvae", s, {"mle": 0.7}) for s in SEEDS]
    res = fabricate(tmp_path / "res", runs)
    board = build(res, "utility")
    smote = board.cell("german", "mle", "smote")
    assert (smote.values, smote.requested) == ([0.9], 3)  # the caption's seeds: (n=1/3)
    assert board.cell("german", "mle", "tvae").n == 3
    text = render.to_markdown(board)
    assert "Settings other than the preset's: SMOTE delay=0.5." in text
    assert "german × SMOTE: 3 jobs of an earlier setting" in text
    assert "TVAE" not in text.split("| Dataset")[0].split("Left out")[1]


def test_one_attempt_per_seed_the_finished_one_first(tmp_path):
    # the same seed and setting twice (another device does not change the setting): a later
    # failed attempt does not hide the finished one, and nothing is counted twice
    runs = [Run("german", "smote", s, {"mle": 0.6}) for s in SEEDS]
    runs.append(Run("german", "smote", 2, status="error", error="boom", params={"device": "cpu"}))
    runs.append(Run("german", "smote", 3, {"mle": 0.9}, params={"device": "cuda"}))
    res = fabricate(tmp_path / "res", runs)
    cell = build(res, "utility").cell("german", "mle", "smote")
    assert (sorted(cell.values), cell.requested, cell.failures) == ([0.6, 0.6, 0.9], 3, [])
    assert res.left_out == ["german × SMOTE: 2 other attempts at its seeds"]
    assert "Settings other than" not in render.to_markdown(build(res, "utility"))


def test_a_tie_for_best_leaves_no_second(tmp_path):
    # competition ranking: two tied best are bold, the third is not "second"
    runs = [Run("german", name, s, {"nrs": v}) for s in SEEDS for name, v in
            (("smote", 0.99), ("tvae", 1.0), ("great", 1.0))]  # fmt: skip
    board = build(fabricate(tmp_path / "res", runs), "privacy")
    ranks = {n: board.cell("german", "nrs", n).rank for n in ("smote", "tvae", "great")}
    assert ranks == {"smote": None, "tvae": 1, "great": 1}


def test_lle_of_another_backbone_is_set_aside_and_named(tmp_path):
    tiny = '{"llm": "tiny", "preset": "quick"}'
    llama = '{"llm": "meta-llama/Llama-2-7b-chat-hf", "preset": "quick"}'
    runs = [Run("german", "smote", s, {"lle": 0.6}, settings={"lle": tiny}) for s in (1, 2)]
    runs.append(Run("german", "smote", 3, {"lle": 0.95}, settings={"lle": llama}))
    res = fabricate(tmp_path / "res", runs)
    cell = build(res, "utility").cell("german", "lle", "smote")
    assert (cell.values, cell.requested, cell.failures) == ([0.95], 3, [])  # the latest one
    text = render.to_markdown(build(res, "utility"))
    assert "german × SMOTE: LLE of 2 seeds computed under another setting" in text
    assert "LLM backbone: LLE: meta-llama/Llama-2-7b-chat-hf (no LLM-based synthesizer)" in text


def test_rows_and_mixed_versions_are_named(tmp_path):
    from leaderboards.tables import provenance

    res = fabricate(
        tmp_path / "res", [Run("german", "smote", 1, {"mle": 0.6})], config={"rows": 10}
    )
    assert provenance(res)["overrides"] == {"SMOTE": ["rows=10"]}
    res.jobs["versions"] = ['{"scikit-learn": "1.5.0"}']
    res.runs["versions"] = ['{"scikit-learn": "1.9.1"}']
    assert provenance(res)["versions"]["scikit-learn"] == "1.9.1, 1.5.0"


def test_a_comment_head_cannot_be_ended_by_user_input():
    from leaderboards.write import comment

    html_head = comment("html", "bench run --out 'x--><script>alert(1)</script>'")
    assert html_head.count("-->") == 1 and html_head.endswith("-->")
    assert comment("latex", "bench run --out 'a\nb'").count("\n") == 0
