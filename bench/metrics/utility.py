"""Utility metrics: how well a classifier trained on the synthetic table predicts real data.

Both metrics train on ``ctx.syn`` (the coerced synthetic table; for the "Original" job that
is the real train split itself) and score on the real ``test`` split with the weighted F1
over *all* classes of the schema, so a synthetic table that lacks a class is scored
honestly (its test rows count as errors) instead of failing.

A synthetic table with no rows, or with a single class, gives NaN with a ``reason`` in aux:
none of the classifiers the spec names can be trained on it. The score a constant
predictor of that single class would get is reported in aux (``constant_predictor_f1``) so
a collapsed generator stays visible, but it is not the metric's value: mixing it into the
MLE column would compare a non-trained baseline with trained classifiers.

scikit-learn and CatBoost are imported inside the methods: importing this module (the CLI
lists metrics) must stay instant.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.cores import job_threads
from bench.metrics.base import EvalContext, Metric, MetricResult, NotApplicable
from bench.schema import Schema

#: Threads for any one model: the reference machine has 2 cores.
MAX_THREADS = 2


def _threads() -> int:
    """At most :data:`MAX_THREADS`, within the job's share of the cores."""
    return min(MAX_THREADS, job_threads())


# ---- shared data handling -------------------------------------------------------------------


def _class_index(schema: Schema, *tables: pd.DataFrame) -> list[Any]:
    """All classes: the schema's (train's) first, then any label only ``tables`` hold.

    A test label train never had cannot be predicted; keeping it as its own class makes
    its rows count as errors rather than vanish from the score.
    """
    classes = list(schema.classes)
    known = set(classes)
    for table in tables:
        extra = [v for v in pd.unique(table[schema.target]) if v not in known]
        for v in sorted(extra, key=lambda v: (str(type(v)), str(v))):
            classes.append(v)
            known.add(v)
    return classes


def _encode_target(table: pd.DataFrame, schema: Schema, classes: Sequence[Any]) -> pd.Series:
    """Labels as class indices (0..K-1); a label outside ``classes`` becomes NaN."""
    return table[schema.target].map({c: i for i, c in enumerate(classes)})


def _clean_syn(ctx: EvalContext, classes: Sequence[Any]) -> tuple[pd.DataFrame, np.ndarray, int]:
    """The synthetic rows usable for training, their class indices, and rows dropped.

    The coerced table should hold only known labels; rows that do not are dropped and
    counted, never guessed.
    """
    assert ctx.syn is not None
    y = _encode_target(ctx.syn, ctx.schema, classes)
    keep = y.notna().to_numpy()
    return ctx.syn.loc[keep], y[keep].to_numpy(dtype=np.int64), int((~keep).sum())


def majority_class_f1(y_train: Any, y_test: Any) -> float:
    """Weighted F1 on ``y_test`` of always predicting ``y_train``'s most frequent class: the
    bar that MLE and LLE must clear to show the synthetic rows (or the LLM) taught something."""
    from sklearn.metrics import f1_score

    majority = pd.Series(y_train).mode().iloc[0]
    const = np.full(len(y_test), majority)
    return float(f1_score(y_test, const, average="weighted", zero_division=0))


def _untrainable(y: np.ndarray, y_test: np.ndarray) -> dict[str, Any] | None:
    """aux with a ``reason`` when no classifier can be trained on labels ``y``, else None."""
    if len(y) == 0:
        return {"reason": "synthetic table has no rows", "train_rows": 0}
    present = np.unique(y)
    if len(present) < 2:
        return {
            "reason": "synthetic table has a single class",
            "train_rows": len(y),
            "constant_predictor_f1": majority_class_f1(y, y_test),
        }
    return None


def _check_syn(ctx: EvalContext) -> None:
    if ctx.syn is None:
        raise NotApplicable("no coerced synthetic table (ctx.syn is None)")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence convergence / undefined-metric warnings: they would flood the job logs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ---- MLE: four scikit-learn classifiers -----------------------------------------------------


