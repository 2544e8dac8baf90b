"""Unit tests of the SMOTE baseline adapter (adapters/smote.py)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from adapters.smote import SMOTE
from bench.datasets import load_bundled
from bench.schema import Column, Schema
from bench.synthesizer import class_allocation


@cache
def _bundled(name: str, rows: int | None = None) -> tuple[pd.DataFrame, Schema]:
    data = load_bundled(name)
    train = data.train
    if rows is not None and rows < len(train):
        train = train.sample(rows, random_state=0).reset_index(drop=True)
    return train, data.schema


def _categorical_table() -> tuple[pd.DataFrame, Schema]:
    """All features categorical (SMOTEN), with missing values and a boolean column."""
    rng = np.random.default_rng(0)
    n = 120
    color = rng.choice(np.array(["red", "green", "blue", None], dtype=object), size=n)
    size = rng.choice(np.array(["S", "M", "L"], dtype=object), size=n)
    flag = rng.random(n) < 0.3
    label = np.where(rng.random(n) < 0.35, "yes", "no").astype(object)
    train = pd.DataFrame(
        {
            "color": pd.Series(color, dtype=object).where(pd.notna(color), np.nan),
            "size": pd.Series(size, dtype=object),
            "flag": flag,
            "label": pd.Series(label, dtype=object),
        }
    )
    schema = Schema(
        (
            Column("color", "categorical", "object", True, ("blue", "green", "red")),
            Column("size", "categorical", "object", False, ("L", "M", "S")),
            Column("flag", "boolean", "bool", False, (False, True)),
            Column("label", "categorical", "object", False, ("no", "yes")),
        ),
        target="label",
        task="binary",
    )
    return train, schema


def _numeric_missing_table() -> tuple[pd.DataFrame, Schema]:
    """Numeric features with missing values (median fill + indicator), a 1-row class."""
    rng = np.random.default_rng(1)
    n = 80
    x = rng.normal(10, 3, size=n)
    x[rng.random(n) < 0.25] = np.nan
    count = rng.integers(0, 20, size=n).astype("float64")
    count[rng.random(n) < 0.2] = np.nan
    y = rng.integers(0, 2, size=n)
    y[0] = 2  # class 2 has a single row
    y[1:][y[1:] == 2] = 0
    train = pd.DataFrame({"x": x, "count": count, "z": rng.random(n), "y": y.astype("int64")})
    schema = Schema(
        (
            Column("x", "float", "float64", True),
            Column("count", "integer", "float64", True),
            Column("z", "float", "float64", False),
            Column("y", "categorical", "int64", False, (0, 1, 2)),
        ),
        target="y",
        task="multiclass",
    )
    return train, schema


def _bool_target_table() -> tuple[pd.DataFrame, Schema]:
    """A True/False target: class labels that pandas would read as a boolean mask."""
    rng = np.random.default_rng(2)
    n = 90
    train = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": pd.Series(rng.choice(np.array(["a", "b"], dtype=object), size=n), dtype=object),
            "y": rng.random(n) < 0.3,
        }
    )
    schema = Schema(
        (
            Column("x", "float", "float64", False),
            Column("c", "categorical", "object", False, ("a", "b")),
            Column("y", "boolean", "bool", False, (False, True)),
        ),
        target="y",
        task="binary",
    )
    return train, schema


CASES = {
    "german": lambda: _bundled("german"),
    "diabetes": lambda: _bundled("diabetes"),
    "buddy": lambda: _bundled("buddy", 2000),
    "adult": lambda: _bundled("adult", 3000),
    "categorical": _categorical_table,
    "numeric_missing": _numeric_missing_table,
    "bool_target": _bool_target_table,
}


@cache
def _fitted(case: str) -> tuple[SMOTE, pd.DataFrame, Schema]:
    train, schema = CASES[case]()
    return SMOTE().fit(train, schema, seed=0), train, schema


def _check_table(out: pd.DataFrame, train: pd.DataFrame, schema: Schema) -> None:
    assert list(out.columns) == schema.names
    assert {c: str(out[c].dtype) for c in out.columns} == schema.dtypes()
    for col in schema.columns:
        if col.is_numeric:
            continue
        values = set(out[col.name].dropna().tolist())
        assert values <= set(train[col.name].dropna().tolist()), col.name
        assert values <= set(col.categories or ()), col.name
    for col in schema.columns:
        if col.dtype in ("int64", "bool") or not col.nullable:
            assert not out[col.name].isna().any(), col.name
        if col.kind == "integer":
            v = out[col.name].dropna().to_numpy(dtype="float64")
            assert np.array_equal(v, np.round(v)), col.name


@pytest.mark.parametrize("case", list(CASES))
def test_output_format_and_class_counts(case: str) -> None:
    synth, train, schema = _fitted(case)
    for n in (0, 1, 2, 5, 37, 2 * len(train)):
        out = synth.generate(n, seed=n)
        assert len(out) == n
        _check_table(out, train, schema)
        counts = out[schema.target].value_counts().to_dict()
        expected = {k: v for k, v in class_allocation(train[schema.target], n).items() if v}
        assert counts == expected


@pytest.mark.parametrize("case", list(CASES))
def test_seeded(case: str) -> None:
    synth, train, _ = _fitted(case)
    n = min(len(train), 500)
    a = synth.generate(n, seed=7)
    pd.testing.assert_frame_equal(a, synth.generate(n, seed=7))
    assert not a.equals(synth.generate(n, seed=8))
    # A fresh instance fitted on the same data gives the same rows.
    _, schema = CASES[case]()
    again = SMOTE().fit(train, schema, seed=0).generate(n, seed=7)
    pd.testing.assert_frame_equal(a, again)


def test_numeric_values_interpolate_within_class() -> None:
    synth, train, schema = _fitted("diabetes")
    out = synth.generate(2 * len(train), seed=3)
    for label, group in out.groupby(schema.target):
        real = train[train[schema.target] == label]
        for col in schema.features:
            assert group[col.name].min() >= real[col.name].min()
            assert group[col.name].max() <= real[col.name].max()
    # Interpolation makes new rows, not copies.
    merged = out.merge(train.drop_duplicates(), how="inner", on=schema.names)
    assert len(merged) < 0.2 * len(out)


def test_adult_missing_categories_survive() -> None:
    synth, train, _ = _fitted("adult")
    out = synth.generate(len(train), seed=11)
    for name in ("workclass", "occupation"):
        rate_train = train[name].isna().mean()
        rate_out = out[name].isna().mean()
        assert rate_out > 0.5 * rate_train, name
        assert rate_out < 1.5 * rate_train, name
    for name in ("workclass", "occupation", "native-country"):
        assert not out[name].dropna().astype(str).str.lower().isin(["nan", "none"]).any()


def test_numeric_missing_values_restored() -> None:
    synth, train, _ = _fitted("numeric_missing")
    out = synth.generate(4 * len(train), seed=5)
    for name in ("x", "count"):
        assert out[name].isna().any(), name
        assert 0.3 * train[name].isna().mean() < out[name].isna().mean()
        assert out[name].isna().mean() < 2.0 * train[name].isna().mean() + 0.05
    # The single-row class is replicated: its rows equal that training row.
    single = out[out["y"] == 2]
    assert len(single) == class_allocation(train["y"], len(out))[2] > 0
    expected = train[train["y"] == 2].iloc[0]
    for name in ("x", "count", "z"):
        assert single[name].isna().eq(pd.isna(expected[name])).all()
        assert np.allclose(single[name].dropna(), expected[name])


def test_single_row_class_in_mixed_table() -> None:
    train, schema = _bundled("german")
    train = train.copy()
    train.loc[0, schema.target] = 2
    target = schema[schema.target]
    columns = tuple(
        Column(c.name, c.kind, c.dtype, c.nullable, (0, 1, 2)) if c is target else c
        for c in schema.columns
    )
    schema3 = Schema(columns, schema.target, "multiclass")
    synth = SMOTE(k_neighbors=5).fit(train, schema3, seed=0)
    out = synth.generate(3 * len(train), seed=0)
    _check_table(out, train, schema3)
    assert (out[schema.target] == 2).sum() == 3


def test_two_row_class_and_small_k() -> None:
    train, schema = _bundled("diabetes")
    small = pd.concat(
        [train[train["Outcome"] == 0].head(30), train[train["Outcome"] == 1].head(2)],
        ignore_index=True,
    )
    out = SMOTE(k_neighbors=1).fit(small, schema, seed=0).generate(64, seed=0)
    assert len(out) == 64
    assert out["Outcome"].value_counts().to_dict() == class_allocation(small["Outcome"], 64)


@pytest.mark.parametrize(
    ("labels", "n", "expected"),
    [
        ([True] * 7 + [False] * 3, 11, {True: 8, False: 3}),
        ([True] * 7 + [False] * 3, 5, {True: 4, False: 1}),
        ([False] * 5 + [True] * 5, 3, {False: 2, True: 1}),  # a tie: first class seen first
        (["a"] * 7 + ["b"] * 3, 11, {"a": 8, "b": 3}),
        ([0] * 7 + [1] * 3, 15, {0: 11, 1: 4}),
        ([2] * 7 + [1] * 2 + [0], 15, {2: 11, 1: 3, 0: 1}),  # labels that are not positions
        ([2] * 7 + [1] * 2 + [0], 5, {2: 4, 1: 1, 0: 0}),
    ],
)
def test_class_allocation_picks_leftovers_by_position(labels, n, expected) -> None:
    alloc = class_allocation(pd.Series(labels), n)
    assert alloc == expected and list(alloc) == list(expected)


def test_params_and_errors() -> None:
    synth = SMOTE(k_neighbors=3)
    assert synth.get_params() == {"k_neighbors": 3}
    assert SMOTE.name == "smote"
    with pytest.raises(RuntimeError):
        synth.generate(5, seed=0)
    train, schema = _bundled("diabetes")
    with pytest.raises(ValueError):
        SMOTE(k_neighbors=0).fit(train, schema, seed=0)
