"""SMOTE as a whole-table synthesizer: the interpolation baseline of TabDDPM.

Kotelnikov et al. (2023, "TabDDPM: Modelling Tabular Data with Diffusion Models") showed that
plain SMOTE, used to generate a whole table class by class, is a strong baseline for
machine-learning efficiency, and that it copies training rows closely (its DCR is low). A
benchmark of generators needs it as the "no model at all" reference point between the real
data and the learned synthesizers.

How a row is made: pick a training row of class ``c``, pick one of its ``k`` nearest
neighbours *of the same class*, and interpolate the numeric features at a uniform random point
between the two. Categorical features take the most common category among the row's ``k``
neighbours (SMOTE-NC). The work is done by imbalanced-learn: ``SMOTENC`` for mixed tables,
``SMOTE`` when every feature is numeric, ``SMOTEN`` when every feature is categorical (there
every feature is the neighbours' most common category, with neighbours found by the value
difference metric). For each class ``c`` a one-vs-rest label ``y == c`` is resampled with
``sampling_strategy={c: count_c + n_c}`` and only the ``n_c`` appended rows are kept, so
``generate(n)`` returns exactly ``n`` rows split over classes as in train
(:func:`bench.synthesizer.class_allocation`).

Details:

* Numeric features are divided by a power of two close to their training range before the
  neighbour search (TabDDPM min-max scales for the same reason: otherwise the widest column
  decides the neighbours). Power-of-two scaling is exact in floating point, so values come
  back bit-for-bit where two rows agree.
* ``k = min(k_neighbors, count_c - 1)``; a class with a single training row has no neighbour
  to interpolate with, so that row is replicated ``n_c`` times.
* Missing categorical values are a category of their own during resampling and come back as
  NaN. A missing numeric value is filled with the train median and flagged in an added
  categorical indicator column; the value is set back to NaN where the generated indicator
  says missing.
* ``SMOTEN`` (all-categorical tables) builds a dense class-by-class distance matrix, so its
  memory grows with the square of the largest class.
* Output: the schema's columns in schema order and storage dtypes; integer columns rounded;
  categorical values are always values of the training table. Rows are shuffled.

The interpolation range is fixed at [0, 1): imbalanced-learn exposes no parameter for it
(TabDDPM's ``lam1``/``lam2`` override a private method), so this adapter offers none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.schema import Column, Schema, cast_column, observed_categories, py_scalar
from bench.synthesizer import Synthesizer, class_allocation

#: scikit-learn's ``working_memory`` (MiB) for the chunked nearest-neighbour search.
_WORKING_MEMORY_MIB = 64


@dataclass
class _Fitted:
    """What :meth:`SMOTE.fit` keeps: the encoded training matrix and how to decode it."""

    schema: Schema
    matrix: np.ndarray  # numeric columns (scaled) first, then categorical codes
    n_numeric: int  # leading columns of ``matrix`` that are numeric
    numeric: list[Column]  # feature columns that are numeric, in matrix order
    scales: np.ndarray  # power-of-two divisor of each numeric column
    indicators: dict[str, int]  # numeric column with missing values -> its indicator column
    categorical: list[tuple[Column, int, list[Any]]]  # column, matrix index, categories
    labels: np.ndarray  # class index of each training row
    classes: list[Any]  # class values, in order of ``labels``
    allocation_labels: pd.Series  # the training target, for class_allocation


class SMOTE(Synthesizer):
    """Per-class SMOTE / SMOTE-NC / SMOTE-N over the whole table (TabDDPM's baseline)."""

    name: ClassVar[str] = "smote"
    label: ClassVar[str] = "SMOTE"
    description: ClassVar[str] = (
        "SMOTE interpolation between same-class nearest neighbours (TabDDPM baseline)"
    )
    packages: ClassVar[tuple[str, ...]] = ("imbalanced-learn", "scikit-learn")

    def __init__(self, k_neighbors: int = 5) -> None:
        self.k_neighbors = k_neighbors

    # ------------------------------------------------------------------ fit

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> SMOTE:
        """Encode ``train`` for imbalanced-learn; the resampling itself happens in generate.

        ``seed`` is unused: fitting draws nothing at random.
        """
        import imblearn  # noqa: F401  (fail here, not in generate, if it is missing)

        k = self.k_neighbors
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k_neighbors must be a positive integer, got {k!r}")
        if len(train) == 0:
            raise ValueError("SMOTE cannot fit an empty training table")

        features = schema.features
        numeric = [c for c in features if c.is_numeric]
        categorical_cols = [c for c in features if not c.is_numeric]

        num_blocks: list[np.ndarray] = []
        scales: list[float] = []
        indicator_blocks: list[np.ndarray] = []
        indicator_of: list[str] = []
        for col in numeric:
            values = pd.to_numeric(train[col.name], errors="coerce").to_numpy(dtype="float64")
            missing = np.isnan(values)
            if missing.any():
                median = float(np.nanmedian(values)) if not missing.all() else 0.0
                values = np.where(missing, median, values)
                indicator_blocks.append(missing.astype("float64"))
                indicator_of.append(col.name)
            scale = _power_of_two_scale(values)
            num_blocks.append(values / scale)
            scales.append(scale)

        cat_blocks: list[np.ndarray] = []
        categorical: list[tuple[Column, int, list[Any]]] = []
        position = len(numeric)
        for col in categorical_cols:
            cats = observed_categories(col, train[col.name])
            codes = _encode(train[col.name], cats)
            cat_blocks.append(codes.astype("float64"))
            categorical.append((col, position, cats))
            position += 1
        indicators = {}
        for name, block in zip(indicator_of, indicator_blocks, strict=True):
            cat_blocks.append(block)
            indicators[name] = position
            position += 1

        blocks = num_blocks + cat_blocks
        matrix = np.column_stack(blocks) if blocks else np.empty((len(train), 0), dtype="float64")

        target = train[schema.target].reset_index(drop=True)
        classes = list(pd.unique(target))
        class_index = {value: i for i, value in enumerate(classes)}
        labels = target.map(class_index).to_numpy(dtype="int64")

        self.fitted_ = _Fitted(
            schema=schema,
            matrix=matrix,
            n_numeric=len(numeric),
            numeric=numeric,
            scales=np.asarray(scales, dtype="float64"),
            indicators=indicators,
            categorical=categorical,
            labels=labels,
            classes=classes,
            allocation_labels=target,
        )
        return self

    # ------------------------------------------------------------- generate

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        """Exactly ``n`` rows, classes in the training proportions; deterministic per seed."""
        fitted: _Fitted | None = getattr(self, "fitted_", None)
        if fitted is None:
            raise RuntimeError("call fit() before generate()")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")

        allocation = class_allocation(fitted.allocation_labels, n)
        # One independent random stream per class, and one for the final shuffle.
        seeds = np.random.SeedSequence(seed & (2**64 - 1)).spawn(len(fitted.classes) + 1)
        blocks: list[np.ndarray] = []
        block_labels: list[np.ndarray] = []
        for ci, value in enumerate(fitted.classes):
            n_c = allocation.get(value, 0)
            if n_c == 0:
                continue
            random_state = int(seeds[ci].generate_state(1)[0])
            blocks.append(self._generate_class(fitted, ci, n_c, random_state))
            block_labels.append(np.full(n_c, ci, dtype="int64"))

        width = fitted.matrix.shape[1]
        rows = np.vstack(blocks) if blocks else np.empty((0, width), dtype="float64")
        labels = np.concatenate(block_labels) if block_labels else np.empty(0, dtype="int64")
        order = np.random.default_rng(seeds[-1]).permutation(len(rows))
        return self._decode(fitted, rows[order], labels[order])

    def _generate_class(self, fitted: _Fitted, ci: int, n_c: int, random_state: int) -> np.ndarray:
        """``n_c`` new encoded rows of class ``ci`` (imbalanced-learn's appended rows)."""
        X = fitted.matrix
        members = np.flatnonzero(fitted.labels == ci)
        count = len(members)
        if count == 1 or X.shape[1] == 0:
            # Nothing to interpolate with (or nothing to interpolate): replicate rows.
            rng = np.random.default_rng(random_state)
            return X[members[rng.integers(0, count, size=n_c)]]

        y = (fitted.labels == ci).astype("int64")
        if y.min() == 1:
            # A single-class table: imbalanced-learn needs a "rest"; give it a copy of a row
            # labelled 0 (it is never a neighbour: neighbours are searched within class 1).
            X = np.vstack([X, X[:1]])
            y = np.append(y, 0)
        k = min(int(self.k_neighbors), count - 1)
        strategy = {1: count + n_c}
        n_numeric = fitted.n_numeric
        n_categorical = X.shape[1] - n_numeric

        from imblearn.over_sampling import SMOTE as ImbSMOTE
        from imblearn.over_sampling import SMOTEN, SMOTENC
        from sklearn import config_context

        sampler: Any
        if n_categorical == 0:
            sampler = ImbSMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=random_state)
        elif n_numeric == 0:
            sampler = SMOTEN(sampling_strategy=strategy, k_neighbors=k, random_state=random_state)
        else:
            sampler = SMOTENC(
                categorical_features=list(range(n_numeric, X.shape[1])),
                sampling_strategy=strategy,
                k_neighbors=k,
                random_state=random_state,
            )
        # Small chunks for the neighbour search: same result, a fraction of the memory
        # (Adult: about 0.4 GiB peak instead of 2.3 GiB with the default 1 GiB), and faster.
        with config_context(working_memory=_WORKING_MEMORY_MIB):
            X_res, _ = sampler.fit_resample(X, y)
        new = np.asarray(X_res, dtype="float64")[len(X) :]
        if len(new) != n_c:  # imbalanced-learn appends exactly the requested rows
            raise RuntimeError(f"imbalanced-learn returned {len(new)} new rows, expected {n_c}")
        return new

    # --------------------------------------------------------------- decode

    @staticmethod
    def _decode(fitted: _Fitted, rows: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
        """Encoded rows -> a table in the schema's columns, order and storage dtypes."""
        schema = fitted.schema
        out: dict[str, pd.Series] = {}
        for j, col in enumerate(fitted.numeric):
            values = rows[:, j] * fitted.scales[j]
            if col.name in fitted.indicators:
                missing = np.rint(rows[:, fitted.indicators[col.name]]) == 1
                values = np.where(missing, np.nan, values)
            if col.kind == "integer":
                values = np.round(values)
            out[col.name] = cast_column(values, col.dtype)
        for col, j, cats in fitted.categorical:
            codes = np.rint(rows[:, j]).astype("int64")
            table = np.array([*cats, np.nan], dtype=object)
            out[col.name] = cast_column(table[codes], col.dtype)
        target = schema[schema.target]
        classes = np.array(fitted.classes, dtype=object)
        out[target.name] = cast_column(classes[labels], target.dtype)
        return pd.DataFrame({name: out[name] for name in schema.names})


def _power_of_two_scale(values: np.ndarray) -> float:
    """A power of two within a factor sqrt(2) of the column's range (1 for a constant)."""
    span = float(np.max(values) - np.min(values)) if len(values) else 0.0
    if not np.isfinite(span) or span <= 0:
        return 1.0
    return float(2.0 ** np.round(np.log2(span)))


def _encode(values: pd.Series, cats: list[Any]) -> np.ndarray:
    """Category codes 0..len(cats)-1, and len(cats) for a missing value."""
    index = {value: i for i, value in enumerate(cats)}
    missing = len(cats)
    codes = [missing if pd.isna(v) else index[py_scalar(v)] for v in values.astype(object)]
    return np.array(codes, dtype="int64")
