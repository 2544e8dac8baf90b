"""The output contract every synthesizer's tests check: shape, dtypes, categories, seeds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from bench.datasets import Dataset
from bench.schema import Schema


def check_contract(
    out: pd.DataFrame, train: pd.DataFrame, schema: Schema, n: int, *, in_range: bool = False
) -> None:
    """Exactly ``n`` rows with the schema's columns and train's dtypes, categories seen in
    train, no missing value where the column is not nullable; with ``in_range``, numbers
    within train's range (for synthesizers that clip to it)."""
    assert len(out) == n
    assert list(out.columns) == schema.names
    assert out.dtypes.equals(train.dtypes)
    for col in schema.columns:
        if col.categories is not None:
            assert set(out[col.name].dropna()) <= set(col.categories), col.name
        if not col.nullable:
            assert out[col.name].notna().all(), col.name
        if in_range and col.is_numeric:
            values = out[col.name].dropna()
            assert values.min() >= train[col.name].min(), col.name
            assert values.max() <= train[col.name].max(), col.name


def check_reproducible(make: Callable[[], Any], data: Dataset, **contract: Any) -> None:
    """Fit twice with one seed: the same rows for the same generation seed, other rows for
    another; ``n`` exceeds the training split so generation is not a copy of it."""
    n = len(data.train) + 13
    first = make().fit(data.train, data.schema, seed=11).generate(n, seed=2)
    check_contract(first, data.train, data.schema, n, **contract)
    again = make().fit(data.train, data.schema, seed=11)
    pd.testing.assert_frame_equal(first, again.generate(n, seed=2))
    assert not first.equals(again.generate(n, seed=3))
