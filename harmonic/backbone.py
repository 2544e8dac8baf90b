"""The LLM backbone shared by every LLM-based part of the harness (HARMONIC; later GReaT,
REaLTabFormer and the LLE metric).

``--llm`` names any causal LM ``transformers`` can load: a hub id or a local directory. The
default, ``tiny``, works fully offline: a small Llama-architecture model initialised from a
seeded config, with a byte-level BPE tokenizer trained on the very texts it will model. It is
saved in Hugging Face format and then loaded through the same ``from_pretrained`` path as any
other model, so the code that trains, samples and scores never special-cases it.

Heavy libraries (torch, transformers, tokenizers, peft) are imported inside the functions, so
importing this module stays instant (listing synthesizers must not load torch).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bench.device import DEVICES, DeviceError, resolve_device  # noqa: F401 - re-exported
from bench.errors import UserError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MARKER = "tiny_backbone.json"  # spec + seed + texts hash of a built tiny backbone
MARKER_FORMAT = 2  # bump when build_tiny's output changes for the same inputs
# The words BPE merges within: GPT-2's split, except that a run of letters and digits is one
# word, so a code such as ``A121`` (German's categories) can become one token instead of
# ``A`` + ``121``. Digits alone, punctuation and spaces split as in GPT-2 (``GPT2_WORDS``).
WORDS = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[\p{L}\p{N}]+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT2_WORDS = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# Distinctive special tokens: ordinary text (JSON rows, prompts) never contains them, and
# byte-level BPE never produces a special token's id, so EOS appears only when a caller
# appends it (its id, or its literal string, which the tokenizer maps to that one id).
BOS, EOS, PAD, UNK = "<|bos|>", "<|eos|>", "<|pad|>", "<|unk|>"
SPECIAL_TOKENS = (BOS, EOS, PAD, UNK)
# peft's shorthand for "every nn.Linear except the output layer" (supported since peft 0.8);
# for Llama that is q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj and down_proj.
LORA_TARGETS = "all-linear"
LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# ---- device -----------------------------------------------------------------------------------


def default_dtype(device: str) -> torch.dtype:
    """bf16 on CUDA (half the memory, same range as fp32), fp32 on CPU (bf16 matmuls are slow
    on most CPUs). A GPU without bf16 support gets fp32: fp16 would need loss scaling."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


# ---- the tiny offline backbone --------------------------------------------------------------


@dataclass(frozen=True)
class TinySpec:
    """Size of the ``tiny`` backbone: ~1.4M parameters.

    Small enough to train in full for a few epochs in minutes on 2 CPU cores, large enough to
    learn a JSON row format (4 layers of 4 heads give it room to copy keys and track which
    columns are done). The vocabulary is an upper bound: BPE stops merging when pairs get
    rarer than ``min_frequency``, which keeps rarely seen (hence badly trained) tokens out.
    """

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 384
    vocab_size: int = 2048
    max_positions: int = 2048
    min_frequency: int = 3


