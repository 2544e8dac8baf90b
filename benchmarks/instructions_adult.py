"""Time HARMONIC's instruction set and generation prompts on Adult (26,048 training rows).

Run from the repository root: ``python benchmarks/instructions_adult.py``. Times
``InstructionBuilder().build`` (k = 5: kNN, label filter, permuted serialisation; three
repeats, median and max) and ``generation_prompts`` for 26,048 prompts, and prints a markdown
table. Target: < 20 s for the build on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.datasets import load_bundled
from harmonic.instructions import InstructionBuilder, generation_prompts

SEED = 0


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return times, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = load_bundled("adult")
    train, schema = data.train, data.schema
    n = len(train)

    build_times, examples = timed(
        lambda: InstructionBuilder(seed=SEED).build(train, schema), args.repeats
    )
    gen_times, prompts = timed(
        lambda: generation_prompts(train, schema, n, seed=SEED), args.repeats
    )
    assert len(prompts) == n
    chars = sum(len(e.prompt) + len(e.output) for e in examples)
    cores = os.cpu_count()
    print(f"build: {', '.join(f'{t:.2f}' for t in build_times)} s")
    print(f"generation_prompts: {', '.join(f'{t:.2f}' for t in gen_times)} s")
    print(f"groups kept by the label filter: {len(examples)} of {n} ({len(examples) / n:.1%})")
    print(f"instruction text: {chars / 1e6:.1f} M characters")
    print()
    print("| step | rows | output | median (s) | max (s) | cores |")
    print("|---|---|---|---|---|---|")
    print(
        f"| InstructionBuilder().build | {n} | {len(examples)} examples kept "
        f"| {statistics.median(build_times):.2f} | {max(build_times):.2f} "
        f"| {cores} ({platform.machine()}) |"
    )
    print(
        f"| generation_prompts(n={n}) | {n} | {len(prompts)} prompts "
        f"| {statistics.median(gen_times):.2f} | {max(gen_times):.2f} "
        f"| {cores} ({platform.machine()}) |"
    )


if __name__ == "__main__":
    main()
