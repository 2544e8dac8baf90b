"""The metric interface (SDMetrics style) and what a metric is given to compute on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pandas as pd

from bench.schema import Schema
from bench.synthesizer import Synthesizer

Family = Literal["fidelity", "utility", "privacy"]
Goal = Literal["maximize", "minimize", "target"]


class NotApplicable(Exception):
    """Raised by ``check`` when a metric does not apply to a job (stored as 'n/a' + reason)."""


@dataclass
class EvalContext:
    """Everything a metric may read for one job."""

    dataset: str
    schema: Schema
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    syn_raw: pd.DataFrame  # the synthetic table exactly as the synthesizer returned it
    seed: int  # generation seed of the job; evaluators use ``eval_seeds``, never this
    synthesizer_name: str
    syn: pd.DataFrame | None = None  # coerced: schema columns + dtypes, invalid rows dropped
    coercion: dict[str, Any] = field(default_factory=dict)  # invalid_rows, reasons, ...
    is_reference: bool = False
    synthesizer: Synthesizer | None = None  # the fitted model, when still in memory
    n_requested: int = 0
    data_dir: str = ""  # the dataset's hand-off folder: per-dataset caches live here
    eval_seeds: tuple[int, ...] = (0, 1, 2)  # evaluator seeds, separate from generation


@dataclass
class MetricResult:
    value: float
    aux: dict[str, Any] = field(default_factory=dict)


class Metric(ABC):
    name: ClassVar[str]
    family: ClassVar[Family]
    goal: ClassVar[Goal]
    bounds: ClassVar[tuple[float, float]] = (float("-inf"), float("inf"))
    #: True when the metric needs the fitted synthesizer (e.g. DLT): computed before the
    #: model is released, and not recomputable from the stored artifact alone.
    needs_model: ClassVar[bool] = False

    def check(self, ctx: EvalContext) -> None:  # noqa: B027 - optional hook, applies by default
        """Raise :class:`NotApplicable` with the reason when the metric does not apply."""

    @abstractmethod
    def compute(self, ctx: EvalContext) -> MetricResult: ...
