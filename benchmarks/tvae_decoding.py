"""TVAE at its paper preset: does ctgan's argmax decoding explain German's low MLE?

ctgan's ``TVAE.sample`` decodes every categorical column (and every continuous column's
mixture component) by the argmax of the decoder's logits. The TVAE paper's generative model
draws them from the softmax instead. This script fits the adapter at the paper preset once
per seed and writes two tables of ``len(train)`` rows from the same fitted model:
``OUT/argmax-{dataset}-{seed}.csv`` (the adapter's own ``generate``) and
``OUT/softmax-{dataset}-{seed}.csv`` (categoricals drawn from the softmax), printing the
target's class shares. Score both with the runner::

    python benchmarks/tvae_decoding.py --dataset german --out tvae-tables/
    python -m bench run --preset paper --datasets german --synthesizers csv \\
        --param 'csv.path=tvae-tables/softmax-{dataset}-{seed}.csv' \\
        --seeds 1234 1235 1236 --metrics mle_catboost --out tvae-softmax

A diagnostic only: the adapter keeps ctgan's decoding.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.tvae import PAPER, TVAE
from bench.datasets import load_bundled


def sample_softmax(model: Any, n: int, seed: int) -> pd.DataFrame:
    """ctgan's ``TVAE.sample`` with each softmax span drawn from its distribution."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    np.random.seed(seed % 2**32)  # ctgan draws the continuous values' noise from numpy
    model.decoder.eval()
    with torch.no_grad():
        noise = torch.randn(n, model.embedding_dim, generator=generator)
        logits, sigmas = model.decoder(noise.to(model._device))
        logits, sigmas = logits.cpu(), sigmas.detach().cpu()
    out = torch.tanh(logits)
    start = 0
    for column in model.transformer.output_info_list:
        for span in column:
            end = start + span.dim
            if span.activation_fn == "softmax":
                probs = torch.softmax(logits[:, start:end], dim=1)
                pick = torch.multinomial(probs, 1, generator=generator).squeeze(1)
                out[:, start:end] = torch.nn.functional.one_hot(pick, span.dim).float()
            start = end
    return model.transformer.inverse_transform(out.numpy(), sigmas.numpy())


def class_share(column: pd.Series) -> dict[str, float]:
    return {str(k): round(float(v), 3) for k, v in column.value_counts(normalize=True).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="german")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1234, 1235, 1236])
    parser.add_argument("--epochs", type=int, default=PAPER["epochs"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    data = load_bundled(args.dataset)
    target, n = data.schema.target, len(data.train)
    args.out.mkdir(parents=True, exist_ok=True)
    shares = {"train": class_share(data.train[target])}
    for seed in args.seeds:
        synth = TVAE(**{**PAPER, "epochs": args.epochs}, device="cpu")
        synth.fit(data.train, data.schema, seed)
        tables = {
            "argmax": synth.generate(n, seed),
            "softmax": synth.codec_.decode(sample_softmax(synth.model_, n, seed)),
        }
        for decoding, table in tables.items():
            table.to_csv(args.out / f"{decoding}-{args.dataset}-{seed}.csv", index=False)
            share = class_share(table[target])
            shares[f"{decoding}-{seed}"] = share
            print(json.dumps({"seed": seed, "decoding": decoding, "class_share": share}))
    (args.out / "class_shares.json").write_text(json.dumps(shares, indent=1) + "\n")


if __name__ == "__main__":
    main()
