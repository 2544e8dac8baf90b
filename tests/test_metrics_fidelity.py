"""WD and CS against independent computations: synthcity's recipe, SDMetrics, pandas."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bench.metrics.base import EvalContext
from bench.metrics.fidelity import CorrelationSimilarity, Wasserstein
from bench.schema import Schema, infer_schema

torch = pytest.importorskip("torch")
geomloss = pytest.importorskip("geomloss")
sd_pairs = pytest.importorskip("sdmetrics.column_pairs")


def make_table(n: int, seed: int) -> pd.DataFrame:
    """A small mixed table: text with NaN, bool, low-cardinality ints, continuous columns."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, n).round()
    return pd.DataFrame(
        {
            "age": age,  # float, ~50 distinct: left numeric
            "income": age * 900 + rng.normal(0, 8000, n),  # continuous, correlated with age
            "hours": rng.integers(10, 70, n),  # int64, >= 15 distinct: left numeric
            "kids": rng.integers(0, 4, n),  # int64, < 15 distinct: label-encoded
            "job": rng.choice(np.array(["a", "b", "c", np.nan], dtype=object), n),  # text + NaN
            "owner": rng.random(n) < 0.3,  # bool
            "label": rng.integers(0, 2, n),  # target
        }
    )


def make_ctx(
    train: pd.DataFrame, syn: pd.DataFrame, seeds: tuple[int, ...] = (0, 1, 2)
) -> EvalContext:
    schema = infer_schema(train, "label", overrides={"label": "categorical"})
    return EvalContext("toy", schema, train, train, train, syn, 0, "toy", syn=syn, eval_seeds=seeds)


def perturb(table: pd.DataFrame, scale: float, seed: int) -> pd.DataFrame:
    """Continuous columns shifted by Gaussian noise of ``scale`` standard deviations."""
    rng = np.random.default_rng(seed)
    out = table.copy()
    for col in ("age", "income"):
        out[col] = out[col] + rng.normal(0, scale * out[col].std(), len(out))
    return out


def synthcity_wd(
    train: pd.DataFrame, syn: pd.DataFrame, scaler_on: pd.DataFrame | None = None
) -> float:
    """synthcity, written out literally (``Metrics.evaluate`` encoding, then
    ``WassersteinDistance._evaluate``, zero-padding included), in float64 and geomloss's
    default arguments. ``scaler_on``: fit the MinMaxScaler on this (encoded) table instead
    of ``train``, the one documented deviation besides the padding."""
    from geomloss import SamplesLoss
    from sklearn.preprocessing import LabelEncoder, MinMaxScaler

    # Metrics.evaluate: encoders fit on concat(X_gt, X_syn), via DataLoader.encode
    X_enc = pd.concat([train, syn])
    encoders = {}
    for col in X_enc.columns:
        if (
            X_enc[col].infer_objects().dtype.kind == "i"
            and X_enc[col].min() == 0
            and X_enc[col].max() == len(X_enc[col].unique()) - 1
        ):
            continue
        if X_enc[col].infer_objects().dtype.kind in ["O", "b"] or len(X_enc[col].unique()) < 15:
            encoders[col] = LabelEncoder().fit(X_enc[col])
    X_gt, X_syn = train.copy(), syn.copy()
    for col in encoders:
        X_gt[col] = encoders[col].transform(X_gt[col])
        X_syn[col] = encoders[col].transform(X_syn[col])

    # WassersteinDistance._evaluate
    X_ = X_gt.values
    X_syn_ = X_syn.values
    if len(X_) > len(X_syn_):
        X_syn_ = np.concatenate([X_syn_, np.zeros((len(X_) - len(X_syn_), X_.shape[1]))])
    scaler = MinMaxScaler().fit(X_)
    if scaler_on is not None:
        X_fit = scaler_on.copy()
        for col in encoders:
            X_fit[col] = encoders[col].transform(X_fit[col])
        scaler = MinMaxScaler().fit(X_fit.values)
    X_ = scaler.transform(X_)
    X_syn_ = scaler.transform(X_syn_)
    X_ten = torch.from_numpy(X_)
    Xsyn_ten = torch.from_numpy(X_syn_)
    OT_solver = SamplesLoss(loss="sinkhorn")
    return OT_solver(X_ten, Xsyn_ten).cpu().numpy().item()


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return make_table(400, seed=0)


