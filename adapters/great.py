"""GReaT (Borisov et al., 2023, "Language Models are Realistic Tabular Data Generators").

Each training row becomes a sentence ``"col is value, col is value, ..."`` with its features
in a fresh random order every time it is seen; a causal LM is fine-tuned on these sentences
and new rows are sampled from a prompt that fixes one column (``"status is 1,"``) and read
back by splitting on ``,`` and ``" is "``. Fitting is ``be_great.GReaT.fit`` (its dataset,
permutation, collator and trainer); the backbone is any causal LM directory
``from_pretrained`` can load: the offline ``tiny`` one of :mod:`harmonic.backbone` (a BPE
tokenizer trained on these very sentences), a local path, or a hub id (``distilgpt2``, the
package's default, needs the network or the local cache).

be-great 0.0.14 quirks this adapter handles:

* its decoder only strips GPT-2's literal ``<|endoftext|>``, so another backbone's pad
  tokens would stick to the first column name; sequences are decoded here with
  ``skip_special_tokens`` and otherwise cleaned as be-great does (newlines to spaces);
* a value or column name holding ``,`` or ``" is "``, a newline, a special-token string,
  ``None`` or nothing at all cannot survive its text format: such texts get a safe stand-in
  (``a, b`` -> ``a; b``) that is mapped back on parsing (:class:`GReaTText`);
* its sampler starts from whichever column the training callback picked last, loops until
  it has ``k`` rows with no budget, and keeps rows with unknown categories: here sampling
  starts from the label column with its training distribution (the format of be-great's
  ``CategoricalStart``), every row is validated against the schema, and sampling stops at
  exactly ``n`` valid rows or after ``retry_budget × n`` sequences (valid/invalid counts in
  :meth:`GReaT.report`);
* ``max_length`` counts prompt and row tokens; be-great's default of 100 cuts German rows
  short, so by default it is the longest training sentence plus a margin.

``perplexity(rows)`` scores each row as a GReaT sentence in a seeded feature order under the
fitted model: exp(mean negative log-likelihood per token) in nats, for DLT.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.errors import UserError
from bench.schema import Column, Schema, is_missing, observed_categories, py_scalar
from bench.synthesizer import Synthesizer

#: GPT-2's end-of-text marker, which be-great strips from every decoded text.
END_OF_TEXT = "<|endoftext|>"
#: Missing values: be-great writes ``str(None)`` and reads ``"None"`` back as missing.
MISSING_TEXT = "None"

MISSING_COLUMN = "missing_column"  # a schema column has no "col is value" part
BAD_NUMBER = "bad_number"  # a numeric column's text is not a finite number
UNSEEN_CATEGORY = "unseen_category"  # not the text of a training category
MISSING_VALUE = "missing_value"  # "None" in a column without missing values

#: Quick: the offline tiny backbone, trained in full at a learning rate a randomly
#: initialised model needs. Batch 8 (be-great's default) matters: at the same epochs, batch 16
#: halves the optimiser steps and the model does not yet learn to write every column once
#: (German: under 10% valid rows at batch 16 even after 16 epochs, 97-99% at batch 8 after 8;
#: 85% after 5; a learning rate of 3e-3 failed).
QUICK: dict[str, Any] = {
    "llm": "tiny",
    "epochs": 8,
    "batch_size": 8,
    "lr": 2e-3,
    "gen_batch_size": 128,
}
#: be-great's published defaults: distilgpt2, 100 epochs, batch 8, the Trainer's learning
#: rate (5e-5), temperature 0.7, k = 100 rows per generation batch.
PAPER: dict[str, Any] = {
    "llm": "distilgpt2",
    "epochs": 100,
    "batch_size": 8,
    "lr": 5e-5,
    "temperature": 0.7,
    "gen_batch_size": 100,
}

_INT = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT64 = (-(2**63), 2**63 - 1)


# ---- text format ------------------------------------------------------------------------------


def is_safe_name(text: str, reserved: Iterable[str] = (END_OF_TEXT,)) -> bool:
    """True if ``text`` survives as a column name in ``"name is value"`` parts."""
    return _is_safe(text, reserved) and not text.endswith(" is")


def is_safe_value(text: str, reserved: Iterable[str] = (END_OF_TEXT,)) -> bool:
    """True if ``text`` survives as a category's text (and is not read as missing)."""
    return _is_safe(text, reserved) and text != MISSING_TEXT


def _is_safe(text: str, reserved: Iterable[str]) -> bool:
    return (
        bool(text)
        and text == text.strip()
        and "," not in text
        and " is " not in text
        and "\n" not in text
        and "\r" not in text
        and not any(r and r in text for r in reserved)
    )


