"""Which settings of the ``tiny`` offline backbone learn HARMONIC's permuted-key rows?

Trains the tiny backbone on the real instruction set (kNN, label filter, permuted keys) under
several settings and reports the valid-row rate of its samples, so the quick preset's choice
rests on measurements. Each setting: build the tokenizer and model, fine-tune, sample
``--samples`` rows from fresh prompts, parse them against the schema.

    python benchmarks/harmonic_tiny_sweep.py --dataset diabetes [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# name -> (TinySpec overrides, key_tokens, epochs, lr)
SETTINGS = {
    "base": ({}, False, 8, 2e-3),
    "keys": ({}, True, 8, 2e-3),
    "keys-20ep": ({}, True, 20, 2e-3),
    "base-20ep": ({}, False, 20, 2e-3),
    "keys-deep": ({"num_layers": 8}, True, 8, 2e-3),
    "keys-lr1e-3": ({}, True, 8, 1e-3),
    "keys-lr4e-3": ({}, True, 8, 4e-3),
    "keys-wide": ({"hidden_size": 192, "num_heads": 6, "intermediate_size": 576}, True, 8, 2e-3),
}

WARMUP: dict[str, int] = {}  # name -> texts of format warm-up before fine-tuning
OBJECTS: dict[str, int] = {}  # name -> JSON objects per warm-up text


def run_setting(name: str, data, args) -> dict:
    import torch

    from harmonic.backbone import TinySpec, build_tiny, load_backbone
    from harmonic.instructions import InstructionBuilder, generation_prompts, row_phrases
    from harmonic.parse import first_json_object, parse_rows
    from harmonic.sampler import generate_texts
    from harmonic.trainer import fine_tune

    overrides, key_tokens, epochs, lr = SETTINGS[name]
    spec = replace(TinySpec(), **overrides)
    train, schema = data.train, data.schema
    examples = InstructionBuilder(seed=args.seed).build(train, schema)
    prompts = [e.prompt for e in examples]
    outputs = [e.output for e in examples]
    keys = row_phrases(schema) if key_tokens else []
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_tiny([*prompts, *outputs], tmp, args.seed, spec, extra_tokens=keys)
        backbone = load_backbone(tmp, args.device)
        if WARMUP.get(name):
            from harmonic.warmup import format_corpus, warm_up

            corpus = format_corpus(
                train, schema, WARMUP[name], args.seed, objects=OBJECTS.get(name, 6)
            )
            warm = warm_up(backbone, corpus, lr=lr, batch_size=16, seed=args.seed)
        else:
            warm = None
        stats = fine_tune(
            backbone,
            prompts,
            outputs,
            epochs=epochs,
            lr=lr,
            batch_size=16,
            micro_batch=8,
            seed=args.seed,
        )
        fit_s = time.perf_counter() - t0
        tok = backbone.tokenizer
        longest = max(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outputs)
        gen = generation_prompts(train, schema, args.samples, seed=args.seed + 1)
        t0 = time.perf_counter()
        texts: list[str] = []
        for i in range(0, len(gen), 64):
            texts += generate_texts(
                backbone, gen[i : i + 64], max_new_tokens=int(longest * 1.5) + 8, seed=args.seed + i
            )
        gen_s = time.perf_counter() - t0
    rows, reasons = parse_rows(texts, schema)
    objects = [first_json_object(t)[0] for t in texts]
    objects = [o for o in objects if o is not None]
    target = schema.target
    written = [len(set(o) & set(schema.names)) for o in objects]
    return {
        "setting": name,
        "epochs": epochs,
        "lr": lr,
        "spec": overrides,
        "key_tokens": key_tokens,
        "warmup": WARMUP.get(name, 0),
        "warmup_loss_last": round(warm.loss_last, 3) if warm else None,
        "loss_last": round(stats.loss_last, 3),
        "fit_s": round(fit_s, 1),
        "gen_s": round(gen_s, 1),
        "valid": len(rows),
        "samples": len(texts),
        "valid_rate": round(len(rows) / len(texts), 3),
        "invalid": dict(Counter(reasons)),
        # what a broken row looks like: how many of the schema's keys its object has, and
        # whether the label is among them; the labels of the valid rows and of all objects
        "keys_written_mean": round(sum(written) / max(len(written), 1), 2),
        "keys_expected": len(schema.names),
        "label_written": round(sum(target in o for o in objects) / max(len(objects), 1), 3),
        "labels_valid": {str(k): int(v) for k, v in Counter(rows[target]).items()}
        if len(rows)
        else {},
        "labels_all": dict(Counter(str(o[target]) for o in objects if target in o)),
        "example": texts[0][:300],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="diabetes")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--only", nargs="*", default=None, choices=list(SETTINGS))
    parser.add_argument(
        "--custom",
        nargs="*",
        default=[],
        help="more settings as JSON: name, spec, keys, epochs, lr, warmup",
    )
    args = parser.parse_args()
    for text in args.custom:
        c = json.loads(text)
        SETTINGS[c["name"]] = (c.get("spec", {}), c.get("keys", True), c["epochs"], c["lr"])
        WARMUP[c["name"]] = c.get("warmup", 0)
        OBJECTS[c["name"]] = c.get("objects", 6)

    from bench.datasets import load_bundled

    data = load_bundled(args.dataset)
    names = args.only if args.only is not None else list(SETTINGS)
    names += [json.loads(t)["name"] for t in args.custom if json.loads(t)["name"] not in names]
    for name in names:
        print(json.dumps(run_setting(name, data, args)), flush=True)


if __name__ == "__main__":
    main()
