"""One results folder, one writer; failures readable from the CLI; dead runs shown as such.

- a second ``bench run`` (or ``bench merge --out``) into a folder a live run holds is refused
  at once, and the first run's results are untouched; readers keep working;
- a run killed with SIGKILL leaves no stale lock, and ``bench status`` shows what it left
  ``running`` as interrupted;
- a failed job's full reason is in ``bench status`` and, with the traceback, in its log;
- leaderboards and the paper comparison of a folder where every job failed say why.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.lock import hold, in_use

from conftest import TESTS, run_bench
from fabricate import Run, fabricate
from toys import Bootstrap

LONG_REASON = "a reason long enough to be cut in the table " * 3 + "and its end: FIX-IT-HERE"


class Verbose(Bootstrap):
    """Fails in fit with a reason longer than the status table shows, on two lines."""

    name = "verbose"

    def fit(self, train, schema, seed):
        raise ValueError(LONG_REASON.replace("its end", "its\nend"))


def _run_args(out: Path, delay: float = 0.0) -> list[str]:
    return [
        "run",
        "--datasets",
        "diabetes",
        "--synthesizers",
        "toys:Bootstrap",
        "--param",
        f"bootstrap.delay={delay}",
        "--seeds",
        "1",
        "--metrics",
        "dm",
        "--out",
        str(out),
    ]


def _start(out: Path, delay: float) -> subprocess.Popen:
    """A real ``bench run`` in the background, once it holds ``out`` and its job is fitting."""
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    cmd = [sys.executable, "-m", "bench", *_run_args(out, delay=delay)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _job_statuses(out) != ["running"]:
        assert time.time() < deadline and proc.poll() is None, "the first run never started"
        time.sleep(0.1)
    return proc


def _job_statuses(out: Path) -> list[str]:
    try:
        db = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return [r[0] for r in db.execute("SELECT status FROM jobs")]
        finally:
            db.close()
    except sqlite3.Error:
        return []


def _rows(out: Path, query: str) -> list[tuple]:
    db = sqlite3.connect(out / "results.sqlite")
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def _one_line_error(capsys, argv: list[str]) -> str:
    t0 = time.monotonic()
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert time.monotonic() - t0 < 10  # refused at once, not after the first run's job
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# ---- one writer per folder ------------------------------------------------------------------


def test_a_second_run_into_a_folder_in_use_is_refused_and_touches_nothing(tmp_path, capsys):
    out = tmp_path / "res"
    first = _start(out, delay=6)
    try:
        error = _one_line_error(capsys, [*_run_args(out, delay=0), "--limit", "fit=9"])
        assert str(out) in error and "in use" in error
        assert "wait" in error and "another --out" in error
        assert in_use(out)
        # readers keep working meanwhile
        assert main(["status", "--out", str(out)]) == 0
        assert "running" in capsys.readouterr().out
    finally:
        assert first.wait(timeout=120) == 0
    assert not in_use(out)
    assert _rows(out, "SELECT run_id, status FROM runs") == [(1, "finished")]
    assert _rows(out, "SELECT run_id, status, error FROM jobs") == [(1, "ok", None)]


def test_merge_into_a_folder_in_use_is_refused_and_readers_still_work(tmp_path, capsys):
    source, dest = tmp_path / "source", tmp_path / "dest"
    original, smote = Run("diabetes", "original", 1, {"dm": 0.0}), Run("diabetes", "smote", 1)
    fabricate(source, [original, smote])  # keys job-0, job-1: job-1 is new to dest
    fabricate(dest, [original])
    with hold(dest, ["bench", "run", "--out", str(dest)]):
        error = _one_line_error(capsys, ["merge", str(source), "--out", str(dest)])
        assert str(dest) in error and "bench run --out" in error and "another --out" in error
        assert _rows(dest, "SELECT synthesizer FROM jobs") == [("original",)]
        assert main(["status", "--out", str(dest)]) == 0
        assert main(["leaderboard", "--out", str(dest), "--table", "fidelity"]) == 0
    capsys.readouterr()
    assert main(["merge", str(source), "--out", str(dest)]) == 0
    assert sorted(_rows(dest, "SELECT synthesizer FROM jobs")) == [("original",), ("smote",)]


def test_a_killed_run_leaves_no_lock_and_status_calls_it_interrupted(tmp_path, capsys):
    out = tmp_path / "res"
    first = _start(out, delay=120)
    assert main(["status", "--out", str(out)]) == 0
    live = capsys.readouterr().out
    assert "; running)" in live and "interrupted" not in live
    first.send_signal(signal.SIGKILL)
    first.wait()

    assert main(["status", "--out", str(out)]) == 0
    dead = capsys.readouterr().out
    assert "interrupted: its process is gone)" in dead
    assert "jobs: 1 interrupted" in dead
    assert _job_statuses(out) == ["running"]  # the store itself is not rewritten
    assert main(_run_args(out, delay=0)) == 0  # no stale lock: the next run is not refused
    assert sorted(_job_statuses(out)) == ["ok", "running"]  # another job (delay is in its key)


# ---- failures readable from the CLI --------------------------------------------------------


@pytest.fixture(scope="module")
def all_failed(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A folder where every job failed: one with a traceback, one killed at its time limit."""
    out = tmp_path_factory.mktemp("failed") / "res"
    args = ["run", "--datasets", "diabetes", "--seeds", "1", "--metrics", "dm", "--out", str(out)]
    args += ["--synthesizers", "test_folder_safety:Verbose", "toys:Sleepy", "--limit", "fit=2"]
    return out, run_bench(*args, timeout=300)


def test_a_failed_jobs_full_reason_is_in_status_and_its_log(all_failed, capsys):
    out, res = all_failed
    assert res.returncode == 1, res.stderr
    assert "could not be written" not in res.stderr
    assert f"bench status --out {out}" in res.stderr  # the hint names what holds the reasons
    assert "FIX-IT-HERE" in res.stdout

    assert main(["status", "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    table, _, failures = shown.partition("\nfailures")
    assert "FIX-IT-HERE" not in table and "…" in table  # the table stays compact
    one_line = " ".join(LONG_REASON.replace("its end", "its\nend").split())
    assert f"verbose × seed 1: error: ValueError: {one_line}" in failures
    assert "sleepy × seed 1: timeout: fit exceeded its 2 s limit" in failures

    logs = {p.parent.name: p.read_text() for p in (out / "logs").rglob("*.log")}
    assert "Traceback (most recent call last)" in logs["verbose"]
    assert "job error in phase fit: ValueError: a reason long" in logs["verbose"]
    assert "job timeout in phase fit: fit exceeded its 2 s limit" in logs["sleepy"]
    for name, text in logs.items():
        assert f"log: {out / 'logs' / 'diabetes' / name}" in failures, text


def test_leaderboards_of_a_folder_where_every_job_failed_say_why(all_failed, capsys):
    out, _ = all_failed
    assert main(["leaderboard", "--out", str(out), "--table", "fidelity"]) == 0
    md = capsys.readouterr().out
    row = next(line for line in md.splitlines() if line.startswith("| diabetes | DM"))
    assert row.count("†") == 2
    assert "error: ValueError: a reason long" in md and "timeout: fit exceeded its 2 s" in md
    assert "Not in these results: DM" not in md

    assert main(["compare-paper", "--out", str(out)]) == 0
    compared = capsys.readouterr().out
    assert "timeout: fit exceeded its 2 s limit" in compared
    assert "error: ValueError: a reason long" in compared
