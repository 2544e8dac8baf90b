"""CTAB-GAN (Zhao et al., 2021, "CTAB-GAN: Effective Table Data Synthesizing", ACML), written
for this project from the paper. No code was taken from any repository.

A conditional GAN for tables whose pieces live in small modules:

* :mod:`.transformer`: the mixed-type encoder (mode-specific normalisation with a
  variational Gaussian mixture for continuous and mixed columns, one-hot categoricals) and
  the optional log transform for long-tailed columns;
* :mod:`.sampler`: the conditional vector over categories *and* modes, with
  training-by-sampling (log-frequency);
* :mod:`.networks`: the convolutional generator and discriminator over rows reshaped into
  square matrices, and the MLP auxiliary classifier;
* :mod:`.train`: the losses (original GAN, information, classification, conditional
  generator loss) and the training and sampling loops.

``fit`` encodes the table and trains; ``generate`` samples conditions with the training
frequencies, runs the generator and decodes: the schema's columns in their storage dtypes,
every categorical value one of train's, special values of mixed columns exact, numeric
values inside the training range, exactly ``n`` rows.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.device import resolve_device
from bench.errors import UserError
from bench.schema import Schema
from bench.synthesizer import Synthesizer

#: The paper's settings: 150 epochs, batch 500, noise 100, 64 base channels, classifier 4x256.
PAPER: dict[str, Any] = {
    "epochs": 150,
    "batch_size": 500,
    "noise_dim": 100,
    "channels": 64,
    "class_dims": (256, 256, 256, 256),
    "lr": 2e-4,
    "weight_decay": 1e-5,
}
#: Same networks and losses, fewer epochs, batches of 100 (so small tables still get several
#: steps an epoch): about a minute on German on 2 CPU cores. Diabetes MLE over seeds 1-2:
#: 0.61-0.62 at 30 epochs, 0.67-0.71 at 60 (majority class 0.51, Original 0.77).
QUICK: dict[str, Any] = {**PAPER, "epochs": 50, "batch_size": 100}


class CTABGAN(Synthesizer):
    """CTAB-GAN: conditional table GAN with mixed-type encoder, information and class losses."""

    name: ClassVar[str] = "ctabgan"
    label: ClassVar[str] = "CTAB-GAN"
    description: ClassVar[str] = (
        "conditional table GAN with mixed-type encoder (Zhao et al., 2021; from the paper)"
    )
    presets: ClassVar[dict[str, dict[str, Any]]] = {"quick": QUICK, "paper": PAPER}
    packages: ClassVar[tuple[str, ...]] = ("torch", "scikit-learn")

    def __init__(
        self,
        epochs: int = 150,
        batch_size: int = 500,
        noise_dim: int = 100,
        channels: int = 64,
        class_dims: tuple[int, ...] = (256, 256, 256, 256),
        lr: float = 2e-4,
        weight_decay: float = 1e-5,
        max_modes: int = 10,
        mixed_columns: dict[str, list[float]] | None = None,
        mixed_share: float | None = 0.25,
        log_columns: tuple[str, ...] = (),
        device: str = "auto",
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.noise_dim = noise_dim
        self.channels = channels
        self.class_dims = class_dims
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_modes = max_modes
        self.mixed_columns = mixed_columns
        self.mixed_share = mixed_share
        self.log_columns = log_columns
        self.device = device

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> CTABGAN:
        """Encode ``train`` (mixed-type encoder) and train G, D and C with ``seed``."""
        self._check_params()
        missing = [c for c in schema.names if c not in train.columns]
        if missing:
            raise UserError(f"training table lacks schema columns {missing}: pass the full split")
        if len(train) < 2:
            raise UserError("CTAB-GAN needs at least 2 training rows: use a larger training split")
        from adapters.ctabgan import train as training
        from adapters.ctabgan.sampler import ConditionalSampler
        from adapters.ctabgan.transformer import MixedTypeEncoder

        device = resolve_device(self.device)
        seed = int(seed) % 2**32
        train = train.reset_index(drop=True)
        self.encoder_ = MixedTypeEncoder(
            max_modes=int(self.max_modes),
            mixed_share=self.mixed_share,
            mixed_columns=self.mixed_columns,
            log_columns=tuple(self.log_columns),
            seed=seed,
        ).fit(train, schema)
        data = self.encoder_.transform(train)
        self.sampler_ = ConditionalSampler(data, self.encoder_.condition_spans())
        target = self.encoder_.span_of(schema.target)
        config = training.TrainConfig(
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            noise_dim=int(self.noise_dim),
            channels=int(self.channels),
            class_dims=tuple(int(d) for d in self.class_dims),
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
        )
        self.trained_ = training.train(
            data,
            self.encoder_.spans_,
            self.sampler_,
            target if target.width > 1 else None,
            config,
            seed,
            device,
        )
        return self

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        """Exactly ``n`` rows in the schema's columns and dtypes; the same seed, the same rows."""
        trained = getattr(self, "trained_", None)
        if trained is None:
            raise RuntimeError("call fit() before generate()")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        from adapters.ctabgan.train import sample

        rows = sample(trained, int(n), self.sampler_, int(seed) % 2**32)
        return self.encoder_.inverse_transform(rows)

    def report(self) -> dict[str, Any]:
        """Losses of the first and last epochs, matrix sides, mixed columns, device."""
        trained = getattr(self, "trained_", None)
        if trained is None:
            return {}
        from adapters.ctabgan.transformer import NumericCode

        return {
            "loss_first": {k: v[0] for k, v in trained.history.items() if v},
            "loss_last": {k: v[-1] for k, v in trained.history.items() if v},
            "sides": trained.sides,
            "row_width": trained.width,
            "condition_width": self.sampler_.dim,
            "mixed_columns": {
                c.column.name: [*c.special, *(["missing"] if c.has_missing else [])]
                for c in self.encoder_.codes_
                if isinstance(c, NumericCode) and c.n_fixed
            },
            "device": trained.device,
        }

    def _check_params(self) -> None:
        for key in ("epochs", "batch_size", "noise_dim", "channels", "max_modes"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise UserError(f"ctabgan.{key} must be a positive integer, got {value!r}")
        dims = self.class_dims
        if not isinstance(dims, (list, tuple)) or not all(
            isinstance(d, (int, np.integer)) and d >= 1 for d in dims
        ):
            raise UserError(f"ctabgan.class_dims must be a list of positive integers, got {dims!r}")
        share = self.mixed_share
        if share is not None and not (isinstance(share, (int, float)) and 0 < share <= 1):
            raise UserError(f"ctabgan.mixed_share must be in (0, 1] or None, got {share!r}")
        logs = self.log_columns
        if not isinstance(logs, (list, tuple)) or not all(isinstance(c, str) for c in logs):
            raise UserError(
                f"ctabgan.log_columns must be a list of column names, got {logs!r}: "
                "write e.g. --param 'ctabgan.log_columns=[\"Insulin\"]'"
            )
        if self.mixed_columns is not None and not isinstance(self.mixed_columns, dict):
            raise UserError(
                "ctabgan.mixed_columns must map column names to lists of special values, "
                f"got {self.mixed_columns!r}"
            )


__all__ = ["CTABGAN"]
