"""DM follows synthcity's ``data_mismatch``: dtype differences over (columns + 1)."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.datasets import load_bundled
from bench.metrics.base import EvalContext
from bench.metrics.fidelity import DataMismatch


def _ctx(ds, syn_raw: pd.DataFrame) -> EvalContext:
    return EvalContext(ds.name, ds.schema, ds.train, ds.val, ds.test, syn_raw, 0, "t")


def synthcity_data_mismatch(real: pd.DataFrame, syn: pd.DataFrame) -> float:
    """synthcity.metrics.eval_sanity.DataMismatchScore.evaluate, written out literally."""
    if len(real.columns) != len(syn.columns):
        raise ValueError("Incompatible dataframe")
    diffs = sum(int(real[c].dtype != syn[c].dtype) for c in real.columns)
    return diffs / (len(real.columns) + 1)


@pytest.fixture(scope="module")
def german():
    return load_bundled("german")


def test_three_of_twenty_one_columns_off_gives_the_papers_0_14(german):
    syn = german.train.copy()
    for col in ("Duration in month", "Credit amount", "Age in years"):
        syn[col] = syn[col].astype(float)  # a generator that returns floats for integers
    got = DataMismatch().compute(_ctx(german, syn)).value
    assert got == synthcity_data_mismatch(german.train, syn) == 3 / 22
    assert round(got, 2) == 0.14


def test_matches_synthcity_on_real_dtype_changes():
    adult = load_bundled("adult")
    syn = adult.train.copy()
    syn["class"] = syn["class"].astype(str)
    out = DataMismatch().compute(_ctx(adult, syn))
    assert out.value == synthcity_data_mismatch(adult.train, syn) == 1 / 16
    assert out.aux["mismatched"] == ["class"]


def test_missing_and_extra_columns(german):
    syn = german.train.drop(columns=["status"]).assign(extra=1)
    out = DataMismatch().compute(_ctx(german, syn))
    assert out.value == 1 / 22  # synthcity raises here; a missing column counts as mismatched
    assert out.aux["missing_columns"] == ["status"] and out.aux["extra_columns"] == ["extra"]
