"""HARMONIC's instruction dataset (spec §1) and generation prompts (spec §3).

Every training row ``i`` becomes one example: its ``k`` nearest other rows are shown as
"Example one" ... in the INPUT, and row ``i`` itself is the OUTPUT. Rows are JSON objects with
string values, each with its own seeded key order, so the model learns the joint distribution
rather than one column order.

Serialisation (``serialize_row``; the parser in :mod:`harmonic.parse` reads exactly this back):

* ``json.dumps`` of ``{column: text}`` with ``ensure_ascii=False`` and the default separators
  (``", "`` and ``": "``), so quotes, braces, commas, newlines and backslashes in names or
  values are escaped and the prompt stays one line per row (``\\n`` inside values is escaped;
  split prompts on ``"\\n"``, not ``str.splitlines``, which also splits on U+2028).
* integer columns: ``str(int(v))`` (no ``.0`` even when stored as float64 because of gaps);
  float columns: ``repr(float(v))``, Python's shortest round-tripping repr (``32.0``, ``0.285``,
  ``1e-05``), so parsing gives back the identical float; booleans: ``"True"`` / ``"False"``;
  categories: ``str(category)`` of the training category equal to the value (an int-coded
  label prints ``"1"`` even when a row Series upcast it to ``1.0``), else ``str(value)``.
* a missing value prints as the empty string ``""``. The parser maps ``""`` back to missing,
  and accepts it only where the column is nullable (or where ``""`` is itself a category).

kNN encoding (``knn_encoding``, spec §1.1): numeric features min-max scaled on the table
given (a constant column is all 0); a missing number takes the column's mean after scaling;
categorical and boolean features one-hot over ``Column.categories`` times ``1/sqrt(2)`` (two
different categories are at distance 1, like the two ends of a numeric range), with one extra
indicator for a missing (or unseen) value, so "missing" is a category of its own. The label is
not encoded. ``knn_include_label=True`` is the authors' code: categorical features as ordinal
codes 0..C-1 (missing = C), unscaled, and the raw label appended (its number when numeric,
else its ordinal code among the sorted classes).

Random streams: ``SeedSequence(seed).spawn(4)``; children 0/1 drive the training set's random
neighbours / key orders, children 2/3 the generation prompts' row draws / key orders, so the
two sets never share random numbers even for equal seeds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from bench.schema import Column, Schema, is_missing, py_scalar
from harmonic.template import PLAIN_PHRASES

__all__ = [
    "Example",
    "InstructionBuilder",
    "format_prompt",
    "generation_prompts",
    "knn_encoding",
    "number_word",
    "prompt_header",
    "prompt_phrases",
    "row_phrases",
    "serialize_row",
    "tiny_phrases",
    "value_text",
]

MISSING_TEXT = ""  # how a missing value is written; harmonic.parse reads it back
GENERATE_LINE = "Generate one sample:"
_ONE_HOT = 1.0 / math.sqrt(2.0)
_WORDS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen", "twenty"),
)
_TASKS = {"binary": "binary classification", "multiclass": "multiclass classification"}
# SeedSequence children: which stream feeds what (see the module docstring)
_S_TRAIN_NEIGHBOURS, _S_TRAIN_ORDER, _S_GEN_ROWS, _S_GEN_ORDER = range(4)


@dataclass(frozen=True)
class Example:
    """One fine-tuning example: INPUT text, OUTPUT text, and which rows built it."""

    prompt: str
    output: str
    center: int
    neighbours: tuple[int, ...]


# ---------------------------------------------------------------- serialisation


def value_text(value: Any, column: Column) -> str:
    """The string a value is written as (see the module docstring for the rules)."""
    if is_missing(value):
        return MISSING_TEXT
    if column.kind == "integer":
        return str(int(value))
    if column.kind == "float":
        return repr(float(value))
    if column.kind == "boolean":
        return str(bool(value))
    value = py_scalar(value)
    # 1.0 from an all-numeric row Series prints as its category 1 ("1"), not "1.0";
    # an unhashable value or category set prints as given
    with suppress(TypeError):
        value = _category_lookup(column).get(value, value)
    return str(value)


@lru_cache(maxsize=256)
def _category_lookup(column: Column) -> dict[Any, Any]:
    return {c: c for c in reversed(column.categories or ())}  # equal values: the first wins


def serialize_row(row: Mapping[str, Any], schema: Schema, order: Sequence[str]) -> str:
    """Row ``row`` as a JSON object with string values, keys in ``order``."""
    return json.dumps(
        {name: value_text(row[name], schema[name]) for name in order}, ensure_ascii=False
    )


def row_phrases(schema: Schema) -> list[str]:
    """The strings :func:`serialize_row` writes in every row: each key with the ``: "`` that
    opens its value, and the ``", `` between fields.

    The tiny backbone's tokenizer makes each one a single token: byte-level BPE cannot merge
    across punctuation, so ``"Age": "`` would otherwise cost four or more tokens, and German's
    rows about 40% more tokens in all (slower to train and sample, harder to keep in order).

    The ``", `` stays apart from the next key, as in a pretrained tokenizer. Joined to each key
    it would save one more token a field (German's instructions 465 -> 345 tokens), but rows
    ended early: 24% of Diabetes' samples were valid against 98% (benchmarks/RESULTS.md).
    Likely cause: "another field" is then spread over the keys not yet written while the
    closing ``"}`` is one token, so top-p no longer cuts an unlikely closing brace off.
    """
    keys = [json.dumps(name, ensure_ascii=False) + ': "' for name in schema.names]
    return [*keys, '", ']


def _column_texts(values: pd.Series, column: Column) -> np.ndarray:
    """``value_text`` for a whole column at once (object array of str)."""
    if column.kind == "integer" and pd.api.types.is_integer_dtype(values.dtype):
        return np.array([str(v) for v in values.tolist()], dtype=object)  # exact past 2**53
    if column.kind in ("integer", "float"):
        arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        conv = (lambda x: str(int(x))) if column.kind == "integer" else repr
        out = [MISSING_TEXT if x != x else conv(x) for x in arr.tolist()]
        return np.array(out, dtype=object)
    codes, uniques = _factorize(values.tolist())
    texts = np.array([value_text(u, column) for u in uniques] + [MISSING_TEXT], dtype=object)
    return texts[codes]  # code -1 picks the trailing MISSING_TEXT


def _factorize(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Codes and uniques (missing -> -1), like ``pd.factorize`` but by Python equality:
    pandas hashes object strings as C strings, so it merges "" with "\x00"."""
    index: dict[Any, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        codes[i] = -1 if is_missing(v) else index.setdefault(v, len(index))
    return codes, list(index)


def _pair_table(train: pd.DataFrame, schema: Schema) -> np.ndarray:
    """(n_rows, n_columns) object array of ``"<json key>": "<json value>"`` fragments.

    Joining a row's fragments with ", " inside braces is exactly ``json.dumps`` of the row's
    dict (default separators), so every cell is escaped once, not once per prompt.
    """
    names = schema.names
    table = np.empty((len(train), len(names)), dtype=object)
    for j, name in enumerate(names):
        texts = _column_texts(train[name], schema[name])
        codes, uniques = _factorize(texts.tolist())
        key = json.dumps(name, ensure_ascii=False) + ": "
        frags = np.array([key + json.dumps(u, ensure_ascii=False) for u in uniques], dtype=object)
        table[:, j] = frags[codes]
    return table


def _serialise(pairs: np.ndarray, rows: np.ndarray, orders: np.ndarray | None) -> list[str]:
    """JSON text of ``rows`` (1-d), each with its key order (rows of ``orders``) or schema order."""
    cells = pairs[rows] if orders is None else pairs[rows[:, None], orders]
    return ["{" + ", ".join(r) + "}" for r in cells.tolist()]


# ---------------------------------------------------------------- prompt text


def number_word(i: int) -> str:
    """English word for 0..20 ("Example one"), digits beyond."""
    return _WORDS[i] if 0 <= i < len(_WORDS) else str(i)


def prompt_header(schema: Schema, k: int) -> str:
    """Task header (spec §1.6): examples count, description, feature count, label, task."""
    task = _TASKS.get(schema.task, f"{schema.task} classification")
    examples = "example" if k == 1 else "examples"
    return (
        f"Here {'is' if k == 1 else 'are'} {k} {examples} of tabular data about "
        f"{schema.description}. Each example has {len(schema.features)} feature columns and "
        f"1 label column, {json.dumps(schema.target, ensure_ascii=False)}, the label of a "
        f"{task} task. Each example is one JSON object. Generate one new sample similar to "
        f"these {examples}."
    )


def prompt_phrases(schema: Schema, k: int) -> list[str]:
    """The strings every prompt of ``k`` examples repeats word for word: the header, each
    line's ``Example <word>: `` with the newline before it, and the final generate line.

    The tiny backbone's tokenizer makes each one a single token, as it does for
    :func:`row_phrases`: the text is the same, but a randomly initialised model learns
    nothing from 51 tokens of a header that never changes, and German's instructions shrink
    from 465 to 391 tokens, Diabetes' from 345 to 271 (benchmarks/RESULTS.md). A pretrained
    ``--llm`` keeps its own tokenizer and reads the header as words.
    """
    lines = ["\n" + p for p in _example_prefixes(k)]
    return [prompt_header(schema, k), *lines, "\n" + GENERATE_LINE]


def tiny_phrases(schema: Schema, k: int) -> list[str]:
    """What the tiny backbone's tokenizer makes single tokens in HARMONIC's texts: the row
    phrases, the prompt's fixed phrases and the plain template's."""
    return [*row_phrases(schema), *prompt_phrases(schema, k), *PLAIN_PHRASES]


def _example_prefixes(k: int) -> list[str]:
    return [f"Example {number_word(i + 1)}: " for i in range(k)]


def format_prompt(header: str, rows_json: Sequence[str]) -> str:
    """INPUT text: header, one "Example <word>: {json}" line per row, "Generate one sample:"."""
    lines = [p + r for p, r in zip(_example_prefixes(len(rows_json)), rows_json, strict=True)]
    return "\n".join([header, *lines, GENERATE_LINE])


def _prompts(header: str, row_texts: list[str], k: int) -> list[str]:
    prefixes = _example_prefixes(k)
    out = []
    for g in range(len(row_texts) // k):
        block = row_texts[g * k : (g + 1) * k]
        out.append(
            "\n".join(
                [header, *(p + r for p, r in zip(prefixes, block, strict=True)), GENERATE_LINE]
            )
        )
    return out


# ---------------------------------------------------------------- kNN encoding


def _codes(values: pd.Series, column: Column) -> np.ndarray:
    """Index of each value in ``column.categories``; -1 for missing or unseen."""
    cats = list(column.categories or ())
    if not cats:
        return np.full(len(values), -1, dtype=np.int64)
    lookup = {c: i for i, c in enumerate(cats)}
    # a dict, not pd.Index.get_indexer: pandas hashes object strings as C strings ("" == "\x00")
    return np.array(
        [-1 if is_missing(v) else lookup.get(py_scalar(v), -1) for v in values.tolist()],
        dtype=np.int64,
    )


def _minmax(values: pd.Series) -> np.ndarray:
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros(len(x))
    lo, hi = x[finite].min(), x[finite].max()
    # halves first: (hi - lo) overflows to inf for columns spanning most of the float range
    scaled = (x / 2 - lo / 2) / (hi / 2 - lo / 2) if hi > lo else np.zeros(len(x))
    scaled[~finite] = scaled[finite].mean()  # missing number: the column's mean after scaling
    return scaled


def knn_encoding(train: pd.DataFrame, schema: Schema, include_label: bool = False) -> np.ndarray:
    """The neighbour-search space (spec §1.1; see the module docstring)."""
    blocks: list[np.ndarray] = []
    for column in schema.features:
        values = train[column.name]
        if column.is_numeric:
            blocks.append(_minmax(values)[:, None])
            continue
        codes = _codes(values, column)
        n_cats = len(column.categories or ())
        if include_label:  # authors: ordinal codes, unscaled; missing after the last code
            blocks.append(np.where(codes < 0, n_cats, codes).astype("float64")[:, None])
            continue
        width = n_cats + int((codes < 0).any())
        onehot = np.zeros((len(train), width))
        onehot[np.arange(len(train)), np.where(codes < 0, n_cats, codes)] = _ONE_HOT
        blocks.append(onehot)
    if include_label:
        blocks.append(_raw_label(train[schema.target], schema)[:, None])
    if not blocks:
        return np.zeros((len(train), 1))
    return np.hstack(blocks)


def _raw_label(values: pd.Series, schema: Schema) -> np.ndarray:
    """The label as the authors feed it to kNN: its number, or its code when not numeric."""
    numeric = pd.to_numeric(values, errors="coerce")
    if not numeric.isna().any():
        return numeric.to_numpy(dtype="float64")
    codes = _codes(values, schema[schema.target])
    return np.where(codes < 0, len(schema.classes), codes).astype("float64")


def _nearest(x: np.ndarray, k: int) -> np.ndarray:
    """(n, k) indices of each row's k nearest other rows, nearest first.

    Asks for k+1 and removes row i itself explicitly: with exact duplicates sklearn may rank a
    duplicate before i, or leave i out of the k+1 altogether (then the farthest is dropped).
    """
    n = len(x)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
    idx = nn.kneighbors(x, return_distance=False)
    is_self = idx == np.arange(n)[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(n), drop] = False
    return idx[keep].reshape(n, k)


def _distinct_draws(
    rng: np.random.Generator, n_groups: int, n_rows: int, k: int, skip_self: bool
) -> np.ndarray:
    """(n_groups, k) rows drawn uniformly without replacement per group; vectorised.

    With ``skip_self`` group g draws from the rows other than g (so n_groups == n_rows).
    Rows with a repeated index are redrawn until all are distinct.
    """
    pool = n_rows - 1 if skip_self else n_rows
    if k > pool:
        raise ValueError(f"need at least {k + int(skip_self)} rows to draw {k} examples")
    draws = rng.integers(0, pool, size=(n_groups, k))
    while True:
        s = np.sort(draws, axis=1)
        bad = (s[:, 1:] == s[:, :-1]).any(axis=1)
        if not bad.any():
            break
        draws[bad] = rng.integers(0, pool, size=(int(bad.sum()), k))
    if skip_self:
        draws += draws >= np.arange(n_groups)[:, None]
    return draws


def _orders(rng: np.random.Generator | None, n: int, n_cols: int) -> np.ndarray | None:
    """Independent key orders, one per serialised row, or None for schema order."""
    if rng is None:
        return None
    return np.argsort(rng.random((n, n_cols)), axis=1)


def _streams(seed: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]


# ---------------------------------------------------------------- builders


class InstructionBuilder:
    """Builds the fine-tuning set (spec §1). Parameters are the paper's method and ablations.

    ``neighbours="random"``: k random other rows instead of the kNN (ablation w/o kNN);
    ``label_filter``: drop groups where more than half of the k neighbours disagree with the
    centre's label (applied to random groups too when on); ``permute=False``: schema key order;
    ``knn_include_label=True``: the authors' kNN space (see the module docstring).

    After ``build``: ``neighbours_`` (n, k) neighbour indices of every row, ``kept_`` (n,)
    bool mask of the groups the filter kept.
    """

    def __init__(
        self,
        k: int = 5,
        neighbours: Literal["knn", "random"] = "knn",
        label_filter: bool = True,
        permute: bool = True,
        knn_include_label: bool = False,
        seed: int = 0,
    ) -> None:
        self.k = k
        self.neighbours = neighbours
        self.label_filter = label_filter
        self.permute = permute
        self.knn_include_label = knn_include_label
        self.seed = seed

    def neighbour_groups(self, train: pd.DataFrame, schema: Schema) -> np.ndarray:
        """(n, k) neighbours of every row: kNN (nearest first) or seeded random others."""
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        n = len(train)
        if n <= self.k:
            raise ValueError(f"need more than k={self.k} training rows, got {n}")
        if self.neighbours == "knn":
            return _nearest(knn_encoding(train, schema, self.knn_include_label), self.k)
        if self.neighbours == "random":
            rng = _streams(self.seed)[_S_TRAIN_NEIGHBOURS]
            return _distinct_draws(rng, n, n, self.k, skip_self=True)
        raise ValueError(f"neighbours must be 'knn' or 'random', got {self.neighbours!r}")

    def label_mask(self, train: pd.DataFrame, schema: Schema, groups: np.ndarray) -> np.ndarray:
        """Groups kept: at most half of the k neighbours carry a label other than the centre's."""
        if not self.label_filter:
            return np.ones(len(groups), dtype=bool)
        labels, _ = _factorize(train[schema.target].tolist())  # works for any label type
        disagree = (labels[groups] != labels[:, None]).sum(axis=1)
        return 2 * disagree <= groups.shape[1]

    def build(self, train: pd.DataFrame, schema: Schema) -> list[Example]:
        """One Example per kept group, in training-row order."""
        train = train.reset_index(drop=True)
        groups = self.neighbour_groups(train, schema)
        kept = self.label_mask(train, schema, groups)
        self.neighbours_, self.kept_ = groups, kept
        centres = np.flatnonzero(kept)
        k, n_cols = self.k, len(schema.names)
        pairs = _pair_table(train, schema)
        rows = np.concatenate([groups[centres], centres[:, None]], axis=1).reshape(-1)
        rng = _streams(self.seed)[_S_TRAIN_ORDER] if self.permute else None
        texts = _serialise(pairs, rows, _orders(rng, len(rows), n_cols))
        examples_text = [t for j, t in enumerate(texts) if j % (k + 1) != k]
        outputs = texts[k :: k + 1]
        prompts = _prompts(prompt_header(schema, k), examples_text, k)
        nbrs = groups[centres].tolist()
        return [
            Example(p, o, int(c), tuple(nb))
            for p, o, c, nb in zip(prompts, outputs, centres.tolist(), nbrs, strict=True)
        ]


def generation_prompts(
    train: pd.DataFrame,
    schema: Schema,
    n: int,
    seed: int,
    k: int = 5,
    permute: bool = True,
    avoid: pd.DataFrame | None = None,
) -> list[str]:
    """``n`` sampling prompts (spec §3): k distinct uniformly random training rows each.

    ``avoid`` (``n`` rows, for DLT, which scores row i after prompt i): prompt i never shows
    a training row equal to row i of ``avoid``, so a training row is scored after "k other
    random training rows" (spec §4) and a synthetic copy of a training row cannot be read off
    its prompt. Such an example is replaced by a draw of its own, seeded by (seed, i): every
    other prompt is the same with or without ``avoid``.
    """
    if n <= 0:
        return []
    train = train.reset_index(drop=True)
    streams = _streams(seed)
    draws = _distinct_draws(streams[_S_GEN_ROWS], n, len(train), k, skip_self=False)
    pairs = _pair_table(train, schema)
    if avoid is not None:
        if len(avoid) != n:
            raise ValueError(f"avoid has {len(avoid)} rows for {n} prompts")
        draws = _avoid_equal_rows(draws, pairs, _pair_table(avoid, schema), seed)
    rows = draws.reshape(-1)
    rng = streams[_S_GEN_ORDER] if permute else None
    texts = _serialise(pairs, rows, _orders(rng, len(rows), len(schema.names)))
    return _prompts(prompt_header(schema, k), texts, k)


def _avoid_equal_rows(
    draws: np.ndarray, train_pairs: np.ndarray, avoid_pairs: np.ndarray, seed: int
) -> np.ndarray:
    """``draws`` with every training row equal to group g's ``avoid`` row redrawn.

    Rows are equal when their schema-order serialisations are: what the model would see.
    """
    n_rows, k = len(train_pairs), draws.shape[1]
    where: dict[str, list[int]] = {}
    for i, key in enumerate(_serialise(train_pairs, np.arange(n_rows), None)):
        where.setdefault(key, []).append(i)
    out = draws.copy()
    for g, key in enumerate(_serialise(avoid_pairs, np.arange(len(avoid_pairs)), None)):
        banned = set(where.get(key, ()))
        if not banned.intersection(out[g].tolist()):
            continue
        if n_rows - len(banned) < k:
            raise ValueError(f"need {k} training rows other than the scored one")
        rng = np.random.default_rng([seed, g])
        for j in range(k):
            while int(out[g, j]) in banned:
                r = int(rng.integers(n_rows))
                if r not in out[g]:
                    out[g, j] = r
    return out
