"""Fidelity metrics: how closely the synthetic table matches the real one."""

from __future__ import annotations

import itertools
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.metrics.base import EvalContext, Metric, MetricResult


class DataMismatch(Metric):
    """DM: share of columns whose dtype as returned differs from train's, over (columns + 1).

    Follows synthcity's ``data_mismatch`` (German 3/22 = 0.14 in the paper). Computed on the
    synthetic table as returned, before coercion. A column the synthesizer did not return
    counts as a mismatch (its dtype certainly differs); extra columns are ignored and listed.
    """

    name: ClassVar[str] = "dm"
    family = "fidelity"
    goal = "minimize"
    bounds = (0.0, 1.0)
    inputs = frozenset({"train", "syn_raw"})  # meaningful even when no row is valid

    def compute(self, ctx: EvalContext) -> MetricResult:
        syn, train = ctx.syn_raw, ctx.train
        mismatched = [
            c for c in train.columns if c not in syn.columns or syn[c].dtype != train[c].dtype
        ]
        missing = [c for c in train.columns if c not in syn.columns]
        extra = [str(c) for c in syn.columns if c not in train.columns]
        value = len(mismatched) / (len(train.columns) + 1)
        return MetricResult(
            value, {"mismatched": mismatched, "missing_columns": missing, "extra_columns": extra}
        )


# ---- WD: Sinkhorn divergence between the encoded tables -----------------------------------

#: synthcity label-encodes any column with fewer distinct values than this (NaN counts as one).
LABEL_ENCODE_BELOW = 15
#: Where a missing cell of an unencoded numeric column sits after min-max scaling to [0, 1].
NUMERIC_NAN_SENTINEL = -1.0


def _label_codes(values: pd.Series) -> np.ndarray:
    """Codes 0..k-1 in sorted order of the distinct values, NaN last: sklearn's LabelEncoder.

    A column mixing value types (e.g. text and booleans) cannot be sorted by LabelEncoder; it
    is encoded by the values' text instead, NaN still last.
    """
    from sklearn.preprocessing import LabelEncoder

    try:
        return LabelEncoder().fit_transform(values)
    except TypeError:
        as_text = values.map(lambda v: v if pd.isna(v) else f"{type(v).__name__}:{v}")
        return LabelEncoder().fit_transform(as_text.astype(object))


