"""A job (one dataset × synthesizer × seed) and the record built from its events.

Jobs and events are plain JSON-able data, so any executor (local processes today, a
cluster engine later) can carry them: the executor ships a :class:`Job`, the worker emits
event dicts, and :class:`JobRecord` folds those events into the result the store keeps.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

TERMINAL = ("ok", "error", "timeout", "oom")
FAILED = ("error", "timeout", "oom")


def preference(status: str, finished: float | None, computed: int = 0) -> tuple[int, int, float]:
    """Orders attempts at the same job (or at one seed of a setting), the best largest: a
    finished job over a failed one over an unfinished one, then the one with more metrics
    computed, then the later one."""
    rank = 2 if status == "ok" else 1 if status in FAILED else 0
    return (rank, computed, float(finished or 0.0))


@dataclass(frozen=True)
class Job:
    key: str
    dataset: str
    data_dir: str  # train/val/test Parquet + schema.json, written once per dataset
    synthesizer: str
    target: str  # ``module:Class`` of the synthesizer
    params: dict[str, Any]
    seed: int
    n_rows: int
    preset: str
    metrics: tuple[tuple[str, str], ...]  # (name, ``module:Class``)
    limits: dict[str, float | None]  # seconds per phase kind: fit, generate, metric, io
    artifact: str  # where the synthetic table is saved (Parquet)
    log: str  # the worker's stdout/stderr
    memory_limit_mb: float | None = None
    is_reference: bool = False
    #: only compute ``metrics`` from the saved artifact (fit and generate were done before)
    resume: bool = False
    llm: str | None = None  # the run's --llm / --device, for metrics with a model (LLE)
    device: str | None = None

    @property
    def label(self) -> str:
        return f"{self.dataset} × {self.synthesizer} × seed {self.seed}"

    def limit(self, phase: str) -> float | None:
        kind, _, metric = phase.partition(":")
        if kind == "metric" and metric in self.limits:  # a metric with its own kind (lle)
            return self.limits[metric]
        if kind == "env":  # building an isolated environment takes minutes, like a fit
            return self.limits.get("env", self.limits.get("fit"))
        return self.limits.get(kind, self.limits.get("io"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        d = dict(d)
        d["metrics"] = tuple(tuple(m) for m in d["metrics"])
        return cls(**d)


def job_key(
    dataset_fingerprint: str,
    synthesizer: str,
    target: str,
    params: dict[str, Any],
    seed: int,
    n_rows: int,
    versions: dict[str, str],
    extra: str = "",
) -> str:
    """Content hash identifying a job's synthetic table: same inputs -> same key -> skip."""
    payload = json.dumps(
        {
            "data": dataset_fingerprint,
            "synthesizer": synthesizer,
            "target": target,
            "params": params,
            "seed": seed,
            "n_rows": n_rows,
            "versions": versions,
            "extra": extra,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class JobRecord:
    """What is known about a job so far; the executor feeds it every event."""

    job: Job
    status: str = "running"
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    n_rows: int | None = None
    returned_dtypes: dict[str, str] | None = None
    report: dict[str, Any] | None = None  # the synthesizer's own figures (Synthesizer.report)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    current_phase: str | None = None
    phase_started: float | None = None

    def apply(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "phase_start":
            self.current_phase = event["phase"]
            self.phase_started = time.monotonic()
        elif kind == "phase_end":
            self.end_phase(event)
        elif kind == "metric":
            self.metrics[event["metric"]] = {
                k: event.get(k) for k in ("status", "value", "aux", "reason", "wall_s", "setting")
            }
        elif kind == "generated":
            self.n_rows = event["n_rows"]
            self.returned_dtypes = event["dtypes"]
            self.report = event.get("report") or None
        elif kind == "done":
            self.finish(event.get("status", "ok"))

    def end_phase(self, event: dict[str, Any]) -> None:
        phase = event["phase"]
        self.phases[phase] = {
            k: event.get(k) for k in ("status", "wall_s", "peak_rss_mb", "peak_gpu_mb", "error")
        }
        if event["status"] != "ok" and not phase.startswith("metric:"):
            self.status = event["status"]
            self.error = event.get("error")
            self.traceback = event.get("traceback")
        self.current_phase = None

    def finish(self, status: str) -> None:
        if self.status == "running":
            self.status = status
        self.finished = time.time()

    @property
    def done(self) -> bool:
        return self.finished is not None
