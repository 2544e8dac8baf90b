"""CTAB-GAN written from the paper (adapters/ctabgan): encoder, sampler, networks, adapter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.ctabgan import CTABGAN, QUICK
from adapters.ctabgan.sampler import ConditionalSampler
from adapters.ctabgan.transformer import ALPHA_CLIP, MixedTypeEncoder, NumericCode, Span
from bench.datasets import load_bundled
from bench.errors import UserError
from bench.schema import Column, Schema

from contract import check_contract, check_reproducible

# ---- toy tables ---------------------------------------------------------------------------


def _schema(nullable_amount: bool = True) -> Schema:
    return Schema(
        (
            Column("amount", "float", "float64", nullable_amount),
            Column("count", "integer", "int64", False),
            Column("colour", "categorical", "object", True, ("blue", "green", "red")),
            Column("flag", "boolean", "bool", False, (False, True)),
            Column("label", "categorical", "int64", False, (0, 1, 2)),
        ),
        target="label",
        task="multiclass",
    )


def _table(n: int, seed: int, zero_share: float = 0.4, nan_share: float = 0.1) -> pd.DataFrame:
    """A mixed column (zeros + NaN + two modes), an integer, a categorical with NaN, a flag."""
    rng = np.random.default_rng(seed)
    amount = np.where(rng.random(n) < 0.5, rng.normal(100, 5, n), rng.normal(1000, 50, n))
    amount[rng.random(n) < zero_share] = 0.0
    amount[rng.random(n) < nan_share] = np.nan
    colour = rng.choice(np.array(["blue", "green", "red", None], dtype=object), n)
    return pd.DataFrame(
        {
            "amount": amount,
            "count": rng.integers(0, 40, n).astype("int64"),
            "colour": pd.Series(colour, dtype=object).where(pd.notna(colour), np.nan),
            "flag": rng.random(n) < 0.3,
            "label": rng.integers(0, 3, n).astype("int64"),
        }
    )


# ---- encoder ------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(30, 200),
    zero_share=st.floats(0.0, 0.6),
    nan_share=st.sampled_from([0.0, 0.1]),
)
def test_encoder_round_trip(seed: int, n: int, zero_share: float, nan_share: float) -> None:
    """encode -> decode: categories and special values exactly, numbers within tolerance."""
    table = _table(n, seed, zero_share, nan_share)
    enc = MixedTypeEncoder(seed=seed).fit(table, _schema())
    matrix = enc.transform(table)
    assert matrix.shape == (n, enc.width_)
    back = enc.inverse_transform(matrix)

    assert list(back.columns) == list(table.columns)
    assert back.dtypes.equals(table.dtypes)
    for name in ("colour", "flag", "label"):
        left, right = table[name].astype(object), back[name].astype(object)
        assert (left.isna() == right.isna()).all()
        assert (left[left.notna()] == right[left.notna()]).all()
    assert (back["count"] == table["count"]).all()

    x, y = table["amount"].to_numpy(), back["amount"].to_numpy()
    assert (np.isnan(x) == np.isnan(y)).all()  # missing stays missing
    if 0.0 in enc.codes_[0].special:  # a point mass: zeros exact, both ways
        assert (y[x == 0] == 0).all() and (x[y == 0] == 0).all()
    else:  # too rare to be special (under 25%): an ordinary value, within tolerance
        assert np.allclose(y[x == 0], 0, atol=1e-6)
    alpha = matrix[:, enc.spans_[0].start]
    free = ~np.isnan(x) & (np.abs(alpha) < ALPHA_CLIP)
    np.testing.assert_allclose(y[free], x[free], rtol=1e-9, atol=1e-9)
    code = enc.codes_[0]
    assert isinstance(code, NumericCode)
    clipped = ~np.isnan(x) & ~free
    assert ((y[clipped] >= code.lo) & (y[clipped] <= code.hi)).all()


def test_mixed_column_special_values_and_missing_are_their_own_modes() -> None:
    table = _table(300, 0, zero_share=0.4, nan_share=0.1)
    enc = MixedTypeEncoder(seed=0).fit(table, _schema())
    code = enc.codes_[0]
    assert isinstance(code, NumericCode)
    assert code.special == [0.0] and code.has_missing
    assert len(code.means) == 2  # the two Gaussian bumps, found by the mixture
    beta = enc.span_of("amount")
    assert beta.width == 1 + 1 + 2
    matrix = enc.transform(table)
    zeros = (table["amount"] == 0).to_numpy()
    assert (matrix[zeros, beta.start] == 1).all()  # the zero's own beta entry
    assert (matrix[zeros, enc.spans_[0].start] == 0).all()  # alpha = 0
    # an integer column with few values is left to the mixture; explicit specials win
    enc = MixedTypeEncoder(mixed_columns={"count": [3.0]}, mixed_share=None, seed=0)
    enc.fit(table, _schema())
    assert enc.codes_[1].special == [3.0]
    assert enc.codes_[0].special == [] and enc.codes_[0].has_missing


def test_log_columns_round_trip_long_tail() -> None:
    rng = np.random.default_rng(3)
    table = _table(200, 3, zero_share=0.0, nan_share=0.0)
    table["amount"] = np.exp(rng.normal(3, 1.5, 200))
    enc = MixedTypeEncoder(log_columns=("amount",), seed=0).fit(table, _schema(False))
    assert enc.codes_[0].log_offset == 0.0
    back = enc.inverse_transform(enc.transform(table))
    alpha = enc.transform(table)[:, 0]
    free = np.abs(alpha) < ALPHA_CLIP
    np.testing.assert_allclose(back["amount"][free], table["amount"][free], rtol=1e-9)


def test_encoder_rejects_non_numeric_mixed_column() -> None:
    with pytest.raises(UserError, match="not a numeric column"):
        MixedTypeEncoder(mixed_columns={"colour": [0.0]}).fit(_table(50, 0), _schema())


# ---- conditional vector -------------------------------------------------------------------


def _one_hot(entries: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((len(entries), width))
    out[np.arange(len(entries)), entries] = 1
    return out


def test_training_by_sampling_follows_log_frequency() -> None:
    counts = np.array([900, 90, 9, 1])
    entries = np.repeat(np.arange(4), counts)
    other = np.arange(len(entries)) % 2
    data = np.hstack([_one_hot(entries, 4), _one_hot(other, 2)])
    spans = [Span("a", 0, 4, "softmax"), Span("b", 4, 2, "softmax")]
    sampler = ConditionalSampler(data, spans)
    assert sampler.dim == 6
    rng = np.random.default_rng(0)
    cond = sampler.sample_train(40_000, rng)

    assert (cond.vectors.sum(axis=1) == 1).all()
    on_a = cond.span == 0
    assert abs(on_a.mean() - 0.5) < 0.02  # spans uniform
    freq = np.bincount(cond.entry[on_a], minlength=4) / on_a.sum()
    expected = np.log1p(counts) / np.log1p(counts).sum()
    np.testing.assert_allclose(freq, expected, atol=0.015)
    assert (cond.vectors[on_a, cond.entry[on_a]] == 1).all()

    rows = sampler.real_rows(cond, rng)  # the real rows hold the condition
    assert (data[rows[on_a], cond.entry[on_a]] == 1).all()
    assert (data[rows[~on_a], 4 + cond.entry[~on_a]] == 1).all()

    gen = sampler.sample_generation(40_000, rng)  # generation: empirical frequencies
    on_a = gen.span == 0
    freq = np.bincount(gen.entry[on_a], minlength=4) / on_a.sum()
    np.testing.assert_allclose(freq, counts / counts.sum(), atol=0.015)


def test_sampler_without_condition_spans() -> None:
    sampler = ConditionalSampler(np.zeros((5, 1)), [])
    rng = np.random.default_rng(0)
    cond = sampler.sample_train(8, rng)
    assert cond.vectors.shape == (8, 0)
    assert ((sampler.real_rows(cond, rng) >= 0) & (sampler.real_rows(cond, rng) < 5)).all()


# ---- networks ------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "side"), [(1, 8), (64, 8), (65, 16), (256, 16), (300, 32)])
def test_square_side(width: int, side: int) -> None:
    from adapters.ctabgan.networks import square_side

    assert square_side(width) == side


@pytest.mark.parametrize("side", [8, 16, 32])
def test_network_shapes(side: int) -> None:
    import torch

    from adapters.ctabgan.networks import (
        Classifier,
        Discriminator,
        Generator,
        activate,
        to_square,
    )

    torch.manual_seed(0)
    gen = Generator(in_dim=20, side=side, channels=8)
    out = gen(torch.randn(5, 20))
    assert out.shape == (5, side * side)
    disc = Discriminator(side=side, channels=8)
    prob, feats = disc(to_square(torch.randn(5, side * side - 3), side))
    assert prob.shape == (5,) and ((prob > 0) & (prob < 1)).all()
    assert feats.shape == (5, 8 * 2 ** (int(np.log2(side // 4)) - 1) * 16)
    clf = Classifier(in_dim=10, n_classes=3, hidden=(256, 256, 256, 256))
    assert clf(torch.randn(5, 10)).shape == (5, 3)
    assert sum(isinstance(m, torch.nn.Linear) for m in clf) == 5  # four hidden + output

    spans = [Span("x", 0, 1, "tanh"), Span("x", 1, 3, "softmax"), Span("c", 4, 2, "softmax")]
    row = activate(torch.randn(5, 6) * 10, spans)
    assert row.shape == (5, 6)
    assert (row[:, 0].abs() <= 1).all()
    torch.testing.assert_close(row[:, 1:4].sum(1), torch.ones(5))
    torch.testing.assert_close(row[:, 4:6].sum(1), torch.ones(5))


# ---- adapter -------------------------------------------------------------------------------

TINY = {
    "epochs": 2,
    "batch_size": 32,
    "noise_dim": 16,
    "channels": 8,
    "class_dims": (16, 16),
    "device": "cpu",
}


def test_tiny_fit_generate_contract_and_report(capsys: pytest.CaptureFixture[str]) -> None:
    train, schema = _table(120, 1), _schema()
    synth = CTABGAN(**TINY).fit(train, schema, seed=3)
    epochs = [line for line in capsys.readouterr().err.splitlines() if "ctabgan: epoch" in line]
    assert epochs and epochs[-1].startswith(f"ctabgan: epoch {TINY['epochs']}/{TINY['epochs']}")
    out = synth.generate(77, seed=5)
    check_contract(out, train, schema, 77, in_range=True)
    assert synth.generate(0, seed=5).dtypes.equals(train.dtypes)
    report = synth.report()
    assert report["mixed_columns"] == {"amount": [0.0, "missing"]}
    assert set(report["loss_last"]) == {"d", "g", "info", "class", "c"}
    assert CTABGAN.presets["quick"] == QUICK


def test_bad_parameters_are_one_line_errors() -> None:
    train, schema = _table(40, 0), _schema()
    with pytest.raises(UserError, match="epochs must be a positive integer"):
        CTABGAN(epochs=0).fit(train, schema, seed=0)
    with pytest.raises(UserError, match=r"unknown device .*: use one of auto, cpu, cuda"):
        CTABGAN(**{**TINY, "device": "tpu"}).fit(train, schema, seed=0)
    with pytest.raises(UserError, match="log_columns must be a list of column names"):
        CTABGAN(**{**TINY, "log_columns": "amount"}).fit(train, schema, seed=0)
    with pytest.raises(RuntimeError, match="fit"):
        CTABGAN().generate(3, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["german", "diabetes"])
def test_quick_preset_on_bundled_data_is_reproducible(dataset: str) -> None:
    params = {**QUICK, "epochs": 2, "device": "cpu"}  # the quick networks, few epochs
    check_reproducible(lambda: CTABGAN(**params), load_bundled(dataset), in_range=True)
