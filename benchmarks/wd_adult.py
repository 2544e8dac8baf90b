"""Time WD on Adult and measure what its row cap (``max_rows``) does to the value.

Run from the repository root: ``python benchmarks/wd_adult.py`` (add ``--full`` for the
uncapped 26,048 x 26,048 solve: ~17 GB of memory and several minutes on two cores). The
synthetic table is a seeded stand-in for a good generator: a bootstrap resample of Adult's
train split with Gaussian noise (0.1 sd) on the continuous columns. Each configuration runs
in a fresh interpreter so that its wall time and peak RSS are its own. Also measured: the
"floor", WD of train against itself, where any value is the finite-sample bias of the
Sinkhorn divergence between two independent subsamples of the same table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from bench.datasets import load_bundled
from bench.metrics.base import EvalContext
from bench.metrics.fidelity import Wasserstein

CONTINUOUS = ("age", "fnlwgt", "capital-gain", "capital-loss", "hours-per-week")
SYN_SEED = 1
#: bytes per float32 cell of the dense solver, per n^2, measured: ~2.4 GB at n = 10,000
BYTES_PER_PAIR = 24.0


def synthetic(train: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The stand-in synthetic table: ``perturbed`` (resample + noise) or ``self`` (train)."""
    if kind == "self":
        return train.copy()
    rng = np.random.default_rng(SYN_SEED)
    syn = train.iloc[rng.integers(0, len(train), len(train))].reset_index(drop=True)
    for col in CONTINUOUS:
        syn[col] = syn[col] + rng.normal(0, 0.1 * train[col].std(), len(syn))
    return syn


def run_one(max_rows: int | None, seed: int, syn_kind: str, dtype: str) -> dict[str, Any]:
    data = load_bundled("adult")
    syn = synthetic(data.train, syn_kind)
    ctx = EvalContext(
        "adult", data.schema, data.train, data.val, data.test, syn, 0, syn_kind,
        syn=syn, eval_seeds=(seed,),
    )  # fmt: skip
    start = time.perf_counter()
    out = Wasserstein(max_rows=max_rows, dtype=dtype).compute(ctx)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
    return {
        "max_rows": max_rows,
        "n": out.aux["rows_train"],
        "seed": seed,
        "syn": syn_kind,
        "dtype": dtype,
        "value": out.value,
        "wall_s": wall,
        "peak_rss_mib": peak,
        "load": os.getloadavg()[0],
    }


def spawn(max_rows: int | None, seed: int, syn_kind: str, dtype: str) -> dict[str, Any] | None:
    """One configuration in a fresh interpreter; its result line is JSON (None: it died)."""
    args = [sys.executable, __file__, "--one", "--seed", str(seed), "--syn", syn_kind]
    args += ["--dtype", dtype, "--max-rows", str(max_rows or 0)]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        print(
            f"  {syn_kind} max_rows={max_rows or 'all'} failed ({proc.returncode}): "
            f"{proc.stderr.strip()[-300:]}",
            flush=True,
        )
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"  {syn_kind:9} max_rows={max_rows or 'all'} seed={seed} {dtype}: "
        f"{result['value']:.6f} in {result['wall_s']:.1f} s, "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB, load {result['load']:.1f}",
        flush=True,
    )
    return result


def mem_available_gb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="also run uncapped (~17 GB RAM)")
    ap.add_argument("--sizes", default="2000,5000,10000", help="max_rows values to try")
    ap.add_argument("--seeds", default="0,1,2", help="evaluator seeds (subsample draws)")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--max-rows", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--syn", default="perturbed", help=argparse.SUPPRESS)
    ap.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.max_rows or None, args.seed, args.syn, args.dtype)))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    n_train = len(load_bundled("adult").train)
    print(f"Adult train: {n_train} rows; {os.cpu_count()} cores ({platform.machine()})")
    plan = [(size, seed, "perturbed", "float32") for size in sizes for seed in seeds]
    plan += [(size, seeds[0], "self", "float32") for size in sizes]
    plan.append((min(sizes[1:] or sizes), seeds[0], "perturbed", "float64"))
    runs = [r for r in (spawn(*p) for p in plan) if r is not None]
    full = None
    if args.full:
        need = BYTES_PER_PAIR * n_train**2 / 1e9
        if mem_available_gb() < 1.15 * need:
            print(f"skipping --full: needs ~{need:.0f} GB, {mem_available_gb():.0f} GB free")
        else:
            full = spawn(None, 0, "perturbed", "float32")
            runs += [full] if full else []

    print()
    print("| syn | max_rows | rows/side | dtype | seed | WD | wall (s) | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['syn']} | {r['max_rows'] or 'all'} | {r['n']} | {r['dtype']} | {r['seed']} "
            f"| {r['value']:.6f} | {r['wall_s']:.1f} | {r['peak_rss_mib']:.0f} |"
        )
    print()
    print(
        "| max_rows | seeds | WD mean | WD sd | WD range | floor (self) | mean wall (s) |", end=""
    )
    print(" vs full |" if full else "")
    print("|---|---|---|---|---|---|---|" + ("---|" if full else ""))
    for size in sizes:
        vals = [
            r["value"]
            for r in runs
            if r["max_rows"] == size and r["syn"] == "perturbed" and r["dtype"] == "float32"
        ]
        walls = [r["wall_s"] for r in runs if r["max_rows"] == size and r["dtype"] == "float32"]
        floors = [r["value"] for r in runs if r["max_rows"] == size and r["syn"] == "self"]
        floor = floors[0] if floors else float("nan")
        mean = statistics.fmean(vals)
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        line = (
            f"| {size} | {len(vals)} | {mean:.6f} | {sd:.6f} | {min(vals):.6f}-{max(vals):.6f} "
            f"| {floor:.6f} | {statistics.fmean(walls):.1f} |"
        )
        if full:
            diff = mean - full["value"]
            line += f" {diff:+.6f} ({diff / full['value']:+.0%}) |"
        print(line)
    if full:
        print(f"| all ({n_train}) | 1 | {full['value']:.6f} | | | | {full['wall_s']:.1f} | |")


if __name__ == "__main__":
    main()
