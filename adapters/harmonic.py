"""HARMONIC (Wang et al., 2024): an LLM fine-tuned on kNN-built instructions generates rows.

fit: build the instruction set (each training row's k nearest neighbours as examples, the
row itself as the answer, groups with a disagreeing neighbourhood dropped, keys permuted),
load the backbone (``tiny`` offline by default, any causal LM by hub id or path), fine-tune
with the loss on the answer only. generate: fresh prompts of k random training rows, batched
sampling, parse and validate, retry until ``n`` valid rows or the budget is spent.
``perplexity`` scores rows in the same format, for DLT.

The method is the paper's (``harmonic/``); the authors' code deviations are options:
``knn_include_label=True, permute=False``. The ablations are the synthesizers
``harmonic-no-knn``, ``harmonic-no-filter`` and ``harmonic-no-permutation``.
"""

from __future__ import annotations

import tempfile
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.schema import Schema
from bench.synthesizer import Synthesizer

QUICK = {
    "llm": "tiny",
    "epochs": 8,
    "lr": 2e-3,
    "batch_size": 16,
    "lora": None,
}
PAPER = {
    "llm": "meta-llama/Llama-2-7b-chat-hf",
    "epochs": 5,
    "lr": 3e-4,
    "batch_size": 16,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "max_length": 2048,
    "temperature": 0.7,
    "lora": True,
}


