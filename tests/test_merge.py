"""A grid split over machines: ``bench run --shard K/N`` and ``bench merge``."""

from __future__ import annotations

import io
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.cli import main
from bench.config import build_config
from bench.errors import UserError
from bench.jobs import Job, JobRecord
from bench.merge import merge
from bench.progress import Progress
from bench.runner import plan, run, select, share
from bench.store import Store

GRID = {
    "datasets": ["diabetes"],
    "synthesizers": ["original", "toys:Bootstrap", "toys:Memoriser"],
    "seeds": [1, 2],
    "metrics": ["dm", "toys:RowCount"],
}


def _run(out: Path, **kw) -> None:
    cfg = build_config(out=str(out), **{**GRID, **kw})
    run(cfg, Progress(io.StringIO(), tty=False), argv=["bench", "run", "--out", str(out)])


def _values(out: Path) -> dict[tuple, float]:
    store = Store(out)
    try:
        res = store.results()
    finally:
        store.close()
    # n/a metrics store no value: None, so that equal stores compare equal
    return {
        (r.synthesizer, r.seed, r.metric): None if pd.isna(r.value) else r.value
        for r in res.itertuples()
    }


def _job(key: str, target: str, n_rows: int) -> Job:
    return Job(key, "d", "", key, target, {}, 1, n_rows, "quick", (), {}, "", "")


@settings(max_examples=60, deadline=None)
@given(
    kinds=st.lists(st.tuples(st.booleans(), st.integers(1, 4)), min_size=0, max_size=30),
    n=st.integers(1, 7),
)
def test_shares_are_disjoint_cover_the_grid_and_spread_the_long_jobs(kinds, n):
    targets = {True: "toys:Memoriser", False: "toys:Bootstrap"}  # LLM-like (perplexity) or not
    jobs = [_job(f"k{i}", targets[llm], rows) for i, (llm, rows) in enumerate(kinds)]
    parts = [share(jobs, (k, n)) for k in range(1, n + 1)]
    keys = [[j.key for j in p] for p in parts]
    assert sorted(k for p in keys for k in p) == sorted(j.key for j in jobs)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    for part in keys:  # each part keeps the grid's order
        assert part == [j.key for j in jobs if j.key in set(part)]
    long_jobs = [sum(j.target == targets[True] for j in p) for p in parts]
    assert max(long_jobs) - min(long_jobs) <= 1
    assert share(jobs, None) == jobs


def test_sharded_runs_merge_into_the_unsharded_result(tmp_path):
    _run(tmp_path / "whole")
    for k in (1, 2, 3):
        _run(tmp_path / f"part{k}", shard=f"{k}/3")
    parts = [tmp_path / f"part{k}" for k in (1, 2, 3)]
    before = [(p / "results.sqlite").read_bytes() for p in parts]

    summary = merge(parts, tmp_path / "merged", ["bench", "merge"])
    assert (summary.added, summary.replaced, summary.kept, summary.missing_files) == (6, 0, 0, [])
    assert _values(tmp_path / "merged") == _values(tmp_path / "whole")
    assert [(p / "results.sqlite").read_bytes() for p in parts] == before  # only read

    # the tables sit where a run in the merged folder looks for them: nothing left to do
    cfg = build_config(out=str(tmp_path / "merged"), **GRID)
    jobs, _ = plan(cfg)
    store = Store(tmp_path / "merged")
    try:
        assert select(jobs, store, cfg) == []
        stored = store.table("jobs")
    finally:
        store.close()
    for path in stored.artifact:
        assert path.startswith(str(tmp_path / "merged" / "artifacts"))
        assert len(pd.read_parquet(path)) == 491
    # a new metric is computed from the copied tables, not by fitting again
    _run(tmp_path / "merged", metrics=["dm", "toys:RowCount", "toys:PrivacyOnly"])
    values = _values(tmp_path / "merged")
    assert values[("bootstrap", 1, "privacyonly")] == 0.5

    again = merge(parts, tmp_path / "merged", ["bench", "merge"])
    assert (again.added, again.replaced, again.kept) == (0, 0, 6)
    assert _values(tmp_path / "merged") == values


