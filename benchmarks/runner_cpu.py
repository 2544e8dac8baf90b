"""The runner's own CPU use while jobs run: what it takes from them on a small machine.

Runs a grid through the real CLI in a child process (default: TABSYN and CTAB-GAN on German,
two seeds, DM only: four CPU-bound jobs of a minute or two, two at a time), samples the
runner process's CPU time until it exits, and prints it with the wall time and the share of
one core. Then times one watch round of the executor (:func:`bench.executor.trees_rss_mb`)
for 1, 8 and 64 job processes, which is what each poll costs.

    python benchmarks/runner_cpu.py [bench run flags...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT = [
    "--synthesizers", "tabsyn", "ctabgan",
    "--datasets", "german",
    "--seeds", "1", "2",
    "--metrics", "dm",
]  # fmt: skip


def runner_cpu(flags: list[str]) -> tuple[float, float, int]:
    """(wall s, runner CPU s, exit code) of ``bench run`` with ``flags``."""
    import psutil

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "bench", "run", "--out", out, *flags],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proc, cpu = psutil.Process(child.pid), 0.0
        while child.poll() is None:
            try:
                times = proc.cpu_times()
                cpu = times.user + times.system
            except psutil.Error:
                break
            time.sleep(0.5)
        return time.perf_counter() - t0, cpu, child.wait()


def watch_round_ms(jobs: int, repeats: int = 20) -> float:
    """Milliseconds of one executor watch round over ``jobs`` sleeping processes."""
    from bench.executor import trees_rss_mb

    procs = [subprocess.Popen(["sleep", "60"]) for _ in range(jobs)]
    try:
        pids = [p.pid for p in procs]
        trees_rss_mb(pids)
        t0 = time.perf_counter()
        for _ in range(repeats):
            trees_rss_mb(pids)
        return (time.perf_counter() - t0) / repeats * 1e3
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main() -> None:
    flags = sys.argv[1:] or DEFAULT
    wall, cpu, code = runner_cpu(flags)
    print(f"bench run {' '.join(flags)}: exit {code}, {os.cpu_count()} cores")
    print(f"wall {wall:.1f} s, runner CPU {cpu:.1f} s = {cpu / wall:.1%} of one core")
    for jobs in (1, 8, 64):
        print(f"one watch round over {jobs} job processes: {watch_round_ms(jobs):.1f} ms")


if __name__ == "__main__":
    main()
