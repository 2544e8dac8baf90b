"""A grid killed with SIGKILL loses no finished job, leaves a readable store, and resumes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import psutil

from conftest import TESTS


def _ok_jobs(db_path) -> int:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM jobs WHERE status = 'ok'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_grid_then_resume(tmp_path):
    out = tmp_path / "res"
    args = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--datasets",
        "diabetes",
        "--synthesizers",
        "toys:Bootstrap",
        "--param",
        "bootstrap.delay=0.7",
        "--seeds",
        *map(str, range(8)),
        "--metrics",
        "dm",
        "--out",
        str(out),
    ]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(TESTS), "TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while _ok_jobs(out / "results.sqlite") < 3 and time.time() < deadline:
        time.sleep(0.1)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)  # only the runner: its workers must not outlive it
    proc.wait()
    finished = _ok_jobs(out / "results.sqlite")
    assert 3 <= finished < 8

    db = sqlite3.connect(out / "results.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"orphaned workers: {alive}"
    assert len(list(tmp.glob("bench-run-*"))) == 1  # the killed runner's jobs' folders

    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{finished} already done, {8 - finished} to run" in again.stderr
    assert _ok_jobs(out / "results.sqlite") == 8
    assert not list(tmp.glob("bench-run-*")), "the killed runner's scratch was not swept"


def test_a_killed_runner_takes_a_long_running_job_with_it(tmp_path):
    """The job's process must not go on fitting for the rest of its delay (here 120 s)."""
    out = tmp_path / "res"
    args = [sys.executable, "-m", "bench", "run", "--datasets", "diabetes"]
    args += ["--synthesizers", "toys:Bootstrap", "--param", "bootstrap.delay=120"]
    args += ["--metrics", "dm", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    runner = psutil.Process(proc.pid)
    deadline = time.time() + 60
    jobs: list[psutil.Process] = []
    while not jobs and time.time() < deadline:  # the fork server's child is the job
        jobs = [p for p in runner.children(recursive=True) if p.ppid() != proc.pid]
        time.sleep(0.1)
    assert jobs, "the job never started"
    time.sleep(1.0)  # well inside its fit
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _gone, alive = psutil.wait_procs(jobs, timeout=10)
    assert not alive, f"the job outlived its runner: {alive}"
