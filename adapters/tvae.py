"""TVAE (Xu et al., 2019, "Modeling Tabular Data using Conditional GAN"), from the ctgan package.

The model is the ctgan package's ``TVAE``, untouched: mode-specific normalisation of numeric
columns (a variational Gaussian mixture per column), one-hot categoricals, an MLP encoder
and decoder, the ELBO with a per-column Gaussian / cross-entropy reconstruction term. This
adapter only translates between the benchmark's tables and the package's:

* categorical and boolean columns reach TVAE as category codes (``"c0"``, ``"c1"``, ...,
  ``"missing"`` for NaN), so every generated value is one of the training categories, in
  its original Python type;
* a numeric column with missing values is filled with its training median and gets an added
  discrete indicator column; the value is set back to NaN where the indicator says missing;
* numeric outputs are clipped to the training range (sdv's ``enforce_min_max_values``
  default), integer columns are rounded, and every column is cast to the schema's dtype.

Seeding: ``TVAE.set_random_state`` (numpy + torch states around fit and sample), and the
rdt transformers inside ctgan are reset to their own fixed seeds before sampling, so the
same seed gives the same table on CPU. On CPU torch runs one thread during fit and sample
(faster for these small networks on a busy machine, and independent of the core count).

Licence: ctgan and sdv are under the Business Source License 1.1 (see README, dependencies).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.device import resolve_device
from bench.errors import UserError
from bench.schema import Schema, cast_column, observed_categories, py_scalar
from bench.synthesizer import Synthesizer

#: The TVAE paper's / ctgan's defaults.
PAPER: dict[str, Any] = {
    "epochs": 300,
    "batch_size": 500,
    "embedding_dim": 128,
    "compress_dims": (128, 128),
    "decompress_dims": (128, 128),
    "l2scale": 1e-5,
    "loss_factor": 2.0,
}
#: Same model, fewer epochs: about 20 s on German on 2 CPU cores (100 epochs were unreliable:
#: Diabetes MLE 0.49-0.61 over seeds 1-3, against 0.72-0.74 at 200).
QUICK: dict[str, Any] = {**PAPER, "epochs": 200}

MISSING = "missing"


@dataclass
class _Codec:
    """How the benchmark's table maps onto the frame handed to ctgan, and back."""

    schema: Schema
    categories: dict[str, list[Any]]  # categorical column -> training categories (code order)
    medians: dict[str, float]  # numeric column with missing values -> fill value
    bounds: dict[str, tuple[float, float]]  # numeric column -> training (min, max)

    @staticmethod
    def indicator(name: str) -> str:
        return f"{name}__missing"

    def discrete(self) -> list[str]:
        return [*self.categories, *(self.indicator(n) for n in self.medians)]

    def encode(self, train: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, pd.Series] = {}
        for col in self.schema.columns:
            s = train[col.name].reset_index(drop=True)
            if col.name in self.categories:
                index = {v: f"c{i}" for i, v in enumerate(self.categories[col.name])}
                out[col.name] = s.astype(object).map(
                    lambda v, index=index: MISSING if pd.isna(v) else index[py_scalar(v)]
                )
            else:
                values = pd.to_numeric(s, errors="coerce").astype("float64")
                if col.name in self.medians:
                    out[self.indicator(col.name)] = values.isna().map({True: "yes", False: "no"})
                    values = values.fillna(self.medians[col.name])
                out[col.name] = values
        return pd.DataFrame(out)

    def decode(self, raw: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, pd.Series] = {}
        for col in self.schema.columns:
            s = raw[col.name].reset_index(drop=True)
            if col.name in self.categories:
                table = {f"c{i}": v for i, v in enumerate(self.categories[col.name])}
                values = s.astype(str).map(table)  # "missing" (or anything else) -> NaN
                out[col.name] = cast_column(values.to_numpy(dtype=object), col.dtype)
                continue
            values = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")
            lo, hi = self.bounds[col.name]
            values = np.clip(values, lo, hi)
            if col.kind == "integer":
                values = np.round(values)
            if col.name in self.medians:
                missing = raw[self.indicator(col.name)].astype(str).to_numpy() == "yes"
                values = np.where(missing, np.nan, values)
            out[col.name] = cast_column(values, col.dtype)
        return pd.DataFrame(out)


