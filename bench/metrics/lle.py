"""LLE (LLM efficacy): fine-tune a language model on the synthetic rows as classification
prompts, then classify the real test rows with it; the value is the weighted F1.

A row becomes a prompt of three lines: the dataset's task sentence, ``Text: 'The state of
<column> is <value>, ...'`` over the feature columns, and ``Answer:``; the answer is the
class's verbaliser word (German 0 → "good", 1 → "bad"; Adult 0 → "no", 1 → "yes";
Diabetes 0 → "negative", 1 → "positive"; Buddy 0/1/2 → "A"/"B"/"C"; a user dataset's
labels as text). The authors' code inverts the German verbalisers and uses a constant one
for Adult; this module does not copy that.

A fresh backbone (:mod:`harmonic.backbone`) is fine-tuned with the loss on the answer tokens
and EOS only (:func:`harmonic.trainer.fine_tune`, prompts used as they are). By default a
test row is assigned the class whose answer (+ EOS) has the highest log-likelihood after the
prompt, so every prediction is a valid class; ``decoding="generate"`` reproduces the paper's
greedy generation with substring matching and reports the share of unparseable answers
(counted as errors).

torch, transformers and peft are imported inside the functions: the CLI lists metrics
without loading them.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.errors import UserError
from bench.metrics.base import EvalContext, Metric, MetricResult
from bench.metrics.utility import (
    _check_syn,
    _class_index,
    _clean_syn,
    _encode_target,
    _untrainable,
)
from bench.schema import Column, Schema

# ---- prompts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """What the model is asked, and the answer word of each class (label → verbaliser)."""

    sentence: str
    verbalisers: dict[Any, str]

    @property
    def words(self) -> list[str]:
        return list(self.verbalisers.values())


#: The bundled datasets' task sentences and verbalisers (the spec's metrics.md, LLE row).
TASKS: dict[str, Task] = {
    "german": Task(
        "Is the credit risk of the person described below good or bad?",
        {0: "good", 1: "bad"},
    ),
    "adult": Task(
        "Does the person described below earn over $50K a year? Answer yes or no.",
        {0: "no", 1: "yes"},
    ),
    "diabetes": Task(
        "Is the diabetes test result of the patient described below positive or negative?",
        {0: "negative", 1: "positive"},
    ),
    "buddy": Task(
        "Which breed category, A, B or C, does the pet described below belong to?",
        {0: "A", 1: "B", 2: "C"},
    ),
}


def task_for(dataset: str, schema: Schema) -> Task:
    """The bundled task for ``dataset``, or one built from a user dataset's labels.

    A dataset that only shares a bundled name (its classes differ) is a user dataset.
    """
    classes = list(schema.classes)
    bundled = TASKS.get(dataset)
    if bundled is not None and set(bundled.verbalisers) == set(classes):
        return Task(bundled.sentence, {c: bundled.verbalisers[c] for c in classes})
    words = {c: str(c).strip() for c in classes}
    if any(not w for w in words.values()) or len(set(words.values())) < len(words):
        raise UserError(
            f"the LLE metric needs a distinct, non-empty text per class of '{schema.target}', "
            f"got {sorted(words.values())}: recode the target's labels"
        )
    about = schema.description or "record"
    sentence = (
        f"What is the {schema.target} of the {about} described below? "
        f"Answer one of: {', '.join(words.values())}."
    )
    return Task(sentence, words)


def format_value(value: Any) -> str:
    """A cell as prompt text: whole floats without ".0", others in at most 6 significant
    digits (shorter prompts, same information at the precision the tables hold), missing
    values as "missing"."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "missing"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isinf(v):
            return "infinite" if v > 0 else "-infinite"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        text = f"{v:.6g}"
        return text if "e" not in text else repr(v)
    if isinstance(value, (np.integer, np.bool_)):
        return str(value.item())
    return str(value)


