"""TabDDPM (Kotelnikov et al., 2023) through synthcity's ``ddpm`` plugin, in its own env.

TabDDPM diffuses a table: numeric features, quantile-normalised, go through Gaussian
diffusion; categorical features, one-hot, through multinomial diffusion; one MLP denoiser
predicts both, conditioned on the timestep and, for classification, on the class label.
Sampling runs the reverse process for ``num_timesteps`` steps, with labels drawn from the
training class distribution.

synthcity 0.2.12 pins torch < 2.3 and numpy < 2, which cannot live beside the harness's
torch, so ``requirements`` makes the harness run this adapter inside its own virtual
environment (see :mod:`bench.envs`); this module is imported there, and only the names
below run in the harness itself.

What this adapter adds around the plugin, and why:

* Categorical columns of the schema are always multinomial, as in TabDDPM. synthcity's own
  rule (at most 10 distinct values) would diffuse a 14-category column's label codes as if
  they were numbers; for numeric columns its rule is kept.
* Every categorical column (the target included) reaches synthcity as codes 0..k-1, and comes
  back decoded to the schema's values and dtypes. The multinomial diffusion takes each value
  as a class index below k, and synthcity recodes a column only when it is text or has fewer
  than 15 values: codes 1..20, or number codes beside a text marker for missing, broke it.
* The target is passed as the label (``is_classification=True``); its label embedding needs
  those codes 0..k-1 too.
* Missing values: synthcity cannot fit them. A missing category becomes a category of its
  own (the last code); a missing number is filled with the median and flagged in an added
  indicator column, then set back to NaN where the generated flag says so.
* Exactly ``n`` rows: synthcity drops generated rows outside the training ranges and
  duplicates, so it can return fewer; generation is repeated (seeded) until ``n`` rows.
* Output in the schema's columns, order and storage dtypes; integer columns rounded.

Threads: torch runs on ``cpu_threads`` CPU threads (default 1). The denoiser is a small MLP
on a few hundred rows, so its operations are tiny: with 2 threads on 2 cores busy with other
work, an epoch on German cost 20 times the CPU time of one thread (spinning, not computing).

Seeds: ``fit`` seeds numpy, torch and ``random`` through the plugin's ``random_state``;
``generate`` re-seeds with its own seed, so on the CPU the same seeds give the same table.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.device import resolve_device
from bench.schema import Column, Schema, cast_column, is_missing, observed_categories, py_scalar
from bench.synthesizer import Synthesizer

#: The TabDDPM paper's training length with synthcity's default model. TabDDPM counts
#: optimiser steps: every tuned config in the authors' repository (``exp/*/ddpm_cb_best``)
#: trains 30,000 steps. synthcity's ``n_iter`` counts epochs instead (default 1000 at batch
#: 1024): 26,000 steps on Adult's 26,048 training rows, but only 1,000 on German's 700 rows,
#: a thirtieth of the paper's training. So ``steps`` is the parameter here, and ``fit`` turns
#: it into epochs from the table's size. Model and optimiser are synthcity's defaults (MLP
#: 3×256, lr 0.002 annealed to 0, AdamW weight decay 1e-4, 1000 diffusion steps).
PAPER: dict[str, Any] = {
    "steps": 30_000,
    "lr": 0.002,
    "weight_decay": 1e-4,
    "batch_size": 1024,
    "num_timesteps": 1000,
    "n_layers_hidden": 3,
    "n_units_hidden": 256,
    "dim_embed": 128,
    "device": "auto",
    "cpu_threads": 1,
}
#: The same model on the CPU, trained and sampled for less: 3,000 optimiser steps of
#: batches of 256 and 100 diffusion steps. Batch 256 and 100 steps are both in TabDDPM's
#: own search space. 1,000 steps learned Diabetes (MLE-CatBoost 0.780) but not Buddy (0.351,
#: against Original's 0.882); on Buddy 2,500 steps gave 0.844 and 3,000 gave 0.857.
QUICK: dict[str, Any] = {
    **PAPER,
    "steps": 3000,
    "batch_size": 256,
    "num_timesteps": 100,
    "device": "cpu",
}

#: numeric columns with at most this many distinct values are multinomial (synthcity's rule)
SYNTHCITY_DISCRETE_LIMIT = 10
FLAG = "__missing_flag__"
#: per categorical column, the value of each code 0..k-1 (``None``: the missing category)
Codes = dict[str, list[Any]]


class TabDDPM(Synthesizer):
    """TabDDPM: Gaussian + multinomial diffusion with an MLP denoiser (synthcity ``ddpm``)."""

    name: ClassVar[str] = "tabddpm"
    label: ClassVar[str] = "TabDDPM"
    description: ClassVar[str] = (
        "TabDDPM diffusion model via synthcity's ddpm plugin (Kotelnikov et al., 2023)"
    )
    presets: ClassVar[dict[str, dict[str, Any]]] = {"quick": QUICK, "paper": PAPER}
    packages: ClassVar[tuple[str, ...]] = ("synthcity", "torch")
    requirements: ClassVar[tuple[str, ...]] = (
        "synthcity==0.2.12",
        "torch==2.2.2",  # synthcity needs torch < 2.3; 2.2.2 is the last 2.2 release
        "numpy<2",  # synthcity 0.2.12 is built against numpy 1
        "opacus<1.5.3",  # later opacus releases need a newer torch than synthcity allows
    )

    def __init__(
        self,
        steps: int = 30_000,
        lr: float = 0.002,
        weight_decay: float = 1e-4,
        batch_size: int = 1024,
        num_timesteps: int = 1000,
        n_layers_hidden: int = 3,
        n_units_hidden: int = 256,
        dim_embed: int = 128,
        device: str = "auto",
        cpu_threads: int = 1,
        max_rounds: int = 20,
    ) -> None:
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
        for key, value in {
            "steps": steps,
            "batch_size": batch_size,
            "num_timesteps": num_timesteps,
            "n_layers_hidden": n_layers_hidden,
            "n_units_hidden": n_units_hidden,
            "dim_embed": dim_embed,
            "cpu_threads": cpu_threads,
            "max_rounds": max_rounds,
        }.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        self.steps = steps
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.num_timesteps = num_timesteps
        self.n_layers_hidden = n_layers_hidden
        self.n_units_hidden = n_units_hidden
        self.dim_embed = dim_embed
        self.device = device
        self.cpu_threads = cpu_threads
        self.max_rounds = max_rounds

    # ------------------------------------------------------------------ fit

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> TabDDPM:
        """Encode missing values, then train synthcity's ddpm plugin with the label as cond."""
        import time

        import torch
        from synthcity.plugins import Plugins
        from synthcity.plugins.core.dataloader import GenericDataLoader

        if len(train) == 0:
            raise ValueError("TabDDPM cannot fit an empty training table")
        device = torch.device(resolve_device(self.device))
        torch.set_num_threads(self.cpu_threads)
        table, self.fill_, self.codes_ = _encode(train.reset_index(drop=True), schema)
        discrete = [c.name for c in schema.columns if not c.is_numeric]
        discrete += [c for c in table.columns if c.endswith(FLAG)]
        self.schema_ = schema
        self.epochs_ = epochs_for_steps(self.steps, len(table), self.batch_size)
        workspace = tempfile.TemporaryDirectory(prefix="tabddpm-")  # synthcity's fit cache
        self.plugin_ = Plugins(categories=["generic"]).get(
            "ddpm",
            is_classification=True,
            n_iter=self.epochs_,
            lr=self.lr,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            num_timesteps=self.num_timesteps,
            model_type="mlp",
            model_params={
                "n_layers_hidden": self.n_layers_hidden,
                "n_units_hidden": self.n_units_hidden,
                "dropout": 0.0,
            },
            dim_embed=self.dim_embed,
            device=device,
            random_state=int(seed) % 2**32,
            workspace=Path(workspace.name),
        )
        loader = GenericDataLoader(table, target_column=schema.target)
        t0 = time.perf_counter()
        with workspace, _discrete_columns(discrete):
            self.plugin_.fit(loader)
        self.fit_s_ = time.perf_counter() - t0
        self.device_ = str(device)
        self.rounds_ = 0
        return self

    # ------------------------------------------------------------- generate

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        """Exactly ``n`` rows in the schema's dtypes (sampling repeated if synthcity drops)."""
        plugin = getattr(self, "plugin_", None)
        if plugin is None:
            raise RuntimeError("call fit() before generate()")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        import torch

        torch.set_num_threads(self.cpu_threads)
        parts: list[pd.DataFrame] = []
        have, rounds = 0, 0
        while have < n and rounds < self.max_rounds:
            # each round its own seed: a repeat of the same seed would redraw the same rows
            state = (int(seed) + 7919 * rounds) % 2**32
            part = plugin.generate(count=n - have, random_state=state).dataframe()
            parts.append(part)
            have += len(part)
            rounds += 1
        self.rounds_ = rounds
        raw = pd.concat(parts, ignore_index=True).head(n) if parts else pd.DataFrame()
        if len(raw) < n:
            raise RuntimeError(
                f"synthcity's ddpm returned {len(raw)} valid rows of {n} after {rounds} rounds: "
                "train longer (steps) or raise max_rounds"
            )
        return _decode(raw, self.schema_, self.fill_, self.codes_)

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if hasattr(self, "fit_s_"):
            out.update(fit_s=round(self.fit_s_, 2), device=self.device_, epochs=self.epochs_)
        if getattr(self, "rounds_", 0):
            out["generate_rounds"] = self.rounds_
        loss = getattr(getattr(self, "plugin_", None), "loss_history", None)
        if isinstance(loss, pd.DataFrame) and len(loss):
            out["final_loss"] = {k: float(v) for k, v in loss.iloc[-1].items()}
        return out


