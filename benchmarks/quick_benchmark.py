"""The whole quick benchmark (``bench run`` with no arguments), timed per job and phase.

Target (issue 6): German and Diabetes, every synthesizer of the default grid, one seed, all
metrics, in under 20 minutes on the 2-core machine, creating isolated environments excluded
(build them first with ``bench envs create``; their ``env`` phase is reported apart). A bare
``bench run`` runs one job per core (``--workers auto``); pass ``--workers 1`` to time it
serially.

The run is bracketed by a one-thread float32 matmul rate (GFLOPS), so that runs on machines
of different speed can be told apart: machines of the same 2-core kind have run the same
jobs 1.6 to 2.2 times apart.

    python benchmarks/quick_benchmark.py [--out DIR] [extra bench run flags...]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def matmul_gflops(size: int = 1024, repeats: int = 40) -> float:
    """One thread's float32 matrix-product rate, the arithmetic the LLM fits are bound by."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        for _ in range(3):
            a @ b
        t0 = time.perf_counter()
        for _ in range(repeats):
            a @ b
        return 2 * size**3 * repeats / (time.perf_counter() - t0) / 1e9
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="results folder (default: a temp dir)")
    args, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        speed_before = matmul_gflops()
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-m", "bench", "run", "--out", str(out), *extra],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        speed_after = matmul_gflops()
        print(f"bench run: exit {res.returncode}, {wall:.0f} s wall, {os.cpu_count()} cores")
        print(
            f"machine: one-thread float32 matmul {speed_before:.0f} GFLOPS before the run, "
            f"{speed_after:.0f} after"
        )
        print(next((ln for ln in res.stderr.splitlines() if "jobs planned" in ln), ""))
        with sqlite3.connect(out / "results.sqlite") as db:
            jobs = db.execute(
                "SELECT key, dataset, synthesizer, status FROM jobs ORDER BY dataset, synthesizer"
            ).fetchall()
            phases = db.execute("SELECT key, phase, wall_s FROM phases").fetchall()
            failed = db.execute(
                "SELECT j.dataset, j.synthesizer, m.metric, m.status, m.reason FROM metrics m "
                "JOIN jobs j USING (key) WHERE m.status NOT IN ('ok', 'n/a')"
            ).fetchall()
            scores = db.execute(
                "SELECT key, metric, value FROM metrics WHERE metric IN "
                "('mle', 'mle_catboost', 'lle', 'dlt') AND status = 'ok'"
            ).fetchall()
            reports = dict(db.execute("SELECT key, report FROM jobs").fetchall())
    by_job: dict[str, dict[str, float]] = {}
    for key, phase, secs in phases:
        by_job.setdefault(key, {})[phase] = secs or 0.0
    print("| dataset | synthesizer | status | env s | fit s | generate s | metrics s | lle s |")
    print("|---|---|---|---|---|---|---|---|")
    env_total = 0.0
    for key, dataset, synth, status in jobs:
        p = by_job.get(key, {})
        metrics = sum(v for k, v in p.items() if k.startswith("metric:") and k != "metric:lle")
        env_total += p.get("env", 0.0)
        print(
            f"| {dataset} | {synth} | {status} | {p.get('env', 0):.0f} | {p.get('fit', 0):.0f} "
            f"| {p.get('generate', 0):.0f} | {metrics:.0f} | {p.get('metric:lle', 0):.0f} |"
        )
    print(f"total {wall:.0f} s; environment creation {env_total:.0f} s; ")
    net = wall - env_total
    print(f"**without environment creation: {net:.0f} s ({net / 60:.1f} min)**")
    for row in failed:
        print("metric not ok:", *row)
    print_quality(jobs, scores, reports)
    if res.returncode:
        print(res.stderr[-3000:])


def majority_f1(dataset: str) -> float:
    from bench.datasets import load_bundled
    from bench.metrics.utility import majority_class_f1

    data = load_bundled(dataset)
    return majority_class_f1(data.train[data.schema.target], data.test[data.schema.target])


def print_quality(jobs: list, scores: list, reports: dict) -> None:
    """MLE, MLE-CatBoost, LLE and DLT per job, the majority-class bar, LLM samplers' valid rate."""
    import json

    values: dict[str, dict[str, float]] = {}
    for key, metric, value in scores:
        values.setdefault(key, {})[metric] = value
    bars = {d: majority_f1(d) for d in sorted({j[1] for j in jobs})}
    print()
    print("| dataset | synthesizer | MLE | MLE-CatBoost | LLE | DLT | valid rate |")
    print("|---|---|---|---|---|---|---|")
    for key, dataset, synth, _status in jobs:
        v = values.get(key, {})
        sampling = (json.loads(reports.get(key) or "null") or {}).get("sampling") or {}
        rate = sampling.get("valid_rate")
        cells = [v.get(m) for m in ("mle", "mle_catboost", "lle", "dlt")]
        text = ["—" if c is None else f"{c:.3f}" for c in cells]
        shown = "" if rate is None else f"{rate:.1%}"
        print(f"| {dataset} | {synth} | {' | '.join(text)} | {shown} |")
    for dataset, bar in bars.items():
        print(f"majority-class weighted F1 on {dataset}'s test split: {bar:.3f}")


if __name__ == "__main__":
    main()
