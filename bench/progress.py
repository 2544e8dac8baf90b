"""Live progress: the runner's view of its jobs (one rewritten status line on a terminal,
plain log lines otherwise), and :class:`ProgressLog`, a long loop's view of itself."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from bench.jobs import Job


def _fmt_s(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 60:02d}:{seconds % 60:02d}"
        if seconds < 3600
        else (f"{seconds // 3600}h{seconds % 3600 // 60:02d}m")
    )


class Progress:
    def __init__(self, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = 0
        self.index: dict[str, int] = {}
        self.current: dict[str, tuple[Job, str, float]] = {}  # key -> (job, phase, since)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = time.monotonic()

    def _write(self, line: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + line + "\n")
            self._status()
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _status(self) -> None:
        if not self.current:
            return
        key, (job, phase, since) = next(iter(self.current.items()))
        line = (
            f"[{self.index.get(key, 0)}/{self.total}] {job.label} · {phase} · "
            f"{_fmt_s(time.monotonic() - since)} (total {_fmt_s(time.monotonic() - self.t0)})"
        )
        self.stream.write("\r\033[K" + line)
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                self._status()

    def start(self, summary: Any, todo: list[Job]) -> None:
        self.total = len(todo)
        self.stream.write(
            f"bench: {summary.planned} jobs planned, {summary.skipped} already done, "
            f"{self.total} to run, {summary.workers} at a time; results in {summary.out}\n"
        )
        self.stream.flush()
        if self.tty and self.total:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def event(self, job: Job, event: dict[str, Any]) -> None:
        kind = event["event"]
        with self._lock:
            if kind == "job_start":
                self.index.setdefault(job.key, len(self.index) + 1)
                self.current[job.key] = (job, "starting", time.monotonic())
                if not self.tty:
                    what = "metrics only" if event.get("resume") else "started"
                    self._write(f"[{self.index[job.key]}/{self.total}] {job.label}: {what}")
            elif kind == "phase_start":
                self.current[job.key] = (job, event["phase"], time.monotonic())
                long_phases = ("env", "fit", "generate", "metric:lle")
                if not self.tty and event["phase"] in long_phases:
                    self._write(f"    {event['phase']} ...")
            elif kind == "phase_end" and event["status"] != "ok":
                self._write(f"    {event['phase']}: {event['status']}: {event.get('error')}")
            elif kind == "job_end":
                self.current.pop(job.key, None)
                self._write(
                    f"[{self.index.get(job.key, 0)}/{self.total}] {job.label}: {event['status']}"
                )

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


class ProgressLog:
    """Progress lines for a long loop, in the job's log (a job's stderr goes there).

    Call it each time a unit of ``total`` is done (an epoch, an optimiser step, a valid row),
    with the figures worth seeing. It writes the first call, then at most one line every
    ``every_s`` seconds, then the last unit, each with the time spent and the time left at the
    average pace so far::

        ctabgan: epoch 120/150  d 1.3201  g 0.7154  (02:10, about 00:33 left)

    so that a fit of hours shows where it is without filling the log.
    """

    def __init__(
        self,
        who: str,
        total: int,
        unit: str = "epoch",
        every_s: float = 30.0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.who = who
        self.total = total
        self.unit = unit
        self.every_s = every_s
        self.stream = stream
        self.clock = clock
        self.t0 = clock()
        self.last: float | None = None

    def __call__(self, done: int, **figures: float) -> None:
        """``done`` units of ``total`` are finished; ``figures`` are printed in order."""
        now = self.clock()
        due = self.last is None or now - self.last >= self.every_s or done >= self.total
        if not due:
            return
        self.last = now
        spent = now - self.t0
        left = spent / max(done, 1) * max(self.total - done, 0)
        parts = [f"{self.unit} {done}/{self.total}", *(f"{k} {v:.4f}" for k, v in figures.items())]
        stream = self.stream or sys.stderr
        stream.write(
            f"{self.who}: {'  '.join(parts)}  ({_fmt_s(spent)}, about {_fmt_s(left)} left)\n"
        )
        stream.flush()
