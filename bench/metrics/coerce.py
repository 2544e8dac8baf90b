"""Coercion: the synthetic table as returned -> the training schema, invalid rows dropped.

DM reads the table as returned; every other metric reads the coerced copy, so a synthesizer
that writes numbers as text or ``1.0`` for the class ``1`` is not punished twice, while a row
that cannot mean anything in the schema is dropped and counted (``invalid_rows``).

Rules, per column of the schema:

* numeric (integer / float): text that parses as a number is a number; anything else that
  is not missing is invalid (``non-numeric value``); infinities are invalid; integer
  columns are rounded to the nearest whole number (generators emit floats for them). An
  integer column stored as int64 keeps every digit of whole-number input (float64 holds
  only 53 bits), and a whole number outside the int64 range is invalid (``outside the
  int64 range``) rather than wrapped.
* categorical / boolean: a value equal to a training category, or whose text equals one
  (``"1"`` and ``1.0`` both mean category ``1``; ``"true"`` means ``True``), is that
  category; any other non-missing value is invalid (``unseen category``).
* missing values are valid only in columns where the real data has missing values
  (``missing value`` otherwise): the metrics' models never saw them there.
* a schema column absent from the table makes every row invalid (``missing column``);
  extra columns are dropped and listed.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.metrics.base import EvalContext, Metric, MetricResult
from bench.schema import Column, Schema


@dataclass
class Coerced:
    table: pd.DataFrame
    invalid_rows: int
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> rows with it
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "invalid_rows": self.invalid_rows,
            "valid_rows": len(self.table),
            "reasons": self.reasons,
            "missing_columns": self.missing_columns,
            "extra_columns": self.extra_columns,
        }

    def summary(self) -> str:
        """One line for a metric that cannot run on zero rows."""
        top = ", ".join(f"{r} ({n})" for r, n in sorted(self.reasons.items(), key=lambda x: -x[1]))
        return f"no valid synthetic rows: {top or 'the table is empty'}"


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Converter = Callable[[pd.Series, Column], tuple[pd.Series, dict[str, pd.Series]]]


def _empty(schema: Schema) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in schema.columns})


def _category_lookup(col: Column) -> dict[str, Any]:
    """Text forms of each category -> the category."""
    lookup: dict[str, Any] = {}
    for cat in col.categories or ():
        lookup[str(cat)] = cat
        if isinstance(cat, bool):
            lookup[str(cat).lower()] = cat
            lookup[str(int(cat))] = cat
        elif isinstance(cat, (int, float)):
            lookup[repr(float(cat))] = cat
    return lookup


def _in(value: Any, known: set[Any]) -> bool:
    try:
        return value in known
    except TypeError:  # unhashable (a list from a broken generator): never a category
        return False


def _numeric(s: pd.Series, col: Column) -> tuple[pd.Series, dict[str, pd.Series]]:
    num = pd.to_numeric(s, errors="coerce").astype("float64")
    bad = {
        f"non-numeric value in '{col.name}'": s.notna() & num.isna(),
        f"infinite value in '{col.name}'": pd.Series(np.isinf(num.to_numpy()), index=s.index),
    }
    num = num.where(~bad[f"infinite value in '{col.name}'"], np.nan)
    if col.kind == "integer":
        num = num.round()
    return num, bad


def _integer(s: pd.Series, col: Column) -> tuple[pd.Series, dict[str, pd.Series]]:
    """An int64 column: exact whole numbers; those int64 cannot hold are invalid, not wrapped."""
    num, bad = _numeric(s, col)
    if col.dtype != "int64":
        return num, bad  # stored as float64 (it has missing values): nothing to overflow
    if pd.api.types.is_signed_integer_dtype(s.dtype):
        return s, bad  # already int64 or narrower: exact and in range
    # a rounded float64 is exact; other input (Python ints, text, uint64) may have more digits
    whole = num if pd.api.types.is_float_dtype(s.dtype) else _whole_numbers(s, num)
    outside = _outside_int64(whole)
    bad[f"outside the int64 range in '{col.name}'"] = outside
    return whole.where(~outside, np.nan), bad


def _whole_numbers(s: pd.Series, rounded: pd.Series) -> pd.Series:
    """Each value as a Python int (None where ``rounded`` is not finite), every digit kept."""
    values = [_whole(v, r) for v, r in zip(s.array, rounded.to_numpy(), strict=True)]
    return pd.Series(values, index=s.index, dtype=object)


def _outside_int64(values: pd.Series) -> pd.Series:
    """Whole numbers int64 cannot hold (missing ones are not outside)."""
    if values.dtype == object:
        return values.map(lambda v: v is not None and not INT64_MIN <= v <= INT64_MAX).astype(bool)
    return (values >= 2.0**63) | (values < -(2.0**63))


def _whole(value: Any, rounded: float) -> int | None:
    """``value`` as a Python int: integers and integer text exactly, else ``rounded``."""
    if not np.isfinite(rounded):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value.strip())
    return int(rounded)


def _categorical(s: pd.Series, col: Column) -> tuple[pd.Series, dict[str, pd.Series]]:
    known = set(col.categories or ())
    # Python equality, not s.isin: pandas hashes object strings as C strings ("" == "\x00")
    direct = s.map(lambda v: _in(v, known)).astype(bool) & s.notna()
    lookup = _category_lookup(col)
    texts = s.astype(str).str.strip()
    mapped = texts.map(lookup)
    out = s.astype(object).where(direct, mapped)
    out = out.where(s.notna(), np.nan)
    bad = {f"unseen category in '{col.name}'": s.notna() & out.isna()}
    return out, bad


def _converter(col: Column) -> Converter:
    """Which rule reads ``col``: integer, float or category."""
    if col.kind == "integer":
        return _integer
    return _numeric if col.is_numeric else _categorical


def coerce(raw: pd.DataFrame, schema: Schema) -> Coerced:
    raw = raw.reset_index(drop=True)
    raw = raw.loc[:, ~pd.Index(raw.columns).duplicated()]
    names = [str(c) for c in raw.columns]
    raw.columns = names
    missing = [c for c in schema.names if c not in names]
    extra = [c for c in names if c not in schema]
    if missing:
        reason = f"missing column(s) {missing}"
        return Coerced(
            _empty(schema), len(raw), {reason: len(raw)} if len(raw) else {}, missing, extra
        )

    columns: dict[str, pd.Series] = {}
    flags: dict[str, pd.Series] = {}
    for col in schema.columns:
        s = raw[col.name]
        values, bad = _converter(col)(s, col)
        if not col.nullable:
            bad[f"missing value in '{col.name}'"] = s.isna()
        columns[col.name] = values
        flags.update(bad)
    invalid = np.zeros(len(raw), dtype=bool)
    reasons: Counter[str] = Counter()
    for reason, mask in flags.items():
        m = mask.to_numpy(dtype=bool)
        if m.any():
            reasons[reason] = int(m.sum())
            invalid |= m
    keep = ~invalid
    table = pd.DataFrame(
        {c.name: _cast(columns[c.name][keep], c.dtype) for c in schema.columns}
    ).reset_index(drop=True)
    return Coerced(table, int(invalid.sum()), dict(reasons), [], extra)


def _cast(values: pd.Series, dtype: str) -> pd.Series:
    if dtype == "object":
        return values.astype(object).where(values.notna(), np.nan)
    if dtype in ("int64", "bool"):
        return values.astype(dtype)
    return values.astype("float64")


class InvalidRows(Metric):
    """Rows of the synthetic table dropped by coercion (reasons in aux); 0 is best."""

    name: ClassVar[str] = "invalid_rows"
    family = "fidelity"
    goal = "minimize"
    bounds = (0.0, float("inf"))
    inputs = frozenset({"syn_raw", "coercion"})

    def compute(self, ctx: EvalContext) -> MetricResult:
        report = dict(ctx.coercion)
        report["share"] = report["invalid_rows"] / len(ctx.syn_raw) if len(ctx.syn_raw) else None
        return MetricResult(float(report["invalid_rows"]), report)
