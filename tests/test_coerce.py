"""Coercion of a synthetic table to the training schema, and the invalid-row figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames

from bench.datasets import load_bundled
from bench.metrics.coerce import coerce
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
