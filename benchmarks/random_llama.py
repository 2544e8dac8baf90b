"""A randomly initialised model of LLaMA-2-7B's shape, for GPU throughput benchmarks.

The weights cannot be downloaded here, and throughput does not depend on their values: a
``LlamaForCausalLM`` of the same architecture (hidden 4096, 32 layers, 32 heads, MLP 11008,
vocabulary 32,000) runs the same kernels. ``small`` gives a 2-layer, 256-wide stand-in that
checks a script on CPU. Shared by ``harmonic_gpu.py`` and ``lle_gpu.py``.
"""

from __future__ import annotations

from typing import Any

#: Llama-2's vocabulary size: the output layer's real width
VOCAB = 32000
LLAMA2_7B = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "heads": 32}
SMALL = {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 2, "heads": 4}


def sync() -> None:
    """Wait for the GPU, so that wall-clock timings cover the work they name."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def fill_vocab(tokenizer: Any) -> None:
    """Pad a locally trained tokenizer to Llama-2's 32,000 entries, so the output layer has
    its real size and every id a random model samples decodes to text (the fillers never
    occur in the data)."""
    tokenizer.add_tokens([f"<filler_{i}>" for i in range(VOCAB - len(tokenizer))])


def llama_config(small: bool, tokenizer: Any) -> Any:
    from transformers import LlamaConfig

    size = dict(SMALL if small else LLAMA2_7B)
    heads = size.pop("heads")
    return LlamaConfig(
        vocab_size=len(tokenizer),
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **size,
    )


def random_llama(config: Any, device: str) -> tuple[Any, Any]:
    """The model for ``config``, created directly on ``device`` in its dtype (bf16 on CUDA),
    seeded; returns (model, dtype)."""
    import torch
    from transformers import LlamaForCausalLM

    from harmonic.backbone import default_dtype

    dtype = default_dtype(device)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model, dtype
