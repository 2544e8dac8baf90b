"""Tokens per HARMONIC instruction under the tiny backbone's tokenizer, with and without
phrase tokens (each key with its ``: "`` and the ``", `` separator as single tokens).

Fewer tokens per row make fine-tuning and sampling proportionally cheaper on CPU, and the
shorter rows are easier for the tiny model to keep in order (benchmarks/RESULTS.md).

    python benchmarks/harmonic_tokens.py [--datasets german diabetes] [--seed 1234]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["german", "diabetes"])
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    from bench.datasets import load_bundled
    from harmonic.backbone import TinySpec, train_tokenizer
    from harmonic.instructions import InstructionBuilder, row_phrases

    print("| dataset | tokenizer | prompt tokens (mean) | answer tokens (mean) |")
    print("|---|---|---|---|")
    for name in args.datasets:
        data = load_bundled(name)
        examples = InstructionBuilder(seed=args.seed).build(data.train, data.schema)
        texts = [e.prompt for e in examples] + [e.output for e in examples]
        keys = [json.dumps(c, ensure_ascii=False) for c in data.schema.names]
        for label, extra in (("quoted keys", keys), ("phrases", row_phrases(data.schema))):
            tok = train_tokenizer(texts, TinySpec(), extra)
            prompt = sum(len(tok(e.prompt)["input_ids"]) for e in examples) / len(examples)
            answer = sum(len(tok(e.output)["input_ids"]) for e in examples) / len(examples)
            print(f"| {name} | {label} | {prompt:.0f} | {answer:.0f} |")


if __name__ == "__main__":
    main()
