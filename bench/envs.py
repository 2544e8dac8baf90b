"""Isolated virtual environments for synthesizers whose dependencies conflict with bench's.

A synthesizer lists pip requirement strings in ``requirements`` (e.g. synthcity's pins of
torch < 2.3 and numpy < 2). On first use :func:`ensure` builds a dedicated virtual
environment for them, cached under :func:`envs_root` and keyed by a hash of the sorted
requirements and the Python version, so every synthesizer with the same requirements
shares one environment and a changed pin gets a new one.

Why it is safe with parallel jobs and kills:

* Creation holds an exclusive ``fcntl`` lock on ``<key>.lock``; a process that uses a ready
  environment holds a shared lock on it, so ``bench envs remove`` cannot pull an
  environment from under a running job.
* Builders queue on a second lock, ``<key>.build.lock``, which no job holds while it uses the
  environment: a job that found it unbuilt waits there for the one builder, then takes its
  shared lock beside the builder's. Waiting for the exclusive lock instead would also wait
  for every job already using the finished environment (and for each new one).
* The environment is complete only once ``<key>/env.json`` exists, written atomically as
  the very last step. A build that was killed leaves a folder without it, which the next
  builder (holding the lock) deletes and builds again.
* pip's whole output goes to ``<key>.log`` beside the folder, kept after a failure, and the
  error names pip's last error line and that log.

Besides the requirements, the environment gets numpy, pandas < 3 and pyarrow < 26, which the
worker inside it needs to read and write the Parquet hand-off files; a smoke test imports them
before the environment is marked complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.lock import try_lock

#: What the worker inside every environment imports besides the synthesizer's requirements.
#: pyarrow 26 needs numpy 2 without declaring it, and an isolated synthesizer often pins
#: numpy 1 (synthcity does): pip would then install a pyarrow that cannot be imported.
BASE_REQUIREMENTS: tuple[str, ...] = ("numpy", "pandas>=2.2,<3", "pyarrow>=14,<26")
#: Run in the new environment before it is marked complete: the hand-off must work there.
SMOKE_TEST = "import numpy, pandas, pyarrow, pandas.io.parquet as p; p.get_engine('pyarrow')"
#: Bumped when the layout of an environment changes, so old ones are not reused.
LAYOUT = 1
#: How many characters of the sha256 name an environment.
KEY_LENGTH = 16

Log = Callable[[str], None]


class EnvError(RuntimeError):
    """An isolated environment could not be created or used (the message says why)."""


def envs_root() -> Path:
    """``$BENCH_ENVS_DIR``, else ``$XDG_CACHE_HOME/harmonic-bench/envs``, else ``~/.cache/...``."""
    if os.environ.get("BENCH_ENVS_DIR"):
        return Path(os.environ["BENCH_ENVS_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "harmonic-bench" / "envs"


def _normalise(requirement: str) -> str:
    return " ".join(str(requirement).split())


def install_list(requirements: Iterable[str]) -> list[str]:
    """The synthesizer's requirements, sorted and deduplicated, then the base ones."""
    own = sorted({_normalise(r) for r in requirements if _normalise(r)})
    return own + [r for r in BASE_REQUIREMENTS if r not in own]


def python_tag() -> str:
    return f"{platform.python_implementation().lower()}-{platform.python_version()}"


def env_key(requirements: Iterable[str]) -> str:
    """Hash of the sorted requirements, the Python version and the layout."""
    payload = json.dumps(
        {"requirements": install_list(requirements), "python": python_tag(), "layout": LAYOUT},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:KEY_LENGTH]


@dataclass(frozen=True)
class Env:
    """One cached environment (it may not exist yet)."""

    key: str
    root: Path

    @classmethod
    def for_requirements(cls, requirements: Iterable[str], root: Path | None = None) -> Env:
        return cls(env_key(requirements), root or envs_root())

    @property
    def path(self) -> Path:
        return self.root / self.key

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def marker(self) -> Path:
        return self.path / "env.json"

    @property
    def lock_path(self) -> Path:
        return self.root / f"{self.key}.lock"

    @property
    def build_lock_path(self) -> Path:
        return self.root / f"{self.key}.build.lock"

    @property
    def log_path(self) -> Path:
        return self.root / f"{self.key}.log"

    @property
    def complete(self) -> bool:
        return self.marker.is_file()

    def info(self) -> dict[str, Any]:
        """What ``env.json`` records: requirements, python, created, build seconds, versions."""
        try:
            return json.loads(self.marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def size_bytes(self) -> int:
        total = 0
        for dirpath, _dirs, files in os.walk(self.path):
            for f in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, f)).st_size
        return total

    def state(self) -> str:
        """``ready``, ``building`` (another process holds the lock) or ``incomplete``."""
        if self.complete:
            return "ready"
        if self.lock_path.exists():
            with _flock(self.lock_path, fcntl.LOCK_EX | fcntl.LOCK_NB) as got:
                if not got:
                    return "building"
        return "incomplete"