def texts_hash(texts: Iterable[str]) -> str:
    """SHA-256 over the texts, length-prefixed so ``["ab", "c"]`` and ``["a", "bc"]`` differ."""
    h = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _marker(
    spec: TinySpec, seed: int, digest: str, count: int, extra: Sequence[str]
) -> dict[str, Any]:
    return {
        "format": MARKER_FORMAT,
        "spec": asdict(spec),
        "seed": seed,
        "texts_sha256": digest,
        "texts": count,
        "extra_tokens": list(extra),
    }


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _same_build(found: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    keys = ("format", "spec", "seed", "texts_sha256", "extra_tokens")
    return found is not None and all(found.get(k) == wanted[k] for k in keys)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise builders of one directory (parallel jobs may share a cache dir)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock; builds are deterministic, so races are benign
        yield
        return
    with open(path / ".lock", "a") as fh:  # "a": never truncates, so the mtime stays
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def train_tokenizer(
    texts: list[str], spec: TinySpec, extra_tokens: Sequence[str] = (), pattern: str = WORDS
) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``, as a ``PreTrainedTokenizerFast``.

    Byte-level means every string round-trips exactly (``decode(encode(s)) == s``), quotes,
    braces, newlines and non-ASCII included: the full 256-byte alphabet is in the vocabulary,
    so nothing is ever unknown, and no normaliser or space clean-up touches the text.
    ``extra_tokens`` become single tokens wherever they occur (e.g. a row's quoted keys).
    ``pattern`` splits the text into the words that BPE merges within (default
    :data:`WORDS`).
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        min_frequency=spec.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),  # ids 0..3, in this order
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tok.add_tokens([AddedToken(t, normalized=False) for t in dict.fromkeys(extra_tokens)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=spec.max_positions,
        # what Llama's forward takes: no token_type_ids, which generate() would reject
        model_input_names=["input_ids", "attention_mask"],
        clean_up_tokenization_spaces=False,  # it would turn ' ,' into ',': not a round trip
    )


def build_tiny(
    texts: Iterable[str],
    path: str | Path,
    seed: int,
    spec: TinySpec = TinySpec(),
    extra_tokens: Sequence[str] = (),
) -> Path:
    """Build (or reuse) the ``tiny`` backbone in ``path`` and return ``path``.

    Trains the tokenizer on ``texts``, initialises a ``LlamaForCausalLM`` from config under
    ``torch.manual_seed(seed)`` and saves both with ``save_pretrained``, then writes
    ``tiny_backbone.json`` (spec, seed, texts hash) last. A directory whose marker matches is
    reused as is: the build is deterministic, so rebuilding could only waste time.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    texts = list(texts)
    if not texts:
        raise ValueError("build_tiny needs texts to train its tokenizer on; got none")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    wanted = _marker(spec, seed, texts_hash(texts), len(texts), extra_tokens)
    with _locked(path):
        if _same_build(_read_marker(path), wanted):
            return path
        (path / MARKER).unlink(missing_ok=True)  # a half-rebuilt dir must not look complete
        tokenizer = train_tokenizer(texts, spec, extra_tokens)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=spec.hidden_size,
            intermediate_size=spec.intermediate_size,
            num_hidden_layers=spec.num_layers,
            num_attention_heads=spec.num_heads,
            num_key_value_heads=spec.num_heads,
            max_position_embeddings=spec.max_positions,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
        )
        with torch.random.fork_rng(devices=[]):  # seed the init without moving the caller's RNG
            torch.manual_seed(seed)
            model = LlamaForCausalLM(config)
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        tmp = path / f".{MARKER}.tmp"
        tmp.write_text(json.dumps(wanted, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path / MARKER)
    return path


# ---- loading ------------------------------------------------------------------------------------


@dataclass
class Backbone:
    """A loaded model and its tokenizer, on ``device`` in ``dtype``.

    ``name`` is the ``--llm`` value it was loaded from (``tiny``, a hub id or a path): it goes
    into results as provenance. ``path`` is the local directory, where there is one.
    """

    model: Any
    tokenizer: Any
    device: str
    dtype: Any  # torch.dtype
    name: str
    path: Path | None = field(default=None)


def _reason(exc: BaseException, limit: int = 200) -> str:
    """The exception's message on one line, shortened: it goes inside a one-line error."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _offline() -> bool:
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - transformers always brings it
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _from_pretrained(llm: str, dtype: Any) -> tuple[Any, Any]:
    """Tokenizer and model for ``llm``; the local cache first, the network only if needed.

    Trying ``local_files_only`` first means a cached model loads without any network call
    (without network, huggingface_hub would otherwise retry for ~45 s before using the cache),
    and a benchmark keeps using the revision it already has.
    """
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # transformers 4.56 renamed torch_dtype to dtype (the old name still works, with a warning)
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_kw = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"

    def load(local_only: bool) -> tuple[Any, Any]:
        tok = AutoTokenizer.from_pretrained(llm, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(
            llm, local_files_only=local_only, **{dtype_kw: dtype}
        )
        return tok, model

    if Path(llm).is_dir() or _offline():
        return load(True)
    try:
        return load(True)
    except OSError:  # not (fully) in the local cache: try the hub
        return load(False)


def _load_error(llm: str, exc: Exception) -> UserError:
    """One line that says what went wrong with ``--llm`` and how to fix it."""
    reason = _reason(exc)
    if Path(llm).is_dir():
        return UserError(
            f"could not load the local model directory '{llm}' as a causal LM ({reason}): "
            "it needs a config.json, tokenizer files and weights as written by save_pretrained"
        )
    if isinstance(exc, ImportError):
        return UserError(
            f"loading '{llm}' needs a package that is not installed ({reason}): install it "
            "or pass --llm tiny"
        )
    if "Unrecognized configuration class" in str(exc):
        return UserError(
            f"'{llm}' is not a causal language model ({reason}): pass --llm tiny or a causal LM "
            "such as gpt2 or meta-llama/Llama-2-7b-chat-hf"
        )
    from huggingface_hub.errors import HFValidationError

    if isinstance(exc, HFValidationError):
        return UserError(
            f"'{llm}' is neither an existing local directory nor a valid hub id ({reason}): "
            "pass --llm tiny, a hub id such as gpt2, or the path of a saved model"
        )
    if isinstance(exc, OSError):
        # offline, the reason is always "couldn't connect": only the online one says more
        # (no such repository, a gated one, no network)
        where = "HF_HUB_OFFLINE is set" if _offline() else f"hub: {reason}"
        return UserError(
            f"could not load '{llm}' (no network / not in the local cache; {where}): "
            "pass --llm tiny or a local directory, or download it first where there is network "
            f"(huggingface-cli download {llm})"
        )
    return UserError(f"could not load '{llm}': {reason}")


def load_backbone(
    llm: str,
    device: str = "auto",
    *,
    texts: Iterable[str] | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    spec: TinySpec = TinySpec(),
    extra_tokens: Sequence[str] = (),
) -> Backbone:
    """Load ``llm`` (``tiny``, a hub id or a local path) onto ``device``.

    ``tiny`` is built into ``cache_dir`` from ``texts`` (both required) with ``seed``, then
    loaded from there exactly like a local path; ``extra_tokens`` (phrases the texts repeat,
    such as column names) become single tokens of its tokenizer, which shortens the texts.
    A tokenizer without a pad token pads with EOS (GPT-2, Llama): batching needs one, and the
    attention mask hides it anyway.
    """
    device = resolve_device(device)
    dtype = default_dtype(device)
    if llm == "tiny":
        if texts is None or cache_dir is None:
            raise ValueError("the tiny backbone needs texts (to train its tokenizer) and cache_dir")
        source: str = str(build_tiny(texts, cache_dir, seed, spec, extra_tokens))
    else:
        source = llm
    if Path(source).is_dir() and not (Path(source) / "config.json").is_file():
        raise UserError(
            f"'{source}' is a directory but holds no model (no config.json): pass the "
            "directory a model was saved to with save_pretrained, a hub id, or --llm tiny"
        )
    try:
        tokenizer, model = _from_pretrained(source, dtype)
    except Exception as exc:  # loaders raise many types; the cause stays chained
        raise _load_error(source, exc) from exc
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise UserError(
                f"the tokenizer of '{llm}' has neither a pad nor an end-of-sequence token: "
                "pass a causal LM whose tokenizer defines eos_token"
            )
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    generation = getattr(model, "generation_config", None)
    if generation is not None and generation.pad_token_id is None:
        generation.pad_token_id = tokenizer.pad_token_id
    model.to(device)
    model.eval()
    local = Path(source)
    return Backbone(
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=dtype,
        name=llm,
        path=local if local.is_dir() else None,
    )


# ---- LoRA ---------------------------------------------------------------------------------------


def add_lora(
    model: Any, r: int = 16, alpha: int = 32, dropout: float = 0.05, *, seed: int = 0
) -> Any:
    """Wrap ``model`` with LoRA adapters on every linear projection of its blocks.

    ``all-linear`` lets peft find them for any architecture (q/k/v/o and gate/up/down for
    Llama) and leaves the output layer alone. Only the adapters stay trainable. peft draws
    the A matrices from torch's global generator: they are drawn from ``seed`` in a forked
    generator, so they do not depend on whatever ran before (a resumed job, other metrics).
    """
    import torch
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        task_type="CAUSAL_LM",
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=LORA_TARGETS,
        bias="none",
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return get_peft_model(model, config)


# ---- memory-safe batching -------------------------------------------------------------------


def is_oom(exc: BaseException) -> bool:
    """True for a device out-of-memory error (``torch.cuda.OutOfMemoryError`` or the plain
    RuntimeError some kernels raise with "out of memory" in the message)."""
    if type(exc).__name__ == "OutOfMemoryError":
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return "out of memory" in text or "cublas_status_alloc_failed" in text
    return False


def _free_cuda_cache() -> None:
    import gc

    gc.collect()
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def backoff_batches(
    run: Callable[[list[T]], list[R]],
    items: list[T],
    batch_size: int,
    min_batch: int = 1,
    *,
    on_backoff: Callable[[int], None] | None = None,
) -> list[R]:
    """``run`` over ``items`` in batches, halving the batch size on out-of-memory.

    The failed batch is retried at the smaller size (and the rest of the items continue at
    it); only an OOM at ``min_batch`` items propagates. Other errors propagate at once.
    ``on_backoff`` hears each new size, so a caller looping over rounds can start the next
    round at a size that fits. Results are concatenated in item order.
    """
    if batch_size < 1 or min_batch < 1:
        raise ValueError(f"batch sizes must be >= 1, got {batch_size} and {min_batch}")
    size = max(batch_size, min_batch)
    results: list[R] = []
    start = 0
    while start < len(items):
        batch = items[start : start + size]
        failed = False
        try:
            out = run(batch)
        except Exception as exc:
            if not is_oom(exc) or len(batch) <= min_batch:
                raise
            failed = True
        if failed:
            # outside the except block: the traceback (and the tensors its frames hold) is gone
            _free_cuda_cache()
            size = max(min_batch, len(batch) // 2)
            log.warning("out of memory at batch size %d; retrying at %d", len(batch), size)
            if on_backoff is not None:
                on_backoff(size)
            continue
        results.extend(out)
        start += len(batch)
    return results


def kv_bytes_per_token(model: Any) -> int:
    """Bytes of KV cache one token takes: keys and values, every layer, in the model's dtype."""
    config = model.config
    layers = config.num_hidden_layers
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    item = next(model.parameters()).element_size()
    return 2 * layers * heads * head_dim * item


def initial_batch_size(
    device: str,
    per_item_bytes: int,
    default: int,
    *,
    headroom: float = 0.8,
    cap: int | None = None,
) -> int:
    """A first batch size that fits in free GPU memory (``default`` on CPU).

    ``per_item_bytes`` is the caller's estimate of one item's activations + KV cache; only
    ``headroom`` of the free memory is planned for, since allocator fragmentation and
    temporaries eat the rest. :func:`backoff_batches` corrects an estimate that was too high.
    """
    if not device.startswith("cuda"):
        return default
    import torch

    if not torch.cuda.is_available():
        return default
    free, _total = torch.cuda.mem_get_info()
    size = max(1, int(free * headroom) // max(1, per_item_bytes))
    return min(size, cap) if cap is not None else size
