"""REaLTabFormer (Solatorio & Dupriez, 2023, "REaLTabFormer: Generating Realistic Relational
and Tabular Data using Transformers"), tabular model, through the ``realtabformer`` package.

Each row becomes a fixed-length sequence of tokens, one per categorical value and one per
digit group of each number (numbers are zero-padded to aligned digit strings), between
``[BOS]`` and ``[EOS]``; the vocabulary is built from the data and a GPT-2 is trained on these
sequences from scratch, so nothing is downloaded. By default training is the package's
sensitivity-based early stopping: every ``n_critic`` epochs it samples rows and stops when
their distances to the training rows look like memorisation against a bootstrapped
threshold. Sampling is constrained per position to the column's own tokens.

What the adapter adds:

* columns are renamed ``c0``, ``c1``... and categories written as codes ``v0``, ``v1``...
  before fitting: the package splits tokens on ``___``, matches ``@`` as its missing-number
  token, reads ``CATEGORICAL``/``NUMERIC`` inside column names and turns integer-looking
  category strings into numbers. Every value is its own token either way, so this changes
  no modelling, only what cannot be misread;
* integer-coded categorical columns (German's label 0/1) are categorical here; the package
  would treat them as numbers;
* checkpoints and experiment folders go to a temporary folder, deleted once the model is in
  memory; ``fit`` passes ``gen_kwargs`` (0.2.4 fails without it) and
  ``save_full_every_epoch=0`` (0.2.4's periodic full save asserts an experiment id that
  only exists after ``fit``, so the default fails at the second critic round);
* generated rows are validated against the schema (known category codes, finite numbers,
  missing values only where train has them); batches are drawn with the package's own
  generation step until ``n`` rows or ``retry_budget × n`` generated sequences, and the
  counts of invalid sequences, with their reasons, are in :meth:`REaLTabFormer.report`.

``perplexity(rows)`` turns rows into the package's own token ids (its data processing with
the fitted transforms and vocabulary; an unknown value is ``[UNK]``) and returns exp(mean
negative log-likelihood, in nats) of the tokens after ``[BOS]``, ``[EOS]`` included.
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.schema import Schema, is_missing, observed_categories, py_scalar
from bench.synthesizer import Synthesizer

MISSING_VALUE = "missing_value"  # missing in a column without missing values
UNSEEN_CATEGORY = "unseen_category"  # not the code of a training category
BAD_NUMBER = "bad_number"  # not a finite number
PACKAGE_INVALID = "package_invalid"  # rejected by the package's own sampler checks

#: Quick: a 2-layer, 128-wide GPT-2 (0.55M parameters instead of 85M) for at most 30 epochs
#: at a learning rate a small model trained from scratch needs; still sensitivity-checked
#: every 5 epochs, with a 100-round bootstrap threshold instead of 500.
QUICK: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 8,
    "lr": 2e-3,
    "n_layer": 2,
    "n_embd": 128,
    "n_head": 4,
    "n_critic": 5,
    "num_bootstrap": 100,
    "gen_batch_size": 256,
}
#: The package's published defaults: GPT-2 with 6 layers (768 wide, 12 heads), up to 1000
#: epochs with sensitivity-based early stopping every 5, batch 8 (× 4 accumulation), the
#: Trainer's learning rate (5e-5), 500 bootstrap rounds, sampling batches of 128.
PAPER: dict[str, Any] = {
    "epochs": 1000,
    "batch_size": 8,
    "lr": 5e-5,
    "n_layer": 6,
    "n_embd": 768,
    "n_head": 12,
    "n_critic": 5,
    "num_bootstrap": 500,
    "gen_batch_size": 128,
}


class RTFCodes:
    """A schema's tables <-> what the package is given and returns.

    Columns are renamed ``c0``, ``c1``...; categorical and boolean values become codes
    ``v0``, ``v1``... (index in the training categories; an unknown value ``v?``, which the
    fitted vocabulary maps to ``[UNK]``); numeric columns stay as they are.
    """

    def __init__(self, schema: Schema, train: pd.DataFrame) -> None:
        self.schema = schema
        self.categories = {
            c.name: observed_categories(c, train[c.name])
            for c in schema.columns
            if not c.is_numeric
        }
        self.codes = {
            name: {cat: f"v{k}" for k, cat in enumerate(cats)}
            for name, cats in self.categories.items()
        }

    def encode(self, table: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, pd.Series] = {}
        for j, col in enumerate(self.schema.columns):
            s = table[col.name].reset_index(drop=True)
            if col.is_numeric:
                out[f"c{j}"] = s if col.dtype == "int64" else s.astype("float64")
            else:
                index = self.codes[col.name]
                out[f"c{j}"] = pd.Series(
                    [np.nan if is_missing(v) else index.get(py_scalar(v), "v?") for v in s],
                    dtype=object,
                )
        return pd.DataFrame(out)

    def decode(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, Counter[str]]:
        """Valid rows in the schema's storage dtypes, and the invalid ones by reason (the
        first failing column, in schema order)."""
        raw = raw.reset_index(drop=True)
        bad = pd.Series("", index=raw.index, dtype=object)
        columns: dict[str, pd.Series] = {}
        for j, col in enumerate(self.schema.columns):
            s = raw[f"c{j}"] if f"c{j}" in raw else pd.Series(np.nan, index=raw.index)
            missing = s.isna()
            if col.is_numeric:
                values = pd.to_numeric(s.astype(object), errors="coerce").astype("float64")
                broken = (~missing & values.isna()) | np.isinf(values)
                if col.kind == "integer":
                    values = values.round()
                    if col.dtype == "int64":
                        broken |= values.abs() >= 2.0**63
                _flag(bad, broken, BAD_NUMBER)
            else:
                lookup = {f"v{k}": c for k, c in enumerate(self.categories[col.name])}
                values = s.map(lambda v, lk=lookup: lk.get(v, _UNSEEN) if isinstance(v, str) else v)
                _flag(bad, ~missing & values.map(lambda v: v is _UNSEEN), UNSEEN_CATEGORY)
            if not col.nullable:
                _flag(bad, missing, MISSING_VALUE)
            columns[col.name] = values
        keep = bad == ""
        table = pd.DataFrame(
            {c.name: _cast(columns[c.name][keep], c.dtype) for c in self.schema.columns}
        ).reset_index(drop=True)
        return table, Counter(bad[~keep])


def decimal_values(frame: pd.DataFrame) -> dict[str, float]:
    """One non-whole value of each numeric column that has one (the package keeps those
    columns decimal; every other numeric column it casts to integers)."""
    out = {}
    for name in frame:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            continue
        values = column.dropna().to_numpy(dtype=float)
        fractional = values[values != np.round(values)]
        if len(fractional):
            out[str(name)] = float(fractional[0])
    return out


class REaLTabFormer(Synthesizer):
    """REaLTabFormer (tabular): a GPT-2 trained from scratch on per-value token sequences."""

    name: ClassVar[str] = "realtabformer"
    label: ClassVar[str] = "REaLTabFormer"
    description: ClassVar[str] = (
        "GPT-2 trained from scratch on tokenised rows, realtabformer (Solatorio & Dupriez, 2023)"
    )
    presets: ClassVar[dict[str, dict[str, Any]]] = {"quick": QUICK, "paper": PAPER}
    packages: ClassVar[tuple[str, ...]] = ("realtabformer", "torch", "transformers")

    def __init__(
        self,
        device: str = "auto",
        epochs: int = 1000,
        batch_size: int = 8,
        lr: float = 5e-5,
        n_layer: int = 6,
        n_embd: int = 768,
        n_head: int = 12,
        n_critic: int = 5,
        num_bootstrap: int = 500,
        gen_batch_size: int = 128,
        retry_budget: float = 3.0,
        ppl_batch_size: int = 256,
    ) -> None:
        self.device = device
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.n_layer = n_layer
        self.n_embd = n_embd
        self.n_head = n_head
        self.n_critic = n_critic
        self.num_bootstrap = num_bootstrap
        self.gen_batch_size = gen_batch_size
        self.retry_budget = retry_budget
        self.ppl_batch_size = ppl_batch_size
        for key in ("epochs", "batch_size", "n_layer", "n_embd", "n_head", "num_bootstrap"):
            _check_int(key, getattr(self, key), 1)
        _check_int("n_critic", n_critic, 0)
        _check_int("gen_batch_size", gen_batch_size, 1)
        _check_int("ppl_batch_size", ppl_batch_size, 1)
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be a multiple of n_head ({n_head})")
        if not (lr > 0 and retry_budget >= 1):
            raise ValueError(f"lr must be > 0 and retry_budget >= 1, got {lr}, {retry_budget}")

    # ---- fit ----------------------------------------------------------------------------------

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> REaLTabFormer:
        """Train the package's tabular model on the encoded table (checkpoints in a temp dir)."""
        from realtabformer import REaLTabFormer as RTF
        from transformers import GPT2Config, set_seed

        from harmonic.backbone import resolve_device

        if len(train) == 0:
            raise ValueError("REaLTabFormer cannot fit an empty training table")
        device = resolve_device(self.device)
        self.schema_ = schema
        self.seed_ = seed
        self.device_ = device
        self.codes_ = RTFCodes(schema, train)
        frame = self.codes_.encode(train)
        self.decimals_ = decimal_values(frame)
        # the package seeds only when random_state is truthy (not for seed 0), and creates
        # the GPT-2 before the Trainer seeds: seed here so the initial weights follow ``seed``
        set_seed(seed)
        # the package warns about its own defaults at every step (tabular_config given, zero
        # duplicate rate, qt_interval adjusted...): nothing a benchmark user can act on
        with tempfile.TemporaryDirectory(prefix="realtabformer-") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            work = Path(tmp)
            rtf = RTF(
                model_type="tabular",
                tabular_config=GPT2Config(
                    n_layer=self.n_layer, n_embd=self.n_embd, n_head=self.n_head
                ),
                checkpoints_dir=str(work / "checkpoints"),
                samples_save_dir=str(work / "samples"),
                full_save_dir=str(work / "full"),
                epochs=self.epochs,
                batch_size=self.batch_size,
                random_state=seed,
                learning_rate=self.lr,
                report_to="none",
                seed=seed,
                data_seed=seed,
                use_cpu=device == "cpu",
                disable_tqdm=True,
            )
            trainer = rtf.fit(
                frame,
                device=device,
                n_critic=self.n_critic,
                num_bootstrap=self.num_bootstrap,
                gen_kwargs={"gen_batch": self.gen_batch_size},
                save_full_every_epoch=0,
            )
        rtf.model.to(device)
        rtf.model.eval()
        self.model_ = rtf
        state = rtf.trainer_state or {}
        history = (state.get("log_history") if state else None) or trainer.state.log_history
        losses = [h["loss"] for h in history if "loss" in h]
        self.fit_report_ = {
            "rows": len(train),
            "tokens_per_row": int(rtf.tabular_max_length),
            "vocabulary": len(rtf.vocab["id2token"]),
            "epochs_max": self.epochs,
            "epoch_kept": state.get("epoch") if state else trainer.state.epoch,
            "loss_last": losses[-1] if losses else None,
            "parameters": int(sum(p.numel() for p in rtf.model.parameters())),
        }
        return self

    # ---- generate -----------------------------------------------------------------------------

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        """Exactly ``n`` valid rows, or fewer when ``retry_budget × n`` sequences run out.

        Batches are drawn here, one call of the package's generation and row decoding each,
        rather than through its ``sample_tabular``: that loops until it has its ``n_samples``
        valid rows (giving up only after 10 batches in a row with none), so a poorly trained
        model could generate many times the budget inside one call.
        """
        import time

        import torch
        from realtabformer.data_utils import SpecialTokens
        from realtabformer.rtf_exceptions import SampleEmptyError
        from realtabformer.rtf_sampler import TabularSampler

        sampler = TabularSampler.sampler_from_model(self.model_, device=self.device_)
        sampler.model.eval()
        bos = torch.tensor([[sampler.vocab["token2id"][SpecialTokens.BOS]]], device=sampler.device)
        limit = max(int(self.retry_budget * n), n)
        tables: list[pd.DataFrame] = []
        invalid: Counter[str] = Counter()
        valid, generated, round_ = 0, 0, 0
        t0 = time.perf_counter()
        while valid < n and generated < limit:
            batch = min(self.gen_batch_size, limit - generated)
            torch.manual_seed(seed * 7919 + round_)
            round_ += 1
            # the package's own batch step (private methods of the pinned 0.2.4): generate
            # with its token constraints, then turn the sequences it can read into rows
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                outputs = sampler._generate(
                    device=sampler.device,
                    inputs=bos,
                    do_sample=True,
                    max_length=sampler.max_length,
                    num_return_sequences=batch,
                    suppress_tokens=None,
                    forced_decoder_ids=None,
                )
                generated += len(outputs)
                try:
                    raw = sampler._processes_sample(sample_outputs=outputs, vocab=sampler.vocab)
                except SampleEmptyError:  # no sequence of the batch decoded to a row
                    invalid[PACKAGE_INVALID] += len(outputs)
                    continue
            invalid[PACKAGE_INVALID] += len(outputs) - len(raw)
            table, reasons = self.codes_.decode(raw.reset_index(drop=True))
            invalid.update(reasons)
            tables.append(table)
            valid += len(table)
        stopped = (
            f"budget spent: {limit} sequences for {n} rows (retry_budget={self.retry_budget}); "
            "train longer or raise retry_budget"
        )
        seconds = time.perf_counter() - t0
        out = pd.concat(tables, ignore_index=True).head(n) if tables else self._empty()
        rejected = sum(invalid.values())
        self.sample_report_ = {
            "requested": n,
            "valid": len(out),
            "generated": generated,
            "invalid": {k: v for k, v in invalid.items() if v},
            "invalid_total": rejected,
            # rows past n in the last batch were valid but are not kept: the rate counts them
            "valid_rate": 1 - rejected / generated if generated else None,
            "shortfall": n - len(out),
            "rounds": round_,
            "stopped": None if len(out) == n else stopped,
            "seconds": seconds,
            "rows_per_second": len(out) / seconds if seconds else None,
        }
        return out.reset_index(drop=True)

    def _empty(self) -> pd.DataFrame:
        return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in self.schema_.columns})

    def report(self) -> dict[str, Any]:
        """Training figures and the sampler's valid/invalid counts, rows/s."""
        return {
            "fit": getattr(self, "fit_report_", None),
            "sampling": getattr(self, "sample_report_", None),
        }

    # ---- perplexity (DLT) -------------------------------------------------------------------

    def token_ids(self, rows: pd.DataFrame) -> np.ndarray:
        """Rows as the package's token ids: ``[BOS]``, one id per processed column, ``[EOS]``."""
        from realtabformer.data_utils import SpecialTokens, process_data

        rtf = self.model_
        frame = self.codes_.encode(rows)
        # the package casts a numeric column to integers when every value it is given is
        # whole: a column that held decimals in training must not be, or its tokens differ
        # from training ([UNK]) depending on which rows are scored together. A last row with
        # one training decimal per such column keeps them decimal; it is dropped below.
        sentinel = frame.iloc[:1].assign(**getattr(self, "decimals_", {}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            processed, _ = process_data(
                pd.concat([frame, sentinel], ignore_index=True),
                numeric_max_len=rtf.numeric_max_len,
                numeric_precision=rtf.numeric_precision,
                numeric_nparts=rtf.numeric_nparts,
                col_transform_data=copy.deepcopy(rtf.col_transform_data),
                target_col=rtf.target_col,
            )
        token2id = rtf.vocab["token2id"]
        unk = token2id[SpecialTokens.UNK]
        processed = processed.iloc[: len(frame)].reindex(columns=rtf.processed_columns)
        body = np.array(
            [[token2id.get(v, unk) for v in processed[c]] for c in rtf.processed_columns],
            dtype=np.int64,
        ).T.reshape(len(processed), len(rtf.processed_columns))
        bos = np.full((len(processed), 1), token2id[SpecialTokens.BOS], dtype=np.int64)
        eos = np.full((len(processed), 1), token2id[SpecialTokens.EOS], dtype=np.int64)
        return np.hstack([bos, body, eos])

    def perplexity(self, rows: pd.DataFrame) -> np.ndarray:
        """Per-row perplexity (nats) of the rows' token sequences under the fitted GPT-2."""
        import torch

        if len(rows) == 0:
            return np.empty(0)
        ids = torch.from_numpy(self.token_ids(rows))
        model = self.model_.model
        model.eval()
        out = np.empty(len(ids))
        for start in range(0, len(ids), self.ppl_batch_size):
            batch = ids[start : start + self.ppl_batch_size].to(self.device_)
            with torch.no_grad():
                logits = model(input_ids=batch).logits.float()
            nll = torch.nn.functional.cross_entropy(
                logits[:, :-1].transpose(1, 2), batch[:, 1:], reduction="none"
            )
            out[start : start + len(batch)] = torch.exp(nll.mean(dim=1)).cpu().numpy()
        return out


_UNSEEN = object()


def _flag(bad: pd.Series, mask: pd.Series, reason: str) -> None:
    """Record ``reason`` for rows in ``mask`` that have no reason yet (first failure wins)."""
    hit = np.asarray(mask, dtype=bool) & (bad == "").to_numpy()
    bad[hit] = reason


def _check_int(key: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{key} must be an integer >= {low}, got {value!r}")


def _cast(values: pd.Series, dtype: str) -> pd.Series:
    if dtype == "object":
        return values.astype(object).where(values.notna(), np.nan)
    if dtype == "float64":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if dtype == "int64":
        return values.astype("float64").astype("int64")
    return values.astype(dtype)
