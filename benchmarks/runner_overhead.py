"""Runner overhead per job: process start, data hand-off, artifact save, storing.

Runs a grid of jobs whose synthesizer does almost nothing (``original``) and no metrics,
then reports, per job, the run's wall time minus the synthesizer's own fit + generate time.
Target (issue 2): at most 1 s per job beyond the synthesizer's own work.

    python benchmarks/runner_overhead.py [--jobs 20]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time

from bench.config import build_config
from bench.progress import Progress
from bench.runner import run


def measure(dataset: str, n_jobs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        cfg = build_config(
            out=out,
            datasets=[dataset],
            synthesizers=["original"],
            seeds=list(range(n_jobs)),
            metrics=[],
        )
        t0 = time.perf_counter()
        summary = run(cfg, Progress(io.StringIO(), tty=False), argv=["benchmark"])
        total = time.perf_counter() - t0
    own = [r.phases["fit"]["wall_s"] + r.phases["generate"]["wall_s"] for r in summary.records]
    per_job = [(r.finished - r.started) - o for r, o in zip(summary.records, own, strict=True)]
    assert all(r.status == "ok" for r in summary.records)
    return {
        "total_s": total,
        "overhead_per_job_s": (total - sum(own)) / n_jobs,  # start-up amortised in
        "job_overhead_median_s": statistics.median(per_job),
        "job_overhead_max_s": max(per_job),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, jobs per dataset: {args.jobs}")
    print("| dataset | jobs | run wall s | overhead/job s (whole run) | per job median s | max s |")
    print("|---|---|---|---|---|---|")
    for dataset in ("diabetes", "adult"):
        m = measure(dataset, args.jobs)
        print(
            f"| {dataset} | {args.jobs} | {m['total_s']:.2f} | {m['overhead_per_job_s']:.3f} "
            f"| {m['job_overhead_median_s']:.3f} | {m['job_overhead_max_s']:.3f} |"
        )


if __name__ == "__main__":
    main()
