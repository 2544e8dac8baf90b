"""Reading generated rows back (spec §3 "Parsing"): never raises, says why a row is invalid.

``parse_row`` takes the first complete JSON object in the model's continuation (text before
or after it is ignored; braces inside JSON strings are handled by trying
``json.JSONDecoder.raw_decode`` at each ``{`` in turn), maps its keys to the schema's columns
and converts each value per column kind. The rules match
:func:`harmonic.instructions.serialize_row`:

* keys: exact match first; a column with no exact key also matches a key equal to its name
  after stripping surrounding whitespace. Unknown keys are ignored; for a repeated key the
  last value wins (``json`` semantics).
* ``""`` (or JSON ``null``) is a missing value: returned as ``None``, valid only where the
  column is nullable (a categorical column whose categories include ``""`` reads it as that
  category instead).
* integer columns: an optional sign and digits, or a decimal form with an integral value
  (``"32.0"``); a fractional value, or one outside int64 for an int64 column, is
  ``bad_number``. float columns: a finite decimal number (``nan``, ``inf``, ``1_0`` are
  ``bad_number``). Numbers may carry surrounding whitespace.
* categorical / boolean columns: the text must equal ``str(category)`` of a training
  category exactly (booleans: ``"True"`` / ``"False"``); the category itself is returned.
* a JSON number, boolean or null value is read as its text (``1`` -> ``"1"``,
  ``true`` -> ``"True"``); a list or object value is ``bad_value``.

Reasons (stable codes): the first failing check, columns taken in schema order. The object
scan tries each plausible ``{`` (followed by a key or ``}``), so pathological, deeply nested
input costs time quadratic in its length; model continuations are short (max_new_tokens).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from bench.schema import Column, Schema

__all__ = [
    "BAD_JSON",
    "BAD_NUMBER",
    "BAD_VALUE",
    "MISSING_COLUMN",
    "MISSING_VALUE",
    "NOT_OBJECT",
    "NO_JSON",
    "REASONS",
    "UNSEEN_CATEGORY",
    "Parsed",
    "first_json_object",
    "parse_row",
    "parse_rows",
]

NO_JSON = "no_json"  # no "{" (and no other JSON value) in the text
BAD_JSON = "bad_json"  # a "{" but no complete, well-formed object
NOT_OBJECT = "not_object"  # the text is a JSON array / string, not an object
MISSING_COLUMN = "missing_column"  # a schema column has no key
BAD_VALUE = "bad_value"  # a value is a list or an object
BAD_NUMBER = "bad_number"  # a numeric column's text is not a (integral, for integers) number
UNSEEN_CATEGORY = "unseen_category"  # not one of the training categories
MISSING_VALUE = "missing_value"  # "" / null in a column without missing values
REASONS = (
    NO_JSON,
    BAD_JSON,
    NOT_OBJECT,
    MISSING_COLUMN,
    BAD_VALUE,
    BAD_NUMBER,
    UNSEEN_CATEGORY,
    MISSING_VALUE,
)

_INT = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT64 = (-(2**63), 2**63 - 1)
_DECODER = json.JSONDecoder()
# where an object can start: "{", JSON whitespace, then a key or "}" (skips hopeless "{")
_OBJECT_START = re.compile(r"\{[ \t\n\r]*[\"}]")


@dataclass(frozen=True)
class Parsed:
    """Typed values of a valid row (``None`` = missing), or the reason it is invalid."""

    values: dict[str, Any] | None
    reason: str | None
    column: str | None = None  # the column that failed, where one did

    @property
    def ok(self) -> bool:
        return self.values is not None


class _Invalid(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def first_json_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The first complete JSON object in ``text``, or (None, reason)."""
    if not isinstance(text, str):
        return None, NO_JSON
    for start in _OBJECT_START.finditer(text):
        try:
            obj, _ = _DECODER.raw_decode(text, start.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            return obj, None
    stripped = text.strip()
    if stripped[:1] in ("[", '"'):
        try:
            _DECODER.raw_decode(stripped)
            return None, NOT_OBJECT
        except (ValueError, RecursionError):
            pass
    return None, BAD_JSON if "{" in text else NO_JSON


@dataclass(frozen=True)
class _Plan:
    """Per-schema lookups built once: category text -> category, per column."""

    columns: tuple[Column, ...]
    categories: tuple[dict[str, Any] | None, ...]

    @classmethod
    def of(cls, schema: Schema) -> _Plan:
        try:
            return _cached_plan(schema)
        except TypeError:  # an unhashable schema: build without the cache
            return _make_plan(schema)


def _make_plan(schema: Schema) -> _Plan:
    cats: list[dict[str, Any] | None] = []
    for c in schema.columns:
        if c.kind in ("categorical", "boolean"):
            lookup: dict[str, Any] = {}
            for v in c.categories or ():
                lookup.setdefault(str(v), v)  # two categories with one text: the first wins
            cats.append(lookup)
        else:
            cats.append(None)
    return _Plan(tuple(schema.columns), tuple(cats))


@lru_cache(maxsize=64)
def _cached_plan(schema: Schema) -> _Plan:
    return _make_plan(schema)


def _text(value: Any) -> str:
    """A JSON value as the text the row would have held."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value
    raise _Invalid(BAD_VALUE)


def _number(text: str, column: Column) -> int | float:
    try:
        return _number_or_raise(text.strip(), column)
    except (ValueError, OverflowError):  # e.g. more digits than int() accepts
        raise _Invalid(BAD_NUMBER) from None


def _number_or_raise(s: str, column: Column) -> int | float:
    if column.kind == "integer":
        if _INT.fullmatch(s):
            out = int(s)
        elif _DECIMAL.fullmatch(s):
            f = float(s)
            if not (math.isfinite(f) and f.is_integer()):
                raise _Invalid(BAD_NUMBER)
            out = int(f)
        else:
            raise _Invalid(BAD_NUMBER)
        if column.dtype == "int64" and not _INT64[0] <= out <= _INT64[1]:
            raise _Invalid(BAD_NUMBER)
        return out
    if not _DECIMAL.fullmatch(s):
        raise _Invalid(BAD_NUMBER)
    f = float(s)
    if not math.isfinite(f):
        raise _Invalid(BAD_NUMBER)
    return f


def _convert(value: Any, column: Column, lookup: dict[str, Any] | None) -> Any:
    text = _text(value)
    if lookup is not None and text in lookup:
        return lookup[text]
    if text == "":
        if column.nullable:
            return None
        raise _Invalid(MISSING_VALUE)
    if lookup is not None:
        raise _Invalid(UNSEEN_CATEGORY)
    return _number(text, column)


def _values(obj: dict[str, Any], plan: _Plan) -> Parsed:
    stripped: dict[str, Any] | None = None
    out: dict[str, Any] = {}
    for column, lookup in zip(plan.columns, plan.categories, strict=True):
        name = column.name
        if name in obj:
            raw = obj[name]
        else:
            if stripped is None:
                stripped = {k.strip(): v for k, v in obj.items() if isinstance(k, str)}
            if name not in stripped:
                return Parsed(None, MISSING_COLUMN, name)
            raw = stripped[name]
        try:
            out[name] = _convert(raw, column, lookup)
        except _Invalid as e:
            return Parsed(None, e.reason, name)
    return Parsed(out, None)


def _parse(text: str, plan: _Plan) -> Parsed:
    obj, reason = first_json_object(text)
    if obj is None:
        return Parsed(None, reason)
    return _values(obj, plan)


def parse_row(text: str, schema: Schema) -> Parsed:
    """One generated continuation -> typed row or invalid reason. Never raises on ``text``."""
    try:
        return _parse(text, _Plan.of(schema))
    except Exception:  # last resort: model output must never crash a run
        return Parsed(None, BAD_JSON)


def _series(values: list[Any], dtype: str) -> pd.Series:
    """A column in its storage dtype; missing (None) as NaN like ``bench.schema.to_storage``."""
    if dtype == "object":
        return pd.Series([np.nan if v is None else v for v in values], dtype=object)
    if dtype == "float64":
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    try:
        return pd.Series(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError):  # missing in a non-nullable dtype
        return pd.Series([np.nan if v is None else v for v in values], dtype=object)


def parse_rows(texts: Iterable[str], schema: Schema) -> tuple[pd.DataFrame, Counter[str]]:
    """Valid rows as a table in the schema's storage dtypes, and invalid rows by reason."""
    plan = _Plan.of(schema)
    rows: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    for text in texts:
        try:
            parsed = _parse(text, plan)
        except Exception:
            parsed = Parsed(None, BAD_JSON)
        if parsed.values is None:
            reasons[parsed.reason or BAD_JSON] += 1
        else:
            rows.append(parsed.values)
    table = pd.DataFrame(
        {c.name: _series([r[c.name] for r in rows], c.dtype) for c in schema.columns}
    )
    return table, reasons
