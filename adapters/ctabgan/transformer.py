"""CTAB-GAN's mixed-type encoder and long-tail treatment (Zhao et al., 2021, Sec. 3).

Every row becomes one vector of spans:

* **categorical** (and boolean) column: a one-hot span over its training categories; a
  missing value is a category of its own.
* **continuous** column: mode-specific normalisation. A variational Gaussian mixture
  (scikit-learn's ``BayesianGaussianMixture``, Dirichlet-process prior) finds the column's
  modes; a value ``x`` is assigned the mode ``k`` of highest probability and encoded as the
  pair ``alpha = (x - mu_k) / (4 sigma_k)`` (one ``tanh`` entry, clipped to +-0.99) and
  ``beta`` = one-hot of ``k``.
* **mixed** column: a continuous column with *special values* (a point mass such as the zero
  of Insulin or capital-gain, and missing values). ``beta`` is one-hot over the special
  values, "missing" and the modes; a special value is encoded with ``alpha = 0`` and its own
  ``beta`` entry, so it comes back exactly. The mixture is fitted on the other values only.
* **long tail**: for columns named in ``log_columns`` the continuous part is modelled as
  ``log(x)`` (``log(x - l + 1)`` when its lower bound ``l`` is not positive) before the
  mixture, and mapped back after decoding.

Which numeric columns are mixed: the paper leaves it to the user; here ``mixed_columns``
names them with their special values, and otherwise a value is special when it alone holds
at least ``mixed_share`` of a numeric column with more than 10 distinct values. Missing
values always make a column mixed. Decoding clips the continuous part to its training
range and rounds integer columns. Choices where the paper is silent follow CTGAN's
normalisation: at most 10 modes, modes with weight below 0.005 dropped, concentration prior
0.001.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from bench.errors import UserError
from bench.schema import Column, Schema, cast_column, observed_categories, py_scalar

#: A value that alone holds this share of a numeric column is special (see module doc).
MIXED_SHARE = 0.25
#: Columns with at most this many distinct values are left to the mixture (modes = values).
MIN_DISTINCT_FOR_MIXED = 10
ALPHA_CLIP = 0.99


@dataclass(frozen=True)
class Span:
    """A slice of the encoded row: one ``tanh`` scalar or one ``softmax`` one-hot block."""

    column: str
    start: int
    width: int
    activation: Literal["tanh", "softmax"]

    @property
    def stop(self) -> int:
        return self.start + self.width


@dataclass
class CategoricalCode:
    column: Column
    categories: list[Any]  # training categories in code order
    has_missing: bool  # the last code stands for NaN

    @property
    def width(self) -> int:
        return len(self.categories) + int(self.has_missing)


@dataclass
class NumericCode:
    """A continuous or mixed column: special values, a missing slot, then the modes."""

    column: Column
    special: list[float]
    has_missing: bool
    means: np.ndarray = field(default_factory=lambda: np.zeros(0))
    stds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    log_weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    log_offset: float | None = None  # None: no log transform
    lo: float = 0.0  # range of the continuous part, for clipping
    hi: float = 0.0

    @property
    def n_fixed(self) -> int:
        """beta entries before the modes: special values and "missing"."""
        return len(self.special) + int(self.has_missing)

    @property
    def width(self) -> int:
        return self.n_fixed + len(self.means)


class MixedTypeEncoder:
    """Encodes a table into CTAB-GAN's row vectors and decodes generated vectors back."""

    def __init__(
        self,
        max_modes: int = 10,
        weight_threshold: float = 0.005,
        mixed_share: float | None = MIXED_SHARE,
        mixed_columns: dict[str, list[float]] | None = None,
        log_columns: tuple[str, ...] | list[str] = (),
        seed: int = 0,
    ) -> None:
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.mixed_share = mixed_share
        self.mixed_columns = mixed_columns
        self.log_columns = log_columns
        self.seed = seed

    # ---- fit ---------------------------------------------------------------------------

    def fit(self, table: pd.DataFrame, schema: Schema) -> MixedTypeEncoder:
        for name in [*(self.mixed_columns or {}), *self.log_columns]:
            if name not in schema or not schema[name].is_numeric:
                raise UserError(
                    f"ctabgan: '{name}' in mixed_columns/log_columns is not a numeric column "
                    "of the dataset: name integer or float columns only"
                )
        self.schema_ = schema
        self.codes_: list[CategoricalCode | NumericCode] = []
        self.spans_: list[Span] = []
        start = 0
        for col in schema.columns:
            code = (
                self._fit_numeric(col, table[col.name])
                if col.is_numeric
                else _fit_categorical(col, table[col.name])
            )
            self.codes_.append(code)
            if isinstance(code, NumericCode):
                self.spans_.append(Span(col.name, start, 1, "tanh"))
                start += 1
            self.spans_.append(Span(col.name, start, code.width, "softmax"))
            start += code.width
        self.width_ = start
        return self

    def _fit_numeric(self, col: Column, s: pd.Series) -> NumericCode:
        values = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")
        missing = np.isnan(values)
        special = self._special_values(col.name, values[~missing])
        rest = values[~missing & ~np.isin(values, special)]
        if 0 < len(np.unique(rest)) < 2:  # one value left: a point mass, not a mixture
            special = sorted([*special, float(rest[0])])
            rest = rest[:0]
        code = NumericCode(col, special, bool(missing.any()))
        if len(rest) == 0:
            return code
        code.lo, code.hi = float(rest.min()), float(rest.max())
        if col.name in self.log_columns:
            code.log_offset = 0.0 if code.lo > 0 else 1.0 - code.lo
            rest = np.log(rest + code.log_offset)
        code.means, code.stds, code.log_weights = self._fit_modes(rest)
        return code

    def _special_values(self, name: str, values: np.ndarray) -> list[float]:
        if self.mixed_columns is not None and name in self.mixed_columns:
            return sorted(float(v) for v in self.mixed_columns[name])
        if self.mixed_share is None or len(values) == 0:
            return []
        uniq, counts = np.unique(values, return_counts=True)
        if len(uniq) <= MIN_DISTINCT_FOR_MIXED:
            return []
        return [float(v) for v in uniq[counts >= self.mixed_share * len(values)]]

    def _fit_modes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Means, standard deviations and log weights of the kept modes (weight > threshold)."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture

        n_components = int(min(self.max_modes, len(np.unique(x))))
        vgm = BayesianGaussianMixture(
            n_components=n_components,
            weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=0.001,
            max_iter=100,
            n_init=1,
            random_state=self.seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            vgm.fit(x.reshape(-1, 1))
        keep = vgm.weights_ > self.weight_threshold
        if not keep.any():
            keep = vgm.weights_ == vgm.weights_.max()
        means = vgm.means_.ravel()[keep]
        stds = np.maximum(np.sqrt(vgm.covariances_.ravel()[keep]), 1e-6)
        log_weights = np.log(vgm.weights_[keep])
        # a mode is only useful if some value is assigned to it
        used = np.unique(_most_probable_mode(x, means, stds, log_weights))
        return means[used], stds[used], log_weights[used]

    # ---- transform -------------------------------------------------------------------

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """Rows as float64 vectors of width ``width_`` (the layout of ``spans_``)."""
        out = np.zeros((len(table), self.width_), dtype="float64")
        spans = iter(self.spans_)
        for code in self.codes_:
            s = table[code.column.name]
            if isinstance(code, NumericCode):
                alpha_span, beta_span = next(spans), next(spans)
                alpha, index = _encode_numeric(code, s)
                out[:, alpha_span.start] = alpha
                out[np.arange(len(s)), beta_span.start + index] = 1.0
            else:
                span = next(spans)
                out[np.arange(len(s)), span.start + _encode_categorical(code, s)] = 1.0
        return out

    def inverse_transform(self, matrix: np.ndarray) -> pd.DataFrame:
        """Vectors -> a table in the schema's columns, order and storage dtypes.

        One-hot blocks are read by their largest entry, so generator outputs (softmax or
        Gumbel-softmax samples) decode directly.
        """
        matrix = np.asarray(matrix, dtype="float64")
        out: dict[str, pd.Series] = {}
        spans = iter(self.spans_)
        for code in self.codes_:
            if isinstance(code, NumericCode):
                alpha_span, beta_span = next(spans), next(spans)
                index = matrix[:, beta_span.start : beta_span.stop].argmax(axis=1)
                values = _decode_numeric(code, matrix[:, alpha_span.start], index)
            else:
                span = next(spans)
                index = matrix[:, span.start : span.stop].argmax(axis=1)
                values = np.array([*code.categories, np.nan], dtype=object)[index]
            out[code.column.name] = cast_column(values, code.column.dtype)
        return pd.DataFrame(out)

    # ---- layout --------------------------------------------------------------------

    def condition_spans(self) -> list[Span]:
        """The one-hot spans the conditional vector covers: categories and modes (width > 1)."""
        return [s for s in self.spans_ if s.activation == "softmax" and s.width > 1]

    def span_of(self, name: str) -> Span:
        """The one-hot span of a column (its ``beta`` for a numeric one)."""
        return next(s for s in self.spans_ if s.column == name and s.activation == "softmax")


# ---- per-column encoding ----------------------------------------------------------------


def _fit_categorical(col: Column, s: pd.Series) -> CategoricalCode:
    return CategoricalCode(col, observed_categories(col, s), bool(s.isna().any()))


def _encode_categorical(code: CategoricalCode, s: pd.Series) -> np.ndarray:
    index = {v: i for i, v in enumerate(code.categories)}
    nan_code = len(code.categories)
    out = np.empty(len(s), dtype="int64")
    for i, v in enumerate(s.astype(object)):
        if pd.isna(v):
            if not code.has_missing:
                raise ValueError(f"column '{code.column.name}' had no missing value in train")
            out[i] = nan_code
        else:
            out[i] = index[py_scalar(v)]
    return out


def _encode_numeric(code: NumericCode, s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """alpha and the beta index of every value."""
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")
    alpha = np.zeros(len(x))
    index = np.zeros(len(x), dtype="int64")
    missing = np.isnan(x)
    if missing.any() and not code.has_missing:
        raise ValueError(f"column '{code.column.name}' had no missing value in train")
    index[missing] = len(code.special)
    special = np.zeros(len(x), dtype=bool)
    for j, value in enumerate(code.special):
        hit = ~missing & (x == value)
        index[hit] = j
        special |= hit
    rest = ~missing & ~special
    if rest.any():
        if len(code.means) == 0:
            raise ValueError(f"column '{code.column.name}' held only special values in train")
        v = x[rest]
        if code.log_offset is not None:
            v = np.log(np.maximum(v + code.log_offset, 1e-12))
        k = _most_probable_mode(v, code.means, code.stds, code.log_weights)
        alpha[rest] = np.clip((v - code.means[k]) / (4 * code.stds[k]), -ALPHA_CLIP, ALPHA_CLIP)
        index[rest] = code.n_fixed + k
    return alpha, index


def _decode_numeric(code: NumericCode, alpha: np.ndarray, index: np.ndarray) -> np.ndarray:
    values = np.full(len(index), np.nan)
    for j, value in enumerate(code.special):
        values[index == j] = value
    modes = index >= code.n_fixed
    if modes.any():
        k = index[modes] - code.n_fixed
        v = np.clip(alpha[modes], -1, 1) * 4 * code.stds[k] + code.means[k]
        if code.log_offset is not None:
            v = np.exp(np.minimum(v, 700)) - code.log_offset
        values[modes] = np.clip(v, code.lo, code.hi)
    if code.column.kind == "integer":
        values = np.round(values)
    return values


def _most_probable_mode(
    v: np.ndarray, means: np.ndarray, stds: np.ndarray, log_weights: np.ndarray
) -> np.ndarray:
    """Index of the mode of highest posterior probability (weight x Gaussian density)."""
    z = (v[:, None] - means[None, :]) / stds[None, :]
    log_post = log_weights[None, :] - np.log(stds)[None, :] - 0.5 * z**2
    return log_post.argmax(axis=1)
