"""Datasets: the four bundled paper datasets (exact splits) and user CSV/Parquet files.

A dataset is three tables (train / val / test) in the schema's storage dtypes plus the
schema. Missing values are kept as they are (NaN), never imputed here: Adult's missing
``workclass`` / ``occupation`` / ``native-country`` cells reach every synthesizer untouched.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.catalog import BUNDLED, INDEX_FILE, bundled_meta, data_dir
from bench.checks import check_plain_name, parse_seed
from bench.errors import UserError, unknown_name
from bench.schema import Schema, check_target, infer_schema, to_storage
from bench.synthesizer import class_allocation
from bench.tables import read_table

SPLITS = ("train", "val", "test")
SPLIT_RATIOS = (0.7, 0.1, 0.2)
TRAIN_VAL_RATIOS = (0.875, 0.125)  # with a separate test file: 7:1


@dataclass(frozen=True)
class UserDataSpec:
    """A user's table: one file split 7:1:2 (seeded, stratified), or train + test files."""

    name: str
    path: str
    target: str
    test: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    description: str = "tabular records"
    split_seed: int = 0

    def __post_init__(self) -> None:
        """The name becomes folders under ``--out``; the split seed is stored as given."""
        check_plain_name(self.name, "--name churn, or [data.churn] in a config")
        where = f"split_seed = 0 under [data.{self.name}] in a config"
        parse_seed(self.split_seed, "the split seed", f"--split-seed 0, or {where}")

    @classmethod
    def from_mapping(
        cls, name: str, d: Mapping[str, Any], base: Path | None = None
    ) -> UserDataSpec:
        if not isinstance(d, Mapping):
            raise UserError(
                f"config key 'data.{name}' must be a table: [data.{name}] with path and target"
            )
        allowed = {"path", "target", "test", "columns", "description", "split_seed"}
        unknown = set(d) - allowed
        if unknown:
            raise UserError(
                f"dataset '{name}' has unknown keys {sorted(unknown)}: "
                f"allowed are {sorted(allowed)}"
            )
        for key in ("path", "target"):
            if key not in d:
                raise UserError(f"dataset '{name}' needs a '{key}' entry in the config")

        def where(p: str | None) -> str | None:
            if p is None or base is None or Path(p).is_absolute():
                return p
            return str(base / p)

        return cls(
            name=name,
            path=where(d["path"]) or "",
            target=str(d["target"]),
            test=where(d.get("test")),
            columns=dict(d.get("columns", {})),
            description=str(d.get("description", "tabular records")),
            split_seed=d.get("split_seed", 0),
        )


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    schema: Schema
    source: str

    def split(self, name: str) -> pd.DataFrame:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the split contents and schema: the dataset part of every job key."""
        h = hashlib.sha256(self.schema.to_json().encode())
        for split in SPLITS:
            table = self.split(split)
            h.update(split.encode())
            h.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": {s: len(self.split(s)) for s in SPLITS},
            "features": self.schema.counts(),
            "target": self.schema.target,
            "task": self.schema.task,
            "classes": list(self.schema.classes),
            "missing_cells": int(sum(self.split(s).isna().sum().sum() for s in SPLITS)),
            "source": self.source,
        }


def _build(
    name: str,
    parts: Mapping[str, pd.DataFrame],
    target: str,
    overrides: Mapping[str, str],
    description: str,
    source: str,
) -> Dataset:
    columns = list(parts["train"].columns)
    for split, table in parts.items():
        if list(table.columns) != columns:
            raise UserError(
                f"dataset '{name}': the {split} table's columns differ from train's: "
                "give both files the same header"
            )
    whole = pd.concat(list(parts.values()), ignore_index=True)
    check_target(whole, target)
    schema = infer_schema(
        whole,
        target,
        train=parts["train"],
        overrides=overrides,
        description=description,
        name=name,
    )
    tables = {s: to_storage(t.reset_index(drop=True), schema) for s, t in parts.items()}
    return Dataset(name, tables["train"], tables["val"], tables["test"], schema, source)


def load_bundled(name: str) -> Dataset:
    meta = bundled_meta()
    if name not in meta:
        raise unknown_name("dataset", name, meta, "bench datasets")
    m = meta[name]
    parts = {s: read_table(data_dir() / name / f"{s}.csv") for s in SPLITS}
    return _build(name, parts, m["target"], m.get("columns", {}), m["description"], "bundled")


def stratified_split(
    table: pd.DataFrame, target: str, seed: int, ratios: tuple[float, ...] = SPLIT_RATIOS
) -> list[pd.DataFrame]:
    """Seeded split with overall sizes in ``ratios`` and class proportions kept in each part.

    Each later part (val, test) gets ``round(ratio * n)`` rows, spread over the classes by
    largest remainder; every class keeps at least one row in the first part (train), so even
    a class with a single row works. Rows keep their file order inside each part.
    """
    rng = np.random.default_rng(seed)
    labels = table[target].astype(str)
    counts = labels.value_counts(sort=False)
    allocs = [class_allocation(labels, round(r * len(table))) for r in ratios[1:]]
    parts: list[list[int]] = [[] for _ in ratios]
    for cls in sorted(counts.index):
        idx = np.flatnonzero(labels.to_numpy() == cls)
        rng.shuffle(idx)
        sizes = [a[cls] for a in allocs]
        while sum(sizes) >= len(idx) and any(sizes):
            sizes[int(np.argmax(sizes))] -= 1
        start = len(idx) - sum(sizes)
        parts[0].extend(idx[:start])
        for k, size in enumerate(sizes, start=1):
            parts[k].extend(idx[start : start + size])
            start += size
    return [table.iloc[sorted(p)].reset_index(drop=True) for p in parts]


def min_rows(ratios: tuple[float, ...]) -> int:
    """The fewest rows whose split gives every later part a row and train two (one a class)."""
    n = 2
    while (
        any(round(r * n) < 1 for r in ratios[1:]) or n - sum(round(r * n) for r in ratios[1:]) < 2
    ):
        n += 1
    return n


def check_split(
    name: str, parts: Mapping[str, pd.DataFrame], target: str, rows: int, ratios: tuple[float, ...]
) -> None:
    """Every split holds rows and train both classes, or the metrics fail in every job
    with a message (an empty label array) that does not name the cause."""
    empty = [split for split, table in parts.items() if len(table) == 0]
    if not empty and parts["train"][target].nunique(dropna=True) >= 2:
        return
    what = f"{', '.join(empty)} would be empty" if empty else "train would hold one class"
    ratio = "7:1:2 train/val/test" if len(ratios) == 3 else "7:1 train/val"
    raise UserError(
        f"dataset '{name}' has {rows} rows, too few for its {ratio} split ({what}): give at "
        f"least {min_rows(ratios)} rows, more if a class has only a row or two"
    )


def load_user(spec: UserDataSpec) -> Dataset:
    if spec.name in BUNDLED:
        raise UserError(
            f"dataset name '{spec.name}' is taken by a bundled dataset: choose another name"
        )
    table = read_table(spec.path)
    check_target(table, spec.target)
    ratios = SPLIT_RATIOS if spec.test is None else TRAIN_VAL_RATIOS
    if spec.test is None:
        train, val, test = stratified_split(table, spec.target, spec.split_seed)
        source = f"{spec.path} (stratified 7:1:2 split, seed {spec.split_seed})"
    else:
        test = read_table(spec.test)
        train, val = stratified_split(table, spec.target, spec.split_seed, TRAIN_VAL_RATIOS)
        source = f"{spec.path} + test {spec.test} (train/val 7:1 split, seed {spec.split_seed})"
    parts = {"train": train, "val": val, "test": test}
    check_split(spec.name, parts, spec.target, len(table), ratios)
    return _build(spec.name, parts, spec.target, spec.columns, spec.description, source)


def dataset_name_for(path: str) -> str:
    """A dataset name from a file name: ``data/My Churn.csv`` -> ``my-churn``."""
    stem = Path(path).stem.lower()
    return re.sub(r"[^a-z0-9]+", "-", stem).strip("-") or "data"


def write_bundled_index() -> Path:
    """Regenerate ``data/index.json`` (tests check it matches the vendored files)."""
    index = [load_bundled(name).summary() for name in BUNDLED]
    path = data_dir() / INDEX_FILE
    path.write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m bench.datasets  -> refresh the index after editing data
    print(write_bundled_index())
