"""The paper's "Original" column: the real training rows, scored like a synthesizer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.schema import Schema
from bench.synthesizer import Synthesizer


class Original(Synthesizer):
    """Returns the real training rows (the reference every synthesizer is compared with).

    ``generate(n)`` with n = len(train) returns the training split itself, in file order;
    fewer rows are a seeded sample without replacement, more rows repeat the whole split and
    top up with a seeded sample.
    """

    name = "original"
    label = "Original"
    description = "the real training rows (the paper's 'Original' reference)"
    is_reference = True

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> Original:
        self.train_ = train.reset_index(drop=True)
        return self

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        m = len(self.train_)
        rng = np.random.default_rng(seed)
        whole, rest = divmod(n, m)
        picks = [np.arange(m)] * whole + [np.sort(rng.choice(m, size=rest, replace=False))]
        return self.train_.iloc[np.concatenate(picks)].reset_index(drop=True)
