"""Deep baselines at the quick preset: fit + generate time on German, MLE on Diabetes.

Run from the repository root::

    python benchmarks/deep_baselines_german.py                  # tvae and ctabgan
    python benchmarks/deep_baselines_german.py tvae ctabgan tabddpm --seed 1234

For every synthesizer named (registered names, default ``tvae ctabgan``), on CPU at its
``quick`` preset:

1. **Time** (issue 6): fit on German's training split and generate as many rows, wall time
   of each phase and rows generated per second.
2. **Learned something** (issue 6): fit on Diabetes, generate ``len(train)`` rows, coerce
   them as the harness does, and score MLE (:class:`bench.metrics.utility.
   MachineLearningEfficacy`, the mean weighted F1 of four classifiers on the real test
   split). The bar is the weighted F1 of a majority-class predictor on the same test split.

Prints one markdown table; the figures go to ``benchmarks/RESULTS.md`` with the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from typing import Any

import pandas as pd

from bench.datasets import Dataset, load_bundled
from bench.metrics.base import EvalContext
from bench.metrics.coerce import coerce
from bench.metrics.utility import MachineLearningEfficacy, majority_class_f1
from bench.registry import load, resolve


def make(name: str) -> Any:
    """The synthesizer at its quick preset, on CPU."""
    _, target = resolve("synthesizers", name)
    cls = load(target)
    params = dict(cls.presets.get("quick", {}))
    if "device" in cls.param_names():
        params["device"] = "cpu"
    return cls(**params)


def fit_generate(name: str, data: Dataset, seed: int) -> tuple[pd.DataFrame, float, float]:
    synth = make(name)
    start = time.perf_counter()
    synth.fit(data.train, data.schema, seed=seed)
    fitted = time.perf_counter()
    table = synth.generate(len(data.train), seed=seed)
    return table, fitted - start, time.perf_counter() - fitted


def majority_f1(data: Dataset) -> float:
    return majority_class_f1(data.train[data.schema.target], data.test[data.schema.target])


def mle(data: Dataset, table: pd.DataFrame, name: str, seed: int) -> tuple[float, int]:
    coerced = coerce(table, data.schema)
    with tempfile.TemporaryDirectory() as folder:
        ctx = EvalContext(
            dataset=data.name,
            schema=data.schema,
            train=data.train,
            val=data.val,
            test=data.test,
            syn_raw=table,
            syn=coerced.table,
            seed=seed,
            synthesizer_name=name,
            data_dir=folder,
        )
        result = MachineLearningEfficacy().compute(ctx)
    return result.value, coerced.invalid_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["tvae", "ctabgan"], help="synthesizers")
    parser.add_argument("--seed", type=int, default=1234, help="fit and generation seed")
    args = parser.parse_args()

    german, diabetes = load_bundled("german"), load_bundled("diabetes")
    bar = majority_f1(diabetes)
    rows = []
    for name in args.names:
        table, fit_s, gen_s = fit_generate(name, german, args.seed)
        assert len(table) == len(german.train), f"{name} returned {len(table)} rows"
        syn, _, _ = fit_generate(name, diabetes, args.seed)
        value, invalid = mle(diabetes, syn, name, args.seed)
        rows.append((name, fit_s, gen_s, len(table) / max(gen_s, 1e-9), value, invalid))
        print(f"{name}: German fit {fit_s:.1f} s, generate {gen_s:.2f} s; Diabetes MLE {value:.3f}")

    cores = os.cpu_count()
    print()
    print(f"quick preset, CPU, seed {args.seed}, {cores} cores ({platform.machine()});")
    print(f"Diabetes majority-class weighted F1 on test: {bar:.3f}")
    print()
    print(
        "| synthesizer | German fit (s) | German generate (s) | rows/s | "
        "Diabetes MLE | invalid rows | MLE > majority |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, fit_s, gen_s, rate, value, invalid in rows:
        ok = "yes" if value > bar else "**no**"
        print(
            f"| {name} | {fit_s:.1f} | {gen_s:.2f} | {rate:,.0f} | {value:.3f} | {invalid} | {ok} |"
        )


if __name__ == "__main__":
    main()