# ---- WD ---------------------------------------------------------------------------------


def test_wd_equals_synthcity_on_equal_sizes(train: pd.DataFrame) -> None:
    syn = perturb(make_table(400, seed=1), 0.3, seed=2)
    reference = synthcity_wd(train, syn)
    assert reference > 0
    exact = Wasserstein(dtype="float64").compute(make_ctx(train, syn))
    assert exact.value == pytest.approx(reference, rel=1e-9)
    default = Wasserstein().compute(make_ctx(train, syn))  # float32
    assert default.value == pytest.approx(reference, rel=1e-4)
    assert default.aux["rows_train"] == default.aux["rows_syn"] == 400
    assert not default.aux["subsampled_train"] and not default.aux["subsampled_syn"]
    assert set(default.aux["label_encoded"]) == {"kids", "job", "owner", "label"}


def test_wd_of_a_table_with_itself_is_zero(train: pd.DataFrame) -> None:
    assert Wasserstein().compute(make_ctx(train, train.copy())).value == pytest.approx(0, abs=1e-5)


def test_wd_grows_with_perturbation(train: pd.DataFrame) -> None:
    values = [
        Wasserstein().compute(make_ctx(train, perturb(train, s, seed=3))).value
        for s in (0.0, 0.2, 0.5, 1.0)
    ]
    assert values[0] == pytest.approx(0, abs=1e-5)
    assert values == sorted(values) and values[1] > 1e-4


def test_wd_subsamples_the_larger_table_seeded(train: pd.DataFrame) -> None:
    syn = perturb(make_table(150, seed=4), 0.2, seed=5)
    metric = Wasserstein(dtype="float64")
    first = metric.compute(make_ctx(train, syn, seeds=(7, 8, 9)))
    again = metric.compute(make_ctx(train, syn, seeds=(7, 0, 0)))
    other = metric.compute(make_ctx(train, syn, seeds=(8, 9, 7)))
    assert first.aux["rows_train"] == first.aux["rows_syn"] == 150
    assert first.aux["subsampled_train"] and not first.aux["subsampled_syn"]
    assert again.value == first.value  # only eval_seeds[0] matters, and it is deterministic
    assert other.value != first.value

    # The documented draw: rng(seed).choice(n, size, replace=False), sorted; then synthcity's
    # recipe on the rows used, with the scaler fit on all train rows. Every category and
    # low-cardinality value occurs in the sample, so encoders fit on sample + syn (synthcity)
    # and on train + syn (the metric) give the same codes.
    rows = np.sort(np.random.default_rng(7).choice(len(train), 150, replace=False))
    sample = train.iloc[rows].reset_index(drop=True)
    for col in ("kids", "job", "owner", "label"):
        assert set(sample[col].astype(str)) == set(train[col].astype(str))
    reference = synthcity_wd(sample, syn, scaler_on=train)
    assert first.value == pytest.approx(reference, rel=1e-9)

    padded = synthcity_wd(train, syn)  # synthcity zero-pads the 150 rows to 400
    assert padded > 5 * first.value


def test_wd_max_rows_caps_both_sides(train: pd.DataFrame) -> None:
    syn = perturb(train, 0.2, seed=6)
    out = Wasserstein(max_rows=100).compute(make_ctx(train, syn))
    assert out.aux["rows_train"] == out.aux["rows_syn"] == 100
    assert out.aux["subsampled_train"] and out.aux["subsampled_syn"]
    assert math.isfinite(out.value) and out.value > 0