def _sklearn_features(table: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Features in schema order: numerics as float (inf -> NaN), the rest as str or NaN.

    Categories become strings so a column with mixed Python types (or booleans stored as
    object) one-hot encodes without type errors; train and test map the same way.
    """
    out: dict[str, pd.Series] = {}
    for col in schema.features:
        s = table[col.name]
        if col.is_numeric:
            out[col.name] = (
                pd.to_numeric(s, errors="coerce")
                .astype("float64")
                .replace([np.inf, -np.inf], np.nan)
            )
        else:
            out[col.name] = s.astype(object).map(str).where(s.notna(), np.nan)
    return pd.DataFrame(out, index=table.index)


def make_preprocessor(schema: Schema) -> Any:
    """The one preprocessing all four MLE models share, fitted on the training (syn) table.

    Numerics (integer/float kinds, in schema order) are median-imputed and standardised;
    then categoricals/booleans (schema order) get a constant "missing" category for NaN and
    a one-hot encoding that ignores categories the training table never showed. Output is
    dense: every model accepts it and results do not depend on sparse code paths.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num = [c.name for c in schema.features if c.is_numeric]
    cat = [c.name for c in schema.features if not c.is_numeric]
    return ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
                ),
                num,
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                cat,
            ),
        ],
        sparse_threshold=0.0,
    )


