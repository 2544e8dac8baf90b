"""Run a synthesizer's fit and generate in a worker process inside its isolated environment.

Main side: :class:`IsolatedSynthesizer` looks like a synthesizer to :mod:`bench.worker`
(``fit``, ``generate``, ``report``) and forwards each call to a child process started with
the environment's Python (see :mod:`bench.envs`). The child keeps the fitted model in memory
between calls, so nothing has to be pickled across two library versions. Data goes as files
in a private folder: ``train.parquet`` and ``schema.json`` in, ``syn.parquet`` out;
``spec.json`` names the class and its parameters. Commands go to the child's stdin as JSON
lines and each answer comes back as one JSON line on a pipe of its own, so whatever the
library prints reaches the job's log instead of the protocol.

Child side: ``python -m bench.isolated --reply-fd N DIR`` (:func:`serve`). It imports only
``bench.schema``, ``bench.tables``, ``bench.registry`` and the adapter, which is why the
environment needs numpy, pandas and pyarrow and nothing else of the harness.

A remote exception comes back as an exception of the same class name (``ValueError: ...``),
with the remote traceback attached, so the job's record reads as it would in-process.
Each answer carries the child's peak resident memory (and peak GPU memory) for that call,
which the worker reports as the phase's peak.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: seconds to wait for the child to exit after ``exit`` before killing it
EXIT_GRACE_S = 10.0


class RemoteError(RuntimeError):
    """An exception raised inside the isolated worker (subclassed under its own name)."""


def _remote_exception(reply: dict[str, Any], who: str) -> Exception:
    name = str(reply.get("type") or "RemoteError")
    bases: tuple[type, ...] = (RemoteError,)
    if name == "MemoryError":
        bases = (MemoryError, RemoteError)
    cls = type(name if name.isidentifier() else "RemoteError", bases, {})
    exc = cls(reply.get("message", ""))
    tb = reply.get("traceback")
    if tb and hasattr(exc, "add_note"):
        exc.add_note(f"raised in the isolated environment of {who}:\n{tb}")
    return exc


def requirement_names(requirements: tuple[str, ...] | list[str]) -> list[str]:
    """Distribution names of pip requirement strings (``torch==2.2.2`` -> ``torch``)."""
    names = []
    for r in requirements:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r)
        if m:
            names.append(m.group(1).lower())
    return names


def start_isolated(
    name: str,
    target: str,
    params: dict[str, Any],
    requirements: Sequence[str],
    log: Any = None,
) -> IsolatedSynthesizer:
    """Build (or reuse) the environment for ``requirements`` and start ``target``'s worker in
    it; the lease is released if the start fails (``close`` releases it otherwise)."""
    from bench.envs import ensure

    lease = ensure(requirements, who=name, log=log)
    try:
        return IsolatedSynthesizer(name, target, params, lease).start()
    except BaseException:
        lease.release()
        raise


def build(name: str, cls: type, params: dict[str, Any], log: Any = None) -> Any:
    """``cls(**params)`` here, or its worker in its own environment if ``cls`` declares
    ``requirements``: the one choice every script that fits synthesizers makes."""
    requirements = getattr(cls, "requirements", ())
    if not requirements:
        return cls(**params)
    target = f"{cls.__module__}:{cls.__name__}"
    return start_isolated(name, target, params, requirements, log=log)


def close(synth: Any) -> None:
    """End an isolated synthesizer's worker and release its environment (else nothing)."""
    if getattr(synth, "isolated", False):
        synth.close()


