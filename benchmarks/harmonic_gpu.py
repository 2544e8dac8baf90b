"""HARMONIC throughput on a GPU, with a randomly initialised model of LLaMA-2-7B's shape.

The weights cannot be downloaded here, and throughput does not depend on their values: a
model of the same architecture (hidden 4096, 32 layers, 32 heads, MLP 11008, vocabulary
32,000) in bf16, with LoRA r=16 on every linear projection as in the paper preset, runs the
project's own trainer and sampler on real Adult instructions. Measured, in one run:

1. LoRA training: tokens/s (prompt + answer tokens, padding excluded) and model FLOPs
   utilisation, under two conventions (see ``flops_per_token``).
2. Sampling: rows/s with batched generation (left padding, KV cache, the harness's batch size
   backing off on out-of-memory) against a one-prompt-at-a-time ``generate`` loop on the
   same model and prompts. Target: batched >= 10x.
3. Out-of-memory back-off: generation asked to run every prompt in one batch, far past what
   fits; the sizes it backed off through are printed.

Random weights emit no valid JSON, so valid rows/s comes from ``harmonic_quick_gpu.py``
(a trained quick-preset model). The tokenizer is a BPE trained on the instructions (Llama-2's
cannot be downloaded); it spends fewer tokens per row than Llama-2's would, so rows/s here
is an upper bound for those prompts while tokens/s carries over.

    python benchmarks/harmonic_gpu.py               # the H100 run
    python benchmarks/harmonic_gpu.py --small       # a 2-layer, 256-wide stand-in (CPU check)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from random_llama import VOCAB, fill_vocab, llama_config, random_llama, sync

# bf16 dense peak without sparsity, TFLOP/s, from NVIDIA's data sheets
PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.4, "H200": 989.4, "A100": 312.0}


def peak_tflops(name: str) -> float | None:
    for key, value in PEAK_TFLOPS.items():  # most specific names first
        if key in name:
            return value
    return None


def flops_per_token(config, context: float) -> dict[str, float]:
    """Training FLOPs per token.

    ``lora`` counts what LoRA fine-tuning really multiplies: forward (2N) and the gradient
    with respect to activations (2N); frozen weights get no weight gradient. ``6N`` is the
    usual full-training convention (PaLM's MFU), quoted because LoRA papers often use it.
    Both add causal attention: 4 * layers * hidden * context/2 forward, times 2 backward.
    """
    h, layers, inter = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    n = layers * (4 * h * h + 3 * h * inter) + config.vocab_size * h  # matmul weights
    attention = 4 * layers * h * context / 2
    return {"params": n, "lora": 4 * n + 3 * attention, "6N": 6 * n + 3 * attention}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny stand-in, runs on CPU")
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--train-examples", type=int, default=256)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=512, help="prompts for batched sampling")
    parser.add_argument("--batch", type=int, default=256, help="sampling batch size")
    parser.add_argument("--sequential", type=int, default=16, help="prompts one at a time")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--skip-training", action="store_true", help="sampling parts only")
    args = parser.parse_args()

    import torch

    from bench.datasets import load_bundled
    from harmonic.backbone import (
        Backbone,
        TinySpec,
        add_lora,
        resolve_device,
        train_tokenizer,
    )
    from harmonic.instructions import InstructionBuilder

    device = resolve_device("auto")
    gpu = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    data = load_bundled(args.dataset)
    train, schema = data.split("train"), data.schema
    examples = InstructionBuilder(seed=1).build(train, schema)[: args.train_examples]
    prompts = [e.prompt for e in examples]
    outputs = [e.output for e in examples]
    tok = train_tokenizer([*prompts, *outputs], TinySpec(vocab_size=VOCAB, min_frequency=2))
    fill_vocab(tok)
    config = llama_config(args.small, tok)
    t0 = time.perf_counter()
    model, dtype = random_llama(config, device)
    init_s = time.perf_counter() - t0
    model = add_lora(model, 16, 32, 0.05)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    backbone = Backbone(model, tok, device, dtype, "random LLaMA-2-7B architecture")
    results: dict[str, object] = {
        "device": gpu,
        "torch": torch.__version__,
        "model": "small stand-in" if args.small else "LLaMA-2-7B architecture, random init",
        "dtype": str(dtype),
        "init_s": round(init_s, 1),
        "lora_trainable_params": trainable,
    }
    print(json.dumps(results), flush=True)

    # ---- 1. LoRA training ----------------------------------------------------------------
    if not args.skip_training:
        train_lora(backbone, prompts, outputs, config, gpu, args, results)
    generate_parts(backbone, train, schema, outputs, args, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


def train_lora(backbone, prompts, outputs, config, gpu, args, results) -> None:
    import torch

    from harmonic.trainer import fine_tune

    device, tok = backbone.device, backbone.tokenizer
    fine_tune(
        backbone,
        prompts[:16],
        outputs[:16],
        epochs=1,
        lr=3e-4,
        batch_size=16,
        micro_batch=args.micro_batch,
    )  # warm-up: CUDA context, kernels, allocator
    sync()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    stats = fine_tune(
        backbone, prompts, outputs, epochs=1, lr=3e-4, batch_size=16, micro_batch=args.micro_batch
    )
    sync()
    lengths = [len(tok(p + o)["input_ids"]) for p, o in zip(prompts, outputs, strict=True)]
    context = sum(lengths) / len(lengths)
    flops = flops_per_token(config, context)
    tps = stats.tokens_per_second
    peak = peak_tflops(gpu)
    training = {
        "examples": stats.examples,
        "tokens": stats.tokens,
        "mean_tokens_per_example": round(context, 1),
        "micro_batch": args.micro_batch,
        "seconds": round(stats.seconds, 2),
        "tokens_per_s": round(tps, 1),
        "examples_per_s": round(stats.examples / stats.seconds, 2),
        "achieved_tflops_lora": round(tps * flops["lora"] / 1e12, 1),
        "peak_tflops_bf16": peak,
        "mfu_lora_flops": round(tps * flops["lora"] / 1e12 / peak, 3) if peak else None,
        "mfu_6N_convention": round(tps * flops["6N"] / 1e12 / peak, 3) if peak else None,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1)
        if device == "cuda"
        else None,
        "loss_first_last": [round(stats.loss_first, 3), round(stats.loss_last, 3)],
    }
    results["training"] = training
    print(json.dumps({"training": training}), flush=True)


def generate_parts(backbone, train, schema, outputs, args, results) -> None:
    import torch

    from harmonic.backbone import backoff_batches
    from harmonic.instructions import generation_prompts
    from harmonic.parse import parse_rows
    from harmonic.sampler import generate_texts

    device, tok = backbone.device, backbone.tokenizer

    # ---- 2. sampling: batched vs one at a time --------------------------------------------
    gen_prompts = generation_prompts(train, schema, args.prompts, seed=2)
    longest = max(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outputs)
    max_new = int(longest * 1.5) + 8  # as the adapter sets it

    def generate(batch: list[str]) -> list[str]:
        return generate_texts(backbone, batch, max_new_tokens=max_new, seed=3)

    generate(gen_prompts[:2])  # warm-up
    sizes: list[int] = []
    sync()
    t0 = time.perf_counter()
    texts = backoff_batches(generate, gen_prompts, args.batch, on_backoff=sizes.append)
    sync()
    batched_s = time.perf_counter() - t0
    new_tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
    valid, _reasons = parse_rows(texts, schema)
    seq = gen_prompts[: args.sequential]
    sync()
    t0 = time.perf_counter()
    seq_texts = [generate([p])[0] for p in seq]
    sync()
    seq_s = time.perf_counter() - t0
    seq_tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in seq_texts)
    sampling = {
        "prompts": len(gen_prompts),
        "max_new_tokens": max_new,
        "batch_size_asked": args.batch,
        "backed_off_to": sizes,
        "batched_s": round(batched_s, 2),
        "batched_rows_per_s": round(len(texts) / batched_s, 2),
        "batched_new_tokens_per_s": round(new_tokens / batched_s, 1),
        "valid_rows": len(valid),
        "sequential_prompts": len(seq),
        "sequential_s": round(seq_s, 2),
        "sequential_rows_per_s": round(len(seq) / seq_s, 3),
        "sequential_new_tokens_per_s": round(seq_tokens / seq_s, 1),
        "speedup_rows_per_s": round((len(texts) / batched_s) / (len(seq) / seq_s), 1),
    }
    results["sampling"] = sampling
    print(json.dumps({"sampling": sampling}), flush=True)

    # ---- 3. out-of-memory back-off -------------------------------------------------------
    if device == "cuda":
        free, total = torch.cuda.mem_get_info()
        oom_prompts = generation_prompts(train, schema, args.prompts, seed=4)
        sizes = []
        t0 = time.perf_counter()
        texts = backoff_batches(generate, oom_prompts, len(oom_prompts), on_backoff=sizes.append)
        sync()
        results["oom_backoff"] = {
            "free_gib_before": round(free / 2**30, 1),
            "total_gib": round(total / 2**30, 1),
            "prompts": len(oom_prompts),
            "asked_batch": len(oom_prompts),
            "backed_off_to": sizes,
            "completed_rows": len(texts),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps({"oom_backoff": results["oom_backoff"]}), flush=True)


if __name__ == "__main__":
    main()
