"""Write a results folder's leaderboards to files, each headed by the command that
regenerates it (what `bench leaderboard`, `bench compare-paper` and `bench run` call).

A CSV file has no head, so that any reader takes its first line as the header: its rows
carry the preset, backbone and seeds, and ``<name>.provenance.json`` beside it holds the
whole provenance with the command.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from leaderboards import compare, render
from leaderboards.tables import TABLES, Results, build, load_results, provenance

FORMATS = {"md": "md", "latex": "tex", "csv": "csv", "html": "html"}
COMMENT = {"md": "<!-- {} -->", "latex": "% {}", "html": "<!-- {} -->"}


def comment(fmt: str, text: str) -> str:
    """``text`` as one comment line of format ``fmt``, which nothing in it can end early.

    The text holds user input (``--out`` paths, names): a newline would end a ``%``
    comment, and ``-->`` (or ``--!>``) an HTML one, letting the rest act as markup.
    """
    one_line = " ".join(text.splitlines())
    if COMMENT[fmt].startswith("<!--"):
        one_line = one_line.replace("--!>", "--! >").replace("-->", "-- >")
    return COMMENT[fmt].format(one_line)


def regenerate(results: Results, command: list[str]) -> str:
    """The exact commands behind a file: the runs that filled the store, then ``command``."""
    runs = [" ".join(json.loads(a)) for a in results.runs.sort_values("run_id").argv]
    return " && ".join([*dict.fromkeys(runs), shlex.join(command)])


def _sidecar(dest: Path, name: str, prov: dict[str, Any], command: str) -> Path:
    """``name.provenance.json``: what a CSV's rows cannot say, and how to regenerate it."""
    about = {**prov, "regenerate": command}
    return _write(dest / f"{name}.provenance.json", json.dumps(about, indent=2) + "\n")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_leaderboards(
    folder: str,
    tables: tuple[str, ...] = tuple(TABLES),
    formats: tuple[str, ...] = tuple(FORMATS),
    preset: str | None = None,
    to: str | None = None,
    digits: int = 2,
) -> list[Path]:
    """Render ``tables`` in ``formats`` into ``to`` (default FOLDER/leaderboards)."""
    results = load_results(folder, preset)
    dest = Path(to) if to else Path(folder) / "leaderboards"
    boards = {t: build(results, t) for t in tables}
    written = []
    which = "all" if set(tables) == set(TABLES) else ",".join(tables)
    for fmt in formats:
        cmd = [
            "bench",
            "leaderboard",
            "--out",
            folder,
            "--format",
            fmt,
            "--table",
            which,
            "--preset",
            results.preset,
            *(["--to", str(to)] if to else []),
        ]
        command = regenerate(results, cmd)
        if fmt == "csv":
            written.append(_write(dest / "leaderboard.csv", render.to_csv(boards.values())))
            prov = next(iter(boards.values())).provenance  # the one the rows carry
            written.append(_sidecar(dest, "leaderboard", prov, command))
            continue
        head = comment(fmt, f"regenerate: {command}")
        if fmt == "html":
            from leaderboards.report import render_report

            text = render_report(boards, results)
            written.append(_write(dest / "report.html", head + "\n" + text))
        else:
            render_one = render.to_markdown if fmt == "md" else render.to_latex
            for name, lb in boards.items():
                text = render_one(lb, digits)
                written.append(_write(dest / f"{name}.{FORMATS[fmt]}", head + "\n" + text))
    return written


def write_comparison(folder: str, preset: str | None = None, to: str | None = None) -> list[Path]:
    results: Results = load_results(folder, preset)
    dest = Path(to) if to else Path(folder) / "leaderboards"
    cells, ranks = compare.compare(results)
    extra = ["--to", str(to)] if to else []
    cmd = regenerate(
        results, ["bench", "compare-paper", "--out", folder, "--preset", results.preset, *extra]
    )
    prov = provenance(results)
    md = comment("md", f"regenerate: {cmd}") + "\n" + compare.to_markdown(cells, ranks, prov)
    stamp = render.stamp(prov)
    return [
        _write(dest / "compare-paper.md", md),
        _write(dest / "compare-paper.csv", cells.assign(**stamp).to_csv(index=False)),
        _write(dest / "compare-paper-ranks.csv", ranks.assign(**stamp).to_csv(index=False)),
        _sidecar(dest, "compare-paper", prov, cmd),
    ]
