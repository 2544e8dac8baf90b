"""The runner: isolation of failures, time and memory limits, skipping and resuming."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from bench import __version__, scratch
from bench.config import build_config
from bench.jobs import job_key
from bench.progress import Progress
from bench.runner import run
from bench.store import Store


def _run(tmp_path: Path, **kw):
    kw.setdefault("datasets", ["diabetes"])
    kw.setdefault("metrics", ["dm", "toys:RowCount"])
    cfg = build_config(out=str(tmp_path), **kw)
    return run(cfg, Progress(io.StringIO(), tty=False), argv=["test"])


def _jobs(tmp_path: Path) -> pd.DataFrame:
    store = Store(tmp_path)
    try:
        return store.table("jobs").set_index("synthesizer")
    finally:
        store.close()


def _metrics(tmp_path: Path) -> pd.DataFrame:
    store = Store(tmp_path)
    try:
        return store.results().set_index(["synthesizer", "metric"])
    finally:
        store.close()


def test_failures_are_recorded_and_the_grid_goes_on(tmp_path):
    summary = _run(
        tmp_path,
        synthesizers=["toys:Failing", "toys:Crashing", "original", "toys:Bootstrap"],
        metrics=["dm", "toys:RowCount", "toys:BrokenMetric", "toys:PrivacyOnly"],
    )
    assert len(summary.records) == 4
    jobs = _jobs(tmp_path)
    assert jobs.loc["failing", "status"] == "error"
    assert "toy failure in fit" in jobs.loc["failing", "error"]
    assert "RuntimeError" in jobs.loc["failing", "traceback"]
    assert jobs.loc["crashing", "status"] == "error"
    assert "exited with code 3" in jobs.loc["crashing", "error"]
    for name in ("original", "bootstrap"):
        assert jobs.loc[name, "status"] == "ok"
        art = pd.read_parquet(jobs.loc[name, "artifact"])
        assert len(art) == 491
    m = _metrics(tmp_path)
    assert m.loc[("bootstrap", "rowcount"), "value"] == 1.0
    assert m.loc[("bootstrap", "brokenmetric"), "status"] == "error"
    assert "toy metric failure" in m.loc[("bootstrap", "brokenmetric"), "reason"]
    assert m.loc[("original", "privacyonly"), "status"] == "n/a"
    assert m.loc[("bootstrap", "privacyonly"), "value"] == 0.5
    assert m.loc[("original", "dm"), "value"] == 0.0
    store = Store(tmp_path)
    phases = store.table("phases")
    store.close()
    ok = phases[phases.key == jobs.loc["bootstrap", "key"]].set_index("phase")
    assert {"load", "fit", "generate", "save", "metric:dm"} <= set(ok.index)
    assert (ok.wall_s >= 0).all() and (ok.peak_rss_mb > 10).all()


def test_fit_time_limit_kills_and_records_timeout(tmp_path):
    note = tmp_path / "checkpoint-folder"
    _run(
        tmp_path,
        synthesizers=["toys:Sleepy", "toys:Bootstrap"],
        limits={"fit": 1.5},
        params={"sleepy": {"note": str(note)}},
    )
    jobs = _jobs(tmp_path)
    assert jobs.loc["sleepy", "status"] == "timeout"
    assert "fit exceeded its 1.5 s limit" in jobs.loc["sleepy", "error"]
    assert jobs.loc["bootstrap", "status"] == "ok"
    folder = Path(note.read_text())
    assert folder.name.startswith("sleepy-")
    assert not folder.exists(), "the killed job's temporary files outlived it"


def test_scratch_of_a_dead_runner_is_swept(tmp_path):
    stale = tmp_path / f"{scratch.PREFIX}dead"  # its runner is gone: nobody holds the lock
    (stale / "job").mkdir(parents=True)
    (stale / scratch.OWNER).touch()
    foreign = tmp_path / f"{scratch.PREFIX}not-ours"  # no owner file: left alone
    foreign.mkdir()
    live = scratch.Scratch(str(tmp_path))
    assert not stale.exists() and foreign.exists() and live.root.exists()
    other = scratch.Scratch(str(tmp_path))  # a second runner sweeps too
    assert live.root.exists() and other.root != live.root
    job = live.job("0123456789abcdef")
    assert job.parent == live.root and job.name.startswith("0123456789ab-")
    live.close()
    other.close()
    assert not live.root.exists() and not other.root.exists() and foreign.exists()


def test_metric_timeout_keeps_the_job_and_the_other_metrics(tmp_path):
    _run(
        tmp_path,
        synthesizers=["toys:Bootstrap"],
        metrics=["toys:SlowMetric", "toys:RowCount", "dm"],
        limits={"metric": 1.5},
    )
    jobs = _jobs(tmp_path)
    assert jobs.loc["bootstrap", "status"] == "ok"
    m = _metrics(tmp_path)
    assert m.loc[("bootstrap", "slowmetric"), "status"] == "timeout"
    assert m.loc[("bootstrap", "rowcount"), "value"] == 1.0
    assert m.loc[("bootstrap", "dm"), "status"] == "ok"


def test_memory_limit_marks_oom(tmp_path):
    _run(tmp_path, synthesizers=["toys:Hog"], memory_limit="600MiB")
    jobs = _jobs(tmp_path)
    assert jobs.loc["hog", "status"] == "oom"
    assert "limit" in jobs.loc["hog", "error"]


def test_rerun_skips_finished_jobs_and_force_reruns(tmp_path):
    first = _run(tmp_path, synthesizers=["toys:Bootstrap"], seeds=[1, 2])
    assert len(first.records) == 2
    again = _run(tmp_path, synthesizers=["toys:Bootstrap"], seeds=[1, 2])
    assert again.skipped == 2 and not again.records
    more = _run(tmp_path, synthesizers=["toys:Bootstrap"], seeds=[1, 2, 3])
    assert [r.job.seed for r in more.records] == [3]
    forced = _run(tmp_path, synthesizers=["toys:Bootstrap"], seeds=[1], force=True)
    assert len(forced.records) == 1


def test_new_metric_is_computed_from_the_artifact(tmp_path):
    _run(tmp_path, synthesizers=["toys:Bootstrap"], metrics=["dm"])
    later = _run(tmp_path, synthesizers=["toys:Bootstrap"], metrics=["dm", "toys:RowCount"])
    (rec,) = later.records
    assert rec.job.resume and [m[0] for m in rec.job.metrics] == ["rowcount"]
    assert "fit" not in rec.phases and "load_artifact" in rec.phases
    m = _metrics(tmp_path)
    assert m.loc[("bootstrap", "rowcount"), "value"] == 1.0
    assert m.loc[("bootstrap", "dm"), "value"] == 0.0


def test_failed_jobs_are_skipped_unless_retried(tmp_path):
    _run(tmp_path, synthesizers=["toys:Failing"])
    assert not _run(tmp_path, synthesizers=["toys:Failing"]).records
    assert len(_run(tmp_path, synthesizers=["toys:Failing"], retry_failed=True).records) == 1


def test_job_key_covers_everything_that_changes_the_output():
    base = dict(
        dataset_fingerprint="d",
        synthesizer="s",
        target="m:C",
        params={"a": 1},
        seed=1,
        n_rows=10,
        versions={"numpy": "2"},
    )
    k = job_key(**base)
    assert k == job_key(**base)
    for change in (
        {"dataset_fingerprint": "e"},
        {"params": {"a": 2}},
        {"seed": 2},
        {"n_rows": 11},
        {"versions": {"numpy": "3"}},
        {"synthesizer": "t"},
    ):
        assert job_key(**{**base, **change}) != k
    assert job_key(**base, extra="file-hash") != k


def test_store_is_valid_sqlite_with_tidy_tables(tmp_path):
    _run(tmp_path, synthesizers=["original"])
    db = sqlite3.connect(tmp_path / "results.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    cols = [r[1] for r in db.execute("PRAGMA table_info(metrics)")]
    assert cols[:4] == ["key", "metric", "status", "value"]
    (last,) = db.execute("SELECT status FROM runs").fetchone()
    assert last == "finished"
    summary = json.loads((tmp_path / "last_run.json").read_text())
    assert summary["ran"] == 1 and summary["failed"] == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_each_job_gets_its_share_of_the_cores(tmp_path, workers):
    from bench.cores import share, usable_cores

    summary = _run(tmp_path, synthesizers=["toys:ThreadCounter"], metrics=["dm"], workers=workers)
    assert summary.workers == workers
    seen = json.loads(_jobs(tmp_path).loc["threadcounter", "report"])
    assert seen == {"torch": share(workers), "blas": share(workers), "job": share(workers)}
    assert share(workers) == max(1, usable_cores() // workers)


def test_parallel_grids_start_llm_synthesizers_and_larger_tables_first(tmp_path):
    from bench.runner import longest_first, plan

    cfg = build_config(
        out=str(tmp_path),
        datasets=["diabetes", "german"],
        synthesizers=["toys:Bootstrap", "toys:Memoriser"],
        metrics=["dm"],
    )
    jobs, _ = plan(cfg)
    order = [(j.synthesizer, j.dataset) for j in longest_first(jobs)]
    assert order == [
        ("memoriser", "german"),  # perplexity: an LLM-based synthesizer; 700 rows
        ("memoriser", "diabetes"),  # 491 rows
        ("bootstrap", "german"),
        ("bootstrap", "diabetes"),
    ]


def test_workers_default_to_one_per_core_at_the_quick_preset_only(tmp_path):
    from bench.config import AUTO
    from bench.cores import auto_workers, usable_cores

    assert build_config(out=str(tmp_path)).workers == AUTO
    assert build_config(out=str(tmp_path), preset="paper").workers == 1
    assert build_config(out=str(tmp_path), workers="3").workers == 3
    assert build_config(out=str(tmp_path), preset="paper", workers="auto").workers == AUTO
    assert 1 <= auto_workers(100) <= usable_cores()
    assert auto_workers(1) == 1
    summary = _run(tmp_path, synthesizers=["toys:Bootstrap", "original"], metrics=["dm"])
    assert summary.workers == auto_workers(2)


@pytest.mark.parametrize(
    "bad",
    [
        {"rows": 0},
        {"workers": 0},
        {"workers": "two"},
        {"workers": 1.5},
        {"workers": True},
        {"preset": "huge"},
    ],
)
def test_bad_run_settings_are_user_errors(tmp_path, bad):
    from bench.errors import UserError

    with pytest.raises(UserError):
        build_config(out=str(tmp_path), **bad)


def test_unusable_table_is_counted_and_metrics_say_why(tmp_path):
    _run(tmp_path, synthesizers=["toys:Garbage"], metrics=["dm", "invalid_rows", "toys:RowCount"])
    assert _jobs(tmp_path).loc["garbage", "status"] == "ok"
    m = _metrics(tmp_path)
    assert m.loc[("garbage", "invalid_rows"), "value"] == 491
    assert m.loc[("garbage", "dm"), "value"] == pytest.approx(9 / 10)
    assert m.loc[("garbage", "rowcount"), "status"] == "nan"
    assert "no valid synthetic rows: missing column(s)" in m.loc[("garbage", "rowcount"), "reason"]


def test_retry_failed_recomputes_failed_metrics_only(tmp_path):
    _run(tmp_path, synthesizers=["toys:Bootstrap"], metrics=["dm", "toys:BrokenMetric"])
    assert not _run(
        tmp_path, synthesizers=["toys:Bootstrap"], metrics=["dm", "toys:BrokenMetric"]
    ).records
    again = _run(
        tmp_path,
        synthesizers=["toys:Bootstrap"],
        metrics=["dm", "toys:BrokenMetric"],
        retry_failed=True,
    )
    (rec,) = again.records
    assert rec.job.resume and [m[0] for m in rec.job.metrics] == ["brokenmetric"]


def test_metric_from_another_backbone_is_recomputed_not_reused(tmp_path):
    metrics = ["dm", "toys:BackboneName"]
    _run(tmp_path, synthesizers=["toys:Bootstrap"], metrics=metrics)
    assert not _run(tmp_path, synthesizers=["toys:Bootstrap"], metrics=metrics).records
    later = _run(tmp_path, synthesizers=["toys:Bootstrap"], metrics=metrics, llm="/m/llama")
    (rec,) = later.records
    assert rec.job.resume and [m[0] for m in rec.job.metrics] == ["backbonename"]
    assert _metrics(tmp_path).loc[("bootstrap", "backbonename"), "value"] == len("/m/llama")
    assert not _run(
        tmp_path, synthesizers=["toys:Bootstrap"], metrics=metrics, llm="/m/llama"
    ).records


def test_lle_setting_names_the_preset_and_backbone():
    from bench.metrics.lle import LLMEfficacy

    lle = LLMEfficacy()
    assert json.loads(lle.setting("quick", None)) == {"preset": "quick", "llm": "tiny"}
    paper = json.loads(lle.setting("paper", None))
    assert paper["llm"] == "meta-llama/Llama-2-7b-chat-hf"
    assert json.loads(lle.setting("quick", "/m/x"))["llm"] == "/m/x"


def test_dlt_runs_for_perplexity_synthesizers_only(tmp_path):
    _run(tmp_path, synthesizers=["toys:Memoriser", "toys:Bootstrap", "original"], metrics=["dlt"])
    m = _metrics(tmp_path)
    assert m.loc[("memoriser", "dlt"), "value"] == 0.0  # its samples are train rows: no gap
    assert m.loc[("bootstrap", "dlt"), "status"] == "n/a"
    assert "not an LLM-based synthesizer" in m.loc[("bootstrap", "dlt"), "reason"]
    assert m.loc[("original", "dlt"), "status"] == "n/a"
    report = json.loads(_jobs(tmp_path).loc["memoriser", "report"])
    assert report == {"sampling": {"valid": 491}}


def test_llm_and_device_reach_only_synthesizers_that_take_them():
    from bench.runner import resolve_synthesizers

    cfg = build_config(
        synthesizers=["harmonic", "smote"],
        llm="/models/llama",
        device="cpu",
        preset="paper",
        params={"harmonic": {"epochs": 1}},
    )
    got = {s.name: s.params for s in resolve_synthesizers(cfg)}
    assert got["harmonic"]["llm"] == "/models/llama" and got["harmonic"]["device"] == "cpu"
    assert got["harmonic"]["epochs"] == 1 and got["harmonic"]["lora_r"] == 16
    assert got["smote"] == {}


def test_status_table_gives_a_failed_jobs_reason_and_a_dead_runs_job_as_interrupted(tmp_path):
    from bench.status import status_table

    from fabricate import Run, fabricate

    fabricate(
        tmp_path,
        [
            Run("german", "smote", 1, {"dm": 0.0}),
            Run("german", "tvae", 1, status="error", error="ValueError: toy failure in fit"),
            Run("german", "tabsyn", 1, status="running"),
        ],
    )
    store = Store(tmp_path)
    try:
        table = status_table(store).split("\njobs: ")[0]  # the rows, not the failures below
        lines = {line.split()[1]: line for line in table.splitlines()[3:]}
    finally:
        store.close()
    assert lines["tvae"].split()[3:6] == ["error:", "ValueError:", "toy"]
    # no run holds the folder: the job its run left 'running' is shown interrupted
    assert lines["tabsyn"].split()[3] == "interrupted" and "None" not in lines["tabsyn"]
    assert lines["smote"].split()[3] == "ok" and "dm=0" in lines["smote"]


def test_the_recorded_version_names_the_code_it_ran(tmp_path):
    from bench.runner import package_versions, source_fingerprint

    root = tmp_path / "bench"
    (root / "metrics").mkdir(parents=True)
    (root / "metrics" / "dm.py").write_text("VALUE = 1\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.py").write_text("ignored\n")
    before = source_fingerprint((root,))
    (root / "__pycache__" / "x.py").write_text("still ignored\n")
    assert source_fingerprint.__wrapped__((root,)) == before
    (root / "metrics" / "dm.py").write_text("VALUE = 2\n")
    assert source_fingerprint.__wrapped__((root,)) != before
    assert package_versions()["harmonic-bench"] == __version__  # what job keys use


def test_a_code_change_is_recorded_but_does_not_redo_finished_jobs(tmp_path, monkeypatch):
    from bench import runner

    first = _run(tmp_path, synthesizers=["toys:Bootstrap"], metrics=["dm"])
    assert len(first.records) == 1
    monkeypatch.setattr(runner, "source_fingerprint", lambda: "0123456789ab")
    assert not _run(tmp_path, synthesizers=["toys:Bootstrap"], metrics=["dm"]).records
    _run(tmp_path, synthesizers=["toys:Bootstrap"], metrics=["dm"], force=True)
    store = Store(tmp_path)
    try:
        runs = store.table("runs").sort_values("run_id")
        job = store.table("jobs").iloc[0]
    finally:
        store.close()
    recorded = [json.loads(v)["harmonic-bench"] for v in runs.versions]
    assert recorded[0].startswith(f"{__version__}+src.") and recorded[0] != recorded[-1]
    assert recorded[-1] == json.loads(job.versions)["harmonic-bench"]
    assert recorded[-1] == f"{__version__}+src.0123456789ab"


def test_a_process_trees_memory_counts_its_children_and_a_gone_process_none():
    import subprocess
    import sys
    import time

    from bench.executor import trees_rss_mb

    grandchild = "x = bytearray(300 * 2**20); import time; time.sleep(60)"
    child = (
        "import subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}]); time.sleep(60)"
    )
    root = subprocess.Popen([sys.executable, "-c", child])
    try:
        deadline = time.monotonic() + 30
        while trees_rss_mb([root.pid])[root.pid] < 300 and time.monotonic() < deadline:
            time.sleep(0.2)
        rss = trees_rss_mb([root.pid, 2**22 + 7])  # the second: no such process
        assert rss[root.pid] > 300  # the grandchild's 300 MiB, two levels down
        assert rss[2**22 + 7] == 0.0
    finally:
        import psutil

        for proc in psutil.Process(root.pid).children(recursive=True):
            proc.kill()
        root.kill()
        root.wait()