def make_classifiers(seed: int) -> dict[str, Any]:
    """The four MLE classifiers, seeded; defaults kept unless a reason is given.

    * LogisticRegression: ``max_iter=1000`` so lbfgs converges on one-hot data.
    * DecisionTreeClassifier: scikit-learn defaults (fully grown tree).
    * MLPClassifier: one hidden layer of 100 (default), ``max_iter=300``. No
      ``early_stopping``: its stratified hold-out fails on tiny or very imbalanced
      synthetic tables; the default training-loss plateau rule (``n_iter_no_change=10``)
      still stops it early on large tables.
    * RandomForestClassifier: 100 trees, at most 2 threads (the reference machine).
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    return {
        "logistic_regression": LogisticRegression(max_iter=1000, random_state=seed),
        "decision_tree": DecisionTreeClassifier(random_state=seed),
        "mlp": MLPClassifier(max_iter=300, random_state=seed),
        "random_forest": RandomForestClassifier(
            n_estimators=100, random_state=seed, n_jobs=_threads()
        ),
    }


class MachineLearningEfficacy(Metric):
    """MLE: mean weighted F1 on real test of four classifiers trained on the synthetic table.

    Seeded with the first evaluator seed (``ctx.eval_seeds[0]``), never the generation seed,
    so two jobs that differ only in generation seed are scored by identical models. aux has
    each model's weighted F1 and the rows used.

    BLAS runs single-threaded while the models train: on these small matrices OpenBLAS's
    threads cost far more than they give (the MLP on German: 21 s with 2 threads, 0.6 s
    with 1), and one thread makes the floating-point results independent of the machine.
    """

    name: ClassVar[str] = "mle"
    inputs = frozenset({"syn", "test"})
    family = "utility"
    goal = "maximize"
    bounds = (0.0, 1.0)

    def check(self, ctx: EvalContext) -> None:
        _check_syn(ctx)

    def compute(self, ctx: EvalContext) -> MetricResult:
        from sklearn.metrics import f1_score

        schema = ctx.schema
        classes = _class_index(schema, ctx.test)
        syn, y, dropped = _clean_syn(ctx, classes)
        y_test = _encode_target(ctx.test, schema, classes).to_numpy(dtype=np.int64)
        seed = int(ctx.eval_seeds[0])
        base = {"eval_seed": seed, "test_rows": len(y_test), "rows_dropped": dropped}
        bad = _untrainable(y, y_test)
        if bad is not None:
            return MetricResult(float("nan"), {**base, **bad})

        from threadpoolctl import threadpool_limits

        labels = list(range(len(classes)))
        with _quiet(), threadpool_limits(limits=1, user_api="blas"):
            pre = make_preprocessor(schema)
            x_syn = pre.fit_transform(_sklearn_features(syn, schema))
            x_test = pre.transform(_sklearn_features(ctx.test, schema))
            scores: dict[str, float] = {}
            fit_s: dict[str, float] = {}
            for name, model in make_classifiers(seed).items():
                t0 = time.perf_counter()
                model.fit(x_syn, y)
                pred = model.predict(x_test)
                fit_s[name] = round(time.perf_counter() - t0, 3)
                scores[name] = float(
                    f1_score(y_test, pred, labels=labels, average="weighted", zero_division=0)
                )
        value = float(np.mean(list(scores.values())))
        aux = {
            **base,
            "models": scores,
            "train_rows": len(y),
            "train_classes": len(np.unique(y)),
            "features_encoded": int(x_syn.shape[1]),
            "fit_s": fit_s,
        }
        return MetricResult(value, aux)


# ---- MLE-CatBoost: tuned once per dataset, frozen, trained on syn --------------------------

CACHE_FILE = "catboost_params.json"
#: Bump when the search below changes: a cache written by another search is retuned.
SEARCH_VERSION = 1
TUNING_SEED = 0  # fixed: the tuning is a property of the dataset, shared by every job
N_TRIALS = 10
MAX_ITERATIONS = 500
EARLY_STOP_ROUNDS = 50
DEPTHS = (4, 5, 6, 7, 8)
LEARNING_RATE = (0.02, 0.3)  # log-uniform
L2_LEAF_REG = (1.0, 10.0)  # log-uniform

#: Tuned params per dataset fingerprint when there is no data folder to cache in.
_MEMORY_CACHE: dict[str, dict[str, Any]] = {}


def _catboost_features(table: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """As for scikit-learn, but a missing category is the string "nan" (CatBoost needs one)."""
    out = _sklearn_features(table, schema)
    for col in schema.features:
        if not col.is_numeric:
            out[col.name] = out[col.name].fillna("nan")
    return out


def _cat_indices(schema: Schema) -> list[int]:
    return [i for i, c in enumerate(schema.features) if not c.is_numeric]


def _loss(schema: Schema) -> str:
    # MultiClass is fixed for multiclass datasets even when syn holds only two of the classes
    return "Logloss" if schema.task == "binary" else "MultiClass"


def search_space(seed: int = TUNING_SEED, n: int = N_TRIALS) -> list[dict[str, Any]]:
    """The seeded random configurations tried: depth, learning rate, L2 leaf regularisation."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        lr = float(np.exp(rng.uniform(*np.log(LEARNING_RATE))))
        l2 = float(np.exp(rng.uniform(*np.log(L2_LEAF_REG))))
        out.append(
            {
                "depth": int(rng.choice(DEPTHS)),
                "learning_rate": round(lr, 4),
                "l2_leaf_reg": round(l2, 3),
            }
        )
    return out


def _fingerprint(ctx: EvalContext) -> str:
    """What the tuning depends on: schema, real train and val, and the search itself."""
    h = hashlib.sha256(ctx.schema.to_json().encode())
    for name, table in (("train", ctx.train), ("val", ctx.val)):
        h.update(name.encode())
        h.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    h.update(json.dumps([SEARCH_VERSION, TUNING_SEED, search_space()]).encode())
    return h.hexdigest()


