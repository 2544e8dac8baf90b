"""Fidelity metrics: how closely the synthetic table matches the real one."""

from __future__ import annotations

from typing import ClassVar

from bench.metrics.base import EvalContext, Metric, MetricResult


class DataMismatch(Metric):
    """DM: share of columns whose dtype as returned differs from train's, over (columns + 1).

    Follows synthcity's ``data_mismatch`` (German 3/22 = 0.14 in the paper). Computed on the
    synthetic table as returned, before coercion. A column the synthesizer did not return
    counts as a mismatch (its dtype certainly differs); extra columns are ignored and listed.
    """

    name: ClassVar[str] = "dm"
    family = "fidelity"
    goal = "minimize"
    bounds = (0.0, 1.0)

    def compute(self, ctx: EvalContext) -> MetricResult:
        syn, train = ctx.syn_raw, ctx.train
        mismatched = [
            c for c in train.columns if c not in syn.columns or syn[c].dtype != train[c].dtype
        ]
        missing = [c for c in train.columns if c not in syn.columns]
        extra = [str(c) for c in syn.columns if c not in train.columns]
        value = len(mismatched) / (len(train.columns) + 1)
        return MetricResult(
            value, {"mismatched": mismatched, "missing_columns": missing, "extra_columns": extra}
        )
