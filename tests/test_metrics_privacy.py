"""Privacy metrics: NRS equals SDMetrics' NewRowSynthesis; DCR and DCR-holdout by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from bench.datasets import load_bundled
from bench.metrics import privacy
from bench.metrics.base import EvalContext, NotApplicable
from bench.metrics.privacy import (
    DCRHoldoutShare,
    DistanceToClosestRecord,
    NewRowSynthesis,
    nearest_distances,
    sdmetrics_metadata,
)
from bench.schema import Column, Schema

sd_single = pytest.importorskip("sdmetrics.single_table")


def ctx_for(
    schema: Schema,
    train: pd.DataFrame,
    syn: pd.DataFrame,
    test: pd.DataFrame | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    reference: bool = False,
) -> EvalContext:
    test = train.iloc[:0] if test is None else test
    return EvalContext(
        dataset=schema.name or "toy",
        schema=schema,
        train=train,
        val=train.iloc[:0],
        test=test,
        syn_raw=syn,
        seed=0,
        synthesizer_name="toy",
        syn=syn,
        is_reference=reference,
        eval_seeds=seeds,
    )


def sdmetrics_nrs(schema: Schema, train: pd.DataFrame, syn: pd.DataFrame) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sd_single.NewRowSynthesis.compute(train, syn, sdmetrics_metadata(schema))


def assert_same_nrs(schema: Schema, train: pd.DataFrame, syn: pd.DataFrame) -> float:
    ours = NewRowSynthesis().compute(ctx_for(schema, train, syn)).value
    ref = sdmetrics_nrs(schema, train, syn)
    assert ours == ref, (ours, ref)
    return ours


# ------------------------------------------------------------------------- tables


MIXED = Schema(
    (
        Column("status", "categorical", "object", categories=("A11", "A12", "A13", "A14")),
        Column("duration", "integer", "int64"),
        Column("amount", "float", "float64", nullable=True),
        Column("purpose", "categorical", "object", nullable=True, categories=("car", "tv", "x")),
        Column("phone", "boolean", "bool", categories=(False, True)),
        Column("rate", "float", "float64"),
        Column("label", "categorical", "int64", categories=(0, 1)),
    ),
    target="label",
    task="binary",
)


def mixed_table(n: int, rng: np.random.Generator, nan_share: float = 0.0) -> pd.DataFrame:
    """German-like: few levels, small integers, money amounts, optional missing cells."""
    t = pd.DataFrame(
        {
            "status": rng.choice(["A11", "A12", "A13", "A14"], n).astype(object),
            "duration": rng.choice([6, 12, 24, 36, -3, 0], n).astype(np.int64),
            "amount": rng.choice([1000.0, 1005.0, 1010.0, 990.0, 0.0, -250.0, 2500.5], n),
            "purpose": rng.choice(["car", "tv", "x"], n).astype(object),
            "phone": rng.random(n) < 0.5,
            "rate": rng.choice([0.1, 0.3, 0.30300000000000005, 4.0, 4.04, 3.96], n),
            "label": rng.integers(0, 2, n).astype(np.int64),
        }
    )
    if nan_share:
        t.loc[rng.random(n) < nan_share, "amount"] = np.nan
        t.loc[rng.random(n) < nan_share, "purpose"] = np.nan
    return t


@pytest.mark.parametrize("seed", range(4))
def test_nrs_equals_sdmetrics_mixed(seed: int) -> None:
    rng = np.random.default_rng(seed)
    train, syn = mixed_table(120, rng), mixed_table(80, rng)
    assert 0.0 < assert_same_nrs(MIXED, train, syn) < 1.0


@pytest.mark.parametrize("seed", range(3))
def test_nrs_equals_sdmetrics_with_missing(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    train, syn = mixed_table(100, rng, 0.3), mixed_table(80, rng, 0.3)
    syn = pd.concat([syn, train.sample(20, random_state=seed)], ignore_index=True)
    value = assert_same_nrs(MIXED, train, syn)
    assert value < 1.0  # the copied rows (NaN cells included) match


def test_nrs_tolerance_boundary() -> None:
    """Values one float step either side of x +- 0.01|x|, and |x| = 0 (exact only)."""
    schema = Schema(
        (Column("v", "float", "float64"), Column("y", "categorical", "int64", categories=(0,))),
        "y",
        "binary",
    )
    xs = np.array([100.0, 0.3, -7.77, 1e-5, 123456.789, 0.0, 2.5, 1e12])
    rows = []
    for x in xs:
        t = abs(0.01 * x)
        for edge in (x - t, x + t):
            v = edge
            for _ in range(3):
                v = np.nextafter(v, -np.inf)
            for _ in range(7):
                rows.append(v)
                v = np.nextafter(v, np.inf)
    train_all = pd.DataFrame({"v": rows, "y": 0})
    for k, x in enumerate(xs):
        for j in range(14):  # each boundary value alone: matched exactly when SDMetrics says so
            train = train_all.iloc[[14 * k + j]].reset_index(drop=True)
            assert_same_nrs(schema, train, pd.DataFrame({"v": [x], "y": [0]}))
    syn = pd.DataFrame({"v": np.concatenate([xs, [np.nextafter(0.0, 1.0), -0.0]]), "y": 0})
    assert_same_nrs(schema, train_all, syn)


def test_nrs_near_equal_floats_random() -> None:
    """Train values scattered tightly around the tolerance edge of the synthetic values."""
    rng = np.random.default_rng(7)
    schema = Schema(
        (
            Column("a", "float", "float64"),
            Column("b", "integer", "int64"),
            Column("y", "categorical", "object", categories=("n", "p")),
        ),
        "y",
        "binary",
    )
    x = rng.normal(0, 50, 60)
    b = rng.integers(-300, 300, 60)
    y = rng.choice(["n", "p"], 60).astype(object)
    syn = pd.DataFrame({"a": x, "b": b, "y": y})
    scale = 1 + rng.choice([-1, 1], (4, 60)) * rng.choice([0.0, 1e-16, 2e-16, 1e-15], (4, 60))
    parts = [
        pd.DataFrame(
            {
                "a": x + np.sign(rng.normal(size=60)) * np.abs(0.01 * x) * scale[k],
                "b": b + rng.choice([-3, -1, 0, 1, 3], 60),
                "y": y,
            }
        )
        for k in range(4)
    ]
    train = pd.concat(parts, ignore_index=True)
    value = assert_same_nrs(schema, train, syn)
    assert 0.0 < value < 1.0


def test_nrs_duplicates() -> None:
    rng = np.random.default_rng(3)
    base = mixed_table(30, rng, 0.2)
    train = pd.concat([base, base, base.iloc[:5]], ignore_index=True)
    other = mixed_table(10, rng, 0.2)
    syn = pd.concat([base.iloc[[0, 0, 0, 1]], other, other], ignore_index=True)
    assert_same_nrs(MIXED, train, syn)


def perturbed(train: pd.DataFrame, schema: Schema, n: int, seed: int) -> pd.DataFrame:
    """Resampled real rows; some numbers nudged (some within 1%), some categories shuffled."""
    rng = np.random.default_rng(seed)
    syn = train.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    for col in schema.columns:
        pick = rng.random(n) < 0.15
        if col.is_numeric:
            factor = rng.choice([0.98, 0.995, 1.0, 1.005, 1.01, 1.02], n)
            values = syn[col.name].to_numpy(dtype=float) * np.where(pick, factor, 1.0)
            syn[col.name] = np.round(values) if col.kind == "integer" else values
            syn[col.name] = syn[col.name].astype(col.dtype)
        else:
            syn.loc[pick, col.name] = rng.permutation(syn[col.name].to_numpy())[pick]
    return syn


@pytest.mark.parametrize(("name", "n_train", "n_syn"), [("german", 400, 150), ("adult", 500, 120)])
def test_nrs_equals_sdmetrics_real_data(name: str, n_train: int, n_syn: int) -> None:
    data = load_bundled(name)
    train = data.train.sample(n_train, random_state=1).reset_index(drop=True)
    syn = perturbed(train, data.schema, n_syn, seed=2)
    value = assert_same_nrs(data.schema, train, syn)
    assert 0.0 < value < 1.0


def test_nrs_all_nan_and_tiny_tables() -> None:
    schema = Schema(
        (
            Column("n", "float", "float64", nullable=True),
            Column("c", "categorical", "object", nullable=True, categories=()),
            Column("y", "categorical", "int64", categories=(0, 1)),
        ),
        "y",
        "binary",
    )
    train = pd.DataFrame({"n": [np.nan] * 3, "c": [np.nan] * 3, "y": [0, 1, 1]})
    train["c"] = train["c"].astype(object)
    syn = train.iloc[[0, 2]].reset_index(drop=True)
    assert assert_same_nrs(schema, train, syn) == 0.0
    single = pd.DataFrame({"n": [1.0], "c": [np.nan], "y": [0]}).astype({"c": object})
    assert assert_same_nrs(schema, train, single) == 1.0
    for metric in (DistanceToClosestRecord(), DCRHoldoutShare()):
        result = metric.compute(ctx_for(schema, train, single, test=train))
        assert math.isfinite(result.value)


# ------------------------------------------------------------------------- DCR

TOY = Schema(
    (
        Column("x", "float", "float64", nullable=True),
        Column("c", "categorical", "object", categories=("a", "b")),
        Column("y", "categorical", "int64", categories=(0, 1)),
    ),
    "y",
    "binary",
)


def test_dcr_hand_computed() -> None:
    # train x = 0, 2: mean 1, population std 1, so z = x - 1
    train = pd.DataFrame({"x": [0.0, 2.0], "c": ["a", "b"], "y": [0, 1]})
    syn = pd.DataFrame(
        {
            "x": [0.0, 0.0, 1.0, 4.0, np.nan],
            "c": ["a", "b", "a", "a", "b"],
            "y": [0, 0, 1, 0, 1],
        }
    )
    # copy: 0 | one category differs: 1 | z=0, one cat + label vs each: sqrt(1 + 1)
    # z=3: vs row 0 |3 - -1| = 4; vs row 1: sqrt(2^2 + 1 + 1) | NaN -> mean (z=0): sqrt(1)
    expected = np.array([0.0, 1.0, math.sqrt(2), math.sqrt(6), 1.0])
    result = DistanceToClosestRecord().compute(ctx_for(TOY, train, syn))
    assert result.value == pytest.approx(expected.mean(), abs=1e-12)
    assert result.aux["dcr_p5"] == pytest.approx(np.percentile(expected, 5), abs=1e-12)
    assert result.aux["dcr_min"] == 0.0
    assert result.aux["exact_copy_share"] == pytest.approx(0.2)
    assert result.aux["dims"] == 1 + 2 + 2


def test_dcr_label_and_one_hot_scaling() -> None:
    train = pd.DataFrame({"x": [5.0, 7.0], "c": ["a", "a"], "y": [0, 0]})
    label_flip = pd.DataFrame({"x": [5.0], "c": ["a"], "y": [1]})
    cat_flip = pd.DataFrame({"x": [7.0], "c": ["b"], "y": [0]})
    both = pd.DataFrame({"x": [7.0], "c": ["b"], "y": [1]})
    for syn, dist in ((label_flip, 1.0), (cat_flip, 1.0), (both, math.sqrt(2))):
        result = DistanceToClosestRecord().compute(ctx_for(TOY, train, syn))
        assert result.value == pytest.approx(dist, abs=1e-12)


@pytest.mark.parametrize("small_blocks", [False, True])
def test_nearest_distances_match_brute_force(
    monkeypatch: pytest.MonkeyPatch, small_blocks: bool
) -> None:
    if small_blocks:  # many blocks on two threads, rechecks split into tiny chunks
        monkeypatch.setattr(privacy, "_DCR_BLOCK_BYTES", 20_000)
        monkeypatch.setattr(privacy, "_DCR_MIN_BLOCK_BYTES", 1)
        monkeypatch.setattr(privacy, "_DCR_RECHECK_PAIRS", 3)
        monkeypatch.setattr(privacy, "_workers", lambda: 2)
    rng = np.random.default_rng(5)
    ref = np.vstack([rng.normal(size=(300, 9)), rng.integers(0, 2, (200, 9)) / math.sqrt(2)])
    far = rng.normal(size=(40, 9)) + 1e4  # float32 cannot tell these apart: rechecked in f64
    ref = np.vstack([ref, far])
    query = np.vstack([ref[:50], ref[:50] + 1e-7, rng.normal(size=(200, 9)) * 3, far + 1e-3])
    exact = np.sqrt(((query[:, None, :] - ref[None]) ** 2).sum(-1)).min(1)
    got = nearest_distances(ref, query)
    assert np.allclose(got, exact, rtol=0, atol=1e-12)
    assert np.array_equal(got == 0.0, exact == 0.0)  # copies exactly 0, near-copies not


# ------------------------------------------------------------------------- DCR holdout


def gaussian_table(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": rng.choice(["a", "b"], n).astype(object),
            "y": rng.integers(0, 2, n),
        }
    )


def test_dcr_holdout_copies() -> None:
    rng = np.random.default_rng(11)
    train, test = gaussian_table(200, rng), gaussian_table(200, rng)
    metric = DCRHoldoutShare()
    assert metric.compute(ctx_for(TOY, train, train.copy(), test)).value == 1.0
    assert metric.compute(ctx_for(TOY, train, test.copy(), test)).value == 0.0
    fresh = metric.compute(ctx_for(TOY, train, gaussian_table(400, rng), test)).value
    assert 0.3 < fresh < 0.7


def test_dcr_holdout_seeded() -> None:
    rng = np.random.default_rng(12)
    train, test, syn = gaussian_table(300, rng), gaussian_table(120, rng), train_like(rng)
    metric = DCRHoldoutShare()
    first = metric.compute(ctx_for(TOY, train, syn, test, seeds=(4, 0)))
    again = metric.compute(ctx_for(TOY, train, syn, test, seeds=(4, 9)))
    other = metric.compute(ctx_for(TOY, train, syn, test, seeds=(5,)))
    assert first.value == again.value and first.aux == again.aux
    assert first.aux["sample_size"] == 120
    assert first.value != other.value  # a different train sample
    copy = metric.compute(ctx_for(TOY, train, train.copy(), test)).value
    assert 0.5 < copy < 1.0  # 120 of 300 train rows sampled: copies of the rest are ~even


def train_like(rng: np.random.Generator) -> pd.DataFrame:
    return gaussian_table(150, rng)


# ------------------------------------------------------------------------- robustness


ALL = (NewRowSynthesis(), DistanceToClosestRecord(), DCRHoldoutShare())


def test_zero_rows_is_nan_with_reason() -> None:
    rng = np.random.default_rng(0)
    train = gaussian_table(20, rng)
    for metric in ALL:
        result = metric.compute(ctx_for(TOY, train, train.iloc[:0], test=train))
        assert math.isnan(result.value)
        assert result.aux == {"reason": "no valid synthetic rows"}


def test_single_row_and_all_nan_column() -> None:
    rng = np.random.default_rng(1)
    train = gaussian_table(30, rng)
    train["x"] = np.nan
    syn = train.iloc[[3]].reset_index(drop=True)
    for metric in ALL:
        result = metric.compute(ctx_for(TOY, train, syn, test=gaussian_table(10, rng)))
        assert math.isfinite(result.value)
    assert NewRowSynthesis().compute(ctx_for(TOY, train, syn)).value == 0.0
    assert DistanceToClosestRecord().compute(ctx_for(TOY, train, syn)).value == 0.0


def test_not_applicable_to_reference() -> None:
    rng = np.random.default_rng(2)
    train = gaussian_table(10, rng)
    for metric in ALL:
        with pytest.raises(NotApplicable, match="not a synthetic table"):
            metric.check(ctx_for(TOY, train, train, reference=True))
        metric.check(ctx_for(TOY, train, train, test=train))
    assert (NewRowSynthesis.family, NewRowSynthesis.goal, NewRowSynthesis.bounds) == (
        "privacy",
        "maximize",
        (0.0, 1.0),
    )
    assert DCRHoldoutShare.goal == "target" and DCRHoldoutShare.target_value == 0.5


def test_nrs_tells_empty_text_from_nul_like_sdmetrics():
    """pandas' hashing merges "" with "\\x00"; NRS must not (SDMetrics compares with ==)."""
    from bench.metrics.base import EvalContext
    from bench.metrics.privacy import NewRowSynthesis
    from bench.schema import Column, Schema

    schema = Schema(
        (
            Column("c", "categorical", "object", categories=("", "\x00", "a", "a\x00b")),
            Column("y", "categorical", "int64", categories=(0, 1)),
        ),
        "y",
        "binary",
    )
    train = pd.DataFrame({"c": ["", "a"], "y": [0, 1]})
    syn = pd.DataFrame({"c": ["\x00", "a\x00b", "", "a"], "y": [0, 1, 0, 1]})
    ctx = EvalContext("t", schema, train, train, train, syn, 0, "s", syn=syn)
    assert NewRowSynthesis().compute(ctx).value == 0.5
