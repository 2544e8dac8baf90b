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
