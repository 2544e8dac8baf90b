"""Metrics: each a small object with a name, a family, a goal, bounds and ``compute``.

The runner computes every applicable metric for every job, each as its own phase with its
own time limit; see :mod:`bench.metrics.base` for the interface.
"""

from bench.metrics.base import EvalContext, Metric, MetricResult, NotApplicable

__all__ = ["EvalContext", "Metric", "MetricResult", "NotApplicable"]
