"""Column schema of a dataset: what each column means (kind) and how it is stored (dtype).

``kind`` is the semantics a synthesizer or metric needs (integer / float / categorical /
boolean); ``dtype`` is the pandas dtype every table of the dataset is held in, so that a
synthesizer returning other dtypes shows up in DM. Inference reads the file's own text: a
column written ``32.0`` is a float column even when every value is integral (Adult), and a
column written ``32`` with blanks is an integer column with missing values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from bench.errors import UserError

Kind = Literal["integer", "float", "categorical", "boolean"]
KINDS: tuple[str, ...] = ("integer", "float", "categorical", "boolean")
NUMERIC_KINDS = frozenset({"integer", "float"})
Task = Literal["binary", "multiclass"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    dtype: str  # pandas dtype name the harness stores this column in
    nullable: bool = False  # missing values occur somewhere in the dataset
    categories: tuple[Any, ...] | None = None  # values seen in train (categorical/boolean)

    @property
    def is_numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


@dataclass(frozen=True)
class Schema:
    columns: tuple[Column, ...]
    target: str
    task: Task
    description: str = "tabular records"
    name: str = ""  # the dataset's name
    _index: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c.name: c for c in self.columns})
        if self.target not in self._index:
            raise UserError(f"target '{self.target}' is not a column of the schema")

    def __getitem__(self, name: str) -> Column:
        return self._index[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def features(self) -> list[Column]:
        return [c for c in self.columns if c.name != self.target]

    @property
    def classes(self) -> tuple[Any, ...]:
        return self[self.target].categories or ()

    def counts(self) -> dict[str, int]:
        """Feature count by kind (the target excluded)."""
        out = dict.fromkeys(KINDS, 0)
        for c in self.features:
            out[c.kind] += 1
        return out

    def dtypes(self) -> dict[str, str]:
        return {c.name: c.dtype for c in self.columns}

    def to_dict(self) -> dict[str, Any]:
        cols = []
        for c in self.columns:
            d = asdict(c)
            d["categories"] = None if c.categories is None else list(c.categories)
            cols.append(d)
        return {
            "target": self.target,
            "task": self.task,
            "description": self.description,
            "name": self.name,
            "columns": cols,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Schema:
        cols = tuple(
            Column(
                name=c["name"],
                kind=c["kind"],
                dtype=c["dtype"],
                nullable=bool(c.get("nullable", False)),
                categories=None if c.get("categories") is None else tuple(c["categories"]),
            )
            for c in d["columns"]
        )
        return cls(
            cols, d["target"], d["task"], d.get("description", "tabular records"), d.get("name", "")
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    def to_toml(self) -> str:
        """The column kinds as a TOML table a user can paste into a config and edit."""
        lines = [f"# inferred schema; target = {self.target!r} ({self.task})", "[columns]"]
        for c in self.features:
            miss = "  # has missing values" if c.nullable else ""
            lines.append(f"{json.dumps(c.name)} = {json.dumps(c.kind)}{miss}")
        return "\n".join(lines) + "\n"


def is_missing(value: Any) -> bool:
    """Whether one cell holds a missing value (None, NaN, NaT, pd.NA); an array-like cell
    is a value, not missing."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def py_scalar(value: Any) -> Any:
    """A numpy scalar as the plain Python value (so it hashes and compares like the schema's
    categories, and is JSON-able); anything else unchanged."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_integral(values: pd.Series) -> bool:
    v = values.dropna().astype("float64")
    return bool(np.all(np.isfinite(v)) and np.all(np.floor(v) == v))


def _infer_kind(name: str, s: pd.Series) -> Kind:
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(s.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(s.dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or isinstance(s.dtype, pd.PeriodDtype):
        raise UserError(
            f"column '{name}' holds dates/times: convert it to a number (e.g. Unix time) "
            "or to text before benchmarking"
        )
    non_null = s.dropna()
    if len(non_null) and non_null.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return "boolean"
    return "categorical"


def _storage_dtype(kind: Kind, s: pd.Series, nullable: bool) -> str:
    if kind == "integer":
        return "float64" if nullable else "int64"
    if kind == "float":
        return "float64"
    if kind == "boolean":
        return "object" if nullable else "bool"
    # categorical: keep integer codes as integers (labels 0/1, codes overridden to categorical)
    if pd.api.types.is_integer_dtype(s.dtype) or (
        pd.api.types.is_float_dtype(s.dtype) and _is_integral(s)
    ):
        return "float64" if nullable else "int64"
    if pd.api.types.is_float_dtype(s.dtype):
        return "float64"
    if pd.api.types.is_bool_dtype(s.dtype):
        return "object" if nullable else "bool"
    return "object"


def _to_storage(s: pd.Series, dtype: str) -> pd.Series:
    """Cast one column from the nullable dtypes the reader produced to its storage dtype."""
    return cast_column(s, dtype)


def cast_column(values: Any, dtype: str) -> pd.Series:
    """``values`` (a Series or an array) as a column of storage ``dtype``; missing values stay
    NaN in object and float columns. Synthesizers use it to hand back schema dtypes."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if dtype == "object":
        return s.astype(object).where(s.notna(), np.nan)
    if dtype == "bool":
        return s.astype(bool)
    if dtype == "int64":
        return s.astype("int64")
    return pd.to_numeric(s, errors="raise").astype("float64")