def _store_one(folder: Path, status: str, value: float | None, finished: float) -> None:
    """A store holding one job, key 'same', as a run leaves it."""
    store = Store(folder)
    try:
        run_id = store.start_run(["bench", "run", "--out", str(folder)], "quick", {}, {})
        job = Job(
            "same", "german", "", "smote", "toys:Bootstrap", {}, 1, 10, "quick", (), {}, "", ""
        )
        store.mark_running(job, run_id, "fp", {})
        rec = JobRecord(job, status=status, error=None if status == "ok" else "boom")
        if value is not None:
            rec.metrics = {"mle": {"status": "ok", "value": value}}
        rec.finished = finished
        store.save(rec)
        store.finish_run(run_id, "finished")
    finally:
        store.close()


@pytest.mark.parametrize("order", [("ok", "failed"), ("failed", "ok")])
def test_a_finished_attempt_beats_a_failed_one_whatever_the_order(tmp_path, order):
    now = time.time()
    _store_one(tmp_path / "ok", "ok", 0.7, finished=now - 100)
    _store_one(tmp_path / "failed", "error", None, finished=now)  # later, but failed
    merge([tmp_path / name for name in order], tmp_path / "out", ["bench", "merge"])
    store = Store(tmp_path / "out")
    try:
        jobs, metrics = store.table("jobs"), store.table("metrics")
    finally:
        store.close()
    assert list(jobs.status) == ["ok"] and list(metrics.value) == [0.7]


def test_merge_refuses_what_it_cannot_join(tmp_path):
    _store_one(tmp_path / "a", "ok", 0.7, finished=time.time())
    with pytest.raises(UserError, match="no results in"):
        merge([tmp_path / "a", tmp_path / "empty"], tmp_path / "out", [])
    with pytest.raises(UserError, match="is the destination"):
        merge([tmp_path / "a"], tmp_path / "a", [])
    with pytest.raises(UserError, match="given twice"):
        merge([tmp_path / "a", tmp_path / "a"], tmp_path / "out", [])
    assert not (tmp_path / "out").exists()  # nothing written before every source was read


@pytest.mark.parametrize("bad", ["0/2", "3/2", "2", "a/b"])
def test_bad_shard_is_a_one_line_error(capsys, tmp_path, bad):
    code = main(["run", "--shard", bad, "--out", str(tmp_path), "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "shard must be K/N" in err


def test_dry_run_lists_this_shares_jobs(capsys, tmp_path):
    argv = ["run", "--datasets", "diabetes", "--synthesizers", "original", "smote"]
    argv += ["--seeds", "1", "2", "3", "--out", str(tmp_path), "--dry-run"]
    lines = {}
    for k in (1, 2):
        assert main([*argv, "--shard", f"{k}/2"]) == 0
        lines[k] = [ln for ln in capsys.readouterr().out.splitlines() if ln.endswith("to run")]
    assert len(lines[1]) == len(lines[2]) == 3 and not set(lines[1]) & set(lines[2])


def test_merge_cli_joins_and_writes_leaderboards(tmp_path, bench_cli):
    for k in (1, 2):
        res = bench_cli(
            "run", "--datasets", "diabetes", "--synthesizers", "original", "toys:Bootstrap",
            "--seeds", "1", "--metrics", "dm", "--shard", f"{k}/2", "--out", tmp_path / f"p{k}",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
    res = bench_cli(
        "merge", str(tmp_path / "p1"), str(tmp_path / "p2"), "--out", str(tmp_path / "m")
    )
    assert res.returncode == 0, res.stderr
    assert "2 job(s) added" in res.stderr and "jobs: 2 ok" in res.stdout
    first = (tmp_path / "m" / "leaderboards" / "fidelity.md").read_text().splitlines()[0]
    assert "--shard 1/2" in first and "--shard 2/2" in first and "bench merge" in first
    with sqlite3.connect(tmp_path / "m" / "results.sqlite") as db:
        assert db.execute("SELECT status FROM runs ORDER BY run_id").fetchall()[-1] == ("merged",)
