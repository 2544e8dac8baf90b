"""The inside of a job: load data, fit, generate, save, compute metrics; report each phase.

Runs in a child process (see :mod:`bench.executor`). Every phase emits ``phase_start`` and
``phase_end`` events with wall time, peak resident memory and, when CUDA is in use, peak
GPU memory; the parent enforces time and memory limits. Nothing here writes to the
results store: a job that dies leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import scratch
from bench.cores import limit as limit_threads
from bench.gpus import ENV as GPU_ENV
from bench.isolated import close as close_isolated
from bench.jobs import Job
from bench.metrics.base import EvalContext, Metric, NotApplicable
from bench.metrics.coerce import coerce
from bench.registry import load
from bench.schema import Schema
from bench.tables import read_parquet, write_parquet

Emit = Callable[[dict[str, Any]], None]


class PhaseFailed(Exception):
    """A phase ended badly; its event was already emitted."""

    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status = status


# ---- memory measurement -------------------------------------------------------------------


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS counter (VmHWM) so each phase gets its own peak."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cuda() -> Any | None:
    """torch.cuda if this job already imported torch and uses CUDA (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"


@contextlib.contextmanager
def phase(name: str, emit: Emit) -> Iterator[dict[str, Any]]:
    """Time a phase and emit its events. The body may put ``peak_rss_mb`` / ``peak_gpu_mb``
    of work done in another process (an isolated synthesizer) into the yielded dict."""
    emit({"event": "phase_start", "phase": name, "time": time.time()})
    _reset_peak_rss()
    cuda = _cuda()
    if cuda:
        cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    status, error, tb = "ok", None, None
    remote: dict[str, Any] = {}
    try:
        yield remote
    except Exception as exc:  # recorded, never propagated as a crash
        status = "oom" if _is_oom(exc) else "error"
        error = f"{type(exc).__name__}: {exc}".strip()
        tb = traceback.format_exc()
        raise PhaseFailed(status, error) from exc
    finally:
        cuda = cuda or _cuda()
        emit(
            {
                "event": "phase_end",
                "phase": name,
                "status": status,
                "wall_s": time.perf_counter() - t0,
                "peak_rss_mb": _max(_peak_rss_mb(), remote.get("peak_rss_mb")),
                "peak_gpu_mb": _max(
                    cuda.max_memory_allocated() / 2**20 if cuda else None,
                    remote.get("peak_gpu_mb"),
                ),
                "error": error,
                "traceback": tb,
            }
        )


def _max(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


# ---- the job ------------------------------------------------------------------------------


def load_data(data_dir: str) -> tuple[Schema, dict[str, pd.DataFrame]]:
    folder = Path(data_dir)
    schema = Schema.from_dict(json.loads((folder / "schema.json").read_text(encoding="utf-8")))
    dtypes = schema.dtypes()
    return schema, {
        s: read_parquet(folder / f"{s}.parquet", dtypes) for s in ("train", "val", "test")
    }


def _check_table(table: Any, n: int) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"generate() returned {type(table).__name__}, expected a pandas DataFrame")
    if len(table) > n:
        raise ValueError(f"generate({n}) returned {len(table)} rows, more than requested")
    return table


def run_job(
    job: Job, emit: Emit, resume: bool = False, skip_metrics: frozenset[str] = frozenset()
) -> None:
    """Run ``job`` from the start, or with ``resume`` only its metrics, from its artifact.

    ``skip_metrics`` are metrics already recorded (e.g. after a metric timed out and the
    parent restarted the job from its artifact to compute the rest).
    """
    synth = None
    try:
        with phase("load", emit):
            schema, data = load_data(job.data_dir)
            metrics: list[tuple[str, Metric]] = [
                (name, load(target)()) for name, target in job.metrics if name not in skip_metrics
            ]
            cls = None if resume else load(job.target)
        if resume:
            with phase("load_artifact", emit):
                syn_raw = read_parquet(job.artifact)
        else:
            synth, syn_raw = _fit_generate_save(job, cls, schema, data["train"], emit)
            close_isolated(synth)  # frees an isolated worker's memory before the metrics run
        with phase("coerce", emit):
            coerced = coerce(syn_raw, schema)
    except PhaseFailed:
        emit({"event": "done", "status": "failed"})
        return

    ctx = EvalContext(
        dataset=job.dataset,
        schema=schema,
        train=data["train"],
        val=data["val"],
        test=data["test"],
        syn_raw=syn_raw,
        syn=coerced.table,
        coercion={**coerced.report(), "summary": coerced.summary()},
        data_dir=job.data_dir,
        seed=job.seed,
        synthesizer_name=job.synthesizer,
        is_reference=job.is_reference,
        synthesizer=synth,
        n_requested=job.n_rows,
        preset=job.preset,
        llm=job.llm,
        device=job.device,
    )
    # model-dependent metrics first: after a restart the model is gone
    for name, metric in sorted(metrics, key=lambda m: "model" not in m[1].inputs):
        _run_metric(name, metric, ctx, emit)
    emit({"event": "done", "status": "ok"})


def _fit_generate_save(
    job: Job, cls: type, schema: Schema, train: pd.DataFrame, emit: Emit
) -> tuple[Any, pd.DataFrame]:
    """The synthesizer's phases. One that declares ``requirements`` first gets its isolated
    environment (phase ``env``), then runs fit and generate in a process inside it; the
    caller closes what is returned, and on an error it is closed here."""
    synth = None
    try:
        if getattr(cls, "requirements", ()):
            with phase("env", emit):
                synth = _start_isolated(job, cls)
        with phase("fit", emit) as remote:
            synth = synth or cls(**job.params)
            synth.fit(train.copy(), schema, job.seed)
            remote.update(getattr(synth, "remote_peaks", {}))
        with phase("generate", emit) as remote:
            syn_raw = _check_table(synth.generate(job.n_rows, job.seed), job.n_rows)
            remote.update(getattr(synth, "remote_peaks", {}))
        with phase("save", emit):
            write_parquet(syn_raw, job.artifact)
            emit(
                {
                    "event": "generated",
                    "n_rows": len(syn_raw),
                    "dtypes": {str(c): str(t) for c, t in syn_raw.dtypes.items()},
                    "report": synth.report(),
                }
            )
    except BaseException:
        close_isolated(synth)
        raise
    return synth, syn_raw


def _start_isolated(job: Job, cls: type) -> Any:
    """Build (or reuse) the environment for ``cls.requirements`` and start its worker."""
    from bench.isolated import start_isolated

    def say(msg: str) -> None:
        print(f"[{job.synthesizer}] {msg}", file=sys.stderr, flush=True)

    return start_isolated(job.synthesizer, job.target, job.params, cls.requirements, log=say)


def _run_metric(name: str, metric: Metric, ctx: EvalContext, emit: Emit) -> None:
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "event": "metric",
        "metric": name,
        "setting": metric.setting(ctx.preset, ctx.llm),
    }
    try:
        if "model" in metric.inputs and ctx.synthesizer is None:
            raise NotApplicable("needs the fitted model, which is gone after a restart")
        metric.check(ctx)
    except NotApplicable as exc:
        emit({**result, "status": "n/a", "value": None, "reason": str(exc), "wall_s": 0.0})
        return
    if "syn" in metric.inputs and ctx.syn is not None and len(ctx.syn) == 0:
        reason = ctx.coercion["summary"]
        emit({**result, "status": "nan", "value": None, "reason": reason, "wall_s": 0.0})
        return
    try:
        with phase(f"metric:{name}", emit):
            out = metric.compute(ctx)
    except PhaseFailed as exc:
        wall = time.perf_counter() - t0
        emit({**result, "status": exc.status, "value": None, "reason": str(exc), "wall_s": wall})
        return
    value = float(out.value) if out.value is not None else float("nan")
    status = "ok" if np.isfinite(value) else "nan"
    reason = out.aux.get("reason") if status == "nan" else None
    wall = time.perf_counter() - t0
    emit(
        {
            **result,
            "status": status,
            "value": value,
            "aux": out.aux,
            "reason": reason,
            "wall_s": wall,
        }
    )