def _tune(ctx: EvalContext) -> dict[str, Any]:
    """Random search: fit on real train (early stopping on val), keep the best val weighted F1.

    The winner's best iteration count is frozen with its parameters, since training on syn
    has no real hold-out to stop on. Ties keep the earlier configuration.
    """
    from catboost import CatBoostClassifier
    from sklearn.metrics import f1_score

    schema = ctx.schema
    classes = _class_index(schema, ctx.train, ctx.val)
    x_tr, x_va = _catboost_features(ctx.train, schema), _catboost_features(ctx.val, schema)
    y_tr = _encode_target(ctx.train, schema, classes).to_numpy(dtype=np.int64)
    y_va = _encode_target(ctx.val, schema, classes).to_numpy(dtype=np.int64)
    t0 = time.perf_counter()
    trials = []
    best: dict[str, Any] | None = None
    for config in search_space():
        model = CatBoostClassifier(
            **config,
            iterations=MAX_ITERATIONS,
            loss_function=_loss(schema),
            od_type="Iter",
            od_wait=EARLY_STOP_ROUNDS,
            use_best_model=True,
            random_seed=TUNING_SEED,
            thread_count=_threads(),
            cat_features=_cat_indices(schema),
            verbose=False,
            allow_writing_files=False,
        )
        t_fit = time.perf_counter()
        model.fit(x_tr, y_tr, eval_set=(x_va, y_va))
        pred = np.asarray(model.predict(x_va)).ravel().astype(np.int64)
        f1 = float(
            f1_score(
                y_va, pred, labels=list(range(len(classes))), average="weighted", zero_division=0
            )
        )
        trial = {
            **config,
            "iterations": int(model.get_best_iteration() or 0) + 1,
            "val_f1": f1,
            "fit_s": round(time.perf_counter() - t_fit, 2),
        }
        trials.append(trial)
        if best is None or f1 > best["val_f1"]:
            best = trial
    assert best is not None
    params = {k: best[k] for k in ("depth", "learning_rate", "l2_leaf_reg", "iterations")}
    return {
        "version": SEARCH_VERSION,
        "fingerprint": _fingerprint(ctx),
        "params": params,
        "val_weighted_f1": best["val_f1"],
        "tuning_seed": TUNING_SEED,
        "trials": trials,
        "tuning_s": round(time.perf_counter() - t0, 2),
    }


