"""Per-row perplexity of a row's serialisation as the OUTPUT of a generation prompt.

PPL(x) = exp(mean negative log-likelihood of x's OUTPUT tokens and EOS) in nats, under the
fitted model, in the exact training format
(:mod:`harmonic.template`). Batched with right padding; the prompt tokens are masked.
``base=2`` reproduces the authors' script (2 ** natural-log loss), for comparison only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harmonic.template import encode_pair


def row_perplexity(
    backbone: Any,
    instructions: list[str],
    outputs: list[str],
    *,
    batch_size: int = 16,
    max_length: int = 2048,
    base: float = math.e,
) -> np.ndarray:
    import torch

    from harmonic.trainer import _pad

    tok, model = backbone.tokenizer, backbone.model
    pairs = [encode_pair(tok, i, o, max_length) for i, o in zip(instructions, outputs, strict=True)]
    out = np.empty(len(pairs))
    model.eval()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = _pad(chunk, tok.pad_token_id, backbone.device)
        with torch.no_grad():
            logits = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                use_cache=False,  # a scoring pass needs no KV cache: it only costs memory
            ).logits.float()
        labels = batch["labels"][:, 1:]
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), labels, ignore_index=-100, reduction="none"
        )
        counts = (labels != -100).sum(dim=1).clamp(min=1)
        mean_nll = (nll.sum(dim=1) / counts).cpu().numpy()
        # base 2 reproduces the authors' script: 2 ** (natural-log loss)
        out[start : start + len(chunk)] = np.exp(mean_nll) if base == math.e else base**mean_nll
    return out