class IsolatedSynthesizer:
    """A synthesizer class of ``target`` that runs in ``lease``'s environment.

    ``start`` launches the child and builds the instance there (parameters are validated
    where the class really lives); ``close`` ends the child and releases the lease.
    """

    isolated = True  # what bench.worker looks for to close it after generate

    def __init__(self, name: str, target: str, params: dict[str, Any], lease: Any) -> None:
        self.name = name
        self.target = target
        self.params = dict(params)
        self.lease = lease
        self.remote_peaks: dict[str, float | None] = {}
        self.versions: dict[str, str] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reply: Any = None

    @property
    def workdir(self) -> Path:
        assert self._tmp is not None, "start() first"
        return Path(self._tmp.name)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> IsolatedSynthesizer:
        from bench.envs import _die_with_parent, child_env, source_dir

        self._tmp = tempfile.TemporaryDirectory(prefix=f"bench-isolated-{self.name}-")
        module = self.target.partition(":")[0]
        src = source_dir([module], self.workdir / "src")
        spec = {"target": self.target, "params": self.params}
        (self.workdir / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        read_fd, write_fd = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [
                    str(self.lease.env.python),
                    "-m",
                    "bench.isolated",
                    "--reply-fd",
                    str(write_fd),
                    str(self.workdir),
                ],
                stdin=subprocess.PIPE,
                pass_fds=(write_fd,),
                cwd=self.workdir,  # not the caller's folder, which is first on sys.path
                env=child_env(src),
                preexec_fn=_die_with_parent,
            )
        finally:
            os.close(write_fd)
        self._reply = os.fdopen(read_fd, "r", encoding="utf-8")
        answer = self._call("init")
        self.versions = {
            k: v for k, v in answer.get("versions", {}).items() if v != "not installed"
        }
        return self

    def close(self) -> None:
        """End the child (politely, then by force) and release the environment."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError, ValueError):
                assert proc.stdin is not None
                proc.stdin.write(b'{"op": "exit"}\n')
                proc.stdin.close()
            try:
                proc.wait(EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reply is not None:
            with contextlib.suppress(OSError):
                self._reply.close()
            self._reply = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if self.lease is not None:
            self.lease.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # -- the synthesizer interface ---------------------------------------------------------

    def fit(self, train: Any, schema: Any, seed: int) -> IsolatedSynthesizer:
        from bench.tables import write_parquet

        write_parquet(train, self.workdir / "train.parquet")
        (self.workdir / "schema.json").write_text(schema.to_json(), encoding="utf-8")
        self._call("fit", seed=int(seed))
        return self

    def generate(self, n: int, seed: int) -> Any:
        from bench.tables import read_parquet

        self._call("generate", n=int(n), seed=int(seed))
        return read_parquet(self.workdir / "syn.parquet")

    def report(self) -> dict[str, Any]:
        report = dict(self._call("report").get("report") or {})
        report["isolated_env"] = {"key": self.lease.env.key, "versions": self.versions}
        return report

    # -- protocol ------------------------------------------------------------------------

    def _call(self, op: str, **args: Any) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise RuntimeError(f"the isolated worker of {self.name} is not running")
        try:
            proc.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
            proc.stdin.flush()
            line = self._reply.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            code = proc.wait()
            raise RuntimeError(
                f"the isolated worker of {self.name} exited with code {code} during {op}; "
                "its output is in the job's log"
            )
        reply = json.loads(line)
        self.remote_peaks = {k: reply.get(k) for k in ("peak_rss_mb", "peak_gpu_mb")}
        if not reply.get("ok"):
            raise _remote_exception(reply, self.name)
        return reply


# ---- the child --------------------------------------------------------------------------------


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peaks() -> dict[str, float | None]:
    rss = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    gpu = None
    torch = sys.modules.get("torch")
    with contextlib.suppress(Exception):
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            gpu = torch.cuda.max_memory_allocated() / 2**20
            torch.cuda.reset_peak_memory_stats()
    return {"peak_rss_mb": rss, "peak_gpu_mb": gpu}


def _versions(names: list[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


class _Server:
    """The child's state: the synthesizer instance between commands."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.spec = json.loads((workdir / "spec.json").read_text(encoding="utf-8"))
        self.synth: Any = None

    def init(self) -> dict[str, Any]:
        from bench.registry import load

        cls = load(self.spec["target"])
        self.synth = cls(**self.spec["params"])
        names = [*requirement_names(list(cls.requirements)), *cls.packages, "numpy", "pandas"]
        return {"versions": _versions(list(dict.fromkeys(n.lower() for n in names)))}

    def fit(self, seed: int) -> dict[str, Any]:
        from bench.schema import Schema
        from bench.tables import read_parquet

        raw = json.loads((self.workdir / "schema.json").read_text(encoding="utf-8"))
        schema = Schema.from_dict(raw)
        train = read_parquet(self.workdir / "train.parquet", schema.dtypes())
        self.synth.fit(train, schema, seed)
        return {}

    def generate(self, n: int, seed: int) -> dict[str, Any]:
        import pandas as pd

        from bench.tables import write_parquet

        table = self.synth.generate(n, seed)
        if not isinstance(table, pd.DataFrame):
            raise TypeError(
                f"generate() returned {type(table).__name__}, expected a pandas DataFrame"
            )
        write_parquet(table, self.workdir / "syn.parquet")
        return {"rows": len(table)}

    def report(self) -> dict[str, Any]:
        return {"report": json.loads(json.dumps(self.synth.report(), default=str))}


def serve(reply_fd: int, workdir: Path) -> int:
    """Answer commands from stdin until ``exit`` or end of input."""
    from bench.envs import _die_with_parent

    _die_with_parent()
    reply = os.fdopen(reply_fd, "w", encoding="utf-8")
    server = _Server(workdir)

    def answer(payload: dict[str, Any]) -> None:
        reply.write(json.dumps(payload, default=str) + "\n")
        reply.flush()

    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command.pop("op")
        if op == "exit":
            break
        _reset_peak_rss()
        try:
            handler = getattr(server, op, None)
            if handler is None or op.startswith("_"):
                raise ValueError(f"unknown command {op!r}")
            out = handler(**command)
        except Exception as exc:
            tb = traceback.format_exc()
            print(tb, file=sys.stderr, flush=True)
            answer(
                {"ok": False, "type": type(exc).__name__, "message": str(exc), "traceback": tb}
                | _peaks()
            )
            continue
        answer({"ok": True, **out} | _peaks())
    reply.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.isolated", description=serve.__doc__)
    p.add_argument("--reply-fd", type=int, required=True)
    p.add_argument("workdir", type=Path)
    args = p.parse_args(argv)
    return serve(args.reply_fd, args.workdir)


if __name__ == "__main__":
    sys.exit(main())
