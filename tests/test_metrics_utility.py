"""Utility metrics (MLE, MLE-CatBoost): values, robustness, seeds and the tuning cache.

Small real data keeps the file quick: German (700 train rows) for the binary case and a
Buddy subsample for the multiclass one; CatBoost tunes on subsamples.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bench.metrics.utility as utility
from bench.datasets import load_bundled
from bench.metrics.base import EvalContext, NotApplicable
from bench.metrics.utility import CatBoostEfficacy, MachineLearningEfficacy

MODELS = ("logistic_regression", "decision_tree", "mlp", "random_forest")


@pytest.fixture(scope="module")
def german():
    return load_bundled("german")


@pytest.fixture(scope="module")
def buddy_small():
    """A multiclass (3 classes) Buddy subsample: 400 train, 150 val, 300 test rows."""
    d = load_bundled("buddy")
    return (
        d.schema,
        d.train.sample(400, random_state=0).reset_index(drop=True),
        d.val.sample(150, random_state=0).reset_index(drop=True),
        d.test.sample(300, random_state=0).reset_index(drop=True),
    )


def make_ctx(schema, train, val, test, syn, data_dir="", seed=0, **kw) -> EvalContext:
    return EvalContext(
        dataset=schema.name,
        schema=schema,
        train=train,
        val=val,
        test=test,
        syn_raw=syn,
        seed=seed,
        synthesizer_name="test",
        syn=syn,
        data_dir=str(data_dir),
        **kw,
    )


def german_ctx(d, syn=None, **kw) -> EvalContext:
    syn = d.train if syn is None else syn
    return make_ctx(d.schema, d.train, d.val, d.test, syn, **kw)


def resample(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    idx = np.random.default_rng(seed).integers(0, len(table), len(table))
    return table.iloc[idx].reset_index(drop=True)


def direct_mle(d, seed: int = 0) -> dict[str, float]:
    """The spec's MLE written independently with plain scikit-learn pipelines.

    Same column order as the metric (numerics then categoricals, schema order), since MLP
    and forest results depend on it; BLAS single-threaded like the metric.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier
    from threadpoolctl import threadpool_limits

    target = d.schema.target
    features = [c for c in d.train.columns if c != target]
    num = [c for c in features if pd.api.types.is_numeric_dtype(d.train[c])]
    cat = [c for c in features if c not in num]
    models = {
        "logistic_regression": LogisticRegression(max_iter=1000, random_state=seed),
        "decision_tree": DecisionTreeClassifier(random_state=seed),
        "mlp": MLPClassifier(max_iter=300, random_state=seed),
        "random_forest": RandomForestClassifier(n_estimators=100, random_state=seed),
    }
    out = {}
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence
        for name, model in models.items():
            pre = ColumnTransformer(
                [
                    (
                        "num",
                        Pipeline(
                            [("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())]
                        ),
                        num,
                    ),
                    (
                        "cat",
                        Pipeline(
                            [
                                ("imp", SimpleImputer(strategy="most_frequent")),
                                ("oh", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                            ]
                        ),
                        cat,
                    ),
                ]
            )
            pipe = Pipeline([("pre", pre), ("clf", model)]).fit(d.train[features], d.train[target])
            pred = pipe.predict(d.test[features])
            out[name] = f1_score(d.test[target], pred, average="weighted")
    return out


# ---- MLE ------------------------------------------------------------------------------------


def test_mle_original_matches_direct_sklearn(german):
    result = MachineLearningEfficacy().compute(german_ctx(german))
    assert 0.55 < result.value < 0.85  # German: real-data classifiers land around 0.65-0.75
    assert set(result.aux["models"]) == set(MODELS)
    assert result.aux["train_rows"] == len(german.train)
    assert result.value == pytest.approx(np.mean(list(result.aux["models"].values())))
    expected = direct_mle(german)
    for name in MODELS:
        assert result.aux["models"][name] == pytest.approx(expected[name], abs=1e-12), name
    assert result.value == pytest.approx(np.mean(list(expected.values())), abs=1e-12)


def test_mle_deterministic_and_independent_of_generation_seed(german):
    syn = resample(german.train, 7)
    first = MachineLearningEfficacy().compute(german_ctx(german, syn, seed=0))
    again = MachineLearningEfficacy().compute(german_ctx(german, syn, seed=123))
    assert math.isfinite(first.value)
    assert first.value == again.value
    assert first.aux["models"] == again.aux["models"]


def test_mle_identity():
    m = MachineLearningEfficacy()
    assert (m.name, m.family, m.goal, m.bounds) == ("mle", "utility", "maximize", (0.0, 1.0))
    c = CatBoostEfficacy()
    assert (c.name, c.family, c.goal, c.bounds) == (
        "mle_catboost",
        "utility",
        "maximize",
        (0.0, 1.0),
    )


@pytest.mark.parametrize("metric", [MachineLearningEfficacy, CatBoostEfficacy])
def test_single_class_and_empty_syn_give_nan_with_reason(german, tmp_path, metric):
    one_class = german.train[german.train["status"] == german.train["status"].iloc[0]]
    result = metric().compute(german_ctx(german, one_class, data_dir=tmp_path))
    assert math.isnan(result.value)
    assert result.aux["reason"] == "synthetic table has a single class"
    assert 0.0 <= result.aux["constant_predictor_f1"] <= 1.0

    result = metric().compute(german_ctx(german, german.train.iloc[:0], data_dir=tmp_path))
    assert math.isnan(result.value)
    assert result.aux["reason"] == "synthetic table has no rows"
    assert not (tmp_path / utility.CACHE_FILE).exists()  # nothing trained, nothing tuned


def test_mle_syn_missing_a_class(buddy_small):
    schema, train, val, test = buddy_small
    syn = train[train[schema.target] != 2].reset_index(drop=True)
    assert 2 in set(test[schema.target])
    result = MachineLearningEfficacy().compute(make_ctx(schema, train, val, test, syn))
    assert math.isfinite(result.value) and 0.0 <= result.value <= 1.0
    assert result.aux["train_classes"] == 2
    # class 2's test rows are errors: the score stays below the share of the other classes
    share = float((test[schema.target] != 2).mean())
    assert all(v <= share + 1e-9 for v in result.aux["models"].values())


def test_import_is_light():
    code = (
        "import sys, bench.metrics.utility; "
        "bad = [m for m in ('sklearn', 'catboost') if m in sys.modules]; "
        "print(bad); sys.exit(bool(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---- MLE-CatBoost ---------------------------------------------------------------------------


def test_catboost_multiclass_tunes_once_and_caches(buddy_small, tmp_path):
    schema, train, val, test = buddy_small
    syn = train[train[schema.target] != 2].reset_index(drop=True)  # a class missing, too
    ctx = make_ctx(schema, train, val, test, syn, data_dir=tmp_path, eval_seeds=(0, 1))
    first = CatBoostEfficacy().compute(ctx)
    cache = tmp_path / utility.CACHE_FILE
    assert cache.exists()
    assert first.aux["params_from_cache"] is False
    assert 0.0 <= first.value <= 1.0
    stored = json.loads(cache.read_text())
    assert stored["params"] == first.aux["params"]
    assert set(stored["params"]) == {"depth", "learning_rate", "l2_leaf_reg", "iterations"}
    assert 1 <= stored["params"]["iterations"] <= utility.MAX_ITERATIONS
    assert len(stored["trials"]) == utility.N_TRIALS
    mtime = cache.stat().st_mtime_ns

    # a later job (other generation seed) reuses the tuning and gets the same value
    again = CatBoostEfficacy().compute(replace(ctx, seed=99))
    assert again.aux["params_from_cache"] is True
    assert cache.stat().st_mtime_ns == mtime
    assert again.value == first.value

    # multiclass: no ROC-AUC; per-seed scores for each evaluator seed
    for key in ("roc_auc", "roc_auc_mean"):
        assert key not in first.aux and key not in first.aux["per_seed"]
    assert len(first.aux["per_seed"]["weighted_f1"]) == 2
    assert first.value == pytest.approx(np.mean(first.aux["per_seed"]["weighted_f1"]))
    for key in ("macro_f1_mean", "accuracy_mean"):
        assert 0.0 <= first.aux[key] <= 1.0

    # evaluator seeds, not generation seeds, drive the models
    one_seed = CatBoostEfficacy().compute(replace(ctx, eval_seeds=(5,)))
    assert len(one_seed.aux["per_seed"]["weighted_f1"]) == 1


def test_catboost_binary_reports_roc_auc(german, tmp_path):
    small = german.train.sample(300, random_state=0).reset_index(drop=True)
    ctx = make_ctx(
        german.schema, small, german.val, german.test, resample(small, 1), tmp_path, eval_seeds=(0,)
    )
    result = CatBoostEfficacy().compute(ctx)
    assert 0.3 < result.value <= 1.0
    assert 0.5 < result.aux["roc_auc_mean"] <= 1.0
    assert len(result.aux["per_seed"]["roc_auc"]) == 1


# ---- the tuning cache (tuning replaced by a fake: these test the caching, not CatBoost) ---


@pytest.fixture
def fake_tune(monkeypatch):
    calls: list[float] = []

    def tune(ctx: EvalContext) -> dict:
        calls.append(time.perf_counter())
        time.sleep(0.3)  # long enough for a second job to arrive while the first tunes
        return {"fingerprint": utility._fingerprint(ctx), "params": {"depth": 4}}

    monkeypatch.setattr(utility, "_tune", tune)
    return calls


def test_parallel_jobs_tune_once(german, tmp_path, fake_tune):
    ctx = german_ctx(german, data_dir=tmp_path)
    results: list[tuple[dict, bool]] = []
    threads = [
        threading.Thread(target=lambda: results.append(utility.tuned_params(ctx))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake_tune) == 1
    assert sorted(from_cache for _, from_cache in results) == [False, True, True]
    assert all(params["params"] == {"depth": 4} for params, _ in results)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_stale_or_corrupt_cache_is_retuned(german, tmp_path, fake_tune):
    ctx = german_ctx(german, data_dir=tmp_path)
    cache: Path = tmp_path / utility.CACHE_FILE
    cache.write_text("{not json")
    assert utility.tuned_params(ctx)[1] is False
    cache.write_text(json.dumps({"fingerprint": "other data", "params": {"depth": 9}}))
    params, from_cache = utility.tuned_params(ctx)
    assert (from_cache, params["params"]) == (False, {"depth": 4})
    assert utility.tuned_params(ctx)[1] is True
    assert len(fake_tune) == 2


def test_no_data_dir_tunes_once_in_memory(german, fake_tune, monkeypatch):
    monkeypatch.setattr(utility, "_MEMORY_CACHE", {})
    ctx = german_ctx(german)
    assert utility.tuned_params(ctx)[1] is False
    assert utility.tuned_params(ctx)[1] is True
    assert len(fake_tune) == 1


def test_check_needs_coerced_syn_and_catboost(german, monkeypatch):
    ctx = german_ctx(german)
    for metric in (MachineLearningEfficacy(), CatBoostEfficacy()):
        metric.check(ctx)
        with pytest.raises(NotApplicable, match="coerced"):
            metric.check(replace(ctx, syn=None))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "catboost" else real(name, *a)
    )
    with pytest.raises(NotApplicable, match="catboost is not installed"):
        CatBoostEfficacy().check(ctx)
