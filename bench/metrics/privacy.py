"""Privacy metrics: does the synthetic table copy, or sit closer to, the training rows?

* ``nrs`` - :class:`NewRowSynthesis`, the share of synthetic rows that match no training row,
  with exactly the semantics of SDMetrics ``NewRowSynthesis`` (defaults) but vectorised.
* ``dcr`` - :class:`DistanceToClosestRecord`, mean distance of each synthetic row to its
  nearest training row (and the 5th percentile, the CTAB-GAN statistic, in ``aux``).
* ``dcr_holdout`` - :class:`DCRHoldoutShare`, the share of synthetic rows closer to (an
  equal-size sample of) train than to test: 0.5 when the generator does not copy.

All three read the coerced synthetic table (``ctx.syn``) and do not apply to the real data
scored as a reference "synthesizer" (a copy of train would trivially fail them).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_info, threadpool_limits

from bench.metrics.base import EvalContext, Metric, MetricResult, NotApplicable
from bench.schema import Column, Schema

#: SDMetrics' ``numerical_match_tolerance`` default.
NRS_TOLERANCE = 0.01
#: Candidate (syn, train) pairs checked at once by NRS: bounds its memory (~64 MiB).
_PAIR_BUDGET = 1 << 20
#: Bytes of the float32 blocks of the (query x reference) matrix in flight in the DCR search,
#: shared by its threads (at most ``_DCR_MAX_WORKERS``, each block at least 8 MiB).
_DCR_BLOCK_BYTES = 64 << 20
_DCR_MIN_BLOCK_BYTES = 8 << 20
_DCR_MAX_WORKERS = 8
#: (query, reference) pairs recomputed in float64 at once when float32 cannot decide (ties).
_DCR_RECHECK_PAIRS = 1 << 16
_ONE_HOT = 1.0 / math.sqrt(2.0)  # two rows differing in one category are at distance 1

_NO_ROWS = {"reason": "no valid synthetic rows"}


def _check_synthetic(ctx: EvalContext) -> None:
    if ctx.is_reference:
        raise NotApplicable("the real data is not a synthetic table")
    if ctx.syn is None:
        raise NotApplicable("the synthetic table was not coerced to the schema")


# --------------------------------------------------------------------------------------------
# NewRowSynthesis
# --------------------------------------------------------------------------------------------


def _codes(values: pd.Series) -> np.ndarray:
    """Exact-equality codes of one column (all nulls share code 0), as SDMetrics compares.

    Object columns are coded by Python equality (``1 == 1.0 == True``, as pandas'
    ``col == value`` compares), through a dict: ``pd.factorize`` hashes object strings as C
    strings, which merges ``""`` with ``"\x00"`` and ``"a\x00b"`` with ``"a"``. ``+ 0.0``
    folds ``-0.0`` into ``0.0`` for float columns.
    """
    arr = values.to_numpy()
    if arr.dtype == object:
        missing = pd.isna(values).to_numpy()
        index: dict[Any, int] = {}
        pairs = zip(arr, missing, strict=True)
        return np.array(
            [0 if m else index.setdefault(v, len(index)) + 1 for v, m in pairs], dtype=np.int64
        )
    if arr.dtype.kind == "f":
        arr = arr + 0.0
    codes, _ = pd.factorize(arr, use_na_sentinel=True)
    return codes.astype(np.int64) + 1


def _combine(parts: Sequence[np.ndarray], n: int) -> np.ndarray:
    """One dense int64 id per distinct tuple of codes (exact, no hashing collisions)."""
    key = np.zeros(n, dtype=np.int64)
    for part in parts:
        key, _ = pd.factorize(key * (int(part.max(initial=0)) + 1) + part)
        key = key.astype(np.int64)
    return key


def _rank_bounds(
    train_v: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Order-preserving integer ranks of train values and of the query bounds, shared space."""
    values = np.concatenate([train_v, lo, hi])
    uniq, inv = np.unique(values, return_inverse=True)
    n, m = len(train_v), len(lo)
    return inv[:n], inv[n : n + m], inv[n + m :], len(uniq)


