"""Format warm-up for the ``tiny`` offline backbone: what a pretrained LLM already knows.

A pretrained LLM arrives knowing that a JSON object names each key once. The tiny backbone is
initialised at random and sees only a few hundred instructions: with permuted keys it learns
the row's length but repeats some keys and drops others, so no row is valid (Diabetes: 0 of
128, at any epoch count short of memorising the training rows). So before HARMONIC's
fine-tuning, the tiny backbone reads plain JSON objects with the schema's keys in random
order, whose values are drawn from each column on its own: a product of the marginals, so no
real row and no relation between columns appears in it. The loss covers the whole object.

One object per text matters: with nothing else in context, attending to every key seen so far
is exactly "the keys already written", which the model learns to avoid repeating; with several
objects per text it did not learn this (1.6% valid rows against 94%, see benchmarks/RESULTS.md).

This is a property of the stand-in backbone, like its tokenizer trained on the data; the
HARMONIC method that follows is unchanged, and a real ``--llm`` skips it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.schema import Schema
from harmonic.instructions import serialize_row


def format_corpus(
    train: pd.DataFrame, schema: Schema, n: int, seed: int, objects: int = 1
) -> list[str]:
    """``n`` texts of ``objects`` JSON objects each (one per line).

    Each object has every schema column once, in a fresh random order, with each value drawn
    independently from that column of ``train``.
    """
    rng = np.random.default_rng(seed)
    names = schema.names
    picks = {c: train[c].to_numpy(dtype=object)[rng.integers(0, len(train), n * objects)]
             for c in names}  # fmt: skip
    texts = []
    for i in range(n):
        lines = []
        for j in range(objects):
            row = {c: picks[c][i * objects + j] for c in names}
            order = [names[k] for k in rng.permutation(len(names))]
            lines.append(serialize_row(row, schema, order))
        texts.append("\n".join(lines))
    return texts


def warm_up(backbone: Any, texts: list[str], *, lr: float, batch_size: int, seed: int) -> Any:
    """One pass of next-token training over ``texts``; returns the trainer's statistics."""
    from harmonic.trainer import fine_tune

    # an empty instruction: the loss then covers the whole text after the (fixed) template
    return fine_tune(
        backbone,
        [""] * len(texts),
        texts,
        epochs=1,
        lr=lr,
        batch_size=batch_size,
        micro_batch=batch_size,
        seed=seed,
        who="harmonic warm-up",
    )
