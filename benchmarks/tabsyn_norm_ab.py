"""TABSYN's VAE transformers: pre-norm (the adapter, as in the authors' code) against post-norm.

Post-norm ends every encoder in a LayerNorm over the ``d_token`` coordinates, so each latent
token's posterior mean has mean 0 and variance 1 (and its log-variance too) before one shared
affine map. This script fits the quick preset both ways on one table and scores MLE (mean
weighted F1 of the harness's four classifiers on the real test split), one torch thread:

    python benchmarks/tabsyn_norm_ab.py pre german      # or: post diabetes, ...

One JSON line per seed (1234, 1235, 1236): MLE, fit + generate seconds, and the VAE's last
reconstruction loss.
"""

from __future__ import annotations

import argparse
import functools
import json
import time

import torch

import adapters.tabsyn.vae as vae
from adapters.tabsyn import TabSyn
from bench.datasets import load_bundled
from bench.metrics.base import EvalContext
from bench.metrics.utility import MachineLearningEfficacy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=["pre", "post"])
    parser.add_argument("dataset", choices=["german", "diabetes", "adult", "buddy"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.variant == "post":  # the former blocks: PyTorch's default post-norm layer
        vae._transformer = functools.partial(vae._transformer, norm_first=False)
    data = load_bundled(args.dataset)
    for seed in (1234, 1235, 1236):
        model = TabSyn(**{**TabSyn.presets["quick"], "device": "cpu"})
        t0 = time.perf_counter()
        model.fit(data.train, data.schema, seed=seed)
        syn = model.generate(len(data.train), seed=seed)
        seconds = time.perf_counter() - t0
        ctx = EvalContext(
            args.dataset, data.schema, data.train, data.val, data.test, syn, 0, "tabsyn", syn=syn
        )
        score = MachineLearningEfficacy().compute(ctx).value
        report = model.report()
        line = {
            "variant": args.variant,
            "dataset": args.dataset,
            "seed": seed,
            "mle": round(score, 4),
            "seconds": round(seconds, 1),
            "recon_last": report.get("vae_recon_last"),
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
