"""Fine-tuning: next-token loss on the OUTPUT tokens and EOS only, AdamW, cosine schedule.

A plain PyTorch loop with an explicit label mask, rather than TRL's ``SFTTrainer``: the mask
is the core of the method (it keeps the model from learning the real neighbour rows shown in
each prompt), so it is built by :func:`harmonic.template.encode_pair` and tested here, not
inferred from a response template by a library whose completion-only API changes between
versions. The loop is small: shuffled batches, gradient accumulation up to
the paper's batch size, bf16 autocast on CUDA.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.progress import ProgressLog
from harmonic.template import encode_pair


@dataclass
class TrainStats:
    examples: int
    epochs: int
    steps: int
    tokens: int  # tokens processed (prompt + output), for throughput
    loss_first: float
    loss_last: float
    seconds: float
    losses: list[float] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else float("nan")


def _pad(batch: list[tuple[list[int], list[int]]], pad_id: int, device: str) -> dict[str, Any]:
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (x, y) in enumerate(batch):  # right padding for training
        ids[row, : len(x)] = torch.tensor(x)
        labels[row, : len(y)] = torch.tensor(y)
        mask[row, : len(x)] = 1
    return {
        "input_ids": ids.to(device),
        "labels": labels.to(device),
        "attention_mask": mask.to(device),
    }


def fine_tune(
    backbone: Any,
    prompts: Sequence[str],
    outputs: Sequence[str],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    micro_batch: int = 8,
    max_length: int = 2048,
    weight_decay: float = 1e-5,
    warmup: float = 0.01,
    seed: int = 0,
    template: bool = True,
    who: str = "fine-tune",
) -> TrainStats:
    """Train ``backbone.model`` in place on (prompt, output) pairs.

    ``template=False`` uses the prompts as they are (see :func:`harmonic.template.prompt_text`).
    ``who`` names the loop in its progress lines (stderr: the job's log).
    """
    import numpy as np
    import torch
    from transformers import get_cosine_schedule_with_warmup

    tok, model, device = backbone.tokenizer, backbone.model, backbone.device
    pairs = [
        encode_pair(tok, p, o, max_length, template) for p, o in zip(prompts, outputs, strict=True)
    ]
    if not pairs:
        raise ValueError("no training examples: the instruction set is empty")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    micro = max(1, min(micro_batch, batch_size))
    accumulate = max(1, math.ceil(batch_size / micro))
    steps_per_epoch = math.ceil(len(pairs) / (micro * accumulate))
    total = steps_per_epoch * epochs
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = get_cosine_schedule_with_warmup(optim, math.ceil(warmup * total), total)
    use_bf16 = device == "cuda"
    log = ProgressLog(who, total, unit="step")
    model.train()
    losses: list[float] = []
    tokens = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(pairs))
        batches = [order[i : i + micro] for i in range(0, len(order), micro)]
        for start in range(0, len(batches), accumulate):
            group = batches[start : start + accumulate]
            n_label = sum(sum(t != -100 for t in pairs[i][1]) for b in group for i in b)
            optim.zero_grad(set_to_none=True)
            step_loss = 0.0
            for b in group:
                batch = _pad([pairs[i] for i in b], tok.pad_token_id, device)
                tokens += int(batch["attention_mask"].sum())
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
                    logits = model(
                        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                    ).logits
                # token-weighted mean over the whole accumulated batch
                loss = torch.nn.functional.cross_entropy(
                    logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                    batch["labels"][:, 1:].reshape(-1),
                    ignore_index=-100,
                    reduction="sum",
                ) / max(n_label, 1)
                loss.backward()
                step_loss += float(loss.detach())
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            sched.step()
            losses.append(step_loss)
            log(len(losses), loss=step_loss)
    model.eval()
    return TrainStats(
        len(pairs),
        epochs,
        len(losses),
        tokens,
        losses[0],
        losses[-1],
        time.perf_counter() - t0,
        losses,
    )
