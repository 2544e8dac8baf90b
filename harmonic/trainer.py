"""Fine-tuning: next-token loss on the OUTPUT tokens and EOS only, AdamW, cosine schedule.

A plain PyTorch loop with an explicit label mask, rather than TRL's ``SFTTrainer``: the mask
is the core of the method (it keeps the model from learning the real neighbour rows shown in
each prompt), so it is built by :func:`harmonic.template.encode_pair` and tested here, not
inferred from a response template by a library whose completion-only API changes between
versions. The loop is small: shuffled batches, gradient accumulation up to
the paper's batch size, bf16 autocast on CUDA. Micro-batches are left-padded so that the
model computes logits only where the loss falls (:func:`answer_nll`), which the perplexity
of DLT shares.
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


def keeps_logits(model: Any) -> bool:
    """Whether the model's forward takes ``logits_to_keep`` (transformers >= 4.50, Llama)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int, device: str) -> dict[str, Any]:
    """Left padding puts every answer at the end, so one slice of logits covers all rows.
    Positions count from each row's first real token, as without padding."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, width - len(s) :] = torch.tensor(list(s), dtype=torch.long)
        mask[row, width - len(s) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "position_ids": positions.to(device),
    }


def answer_tokens(ids: Sequence[int], labels: Sequence[int]) -> int:
    """How many of a pair's last tokens the loss scores: its output and EOS (the labels that
    are not -100), never the sequence's first token, which nothing predicts."""
    return min(sum(t != -100 for t in labels), len(ids) - 1)


def answer_nll(
    model: Any, seqs: Sequence[Sequence[int]], answers: Sequence[int], pad_id: int, device: str
) -> Any:
    """Each sequence's summed next-token loss over its last ``answers[i]`` tokens (nats).

    The batch is left-padded, so every answer ends at the right edge and the model computes
    logits for the last ``max(answers) + 1`` positions only (where it takes
    ``logits_to_keep``): a prompt of hundreds of tokens before an answer of tens no longer
    pays for a vocabulary-wide projection and softmax at each of its positions. Gradients
    flow when the caller has them enabled.
    """
    import torch

    enc = left_pad(seqs, pad_id, device)
    width = enc["input_ids"].shape[1]
    # a sequence's first token has no prediction, so at most len - 1 of it is scored
    spans = torch.tensor([min(a, len(s) - 1) for s, a in zip(seqs, answers, strict=True)])
    keep = min(int(spans.max()) + 1, width)
    extra = {"logits_to_keep": keep} if keeps_logits(model) else {}
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
        logits = model(**enc, use_cache=False, **extra).logits[:, -keep:]
    targets = enc["input_ids"][:, width - keep + 1 :]
    offset = torch.arange(keep - 1)
    is_answer = (offset[None, :] >= (keep - 1 - spans)[:, None]).to(targets.device)
    nll = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().transpose(1, 2),
        targets.masked_fill(~is_answer, -100),
        ignore_index=-100,
        reduction="none",
    )
    return nll.sum(dim=1)


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
    answers = [answer_tokens(ids, labels) for ids, labels in pairs]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    micro = max(1, min(micro_batch, batch_size))
    accumulate = max(1, math.ceil(batch_size / micro))
    steps_per_epoch = math.ceil(len(pairs) / (micro * accumulate))
    total = steps_per_epoch * epochs
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = get_cosine_schedule_with_warmup(optim, math.ceil(warmup * total), total)
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
            n_label = sum(answers[i] for b in group for i in b)
            optim.zero_grad(set_to_none=True)
            step_loss = 0.0
            for b in group:
                seqs = [pairs[i][0] for i in b]
                tokens += sum(len(x) for x in seqs)
                # token-weighted mean over the whole accumulated batch
                nll = answer_nll(model, seqs, [answers[i] for i in b], tok.pad_token_id, device)
                loss = nll.sum() / max(n_label, 1)
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
