"""GReaT and REaLTabFormer at the quick preset on German, through the real runner.

Target (issue 7): fit + generate in about 60-90 s each on the 2-core CPU, all 700 rows
valid. Prints per synthesizer the phase times (fit, generate, DLT) and peak memory, the
sampler's valid-row rate and invalid rows by reason, and the DLT value.

    python benchmarks/llm_baselines_german.py [--rows N] [--synthesizers great realtabformer]
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
    parser.add_argument("--synthesizers", nargs="+", default=["great", "realtabformer"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cfg = build_config(
            out=out,
            datasets=["german"],
            synthesizers=args.synthesizers,
            preset="quick",
            seeds=[1234],
            metrics=["invalid_rows", "dlt"],
            rows=args.rows,
        )
        summary = run(cfg, Progress(io.StringIO(), tty=False), argv=["benchmark"])
        with sqlite3.connect(f"{out}/results.sqlite") as db:
            jobs = db.execute("SELECT key, synthesizer, status, report FROM jobs").fetchall()
            phases = db.execute("SELECT key, phase, wall_s, peak_rss_mb FROM phases").fetchall()
            metrics = db.execute("SELECT key, metric, status, value, aux FROM metrics").fetchall()
    print(f"cores: {os.cpu_count()}; german × quick × seed 1234; {len(summary.records)} jobs")
    print(
        "| synthesizer | fit s | generate s | DLT s | fit + generate s | peak RSS MiB "
        "| valid rate | invalid by reason | DLT |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for key, name, status, report in jobs:
        wall = {p: w for k, p, w, _ in phases if k == key}
        rss = max((r or 0) for k, _, _, r in phases if k == key)
        sampling = (json.loads(report or "{}").get("sampling")) or {}
        dlt = next((v for k, m, s, v, _ in metrics if k == key and m == "dlt"), None)
        fit, gen = wall.get("fit", float("nan")), wall.get("generate", float("nan"))
        rate = sampling.get("valid_rate")
        print(
            f"| {name} ({status}) | {fit:.1f} | {gen:.1f} | {wall.get('metric:dlt', 0):.1f} "
            f"| **{fit + gen:.1f}** | {rss:.0f} | {rate if rate is None else f'{rate:.3f}'} "
            f"| {sampling.get('invalid') or {}} | {dlt if dlt is None else f'{dlt:.4f}'} |"
        )
    for key, name, _, report in jobs:
        print(f"\n{name} report:", json.dumps(json.loads(report or "{}"), indent=1))
        for k, metric, status, value, aux in metrics:
            if k == key:
                print(f"  metric {metric}: {status} {value} {aux}")


if __name__ == "__main__":
    main()
