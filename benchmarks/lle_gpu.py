"""LLE throughput on a GPU, with a randomly initialised model of LLaMA-2-7B's shape.

The paper preset's backbone cannot be downloaded here, and throughput does not depend on the
weights' values: a LlamaForCausalLM of the same architecture (hidden 4096, 32 layers, 32
heads, MLP 11008, vocabulary 32,000) in bf16 with LoRA r16 / alpha 32 / dropout 0.05 runs the
metric's own code on real prompts of one dataset. Measured in one run:

1. LoRA fine-tuning (:func:`harmonic.trainer.fine_tune`, the paper's batch 32 in
   micro-batches): training examples/s and tokens/s, peak GPU memory.
2. Verbaliser log-likelihood scoring (:func:`bench.metrics.lle.score_classes`): test
   examples/s batched against one example at a time on the same model and prompts, and the
   largest difference between the two (they must agree). Target: batched >= 10x.
3. Optionally (``--generate``) the paper-faithful greedy generation, batched.

The tokenizer is a BPE trained on the prompts and filled up to 32,000 entries (Llama-2's own
cannot be downloaded); it spends fewer tokens per prompt than Llama-2's, so examples/s here
is an upper bound for those prompts while tokens/s carries over.

    python benchmarks/lle_gpu.py                  # the H100 run: training, then scoring
    python benchmarks/lle_gpu.py --skip-training --score-batch 64 128 256 512
    python benchmarks/lle_gpu.py --small          # a 2-layer, 256-wide stand-in (CPU check)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from random_llama import VOCAB, fill_vocab, llama_config, random_llama, sync


def build_model(tokenizer: Any, small: bool, device: str) -> tuple[Any, Any]:
    """The random LLaMA-2-7B-shaped model (or the small stand-in) with LoRA as the paper
    preset adds it."""
    from harmonic.backbone import add_lora

    model, dtype = random_llama(llama_config(small, tokenizer), device)
    model.eval()
    return add_lora(model, 16, 32, 0.05), dtype


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny stand-in, runs on CPU")
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--train-examples", type=int, default=512)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--score-examples", type=int, default=1024, help="test rows, batched")
    parser.add_argument(
        "--score-batch", type=int, nargs="+", default=[128], help="(row, class) pairs a batch"
    )
    parser.add_argument("--skip-training", action="store_true", help="time scoring only")
    parser.add_argument("--sequential", type=int, default=32, help="test rows one at a time")
    parser.add_argument("--generate", action="store_true", help="also time greedy generation")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()

    import numpy as np
    import torch

    from bench.datasets import load_bundled
    from bench.metrics.lle import answer_text, build_prompts, task_for
    from harmonic.backbone import Backbone, TinySpec, resolve_device, train_tokenizer

    device = resolve_device("auto")
    data = load_bundled(args.dataset)
    schema, task = data.schema, task_for(args.dataset, data.schema)
    train = data.split("train").head(args.train_examples)
    test = data.split("test").head(args.score_examples)
    train_prompts = build_prompts(train, schema, task)
    test_prompts = build_prompts(test, schema, task)
    y = train[schema.target].map({c: i for i, c in enumerate(schema.classes)}).to_numpy()
    tok = train_tokenizer(
        [*train_prompts, *(f" {w}" for w in task.words)],
        TinySpec(vocab_size=VOCAB, min_frequency=2),
    )
    fill_vocab(tok)
    t0 = time.perf_counter()
    model, dtype = build_model(tok, args.small, device)
    backbone = Backbone(model, tok, device, dtype, "random LLaMA-2-7B architecture")
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "model": "small stand-in" if args.small else "LLaMA-2-7B architecture, random init",
        "dtype": str(dtype),
        "dataset": args.dataset,
        "init_s": round(time.perf_counter() - t0, 1),
        "lora_trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    print(json.dumps(results), flush=True)
    answers = [answer_text(tok, w) for w in task.words]
    if not args.skip_training:
        outputs = [answers[k] for k in y]
        results["training"] = train_part(backbone, train_prompts, outputs, args)
        print(json.dumps({"training": results["training"]}), flush=True)
    results["scoring"] = score_part(backbone, test_prompts, answers, args, np)
    print(json.dumps({"scoring": results["scoring"]}), flush=True)
    if args.generate:
        results["generation"] = generate_part(backbone, test_prompts, answers, task, args)
        print(json.dumps({"generation": results["generation"]}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


def train_part(backbone: Any, prompts: list[str], outputs: list[str], args: Any) -> dict:
    """The paper preset's LoRA fine-tuning for one epoch, after a warm-up."""
    import torch

    from harmonic.trainer import fine_tune

    kw = {"lr": 1e-4, "batch_size": 32, "micro_batch": args.micro_batch, "template": False}
    fine_tune(backbone, prompts[:32], outputs[:32], epochs=1, **kw)  # CUDA context, kernels
    sync()
    if backbone.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    stats = fine_tune(backbone, prompts, outputs, epochs=1, **kw)
    sync()
    return {
        "examples": stats.examples,
        "batch_size": 32,
        "micro_batch": args.micro_batch,
        "mean_tokens_per_example": round(stats.tokens / stats.examples, 1),
        "seconds": round(stats.seconds, 2),
        "examples_per_s": round(stats.examples / stats.seconds, 2),
        "tokens_per_s": round(stats.tokens_per_second, 1),
        "peak_memory_gib": (
            round(torch.cuda.max_memory_allocated() / 2**30, 1)
            if backbone.device == "cuda"
            else None
        ),
        "loss_first_last": [round(stats.loss_first, 3), round(stats.loss_last, 3)],
    }


