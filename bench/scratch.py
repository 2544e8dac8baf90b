"""Temporary folders of jobs, removed however the job ends.

Synthesizers and libraries write temporary files (checkpoints, model copies, data hand-offs
to an isolated worker) and clean them up when they finish. A job killed for time or memory
never finishes, so the runner gives each job process a folder of its own as ``TMPDIR`` and
removes it once the process is gone. The job folders live under one folder per runner,
which holds an ``flock`` on its ``owner`` file while it lives: the kernel drops the lock
when the runner dies, however it dies, so the next run on the machine can tell a killed
runner's folder from a live one (in another container too) and sweeps it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from bench.lock import is_held

PREFIX = "bench-run-"
OWNER = "owner"


def sweep(where: str | None = None) -> list[Path]:
    """Remove the scratch folders of runners that are no longer alive; returns them."""
    gone = []
    for path in Path(where or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        owner = path / OWNER  # a folder without one is not ours
        if owner.exists() and not is_held(owner):
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
    return gone


class Scratch:
    """One runner's scratch: ``job()`` makes a job's folder, ``remove()`` deletes it."""

    def __init__(self, where: str | None = None) -> None:
        sweep(where)
        # locked before it gets the name sweep looks for, so no sweep sees it unlocked
        new = Path(tempfile.mkdtemp(prefix="bench-new-", dir=where))
        self._fd = os.open(new / OWNER, os.O_WRONLY | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.root = new.with_name(PREFIX + new.name.removeprefix("bench-new-"))
        new.rename(self.root)

    def job(self, key: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{key[:12]}-", dir=self.root))

    @staticmethod
    def remove(path: Path | None) -> None:
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self._fd)


def use(path: str | Path) -> None:
    """In a job process: send every temporary file of it and its children to ``path``."""
    os.environ["TMPDIR"] = str(path)
    tempfile.tempdir = str(path)  # gettempdir() may have been cached before the fork
