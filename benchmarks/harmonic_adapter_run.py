"""HARMONIC's adapter on one dataset, fit then generate, with parameters overridden.

For exploring the quick preset (tokens, epochs, retry budget) without the runner: prints the
fit report (warm-up, loss, tokens/s), the sampler's report (valid rate, invalid rows by
reason, shortfall) and the label counts of the rows it returned, which show whether the
model emits every class.

    python benchmarks/harmonic_adapter_run.py --dataset german --rows 700 \\
        --params '{"epochs": 4, "retry_budget": 1.5}'
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
    parser.add_argument("--dataset", default="german")
    parser.add_argument("--rows", type=int, default=None, help="rows to ask (default: train)")
    parser.add_argument("--params", default="{}", help="JSON overriding the quick preset")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    from adapters.harmonic import QUICK, Harmonic
    from bench.datasets import load_bundled

    data = load_bundled(args.dataset)
    synth = Harmonic(**{**QUICK, **json.loads(args.params)})
    start = time.perf_counter()
    synth.fit(data.train, data.schema, args.seed)
    print(f"fit {time.perf_counter() - start:.1f} s", json.dumps(synth.fit_report_), flush=True)
    start = time.perf_counter()
    table = synth.generate(args.rows or len(data.train), args.seed)
    print(f"generate {time.perf_counter() - start:.1f} s", json.dumps(synth.sample_report_))
    target = data.schema.target
    print("labels returned:", table[target].value_counts().to_dict() if len(table) else {})
    print("labels in train:", data.train[target].value_counts().to_dict())


if __name__ == "__main__":
    main()
