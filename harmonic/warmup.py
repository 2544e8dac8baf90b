"""Format warm-up for the ``tiny`` offline backbone: what a pretrained LLM already knows.

A pretrained LLM arrives knowing that a JSON object names each key once. The tiny backbone is
initialised at random and sees only a few hundred instructions, too few to learn that when
key order is permuted (it learns the row length but repeats some keys and drops others). So
before HARMONIC's fine-tuning, the tiny backbone is warmed up on plain JSON text: sequences
of objects with the schema's keys in random order, whose values are drawn from each column on
its own (a product of the marginals: no real row, and no relation between columns, appears).
The loss covers the whole text. This is a property of the stand-in backbone, like its
tokenizer; the HARMONIC method that follows is unchanged, and a real ``--llm`` skips it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.schema import Schema
from harmonic.instructions import serialize_row


def format_corpus(
    train: pd.DataFrame, schema: Schema, n: int, seed: int, objects: int = 6
) -> list[str]:
    """``n`` texts of ``objects`` JSON objects each, one per line.

    Each object has every schema column once, in a fresh random order, with values drawn
    independently per column from ``train``. Several objects per text teach the model that
    keys repeat across objects but never within one, as in a HARMONIC prompt.
    """
    rng = np.random.default_rng(seed)
    names = schema.names
    draws = {
        c: train[c].to_numpy(dtype=object)[rng.integers(0, len(train), n * objects)] for c in names
    }
    texts = []
    for i in range(n):
        lines = []
        for j in range(objects):
            row = {c: draws[c][i * objects + j] for c in names}
            order = [names[k] for k in rng.permutation(len(names))]
            lines.append(serialize_row(row, schema, order))
        texts.append("\n".join(lines))
    return texts


def warm_up(backbone: Any, texts: list[str], *, lr: float, batch_size: int, seed: int) -> Any:
    """One pass of next-token training over ``texts`` (loss on every token but the first)."""
    from harmonic.trainer import fine_tune

    # an empty instruction: fine_tune's loss then covers the whole text after the template
    return fine_tune(
        backbone,
        [""] * len(texts),
        texts,
        epochs=1,
        lr=lr,
        batch_size=batch_size,
        micro_batch=batch_size,
        seed=seed,
    )
