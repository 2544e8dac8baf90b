"""Isolated environments: keys, locking, interrupted and failed builds, `bench envs`, and a
synthesizer whose requirement (numpy < 2) conflicts with the harness's own environment
running fit and generate inside its own one, through the real grid.

The fast tests replace the pip build with a stand-in (the locking is real, across real
processes). The slow ones build one real environment, shared by the module.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from bench import envs
from bench.envs import Env, EnvError, ensure, env_key, install_list, list_envs, remove

from envtoys import TOY_REQUIREMENTS

# ---- keys ---------------------------------------------------------------------------------


def test_key_ignores_order_and_spacing_and_follows_the_requirements():
    a = env_key(["synthcity==0.2.12", "torch==2.2.2"])
    assert a == env_key(["torch == 2.2.2".replace(" == ", "=="), "synthcity==0.2.12"])
    assert a == env_key(["  torch==2.2.2 ", "synthcity==0.2.12", "torch==2.2.2"])
    assert a != env_key(["synthcity==0.2.12", "torch==2.2.1"])
    assert len(a) == envs.KEY_LENGTH and all(c in "0123456789abcdef" for c in a)


def test_install_list_adds_what_the_worker_needs():
    assert install_list(["numpy<2", "b", "a"]) == ["a", "b", "numpy<2", *envs.BASE_REQUIREMENTS]
    assert set(envs.BASE_REQUIREMENTS) <= set(install_list([]))


def test_root_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_ENVS_DIR", str(tmp_path / "here"))
    assert envs.envs_root() == tmp_path / "here"
    monkeypatch.delenv("BENCH_ENVS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert envs.envs_root() == tmp_path / "cache" / "harmonic-bench" / "envs"


def test_last_error_line_prefers_pip_errors(tmp_path):
    log = tmp_path / "x.log"
    log.write_text(
        "# header\n$ pip install x\nCollecting x\n"
        "ERROR: Could not find a version that satisfies the requirement x==9\n"
        "ERROR: No matching distribution found for x==9\n\n"
    )
    assert envs.last_error_line(log) == "No matching distribution found for x==9"
    log.write_text("$ python -m venv y\nError: [Errno 13] Permission denied: 'y'\n")
    assert envs.last_error_line(log) == "Error: [Errno 13] Permission denied: 'y'"


# ---- locking and interrupted builds (pip replaced by a stand-in) -------------------------------


def _fake_build(seconds: float, calls: Path):
    def build(env: Env, requirements, who, say, python) -> None:
        with open(calls, "a") as f:
            f.write(f"{os.getpid()}\n")
        env.path.mkdir(parents=True)
        (env.path / "half-installed").write_text("x")
        time.sleep(seconds)
        env.marker.write_text(json.dumps({"requirements": list(requirements)}))

    return build


def _ensure_in_child(root: str, out: str) -> None:
    with ensure(["toy==1"], root=Path(root)) as lease:
        Path(out).write_text(str(lease.env.complete))


def _run_children(ctx, target, args: list[tuple], timeout: float) -> None:
    """One process per ``args`` entry, all at once; each must exit cleanly within ``timeout``."""
    procs = [ctx.Process(target=target, args=a) for a in args]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
        assert p.exitcode == 0


def test_parallel_jobs_build_an_environment_once(tmp_path, monkeypatch):
    calls = tmp_path / "calls.txt"
    monkeypatch.setattr(envs, "_build", _fake_build(1.0, calls))
    ctx = mp.get_context("fork")  # the children inherit the stand-in
    _run_children(
        ctx,
        _ensure_in_child,
        [(str(tmp_path / "envs"), str(tmp_path / f"{i}")) for i in range(4)],
        30,
    )
    assert len(calls.read_text().split()) == 1  # one builder, three waited for it
    assert [(tmp_path / f"{i}").read_text() for i in range(4)] == ["True"] * 4


def _meet_at_first_look(barrier) -> property:
    """``Env.complete`` whose first call in each process waits for the other processes:
    every job then looks while the environment is still unbuilt (the race, every time)."""
    looked: list[bool] = []

    def complete(self: Env) -> bool:
        if not looked:
            looked.append(True)
            barrier.wait(20)
        return self.marker.is_file()

    return property(complete)


def _use_env_in_child(root: str, out: str, t0: float, hold: float) -> None:
    with ensure(["toy==1"], root=Path(root)):
        Path(out).write_text(f"{time.time() - t0:.2f}")
        time.sleep(hold)  # the job runs on the finished environment, holding its lease


def test_jobs_waiting_for_a_build_do_not_wait_for_the_builders_job(tmp_path, monkeypatch):
    """Three jobs find the environment unbuilt at once; one builds (1 s) and then uses it for
    5 s. The other two must start on the environment as soon as it is built, not when the
    builder's job (holding its shared lock) ends, nor one after another's job."""
    calls = tmp_path / "calls.txt"
    ctx = mp.get_context("fork")  # the children inherit the stand-ins
    monkeypatch.setattr(envs, "_build", _fake_build(1.0, calls))
    monkeypatch.setattr(Env, "complete", _meet_at_first_look(ctx.Barrier(3)))
    t0, hold = time.time(), 5.0
    args = [(str(tmp_path / "envs"), str(tmp_path / f"{i}"), t0, hold) for i in range(3)]
    _run_children(ctx, _use_env_in_child, args, 60)
    ready = [float((tmp_path / f"{i}").read_text()) for i in range(3)]
    assert len(calls.read_text().split()) == 1
    assert max(ready) < 1.0 + hold / 2, ready  # was 1 s, 6 s and 11 s


def test_a_killed_build_never_looks_complete_and_is_redone(tmp_path, monkeypatch):
    root = tmp_path / "envs"
    calls = tmp_path / "calls.txt"
    monkeypatch.setattr(envs, "_build", _fake_build(60.0, calls))
    proc = mp.get_context("fork").Process(
        target=_ensure_in_child, args=(str(root), str(tmp_path / "out"))
    )
    proc.start()
    env = Env.for_requirements(["toy==1"], root)
    deadline = time.monotonic() + 20
    while not (env.path / "half-installed").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.state() == "building"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert not env.complete and env.state() == "incomplete"
    assert [e.key for e in list_envs(root)] == [env.key]

    monkeypatch.setattr(envs, "_build", _fake_build(0.0, calls))
    monkeypatch.setattr(envs.shutil, "rmtree", _counting(envs.shutil.rmtree, removed := []))
    with ensure(["toy==1"], root=root) as lease:
        assert lease.env.complete
    assert removed == [env.path]  # the leftover was deleted before building again


def _counting(fn, seen: list):
    def wrapper(path, *a, **kw):
        seen.append(Path(path))
        return fn(path, *a, **kw)

    return wrapper


def test_remove_refuses_while_an_environment_is_in_use(tmp_path, monkeypatch):
    root = tmp_path / "envs"
    monkeypatch.setattr(envs, "_build", _fake_build(0.0, tmp_path / "calls"))
    lease = ensure(["toy==1"], root=root)
    with pytest.raises(EnvError, match="in use or being built"):
        remove(lease.env)
    lease.release()
    remove(lease.env)
    assert not lease.env.path.exists() and list_envs(root) == []
    with pytest.raises(EnvError, match="no environment"):
        remove(lease.env)


def test_a_failed_build_names_the_error_and_keeps_the_log(tmp_path):
    bad_python = tmp_path / "python"
    bad_python.write_text("#!/bin/sh\necho 'ERROR: no interpreter for you' >&2\nexit 3\n")
    bad_python.chmod(0o755)
    with pytest.raises(EnvError) as err:
        ensure(["toy==1"], who="toy", root=tmp_path / "envs", python=str(bad_python))
    env = Env.for_requirements(["toy==1"], tmp_path / "envs")
    message = str(err.value)
    assert "\n" not in message
    assert message == (
        "creating the isolated environment for toy failed: no interpreter for you; "
        f"see {env.log_path}"
    )
    assert env.log_path.exists() and not env.complete


def test_source_dir_exposes_only_the_harness_and_the_adapter(tmp_path):
    src = envs.source_dir(["envtoys", "adapters.smote"], tmp_path / "src")
    assert sorted(p.name for p in src.iterdir()) == ["adapters", "bench", "envtoys.py"]
    assert (src / "bench" / "isolated.py").exists()


# ---- bench envs, on environments laid out by hand (no build) --------------------------------


def _fake_ready_env(root: Path, requirements) -> Env:
    env = Env.for_requirements(requirements, root)
    (env.path / "bin").mkdir(parents=True)
    (env.path / "bin" / "python").write_text("x" * 2048)
    env.marker.write_text(
        json.dumps({"requirements": install_list(requirements), "created": "2026-01-02T03:04:05"})
    )
    return env


def test_envs_list_and_remove(tmp_path, bench_cli):
    root = tmp_path / "envs"
    toy = _fake_ready_env(root, TOY_REQUIREMENTS)
    other = _fake_ready_env(root, ["six==1.16.0"])
    (root / "0123456789abcdef.log").write_text("ERROR: it broke\n")  # a failed build's log
    cli_env = {"BENCH_ENVS_DIR": str(root)}

    res = bench_cli("envs", "list", "--json", env=cli_env)
    assert res.returncode == 0, res.stderr
    rows = {r["hash"]: r for r in json.loads(res.stdout)}
    assert set(rows) == {toy.key, other.key, "0123456789abcdef"}
    assert rows[toy.key]["state"] == "ready" and rows[toy.key]["size"] >= 2048
    assert rows[toy.key]["requirements"][0] == "numpy<2"
    assert rows[toy.key]["created"] == "2026-01-02T03:04:05"
    assert rows["0123456789abcdef"]["state"] == "incomplete"
    res = bench_cli("envs", "list", env=cli_env)
    assert toy.key in res.stdout and "ready" in res.stdout and str(root) in res.stdout

    # a synthesizer name, a hash prefix, then the rest
    res = bench_cli("envs", "remove", "envtoys:NumpyOne", env=cli_env)
    assert res.returncode == 0, res.stderr
    assert not toy.path.exists() and other.path.exists()
    res = bench_cli("envs", "remove", other.key[:6], env=cli_env)
    assert res.returncode == 0 and not other.path.exists()
    res = bench_cli("envs", "remove", "--all", env=cli_env)
    assert res.returncode == 0 and list_envs(root) == []
    res = bench_cli("envs", "list", env=cli_env)
    assert "no isolated environments" in res.stdout


def test_envs_remove_refuses_an_environment_in_use(tmp_path, bench_cli):
    root = tmp_path / "envs"
    env = _fake_ready_env(root, TOY_REQUIREMENTS)
    with ensure(TOY_REQUIREMENTS, root=root):  # ready: no build, just the shared lock
        res = bench_cli("envs", "remove", env.key, env={"BENCH_ENVS_DIR": str(root)})
    assert res.returncode == 1 and "in use" in res.stderr
    assert env.complete


def test_envs_errors_are_one_line(tmp_path, bench_cli):
    cli_env = {"BENCH_ENVS_DIR": str(tmp_path)}
    res = bench_cli("envs", "create", "original", env=cli_env)
    assert res.returncode == 2 and "declares no requirements" in res.stderr
    res = bench_cli("envs", "remove", env=cli_env)
    assert res.returncode == 2 and "--all" in res.stderr
    res = bench_cli("envs", "remove", "nosuch", env=cli_env)
    assert res.returncode == 2 and "neither an environment hash nor a synthesizer" in res.stderr
    res = bench_cli("envs", "create", "nosuchsynth", env=cli_env)
    assert res.returncode == 2 and "unknown synthesizer" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


# ---- the real thing: one environment with numpy < 2 ------------------------------------------


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    """A real environment for TOY_REQUIREMENTS, built once for the module by the CLI."""
    from conftest import run_bench

    root = tmp_path_factory.mktemp("envs")
    res = run_bench("envs", "create", "envtoys:NumpyOne", env={"BENCH_ENVS_DIR": str(root)})
    assert res.returncode == 0, res.stderr
    assert "numpyone: " in res.stdout and "ready at" in res.stdout
    return root


def _store(out: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(out / "results.sqlite") as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_isolated_jobs_run_in_their_env_and_failures_stay_local(toy_root, tmp_path, bench_cli):
    assert np.__version__.startswith("2.")  # the conflict is real
    out = tmp_path / "out"
    res = bench_cli(
        "run",
        "--datasets",
        "diabetes",
        "--synthesizers",
        "envtoys:NumpyOne",
        "envtoys:BrokenEnv",
        "envtoys:FailingIsolated",
        "envtoys:CrashingIsolated",
        "toys:Bootstrap",
        "--metrics",
        "dm",
        "toys:RowCount",
        "--out",
        str(out),
        env={"BENCH_ENVS_DIR": str(toy_root)},
    )
    assert res.returncode == 1, res.stderr  # some jobs failed, and the run finished
    jobs = {
        row[0]: row[1:]
        for row in _store(out, "SELECT synthesizer, status, error, report, key FROM jobs")
    }
    status, error, report, key = jobs["numpyone"]
    assert status == "ok", error
    report = json.loads(report)
    assert report["numpy"].startswith("1.")
    assert report["python"].startswith(str(toy_root))
    assert report["isolated_env"]["key"] == env_key(TOY_REQUIREMENTS)
    assert report["isolated_env"]["versions"]["numpy"].startswith("1.")
    phases = dict(_store(out, f"SELECT phase, peak_rss_mb FROM phases WHERE key = '{key}'"))
    assert {"load", "env", "fit", "generate", "save", "metric:dm"} <= set(phases)
    assert phases["fit"] > 10 and phases["generate"] > 10
    ((rows,),) = _store(out, f"SELECT value FROM metrics WHERE key='{key}' AND metric='rowcount'")
    assert rows == 1.0

    status, error, _, _ = jobs["brokenenv"]
    assert status == "error"
    assert "creating the isolated environment for brokenenv failed: " in error
    assert "bench-toy-package-that-does-not-exist" in error and "; see " in error
    assert error.rstrip().endswith(".log") and "\n" not in error
    assert Path(error.rsplit("; see ", 1)[1]).exists()

    status, error, _, _ = jobs["failingisolated"]
    assert status == "error" and error.startswith("ValueError: toy failure in fit under numpy 1.")
    ((tb,),) = _store(out, "SELECT traceback FROM jobs WHERE synthesizer = 'failingisolated'")
    assert "raised in the isolated environment of failingisolated" in tb
    assert "envtoys.py" in tb  # the remote traceback, down to the toy's own line
    status, error, _, _ = jobs["crashingisolated"]
    assert status == "error" and "exited with code 7 during generate" in error
    assert jobs["bootstrap"][0] == "ok"

    listing = json.loads(
        bench_cli("envs", "list", "--json", env={"BENCH_ENVS_DIR": str(toy_root)}).stdout
    )
    states = {r["hash"]: r["state"] for r in listing}
    assert states[env_key(TOY_REQUIREMENTS)] == "ready"
    assert states[env_key(("bench-toy-package-that-does-not-exist==0.0.1",))] == "incomplete"


@pytest.mark.slow
def test_a_timeout_kills_the_isolated_worker_too(toy_root, tmp_path, bench_cli):
    pid_file = tmp_path / "pid"
    out = tmp_path / "out"
    res = bench_cli(
        "run",
        "--datasets",
        "diabetes",
        "--synthesizers",
        "envtoys:NumpyOne",
        "--param",
        "numpyone.delay=120",
        "--param",
        f"numpyone.pid_file={pid_file}",
        "--limit",
        "fit=4",
        "--metrics",
        "dm",
        "--out",
        str(out),
        env={"BENCH_ENVS_DIR": str(toy_root)},
    )
    assert res.returncode == 1
    ((status, error),) = _store(out, "SELECT status, error FROM jobs")
    assert status == "timeout" and "fit exceeded its 4 s limit" in error
    _assert_gone_soon(int(pid_file.read_text()), "its job")


def _assert_gone_soon(pid: int, what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)
    pytest.fail(f"the isolated worker {pid} outlived {what}")


@pytest.mark.slow
def test_a_killed_runner_takes_the_isolated_worker_with_it(toy_root, tmp_path):
    from conftest import TESTS

    pid_file = tmp_path / "pid"
    args = [sys.executable, "-m", "bench", "run", "--datasets", "diabetes"]
    args += ["--synthesizers", "envtoys:NumpyOne", "--param", "numpyone.delay=120"]
    args += ["--param", f"numpyone.pid_file={pid_file}", "--metrics", "dm"]
    args += ["--out", str(tmp_path / "out")]
    env = {**os.environ, "PYTHONPATH": str(TESTS), "BENCH_ENVS_DIR": str(toy_root)}
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline:  # written when fit starts
        time.sleep(0.1)
    assert pid_file.exists(), "the isolated fit never started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _assert_gone_soon(int(pid_file.read_text()), "its runner")


@pytest.mark.slow
def test_run_python_runs_code_in_the_environment(toy_root):
    res = envs.run_python(
        TOY_REQUIREMENTS,
        "import sys, numpy, bench.schema; print(numpy.__version__, sys.argv[1])",
        "hello",
        root=toy_root,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    version, word = res.stdout.split()
    assert version.startswith("1.") and word == "hello"
    assert sys.executable not in res.stdout


@pytest.mark.slow
def test_build_runs_a_class_with_requirements_in_its_env_and_others_here(toy_root, monkeypatch):
    from adapters.smote import SMOTE
    from bench.datasets import load_bundled
    from bench.isolated import build, close

    from envtoys import NumpyOne

    monkeypatch.setenv("BENCH_ENVS_DIR", str(toy_root))
    data = load_bundled("german")
    here = build("smote", SMOTE, {})
    assert isinstance(here, SMOTE)
    close(here)  # nothing to end for an in-process synthesizer

    def lease_free() -> bool:
        with envs._flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB) as got:
            return bool(got)

    lock = Env.for_requirements(TOY_REQUIREMENTS, toy_root).lock_path
    synth = build("numpyone", NumpyOne, {})
    try:
        assert synth.isolated and not lease_free()
        synth.fit(data.train, data.schema, seed=1)
        assert len(synth.generate(5, seed=1)) == 5
        report = synth.report()
        assert report["numpy"].startswith("1.") and report["pid"] != os.getpid()
    finally:
        close(synth)
    assert lease_free()
