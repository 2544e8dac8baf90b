"""No synthetic table, however broken, crashes a job: metrics record a value or a reason."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from bench.config import build_config
from bench.progress import Progress
from bench.runner import run
from bench.store import Store

from toys import Pathological


@pytest.mark.slow
def test_every_metric_survives_every_broken_table(tmp_path):
    cfg = build_config(
        out=str(tmp_path),
        datasets=["german"],
        synthesizers=["toys:Pathological"],
        seeds=[1],
    )
    summaries = []
    for mode in Pathological.MODES:
        cfg.params = {"pathological": {"mode": mode}}
        summaries.append(run(cfg, Progress(io.StringIO(), tty=False), argv=["test"]))
    assert all(r.status == "ok" for s in summaries for r in s.records)
    store = Store(tmp_path)
    jobs = store.table("jobs")
    results = store.results().merge(jobs[["key", "params"]], on="key")
    store.close()
    results["mode"] = results.params.map(
        lambda p: pd.read_json(io.StringIO(p), typ="series")["mode"]
    )
    assert set(results["mode"]) == set(Pathological.MODES)
    assert not (results.status == "error").any(), results[results.status == "error"]
    failed = results[results.status != "ok"]
    assert failed.reason.notna().all() and (failed.reason.str.len() > 0).all()
    by = results.set_index(["mode", "metric"])
    for mode in ("missing_column", "zero_rows"):
        assert by.loc[(mode, "mle"), "status"] == "nan"
        assert "no valid synthetic rows" in by.loc[(mode, "mle"), "reason"]
        assert by.loc[(mode, "dm"), "status"] == "ok"
    assert by.loc[("missing_column", "invalid_rows"), "value"] == 700
    assert by.loc[("unseen_category", "invalid_rows"), "value"] == 700
    assert by.loc[("single_class", "mle"), "status"] == "nan"
    assert "single class" in by.loc[("single_class", "mle"), "reason"]
    assert by.loc[("few_rows", "nrs"), "status"] == "ok"
    assert by.loc[("strings_everywhere", "invalid_rows"), "value"] == 0  # text is coerced
    assert by.loc[("strings_everywhere", "dm"), "value"] > 0.3  # but DM sees the dtypes
