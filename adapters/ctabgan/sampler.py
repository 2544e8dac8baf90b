"""CTAB-GAN's conditional vector and training-by-sampling (Zhao et al., 2021, Sec. 3, on
countering imbalance; the sampling scheme extends CTGAN's, Xu et al., 2019).

The conditional vector concatenates one block per conditioning span: every categorical
column and, CTAB-GAN's extension of CTGAN, the mode indicator (``beta``) of every continuous
and mixed column, so that rare modes of skewed numeric columns are trained on as often as
rare categories. A vector picks one span and one of its entries; all other entries are 0.

* **Training** (training-by-sampling): the span is drawn uniformly, then its entry with
  probability proportional to ``log(1 + frequency)``, which lifts rare categories and modes;
  the real rows shown to the discriminator are drawn among those holding that entry, so real
  and generated rows answer the same condition.
* **Generation**: the span is drawn uniformly and the entry with its empirical frequency, so
  the conditions, and with them the generated rows, follow the training distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters.ctabgan.transformer import Span


@dataclass
class Condition:
    """A batch of conditions: the vectors and which span / entry each row picked."""

    vectors: np.ndarray  # (batch, cond_dim) float32 one-hot over all spans' entries
    span: np.ndarray  # (batch,) index into ``ConditionalSampler.spans``
    entry: np.ndarray  # (batch,) entry within that span


class ConditionalSampler:
    """Draws conditional vectors and matching real rows from an encoded training matrix."""

    def __init__(self, data: np.ndarray, spans: list[Span]) -> None:
        self.spans = spans
        self.n_rows = len(data)
        self.offsets = np.cumsum([0, *(s.width for s in spans)])[:-1].astype("int64")
        self.dim = int(sum(s.width for s in spans))
        self.train_p: list[np.ndarray] = []
        self.data_p: list[np.ndarray] = []
        self.rows: list[list[np.ndarray]] = []  # span -> entry -> rows holding it
        for span in spans:
            entry = data[:, span.start : span.stop].argmax(axis=1)
            counts = np.bincount(entry, minlength=span.width).astype("float64")
            log_counts = np.log1p(counts)
            self.train_p.append(log_counts / log_counts.sum())
            self.data_p.append(counts / counts.sum())
            self.rows.append([np.flatnonzero(entry == j) for j in range(span.width)])

    def sample_train(self, batch: int, rng: np.random.Generator) -> Condition:
        """Conditions for training: uniform span, entry by log-frequency."""
        return self._sample(batch, rng, self.train_p)

    def sample_generation(self, batch: int, rng: np.random.Generator) -> Condition:
        """Conditions for generation: uniform span, entry by empirical frequency."""
        return self._sample(batch, rng, self.data_p)

    def real_rows(self, cond: Condition, rng: np.random.Generator) -> np.ndarray:
        """One training row per condition, holding the chosen entry (uniform rows if none)."""
        if not self.spans:
            return rng.integers(0, self.n_rows, size=len(cond.span))
        out = np.empty(len(cond.span), dtype="int64")
        for i, (s, e) in enumerate(zip(cond.span, cond.entry, strict=True)):
            pool = self.rows[s][e]
            out[i] = pool[rng.integers(0, len(pool))]
        return out

    def _sample(self, batch: int, rng: np.random.Generator, probs: list[np.ndarray]) -> Condition:
        vectors = np.zeros((batch, self.dim), dtype="float32")
        if not self.spans:
            empty = np.zeros(batch, dtype="int64")
            return Condition(vectors, empty, empty)
        span = rng.integers(0, len(self.spans), size=batch)
        entry = np.empty(batch, dtype="int64")
        for s in np.unique(span):
            rows = np.flatnonzero(span == s)
            entry[rows] = rng.choice(len(probs[s]), size=len(rows), p=probs[s])
        vectors[np.arange(batch), self.offsets[span] + entry] = 1.0
        return Condition(vectors, span, entry)
