"""Toy synthesizers that run in isolated environments, for tests/test_envs.py.

``NumpyOne`` requires numpy < 2 while the harness's own environment has numpy 2, so the
two can only meet through :mod:`bench.envs`: the numpy version it reports proves where its
fit and generate ran.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.schema import Schema
from bench.synthesizer import Synthesizer

#: Conflicts with the harness's environment (numpy 2.x), and is small and quick to install.
TOY_REQUIREMENTS = ("numpy<2",)


class NumpyOne(Synthesizer):
    """Resamples training rows; reports the numpy and interpreter it ran with."""

    name = "numpyone"
    description = "toy: bootstrap rows inside an environment with numpy < 2"
    requirements = TOY_REQUIREMENTS

    def __init__(self, delay: float = 0.0, pid_file: str = "") -> None:
        self.delay = delay
        self.pid_file = pid_file

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> NumpyOne:
        if self.pid_file:
            Path(self.pid_file).write_text(str(os.getpid()))
        time.sleep(self.delay)
        self.train_ = train.reset_index(drop=True)
        self.fit_numpy_ = np.__version__
        return self

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        idx = np.random.default_rng(seed).integers(0, len(self.train_), n)
        return self.train_.iloc[idx].reset_index(drop=True)

    def report(self) -> dict:
        return {"numpy": self.fit_numpy_, "python": sys.executable, "pid": os.getpid()}


class FailingIsolated(NumpyOne):
    name = "failingisolated"

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> FailingIsolated:
        raise ValueError(f"toy failure in fit under numpy {np.__version__}")


class CrashingIsolated(NumpyOne):
    """Dies without a Python exception inside the environment (like a segfault)."""

    name = "crashingisolated"

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        os._exit(7)


class BrokenEnv(NumpyOne):
    """Its requirement does not exist, so its environment can never be built."""

    name = "brokenenv"
    requirements = ("bench-toy-package-that-does-not-exist==0.0.1",)