def score_part(backbone: Any, prompts: list[str], answers: list[str], args: Any, np: Any) -> dict:
    """Batched scoring of every test prompt (at each batch size asked) vs a
    one-example-at-a-time loop on a subset, in one run on the same model."""
    from bench.metrics.lle import score_classes

    score_classes(backbone, prompts[:4], answers, batch_size=8)  # warm-up
    subset = prompts[: args.sequential]
    sync()
    t0 = time.perf_counter()
    one = np.vstack([score_classes(backbone, [p], answers, batch_size=1) for p in subset])
    sync()
    one_s = time.perf_counter() - t0
    one_rate = len(subset) / one_s
    out: dict[str, Any] = {
        "classes": len(answers),
        "one_at_a_time_examples": len(subset),
        "one_at_a_time_s": round(one_s, 2),
        "one_at_a_time_examples_per_s": round(one_rate, 2),
        "batched": [],
    }
    for size in args.score_batch:
        sync()
        t0 = time.perf_counter()
        batched = score_classes(backbone, prompts, answers, batch_size=size)
        sync()
        batched_s = time.perf_counter() - t0
        same = batched[: len(subset)]
        out["batched"].append(
            {
                "score_batch_pairs": size,
                "examples": len(prompts),
                "seconds": round(batched_s, 2),
                "examples_per_s": round(len(prompts) / batched_s, 2),
                "speedup": round(len(prompts) / batched_s / one_rate, 1),
                "max_abs_diff_nats": float(np.abs(same - one).max()),
                "same_predictions": bool((same.argmax(1) == one.argmax(1)).all()),
            }
        )
    return out


def generate_part(
    backbone: Any, prompts: list[str], answers: list[str], task: Any, args: Any
) -> dict:
    from bench.metrics.lle import generate_answers, match_answer

    longest = max(
        len(backbone.tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers
    )
    generate_answers(backbone, prompts[:4], max_new_tokens=longest + 8)  # warm-up
    sync()
    t0 = time.perf_counter()
    texts = generate_answers(
        backbone, prompts, max_new_tokens=longest + 8, batch_size=max(args.score_batch)
    )
    sync()
    seconds = time.perf_counter() - t0
    parsed = sum(match_answer(t, task.words) is not None for t in texts)
    return {
        "examples": len(prompts),
        "max_new_tokens": longest + 8,
        "seconds": round(seconds, 2),
        "examples_per_s": round(len(prompts) / seconds, 2),
        "parseable_share (random weights)": round(parsed / len(texts), 3),
    }


if __name__ == "__main__":
    main()
