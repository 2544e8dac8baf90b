"""DLT (data leakage test) for LLM-based synthesizers: do they find their training rows
more likely than their own samples?
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from bench.metrics.base import EvalContext, Metric, MetricResult, NotApplicable
from bench.synthesizer import SupportsPerplexity

LN2 = float(np.log(2))


class DataLeakageTest(Metric):
    """DLT: mean per-row perplexity of train rows minus that of synthetic rows.

    Both sides are equal-size seeded subsets (at most ``max_rows``, evaluator seed 0), scored
    by the fitted generator in its own format and conditioning (``perplexity``). Negative
    values mean the generator finds its training rows more likely than its own samples
    (memorisation); higher is better. Natural-log perplexity; the same difference with the
    authors' base 2 (``2 ** natural-log loss``, i.e. each perplexity to the power ln 2) is kept
    as ``value_base2`` in the result's details, for comparison with their script only.
    """

    name: ClassVar[str] = "dlt"
    inputs = frozenset({"model", "train", "syn"})
    family = "privacy"
    goal = "maximize"

    def __init__(self, max_rows: int = 1000) -> None:
        self.max_rows = max_rows

    def check(self, ctx: EvalContext) -> None:
        if ctx.is_reference:
            raise NotApplicable("the real data is not a synthetic table")
        if not isinstance(ctx.synthesizer, SupportsPerplexity):
            raise NotApplicable("not an LLM-based synthesizer (no perplexity)")

    def compute(self, ctx: EvalContext) -> MetricResult:
        assert ctx.syn is not None and ctx.synthesizer is not None
        m = min(len(ctx.train), len(ctx.syn), self.max_rows)
        rng = np.random.default_rng(ctx.eval_seeds[0])
        train = ctx.train.iloc[np.sort(rng.choice(len(ctx.train), m, replace=False))]
        syn = ctx.syn.iloc[np.sort(rng.choice(len(ctx.syn), m, replace=False))]
        ppl_train = np.asarray(ctx.synthesizer.perplexity(train), dtype=float)
        ppl_syn = np.asarray(ctx.synthesizer.perplexity(syn), dtype=float)
        value = float(np.mean(ppl_train) - np.mean(ppl_syn))
        aux = {
            "rows": m,
            "ppl_train": float(np.mean(ppl_train)),
            "ppl_syn": float(np.mean(ppl_syn)),
            "ppl_train_median": float(np.median(ppl_train)),
            "ppl_syn_median": float(np.median(ppl_syn)),
            "base": "e",
            # the authors' script: 2 ** (natural-log loss) = PPL_e ** ln 2 (spec §4)
            "value_base2": float(np.mean(ppl_train**LN2) - np.mean(ppl_syn**LN2)),
        }
        return MetricResult(value, aux)
