"""Tokens per HARMONIC instruction under the tiny backbone's tokenizer, by what it makes
single tokens.

Rows: the quoted keys alone; ``row_phrases`` (each key with its ``: "``, and the ``", ``
separator); ``tiny_phrases`` (those and the prompt's fixed phrases: header, "Example <word>: "
line starts, generate line; the tiny backbone's since 2026-12-02); and, tried and rejected on
2026-12-01, the separator also joined to the next key;
each with GPT-2's word split and with ``WORDS`` (a run of letters and digits is one word, so
German's ``A121`` can be one token; the tiny backbone's split since 2026-12-01). Fewer
tokens per row make fine-tuning and sampling cheaper on CPU (attention grows with the square
of the length), and shorter rows are easier for the tiny model to keep in order
(benchmarks/RESULTS.md).

    python benchmarks/harmonic_tokens.py [--datasets german diabetes adult] [--seed 1234]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["german", "diabetes", "adult"])
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    from bench.datasets import load_bundled
    from harmonic.backbone import GPT2_WORDS, WORDS, TinySpec, train_tokenizer
    from harmonic.instructions import InstructionBuilder, row_phrases, tiny_phrases

    print("| dataset | single tokens | words | prompt tokens (mean) | answer tokens (mean) |")
    print("|---|---|---|---|---|")
    for name in args.datasets:
        data = load_bundled(name)
        builder = InstructionBuilder(seed=args.seed)
        examples = builder.build(data.train, data.schema)
        texts = [e.prompt for e in examples] + [e.output for e in examples]
        keys = [json.dumps(c, ensure_ascii=False) for c in data.schema.names]
        phrases = row_phrases(data.schema)
        opened = phrases[:-1]  # each key with its ': "'; the last phrase is the separator
        variants = {
            "quoted keys": keys,
            "keys, separator (row_phrases)": phrases,
            "row and prompt phrases (tiny_phrases)": tiny_phrases(data.schema, builder.k),
            "keys, separator + key": [*opened, *('", ' + k for k in opened), phrases[-1]],
        }
        for label, extra in variants.items():
            for words, pattern in (("GPT-2", GPT2_WORDS), ("WORDS", WORDS)):
                tok = train_tokenizer(texts, TinySpec(), extra, pattern)
                prompt = sum(len(tok(e.prompt)["input_ids"]) for e in examples) / len(examples)
                answer = sum(len(tok(e.output)["input_ids"]) for e in examples) / len(examples)
                print(f"| {name} | {label} | {words} | {prompt:.0f} | {answer:.0f} |")


if __name__ == "__main__":
    main()