def nrs_matches(
    train: pd.DataFrame,
    syn: pd.DataFrame,
    schema: Schema,
    tolerance: float = NRS_TOLERANCE,
) -> np.ndarray:
    """Boolean per ``syn`` row: does some ``train`` row match it (SDMetrics' rule)?

    A row matches when, in every column, a null meets a null, a categorical/boolean value
    is equal, and a numeric value ``x`` has ``abs(train - x) <= abs(tolerance * x)`` in
    float64 (a null in train never meets a non-null). Algorithm: exact columns (categorical
    codes + the null pattern of numeric columns) become one integer key; train is sorted by
    (key, pivot) where the pivot is the numeric column that leaves the fewest candidates;
    each syn row's candidates are found with ``searchsorted`` on a slightly widened
    tolerance interval and then checked exactly, in bounded-size chunks of pairs.
    """
    n, m = len(train), len(syn)
    matched = np.zeros(m, dtype=bool)
    if n == 0 or m == 0:
        return matched
    both = pd.concat([train[schema.names], syn[schema.names]], ignore_index=True)
    numeric = [c.name for c in schema.columns if c.is_numeric]
    exact = [c.name for c in schema.columns if not c.is_numeric]
    parts = [_codes(both[c]) for c in exact]
    nums = both[numeric].to_numpy(dtype=np.float64, na_value=np.nan) if numeric else None
    if nums is not None:
        parts.extend(np.isnan(nums[:, j]).astype(np.int64) for j in range(len(numeric)))
    key = _combine(parts, n + m)

    # identical rows get identical answers: search with distinct rows only
    ident = pd.DataFrame(nums if nums is not None else np.empty((n + m, 0)))
    ident.insert(0, "_key", key)
    tr = ident.iloc[:n].drop_duplicates().index.to_numpy()
    sy_group = ident.iloc[n:].groupby(list(ident.columns), dropna=False, sort=False).ngroup()
    sy_group = sy_group.to_numpy()
    _, sy_first = np.unique(sy_group, return_index=True)
    sy = n + sy_first  # rows of ``both`` of the distinct syn rows, in group-id order
    t_key, s_key = key[tr], key[sy]

    if nums is None:
        found = np.isin(s_key, t_key)
        return found[sy_group]

    t_num, s_num = nums[tr], nums[sy]
    s_tol = np.abs(tolerance * s_num)
    lo, hi, order = _candidates(t_key, s_key, t_num, s_num, s_tol)
    counts = hi - lo
    cum = np.cumsum(counts)
    found = np.zeros(len(sy), dtype=bool)
    for start in range(0, int(cum[-1]), _PAIR_BUDGET):
        pair = np.arange(start, min(start + _PAIR_BUDGET, int(cum[-1])), dtype=np.int64)
        row = np.searchsorted(cum, pair, side="right")
        t_row = order[lo[row] + pair - (cum[row] - counts[row])]
        for j in range(t_num.shape[1]):  # column by column, keeping the surviving pairs
            x = s_num[row, j]
            with np.errstate(invalid="ignore"):
                ok = np.isnan(x) | (np.abs(t_num[t_row, j] - x) <= s_tol[row, j])
            row, t_row = row[ok], t_row[ok]
        found[row] = True
    return found[sy_group]


