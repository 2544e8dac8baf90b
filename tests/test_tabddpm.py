"""TabDDPM (synthcity ``ddpm``) in its isolated environment, and WD against synthcity's own.

All but the parameter checks are slow: the environment (synthcity 0.2.12, torch 2.2.2, ...)
takes about 3 minutes to build the first time. It is built in the default cache
(``$BENCH_ENVS_DIR`` or ``~/.cache/harmonic-bench/envs``) and shared by every test here and
by later runs.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from adapters.tabddpm import PAPER, QUICK, TabDDPM, _decode, _encode, epochs_for_steps
from bench.datasets import load_bundled
from bench.envs import ensure, run_python
from bench.isolated import start_isolated
from bench.metrics.coerce import coerce
from bench.schema import Schema, infer_schema, to_storage

slow = pytest.mark.slow
TARGET = "adapters.tabddpm:TabDDPM"


@pytest.fixture(scope="module")
def environment() -> None:
    """Build the environment once (or find it built), before any test is timed."""
    ensure(TabDDPM.requirements, who="tabddpm").release()


def _fit_generate(dataset: str, seed: int, n: int | None = None, **params) -> tuple:
    data = load_bundled(dataset)
    synth = start_isolated("tabddpm", TARGET, {**QUICK, **params}, TabDDPM.requirements)
    try:
        synth.fit(data.train, data.schema, seed)
        table = synth.generate(n or len(data.train), seed)
        other = synth.generate(50, seed + 1)
        report = synth.report()
    finally:
        synth.close()
    return data, table, other, report


def _check_schema(table: pd.DataFrame, data, n: int) -> None:
    schema = data.schema
    assert len(table) == n
    assert list(table.columns) == schema.names
    assert {c: str(t) for c, t in table.dtypes.items()} == schema.dtypes()
    assert not table.isna().any().any()
    for col in schema.columns:
        values = table[col.name]
        if col.categories:
            assert set(values) <= set(col.categories), col.name
        else:
            lo, hi = data.train[col.name].min(), data.train[col.name].max()
            assert values.between(lo, hi).all(), col.name  # synthcity keeps train's range
    # it learned something: the label is not constant and is balanced roughly as in train
    share = table[schema.target].value_counts(normalize=True)
    real = data.train[schema.target].value_counts(normalize=True)
    assert len(share) == len(real) and (share - real).abs().max() < 0.15


@slow
@pytest.mark.usefixtures("environment")
def test_german_quick_has_the_schema():
    data, table, other, report = _fit_generate("german", seed=1234)
    _check_schema(table, data, len(data.train))
    assert len(other) == 50 and not other.equals(table.head(50))
    assert report["isolated_env"]["versions"]["synthcity"] == "0.2.12"
    assert report["isolated_env"]["versions"]["torch"].startswith("2.2.")
    assert report["device"] == "cpu" and math.isfinite(report["final_loss"]["loss"])
    # 3,000 steps of batch 256 on 700 rows: 3 batches an epoch, 1,000 epochs
    assert report["epochs"] == 1000
    # categorical columns keep several categories (a collapsed model would not)
    many = [c.name for c in data.schema.features if c.categories and len(c.categories) >= 4]
    assert all(table[c].nunique() >= 2 for c in many)


@slow
@pytest.mark.usefixtures("environment")
def test_diabetes_quick_is_reproducible_and_exactly_n_rows():
    data, first, other, _ = _fit_generate("diabetes", seed=7, n=300)
    _check_schema(first, data, 300)
    _, again, other_again, _ = _fit_generate("diabetes", seed=7, n=300)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(other, other_again)


@slow
@pytest.mark.usefixtures("environment")
def test_buddy_quick_learns_the_larger_three_class_table():
    """At 1,000 steps (the first quick preset) Buddy came out 80% 'Black' (24% in the data)
    with its bounded numbers pushed to both ends; the quick preset must learn it."""
    data, table, _, report = _fit_generate("buddy", seed=1234, n=2000)
    _check_schema(table, data, 2000)
    assert report["epochs"] == 63  # 48 batches an epoch (12,053 rows at 256): 3,024 steps
    assert table["color_type"].value_counts(normalize=True).iloc[0] < 0.4
    real_sd, syn_sd = data.train["length(m)"].std(), table["length(m)"].std()
    assert syn_sd < 1.3 * real_sd


def _awkward_categories(rows: int = 200) -> tuple[pd.DataFrame, Schema]:
    """User data whose categories synthcity cannot take as they are: integer codes 1..20
    (15+ values, not 0..k-1), number codes with blanks, True/False with blanks, text with
    blanks, a True/False target; and a number with blanks."""
    rng = np.random.default_rng(0)

    def blanks(values: np.ndarray) -> np.ndarray:
        return np.where(rng.random(rows) < 0.2, None, values)

    raw = pd.DataFrame(
        {
            "cat_int": rng.integers(1, 21, rows),
            "code": pd.array(blanks(rng.integers(1, 4, rows)), dtype="Int64"),
            "flag": pd.array(blanks(rng.random(rows) < 0.5), dtype="boolean"),
            "cat_nan": pd.array(blanks(rng.choice(["a", "b", "c"], rows)), dtype="string"),
            "num_nan": np.where(rng.random(rows) < 0.2, np.nan, rng.normal(50, 10, rows)),
            "y": rng.random(rows) < 0.4,
        }
    )
    schema = infer_schema(raw, "y", overrides={"cat_int": "categorical", "code": "categorical"})
    return to_storage(raw, schema), schema


def test_every_category_reaches_synthcity_as_codes_0_to_k_minus_1_and_comes_back():
    """synthcity's multinomial diffusion reads each value as a class index below the number
    of values, and recodes only text or columns with < 15 values: codes 1..20 failed
    ("Class values must be smaller than num_classes"), and number codes beside a text marker
    for missing failed in its label encoder."""
    train, schema = _awkward_categories()
    assert schema["code"].dtype == "float64" and schema["flag"].dtype == "object"
    table, fill, codes = _encode(train, schema)
    for col in schema.columns:
        if col.is_numeric:
            continue
        s = table[col.name]
        assert str(s.dtype) == "int64", col.name
        assert sorted(s.unique()) == list(range(len(codes[col.name]))), col.name
        missing = train[col.name].isna()
        if missing.any():  # a category of its own, the last code
            assert codes[col.name][-1] is None and (s[missing] == s.max()).all(), col.name
    # synthcity hands codes back as floats: decoding restores values, NaN and dtypes
    as_floats = table.astype({c: "float64" for c in codes})
    pd.testing.assert_frame_equal(_decode(as_floats, schema, fill, codes), train)


def test_parameters_are_checked_where_the_run_is_planned():
    with pytest.raises(ValueError, match="device must be auto, cpu or cuda"):
        TabDDPM(device="tpu")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        TabDDPM(steps=0)
    assert set(QUICK) == set(PAPER) and QUICK["steps"] < PAPER["steps"] == 30_000


@pytest.mark.parametrize(
    ("steps", "rows", "batch", "epochs"),
    [
        (30_000, 700, 1024, 30_000),  # German at the paper preset: one batch an epoch
        (30_000, 26_048, 1024, 1154),  # Adult: 26 batches an epoch, 30,004 steps
        (3000, 700, 256, 1000),  # German at the quick preset: 3 batches an epoch
        (1000, 700, 256, 334),  # not a whole number of epochs: 1,002 steps
        (1000, 512, 256, 500),  # exact division: no extra epoch
        (1, 10_000, 256, 1),  # fewer steps than one epoch still trains one epoch
    ],
)
def test_steps_become_epochs_of_synthcitys_loop(steps, rows, batch, epochs):
    assert epochs_for_steps(steps, rows, batch) == epochs


@slow
@pytest.mark.usefixtures("environment")
def test_awkward_categories_fit_and_come_back_in_the_schema():
    train, schema = _awkward_categories()
    params = {**QUICK, "steps": 30, "batch_size": 64, "num_timesteps": 20}
    synth = start_isolated("tabddpm", TARGET, params, TabDDPM.requirements)
    try:
        synth.fit(train, schema, 3)
        table = synth.generate(150, 4)
    finally:
        synth.close()
    assert len(table) == 150 and {c: str(t) for c, t in table.dtypes.items()} == schema.dtypes()
    for col in schema.columns:
        if col.categories:
            assert set(table[col.name].dropna()) <= set(col.categories), col.name
    assert coerce(table, schema).invalid_rows == 0


# ---- WD: ours against synthcity's own Metrics.evaluate, inside synthcity's environment --------

SYNTHCITY_WD = """
import json, sys, tempfile
from pathlib import Path
import pandas as pd
from synthcity.metrics import Metrics
from synthcity.plugins.core.dataloader import GenericDataLoader

