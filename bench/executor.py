"""Executors run jobs and hand back their records; the runner does not care where.

:class:`Executor` is the seam for other engines: an implementation receives plain
:class:`~bench.jobs.Job` objects, runs :func:`bench.worker.run_job` somewhere, feeds every
event it emits to ``on_event`` and yields one finished :class:`~bench.jobs.JobRecord` per
job. :class:`LocalExecutor` runs each job in its own child process on this machine, gives
it an equal share of the cores (:mod:`bench.cores`) and of the GPUs (:mod:`bench.gpus`),
and enforces per-phase time limits and a memory limit from the parent, so a hung or runaway
synthesizer is killed and recorded while the grid goes on.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import psutil

from bench.cores import share
from bench.gpus import for_slot, visible_gpus
from bench.jobs import Job, JobRecord
from bench.scratch import Scratch

OnEvent = Callable[[Job, dict[str, Any]], None]
#: How often the running jobs' phase times and memory are checked between their events (a
#: job's events and its exit wake the loop at once). A check lists the machine's processes
#: (:func:`trees_rss_mb`); at 20 checks a second, with a listing per job, the runner took
#: about 9% of a core on the 2-core machine (benchmarks/RESULTS.md).
POLL_S = 0.5


class Executor(ABC):
    @abstractmethod
    def run(self, jobs: Sequence[Job], on_event: OnEvent) -> Iterator[JobRecord]:
        """Run ``jobs``; yield each one's record as soon as it is finished."""


@dataclass
class _Running:
    job: Job
    record: JobRecord
    proc: Any
    conn: Connection
    slot: int  # which of the ``max_workers`` places it holds (its GPUs go with it)
    peak_tree_mb: float = 0.0  # sampled by the parent, children of the job included
    killed_for: tuple[str, str] | None = None  # (status, reason) when the parent killed it
    scratch: Any = None  # the process's TMPDIR, removed when it is gone


def trees_rss_mb(roots: Sequence[int]) -> dict[int, float]:
    """Resident memory (MiB) of each root's process tree, children included.

    One listing of the machine's processes serves every root: listing them reads each
    process's /proc entry, which, done once per running job 20 times a second, cost the
    runner about 9% of a core on the 2-core machine (and grows with jobs x processes).
    A root that is gone counts 0.
    """
    children: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        children.setdefault(proc.info["ppid"], []).append(proc.pid)
    out = {}
    for root in roots:
        total, stack, seen = 0, [root], set()
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
            stack.extend(children.get(pid, ()))
        out[root] = total / 2**20
    return out