def _candidates(
    t_key: np.ndarray,
    s_key: np.ndarray,
    t_num: np.ndarray,
    s_num: np.ndarray,
    s_tol: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per syn row, a range ``[lo, hi)`` of ``order`` (train sorted by key, pivot) to check.

    The range holds every train row with the same key whose pivot value lies in
    ``[x - t, x + t]`` widened by a relative 1e-9 (so float rounding in the exact test can
    never exclude a true match); the pivot is the finite numeric column with the fewest
    candidates overall. Without a usable pivot the range is the whole key group.
    """
    best: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None
    for j in range(t_num.shape[1]):
        tv, sv, st = t_num[:, j], s_num[:, j], s_tol[:, j]
        if not (np.isfinite(tv[~np.isnan(tv)]).all() and np.isfinite(sv[~np.isnan(sv)]).all()):
            continue
        # a null pivot only meets nulls, all in the same key group: make them equal values
        tv = np.where(np.isnan(tv), 0.0, tv)
        s_nan = np.isnan(sv)
        sv, st = np.where(s_nan, 0.0, sv), np.where(s_nan, 0.0, st)
        slack = 1e-9 * (np.abs(sv) + st) + 1e-300
        t_rank, lo_rank, hi_rank, width = _rank_bounds(tv, sv - st - slack, sv + st + slack)
        comp = t_key * width + t_rank
        order = np.argsort(comp, kind="stable")
        comp = comp[order]
        lo = np.searchsorted(comp, s_key * width + lo_rank, side="left")
        hi = np.searchsorted(comp, s_key * width + hi_rank, side="right")
        total = int((hi - lo).sum())
        if best is None or total < best[0]:
            best = (total, lo, hi, order)
    if best is not None:
        return best[1], best[2], best[3]
    order = np.argsort(t_key, kind="stable")
    comp = t_key[order]
    lo = np.searchsorted(comp, s_key, side="left")
    hi = np.searchsorted(comp, s_key, side="right")
    return lo, hi, order


def sdmetrics_metadata(schema: Schema) -> dict[str, Any]:
    """The SDMetrics single-table metadata our schema means (used by the cross-check)."""
    sdtype = {"integer": "numerical", "float": "numerical", "categorical": "categorical"}
    return {"columns": {c.name: {"sdtype": sdtype.get(c.kind, "boolean")} for c in schema.columns}}


class NewRowSynthesis(Metric):
    """NRS: share of synthetic rows that match no training row (SDMetrics ``NewRowSynthesis``).

    Same value as ``sdmetrics.single_table.NewRowSynthesis.compute(train, syn, metadata)``
    with metadata from the schema (integer/float -> numerical, categorical, boolean) and the
    defaults (``numerical_match_tolerance=0.01``, no ``synthetic_sample_size`` sampling),
    without its per-row ``DataFrame.query`` (minutes at Adult size). Every column counts,
    the label included; a null matches only a null (in any column kind). Choices where
    SDMetrics has no answer: 0 synthetic rows -> NaN (SDMetrics divides by zero). SDMetrics
    builds one ``DataFrame.query`` per synthetic row: ``col.isnull()`` for a null cell,
    ``abs(col - x) <= abs(0.01 * x)`` for a numeric one, ``col == repr(x)`` (object) or
    ``col == x`` otherwise, joined with ``and``; :func:`nrs_matches` is that rule. Numeric
    values are compared in float64, as SDMetrics does whenever a row holds a float; only
    integers beyond 2**53 could differ from its int64 path. Datetime columns do not occur
    (the schema has none; SDMetrics compares them as numbers too).
    """

    name: ClassVar[str] = "nrs"
    inputs = frozenset({"train", "syn"})
    family = "privacy"
    goal = "maximize"
    bounds = (0.0, 1.0)
    tolerance: ClassVar[float] = NRS_TOLERANCE

    def check(self, ctx: EvalContext) -> None:
        _check_synthetic(ctx)

    def compute(self, ctx: EvalContext) -> MetricResult:
        assert ctx.syn is not None
        m = len(ctx.syn)
        if m == 0:
            return MetricResult(float("nan"), dict(_NO_ROWS))
        matched = nrs_matches(ctx.train, ctx.syn, ctx.schema, self.tolerance)
        n_matched = int(matched.sum())
        return MetricResult(
            (m - n_matched) / m,
            {
                "num_new_rows": m - n_matched,
                "num_matched_rows": n_matched,
                "numerical_match_tolerance": self.tolerance,
            },
        )


# --------------------------------------------------------------------------------------------
# Distance to closest record
# --------------------------------------------------------------------------------------------


class Encoder:
    """The common space of the DCR metrics, fit on train.

    Numeric columns: ``(x - mean) / std`` with train's mean and population std (std 1 when
    train's is 0 or undefined); missing values are imputed with train's mean, i.e. 0 -
    missingness itself adds no distance. A numeric column with no observed train value is
    constant 0. Categorical and boolean columns: one-hot over train's categories (schema
    order) plus a "missing" level when the column is nullable, scaled by 1/sqrt(2) so that
    one differing category adds exactly 1 to the squared distance; a value outside train's
    categories (not possible after coercion) encodes as all zeros.
    """

    def __init__(self, train: pd.DataFrame, schema: Schema) -> None:
        self.columns: list[tuple[Column, Any]] = []
        self.dim = 0
        for col in schema.columns:
            if col.is_numeric:
                v = train[col.name].to_numpy(dtype=np.float64, na_value=np.nan)
                obs = v[~np.isnan(v)]
                mean = float(obs.mean()) if len(obs) else 0.0
                std = float(obs.std()) if len(obs) else 0.0
                scale = std if np.isfinite(std) and std > 0 else 1.0
                self.columns.append((col, (mean, scale, len(obs) > 0)))
                self.dim += 1
            else:
                cats = list(col.categories or pd.unique(train[col.name].dropna()))
                nullable = col.nullable or bool(train[col.name].isna().any())
                self.columns.append((col, (cats, nullable)))
                self.dim += len(cats) + int(nullable)

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(table), self.dim), dtype=np.float64)
        rows = np.arange(len(table))
        at = 0
        for col, info in self.columns:
            s = table[col.name]
            if col.is_numeric:
                mean, scale, observed = info
                if observed:
                    v = s.to_numpy(dtype=np.float64, na_value=np.nan)
                    out[:, at] = np.where(np.isnan(v), 0.0, (v - mean) / scale)
                at += 1
                continue
            cats, nullable = info
            codes = pd.Categorical(s, categories=cats).codes.astype(np.int64)
            if nullable:
                codes = np.where(s.isna().to_numpy(), len(cats), codes)
            hit = codes >= 0
            out[rows[hit], at + codes[hit]] = _ONE_HOT
            at += len(cats) + int(nullable)
        return out


def _workers() -> int:
    """Threads for the DCR search: as many as BLAS would use (so OMP/OPENBLAS_NUM_THREADS
    and CPU affinity are respected), at most ``_DCR_MAX_WORKERS``."""
    blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(1, min(_DCR_MAX_WORKERS, max(blas) if blas else os.cpu_count() or 1))


def _distinct_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the distinct rows of ``x`` and, per row, which of them it equals."""
    x = np.ascontiguousarray(x)
    if x.shape[1] == 0:
        return np.zeros(min(1, len(x)), dtype=np.int64), np.zeros(len(x), dtype=np.int64)
    rows = x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).ravel()
    _, keep, back = np.unique(rows, return_index=True, return_inverse=True)
    return keep, back.ravel()


