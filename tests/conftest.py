"""Shared fixtures. Slow end-to-end tests run in CI (CI set) or with --runslow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow") or os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return
    skip = pytest.mark.skip(reason="slow: runs in CI, or locally with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def run_bench(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh interpreter, with the tests' toy plug-ins importable."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(TESTS), full_env.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def bench_cli():
    return run_bench


def fake_store(
    folder: Path,
    metrics: list[tuple],
    jobs: list[tuple] = (),
    preset: str = "quick",
    argv: tuple[str, ...] = ("bench", "run"),
) -> Path:
    """A results store written row by row, for rendering tests.

    ``metrics``: (dataset, synthesizer, seed, metric, value) with value a float, or
    ("n/a" | "error" | "timeout", reason). ``jobs``: (dataset, synthesizer, seed, status,
    error) for jobs that failed before any metric. Every job gets params ``{}``.
    """
    import json

    from bench.store import Store

    store = Store(folder)
    run_id = store.start_run(list(argv), preset, {}, {"python": "3"})
    db = store._db
    seen = set()

    def job(dataset, synth, seed, status="ok", error=None):
        key = f"{dataset}|{synth}|{seed}"
        if key in seen:
            return key
        seen.add(key)
        db.execute(
            "INSERT INTO jobs (key, run_id, dataset, synthesizer, params, seed, preset, status, "
            "error, versions) VALUES (?, ?, ?, ?, '{}', ?, ?, ?, ?, ?)",
            (key, run_id, dataset, synth, seed, preset, status, error, json.dumps({"numpy": "2"})),
        )
        return key

    for dataset, synth, seed, status, error in jobs:
        job(dataset, synth, seed, status, error)
    for dataset, synth, seed, metric, value in metrics:
        key = job(dataset, synth, seed)
        if isinstance(value, tuple):
            status, reason, val = value[0], value[1], None
        else:
            status, reason, val = "ok", None, float(value)
        db.execute(
            "INSERT INTO metrics VALUES (?, ?, ?, ?, '{}', ?, 0.0)",
            (key, metric, status, val, reason),
        )
    store.finish_run(run_id, "finished")
    store.close()
    return folder