# ---- helpers ----------------------------------------------------------------------------------


def batches_per_epoch(rows: int, batch_size: int) -> int:
    """Optimiser steps in one epoch of synthcity's loop: every batch, the last one short."""
    return -(-rows // batch_size)


def epochs_for_steps(steps: int, rows: int, batch_size: int) -> int:
    """Epochs of synthcity's loop that give ``steps`` optimiser steps.

    Rounded up, so training never stops short of ``steps``; it overshoots by fewer steps
    than an epoch has (none on a table smaller than a batch, where an epoch is one step).
    """
    return max(1, -(-steps // batches_per_epoch(rows, batch_size)))


@contextlib.contextmanager
def _discrete_columns(names: list[str]) -> Iterator[None]:
    """Make synthcity treat ``names`` (and numeric columns with <= 10 values) as discrete.

    synthcity decides which columns get multinomial diffusion by counting distinct values,
    in two places (the encoder and the model); both are given the same answer here.
    """
    import synthcity.plugins.core.models.tabular_ddpm as ddpm_module
    import synthcity.plugins.core.models.tabular_encoder as encoder_module

    forced = set(names)

    def discrete(frame: pd.DataFrame, max_classes: int = 10, return_counts: bool = False) -> list:
        out = []
        for col, values in frame.items():
            count = values.nunique()
            if col in forced or count <= min(max_classes, SYNTHCITY_DISCRETE_LIMIT):
                out.append((col, count) if return_counts else col)
        return out

    saved = ddpm_module.discrete_columns, encoder_module.find_cat_cols
    ddpm_module.discrete_columns = discrete
    encoder_module.find_cat_cols = discrete
    try:
        yield
    finally:
        ddpm_module.discrete_columns, encoder_module.find_cat_cols = saved


def _encode(train: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, dict[str, float], Codes]:
    """The table synthcity fits: categories as codes 0..k-1, missing numbers median + flag."""
    table = train[schema.names].copy()
    fill: dict[str, float] = {}
    codes: Codes = {}
    for col in schema.columns:
        s = table[col.name]
        if not col.is_numeric:
            table[col.name], codes[col.name] = _to_codes(s, col)
        elif s.isna().any():
            median = float(s.median()) if s.notna().any() else 0.0
            table[col.name] = s.fillna(median)
            table[col.name + FLAG] = np.where(s.isna(), "yes", "no")
            fill[col.name] = median
    return table, fill, codes


def _to_codes(s: pd.Series, col: Column) -> tuple[pd.Series, list[Any]]:
    """``s`` as int64 codes 0..k-1 over the values it holds, missing (``None``) last.

    Every code occurs, so synthcity keeps the codes as they are (it recodes only columns
    that are not already 0..k-1).
    """
    held = {py_scalar(v) for v in s.dropna().unique()}
    values: list[Any] = [v for v in observed_categories(col, s) if v in held]
    if s.isna().any():
        values.append(None)
    code = {v: i for i, v in enumerate(values)}
    missing = len(values) - 1
    out = [missing if is_missing(v) else code[py_scalar(v)] for v in s]
    return pd.Series(out, index=s.index, dtype="int64"), values


def _from_codes(s: pd.Series, values: list[Any], dtype: str) -> pd.Series:
    """synthcity's codes (ints, perhaps as floats) -> the values, in storage ``dtype``."""
    index = pd.to_numeric(s).round().astype("int64").to_numpy()
    return cast_column(pd.Series([values[i] for i in index], dtype=object), dtype)


def _decode(
    raw: pd.DataFrame, schema: Schema, fill: dict[str, float], codes: Codes
) -> pd.DataFrame:
    """synthcity's output -> the schema's columns, order and storage dtypes."""
    out: dict[str, pd.Series] = {}
    for col in schema.columns:
        s = raw[col.name].reset_index(drop=True)
        if not col.is_numeric:
            out[col.name] = _from_codes(s, codes[col.name], col.dtype)
            continue
        values = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")
        if col.name in fill:
            flag = raw[col.name + FLAG].reset_index(drop=True).astype(str) == "yes"
            values = np.where(flag.to_numpy(), np.nan, values)
        if col.kind == "integer":
            values = np.round(values)
        if col.dtype == "int64" and not np.isnan(values).any():
            out[col.name] = pd.Series(values.astype("int64"))
        else:
            out[col.name] = pd.Series(values, dtype="float64")
    return pd.DataFrame(out)[schema.names]