from bench.tables import read_parquet

folder = Path(sys.argv[1])
out = {}
for name in json.loads(sys.argv[2]):
    train = read_parquet(folder / f"{name}-train.parquet")
    syn = read_parquet(folder / f"{name}-syn.parquet")
    with tempfile.TemporaryDirectory() as ws:
        scores = Metrics.evaluate(
            GenericDataLoader(train, target_column="label"),
            GenericDataLoader(syn, target_column="label"),
            metrics={"stats": ["wasserstein_dist"]},
            use_cache=False,
            workspace=Path(ws),
        )
    out[name] = float(scores.loc["stats.wasserstein_dist.joint", "mean"])
print(json.dumps(out))
"""


@slow
@pytest.mark.usefixtures("environment")
def test_wd_matches_synthcity_metrics_on_equal_sizes(tmp_path):
    from test_metrics_fidelity import make_ctx, make_table, perturb

    from bench.metrics.fidelity import Wasserstein
    from bench.tables import write_parquet

    train = make_table(400, seed=0)
    cases = {
        "close": perturb(make_table(400, seed=1), 0.3, seed=2),
        "far": perturb(make_table(400, seed=3), 1.5, seed=4),
        "self": train.copy(),
    }
    ours = {}
    for name, syn in cases.items():
        write_parquet(train, tmp_path / f"{name}-train.parquet")
        write_parquet(syn, tmp_path / f"{name}-syn.parquet")
        ours[name] = Wasserstein(dtype="float64").compute(make_ctx(train, syn)).value
    res = run_python(
        TabDDPM.requirements, SYNTHCITY_WD, str(tmp_path), json.dumps(list(cases)), timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    theirs = json.loads(res.stdout.strip().splitlines()[-1])
    assert theirs["self"] == pytest.approx(0, abs=1e-6) and ours["self"] == pytest.approx(
        0, abs=1e-6
    )
    for name in ("close", "far"):
        assert theirs[name] > 0
        assert ours[name] == pytest.approx(theirs[name], rel=1e-6), name
    assert ours["close"] < ours["far"] and np.isfinite(list(ours.values())).all()
