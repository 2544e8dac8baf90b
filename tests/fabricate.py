"""Results stores written through the real Store API, for rendering tests (no run needed)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.jobs import Job, JobRecord
from bench.store import Store
from leaderboards.tables import Results, load_results


@dataclass
class Run:
    """One job of a fabricated store and the metrics it recorded.

    ``metrics`` values: a float (ok), ``"n/a: reason"`` (not applicable) or ``"error: reason"``
    (the metric failed); a metric left out was never computed. A job whose ``status`` is not
    "ok" failed before any metric (give it no metrics).
    """

    dataset: str
    synth: str
    seed: int
    metrics: dict[str, float | str] = field(default_factory=dict)
    status: str = "ok"
    error: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)  # metric -> its stored setting


def _metric(value: float | str) -> dict[str, object]:
    if isinstance(value, str):
        status, _, reason = value.partition(": ")
        return {"status": status, "value": None, "reason": reason}
    return {"status": "ok", "value": value, "reason": None}


def fabricate(
    folder: Path, runs: list[Run], preset: str = "quick", config: dict | None = None
) -> Results:
    """A results folder holding ``runs`` (one ``bench run`` with ``config``), loaded as the
    report loads it."""
    versions = {"python": "3.11", "numpy": "2.0"}
    store = Store(folder)
    try:
        argv = ["bench", "run", "--out", str(folder), "--preset", preset]
        run_id = store.start_run(argv, preset, config or {}, versions)
        for i, r in enumerate(runs):
            job = Job(
                key=f"job-{i}",
                dataset=r.dataset,
                data_dir="",
                synthesizer=r.synth,
                target="toys:Bootstrap",
                params=r.params,
                seed=r.seed,
                n_rows=10,
                preset=preset,
                metrics=(),
                limits={},
                artifact="",
                log="",
            )
            store.mark_running(job, run_id, "fingerprint", versions)
            record = JobRecord(job, status=r.status, error=r.error)
            record.metrics = {
                name: {**_metric(v), "setting": r.settings.get(name, "")}
                for name, v in r.metrics.items()
            }
            record.finished = time.time()
            store.save(record)
        store.finish_run(run_id, "ok")
    finally:
        store.close()
    return load_results(str(folder))
