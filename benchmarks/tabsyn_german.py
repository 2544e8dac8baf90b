"""TABSYN at the quick preset on CPU: fit + generate time on German, MLE on Diabetes.

Targets (issue 6): fit + generate German in about a minute on the 2-core machine; on
Diabetes, an MLE above that of a majority-class predictor (the model learned something).

    python benchmarks/tabsyn_german.py [--seed 1234] [--device cpu]

Prints the timings, TABSYN's own report (losses, final beta, s/epoch, rows/s) and a
markdown table. MLE is the harness's metric (mean weighted F1 of four classifiers trained on
the synthetic table, scored on the real test split); the majority-class row is the weighted F1
of always predicting train's most frequent class, and Original trains on the real split.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import pandas as pd

from adapters.tabsyn import TabSyn
from bench.datasets import load_bundled
from bench.metrics.base import EvalContext
from bench.metrics.utility import MachineLearningEfficacy, majority_class_f1


def fit_generate(dataset: str, seed: int, device: str) -> tuple[pd.DataFrame, dict, float, float]:
    data = load_bundled(dataset)
    model = TabSyn(**{**TabSyn.presets["quick"], "device": device})
    t0 = time.perf_counter()
    model.fit(data.train, data.schema, seed=seed)
    t1 = time.perf_counter()
    table = model.generate(len(data.train), seed=seed)
    t2 = time.perf_counter()
    assert len(table) == len(data.train)
    return table, model.report(), t1 - t0, t2 - t1


def mle(dataset: str, syn: pd.DataFrame) -> float:
    data = load_bundled(dataset)
    ctx = EvalContext(
        dataset, data.schema, data.train, data.val, data.test, syn, 0, "tabsyn", syn=syn
    )
    return MachineLearningEfficacy().compute(ctx).value


def majority_f1(dataset: str) -> float:
    data = load_bundled(dataset)
    return majority_class_f1(data.train[data.schema.target], data.test[data.schema.target])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    rows = []
    for dataset in ("german", "diabetes"):
        table, report, fit_s, gen_s = fit_generate(dataset, args.seed, args.device)
        print(f"{dataset}: fit {fit_s:.1f} s, generate {gen_s:.1f} s", flush=True)
        print(json.dumps(report, indent=1), flush=True)
        rows.append((dataset, fit_s, gen_s, mle(dataset, table), majority_f1(dataset)))
    original = mle("diabetes", load_bundled("diabetes").train)
    print(f"\ncores: {os.cpu_count()}, torch threads: {_threads()}, seed {args.seed}")
    print("| dataset | fit (s) | generate (s) | fit + generate (s) | MLE | majority F1 |")
    print("|---|---|---|---|---|---|")
    for dataset, fit_s, gen_s, value, base in rows:
        print(
            f"| {dataset} | {fit_s:.1f} | {gen_s:.1f} | {fit_s + gen_s:.1f} "
            f"| {value:.3f} | {base:.3f} |"
        )
    print(f"Original MLE on diabetes: {original:.3f}")
    diabetes = rows[1]
    verdict = "above" if diabetes[3] > diabetes[4] else "NOT above"
    print(f"diabetes: TABSYN MLE {diabetes[3]:.3f} is {verdict} majority class {diabetes[4]:.3f}")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()
