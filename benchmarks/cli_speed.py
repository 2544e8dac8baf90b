"""Wall time of the instant commands (`bench --help`, `bench datasets`); target < 1 s.

python benchmarks/cli_speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time


def best_of(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench = shutil.which("bench") or f"{sys.executable} -m bench"
    print("| command | best s | worst s |")
    print("|---|---|---|")
    for sub in (["--help"], ["datasets"], ["synthesizers"]):
        cmd = [*bench.split(), *sub]
        lo, hi = best_of(cmd, args.repeat)
        print(f"| bench {' '.join(sub)} | {lo:.3f} | {hi:.3f} |")


if __name__ == "__main__":
    main()