class LocalExecutor(Executor):
    """Each job in its own process, started from a pre-warmed fork server.

    The fork server imports pandas and the worker once, so a job starts in milliseconds
    rather than paying for interpreter start-up and imports every time. Each job may use
    ``threads`` CPU threads (the usable cores split evenly among ``max_workers``) and, when
    several run at once, the GPUs of its slot (:func:`bench.gpus.for_slot`). Each job process
    has a temporary folder of its own, removed when it exits (:mod:`bench.scratch`).
    """

    def __init__(self, max_workers: int = 1) -> None:
        self.max_workers = max(1, int(max_workers))
        self.threads = share(self.max_workers)
        self.gpus = visible_gpus() if self.max_workers > 1 else []
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(["bench.worker"])
        self._scratch: Scratch | None = None

    # -- lifecycle of one child ---------------------------------------------------------

    def _start(self, job: Job, record: JobRecord, resume: bool, slot: int) -> _Running:
        """Start a child for ``job`` in ``slot``; ``resume`` skips to the metrics not yet in
        ``record``."""
        parent, child = self._ctx.Pipe(duplex=False)
        from bench.worker import child_main

        skip = sorted(record.metrics)
        gpus = for_slot(self.gpus, slot, self.max_workers)
        assert self._scratch is not None, "start jobs from run()"
        tmp = self._scratch.job(job.key)
        proc = self._ctx.Process(
            target=child_main,
            args=(job.to_dict(), child, resume, skip, self.threads, gpus, str(tmp)),
            daemon=True,
        )
        proc.start()
        child.close()
        return _Running(job, record, proc, parent, slot, scratch=tmp)

    def _kill(self, run: _Running, status: str, reason: str) -> None:
        run.killed_for = (status, reason)
        with contextlib.suppress(psutil.Error):
            for p in psutil.Process(run.proc.pid).children(recursive=True):
                p.kill()
        run.proc.kill()

    def _watch(self, run: _Running, rss: float) -> None:
        """Kill the job when its current phase is over its time limit or its process tree's
        memory (``rss``, MiB) is over its limit."""
        rec, job = run.record, run.job
        run.peak_tree_mb = max(run.peak_tree_mb, rss)
        if job.memory_limit_mb and rss > job.memory_limit_mb:
            self._kill(
                run, "oom", f"used {rss:.0f} MiB, over the {job.memory_limit_mb:.0f} MiB limit"
            )
            return
        if rec.current_phase and rec.phase_started is not None:
            limit = job.limit(rec.current_phase)
            if limit and time.monotonic() - rec.phase_started > limit:
                self._kill(run, "timeout", f"{rec.current_phase} exceeded its {limit:g} s limit")

    def _on_exit(self, run: _Running) -> bool:
        """The child is gone. Returns True when the job is finished, False to restart it."""
        rec = run.record
        run.proc.join()
        Scratch.remove(run.scratch)
        if rec.done:
            return True
        phase = rec.current_phase or "startup"
        if run.killed_for:
            status, reason = run.killed_for
        elif run.proc.exitcode == -signal.SIGKILL:
            status, reason = "oom", "killed by SIGKILL (most likely the out-of-memory killer)"
        else:
            status, reason = "error", f"worker exited with code {run.proc.exitcode}"
        wall = time.monotonic() - rec.phase_started if rec.phase_started else None
        rec.end_phase(
            {
                "phase": phase,
                "status": status,
                "wall_s": wall,
                "peak_rss_mb": run.peak_tree_mb or None,
                "error": reason,
            }
        )
        if phase.startswith("metric:"):
            # the synthetic table is saved: record this metric, go on with the others
            rec.metrics[phase.split(":", 1)[1]] = {
                "status": status,
                "value": None,
                "reason": reason,
                "wall_s": wall,
            }
            return False
        rec.finish(status)
        return True

    # -- the loop ---------------------------------------------------------------------------

    def run(self, jobs: Sequence[Job], on_event: OnEvent) -> Iterator[JobRecord]:
        queue = list(reversed(jobs))
        running: dict[Connection, _Running] = {}
        free = list(range(self.max_workers))
        self._scratch = Scratch()
        try:
            while queue or running:
                while queue and free:
                    job = queue.pop()
                    run = self._start(job, JobRecord(job), job.resume, free.pop(0))
                    running[run.conn] = run
                    on_event(job, {"event": "job_start", "resume": job.resume})
                ready = wait([*running, *(r.proc.sentinel for r in running.values())], POLL_S)
                rss = trees_rss_mb([r.proc.pid for r in running.values()])
                for run in list(running.values()):
                    if run.conn in ready or run.proc.sentinel in ready:
                        self._drain(run, on_event)
                    if not run.proc.is_alive():
                        self._drain(run, on_event)
                        del running[run.conn]
                        if self._on_exit(run):
                            free.append(run.slot)
                            on_event(run.job, {"event": "job_end", "status": run.record.status})
                            yield run.record
                        else:  # go on with the remaining metrics, from the artifact
                            new = self._start(run.job, run.record, True, run.slot)
                            running[new.conn] = new
                    else:
                        self._watch(run, rss.get(run.proc.pid, 0.0))
        finally:
            for run in running.values():
                self._kill(run, "error", "interrupted")
                run.proc.join()
            self._scratch.close()

    def _drain(self, run: _Running, on_event: OnEvent) -> None:
        while True:
            try:
                if not run.conn.poll():
                    return
                event = run.conn.recv()
            except (EOFError, OSError):
                return
            if event["event"] == "phase_end":
                event["peak_rss_mb"] = max(event.get("peak_rss_mb") or 0, run.peak_tree_mb) or None
                run.peak_tree_mb = 0.0
            run.record.apply(event)
            on_event(run.job, event)
