"""HARMONIC's sampler on CPU: prompts per second against the generation batch size.

Fits the quick preset once on a dataset, then generates the same seeded prompts at each
batch size and KV cache given (``--kv``, passes alternating so that a drifting machine
affects each alike) and prints wall time, prompts/s, the valid rate and whether the texts
equal the first pass's. On CPU the default cache's per-step copy, not the arithmetic, bounds
the tiny backbone's sampling (benchmarks/RESULTS.md).

    python benchmarks/harmonic_sampling_batch.py --dataset german --prompts 512 \\
        --batches 64 --kv dynamic static --repeats 3 --cache /tmp/german.pkl
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="german")
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--params", default="{}", help="JSON overriding the quick preset")
    parser.add_argument("--cache", default=None, help="pickle of the fitted model: reuse it")
    parser.add_argument(
        "--kv", nargs="+", default=["auto"], help="KV caches to alternate: auto, dynamic, static"
    )
    parser.add_argument("--repeats", type=int, default=1, help="passes per batch size and cache")
    args = parser.parse_args()

    from adapters.harmonic import QUICK, Harmonic
    from bench.datasets import load_bundled
    from harmonic.instructions import generation_prompts
    from harmonic.parse import parse_rows
    from harmonic.sampler import generate_texts

    data = load_bundled(args.dataset)
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():
        synth = pickle.loads(cache.read_bytes())
    else:
        synth = Harmonic(**{**QUICK, **json.loads(args.params)})
        start = time.perf_counter()
        synth.fit(data.train, data.schema, args.seed)
        print(f"fit {time.perf_counter() - start:.1f} s", flush=True)
        if cache is not None:
            synth._workdir = None  # a temporary folder does not pickle; the model is in memory
            cache.write_bytes(pickle.dumps(synth))
    prompts = generation_prompts(data.train, data.schema, args.prompts, seed=args.seed + 7)
    print("| pass | KV cache | batch | wall s | prompts/s | valid | same texts as the first |")
    print("|---|---|---|---|---|---|---|")
    first: dict[int, list[str]] = {}
    # passes alternate the caches, so a machine that drifts in speed affects each alike
    for rep in range(args.repeats):
        for size in args.batches:
            for kv in args.kv:
                texts: list[str] = []
                start = time.perf_counter()
                for i in range(0, len(prompts), size):
                    texts += generate_texts(
                        synth.backbone_,
                        prompts[i : i + size],
                        max_new_tokens=synth.max_new_tokens_,
                        temperature=synth.temperature,
                        top_p=synth.top_p,
                        seed=args.seed + i,
                        cache=None if kv == "dynamic" else kv,
                    )
                wall = time.perf_counter() - start
                rows, _ = parse_rows(texts, data.schema)
                same = texts == first.setdefault(size, texts)
                print(
                    f"| {rep + 1} | {kv} | {size} | {wall:.1f} | {len(prompts) / wall:.1f} "
                    f"| {len(rows) / len(texts):.1%} | {'yes' if same else 'no'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
