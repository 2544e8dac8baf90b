"""LLE at the quick preset for one German job, through the real runner, on CPU.

Target (issue 7): the ``metric:lle`` phase of one German job in under 5 minutes on the 2-core
machine. The job is Original (LLE trained on the real train split), the reference row of
Table 1; prints the phase's wall time and peak memory, the value and the metric's own
figures (training and scoring examples/s, loss, predicted class counts).

    python benchmarks/lle_german.py [--synthesizer NAME] [--seed N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.config import build_config
from bench.progress import Progress
from bench.runner import run

TARGET_S = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthesizer", default="original", help="whose table LLE trains on")
    parser.add_argument("--seed", type=int, default=1234, help="generation seed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cfg = build_config(
            out=out,
            datasets=["german"],
            synthesizers=[args.synthesizer],
            preset="quick",
            seeds=[args.seed],
            metrics=["lle"],
            device="cpu",
        )
        summary = run(cfg, Progress(io.StringIO(), tty=False), argv=["benchmark"])
        with sqlite3.connect(f"{out}/results.sqlite") as db:
            phases = db.execute("SELECT phase, wall_s, peak_rss_mb FROM phases").fetchall()
            row = db.execute("SELECT status, value, aux, reason FROM metrics").fetchone()
    (rec,) = summary.records
    print(f"cores: {os.cpu_count()}; german × {args.synthesizer} × seed {args.seed}: {rec.status}")
    print("| phase | wall s | peak RSS MiB |")
    print("|---|---|---|")
    for phase, wall, rss in phases:
        print(f"| {phase} | {wall:.1f} | {rss or 0:.0f} |")
    status, value, aux, reason = row
    lle_s = next(w for p, w, _ in phases if p == "metric:lle")
    verdict = "meets" if lle_s < TARGET_S else "MISSES"
    print(f"LLE: {status} {value} {reason or ''}")
    print(f"metric:lle wall time {lle_s:.1f} s: {verdict} the {TARGET_S:.0f} s target")
    print(json.dumps(json.loads(aux or "{}"), indent=1))


if __name__ == "__main__":
    main()
