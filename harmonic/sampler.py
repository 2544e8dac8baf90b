"""Sampling: batched generation from fresh prompts until ``n`` valid rows or the budget.

Prompts are left-padded and generated in batches with the KV cache (``model.generate``),
temperature 0.7 and top-p 0.9 by default. A sequence stops at EOS or at the closing brace of
its first JSON object; every continuation is parsed and validated against the schema, and
invalid ones are counted by reason and replaced by new prompts. Model output never crashes
the run: the worst case is fewer rows than asked, reported as a shortfall.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bench.progress import ProgressLog
from harmonic.template import adds_special_tokens, prompt_text


@dataclass
class SampleReport:
    requested: int
    valid: int = 0  # rows returned (at most ``requested``)
    generated_valid: int = 0  # valid continuations, including any beyond ``requested``
    prompts: int = 0
    invalid: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.generated_valid / self.seconds if self.seconds else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "valid": self.valid,
            "generated_valid": self.generated_valid,
            "prompts": self.prompts,
            "invalid": dict(self.invalid),
            "invalid_total": sum(self.invalid.values()),
            "valid_rate": self.generated_valid / self.prompts if self.prompts else None,
            "shortfall": max(0, self.requested - self.valid),
            "seconds": self.seconds,
            "rows_per_second": self.rows_per_second,
        }


def first_object_end(text: str) -> int | None:
    """Index just past the closing brace of the first JSON object in ``text``, if complete."""
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"' and depth:
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def closing_tokens(tokenizer: Any, vocab_size: int) -> Any:
    """Boolean tensor over token ids: does the token's text contain a closing brace?

    Only a sequence whose newest token holds ``}`` can have just completed its JSON object,
    so the stopping check decodes those few sequences instead of every sequence every step
    (decoding all of them made each step's cost grow with the text generated so far).
    """
    import torch

    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    flags = torch.zeros(max(vocab_size, len(texts)), dtype=torch.bool)
    flags[: len(texts)] = torch.tensor(["}" in t for t in texts])
    return flags


def _stopper(tokenizer: Any, prompt_width: int, closing: Any) -> Any:
    import torch
    from transformers import StoppingCriteria

    class FirstObject(StoppingCriteria):
        """Per-sequence stop once the continuation holds one complete JSON object."""

        def __init__(self) -> None:
            self.done: Any = None

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            if self.done is None:
                self.done = torch.zeros(len(input_ids), dtype=torch.bool, device=input_ids.device)
            maybe = closing[input_ids[:, -1]] & ~self.done
            for row in maybe.nonzero().flatten().tolist():
                text = tokenizer.decode(input_ids[row, prompt_width:], skip_special_tokens=True)
                if first_object_end(text) is not None:
                    self.done[row] = True
            return self.done.clone()

    return FirstObject()


def kv_cache(model: Any, device: str) -> str | None:
    """``generate``'s cache: preallocated ("static") on CPU where the model allows it.

    The default cache grows by concatenation, so every decoding step copies the whole cache
    of the batch; on CPU that copy, not the arithmetic, bounds the tiny backbone's sampling
    (German, 64 prompts a batch: 1.2-1.5x faster static, same texts; benchmarks/RESULTS.md).
    On CUDA the default stays: there ``generate`` would compile a model for a static cache.
    """
    if device.startswith("cpu") and getattr(model, "_can_compile_fullgraph", False):
        return "static"
    return None


def generate_texts(
    backbone: Any,
    instructions: list[str],
    *,
    max_new_tokens: int,
    temperature: float = 0.7,
    top_p: float = 0.9,
    seed: int = 0,
    cache: str | None = "auto",
) -> list[str]:
    """One continuation per instruction, generated together (left padding, KV cache).

    ``cache``: ``"auto"`` (:func:`kv_cache`), or ``generate``'s ``cache_implementation``
    (``None``: the model's default).
    """
    import torch
    from transformers import StoppingCriteriaList

    tok, model = backbone.tokenizer, backbone.model
    tok.padding_side = "left"
    prompts = [prompt_text(tok, i) for i in instructions]
    special = adds_special_tokens(tok, prompts[0]) if prompts else True  # one template for all
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=special)
    enc = {k: v.to(backbone.device) for k, v in enc.items()}
    closing = closing_tokens(tok, model.config.vocab_size).to(backbone.device)
    if cache == "auto":
        cache = kv_cache(model, backbone.device)
    extra = {"cache_implementation": cache} if cache else {}
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(
            **enc,
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            use_cache=True,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
            stopping_criteria=StoppingCriteriaList(
                [_stopper(tok, enc["input_ids"].shape[1], closing)]
            ),
            **extra,
        )
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return [t[: first_object_end(t) or len(t)] for t in texts]


def batch_seed(seed: int, round_: int, start: int) -> int:
    """The sampling seed of the batch that starts at prompt ``start`` of round ``round_``.

    Every batch draws its own noise, and no two (seed, round, batch) share it: with
    ``seed + round`` every batch of a round drew the same noise, and run ``s``'s round 1
    drew run ``s + 1``'s round 0 (the spec's "each call re-seeds the RNG to the same value").
    """
    import numpy as np

    return int(np.random.SeedSequence([seed, round_, start]).generate_state(1)[0])


def sample_rows(
    n: int,
    make_prompts: Callable[[int, int], list[str]],
    generate: Callable[[list[str], int], list[str]],
    parse: Callable[[list[str]], tuple[pd.DataFrame, Counter]],
    *,
    batch_size: int,
    budget: float = 3.0,
    who: str = "sampling",
) -> tuple[pd.DataFrame, SampleReport]:
    """Generate until ``n`` valid rows exist or ``budget × n`` prompts were spent.

    ``make_prompts(count, round)`` gives fresh prompts (the round number keeps their
    randomness new), ``generate(prompts, round)`` the continuations, ``parse`` the valid rows
    and the invalid reasons. ``who`` names the loop in its progress lines (stderr).
    """
    report = SampleReport(requested=n)
    tables: list[pd.DataFrame] = []
    limit = max(int(budget * n), n)
    t0 = time.perf_counter()
    log = ProgressLog(who, n, unit="valid rows")
    round_ = 0
    while report.valid < n and report.prompts < limit:
        want = min(batch_size, limit - report.prompts, max(n - report.valid, 1) * 2)
        prompts = make_prompts(want, round_)
        rows, reasons = parse(generate(prompts, round_))
        report.prompts += len(prompts)
        report.invalid.update(reasons)
        tables.append(rows)
        report.valid += len(rows)
        report.generated_valid += len(rows)
        round_ += 1
        log(min(report.valid, n), valid_rate=report.generated_valid / report.prompts)
    report.seconds = time.perf_counter() - t0
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    table = table.head(n).reset_index(drop=True)
    report.valid = len(table)
    return table, report
