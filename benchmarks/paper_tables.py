"""Fit synthesizers at the paper preset on one machine, score the tables on another.

The GPU machine has torch but not the metric stack (catboost, ...), and the CPU machine is
too slow for TABSYN's paper preset (4,000 VAE + 10,000 diffusion epochs). So this script fits
each synthesizer at its ``paper`` preset, generates ``len(train)`` rows and writes them as
``OUT/{name}-{dataset}-{seed}.csv`` with its fit/generate seconds in ``OUT/times.json``; the
tables are then scored through the real runner with the ``csv`` synthesizer::

    python benchmarks/paper_tables.py --names tabsyn --device cuda --out tables/   # GPU
    python -m bench run --preset paper --datasets german diabetes --synthesizers csv \\
        --param 'csv.path=tables/tabsyn-{dataset}-{seed}.csv' --seeds 1234 \\
        --metrics mle_catboost                                                        # CPU

A synthesizer that declares ``requirements`` (TabDDPM) fits in its isolated environment's
worker, as in a job; the worker starts (and the environment is built, the first time) before
the clock does. ``--preset quick`` makes a fast check of the whole path.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="+", required=True, help="registered synthesizers")
    parser.add_argument("--datasets", nargs="+", default=["german", "diabetes"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--preset", choices=["paper", "quick"], default="paper")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from bench.datasets import load_bundled
    from bench.isolated import build, close
    from bench.registry import load, resolve

    args.out.mkdir(parents=True, exist_ok=True)
    times: dict[str, dict[str, float]] = {}
    for dataset in args.datasets:
        data = load_bundled(dataset)
        for name in args.names:
            cls = load(resolve("synthesizers", name)[1])
            params = dict(cls.presets.get(args.preset, {}))
            if "device" in cls.param_names():
                params["device"] = args.device
            synth = build(name, cls, params)  # in its own environment if it declares one
            try:
                start = time.perf_counter()
                synth.fit(data.train, data.schema, seed=args.seed)
                fitted = time.perf_counter()
                table = synth.generate(len(data.train), seed=args.seed)
                done = time.perf_counter()
            finally:
                close(synth)
            table.to_csv(args.out / f"{name}-{dataset}-{args.seed}.csv", index=False)
            times[f"{name}-{dataset}"] = {
                "fit_s": round(fitted - start, 1),
                "generate_s": round(done - fitted, 2),
            }
            print(json.dumps({f"{name}-{dataset}": times[f"{name}-{dataset}"]}), flush=True)
    (args.out / "times.json").write_text(json.dumps(times, indent=1) + "\n")


if __name__ == "__main__":
    main()