def test_wd_numeric_missing_values_are_a_sentinel(train: pd.DataFrame) -> None:
    with_nan = train.copy()
    with_nan.loc[::7, "income"] = np.nan
    same = Wasserstein().compute(make_ctx(with_nan, with_nan.copy()))
    assert same.value == pytest.approx(0, abs=1e-5)
    assert same.aux["numeric_missing_cells"] == 2 * with_nan["income"].isna().sum()
    # the same rows missing vs no missing values: a finite, clearly positive distance
    assert Wasserstein().compute(make_ctx(with_nan, train)).value > 1e-3


def test_wd_zero_rows_is_nan_with_reason(train: pd.DataFrame) -> None:
    out = Wasserstein().compute(make_ctx(train, train.iloc[:0]))
    assert math.isnan(out.value) and "no rows" in out.aux["reason"]


# ---- CS ---------------------------------------------------------------------------------

NUMERIC = ["age", "income", "hours", "kids"]


def test_cs_equals_sdmetrics_per_pair_average_and_the_formula(train: pd.DataFrame) -> None:
    syn = perturb(make_table(300, seed=8), 0.5, seed=9)
    syn.loc[::11, "hours"] = np.nan  # pairwise deletion, as SDMetrics and pandas both do
    out = CorrelationSimilarity().compute(make_ctx(train, syn))

    direct = [
        sd_pairs.CorrelationSimilarity.compute(train[[a, b]], syn[[a, b]], coefficient="Pearson")
        for a, b in itertools.combinations(NUMERIC, 2)
    ]
    assert out.value == pytest.approx(np.mean(direct), abs=1e-12)

    rho_r, rho_s = train[NUMERIC].corr(), syn[NUMERIC].corr()
    formula = [
        1 - abs(rho_r.loc[a, b] - rho_s.loc[a, b]) / 2
        for a, b in itertools.combinations(NUMERIC, 2)
    ]
    assert out.value == pytest.approx(np.mean(formula), abs=1e-9)
    assert [p["columns"] for p in out.aux["pairs"]] == [
        list(p) for p in itertools.combinations(NUMERIC, 2)
    ]
    assert out.aux["skipped"] == []
    assert 0 <= out.value <= 1


def test_cs_of_a_table_with_itself_is_one(train: pd.DataFrame) -> None:
    assert CorrelationSimilarity().compute(make_ctx(train, train)).value == pytest.approx(1)


def test_cs_skips_pairs_with_a_constant_column(train: pd.DataFrame) -> None:
    syn = perturb(train, 0.3, seed=10)
    syn["kids"] = 2
    out = CorrelationSimilarity().compute(make_ctx(train, syn))
    skipped = [p["columns"] for p in out.aux["skipped"]]
    assert skipped == [["age", "kids"], ["income", "kids"], ["hours", "kids"]]
    assert len(out.aux["pairs"]) == 3 and math.isfinite(out.value)


def test_cs_needs_two_numeric_columns() -> None:
    table = pd.DataFrame({"x": [1.0, 2.0, 3.5, 4.0], "c": list("abab"), "label": [0, 1, 0, 1]})
    out = CorrelationSimilarity().compute(make_ctx(table, table))
    assert math.isnan(out.value) and "two numeric columns" in out.aux["reason"]


def test_cs_zero_rows_is_nan_with_reason(train: pd.DataFrame) -> None:
    out = CorrelationSimilarity().compute(make_ctx(train, train.iloc[:0]))
    assert math.isnan(out.value) and "no rows" in out.aux["reason"]


def test_numeric_kinds_come_from_the_schema(train: pd.DataFrame) -> None:
    """The target (categorical in every schema) and text/bool columns never enter CS."""
    schema: Schema = make_ctx(train, train).schema
    assert [c.name for c in schema.columns if c.is_numeric] == NUMERIC


def test_importing_the_metrics_stays_light() -> None:
    code = (
        "import sys, bench.metrics.fidelity; "
        "print(sorted(m for m in ('torch', 'geomloss', 'sdmetrics', 'sklearn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
