"""REaLTabFormer through realtabformer: what the package is given and returns (hostile
values included), a tiny model end to end (fast); German at the quick preset with DLT (slow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realtabformer.rtf_exceptions import SampleEmptyError
from realtabformer.rtf_sampler import TabularSampler

from adapters.realtabformer import (
    BAD_NUMBER,
    MISSING_VALUE,
    UNSEEN_CATEGORY,
    REaLTabFormer,
    RTFCodes,
)
from bench.schema import Column, Schema

from test_great import run_quick_german

# what the package itself would misread: its token separator, its missing-number token, its
# column-kind markers, integer-looking strings and its own missing-value texts
HOSTILE = st.lists(
    st.sampled_from(["___", "@", "CATEGORICAL", "NUMERIC", "<NA>", "NaN", "1", " ", "a", "é"]),
    max_size=4,
).map("".join)


def _schema(names: list[str], cats: list[str]) -> Schema:
    return Schema(
        (
            Column(names[0], "categorical", "object", nullable=True, categories=tuple(cats)),
            Column(names[1], "integer", "int64"),
            Column(names[2], "float", "float64", nullable=True),
            Column(names[3], "boolean", "bool", categories=(False, True)),
            Column(names[4], "categorical", "int64", categories=(0, 1)),
        ),
        target=names[4],
        task="binary",
    )


def _rows(schema: Schema, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c0, c1, c2, c3, c4 = schema.columns
    cats = pd.Series(rng.choice(np.array(c0.categories, dtype=object), n), dtype=object)
    cats[rng.random(n) < 0.2] = np.nan
    floats = np.round(rng.normal(50, 20, n), 2)
    floats[rng.random(n) < 0.2] = np.nan
    label = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            c0.name: cats,
            c1.name: rng.integers(0, 40, n) + 10 * label,
            c2.name: floats,
            c3.name: rng.random(n) < 0.5,
            c4.name: label,
        }
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(HOSTILE, min_size=5, max_size=5, unique=True),
    cats=st.lists(HOSTILE, min_size=1, max_size=4, unique=True),
    seed=st.integers(0, 2**16),
)
def test_tables_survive_the_package_encoding_with_hostile_names_and_values(names, cats, seed):
    schema = _schema(names, cats)
    rows = _rows(schema, 15, seed)
    codes = RTFCodes(schema, rows)
    encoded = codes.encode(rows)
    assert list(encoded.columns) == [f"c{j}" for j in range(5)]
    for j in (0, 3, 4):  # categorical columns are codes: nothing the package can misread
        assert encoded[f"c{j}"].dropna().str.fullmatch(r"v[0-9]+").all()
    table, reasons = codes.decode(encoded)
    assert not reasons
    pd.testing.assert_frame_equal(table, rows)


def test_decode_drops_invalid_rows_and_says_why():
    schema = _schema(["a", "b", "c", "d", "y"], ["x", "z"])
    codes = RTFCodes(schema, _rows(schema, 10, 0))
    raw = pd.DataFrame(
        {
            "c0": ["v0", "v7", np.nan, "v1", "v1"],
            "c1": [3, 4, 5, np.nan, "12x"],
            "c2": [1.5, np.nan, 2.0, 3.0, 4.0],
            "c3": ["v1", "v0", "v0", "v1", "v0"],
            "c4": ["v0", "v1", "v1", "v0", "v0"],
        }
    )
    table, reasons = codes.decode(raw)
    assert reasons == {UNSEEN_CATEGORY: 1, MISSING_VALUE: 1, BAD_NUMBER: 1}
    assert len(table) == 2
    assert table.iloc[0].tolist() == ["x", 3, 1.5, True, 0]
    assert pd.isna(table.iloc[1]["a"]) and table.iloc[1]["b"] == 5  # missing allowed in 'a'


def test_presets_and_bad_parameters():
    assert set(REaLTabFormer.presets["quick"]) <= set(REaLTabFormer.param_names())
    paper = REaLTabFormer(**REaLTabFormer.presets["paper"])
    assert (paper.n_layer, paper.n_embd, paper.epochs, paper.n_critic) == (6, 768, 1000, 5)
    for bad in ({"epochs": 0}, {"n_embd": 30, "n_head": 4}, {"lr": -1}, {"n_critic": -1}):
        with pytest.raises(ValueError):
            REaLTabFormer(**bad)


def test_a_tiny_model_fits_generates_exact_rows_and_scores_each_row(tmp_path, monkeypatch):
    """The real package end to end on a toy table with hostile names, in seconds."""
    monkeypatch.chdir(tmp_path)  # nothing may be written to the working directory
    schema = _schema(["a___b", "CATEGORICAL x", "@", "NaN", "y"], ["<NA>", "1", "x___y"])
    train = _rows(schema, 80, 0)
    synth = REaLTabFormer(
        device="cpu",
        epochs=3,
        n_layer=1,
        n_embd=16,
        n_head=2,
        n_critic=0,
        lr=5e-3,
        gen_batch_size=32,
    )
    synth.fit(train, schema, seed=0)
    assert list(tmp_path.iterdir()) == []
    table = synth.generate(25, seed=3)
    assert len(table) == 25
    assert list(table.columns) == schema.names
    assert list(table.dtypes.astype(str)) == [c.dtype for c in schema.columns]
    assert set(table["a___b"].dropna()) <= {"<NA>", "1", "x___y"}
    pd.testing.assert_frame_equal(table, synth.generate(25, seed=3))  # seeded
    report = synth.report()["sampling"]
    assert report["valid"] == 25 and report["generated"] >= 25 and report["shortfall"] == 0

    # the retry budget bounds the sequences generated, even when no row comes out valid
    synth.retry_budget = 1.0
    assert len(synth.generate(25, seed=3)) <= 25  # one batch of 25, not of 32
    assert synth.report()["sampling"]["generated"] == 25

    def nothing_valid(self, **kwargs):
        raise SampleEmptyError("no valid row")

    with monkeypatch.context() as m:
        m.setattr(TabularSampler, "_processes_sample", nothing_valid)
        synth.retry_budget = 3.0
        assert synth.generate(20, seed=3).empty
    report = synth.report()["sampling"]
    assert report["generated"] == 60 and report["invalid"] == {"package_invalid": 60}
    assert report["shortfall"] == 20
    assert report["stopped"].startswith("budget spent: 60 sequences for 20 rows")

    ids = synth.token_ids(train.head(6))
    assert ids.shape[0] == 6 and ids.shape[1] == synth.model_.tabular_max_length
    ppl = synth.perplexity(train.head(6))
    assert ppl.shape == (6,) and np.isfinite(ppl).all() and (ppl > 1).all()
    assert len(set(np.round(ppl, 6))) > 1  # one value per row
    np.testing.assert_allclose(ppl[:2], synth.perplexity(train.head(2)), rtol=1e-5)
    whole = train.head(3).assign(**{"@": [34.0, np.nan, 39.0]})  # decimals in training
    mixed = pd.concat([whole, train.iloc[[10]]], ignore_index=True)  # a row with decimals
    np.testing.assert_array_equal(synth.token_ids(whole), synth.token_ids(mixed)[:3])
    twin = REaLTabFormer(**synth.get_params()).fit(train, schema, seed=0)  # seed 0 seeds too
    np.testing.assert_allclose(twin.perplexity(train.head(6)), ppl, rtol=1e-5)
    odd = train.head(2).copy()
    odd["a___b"] = "never seen"  # an unknown value is [UNK], still scored
    assert np.isfinite(synth.perplexity(odd)).all()


@pytest.mark.slow
def test_quick_german_fits_generates_exact_rows_and_stores_dlt(tmp_path):
    report, _ = run_quick_german(tmp_path, "realtabformer", rows=60)
    sampling = report["sampling"]
    assert sampling["valid"] == 60 and sampling["shortfall"] == 0
    assert sampling["generated"] >= 60 and "invalid" in sampling
    assert report["fit"]["epochs_max"] == 30 and report["fit"]["parameters"] < 10**6
