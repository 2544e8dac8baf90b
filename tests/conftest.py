"""Shared fixtures. Slow end-to-end tests run in CI (CI set) or with --runslow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cores import limit

TESTS = Path(__file__).parent


def _pin_xdist_worker() -> None:
    """Give each pytest-xdist worker (``tox`` runs two) its own share of the cores.

    Done at import, before any test imports torch: torch, OpenMP and the runner's jobs size
    their thread pools from the affinity mask, so two workers on two cores would each start
    two threads and spin against each other. The models the tests fit are small and gain
    little from a second thread, so two workers with a core each finish the suite sooner.
    """
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not name.startswith("gw") or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < count:  # fewer cores than workers: leave the placement to the OS
        return
    mine = cores[int(name[2:]) % count :: count]
    os.sched_setaffinity(0, mine)
    limit(len(mine))  # as the runner caps a job: torch, OpenMP and BLAS threads


_pin_xdist_worker()


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


def offline_user_error(setup: str, call: str, timeout: float = 300) -> str:
    """The one-line ``UserError`` that ``call`` raises in a fresh interpreter with the hub
    offline (``HF_HUB_OFFLINE=1``), after ``setup``; fails unless exactly one is raised."""
    indented = "\n".join("    " + line for line in call.strip().splitlines())
    code = f"{setup.strip()}\nfrom bench.errors import UserError\ntry:\n{indented}\n"
    code += "except UserError as exc:\n    print('USERERROR', exc)\n"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("USERERROR")]
    assert len(lines) == 1, out.stdout + out.stderr
    return lines[0]


@pytest.fixture
def bench_cli():
    return run_bench