class TVAE(Synthesizer):
    """TVAE: a variational autoencoder over mode-normalised rows (ctgan package)."""

    name: ClassVar[str] = "tvae"
    label: ClassVar[str] = "TVAE"
    description: ClassVar[str] = "variational autoencoder for tables (Xu et al., 2019; ctgan)"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"quick": QUICK, "paper": PAPER}
    packages: ClassVar[tuple[str, ...]] = ("ctgan", "rdt", "torch")

    def __init__(
        self,
        epochs: int = 300,
        batch_size: int = 500,
        embedding_dim: int = 128,
        compress_dims: tuple[int, ...] = (128, 128),
        decompress_dims: tuple[int, ...] = (128, 128),
        l2scale: float = 1e-5,
        loss_factor: float = 2.0,
        device: str = "auto",
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.l2scale = l2scale
        self.loss_factor = loss_factor
        self.device = device

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> TVAE:
        """Encode ``train`` for ctgan and fit its TVAE with numpy/torch seeded by ``seed``."""
        self._check_params()
        missing = [c for c in schema.names if c not in train.columns]
        if missing:
            raise UserError(f"training table lacks schema columns {missing}: pass the full split")
        if len(train) < 2:
            raise UserError("TVAE needs at least 2 training rows: use a larger training split")
        import joblib
        import torch
        from ctgan import TVAE as CTGANTVAE

        device = resolve_device(self.device)
        self.codec_ = _make_codec(train, schema)
        frame = self.codec_.encode(train)
        self.model_ = CTGANTVAE(
            embedding_dim=int(self.embedding_dim),
            compress_dims=tuple(int(d) for d in self.compress_dims),
            decompress_dims=tuple(int(d) for d in self.decompress_dims),
            l2scale=float(self.l2scale),
            batch_size=int(self.batch_size),
            epochs=int(self.epochs),
            loss_factor=float(self.loss_factor),
            enable_gpu=device == "cuda",
        )
        self.model_.set_random_state(int(seed) % 2**32)
        # ctgan transforms tables of >= 500 rows with joblib worker processes: spawning
        # them costs seconds (7 s on German) for a transform that takes 0.1 s in-process
        with joblib.parallel_config(backend="sequential"), _cpu_threads(device, torch):
            self.model_.fit(frame, discrete_columns=self.codec_.discrete())
        self.device_ = device
        return self

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        """Exactly ``n`` rows in the schema's columns and dtypes; the same seed, the same rows."""
        model = getattr(self, "model_", None)
        if model is None:
            raise RuntimeError("call fit() before generate()")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return pd.DataFrame(
                {c.name: pd.Series(dtype=c.dtype) for c in self.codec_.schema.columns}
            )
        for info in model.transformer._column_transform_info_list:
            info.transform.reset_randomization()  # rdt's own seeded streams, per sample call
        model.set_random_state(int(seed) % 2**32)
        import torch

        with _cpu_threads(self.device_, torch):
            raw = model.sample(int(n))
        return self.codec_.decode(raw)

    def report(self) -> dict[str, Any]:
        """Mean training loss of the first and last epochs, and the device used."""
        model = getattr(self, "model_", None)
        if model is None or model.loss_values.empty:
            return {}
        per_epoch = model.loss_values.groupby("Epoch")["Loss"].mean()
        return {
            "loss_first": float(per_epoch.iloc[0]),
            "loss_last": float(per_epoch.iloc[-1]),
            "device": self.device_,
        }

    def _check_params(self) -> None:
        for key in ("epochs", "batch_size", "embedding_dim"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise UserError(f"tvae.{key} must be a positive integer, got {value!r}")
        for key in ("compress_dims", "decompress_dims"):
            dims = getattr(self, key)
            if not isinstance(dims, (list, tuple)) or not all(
                isinstance(d, (int, np.integer)) and d >= 1 for d in dims
            ):
                raise UserError(f"tvae.{key} must be a list of positive integers, got {dims!r}")


def _make_codec(train: pd.DataFrame, schema: Schema) -> _Codec:
    categories: dict[str, list[Any]] = {}
    medians: dict[str, float] = {}
    bounds: dict[str, tuple[float, float]] = {}
    for col in schema.columns:
        s = train[col.name]
        if not col.is_numeric:
            categories[col.name] = observed_categories(col, s)
            continue
        values = pd.to_numeric(s, errors="coerce").astype("float64")
        if values.isna().all():
            raise UserError(
                f"column '{col.name}' has no numeric value in train: drop it or declare it "
                "categorical"
            )
        if values.isna().any():
            medians[col.name] = float(values.median())
        bounds[col.name] = (float(values.min()), float(values.max()))
    return _Codec(schema, categories, medians, bounds)


@contextmanager
def _cpu_threads(device: str, torch: Any) -> Iterator[None]:
    """One torch thread on CPU, restored afterwards.

    TVAE's networks are small MLPs: on a loaded 2-core machine a second thread costs more
    than it gives, and one thread makes the results independent of the core count.
    """
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
