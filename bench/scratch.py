"""Temporary folders of jobs, removed however the job ends.

Synthesizers and libraries write temporary files (checkpoints, model copies, data hand-offs
to an isolated worker) and clean them up when they finish. A job killed for time or memory
never finishes, so the runner gives each job process a folder of its own as ``TMPDIR`` and
removes it once the process is gone. The job folders live under one folder per runner,
named after its process id, so that the folders of a runner that was itself killed are
swept by the next run on the machine.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import psutil

PREFIX = "bench-run-"
_RUNNER = re.compile(rf"{PREFIX}(\d+)-")


def sweep(where: str | None = None) -> list[Path]:
    """Remove the scratch folders of runners that are no longer alive; returns them."""
    gone = []
    for path in Path(where or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        m = _RUNNER.match(path.name)
        if m and path.is_dir() and not psutil.pid_exists(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
    return gone


class Scratch:
    """One runner's scratch: ``job()`` makes a job's folder, ``remove()`` deletes it."""

    def __init__(self, where: str | None = None) -> None:
        sweep(where)
        self.root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=where))

    def job(self, key: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{key[:12]}-", dir=self.root))

    @staticmethod
    def remove(path: Path | None) -> None:
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def use(path: str | Path) -> None:
    """In a job process: send every temporary file of it and its children to ``path``."""
    os.environ["TMPDIR"] = str(path)
    tempfile.tempdir = str(path)  # gettempdir() may have been cached before the fork