def row_text(record: dict[str, Any], features: Sequence[Column]) -> str:
    """``The state of <column> is <value>, ...`` over the features, in schema order."""
    return ", ".join(f"The state of {c.name} is {format_value(record[c.name])}" for c in features)


def build_prompt(task: Task, record: dict[str, Any], features: Sequence[Column]) -> str:
    return f"{task.sentence}\nText: '{row_text(record, features)}'\nAnswer:"


def build_prompts(table: pd.DataFrame, schema: Schema, task: Task) -> list[str]:
    features = schema.features
    return [build_prompt(task, r, features) for r in table.to_dict("records")]


def answer_text(tokenizer: Any, word: str) -> str:
    """The answer as the training target: `` word`` after ``Answer:``.

    A SentencePiece tokenizer (LLaMA) puts the word's space in its first token by itself, so
    it gets the bare word; a byte-level BPE (GPT-2, the tiny backbone) gets the space
    written, which is how it tokenises a word inside a sentence.
    """
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    first = tokenizer.convert_ids_to_tokens(ids[:1])
    return word if first and first[0].startswith("▁") else f" {word}"


# ---- decoding -------------------------------------------------------------------------------


def match_answer(text: str, words: Sequence[str]) -> int | None:
    """The class whose verbaliser occurs in a generated ``text``, as in the paper.

    Substring matching, on word boundaries so "no" does not match "not" nor "A" match
    "Answer"; case-insensitive. When several occur, the earliest wins (a tie: the longest).
    None when none occurs: the answer is unparseable.
    """
    best: tuple[int, int, int] | None = None  # (start, -length, class)
    for k, word in enumerate(words):
        pattern = rf"(?<![0-9A-Za-z]){re.escape(word)}(?![0-9A-Za-z])"
        m = re.search(pattern, text, flags=re.IGNORECASE)
        if m is not None:
            key = (m.start(), -len(word), k)
            best = key if best is None or key < best else best
    return None if best is None else best[2]


def score_classes(
    backbone: Any,
    prompts: Sequence[str],
    answers: Sequence[str],
    *,
    batch_size: int = 32,
    max_length: int = 2048,
) -> np.ndarray:
    """Log-likelihood (nats) of each answer + EOS after each prompt: shape (prompts, answers).

    Pairs are encoded exactly as in training (:func:`harmonic.template.encode_pair`), sorted
    by length (longest first, so an out-of-memory back-off happens early) and scored in
    batches; only the answers' positions get logits (:func:`harmonic.trainer.answer_nll`, the
    training loss itself).
    """
    import torch

    from harmonic.backbone import backoff_batches
    from harmonic.template import encode_pair
    from harmonic.trainer import answer_nll, answer_tokens

    tok, model, device = backbone.tokenizer, backbone.model, backbone.device
    n_classes = len(answers)
    items: list[tuple[int, list[int], int]] = []  # (flat index, ids, answer length incl. EOS)
    for i, prompt in enumerate(prompts):
        for k, answer in enumerate(answers):
            ids, labels = encode_pair(tok, prompt, answer, max_length, template=False)
            items.append((i * n_classes + k, ids, answer_tokens(ids, labels)))
    items.sort(key=lambda it: -len(it[1]))
    model.eval()

    def run(batch: list[tuple[int, list[int], int]]) -> list[float]:
        seqs, lengths = [ids for _, ids, _ in batch], [a for _, _, a in batch]
        with torch.no_grad():
            nll = answer_nll(model, seqs, lengths, tok.pad_token_id, device)
        return (-nll).tolist()

    scores = backoff_batches(run, items, batch_size)
    out = np.empty(len(items))
    out[[flat for flat, _, _ in items]] = scores
    return out.reshape(len(prompts), n_classes)


