"""Rows <-> the VAE's inputs: numerical matrix and categorical codes (TABSYN, Section 3.1).

TABSYN sees a row as ``M`` columns, each numerical (one real value) or categorical (one
category index); the tokenizer of :mod:`adapters.tabsyn.vae` turns each into a token. This
module makes that split from the harness's schema and undoes it on generated rows.

* Numerical columns (schema kinds ``integer`` and ``float``) go through a quantile transform
  to a standard normal, as in the TabDDPM pre-processing TABSYN reuses. Standardising would
  leave heavy tails (German's credit amount, Diabetes' insulin, Adult's capital gain) where a
  few rows dominate the MSE reconstruction loss; after the quantile transform every column
  is N(0, 1) and weighs the same. The inverse maps back into the training range, so no
  generated value lies outside what the column held. A constant column is encoded as 0.
* Categorical and boolean columns become codes ``0..K-1`` over the schema's training
  categories (plus any other value this table holds); a missing value is one more category,
  present only when the training table has missing values in that column.
* A numerical column with missing values is filled with its median and gets an added
  categorical indicator column (0 = present, 1 = missing); decoding puts NaN back where the
  generated indicator says missing.

The target is just one more categorical column: TABSYN models the whole table jointly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench.schema import Column, Schema, cast_column, observed_categories, py_scalar


@dataclass(frozen=True)
class _Categorical:
    """One categorical token: a schema column, or the missing-indicator of a numeric one."""

    name: str
    values: tuple[Any, ...]  # code -> value; NaN is the last value when missing is a category
    indicator_of: str | None = None  # numeric column whose missingness this token encodes


class TableEncoder:
    """Schema-driven encoder: ``transform`` gives (numerical, codes), ``inverse`` gives rows."""

    def __init__(self, quantiles: int = 1000, seed: int = 0) -> None:
        self.quantiles = quantiles
        self.seed = seed

    # ---- fit --------------------------------------------------------------------------------

    def fit(self, table: pd.DataFrame, schema: Schema) -> TableEncoder:
        """Learn the numerical transforms and the category sets from ``table``."""
        from sklearn.preprocessing import QuantileTransformer

        if len(table) == 0:
            raise ValueError("TABSYN cannot fit an empty training table: pass at least one row")
        missing = [c for c in schema.names if c not in table.columns]
        if missing:
            raise ValueError(f"training table lacks schema columns {missing}: pass the full split")
        self.schema_ = schema
        self.numeric_: list[Column] = [c for c in schema.columns if c.is_numeric]
        self.medians_: dict[str, float] = {}
        self.transforms_: list[Any] = []
        self.constant_: list[bool] = []
        indicators: list[_Categorical] = []
        for col in self.numeric_:
            values = _as_float(table[col.name])
            finite = values[~np.isnan(values)]
            median = float(np.median(finite)) if len(finite) else 0.0
            self.medians_[col.name] = median
            if np.isnan(values).any():
                indicators.append(_Categorical(f"{col.name} (missing)", (0, 1), col.name))
            filled = np.where(np.isnan(values), median, values)
            qt = QuantileTransformer(
                n_quantiles=max(1, min(self.quantiles, len(filled))),
                output_distribution="normal",
                subsample=max(len(filled), 10_000),
                random_state=self.seed,
            )
            self.transforms_.append(qt.fit(filled.reshape(-1, 1)))
            self.constant_.append(bool(np.ptp(filled) == 0))
        self.categorical_: list[_Categorical] = [
            _Categorical(c.name, _category_values(c, table[c.name]))
            for c in schema.columns
            if not c.is_numeric
        ] + indicators
        return self

    @property
    def cardinalities(self) -> list[int]:
        """Number of categories of each categorical token, in code-matrix order."""
        return [len(c.values) for c in self.categorical_]

    @property
    def n_numeric(self) -> int:
        return len(self.numeric_)

    # ---- transform --------------------------------------------------------------------------

    def transform(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``table`` -> (numerical ``(n, n_num)`` float32, codes ``(n, n_cat)`` int64)."""
        n = len(table)
        numeric = np.zeros((n, self.n_numeric), dtype=np.float32)
        for j, col in enumerate(self.numeric_):
            values = _as_float(table[col.name])
            filled = np.where(np.isnan(values), self.medians_[col.name], values)
            if not self.constant_[j]:
                numeric[:, j] = self.transforms_[j].transform(filled.reshape(-1, 1))[:, 0]
        codes = np.zeros((n, len(self.categorical_)), dtype=np.int64)
        for j, cat in enumerate(self.categorical_):
            if cat.indicator_of is not None:
                codes[:, j] = np.isnan(_as_float(table[cat.indicator_of])).astype(np.int64)
            else:
                codes[:, j] = _codes(table[cat.name], cat.values)
        return numeric, codes

    def inverse_transform(self, numeric: np.ndarray, codes: np.ndarray) -> pd.DataFrame:
        """Encoded rows -> a table with the schema's columns, order and storage dtypes."""
        out: dict[str, pd.Series] = {}
        flags = {c.indicator_of: codes[:, j] == 1 for j, c in enumerate(self.categorical_)}
        for j, col in enumerate(self.numeric_):
            z = np.asarray(numeric[:, j], dtype=np.float64).reshape(-1, 1)
            if self.constant_[j]:
                z = np.zeros_like(z)
            z = _snap_to_bounds(z)
            values = self.transforms_[j].inverse_transform(z)[:, 0] if len(z) else z[:, 0]
            if col.kind == "integer":
                values = np.round(values)
            if col.name in flags:
                values = np.where(flags[col.name], np.nan, values)
            out[col.name] = cast_column(values, col.dtype)
        for j, cat in enumerate(self.categorical_):
            if cat.indicator_of is None:
                table = np.empty(len(cat.values), dtype=object)
                table[:] = list(cat.values)
                out[cat.name] = cast_column(table[codes[:, j]], self.schema_[cat.name].dtype)
        return pd.DataFrame({name: out[name] for name in self.schema_.names})