class Harmonic(Synthesizer):
    """HARMONIC: kNN instructions, LoRA fine-tuning, batched sampling (paper's method)."""

    name: ClassVar[str] = "harmonic"
    label: ClassVar[str] = "HARMONIC"
    description: ClassVar[str] = "LLM fine-tuned on kNN instructions (Wang et al., 2024)"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"quick": QUICK, "paper": PAPER}
    packages: ClassVar[tuple[str, ...]] = ("torch", "transformers", "peft", "tokenizers")

    def __init__(
        self,
        llm: str = "tiny",
        device: str = "auto",
        k: int = 5,
        neighbours: str = "knn",
        label_filter: bool = True,
        permute: bool = True,
        knn_include_label: bool = False,
        epochs: int = 5,
        lr: float = 3e-4,
        batch_size: int = 16,
        micro_batch: int = 8,
        max_length: int = 2048,
        lora: bool | None = None,
        lora_r: int = 16,
        lora_alpha: int = 32,
        lora_dropout: float = 0.05,
        temperature: float = 0.7,
        top_p: float = 0.9,
        gen_batch_size: int = 64,
        retry_budget: float = 3.0,
        tiny_warmup: int = 8000,
    ) -> None:
        self.llm = llm
        self.device = device
        self.k = k
        self.neighbours = neighbours
        self.label_filter = label_filter
        self.permute = permute
        self.knn_include_label = knn_include_label
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.micro_batch = micro_batch
        self.max_length = max_length
        self.lora = lora
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.temperature = temperature
        self.top_p = top_p
        self.gen_batch_size = gen_batch_size
        self.retry_budget = retry_budget
        self.tiny_warmup = tiny_warmup

    # ---- fit ----------------------------------------------------------------------------------

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> Harmonic:
        from harmonic.backbone import add_lora, load_backbone
        from harmonic.instructions import InstructionBuilder, tiny_phrases
        from harmonic.trainer import fine_tune

        self.train_ = train.reset_index(drop=True)
        self.schema_ = schema
        self.seed_ = seed
        builder = InstructionBuilder(
            k=self.k,
            neighbours=self.neighbours,
            label_filter=self.label_filter,
            permute=self.permute,
            knn_include_label=self.knn_include_label,
            seed=seed,
        )
        examples = builder.build(self.train_, schema)
        prompts = [e.prompt for e in examples]
        outputs = [e.output for e in examples]
        self._workdir = tempfile.TemporaryDirectory(prefix="harmonic-")
        tiny = self.llm == "tiny"
        self.backbone_ = load_backbone(
            self.llm,
            self.device,
            texts=[*prompts, *outputs],
            cache_dir=self._workdir.name,
            seed=seed,
            # the tiny backbone's tokenizer writes each key (with ': "'), '", ' and each fixed
            # phrase of the prompt (header, "Example one: ", ..., the template's) as one token
            extra_tokens=tiny_phrases(schema, self.k),
        )
        warm = None
        if tiny and self.tiny_warmup:
            from harmonic.warmup import format_corpus, warm_up

            corpus = format_corpus(self.train_, schema, self.tiny_warmup, seed)
            warm = warm_up(self.backbone_, corpus, lr=self.lr, batch_size=16, seed=seed)
        # LoRA adapts a pretrained model; the tiny offline backbone is randomly initialised,
        # so by default it is trained in full (frozen random weights cannot learn the format)
        use_lora = self.lora if self.lora is not None else not tiny
        if use_lora:
            self.backbone_.model = add_lora(
                self.backbone_.model, self.lora_r, self.lora_alpha, self.lora_dropout, seed=seed
            )
        self.train_stats_ = fine_tune(
            self.backbone_,
            prompts,
            outputs,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            micro_batch=self.micro_batch,
            max_length=self.max_length,
            seed=seed,
            who="harmonic",
        )
        tok = self.backbone_.tokenizer
        longest = max(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outputs)
        self.max_new_tokens_ = int(longest * 1.5) + 8
        self.fit_report_ = {
            "examples": len(examples),
            "groups_dropped": len(self.train_) - len(examples),
            "lora": use_lora,
            "backbone": self.backbone_.name,
            "tiny_warmup": None
            if warm is None
            else {"texts": warm.examples, "loss_last": warm.loss_last, "seconds": warm.seconds},
            "loss_first": self.train_stats_.loss_first,
            "loss_last": self.train_stats_.loss_last,
            "tokens_per_second": self.train_stats_.tokens_per_second,
        }
        return self

    # ---- generate ---------------------------------------------------------------------------

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        from harmonic.backbone import backoff_batches, initial_batch_size, kv_bytes_per_token
        from harmonic.instructions import generation_prompts
        from harmonic.parse import parse_rows
        from harmonic.sampler import batch_seed, generate_texts, sample_rows

        def make_prompts(count: int, round_: int) -> list[str]:
            return generation_prompts(
                self.train_,
                self.schema_,
                count,
                seed=seed * 7919 + round_,
                k=self.k,
                permute=self.permute,
            )

        # On GPU the first batch is as large as free memory allows (KV cache of the longest
        # prompt plus the answer, x1.5 for activations and sampling), at most gen_batch_size;
        # a size that still runs out of memory backs off, and stays reduced for later rounds.
        probe = make_prompts(min(64, max(n, 1)), 0)  # the first round's prompts (seeded)
        tok = self.backbone_.tokenizer
        width = max(len(tok(p)["input_ids"]) for p in probe) + self.max_new_tokens_
        per_row = int(1.5 * width * kv_bytes_per_token(self.backbone_.model))
        size = [
            initial_batch_size(
                self.backbone_.device, per_row, self.gen_batch_size, cap=self.gen_batch_size
            )
        ]

        def generate(prompts: list[str], round_: int) -> list[str]:
            done = [0]  # prompts of this round already generated: the next batch's start

            def run(batch: list[str]) -> list[str]:
                texts = generate_texts(
                    self.backbone_,
                    batch,
                    max_new_tokens=self.max_new_tokens_,
                    temperature=self.temperature,
                    top_p=self.top_p,
                    seed=batch_seed(seed, round_, done[0]),
                )
                done[0] += len(batch)
                return texts

            return backoff_batches(
                run, prompts, size[0], on_backoff=lambda b: size.__setitem__(0, b)
            )

        table, report = sample_rows(
            n,
            make_prompts,
            generate,
            lambda texts: parse_rows(texts, self.schema_),
            batch_size=self.gen_batch_size * 4,
            budget=self.retry_budget,
            who="harmonic sampling",
        )
        self.sample_report_ = report.to_dict()
        if table.empty:
            return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in self.schema_.columns})
        return table

    def report(self) -> dict[str, Any]:
        """Training figures and the sampler's valid/invalid counts by reason, rows/s."""
        return {
            "fit": getattr(self, "fit_report_", None),
            "sampling": getattr(self, "sample_report_", None),
        }

    # ---- perplexity (DLT) --------------------------------------------------------------------

    def perplexity(self, rows: pd.DataFrame) -> np.ndarray:
        """Per-row perplexity of ``rows`` as answers to seeded generation prompts.

        Row i is scored after prompt i of one fixed, seeded prompt list, so a training row and
        a synthetic row at the same position see the same conditioning, except that prompt i
        never shows a training row equal to row i (it is redrawn: spec §4's "k other rows").
        """
        from harmonic.backbone import backoff_batches, initial_batch_size, kv_bytes_per_token
        from harmonic.instructions import generation_prompts, serialize_row
        from harmonic.perplexity import row_perplexity

        rows = rows.reset_index(drop=True)
        prompts = generation_prompts(
            self.train_,
            self.schema_,
            len(rows),
            seed=self.seed_ + 1,
            k=self.k,
            permute=self.permute,
            avoid=rows,
        )
        rng = np.random.default_rng(self.seed_ + 2)
        names = self.schema_.names
        outputs = []
        for record in rows.to_dict("records"):
            order = [names[i] for i in rng.permutation(len(names))] if self.permute else names
            outputs.append(serialize_row(record, self.schema_, order))
        pairs = list(zip(prompts, outputs, strict=True))
        if not pairs:
            return np.empty(0)

        def run(batch: list[tuple[str, str]]) -> list[float]:
            p, o = zip(*batch, strict=True)
            return list(
                row_perplexity(
                    self.backbone_,
                    list(p),
                    list(o),
                    batch_size=len(batch),
                    max_length=self.max_length,
                )
            )

        # fp32 logits over the vocabulary at the answer's positions (x3: logits, their float
        # copy, the loss), plus the keys and values every layer keeps for attention
        model, tok = self.backbone_.model, self.backbone_.tokenizer
        width = max(len(tok(p + o)["input_ids"]) for p, o in pairs[:64])
        answer = max(len(tok(o)["input_ids"]) for _, o in pairs[:64]) + 1
        per_row = answer * 12 * model.config.vocab_size + width * kv_bytes_per_token(model)
        start = initial_batch_size(self.backbone_.device, per_row, 16, cap=64)
        return np.asarray(backoff_batches(run, pairs, start), dtype=float)


class HarmonicNoKNN(Harmonic):
    """Ablation: random training rows as examples instead of the k nearest neighbours."""

    name = "harmonic-no-knn"
    label = "HARMONIC w/o kNN"
    description = "HARMONIC ablation: random examples instead of kNN"
    default_grid = False

    def __init__(self, neighbours: str = "random", **params: Any) -> None:
        super().__init__(neighbours=neighbours, **params)


class HarmonicNoFilter(Harmonic):
    """Ablation: keep every group, even where the neighbours' labels disagree."""

    name = "harmonic-no-filter"
    label = "HARMONIC w/o filter"
    description = "HARMONIC ablation: no label filter"
    default_grid = False

    def __init__(self, label_filter: bool = False, **params: Any) -> None:
        super().__init__(label_filter=label_filter, **params)


class HarmonicNoPermutation(Harmonic):
    """Ablation: keys in schema order instead of a random permutation per row."""

    name = "harmonic-no-permutation"
    label = "HARMONIC w/o permutation"
    description = "HARMONIC ablation: no feature permutation"
    default_grid = False

    def __init__(self, permute: bool = False, **params: Any) -> None:
        super().__init__(permute=permute, **params)
