"""All metrics (LLE excepted) for one German job, through the real runner, on CPU.

Target (issue 3): under 60 s together. Runs ``bench run --datasets german --synthesizers
smote`` into a fresh folder (so MLE-CatBoost tunes its hyper-parameters: the cold case),
then prints each metric phase's wall time from the results store.

    python benchmarks/all_metrics_german.py
"""

from __future__ import annotations

import io
import os
import sqlite3
import tempfile

from bench.config import build_config
from bench.progress import Progress
from bench.runner import run


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        cfg = build_config(out=out, datasets=["german"], synthesizers=["smote"])
        summary = run(cfg, Progress(io.StringIO(), tty=False), argv=["benchmark"])
        assert all(r.status == "ok" for r in summary.records)
        with sqlite3.connect(f"{out}/results.sqlite") as db:
            rows = db.execute(
                "SELECT p.phase, p.wall_s, p.peak_rss_mb, m.value FROM phases p "
                "LEFT JOIN metrics m ON m.key = p.key AND 'metric:' || m.metric = p.phase "
                "WHERE p.phase LIKE 'metric:%' ORDER BY p.wall_s DESC"
            ).fetchall()
    print(f"cores: {os.cpu_count()}; german × smote × seed 1234, cold CatBoost cache")
    print("| metric | wall s | peak RSS MiB | value |")
    print("|---|---|---|---|")
    for phase, wall, rss, value in rows:
        print(f"| {phase.removeprefix('metric:')} | {wall:.2f} | {rss:.0f} | {value:.4g} |")
    print(f"| **all metrics** | **{sum(r[1] for r in rows):.2f}** | | |")


if __name__ == "__main__":
    main()