# ---- locking --------------------------------------------------------------------------------


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[bool]:
    """Hold ``flock(mode)`` on ``path`` for the block; yields False when LOCK_NB failed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class Lease:
    """A shared lock on a ready environment for as long as a job uses it.

    ``bench envs remove`` needs the exclusive lock, so it refuses while any lease is held.
    """

    def __init__(self, env: Env, fd: int) -> None:
        self.env = env
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


# ---- building -------------------------------------------------------------------------------


def ensure(
    requirements: Sequence[str],
    who: str = "",
    root: Path | None = None,
    log: Log | None = None,
    python: str | None = None,
) -> Lease:
    """The ready environment for ``requirements``, built first if needed; hold the lease.

    ``who`` names the synthesizer in messages. ``python`` is the interpreter that creates the
    venv (default: this one, whose version is part of the key). Raises :class:`EnvError`
    with a one-line reason when the build fails.
    """
    env = Env.for_requirements(requirements, root)
    say = log or (lambda _msg: None)
    env.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(env.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while not _share_if_complete(env, fd, say):
            _build_unless_built(env, fd, requirements, who, say, python)
    except BaseException:
        os.close(fd)
        raise
    return Lease(env, fd)


def _share_if_complete(env: Env, fd: int, say: Log) -> bool:
    """Take the shared lock on ``fd``; keep it only if the environment is complete."""
    _lock(fd, fcntl.LOCK_SH, lambda: say(_waiting(env)))  # waits out a build or a removal
    if env.complete:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _build_unless_built(
    env: Env, fd: int, requirements: Sequence[str], who: str, say: Log, python: str | None
) -> None:
    """Build ``env`` unless the builder before us in the queue did; no lock held after.

    The exclusive lock on ``fd`` is only waited for with the build lock held and the
    environment incomplete, when no job can be using it: only quick looks are waited out.
    """
    build_fd = os.open(env.build_lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _lock(build_fd, fcntl.LOCK_EX, lambda: say(_waiting(env)))
        if env.complete:
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if env.path.exists():
                say(f"removing an incomplete environment left by a killed build: {env.path}")
                shutil.rmtree(env.path)
            _build(env, requirements, who or env.key, say, python or sys.executable)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(build_fd)  # closing the descriptor releases the build lock


def _lock(fd: int, mode: int, waiting: Callable[[], None]) -> None:
    """``flock(mode)`` on ``fd``, calling ``waiting()`` first if another process is in the way."""
    if not try_lock(fd, mode):
        waiting()
        fcntl.flock(fd, mode)


def _waiting(env: Env) -> str:
    return f"waiting for another process building environment {env.key} ({env.path})"


def _build(env: Env, requirements: Sequence[str], who: str, say: Log, python: str) -> None:
    """Create the venv and pip-install into it; the marker is written last. Lock held."""
    packages = install_list(requirements)
    say(f"creating the isolated environment for {who} in {env.path} (log: {env.log_path})")
    t0 = time.monotonic()
    with open(env.log_path, "w", encoding="utf-8") as logf:
        logf.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} building {env.key} for {who}\n")
        logf.write(f"# requirements: {packages}\n")
        logf.flush()
        steps = [
            [python, "-m", "venv", str(env.path)],
            [str(env.python), "-m", "pip", "install", "--no-input", *packages],
            [str(env.python), "-c", SMOKE_TEST],
        ]
        for cmd in steps:
            logf.write(f"$ {' '.join(cmd)}\n")
            logf.flush()
            code = subprocess.call(
                cmd,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_clean_env(),
                preexec_fn=_die_with_parent,
            )
            if code != 0:
                logf.flush()
                raise EnvError(
                    f"creating the isolated environment for {who} failed: "
                    f"{last_error_line(env.log_path)}; see {env.log_path}"
                )
        freeze = subprocess.run(
            [str(env.python), "-m", "pip", "list", "--format=json"],
            capture_output=True,
            text=True,
            env=_clean_env(),
        )
    versions = {}
    with contextlib.suppress(ValueError):
        versions = {p["name"].lower(): p["version"] for p in json.loads(freeze.stdout)}
    meta = {
        "key": env.key,
        "requirements": install_list(requirements),
        "python": python_tag(),
        "base_python": python,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "build_s": round(time.monotonic() - t0, 1),
        "versions": versions,
    }
    tmp = env.marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, env.marker)
    say(f"environment {env.key} ready in {meta['build_s']:.0f} s")


def last_error_line(log_path: Path) -> str:
    """pip's last ``ERROR:`` line (else the last non-empty line) of a build log."""
    try:
        lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines()]
    except OSError:
        return "no log was written"
    lines = [ln for ln in lines if ln and not ln.startswith(("#", "$"))]
    errors = [ln for ln in lines if ln.startswith("ERROR:")]
    line = (errors or lines or ["no output"])[-1]
    return re.sub(r"^ERROR:\s*", "", line)


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what would leak the harness's Python in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra or {})
    return env