def generate_answers(
    backbone: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int = 32,
    max_length: int = 2048,
) -> list[str]:
    """Greedy continuations of the prompts (left padding, KV cache), special tokens removed."""
    import torch
    from transformers import GenerationConfig

    from harmonic.backbone import backoff_batches
    from harmonic.template import encode_pair
    from harmonic.trainer import left_pad

    tok, model, device = backbone.tokenizer, backbone.model, backbone.device
    room = max(2, max_length - max_new_tokens)
    encoded = []
    for p in prompts:  # the prompt part of a training pair: the same tokens and truncation
        ids, labels = encode_pair(tok, p, "", room, template=False)
        encoded.append([t for t, lab in zip(ids, labels, strict=True) if lab == -100])
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        bos_token_id=tok.bos_token_id,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model.eval()

    def run(batch: list[list[int]]) -> list[str]:
        enc = left_pad(batch, tok.pad_token_id, device)
        enc.pop("position_ids")  # generate derives them from the attention mask
        with torch.no_grad():
            out = model.generate(**enc, generation_config=config)
        return tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)

    return backoff_batches(run, encoded, batch_size)


# ---- the metric -----------------------------------------------------------------------------

#: Quick: the tiny offline backbone, smaller than HARMONIC's (2 layers of width 64 learn these
#: short classification prompts as well and 3× faster), trained in full for 10 epochs, one
#: CPU thread (as MLE: on these small matrices a second thread gains little and, when jobs
#: share the cores, costs up to 9×); at most 2000 seeded rows of syn and of test.
QUICK: dict[str, Any] = {
    "llm": "tiny",
    "tiny": {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "intermediate_size": 192},
    "lora": None,  # None: LoRA for a pretrained backbone, full fine-tuning for the tiny one
    "epochs": 10,
    "lr": 2e-3,
    "batch_size": 16,
    "micro_batch": 16,
    "max_length": 1024,
    "score_batch": 64,
    "max_train_rows": 2000,
    "max_test_rows": 2000,
    "threads": 1,
}
#: Paper: LLaMA-2-7b-chat with LoRA r16 / alpha 32 / dropout 0.05, 5 epochs, lr 1e-4,
#: batch 32 (micro-batches of 8), every row. Scoring in batches of 128 (row, class) pairs:
#: on an H100 with LLaMA-2-7B's shape, 128 ran 14.1x faster than one row at a time and
#: 1.3x faster than 64; 256 and 512 gained nothing more (benchmarks/RESULTS.md).
PAPER: dict[str, Any] = {
    "llm": "meta-llama/Llama-2-7b-chat-hf",
    "tiny": {},
    "lora": None,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "epochs": 5,
    "lr": 1e-4,
    "batch_size": 32,
    "micro_batch": 8,
    "max_length": 2048,
    "score_batch": 128,
    "max_train_rows": None,
    "max_test_rows": None,
    "threads": None,
}
PRESETS: dict[str, dict[str, Any]] = {"quick": QUICK, "paper": PAPER}
SETTINGS = frozenset(QUICK) | frozenset(PAPER)
DECODINGS = ("likelihood", "generate")


