"""Per-row perplexity of a row's serialisation as the OUTPUT of a generation prompt.

PPL(x) = exp(mean negative log-likelihood of x's OUTPUT tokens and EOS) in nats, under the
fitted model, in the exact training format
(:mod:`harmonic.template`). Batched; only the OUTPUT's positions get logits
(:func:`harmonic.trainer.answer_nll`).
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

    from harmonic.trainer import answer_nll, answer_tokens

    tok, model = backbone.tokenizer, backbone.model
    pairs = [encode_pair(tok, i, o, max_length) for i, o in zip(instructions, outputs, strict=True)]
    out = np.empty(len(pairs))
    model.eval()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        seqs = [ids for ids, _ in chunk]
        counts = [answer_tokens(ids, labels) for ids, labels in chunk]  # OUTPUT and EOS
        with torch.no_grad():
            nll = answer_nll(model, seqs, counts, tok.pad_token_id, backbone.device)
        mean_nll = nll.cpu().numpy() / np.maximum(counts, 1)
        # base 2 reproduces the authors' script: 2 ** (natural-log loss)
        out[start : start + len(chunk)] = np.exp(mean_nll) if base == math.e else base**mean_nll
    return out
