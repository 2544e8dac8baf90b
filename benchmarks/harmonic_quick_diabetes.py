"""HARMONIC at the quick preset on Diabetes, through the real runner, on CPU.

Target (issue 5): fit + generate + DLT in under 10 minutes on the 2-core machine. Also
prints what the sampler reports (valid rate, invalid rows by reason, rows per second) and the
training loss, which say whether the tiny offline backbone learned the row format.

    python benchmarks/harmonic_quick_diabetes.py [--rows N] [--dataset NAME] [--device cuda]

``--device cuda`` runs the same preset on a GPU: the tiny backbone trained there gives the
sampler's valid rows/s with trained weights (the LLaMA-2-7B-shaped model of
``harmonic_gpu.py`` has random weights, so none of its rows are valid).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import tempfile

from bench.config import build_config
from bench.progress import Progress
from bench.runner import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows to generate (default: train)")
    parser.add_argument("--dataset", default="diabetes")
    parser.add_argument("--device", default=None, help="auto, cpu or cuda (default: auto)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cfg = build_config(
            out=out,
            datasets=[args.dataset],
            synthesizers=["harmonic"],
            preset="quick",
            seeds=[1234],
            metrics=["invalid_rows", "dlt"],
            rows=args.rows,
            device=args.device,
        )
        summary = run(cfg, Progress(io.StringIO(), tty=False), argv=["benchmark"])
        with sqlite3.connect(f"{out}/results.sqlite") as db:
            phases = db.execute("SELECT phase, wall_s, peak_rss_mb FROM phases").fetchall()
            metrics = db.execute("SELECT metric, status, value, reason FROM metrics").fetchall()
            (report,) = db.execute("SELECT report FROM jobs").fetchone()
    (rec,) = summary.records
    where = f"cores: {os.cpu_count()}, device {args.device or 'auto'}"
    print(f"{where}; {args.dataset} × harmonic (quick) × seed 1234: {rec.status}")
    print("| phase | wall s | peak RSS MiB |")
    print("|---|---|---|")
    for phase, wall, rss in phases:
        print(f"| {phase} | {wall:.1f} | {rss or 0:.0f} |")
    total = sum(w for p, w, _ in phases if p in ("fit", "generate", "metric:dlt"))
    print(f"| **fit + generate + DLT** | **{total:.1f}** | |")
    for metric, status, value, reason in metrics:
        print(f"metric {metric}: {status} {value} {reason or ''}")
    print(json.dumps(json.loads(report or "{}"), indent=1))


if __name__ == "__main__":
    main()