# The quantile transform clips to the normal quantiles of 1e-7 and 1 - 1e-7 (scikit-learn's
# bound), so the training minimum and maximum encode as exactly these values. Once rounded to
# float32 on the way through the VAE they land a hair inside the bounds and decode to
# ``min + 1e-7 * (n_quantiles - 1) * gap`` instead of ``min`` (0.01 above it for a column
# whose two lowest quantiles are 7693 apart). Moving values within float32 rounding of a bound
# past it, where the inverse returns the extreme itself, restores the exact extremes.
_Z_BOUND = 5.199337582192816  # -scipy.stats.norm.ppf(1e-7)
_Z_SNAP = 1e-5  # well above float32 rounding at |z| ~ 5.2 (about 5e-7)


def _snap_to_bounds(z: np.ndarray) -> np.ndarray:
    """Move values within float32 rounding of the transform's bounds out past them."""
    out = z.copy()
    out[z <= -_Z_BOUND + _Z_SNAP] = -_Z_BOUND - 1.0
    out[z >= _Z_BOUND - _Z_SNAP] = _Z_BOUND + 1.0
    return out


def _as_float(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)


def _category_values(col: Column, values: pd.Series) -> tuple[Any, ...]:
    """The schema's training categories, then any other value present, then NaN if missing."""
    cats = observed_categories(col, values)
    return tuple([*cats, np.nan] if values.isna().any() else cats)


def _codes(values: pd.Series, cats: tuple[Any, ...]) -> np.ndarray:
    """Category codes; NaN maps to the NaN category (the last), unknown values raise."""
    index = {v: i for i, v in enumerate(cats) if not pd.isna(v)}
    nan_code = len(cats) - 1 if cats and pd.isna(cats[-1]) else None
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values.astype(object)):
        if pd.isna(v):
            if nan_code is None:
                raise ValueError(
                    f"column '{values.name}' has a missing value the training table did not: "
                    "encode only tables whose missing values were seen in fit"
                )
            out[i] = nan_code
        else:
            code = index.get(py_scalar(v))
            if code is None:
                raise ValueError(
                    f"column '{values.name}' holds {v!r}, unseen in fit: refit on this table"
                )
            out[i] = code
    return out
