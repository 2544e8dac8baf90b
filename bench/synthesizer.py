"""The one interface every synthesizer implements (scikit-learn style).

    synth = SomeSynthesizer(epochs=10)        # parameters in __init__, nothing else happens
    synth.fit(train, schema, seed=1234)       # learn from the real training split
    table = synth.generate(1000, seed=1234)   # exactly the rows it can produce, as a DataFrame

A subclass sets ``name`` and, where it has them, ``presets`` (``quick`` / ``paper``
parameter sets), ``packages`` (distributions whose versions enter the job key) and
``requirements`` (pip requirement strings for an isolated environment; empty means the
synthesizer runs in the harness's own environment). Heavy libraries are imported inside
``fit``, never at module level, so listing synthesizers stays instant.

LLM-based synthesizers also implement ``perplexity(rows) -> per-row perplexity`` (the
:class:`SupportsPerplexity` capability), which the DLT metric uses.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from bench.schema import Schema


class Synthesizer(ABC):
    name: ClassVar[str] = ""
    label: ClassVar[str] = ""  # how leaderboards print it (default: ``name``)
    description: ClassVar[str] = ""
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    packages: ClassVar[tuple[str, ...]] = ()
    requirements: ClassVar[tuple[str, ...]] = ()
    #: True for the real-data reference, which privacy metrics (NRS, DCR) do not apply to.
    is_reference: ClassVar[bool] = False
    #: False for synthesizers that need user input (e.g. a file) and so cannot run by default.
    default_grid: ClassVar[bool] = True

    @abstractmethod
    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> Synthesizer:
        """Learn from ``train`` (storage dtypes of ``schema``). Returns ``self``."""

    @abstractmethod
    def generate(self, n: int, seed: int) -> pd.DataFrame:
        """Return ``n`` synthetic rows (fewer only when the method cannot produce more)."""

    def report(self) -> dict[str, Any]:
        """Figures about the last fit/generate worth keeping with the job (JSON-able), e.g.
        training loss, valid/invalid sample counts by reason, rows per second."""
        return {}

    def fingerprint(self, dataset: str, seed: int) -> str:
        """Extra content that identifies this job beyond the parameters (e.g. an input file)."""
        return ""

    @classmethod
    def param_names(cls) -> list[str]:
        """Constructor parameters; a subclass whose ``__init__`` passes ``**params`` on (a
        variant that only changes defaults) also has its parent's."""
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            params = list(inspect.signature(init).parameters.values())
            for p in params:
                plain = p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                if p.name != "self" and plain and p.name not in names:
                    names.append(p.name)
            if not any(p.kind == p.VAR_KEYWORD for p in params):
                break
        return names

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, read back from attributes of the same name."""
        return {p: getattr(self, p) for p in self.param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


@runtime_checkable
class SupportsPerplexity(Protocol):
    """Capability of LLM-based synthesizers: perplexity of rows under the fitted model."""

    def perplexity(self, rows: pd.DataFrame) -> np.ndarray: ...


def class_allocation(labels: pd.Series, n: int) -> dict[Any, int]:
    """Split ``n`` rows over classes in the proportions of ``labels`` (largest remainder).

    Positions, not labels, pick the classes that get a leftover row: a True/False label
    used as an index would be read as a boolean mask.
    """
    counts = labels.value_counts(sort=False)
    quota = counts.to_numpy(dtype="float64") / counts.sum() * n
    alloc = np.floor(quota).astype(int)
    rest = n - int(alloc.sum())
    alloc[_largest_first(quota - alloc)[:rest]] += 1
    return {k: int(v) for k, v in zip(counts.index, alloc, strict=True)}


def _largest_first(values: np.ndarray) -> np.ndarray:
    """Positions of ``values`` from largest to smallest; ties keep their order."""
    return np.argsort(-values, kind="stable")
