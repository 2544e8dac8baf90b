"""Score a synthetic table produced elsewhere (any tool, any language)."""

from __future__ import annotations

import hashlib
import string
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import UserError
from bench.schema import Schema
from bench.synthesizer import Synthesizer

PLACEHOLDERS = ("dataset", "seed")


def check_placeholders(path: str) -> None:
    """Only ``{dataset}`` and ``{seed}``: a typo such as ``{datset}`` is refused when the run
    is checked (a ValueError, which the runner reports in one line), not in every job."""
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    fix = f"the placeholders allowed are {allowed} (write '{{{{' for a literal brace)"
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(path) if f is not None]
    except ValueError as exc:
        raise ValueError(f"path '{path}' has a stray brace ({exc}): {fix}") from exc
    bad = [f for f in fields if f not in PLACEHOLDERS]
    if bad:
        raise ValueError(f"path '{path}' has an unknown placeholder {{{bad[0]}}}: {fix}")


class CSVTable(Synthesizer):
    """Reads a synthetic table from ``path`` (CSV or Parquet) instead of generating one.

    ``path`` may contain ``{dataset}`` and ``{seed}``, so one run can score a file per dataset
    and seed, e.g. ``synth/{dataset}-{seed}.csv``. The file is read with pandas' defaults so
    its dtypes are "as returned" for DM. More rows than requested: a seeded sample of ``n``;
    fewer: all of them (metrics then see the shortfall). The file's content is part of the
    job key, so editing it reruns the job.
    """

    name = "csv"
    description = "a synthetic table from a file (--param csv.path=FILE, {dataset}/{seed} ok)"
    default_grid = False

    def __init__(self, path: str = "") -> None:
        self.path = path
        check_placeholders(path)

    def _resolve(self, dataset: str, seed: int) -> Path:
        if not self.path:
            raise UserError("synthesizer 'csv' needs a file: --param csv.path=FILE")
        path = Path(self.path.format(dataset=dataset, seed=seed)).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"csv: file '{path}' does not exist: check --param csv.path")
        return path

    def fingerprint(self, dataset: str, seed: int) -> str:
        return hashlib.sha256(self._resolve(dataset, seed).read_bytes()).hexdigest()

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> CSVTable:
        self.file_ = self._resolve(schema.name, seed)
        return self

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        path = self.file_
        table = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
        if len(table) > n:
            keep = np.sort(np.random.default_rng(seed).choice(len(table), n, replace=False))
            table = table.iloc[keep].reset_index(drop=True)
        return table
