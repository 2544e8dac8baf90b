"""Time TabDDPM (synthcity ``ddpm``) at the quick preset on German, as the harness runs it.

Run from the repository root::

    python benchmarks/tabddpm_german.py              # fit + generate in the cached env
    python benchmarks/tabddpm_german.py --fresh-env  # also time building the env from scratch

The environment is the one ``bench envs create tabddpm`` builds (cached under
``$BENCH_ENVS_DIR`` or ``~/.cache/harmonic-bench/envs``); ``--fresh-env`` builds a new one
in a temporary folder (pip's own download cache still applies) and deletes it afterwards.
Fit and generate run in the isolated worker process exactly as in a job: the times include
handing the table over as Parquet. Prints the phases, the worker's peak RSS, rows/s and a
markdown table row.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from adapters.tabddpm import QUICK, TabDDPM
from bench.datasets import load_bundled
from bench.envs import Env, ensure
from bench.isolated import start_isolated

SEED = 1234


def build_env(fresh: bool) -> tuple[float | None, Path | None]:
    """Seconds to build the env (None when the cached one was used) and a temp root to drop."""
    if not fresh:
        return None, None
    root = Path(tempfile.mkdtemp(prefix="bench-envs-"))
    os.environ["BENCH_ENVS_DIR"] = str(root)
    t0 = time.perf_counter()
    ensure(TabDDPM.requirements, who="tabddpm", log=print).release()
    return time.perf_counter() - t0, root


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fresh-env", action="store_true", help="time building the env as well")
    p.add_argument("--dataset", default="german")
    args = p.parse_args()

    env_s, tmp_root = build_env(args.fresh_env)
    data = load_bundled(args.dataset)
    n = len(data.train)
    times = {}
    t0 = time.perf_counter()
    synth = start_isolated(
        "tabddpm", "adapters.tabddpm:TabDDPM", QUICK, TabDDPM.requirements, log=print
    )
    times["start"] = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        synth.fit(data.train, data.schema, SEED)
        times["fit"] = time.perf_counter() - t0
        fit_rss = synth.remote_peaks.get("peak_rss_mb") or 0
        t0 = time.perf_counter()
        table = synth.generate(n, SEED)
        times["generate"] = time.perf_counter() - t0
        gen_rss = synth.remote_peaks.get("peak_rss_mb") or 0
        report = synth.report()
    finally:
        synth.close()
        if tmp_root is not None:
            shutil.rmtree(tmp_root, ignore_errors=True)
    assert len(table) == n
    info = Env.for_requirements(TabDDPM.requirements).info() if tmp_root is None else {}
    if env_s is None and info.get("build_s"):
        print(f"(env built earlier in {info['build_s']:.0f} s, recorded in its env.json)")
    total = times["fit"] + times["generate"]
    rss = max(fit_rss, gen_rss)
    cores = os.cpu_count()
    print(
        f"start {times['start']:.1f} s, fit {times['fit']:.1f} s, generate "
        f"{times['generate']:.1f} s ({n / times['generate']:.0f} rows/s), "
        f"peak RSS {rss:.0f} MiB, report {report}"
    )
    print()
    print(
        "| synthesizer | dataset | preset | rows | env build (s) | worker start (s) | fit (s) "
        "| generate (s) | fit+generate (s) | peak RSS (MiB) | cores |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    env_cell = f"{env_s:.0f}" if env_s is not None else "cached"
    print(
        f"| tabddpm | {args.dataset} | quick | {n} | {env_cell} | {times['start']:.1f} "
        f"| {times['fit']:.1f} | {times['generate']:.1f} | {total:.1f} | {rss:.0f} "
        f"| {cores} ({platform.machine()}) |"
    )


if __name__ == "__main__":
    main()
