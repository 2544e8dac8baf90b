"""TVAE from the ctgan package (adapters/tvae.py): the table codec and the output contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.tvae import QUICK, TVAE, _make_codec
from bench.datasets import load_bundled
from bench.errors import UserError
from bench.schema import Column, Schema

from contract import check_contract, check_reproducible


def _schema() -> Schema:
    return Schema(
        (
            Column("amount", "float", "float64", True),
            Column("count", "integer", "int64", False),
            Column("colour", "categorical", "object", True, ("blue", "green", "red")),
            Column("flag", "boolean", "bool", False, (False, True)),
            Column("label", "categorical", "int64", False, (0, 1)),
        ),
        target="label",
        task="binary",
    )


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 50.0, n)
    amount[rng.random(n) < 0.2] = np.nan
    amount[0] = 1.0  # keep at least one value
    colour = rng.choice(np.array(["blue", "green", "red", None], dtype=object), n)
    return pd.DataFrame(
        {
            "amount": amount,
            "count": rng.integers(0, 9, n).astype("int64"),
            "colour": pd.Series(colour, dtype=object).where(pd.notna(colour), np.nan),
            "flag": rng.random(n) < 0.4,
            "label": rng.integers(0, 2, n).astype("int64"),
        }
    )


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 120))
def test_codec_round_trip(seed: int, n: int) -> None:
    """The frame handed to ctgan decodes back to the table: values, NaN and dtypes exact."""
    table = _table(n, seed)
    codec = _make_codec(table, _schema())
    frame = codec.encode(table)
    indicator = ["amount__missing"] if table["amount"].isna().any() else []
    assert set(codec.discrete()) == {"colour", "flag", "label", *indicator}
    assert set(frame["colour"]) <= {"c0", "c1", "c2", "missing"}
    back = codec.decode(frame)
    pd.testing.assert_frame_equal(back, table)


def test_codec_decode_clips_rounds_and_restores_missing() -> None:
    table = _table(50, 0)
    codec = _make_codec(table, _schema())
    raw = codec.encode(table).head(3).copy()
    raw["amount"] = [-1e9, 1e9, 5.0]
    raw["amount__missing"] = ["no", "no", "yes"]
    raw["count"] = [3.4, 100.0, -7.0]
    out = codec.decode(raw)
    lo, hi = table["amount"].min(), table["amount"].max()
    assert out["amount"].iloc[0] == lo and out["amount"].iloc[1] == hi
    assert np.isnan(out["amount"].iloc[2])
    assert out["count"].tolist() == [3, table["count"].max(), table["count"].min()]


TINY = {
    "epochs": 2,
    "batch_size": 50,
    "embedding_dim": 8,
    "compress_dims": (16,),
    "decompress_dims": (16,),
    "device": "cpu",
}


def test_tiny_fit_generate_contract() -> None:
    train, schema = _table(120, 1), _schema()
    synth = TVAE(**TINY).fit(train, schema, seed=3)
    out = synth.generate(77, seed=5)
    check_contract(out, train, schema, 77)
    pd.testing.assert_frame_equal(out, synth.generate(77, seed=5))
    assert synth.generate(0, seed=1).dtypes.equals(train.dtypes)
    assert set(synth.report()) == {"loss_first", "loss_last", "device"}
    assert TVAE.presets["quick"] == QUICK and QUICK["epochs"] < TVAE.presets["paper"]["epochs"]


def test_bad_parameters_are_one_line_errors() -> None:
    train, schema = _table(40, 0), _schema()
    with pytest.raises(UserError, match="epochs must be a positive integer"):
        TVAE(epochs=0).fit(train, schema, seed=0)
    with pytest.raises(UserError, match="compress_dims must be a list"):
        TVAE(compress_dims=(0,)).fit(train, schema, seed=0)
    with pytest.raises(UserError, match=r"unknown device .*: use one of auto, cpu, cuda"):
        TVAE(**{**TINY, "device": "gpu"}).fit(train, schema, seed=0)
    with pytest.raises(RuntimeError, match="fit"):
        TVAE().generate(3, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["german", "diabetes"])
def test_quick_preset_on_bundled_data_is_reproducible(dataset: str) -> None:
    params = {**QUICK, "epochs": 3, "device": "cpu"}  # the quick networks, few epochs
    check_reproducible(lambda: TVAE(**params), load_bundled(dataset))