def nearest_distances(reference: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Euclidean distance from each ``query`` row to its nearest ``reference`` row.

    Brute force in blocks of query rows, never the full matrix (``_DCR_BLOCK_BYTES`` in
    flight over all threads): a float32 BLAS pass (``|r|^2 - 2 q.r``, twice as fast as
    float64) proposes the winner, whose distance is recomputed in float64 as
    ``sqrt(sum((q - r)^2))``; every other row the float32 rounding bound cannot rule out
    (almost never more than the winner) is recomputed too, and the least is kept. So the
    result is the float64 nearest distance, an exact copy scores exactly 0, and a row one
    ``fnlwgt`` unit away is not mistaken for a copy (sklearn's float64 ``kneighbors``
    reports small non-zero distances for some copies). Blocks run on one thread per BLAS
    thread with single-threaded BLAS, so the argmin/min passes are parallel too.
    """
    if len(query) == 0 or len(reference) == 0:
        return np.full(len(query), np.nan)
    # identical rows have identical answers (ties of duplicated rows cost nothing either)
    reference = reference[_distinct_rows(reference)[0]]
    keep, back = _distinct_rows(query)
    query = query[keep]
    m, n = len(query), len(reference)
    out = np.full(m, np.nan)
    p = reference.shape[1]
    u = 2.0**-24  # float32 unit roundoff
    c = 2.0 * (p * u / (1.0 - p * u) + 6.0 * u)  # twice the error bound of one g entry
    ref32 = np.ascontiguousarray(reference, dtype=np.float32)
    bias = ((1.0 - c) * np.einsum("ij,ij->i", reference, reference)).astype(np.float32)
    workers = _workers()
    block = max(1, max(_DCR_BLOCK_BYTES // workers, _DCR_MIN_BLOCK_BYTES) // (4 * n))

    def run(start: int) -> None:
        q = query[start : start + block]
        rows = np.arange(len(q))
        q_sq = np.einsum("ij,ij->i", q, q)
        g = (-2.0 * q).astype(np.float32) @ ref32.T  # |r|^2 - 2 q.r = d^2 - |q|^2, less c|r|^2
        g += bias
        best = np.argmin(g, axis=1)
        diff = q - reference[best]
        d2 = np.einsum("ij,ij->i", diff, diff)
        # a row can beat ``best`` only if its g is within the rounding bound of d2 - |q|^2
        limit = np.nextafter((d2 - q_sq + c * (q_sq + d2)).astype(np.float32), np.float32(np.inf))
        g[rows, best] = np.inf
        doubt = np.flatnonzero(g.min(axis=1) <= limit)
        step = max(1, _DCR_RECHECK_PAIRS // n)  # rows whose candidates fit in one recheck
        for at in range(0, len(doubt), step):
            some = doubt[at : at + step]
            i, j = np.nonzero(g[some] <= limit[some, None])
            for k in range(0, len(i), _DCR_RECHECK_PAIRS):
                ii, jj = some[i[k : k + _DCR_RECHECK_PAIRS]], j[k : k + _DCR_RECHECK_PAIRS]
                diff = q[ii] - reference[jj]
                np.minimum.at(d2, ii, np.einsum("ij,ij->i", diff, diff))
        out[start : start + len(q)] = np.sqrt(d2)

    starts = range(0, m, block)
    workers = min(workers, len(starts))
    if workers == 1:
        for start in starts:
            run(start)
        return out[back]
    with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, starts))
    return out[back]


def _distance_stats(d: np.ndarray) -> dict[str, float]:
    return {
        "dcr_mean": float(d.mean()),
        "dcr_p5": float(np.percentile(d, 5)),
        "dcr_median": float(np.median(d)),
        "dcr_min": float(d.min()),
        "dcr_max": float(d.max()),
        "dcr_std": float(d.std()),
        "exact_copy_share": float(np.mean(d == 0.0)),
    }


class DistanceToClosestRecord(Metric):
    """DCR: mean Euclidean distance of each synthetic row to its closest training row.

    The space (see :class:`Encoder`) is fit on train only and includes the label, so a
    synthetic row that copies a training record but flips its class is at distance 1.
    ``aux['dcr_p5']`` is the 5th percentile of the same distances (CTAB-GAN's statistic;
    low values flag copying of a few records that the mean hides); ``exact_copy_share``
    counts distance exactly 0. Higher is more private (and, past a point, less faithful).
    """

    name: ClassVar[str] = "dcr"
    inputs = frozenset({"train", "syn"})
    family = "privacy"
    goal = "maximize"
    bounds = (0.0, float("inf"))

    def check(self, ctx: EvalContext) -> None:
        _check_synthetic(ctx)
        if len(ctx.train) == 0:
            raise NotApplicable("the training table is empty")

    def compute(self, ctx: EvalContext) -> MetricResult:
        assert ctx.syn is not None
        if len(ctx.syn) == 0:
            return MetricResult(float("nan"), dict(_NO_ROWS))
        enc = Encoder(ctx.train, ctx.schema)
        d = nearest_distances(enc.transform(ctx.train), enc.transform(ctx.syn))
        stats = _distance_stats(d)
        return MetricResult(stats["dcr_mean"], {**stats, "dims": enc.dim})


class DCRHoldoutShare(Metric):
    """Share of synthetic rows closer to train than to test (holdout); ideal 0.5.

    Train and test are each subsampled, without replacement and seeded by
    ``ctx.eval_seeds[0]``, to ``min(len(train), len(test))`` rows, so a generator that
    copies nothing is as close to one as to the other; every synthetic row is scored.
    Distances are measured in the DCR space fit on the full train. A tie (equally close,
    e.g. identical real rows in both samples) counts one half, so ties pull towards 0.5
    rather than flag copying. A copy of the train sample scores 1, of the test sample 0.
    """

    name: ClassVar[str] = "dcr_holdout"
    inputs = frozenset({"train", "test", "syn"})
    family = "privacy"
    goal = "target"
    target_value: ClassVar[float] = 0.5
    bounds = (0.0, 1.0)

    def check(self, ctx: EvalContext) -> None:
        _check_synthetic(ctx)
        if len(ctx.train) == 0 or len(ctx.test) == 0:
            raise NotApplicable("needs a non-empty train and test table")

    def compute(self, ctx: EvalContext) -> MetricResult:
        assert ctx.syn is not None
        if len(ctx.syn) == 0:
            return MetricResult(float("nan"), dict(_NO_ROWS))
        seed = ctx.eval_seeds[0] if ctx.eval_seeds else 0
        k = min(len(ctx.train), len(ctx.test))
        rng = np.random.default_rng(seed)
        tr_idx = np.sort(rng.choice(len(ctx.train), size=k, replace=False))
        te_idx = np.sort(rng.choice(len(ctx.test), size=k, replace=False))
        enc = Encoder(ctx.train, ctx.schema)
        syn = enc.transform(ctx.syn)
        d_train = nearest_distances(enc.transform(ctx.train.iloc[tr_idx]), syn)
        d_test = nearest_distances(enc.transform(ctx.test.iloc[te_idx]), syn)
        closer, ties = d_train < d_test, d_train == d_test
        share = float(closer.mean() + 0.5 * ties.mean())
        return MetricResult(
            share,
            {
                "closer_to_train": float(closer.mean()),
                "ties": float(ties.mean()),
                "sample_size": k,
                "seed": int(seed),
                "dcr_train_median": float(np.median(d_train)),
                "dcr_test_median": float(np.median(d_test)),
            },
        )