def _die_with_parent() -> None:
    """In a child: ask Linux to SIGKILL it when its parent dies (no orphaned pip or worker)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes
            import signal

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


# ---- using ----------------------------------------------------------------------------------


def source_dir(modules: Sequence[str], where: Path) -> Path:
    """A folder holding only links to ``bench`` and the top-level packages of ``modules``.

    It goes on the environment's PYTHONPATH: the harness's own code imports there, while
    the rest of the harness's site-packages (its torch, its numpy) stays out of sight.
    """
    import importlib.util

    where.mkdir(parents=True, exist_ok=True)
    for top in dict.fromkeys(["bench", *(m.split(".")[0] for m in modules)]):
        spec = importlib.util.find_spec(top)
        if spec is None or (spec.origin is None and not spec.submodule_search_locations):
            raise EnvError(f"cannot find module '{top}' to hand to the isolated environment")
        if spec.submodule_search_locations:
            src = Path(next(iter(spec.submodule_search_locations)))
            link = where / top
        else:
            src = Path(str(spec.origin))
            link = where / src.name
        if not link.exists():
            link.symlink_to(src.resolve())
    return where


def child_env(pythonpath: Path | None = None, extra: dict[str, str] | None = None) -> dict:
    """Environment variables for a process inside an isolated environment."""
    more = dict(extra or {})
    if pythonpath is not None:
        more["PYTHONPATH"] = str(pythonpath)
    return _clean_env(more)


def run_python(
    requirements: Sequence[str],
    code: str,
    *args: str,
    modules: Sequence[str] = (),
    root: Path | None = None,
    timeout: float | None = None,
    log: Log | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code args...`` inside the environment for ``requirements``.

    The environment is built first if needed; ``bench`` (and the packages of ``modules``)
    import there. Returns the completed process with text stdout/stderr.
    """
    import tempfile

    with ensure(requirements, root=root, log=log) as lease, tempfile.TemporaryDirectory() as tmp:
        src = source_dir(modules, Path(tmp) / "src")
        return subprocess.run(
            [str(lease.env.python), "-c", code, *args],
            capture_output=True,
            text=True,
            env=child_env(src),
            timeout=timeout,
            preexec_fn=_die_with_parent,
        )


# ---- listing and removing -------------------------------------------------------------------


def list_envs(root: Path | None = None) -> list[Env]:
    """Every environment folder (ready or not) under ``root``, by key."""
    base = root or envs_root()
    if not base.is_dir():
        return []
    keys = {p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")}
    keys |= {p.stem for p in base.glob("*.log")}
    return [Env(k, base) for k in sorted(keys)]


def remove(env: Env) -> None:
    """Delete an environment and its log; refuses while a job uses or builds it."""
    if not env.path.exists() and not env.log_path.exists():
        raise EnvError(f"no environment {env.key} in {env.root}")
    with _flock(env.lock_path, fcntl.LOCK_EX | fcntl.LOCK_NB) as got:
        if not got:
            raise EnvError(
                f"environment {env.key} is in use or being built by another process: "
                "wait for it to finish, then remove it"
            )
        if env.path.exists():
            # drop the marker first: a half-deleted folder must never look complete
            env.marker.unlink(missing_ok=True)
            shutil.rmtree(env.path)
        env.log_path.unlink(missing_ok=True)
        # the lock file stays: a process may be waiting on it, and a new file would be a
        # second lock that lets two builders in at once
