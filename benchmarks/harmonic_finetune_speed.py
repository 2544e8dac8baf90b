"""HARMONIC's fine-tuning loop on CPU: seconds per step and tokens/s on real instructions.

Builds the quick preset's instruction set and tiny backbone for a dataset (no warm-up: only
the loop's speed is measured), then fine-tunes ``--pairs`` instructions for one epoch at the
preset's batch size, ``--repeats`` times on fresh backbones, and prints each pass. Run it in
two checkouts to compare two versions of ``harmonic.trainer``; ``--phrases rows`` makes only
the row phrases single tokens (the tokenizer before 2026-12-02), ``all`` every fixed phrase
(``harmonic.instructions.tiny_phrases``, the adapter's).

    python benchmarks/harmonic_finetune_speed.py --dataset german --pairs 128 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="german")
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--phrases", choices=["rows", "all"], default="all")
    args = parser.parse_args()

    from adapters.harmonic import QUICK
    from bench.datasets import load_bundled
    from harmonic.backbone import load_backbone
    from harmonic.instructions import InstructionBuilder, row_phrases, tiny_phrases
    from harmonic.trainer import fine_tune

    data = load_bundled(args.dataset)
    builder = InstructionBuilder(seed=args.seed)
    examples = builder.build(data.train, data.schema)[: args.pairs]
    prompts = [e.prompt for e in examples]
    outputs = [e.output for e in examples]
    rows_only = args.phrases == "rows"
    phrases = row_phrases(data.schema) if rows_only else tiny_phrases(data.schema, builder.k)
    print("| pass | steps | s/step | tokens/s |")
    print("|---|---|---|---|")
    for rep in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            backbone = load_backbone(
                "tiny",
                "cpu",
                texts=[*prompts, *outputs],
                cache_dir=tmp,
                seed=args.seed,
                extra_tokens=phrases,
            )
            stats = fine_tune(
                backbone,
                prompts,
                outputs,
                epochs=1,
                lr=QUICK["lr"],
                batch_size=QUICK["batch_size"],
                seed=args.seed,
            )
        step_s = stats.seconds / stats.steps
        print(
            f"| {rep + 1} | {stats.steps} | {step_s:.3f} | {stats.tokens_per_second:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
