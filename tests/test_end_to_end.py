"""`bench run` as a user runs it: real CLI, real processes, real files."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from bench.datasets import load_bundled


def _jobs(out) -> pd.DataFrame:
    with sqlite3.connect(out / "results.sqlite") as db:
        return pd.read_sql_query("SELECT * FROM jobs", db).set_index("synthesizer")


@pytest.mark.slow
def test_german_with_original_smote_and_csv(tmp_path, bench_cli):
    german = load_bundled("german")
    made_elsewhere = german.train.sample(500, random_state=0)
    made_elsewhere["Credit amount"] = made_elsewhere["Credit amount"].astype(float)  # 1 dtype off
    made_elsewhere.to_csv(tmp_path / "syn-german-1234.csv", index=False)
    out = tmp_path / "out"
    args = (
        "run",
        "--datasets",
        "german",
        "--synthesizers",
        "original",
        "smote",
        "csv",
        "--param",
        f"csv.path={tmp_path}/syn-{{dataset}}-{{seed}}.csv",
        "--out",
        str(out),
    )
    res = bench_cli(*args)
    assert res.returncode == 0, res.stderr
    assert "3 jobs planned, 0 already done, 3 to run" in res.stderr
    jobs = _jobs(out)
    assert (jobs.status == "ok").all()
    assert jobs.loc["csv", "n_rows"] == 500 and jobs.loc["smote", "n_rows"] == 700

    smote = pd.read_parquet(jobs.loc["smote", "artifact"])
    assert list(smote.columns) == german.schema.names
    assert list(smote.dtypes.astype(str)) == [c.dtype for c in german.schema.columns]
    for col in german.schema.features:
        if col.kind == "categorical":
            assert set(smote[col.name]) <= set(col.categories)
    original = pd.read_parquet(jobs.loc["original", "artifact"])
    pd.testing.assert_frame_equal(original, german.train)

    with sqlite3.connect(out / "results.sqlite") as db:
        dm = dict(
            db.execute(
                "SELECT j.synthesizer, m.value FROM metrics m JOIN jobs j "
                "USING (key) WHERE m.metric = 'dm'"
            ).fetchall()
        )
        phases = db.execute(
            "SELECT count(*) FROM phases WHERE wall_s IS NOT NULL AND peak_rss_mb > 0"
        ).fetchone()[0]
    assert dm == {"original": 0.0, "smote": 0.0, "csv": pytest.approx(1 / 22)}
    assert phases >= 3 * 5

    again = bench_cli(*args)
    assert again.returncode == 0 and "3 already done, 0 to run" in again.stderr
    status = bench_cli("status", "--out", str(out))
    assert status.returncode == 0 and "jobs: 3 ok" in status.stdout


def test_bench_run_without_arguments_is_the_quick_benchmark(tmp_path, bench_cli):
    """The plan only: running it all is benchmarks/quick_benchmark.py (minutes, not a test)."""
    from bench.cores import auto_workers
    from bench.registry import available, load

    res = bench_cli("run", "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "bench-results").exists()  # a dry run writes nothing
    lines = [line.split() for line in res.stdout.splitlines() if line.startswith("  ")]
    grid = {(parts[0], parts[1], parts[3]) for parts in lines}
    default = [n for n, t in available("synthesizers").items() if load(t).default_grid]
    assert {"original", "smote", "tvae", "ctabgan", "tabddpm", "tabsyn"} <= set(default)
    assert grid == {(d, s, "1234") for d in ("german", "diabetes") for s in default}
    metrics = res.stdout.split("metrics: ")[1].split("\n")[0].split()
    assert set(metrics) == set(available("metrics"))
    assert "preset quick" in res.stdout
    assert f"{len(grid)} jobs planned, 0 already done, {len(grid)} to run" in res.stdout
    assert f"to run, {auto_workers(len(grid))} at a time" in res.stdout  # quick: one a core