# ---- process entry points -----------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no orphans after a kill)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _die_with_runner(conn: Any) -> None:
    """Kill this job as soon as the runner is gone, in the middle of a phase too.

    The job's parent is the fork server, not the runner, and the fork server lives as long as
    any job it started, so the parent-death signal alone would leave a job fitting for hours
    after its runner was killed. ``conn`` is the write end of a pipe whose read end only the
    runner holds: on Linux, poll reports POLLERR on it the moment that end is closed, which
    the kernel does when the runner dies, however it dies.
    """
    if not hasattr(select, "poll"):
        return

    def watch() -> None:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLERR)
        while not poller.poll():
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-runner", daemon=True).start()


def child_main(
    job_dict: dict[str, Any],
    conn: Any,
    resume: bool,
    skip_metrics: list[str],
    threads: int,
    gpus: str | None = None,
    tmp: str | None = None,
) -> None:
    """multiprocessing target: redirect output to the job's log, cap its CPU threads at
    ``threads`` (its share of the cores), show it only ``gpus`` (its share of the GPUs; None
    leaves them as they are), put its temporary files in ``tmp``, run, send events on
    ``conn``."""
    _die_with_parent()
    _die_with_runner(conn)
    if tmp is not None:
        scratch.use(tmp)
    job = Job.from_dict(job_dict)
    Path(job.log).parent.mkdir(parents=True, exist_ok=True)
    log = os.open(job.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    limit_threads(threads)
    if gpus is not None:  # before anything in this process imports torch
        os.environ[GPU_ENV] = gpus
        print(f"this job's GPUs: {GPU_ENV}={gpus}", flush=True)
    try:
        run_job(job, conn.send, resume, frozenset(skip_metrics))
    finally:
        conn.close()