def _read_cache(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The cached tuning when it exists, parses, and was made for this data and search."""
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("fingerprint") != fingerprint:
        return None
    return cached


def _write_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Exclusive lock across processes (fcntl.flock); a no-op where fcntl is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def tuned_params(ctx: EvalContext) -> tuple[dict[str, Any], bool]:
    """The frozen tuning for ``ctx``'s dataset and whether it came from the cache.

    Cached as JSON in the dataset's folder. Parallel jobs take a file lock before tuning
    and read the cache again under it, so only the first job tunes and the rest wait and
    reuse its result.
    """
    fingerprint = _fingerprint(ctx)
    if not ctx.data_dir:
        if fingerprint in _MEMORY_CACHE:
            return _MEMORY_CACHE[fingerprint], True
        _MEMORY_CACHE[fingerprint] = _tune(ctx)
        return _MEMORY_CACHE[fingerprint], False
    folder = Path(ctx.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CACHE_FILE
    cached = _read_cache(path, fingerprint)  # fast path: atomic writes, no lock needed
    if cached is not None:
        return cached, True
    with _locked(folder / f"{CACHE_FILE}.lock"):
        cached = _read_cache(path, fingerprint)
        if cached is not None:
            return cached, True
        tuning = _tune(ctx)
        _write_atomic(path, tuning)
        return tuning, False


class CatBoostEfficacy(Metric):
    """MLE-CatBoost: weighted F1 on real test of CatBoost trained on the synthetic table.

    Hyper-parameters are tuned once per dataset on real train/val (see :func:`tuned_params`)
    and frozen; the model is then trained on syn once per evaluator seed (``ctx.eval_seeds``,
    independent of the generation seed). Value: mean weighted F1 over those seeds. aux: the
    per-seed and mean weighted F1, macro F1, accuracy and, for binary tasks only, ROC-AUC;
    the tuned params and whether they came from the cache.

    Macro F1 averages over the classes present in test or predicted (scikit-learn's
    default); weighted F1 uses every class, weighted by test support.
    """

    name: ClassVar[str] = "mle_catboost"
    inputs = frozenset({"train", "val", "syn", "test"})
    family = "utility"
    goal = "maximize"
    bounds = (0.0, 1.0)

    def check(self, ctx: EvalContext) -> None:
        _check_syn(ctx)
        if importlib.util.find_spec("catboost") is None:  # looks, does not import
            raise NotApplicable("catboost is not installed: pip install catboost")

    def compute(self, ctx: EvalContext) -> MetricResult:
        schema = ctx.schema
        classes = _class_index(schema, ctx.test)
        syn, y, dropped = _clean_syn(ctx, classes)
        y_test = _encode_target(ctx.test, schema, classes).to_numpy(dtype=np.int64)
        seeds = [int(s) for s in ctx.eval_seeds]
        base = {"eval_seeds": seeds, "test_rows": len(y_test), "rows_dropped": dropped}
        bad = _untrainable(y, y_test)
        if bad is not None:  # before tuning: nothing to train, so spend nothing
            return MetricResult(float("nan"), {**base, **bad})

        tuning, from_cache = tuned_params(ctx)
        x_syn = _catboost_features(syn, schema)
        x_test = _catboost_features(ctx.test, schema)
        per_seed: dict[str, list[float]] = {"weighted_f1": [], "macro_f1": [], "accuracy": []}
        if schema.task == "binary":
            per_seed["roc_auc"] = []
        with _quiet():
            for seed in seeds:
                scores = self._fit_score(
                    tuning["params"], seed, schema, x_syn, y, x_test, y_test, len(classes)
                )
                for key in per_seed:
                    per_seed[key].append(scores[key])
        mean = {k: float(np.mean(v)) for k, v in per_seed.items()}
        aux = {
            **base,
            "train_rows": len(y),
            "train_classes": len(np.unique(y)),
            **{f"{k}_mean": v for k, v in mean.items()},
            "per_seed": per_seed,
            "params": tuning["params"],
            "tuning_val_weighted_f1": tuning.get("val_weighted_f1"),
            "params_from_cache": from_cache,
            "cache": str(Path(ctx.data_dir) / CACHE_FILE) if ctx.data_dir else None,
        }
        return MetricResult(mean["weighted_f1"], aux)

    @staticmethod
    def _fit_score(
        params: dict[str, Any],
        seed: int,
        schema: Schema,
        x_syn: pd.DataFrame,
        y: np.ndarray,
        x_test: pd.DataFrame,
        y_test: np.ndarray,
        n_classes: int,
    ) -> dict[str, float]:
        """Train one seeded model on syn and score it on test."""
        from catboost import CatBoostClassifier
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        model = CatBoostClassifier(
            **params,
            loss_function=_loss(schema),
            random_seed=seed,
            thread_count=_threads(),
            cat_features=_cat_indices(schema),
            verbose=False,
            allow_writing_files=False,
        )
        model.fit(x_syn, y)
        pred = np.asarray(model.predict(x_test)).ravel().astype(np.int64)
        out = {
            "weighted_f1": float(
                f1_score(
                    y_test, pred, labels=list(range(n_classes)), average="weighted", zero_division=0
                )
            ),
            "macro_f1": float(f1_score(y_test, pred, average="macro", zero_division=0)),
            "accuracy": float(accuracy_score(y_test, pred)),
        }
        if schema.task == "binary":
            positive = list(model.classes_).index(1)  # class index 1 = schema.classes[1]
            proba = model.predict_proba(x_test)[:, positive]
            both = len(np.unique(y_test[y_test < 2])) == 2
            out["roc_auc"] = float(roc_auc_score(y_test == 1, proba)) if both else float("nan")
        return out
