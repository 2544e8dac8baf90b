"""Reading user tables (CSV / Parquet) with one-line errors, and the Parquet hand-off files.

Every way a file can be unusable is checked here, before any job starts, so a bad file
costs the user one line of output and exit code 2 instead of a traceback mid-grid.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import UserError

PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (UTF-8, comma-separated, header row) or Parquet file with nullable dtypes."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"file '{path}' does not exist: check the path")
    if not path.is_file():
        raise UserError(f"'{path}' is not a file: pass a CSV or Parquet file")
    table = _read_parquet(path) if path.suffix.lower() in PARQUET_SUFFIXES else _read_csv(path)
    if table.shape[1] == 0 or len(table) == 0:
        raise UserError(f"file '{path}' has no data rows: pass a table with a header and rows")
    return table


def _duplicates(names: list[str], path: Path) -> None:
    dup = sorted(n for n, k in Counter(names).items() if k > 1)
    if dup:
        raise UserError(
            f"file '{path}' has duplicate column names {dup}: rename them so each is unique"
        )


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"file '{path}' is not UTF-8 text (byte {exc.object[exc.start]:#x} at offset "
            f"{exc.start}): re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8"
        ) from exc
    except OSError as exc:
        raise UserError(
            f"file '{path}' cannot be read ({exc.strerror}): check permissions"
        ) from exc
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise UserError(
            f"file '{path}' contains NUL bytes, so it is not a text CSV: export it again as CSV"
        )
    if not text.strip():
        raise UserError(f"file '{path}' is empty: pass a table with a header and rows")
    header = next(csv.reader(io.StringIO(text)), [])
    _duplicates(header, path)
    try:
        return pd.read_csv(io.StringIO(text), dtype_backend="numpy_nullable")
    except (pd.errors.ParserError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(
            f"file '{path}' is not a readable CSV ({first}): check the delimiter and quoting"
        ) from exc


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise UserError(f"file '{path}' is not a readable Parquet file ({exc})") from exc
    _duplicates(names, path)
    return pd.read_parquet(path, dtype_backend="numpy_nullable")


def write_parquet(table: pd.DataFrame, path: str | Path) -> None:
    """Write a table for hand-off between processes (atomic: temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    out = table.reset_index(drop=True)
    out.columns = [str(c) for c in out.columns]
    try:
        out.to_parquet(tmp, index=False)
    except Exception:
        # a synthesizer may return object columns of mixed types; keep them readable as text
        mixed = [c for c in out.columns if out[c].dtype == object]
        fixed = out.copy()
        for c in mixed:
            fixed[c] = out[c].map(lambda v: v if pd.isna(v) else str(v))
        fixed.to_parquet(tmp, index=False)
    tmp.replace(path)


def read_parquet(path: str | Path, dtypes: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a hand-off file back; missing text values come back as NaN (as read_csv gives)."""
    table = pd.read_parquet(path)
    for c in table.columns:
        if table[c].dtype == object:
            table[c] = table[c].where(table[c].notna(), np.nan)
    if dtypes:
        table = table.astype({c: d for c, d in dtypes.items() if c in table.columns})
    return table