def encode_like_synthcity(train: pd.DataFrame, syn: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Both tables as float64 matrices, encoded the way synthcity's ``Metrics.evaluate`` does.

    synthcity fits its encoders on ``concat([X_gt, X_syn])`` so that a category gets the same
    code on both sides (``DataLoader.encode``): a column is label-encoded when its dtype
    (after ``infer_objects``) is object or bool, or when it has fewer than 15 distinct values
    (``Series.unique``, NaN counted); other columns keep their raw numbers. Its rule that skips
    integer columns already coded 0..k-1 is left out: LabelEncoder maps those to themselves.
    Returns ``(train_matrix, syn_matrix, encoded_mask)``; unencoded columns may hold NaN.
    """
    both = pd.concat([train, syn], ignore_index=True)
    out = np.empty(both.shape, dtype=np.float64)
    encoded = np.zeros(both.shape[1], dtype=bool)
    for j, col in enumerate(both.columns):
        s = both[col]
        if s.infer_objects().dtype.kind in ("O", "b") or len(s.unique()) < LABEL_ENCODE_BELOW:
            out[:, j] = _label_codes(s)
            encoded[j] = True
        else:
            out[:, j] = s.to_numpy(dtype=np.float64, na_value=np.nan)
    return out[: len(train)], out[len(train) :], encoded


def _subsample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row positions of a seeded sample without replacement (all rows when n <= size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


class Wasserstein(Metric):
    """WD: Sinkhorn divergence (geomloss, p=2, blur=0.05) between train and syn as matrices.

    Follows synthcity's ``WassersteinDistance`` (``metrics/eval_statistical.py``) on the
    tables its ``Metrics.evaluate`` hands over: label-encode as :func:`encode_like_synthcity`,
    min-max scale with a scaler fit on train, then ``SamplesLoss("sinkhorn")`` (p=2,
    blur=0.05, scaling=0.5, debiased). Deviations, each because the original misleads here:

    * Sizes: synthcity zero-pads a shorter synthetic table, which inflates WD whenever fewer
      rows are generated. Here the larger table is subsampled (seeded by ``eval_seeds[0]``),
      so both sides have ``n = min(len(train), len(syn), max_rows)`` rows.
    * ``max_rows`` (default 10,000): the dense solver's memory and time grow as ``n^2``.
      On two cores, Adult capped at 10,000 rows takes ~30 s and 2.7 GB; uncapped (26,048)
      it took 6.5 min and 16 GB (``benchmarks/wd_adult.py``). The Sinkhorn divergence of
      finite samples is biased upward as n shrinks (Adult, same stand-in table: 0.052 at
      2k, 0.034 at 5k, 0.022 at 10k, 0.007 uncapped), so WD values are comparable only at
      the same ``n`` (stored in aux): a synthetic table with fewer rows than ``max_rows``
      is measured at a smaller n. The scaler is fit on all train rows, so the units do not
      depend on which rows the seed drew (synthcity fits it on the rows it evaluates).
    * Missing values: categorical NaN is label-encoded as a value of its own (NaN sorts
      last), exactly as synthcity's LabelEncoder does. NaN in an unencoded numeric column
      (>= 15 distinct values) would make synthcity's result NaN; here it is placed at -1
      after scaling train's range to [0, 1], i.e. one full range below the smallest value:
      missing matches missing at no cost and a missing/present mismatch costs at least as
      much as the column's whole range. Non-finite synthetic values are treated the same.
    * Precision: float32 (synthcity passes float64). On Adult the two agree to about six
      significant digits at 2k/5k/10k rows, and float32 halves memory and time.
    * Backend: always geomloss's dense "tensorized" one. synthcity's "auto" switches to the
      KeOps "online" backend above 5,000^2 pairs, which needs pykeops and a compiler; both
      backends compute the same quantity.
    """

    name: ClassVar[str] = "wd"
    inputs = frozenset({"train", "syn"})
    family = "fidelity"
    goal = "minimize"
    bounds = (0.0, float("inf"))

    p: ClassVar[int] = 2
    blur: ClassVar[float] = 0.05

    def __init__(self, max_rows: int | None = 10_000, dtype: str = "float32") -> None:
        if max_rows is not None and max_rows < 1:
            raise ValueError("max_rows must be a positive number of rows, or None for all")
        self.max_rows = max_rows
        self.dtype = dtype

    def matrices(self, ctx: EvalContext) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """The scaled, subsampled float64 matrices the solver sees, and what was done."""
        from sklearn.preprocessing import MinMaxScaler

        train, syn = ctx.train, _syn(ctx)
        x_train, x_syn, encoded = encode_like_synthcity(train, syn[train.columns])
        n = min(len(x_train), len(x_syn), self.max_rows or len(x_train))
        seed = ctx.eval_seeds[0]
        rng = np.random.default_rng(seed)
        i_train, i_syn = _subsample(len(x_train), n, rng), _subsample(len(x_syn), n, rng)
        scaler = MinMaxScaler().fit(x_train)
        a, b = scaler.transform(x_train[i_train]), scaler.transform(x_syn[i_syn])
        missing = int((~np.isfinite(a)).sum() + (~np.isfinite(b)).sum())
        a[~np.isfinite(a)] = NUMERIC_NAN_SENTINEL
        b[~np.isfinite(b)] = NUMERIC_NAN_SENTINEL
        aux = {
            "rows_train": n,
            "rows_syn": n,
            "train_rows_total": len(x_train),
            "syn_rows_total": len(x_syn),
            "subsampled_train": n < len(x_train),
            "subsampled_syn": n < len(x_syn),
            "max_rows": self.max_rows,
            "seed": seed,
            "label_encoded": [str(c) for c, e in zip(train.columns, encoded, strict=True) if e],
            "numeric_missing_cells": missing,
        }
        return a, b, aux

    def compute(self, ctx: EvalContext) -> MetricResult:
        syn = _syn(ctx)
        if len(syn) == 0 or len(ctx.train) == 0:
            return MetricResult(float("nan"), {"reason": "the synthetic table has no rows"})
        import torch
        from geomloss import SamplesLoss

        a, b, aux = self.matrices(ctx)
        dtype = getattr(torch, self.dtype)
        solver = SamplesLoss(loss="sinkhorn", p=self.p, blur=self.blur, backend="tensorized")
        with torch.no_grad():
            value = solver(torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)).item()
        aux.update(dtype=self.dtype, p=self.p, blur=self.blur, backend="tensorized")
        return MetricResult(float(value), aux)


# ---- CS: Pearson correlation similarity over numeric column pairs -------------------------


class CorrelationSimilarity(Metric):
    """CS: mean over numeric column pairs of SDMetrics' ``CorrelationSimilarity`` (Pearson).

    Each pair scores ``1 - |rho_train - rho_syn| / 2``. Numeric means schema kind integer or
    float; the target is always categorical or boolean in the schema, so it never enters.
    SDMetrics drops rows with NaN per pair (pairwise deletion). A pair is skipped, and listed
    with the reason in aux, where correlation is undefined on either side: a constant column
    (SDMetrics raises), fewer than two complete rows, or SDMetrics returning NaN (which it also
    does when the real correlation is exactly 0). NaN with a reason when fewer than two
    numeric columns exist, the synthetic table is empty, or every pair was skipped.
    """

    name: ClassVar[str] = "cs"
    inputs = frozenset({"train", "syn"})
    family = "fidelity"
    goal = "maximize"
    bounds = (0.0, 1.0)

    def compute(self, ctx: EvalContext) -> MetricResult:
        numeric = [c.name for c in ctx.schema.columns if c.is_numeric]
        if len(numeric) < 2:
            reason = f"needs two numeric columns; the schema has {len(numeric)}"
            return MetricResult(float("nan"), {"reason": reason, "numeric_columns": numeric})
        syn = _syn(ctx)
        if len(syn) == 0:
            return MetricResult(float("nan"), {"reason": "the synthetic table has no rows"})
        from sdmetrics.column_pairs import CorrelationSimilarity as SDCorrelationSimilarity
        from sdmetrics.errors import ConstantInputError

        pairs: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        for a, b in itertools.combinations(numeric, 2):
            real, fake = ctx.train[[a, b]], syn[[a, b]]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # scipy warns on constant input
                    out = SDCorrelationSimilarity.compute_breakdown(
                        real, fake, coefficient="Pearson"
                    )
            except (ConstantInputError, ValueError) as exc:  # ValueError: < 2 complete rows
                skipped.append({"columns": [a, b], "reason": str(exc)})
                continue
            row = {"columns": [a, b], **{k: _num(v) for k, v in out.items()}}
            if row["score"] is None:
                skipped.append({**row, "reason": "correlation undefined (NaN)"})
            else:
                pairs.append(row)
        aux: dict[str, Any] = {"pairs": pairs, "skipped": skipped, "numeric_columns": numeric}
        if not pairs:
            aux["reason"] = f"correlation undefined for all {len(skipped)} numeric pairs"
            return MetricResult(float("nan"), aux)
        return MetricResult(float(np.mean([p["score"] for p in pairs])), aux)


def _syn(ctx: EvalContext) -> pd.DataFrame:
    """The coerced synthetic table (metrics on values never read the raw one)."""
    if ctx.syn is None:
        raise RuntimeError("the synthetic table was not coerced to the schema before metrics")
    return ctx.syn


def _num(v: Any) -> float | None:
    """A float for JSON aux, None for NaN."""
    f = float(v)
    return None if np.isnan(f) else f
