"""Time the utility metrics (MLE, MLE-CatBoost) for one German job on CPU.

Run from the repository root: ``python benchmarks/metrics_german.py``. The synthetic table
is a seeded resample of train (as the ``bootstrap`` toy synthesizer makes), the data folder
a fresh temporary one, so the first MLE-CatBoost call tunes and the second reads the cache.
Target: the whole job (both metrics, tuning included) well under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from typing import Any

import numpy as np

from bench.datasets import load_bundled
from bench.metrics.base import EvalContext, Metric
from bench.metrics.utility import CatBoostEfficacy, MachineLearningEfficacy


def timed(metric: Metric, ctx: EvalContext) -> tuple[float, float, dict[str, Any]]:
    start = time.perf_counter()
    result = metric.compute(ctx)
    return time.perf_counter() - start, result.value, result.aux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="resample seed (generation seed)")
    args = parser.parse_args()

    data = load_bundled("german")
    idx = np.random.default_rng(args.seed).integers(0, len(data.train), len(data.train))
    syn = data.train.iloc[idx].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as folder:
        ctx = EvalContext(
            dataset="german",
            schema=data.schema,
            train=data.train,
            val=data.val,
            test=data.test,
            syn_raw=syn,
            syn=syn,
            seed=args.seed,
            synthesizer_name="bootstrap",
            data_dir=folder,
        )
        rows = []
        for label, metric in (
            ("mle (first call, imports sklearn)", MachineLearningEfficacy()),
            ("mle (second call)", MachineLearningEfficacy()),
            ("mle_catboost (first call: tunes)", CatBoostEfficacy()),
            ("mle_catboost (second call: cache)", CatBoostEfficacy()),
        ):
            secs, value, aux = timed(metric, ctx)
            if metric.name == "mle":
                note = ", ".join(f"{k} {v:.3f}" for k, v in aux["models"].items())
            else:
                note = f"from cache: {aux['params_from_cache']}; params {aux['params']}"
            rows.append((label, secs, value, note))
            print(f"{label}: {secs:.2f} s, value {value:.4f}", flush=True)

    job = rows[0][1] + rows[2][1]  # what one fresh job process pays for both metrics
    print()
    print(
        f"German, {len(syn)} synthetic rows, eval seeds {list(ctx.eval_seeds)}, "
        f"{os.cpu_count()} cores ({platform.machine()}, Python {platform.python_version()})"
    )
    print()
    print("| metric call | wall s | value | notes |")
    print("|---|---|---|---|")
    for label, secs, value, note in rows:
        print(f"| {label} | {secs:.2f} | {value:.4f} | {note} |")
    print(f"| **one job, both metrics, tuning included** | {job:.2f} | | first calls summed |")


if __name__ == "__main__":
    main()
