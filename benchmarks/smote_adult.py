"""Time the SMOTE baseline on Adult: fit + generate len(train) rows, three repeats.

Run from the repository root: ``python benchmarks/smote_adult.py``. Prints the median and
maximum wall time, the process's peak RSS, and a markdown table row. Target: < 30 s per
fit + generate on a 2-core machine.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time

from adapters.smote import SMOTE
from bench.datasets import load_bundled

REPEATS = 3
SEED = 0


def peak_rss_mib() -> float:
    """Peak resident set size of this process (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def main() -> None:
    data = load_bundled("adult")
    n = len(data.train)
    times = []
    for repeat in range(REPEATS):
        start = time.perf_counter()
        table = SMOTE().fit(data.train, data.schema, seed=SEED).generate(n, seed=SEED)
        elapsed = time.perf_counter() - start
        assert len(table) == n
        times.append(elapsed)
        print(f"repeat {repeat + 1}: {elapsed:.2f} s", flush=True)
    median, worst = statistics.median(times), max(times)
    rss = peak_rss_mib()
    cores = os.cpu_count()
    print(f"median {median:.2f} s, max {worst:.2f} s, peak RSS {rss:.0f} MiB ({cores} cores)")
    print()
    print("| synthesizer | dataset | rows | median (s) | max (s) | peak RSS (MiB) | cores |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| smote | adult | {n} | {median:.2f} | {worst:.2f} | {rss:.0f} | {cores} "
        f"({platform.machine()}) |"
    )


if __name__ == "__main__":
    main()
