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


#: train / val / test: the real splits; syn_raw: the synthetic table as returned; syn: the
#: coerced table; coercion: the coercion report; model: the fitted synthesizer.
INPUTS = frozenset({"train", "val", "test", "syn_raw", "syn", "coercion", "model"})


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
    #: the run's settings, for metrics that train a model of their own (LLE): the preset
    #: picks their quick/paper settings; llm/device are ``--llm``/``--device`` (None: not given)
    preset: str = "quick"
    llm: str | None = None
    device: str | None = None


@dataclass
class MetricResult:
    value: float
    aux: dict[str, Any] = field(default_factory=dict)


class Metric(ABC):
    name: ClassVar[str]
    family: ClassVar[Family]
    goal: ClassVar[Goal]
    bounds: ClassVar[tuple[float, float]] = (float("-inf"), float("inf"))
    #: What the metric reads, among ``INPUTS``. A metric reading ``syn`` is not run on a table
    #: with no valid row (NaN + the coercion's reasons instead); one reading ``model`` (the
    #: fitted synthesizer, e.g. DLT) runs first and cannot be recomputed from the artifact.
    inputs: ClassVar[frozenset[str]] = frozenset({"train", "syn"})

    def check(self, ctx: EvalContext) -> None:  # noqa: B027 - optional hook, applies by default
        """Raise :class:`NotApplicable` with the reason when the metric does not apply."""

    @abstractmethod
    def compute(self, ctx: EvalContext) -> MetricResult: ...

    def setting(self, preset: str, llm: str | None) -> str:
        """What the value depends on besides the job's table and data ('' for nothing).

        The store keeps it with the value; a later run whose setting differs (another
        ``--preset`` or ``--llm`` for LLE) recomputes the metric instead of reusing it.
        """
        return ""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        unknown = set(cls.inputs) - INPUTS
        if unknown:
            raise TypeError(f"{cls.__name__}.inputs has unknown entries {sorted(unknown)}")
