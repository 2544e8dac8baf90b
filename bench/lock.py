"""One writer per results folder: ``bench run`` and ``bench merge --out`` hold an OS lock.

Two runs into one folder would redo each other's jobs and overwrite finished results, so
the second one is refused at once. The lock is ``flock`` on ``OUT/run.lock``: the kernel
drops it when its process ends, however it ends (``kill -9`` included), so a stale lock
cannot exist and the file is never removed. Readers (``bench status``, leaderboards) take
no lock; :func:`in_use` only asks whether a writer is alive, so that ``status`` can tell a
``running`` job from one whose run was killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.errors import UserError

LOCK_NAME = "run.lock"
#: how long to retry before refusing: a reader's probe holds the lock for microseconds
RETRY_S = 1.0


def try_lock(fd: int, mode: int) -> bool:
    """``flock(mode)`` on ``fd`` if no other process is in the way; whether it was taken."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder(folder: Path) -> dict[str, Any]:
    """What the writer holding ``folder`` wrote into the lock file ({} when unknown)."""
    try:
        info = json.loads((folder / LOCK_NAME).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _refusal(folder: Path) -> UserError:
    info = holder(folder)
    who = "another bench run or merge"
    if info.get("pid"):
        started = time.strftime("%H:%M:%S", time.localtime(info.get("started") or 0))
        who = f"'{info.get('command') or 'bench'}' (pid {info['pid']}, since {started})"
    return UserError(
        f"results folder '{folder}' is in use by {who}: wait for it to finish "
        f"('bench status --out {folder}' shows its progress), or give this command another --out"
    )


@contextlib.contextmanager
def hold(folder: str | Path, argv: list[str]) -> Iterator[None]:
    """Hold ``folder`` for writing until the block ends; refuse (UserError) if a live
    process holds it. ``argv`` is recorded so the refusal can name the holder."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"cannot use '{folder}' as a results folder: {exc.strerror}") from exc
    try:
        deadline = time.monotonic() + RETRY_S
        while not try_lock(fd, fcntl.LOCK_EX):
            if time.monotonic() > deadline:
                raise _refusal(folder)
            time.sleep(0.05)
        info = {"pid": os.getpid(), "command": shlex.join(argv), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def in_use(folder: str | Path) -> bool:
    """Whether a live ``bench run`` or ``bench merge`` is writing ``folder`` now."""
    return is_held(Path(folder) / LOCK_NAME)  # False: never locked, or older than locks


def is_held(path: Path) -> bool:
    """Whether a live process holds an flock on the file ``path`` (False if there is none)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return not try_lock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)  # also releases the probe's lock if it took it
