"""Toy synthesizers and metrics for tests, imported by ``module:Class`` reference."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.metrics.base import EvalContext, Metric, MetricResult, NotApplicable
from bench.schema import Schema
from bench.synthesizer import Synthesizer


class Bootstrap(Synthesizer):
    """Resamples training rows with replacement (a real, if naive, generator)."""

    name = "bootstrap"
    description = "toy: rows resampled with replacement"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> Bootstrap:
        time.sleep(self.delay)
        self.train_ = train.reset_index(drop=True)
        return self

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        idx = np.random.default_rng(seed).integers(0, len(self.train_), n)
        return self.train_.iloc[idx].reset_index(drop=True)


class Failing(Bootstrap):
    name = "failing"

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> Failing:
        raise RuntimeError("toy failure in fit")


class Sleepy(Bootstrap):
    """Writes a checkpoint to a temporary folder, then hangs: for time limits."""

    name = "sleepy"

    def __init__(self, note: str = "") -> None:
        super().__init__()
        self.note = note  # a file to write the checkpoint folder's path into

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> Sleepy:
        with tempfile.TemporaryDirectory(prefix="sleepy-") as tmp:  # never cleaned: killed
            (Path(tmp) / "checkpoint.bin").write_bytes(b"\0" * 1024)
            if self.note:
                Path(self.note).write_text(tmp, encoding="utf-8")
            time.sleep(60)
        return self


class Hog(Bootstrap):
    """Allocates memory until stopped: for the memory limit."""

    name = "hog"

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> Hog:
        blocks = []
        for _ in range(200):
            blocks.append(np.ones(2**24))  # 128 MiB each, touched
            time.sleep(0.05)
        return self


class Crashing(Bootstrap):
    """Dies without a Python exception (like a segfault in native code)."""

    name = "crashing"

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        os._exit(3)


class GpuReporter(Bootstrap):
    """Reports the GPUs its job may see (``CUDA_VISIBLE_DEVICES``), without touching one."""

    name = "gpureporter"

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> GpuReporter:
        import os

        self.seen_ = {"gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}
        return super().fit(train, schema, seed)

    def report(self) -> dict:
        return self.seen_


class ThreadCounter(Bootstrap):
    """Reports the CPU threads its job may use, as torch, BLAS and the harness see them."""

    name = "threadcounter"

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> ThreadCounter:
        import torch
        from threadpoolctl import threadpool_info

        from bench.cores import job_threads

        self.seen_ = {
            "torch": torch.get_num_threads(),
            "blas": max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"),
            "job": job_threads(),
        }
        return super().fit(train, schema, seed)

    def report(self) -> dict:
        return self.seen_


class RowCount(Metric):
    """Rows returned over rows requested."""

    name = "rowcount"
    family = "fidelity"
    goal = "maximize"
    bounds = (0.0, 1.0)

    def compute(self, ctx: EvalContext) -> MetricResult:
        return MetricResult(len(ctx.syn_raw) / ctx.n_requested, {"rows": len(ctx.syn_raw)})


class BackboneName(Metric):
    """Length of the run's --llm: a metric whose value depends on the backbone, like LLE."""

    name = "backbonename"
    family = "utility"
    goal = "maximize"

    def setting(self, preset: str, llm: str | None) -> str:
        return f"{preset}:{llm}"

    def compute(self, ctx: EvalContext) -> MetricResult:
        return MetricResult(float(len(ctx.llm or "")))


class SlowMetric(Metric):
    name = "slowmetric"
    family = "fidelity"
    goal = "maximize"

    def compute(self, ctx: EvalContext) -> MetricResult:
        time.sleep(60)
        return MetricResult(1.0)


class BrokenMetric(Metric):
    name = "brokenmetric"
    family = "fidelity"
    goal = "maximize"

    def compute(self, ctx: EvalContext) -> MetricResult:
        raise ValueError("toy metric failure")


class PrivacyOnly(Metric):
    name = "privacyonly"
    family = "privacy"
    goal = "maximize"

    def check(self, ctx: EvalContext) -> None:
        if ctx.is_reference:
            raise NotApplicable("the real data is not a synthesizer")

    def compute(self, ctx: EvalContext) -> MetricResult:
        return MetricResult(0.5)


class Garbage(Bootstrap):
    """Returns rows no schema can use: for the robustness of metrics."""

    name = "garbage"

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        return pd.DataFrame({"nonsense": ["x"] * n, "Glucose": ["high"] * n})


class Pathological(Bootstrap):
    """Resampled rows, broken in one of the ways a real synthesizer's output can be."""

    name = "pathological"
    MODES = (
        "missing_column",
        "extra_column",
        "all_nan_column",
        "unseen_category",
        "single_class",
        "zero_rows",
        "few_rows",
        "strings_everywhere",
    )

    def __init__(self, mode: str = "few_rows") -> None:
        self.mode = mode
        self.delay = 0.0

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        table = super().generate(n, seed)
        target = self.train_.columns[-1]
        first = self.train_.columns[0]
        if self.mode == "missing_column":
            return table.drop(columns=[first])
        if self.mode == "extra_column":
            return table.assign(extra=1.5)
        if self.mode == "all_nan_column":
            return table.assign(**{first: np.nan})
        if self.mode == "unseen_category":
            return table.assign(**{first: "never-seen"})
        if self.mode == "single_class":
            return table.assign(**{target: table[target].iloc[0]})
        if self.mode == "zero_rows":
            return table.head(0)
        if self.mode == "few_rows":
            return table.head(7)
        return table.astype(str)


class Memoriser(Bootstrap):
    """Resamples train and claims train rows are likelier than anything else: for DLT."""

    name = "memoriser"

    def report(self) -> dict:
        return {"sampling": {"valid": len(self.train_)}}

    def perplexity(self, rows: pd.DataFrame) -> np.ndarray:
        seen = set(map(tuple, self.train_.astype(str).to_numpy()))
        return np.array([1.0 if tuple(r) in seen else 5.0 for r in rows.astype(str).to_numpy()])