def _sample(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Positions of at most ``limit`` of ``n`` rows: a seeded sample, in the original order."""
    if limit is None or n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` for the block (None: left as they are)."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class LLMEfficacy(Metric):
    """LLE: weighted F1 on real test of an LLM fine-tuned on the synthetic rows as prompts.

    The preset comes from the run (``ctx.preset``) unless given; the run's ``--llm`` and
    ``--device`` replace the preset's backbone and the default device (``auto``); keyword
    ``settings`` (keys of :data:`QUICK` / :data:`PAPER`) override all of these. Seeded with
    the first evaluator seed, never the generation seed.
    """

    name: ClassVar[str] = "lle"
    inputs = frozenset({"syn", "test"})
    family = "utility"
    goal = "maximize"
    bounds = (0.0, 1.0)

    def __init__(
        self,
        preset: str | None = None,
        decoding: str = "likelihood",
        device: str | None = None,
        **settings: Any,
    ) -> None:
        if decoding not in DECODINGS:
            raise ValueError(f"unknown decoding '{decoding}': use one of {', '.join(DECODINGS)}")
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown preset '{preset}': use one of {', '.join(PRESETS)}")
        unknown = set(settings) - SETTINGS
        if unknown:
            raise ValueError(f"unknown LLE settings {sorted(unknown)}: use {sorted(SETTINGS)}")
        self.preset = preset
        self.decoding = decoding
        self.device = device
        self.settings = settings

    def resolve(self, ctx: EvalContext) -> dict[str, Any]:
        """The settings of this job: the preset's, then the run's --llm/--device, then ours."""
        return self._resolve(ctx.preset, ctx.llm, ctx.device)

    def setting(self, preset: str, llm: str | None) -> str:
        """The preset and backbone: an LLE from another backbone is not this run's LLE."""
        cfg = self._resolve(preset, llm, None)
        return json.dumps({"preset": cfg["preset"], "llm": cfg["llm"]}, sort_keys=True)

    def _resolve(self, run_preset: str, llm: str | None, device: str | None) -> dict[str, Any]:
        preset = self.preset or run_preset
        if preset not in PRESETS:
            raise UserError(f"unknown preset '{preset}' for LLE: use one of {', '.join(PRESETS)}")
        out = {**PRESETS[preset], "preset": preset}
        if llm is not None:
            out["llm"] = llm
        out.update(self.settings)
        out["device"] = self.device or device or "auto"
        if out["lora"] is None:
            out["lora"] = out["llm"] != "tiny"  # frozen random weights cannot learn the task
        return out

    def check(self, ctx: EvalContext) -> None:
        _check_syn(ctx)

    def compute(self, ctx: EvalContext) -> MetricResult:
        cfg = self.resolve(ctx)
        with _torch_threads(cfg["threads"]):
            return self._compute(ctx, cfg)

    def _compute(self, ctx: EvalContext, cfg: dict[str, Any]) -> MetricResult:
        from sklearn.metrics import accuracy_score, f1_score

        schema, seed = ctx.schema, int(ctx.eval_seeds[0])
        task = task_for(ctx.dataset, schema)
        classes = _class_index(schema, ctx.test)
        syn, y, dropped = _clean_syn(ctx, classes)
        keep = _sample(len(syn), cfg["max_train_rows"], seed)
        syn, y = syn.iloc[keep], y[keep]
        test = ctx.test.iloc[_sample(len(ctx.test), cfg["max_test_rows"], seed)]
        y_test = _encode_target(test, schema, classes).to_numpy(dtype=np.int64)
        base = {
            "eval_seed": seed,
            "preset": cfg["preset"],
            "backbone": cfg["llm"],
            "decoding": self.decoding,
            "test_rows": len(y_test),
            "rows_dropped": dropped,
            "verbalisers": {str(c): w for c, w in task.verbalisers.items()},
        }
        bad = _untrainable(y, y_test)
        if bad is not None:
            return MetricResult(float("nan"), {**base, **bad})

        backbone, fit = self._fine_tune(syn, y, schema, task, cfg, seed)
        prompts = build_prompts(test, schema, task)
        t0 = time.perf_counter()
        pred, decoded = self._predict(backbone, prompts, task, cfg)
        score_s = time.perf_counter() - t0
        labels = list(range(len(classes)))
        names = [task.verbalisers.get(c, str(c)) for c in classes]

        def f1(average: str) -> float:
            return float(f1_score(y_test, pred, labels=labels, average=average, zero_division=0))

        aux = {
            **base,
            "macro_f1": f1("macro"),
            "accuracy": float(accuracy_score(y_test, pred)),
            "counts": {
                "train": {n: int((y == k).sum()) for k, n in enumerate(names)},
                "test": {n: int((y_test == k).sum()) for k, n in enumerate(names)},
                "predicted": {n: int((pred == k).sum()) for k, n in enumerate(names)},
            },
            **fit,
            "score_s": round(score_s, 3),
            "score_examples_per_s": len(prompts) / score_s if score_s else None,
            **decoded,
        }
        return MetricResult(f1("weighted"), aux)

    def _fine_tune(
        self,
        syn: pd.DataFrame,
        y: np.ndarray,
        schema: Schema,
        task: Task,
        cfg: dict[str, Any],
        seed: int,
    ) -> tuple[Any, dict[str, Any]]:
        """A fresh backbone fine-tuned on the synthetic prompts, and the training figures."""
        from harmonic.backbone import TinySpec, add_lora, load_backbone
        from harmonic.trainer import fine_tune

        prompts = build_prompts(syn, schema, task)
        words = task.words
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="lle-") as tmp:
            # the tiny backbone's tokenizer is trained on the texts it will be trained on; the
            # phrases every prompt repeats are single tokens (prompts ~3x shorter, as fast)
            backbone = load_backbone(
                cfg["llm"],
                cfg["device"],
                texts=[*prompts, *(f" {words[k]}" for k in y)],
                cache_dir=tmp,
                seed=seed,
                spec=TinySpec(**cfg["tiny"]),
                extra_tokens=[task.sentence]
                + [f"The state of {c.name} is" for c in schema.features],
            )
        load_s = time.perf_counter() - t0
        if cfg["lora"]:
            backbone.model = add_lora(
                backbone.model, cfg["lora_r"], cfg["lora_alpha"], cfg["lora_dropout"], seed=seed
            )
        answers = [answer_text(backbone.tokenizer, w) for w in words]
        stats = fine_tune(
            backbone,
            prompts,
            [answers[k] for k in y],
            epochs=cfg["epochs"],
            lr=cfg["lr"],
            batch_size=cfg["batch_size"],
            micro_batch=cfg["micro_batch"],
            max_length=cfg["max_length"],
            seed=seed,
            who="lle",
            template=False,
        )
        per_epoch = max(1, stats.steps // max(1, stats.epochs))
        fit = {
            "train_rows": len(prompts),
            "finetune": "lora" if cfg["lora"] else "full",
            "device": backbone.device,
            "epochs": cfg["epochs"],
            "lr": cfg["lr"],
            "batch_size": cfg["batch_size"],
            "load_s": round(load_s, 3),
            "train_s": round(stats.seconds, 3),
            "train_examples_per_s": (
                stats.examples * stats.epochs / stats.seconds if stats.seconds else None
            ),
            "train_loss_first": stats.loss_first,
            "train_loss_last_epoch": float(np.mean(stats.losses[-per_epoch:])),
        }
        return backbone, fit

    def _predict(
        self, backbone: Any, prompts: list[str], task: Task, cfg: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Class indices for the prompts (-1: unparseable), and what decoding adds to aux."""
        tok = backbone.tokenizer
        answers = [answer_text(tok, w) for w in task.words]
        if self.decoding == "likelihood":
            scores = score_classes(
                backbone,
                prompts,
                answers,
                batch_size=cfg["score_batch"],
                max_length=cfg["max_length"],
            )
            return scores.argmax(axis=1), {}
        longest = max(len(tok(a, add_special_tokens=False)["input_ids"]) for a in answers)
        texts = generate_answers(
            backbone,
            prompts,
            max_new_tokens=longest + 8,  # room for the EOS, or for a chattier answer to match
            batch_size=cfg["score_batch"],
            max_length=cfg["max_length"],
        )
        found = [match_answer(t, task.words) for t in texts]
        pred = np.array([-1 if k is None else k for k in found], dtype=np.int64)
        bad = [t for t, k in zip(texts, found, strict=True) if k is None]
        return pred, {
            "unparseable": len(bad),
            "unparseable_share": len(bad) / len(pred) if len(pred) else 0.0,
            "unparseable_examples": bad[:5],
        }
