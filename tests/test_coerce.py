"""Coercion of a synthetic table to the training schema, and the invalid-row figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames

from bench.datasets import load_bundled
from bench.metrics.coerce import INT64_MAX, INT64_MIN, Coerced, coerce
from bench.schema import Column, Schema

SCHEMA = Schema(
    (
        Column("n", "integer", "int64"),
        Column("f", "float", "float64", nullable=True),
        Column("c", "categorical", "object", nullable=True, categories=("a", "b")),
        Column("b", "boolean", "bool", categories=(False, True)),
        Column("y", "categorical", "int64", categories=(0, 1)),
    ),
    "y",
    "binary",
)


def test_valid_rows_pass_and_text_forms_are_understood():
    raw = pd.DataFrame(
        {
            "n": ["1", 2.4, 3],
            "f": [0.5, None, "2.5"],
            "c": ["a", np.nan, "b"],
            "b": ["true", True, 0],
            "y": ["1", 0.0, 1],
            "extra": [1, 2, 3],
        }
    )
    out = coerce(raw, SCHEMA)
    assert out.invalid_rows == 0 and out.extra_columns == ["extra"]
    t = out.table
    assert list(t.dtypes.astype(str)) == ["int64", "float64", "object", "bool", "int64"]
    assert t["n"].tolist() == [1, 2, 3] and t["y"].tolist() == [1, 0, 1]
    assert t["b"].tolist() == [True, True, False]
    assert np.isnan(t["f"][1]) and isinstance(t["c"][1], float)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("n", "seven", "non-numeric value in 'n'"),
        ("n", np.inf, "infinite value in 'n'"),
        ("n", None, "missing value in 'n'"),
        ("n", 1e19, "outside the int64 range in 'n'"),
        ("n", -(2**63) - 1, "outside the int64 range in 'n'"),
        ("n", "99999999999999999999", "outside the int64 range in 'n'"),
        ("c", "z", "unseen category in 'c'"),
        ("y", 2, "unseen category in 'y'"),
        ("b", "maybe", "unseen category in 'b'"),
    ],
)
def test_each_invalid_reason_is_detected(column, value, reason):
    row = {"n": 1, "f": 1.0, "c": "a", "b": True, "y": 0}
    raw = pd.DataFrame([row, {**row, column: value}])
    out = coerce(raw, SCHEMA)
    assert out.invalid_rows == 1 and out.reasons == {reason: 1}
    assert len(out.table) == 1


def test_missing_column_invalidates_every_row():
    raw = pd.DataFrame({"n": [1, 2], "f": [1.0, 2.0]})
    out = coerce(raw, SCHEMA)
    assert out.invalid_rows == 2 and out.missing_columns == ["c", "b", "y"]
    assert len(out.table) == 0 and list(out.table.columns) == SCHEMA.names
    assert "no valid synthetic rows" in out.summary()


def test_real_data_is_left_untouched():
    adult = load_bundled("adult")
    out = coerce(adult.train, adult.schema)
    assert out.invalid_rows == 0
    pd.testing.assert_frame_equal(out.table, adult.train)


ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.sampled_from(["a", "b", "1", "0", "true", "1.0", "inf"]),
)


@settings(max_examples=150, deadline=None)
@given(data_frames([column(name, elements=ANY, dtype=object) for name in SCHEMA.names]))
def test_coerce_never_crashes_and_output_fits_the_schema(raw):
    out = coerce(raw, SCHEMA)
    assert out.invalid_rows + len(out.table) == len(raw)
    assert list(out.table.dtypes.astype(str)) == [c.dtype for c in SCHEMA.columns]
    assert set(out.table["c"].dropna()) <= {"a", "b"}
    assert set(out.table["y"]) <= {0, 1}
    assert not out.table["n"].isna().any()


def test_nul_is_not_the_empty_category():
    schema = Schema(
        (
            Column("c", "categorical", "object", categories=("", "a")),
            Column("y", "categorical", "int64", categories=(0, 1)),
        ),
        "y",
        "binary",
    )
    out = coerce(pd.DataFrame({"c": ["", "\x00", "a"], "y": [0, 1, 0]}), schema)
    assert out.invalid_rows == 1 and out.table["c"].tolist() == ["", "a"]


# ---- the integer path: whole numbers int64 cannot hold are invalid, never wrapped -------------

INT_SCHEMA = Schema(
    (Column("n", "integer", "int64"), Column("y", "categorical", "int64", categories=(0, 1))),
    "y",
    "binary",
)
OUTSIDE = "outside the int64 range in 'n'"


def _coerce_n(values: pd.Series) -> Coerced:
    return coerce(pd.DataFrame({"n": values, "y": 0}), INT_SCHEMA)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**70), 2**70), max_size=12))
def test_whole_numbers_are_kept_exactly_or_counted_as_outside_int64(values):
    out = _coerce_n(pd.Series(values, dtype=object))
    inside = [v for v in values if INT64_MIN <= v <= INT64_MAX]
    assert out.table["n"].tolist() == inside
    assert out.invalid_rows == len(values) - len(inside)
    assert out.reasons == ({OUTSIDE: out.invalid_rows} if out.invalid_rows else {})


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(INT64_MIN, INT64_MAX), max_size=12),
    st.sampled_from(["int64", "object", "text"]),
)
def test_every_int64_value_comes_back_with_all_its_digits(values, form):
    series = {
        "int64": pd.Series(values, dtype="int64"),
        "object": pd.Series(values, dtype=object),
        "text": pd.Series([f" {v} " for v in values], dtype=object),
    }[form]
    out = _coerce_n(series)
    assert out.invalid_rows == 0 and out.table["n"].tolist() == values
    assert str(out.table["n"].dtype) == "int64"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=12))
def test_floats_are_rounded_or_counted_as_outside_int64(values):
    rounded = np.round(np.array(values, dtype="float64"))
    inside = (rounded >= -(2.0**63)) & (rounded < 2.0**63)
    out = _coerce_n(pd.Series(values, dtype="float64"))
    assert out.table["n"].tolist() == [int(r) for r in rounded[inside]]
    assert out.invalid_rows == int((~inside).sum())