def _sanitise(text: str, reserved: Sequence[str]) -> str:
    """A readable stand-in for ``text`` with the separators and special tokens taken out."""
    text = text.replace(",", ";")
    changed = True
    while changed:
        before = text
        for token in reserved:
            if token:
                text = text.replace(token, " ")
        text = " ".join(text.split())  # newlines, runs of blanks, surrounding blanks
        while " is " in text:
            text = text.replace(" is ", " is_ ")
        changed = text != before
    if text.endswith(" is"):
        text += "_"
    return text if text and text != MISSING_TEXT else "empty"


def safe_texts(
    texts: Sequence[str], reserved: Sequence[str] = (END_OF_TEXT,), *, names: bool = False
) -> list[str]:
    """One distinct, safe text per input: the text itself where it is safe, else a stand-in
    (``a, b`` -> ``a; b``; ``#2``, ``#3``... added on collisions)."""
    check = is_safe_name if names else is_safe_value
    out: list[str] = []
    taken: set[str] = set()
    pending: list[int] = []
    for i, text in enumerate(texts):  # safe texts keep their own text: claim them first
        if check(text, reserved) and text not in taken:
            taken.add(text)
            out.append(text)
        else:
            out.append("")
            pending.append(i)
    for i in pending:
        base = _sanitise(texts[i], reserved)
        candidate, k = base, 2
        while candidate in taken or not check(candidate, reserved):
            candidate = f"{base} #{k}"
            k += 1
            if k > len(texts) + 10:  # a base the suffix cannot repair: fall back to a code
                base, k = f"value {i}", 2
                candidate = base
        taken.add(candidate)
        out[i] = candidate
    return out


def parse_text(text: str, names: Iterable[str]) -> dict[str, str | None]:
    """GReaT's reading of a sentence: split on ``,``, each part on ``" is "``; the first
    part naming a column gives its value (later repeats are ignored), ``"None"`` is missing.
    Same rule as ``be_great.great_utils._convert_text_to_tabular_data``."""
    known = set(names)
    found: dict[str, str | None] = {}
    for part in text.split(","):
        pieces = part.strip().split(" is ")
        if pieces[0] in known and pieces[0] not in found and len(pieces) > 1:
            found[pieces[0]] = None if pieces[1] == MISSING_TEXT else pieces[1]
    return found