def observed_categories(column: Column, values: pd.Series) -> list[Any]:
    """The schema's training categories, then any other value ``values`` holds (a split may
    hold categories train lacks), as Python scalars; missing values are left out."""
    cats = list(column.categories or ())
    known = set(cats)
    for value in pd.unique(values.dropna()):
        item = py_scalar(value)
        if item not in known:
            cats.append(item)
            known.add(item)
    return cats


def infer_schema(
    table: pd.DataFrame,
    target: str,
    *,
    train: pd.DataFrame | None = None,
    overrides: Mapping[str, str] | None = None,
    description: str = "tabular records",
    name: str = "",
) -> Schema:
    """Infer the schema of ``table`` (the whole dataset, read with nullable dtypes).

    ``train`` (default: ``table``) supplies the category sets. ``overrides`` maps column
    names to kinds and wins over inference.
    """
    overrides = dict(overrides or {})
    for name, kind in overrides.items():
        if name not in table.columns:
            raise UserError(f"schema override names unknown column '{name}': fix the config")
        if kind not in KINDS:
            raise UserError(
                f"schema override for '{name}' is '{kind}': use one of {', '.join(KINDS)}"
            )
    train = table if train is None else train
    columns = []
    for col in table.columns:
        s = table[col]
        kind: Kind = overrides.get(col) or _infer_kind(col, s)  # type: ignore[assignment]
        if col == target:
            kind = "categorical" if kind != "boolean" else kind
        if kind in NUMERIC_KINDS and not (
            pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
        ):
            if pd.to_numeric(s.dropna(), errors="coerce").isna().any():
                raise UserError(
                    f"column '{col}' is declared {kind} but holds non-numeric values: "
                    "declare it categorical"
                )
            s = pd.to_numeric(s)
        if kind == "integer" and not _is_integral(s):
            raise UserError(
                f"column '{name}' is declared integer but holds fractional values: declare it float"
            )
        nullable = bool(s.isna().any())
        dtype = _storage_dtype(kind, s, nullable)
        categories = None
        if kind in ("categorical", "boolean"):
            values = _to_storage(train[col], dtype).dropna().unique()
            scalars = (py_scalar(v) for v in values)
            categories = tuple(sorted(scalars, key=lambda v: (str(type(v)), v)))
        columns.append(Column(col, kind, dtype, nullable, categories))
    return Schema(tuple(columns), target, _task(target, columns), description, name)


def _task(target: str, columns: list[Column]) -> Task:
    col = next(c for c in columns if c.name == target)
    n = len(col.categories or ())
    if n < 2:
        raise UserError(
            f"target '{target}' has a single class in the training data: "
            "pick a column with at least two classes"
        )
    return "binary" if n == 2 else "multiclass"


def check_target(table: pd.DataFrame, target: str) -> None:
    """Reject targets this classification benchmark cannot use, with the fix."""
    if target not in table.columns:
        from bench.errors import unknown_name

        raise unknown_name("target column", target, map(str, table.columns), "head -1 FILE")
    y = table[target]
    if y.isna().any():
        raise UserError(
            f"target '{target}' has {int(y.isna().sum())} missing values: "
            "drop those rows or choose another target"
        )
    if pd.api.types.is_float_dtype(y.dtype) and not _is_integral(y):
        raise UserError(
            f"target '{target}' looks continuous ({y.nunique()} distinct values): this "
            "benchmark scores classification; bin it into classes or choose another target"
        )
    if y.nunique() < 2:
        raise UserError(
            f"target '{target}' has a single class: pick a column with at least two classes"
        )


def to_storage(table: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Cast a table read with nullable dtypes to the schema's storage dtypes."""
    return pd.DataFrame(
        {c.name: _to_storage(table[c.name], c.dtype) for c in schema.columns},
        index=table.index,
    )