class GReaTText:
    """A schema's rows <-> GReaT sentences, with safe stand-ins for hostile texts.

    ``frame`` is the table handed to ``be_great.GReaT.fit``: columns renamed to their safe
    names, categorical and boolean columns as the safe texts of their categories, numeric
    columns untouched (be-great writes ``str(value)``: ``35`` for int64, ``35.0`` for
    float64, ``None`` for a missing value). ``sentence`` writes exactly what be-great's
    dataset writes for a row in a given feature order; ``read`` parses and validates.
    """

    def __init__(
        self, schema: Schema, train: pd.DataFrame, reserved: Sequence[str] = (END_OF_TEXT,)
    ) -> None:
        self.schema = schema
        self.reserved = tuple(dict.fromkeys([END_OF_TEXT, *reserved]))
        self.names = safe_texts(schema.names, self.reserved, names=True)
        self.name_of = dict(zip(schema.names, self.names, strict=True))
        self.text_of: dict[str, dict[Any, str]] = {}
        self.category_of: dict[str, dict[str, Any]] = {}
        for col in schema.columns:
            if col.is_numeric:
                continue
            cats = observed_categories(col, train[col.name])
            texts = safe_texts([str(c) for c in cats], self.reserved)
            self.text_of[col.name] = dict(zip(cats, texts, strict=True))
            self.category_of[col.name] = dict(zip(texts, cats, strict=True))

    @property
    def target_name(self) -> str:
        return self.name_of[self.schema.target]

    def value_text(self, col: Column, value: Any) -> str:
        """The text be-great's dataset writes for ``value`` of ``col``."""
        if is_missing(value):
            return MISSING_TEXT
        value = py_scalar(value)
        if not col.is_numeric:
            return self.text_of[col.name].get(value, str(value).strip())
        if col.dtype == "int64":
            return str(int(value))
        return str(float(value))

    def frame(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` as be-great sees it (safe names, category texts, numeric as is)."""
        out: dict[str, pd.Series] = {}
        for col in self.schema.columns:
            s = table[col.name].reset_index(drop=True)
            if col.is_numeric:
                out[self.name_of[col.name]] = s
            else:
                texts = [None if is_missing(v) else self.value_text(col, v) for v in s]
                out[self.name_of[col.name]] = pd.Series(texts, dtype=object)
        return pd.DataFrame(out)

    def sentence(self, record: dict[str, Any], order: Sequence[int]) -> str:
        """Row ``record`` (schema names -> values) with features in ``order``."""
        cols = self.schema.columns
        return ", ".join(
            f"{self.name_of[cols[i].name]} is {self.value_text(cols[i], record[cols[i].name])}"
            for i in order
        )

    def sentences(self, table: pd.DataFrame, rng: np.random.Generator) -> list[str]:
        """Every row of ``table`` in its own random feature order (GReaT's permutation)."""
        width = len(self.schema.columns)
        return [self.sentence(r, rng.permutation(width)) for r in table.to_dict("records")]

    def start_text(self, value: Any) -> str:
        """A sampling prompt fixing the label, as be-great's ``CategoricalStart`` writes it."""
        target = self.schema[self.schema.target]
        return f"{self.target_name} is {self.value_text(target, value)},"

    def read(self, text: str) -> tuple[dict[str, Any] | None, str | None]:
        """A generated sentence -> typed values (``None`` = missing), or an invalid reason."""
        found = parse_text(text, self.names)
        out: dict[str, Any] = {}
        for col in self.schema.columns:
            name = self.name_of[col.name]
            if name not in found:
                return None, MISSING_COLUMN
            raw = found[name]
            if raw is None:
                if not col.nullable:
                    return None, MISSING_VALUE
                out[col.name] = None
            elif col.is_numeric:
                number = _number(raw, col)
                if number is None:
                    return None, BAD_NUMBER
                out[col.name] = number
            elif raw in self.category_of[col.name]:
                out[col.name] = self.category_of[col.name][raw]
            else:
                return None, UNSEEN_CATEGORY
        return out, None

    def read_rows(self, texts: Iterable[str]) -> tuple[pd.DataFrame, Counter[str]]:
        """Valid rows in the schema's storage dtypes, and the invalid ones by reason."""
        rows: list[dict[str, Any]] = []
        reasons: Counter[str] = Counter()
        for text in texts:
            values, reason = self.read(text)
            if values is None:
                reasons[reason or MISSING_COLUMN] += 1
            else:
                rows.append(values)
        table = pd.DataFrame(
            {c.name: _column([r[c.name] for r in rows], c.dtype) for c in self.schema.columns}
        )
        return table, reasons


def _number(text: str, col: Column) -> int | float | None:
    text = text.strip()
    if col.kind == "integer" and _INT.fullmatch(text):  # exact, even beyond 2**53
        out = int(text)
    elif _DECIMAL.fullmatch(text) and math.isfinite(value := float(text)):
        if col.kind != "integer":
            return value
        out = round(value)  # rounded, as bench.metrics.coerce does
    else:
        return None
    if col.dtype == "int64" and not _INT64[0] <= out <= _INT64[1]:
        return None
    return out


def _column(values: list[Any], dtype: str) -> pd.Series:
    """Typed values (``None`` = missing) as a column of storage dtype ``dtype``."""
    if dtype == "object":
        return pd.Series([np.nan if v is None else v for v in values], dtype=object)
    if dtype == "float64":
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    return pd.Series(values, dtype=dtype)


# ---- perplexity ---------------------------------------------------------------------------------


def text_perplexity(
    model: Any, tokenizer: Any, texts: Sequence[str], *, device: str, batch_size: int = 32
) -> np.ndarray:
    """exp(mean NLL in nats) of each text's tokens after the first, under ``model``.

    Texts are tokenized like be-great's training texts (the tokenizer's own special-token
    rules) and batched with right padding, which keeps position ids right for any model.
    """
    import torch

    ids = [tokenizer(t)["input_ids"] for t in texts]
    out = np.empty(len(ids))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.eval()
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        width = max(len(x) for x in chunk)
        input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, x in enumerate(chunk):
            input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[i, : len(x)] = 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
        labels = input_ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), labels, ignore_index=-100, reduction="none"
        )
        counts = (labels != -100).sum(dim=1).clamp(min=1)
        out[start : start + len(chunk)] = torch.exp(nll.sum(dim=1) / counts).cpu().numpy()
    return out


# ---- the synthesizer ----------------------------------------------------------------------------


class GReaT(Synthesizer):
    """GReaT through be-great: an LLM fine-tuned on permuted "col is value" sentences."""

    name: ClassVar[str] = "great"
    label: ClassVar[str] = "GReaT"
    description: ClassVar[str] = (
        "LLM fine-tuned on 'column is value' sentences, be-great (Borisov et al., 2023)"
    )
    presets: ClassVar[dict[str, dict[str, Any]]] = {"quick": QUICK, "paper": PAPER}
    packages: ClassVar[tuple[str, ...]] = ("be-great", "torch", "transformers", "tokenizers")

    def __init__(
        self,
        llm: str = "tiny",
        device: str = "auto",
        epochs: int = 100,
        batch_size: int = 8,
        lr: float = 5e-5,
        temperature: float = 0.7,
        gen_batch_size: int = 100,
        max_length: int | None = None,
        retry_budget: float = 3.0,
        ppl_batch_size: int = 32,
    ) -> None:
        self.llm = llm
        self.device = device
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.temperature = temperature
        self.gen_batch_size = gen_batch_size
        self.max_length = max_length
        self.retry_budget = retry_budget
        self.ppl_batch_size = ppl_batch_size
        _check_positive(epochs=epochs, batch_size=batch_size, gen_batch_size=gen_batch_size)
        _check_positive(ppl_batch_size=ppl_batch_size)
        if max_length is not None:
            _check_positive(max_length=max_length)
        if not (isinstance(llm, str) and llm):
            raise ValueError(f"llm must be 'tiny', a hub id or a local path, got {llm!r}")
        if not (lr > 0 and temperature > 0 and retry_budget >= 1):
            raise ValueError(
                f"lr and temperature must be > 0 and retry_budget >= 1, got lr={lr}, "
                f"temperature={temperature}, retry_budget={retry_budget}"
            )

    # ---- fit ----------------------------------------------------------------------------------

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> GReaT:
        """Build or resolve the backbone, then ``be_great.GReaT.fit`` on the sentences."""
        from be_great import GReaT as BeGreat

        from harmonic.backbone import SPECIAL_TOKENS, build_tiny, resolve_device

        if len(train) == 0:
            raise ValueError("GReaT cannot fit an empty training table")
        device = resolve_device(self.device)
        self.train_ = train.reset_index(drop=True)
        self.schema_ = schema
        self.seed_ = seed
        self._workdir = tempfile.TemporaryDirectory(prefix="great-")
        work = Path(self._workdir.name)
        rng = np.random.default_rng(seed)
        if self.llm == "tiny":
            self.text_ = GReaTText(schema, self.train_, SPECIAL_TOKENS)
            texts = self.text_.sentences(self.train_, rng)
            model_dir = str(build_tiny(texts, work / "backbone", seed))
        else:
            from transformers import AutoTokenizer

            model_dir = _model_dir(self.llm)
            try:
                special = AutoTokenizer.from_pretrained(model_dir).all_special_tokens
            except Exception as exc:  # loaders raise many types; the cause stays chained
                raise _cannot_load(self.llm, model_dir, exc) from exc
            self.text_ = GReaTText(schema, self.train_, special)
            texts = self.text_.sentences(self.train_, rng)

        train_args: dict[str, Any] = {
            "learning_rate": self.lr,
            "seed": seed,
            "data_seed": seed,
            "save_strategy": "no",  # no checkpoints: fit runs once, start to end
            "logging_steps": 50,
            "use_cpu": device == "cpu",
        }
        try:
            model = BeGreat(
                model_dir,
                experiment_dir=str(work / "trainer"),
                epochs=self.epochs,
                batch_size=self.batch_size,
                **train_args,
            )
        except Exception as exc:  # loaders raise many types; the cause stays chained
            raise _cannot_load(self.llm, model_dir, exc) from exc
        trainer = model.fit(self.text_.frame(self.train_), conditional_col=self.text_.target_name)
        model.model.to(device)
        model.model.eval()
        model.device = device
        self.model_ = model
        self.device_ = device

        tok = model.tokenizer
        longest = max(len(tok(t)["input_ids"]) for t in texts)
        self.max_length_ = self.max_length or int(longest * 1.2) + 16
        labels = self.train_[schema.target]
        self.label_dist_ = labels.value_counts(normalize=True, sort=False)
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        self.fit_report_ = {
            "backbone": self.llm,
            "rows": len(self.train_),
            "epochs": self.epochs,
            "steps": trainer.state.global_step,
            "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None,
            "train_loss": next(
                (h["train_loss"] for h in trainer.state.log_history if "train_loss" in h), None
            ),
            "max_length": self.max_length_,
            "renamed_columns": {k: v for k, v in self.text_.name_of.items() if k != v},
        }
        return self

    # ---- generate -----------------------------------------------------------------------------

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        """Exactly ``n`` valid rows, or fewer when ``retry_budget × n`` sequences run out."""
        from harmonic.backbone import backoff_batches
        from harmonic.sampler import sample_rows

        values = list(self.label_dist_.index)
        weights = self.label_dist_.to_numpy(dtype=float)

        def make_prompts(count: int, round_: int) -> list[str]:
            rng = np.random.default_rng([seed, round_])
            picks = rng.choice(len(values), size=count, p=weights / weights.sum())
            return [self.text_.start_text(values[i]) for i in picks]

        size = [self.gen_batch_size]  # a batch size that ran out of GPU memory stays reduced

        def generate(prompts: list[str], round_: int) -> list[str]:
            return backoff_batches(
                lambda batch: self._sample_texts(batch, seed=seed * 7919 + round_),
                prompts,
                size[0],
                on_backoff=lambda b: size.__setitem__(0, b),
            )

        table, report = sample_rows(
            n,
            make_prompts,
            generate,
            self.text_.read_rows,
            batch_size=self.gen_batch_size,
            budget=self.retry_budget,
            who="great sampling",
        )
        self.sample_report_ = report.to_dict()
        if len(table) < n:
            self.sample_report_["stopped"] = (
                f"budget spent: {report.prompts} sequences for {n} rows "
                f"(retry_budget={self.retry_budget}); train longer or raise retry_budget"
            )
        if table.empty:
            return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in self.schema_.columns})
        return table.reset_index(drop=True)

    def _sample_texts(self, prompts: list[str], seed: int) -> list[str]:
        """be-great's legacy sampling step: left-padded prompts, ``generate`` with sampling
        at ``temperature`` up to ``max_length`` tokens, decoded and cleaned."""
        import torch

        tok, model = self.model_.tokenizer, self.model_.model
        tok.padding_side = "left"
        enc = tok(prompts, return_tensors="pt", padding=True)
        input_ids = enc["input_ids"].to(self.device_)
        mask = enc["attention_mask"].to(self.device_)
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_length=max(self.max_length_, input_ids.shape[1] + 1),
                do_sample=True,
                temperature=self.temperature,
                pad_token_id=tok.pad_token_id,
            )
        texts = tok.batch_decode(out, skip_special_tokens=True)
        return [t.replace(END_OF_TEXT, "").replace("\n", " ").replace("\r", "") for t in texts]

    def report(self) -> dict[str, Any]:
        """Training figures and the sampler's valid/invalid counts by reason, rows/s."""
        return {
            "fit": getattr(self, "fit_report_", None),
            "sampling": getattr(self, "sample_report_", None),
        }

    # ---- perplexity (DLT) -------------------------------------------------------------------

    def perplexity(self, rows: pd.DataFrame) -> np.ndarray:
        """Per-row perplexity (nats) of each row's GReaT sentence, features in a seeded order."""
        rng = np.random.default_rng([self.seed_, 2])
        texts = self.text_.sentences(rows.reset_index(drop=True), rng)
        if not texts:
            return np.empty(0)
        return text_perplexity(
            self.model_.model,
            self.model_.tokenizer,
            texts,
            device=self.device_,
            batch_size=self.ppl_batch_size,
        )


def _check_positive(**values: Any) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")


def _cannot_load(llm: str, model_dir: str, exc: Exception) -> UserError:
    reason = " ".join(str(exc).split())[:200]
    return UserError(
        f"be-great could not load '{llm}' from {model_dir} as a causal LM ({reason}): pass "
        "--llm tiny, or a directory saved with save_pretrained holding a causal LM and its "
        "tokenizer"
    )


def _model_dir(llm: str) -> str:
    """A local directory for ``llm`` (a path, or a hub id's cached snapshot) for be-great's
    ``from_pretrained``; an uncached hub id is downloaded through the backbone module, whose
    errors are one line (no network, no such model, not a causal LM)."""
    from harmonic.backbone import load_backbone

    if Path(llm).is_dir():
        if not (Path(llm) / "config.json").is_file():
            raise UserError(
                f"'{llm}' is a directory but holds no model (no config.json): pass the "
                "directory a model was saved to with save_pretrained, a hub id, or --llm tiny"
            )
        return llm
    cached = _cached_snapshot(llm)
    if cached is None:
        load_backbone(llm, "cpu")  # downloads into the cache, or raises the one-line error
        cached = _cached_snapshot(llm)
    if cached is None:
        raise UserError(f"'{llm}' loaded but is not in the local cache: pass a local directory")
    return cached


def _cached_snapshot(llm: str) -> str | None:
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(llm, local_files_only=True)
    except Exception:  # not cached, or not a valid id: the backbone module says which
        return None
    return path if (Path(path) / "config.json").is_file() else None
