"""A plain-text view of a results store, for ``bench status`` and the end of ``bench run``.

The table stays one line per job; under it every failure gets its full reason and the job's
log (which ends with the traceback), since a cut-off reason names no fix. A run whose process
is gone (killed, interrupted) no longer holds its folder's lock (:mod:`bench.lock`), so what it
left ``running`` is shown as ``interrupted``: the store itself is not rewritten.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from bench.jobs import FAILED
from bench.lock import in_use
from bench.store import Store

INTERRUPTED = "interrupted"
TABLE_REASON = 60  # characters of a failure's reason shown in the table itself


def _num(x: object, fmt: str = "{:.1f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return fmt.format(x)


def one_line(text: object) -> str:
    """A stored reason on one line (some exceptions' messages span several)."""
    return " ".join(str(text or "").split())


def _live_run(store: Store, run: dict[str, Any] | None) -> int | None:
    """The id of the run writing this folder now, if any."""
    if run and run["status"] == "running" and in_use(store.folder):
        return int(run["run_id"])
    return None


def shown_status(jobs: pd.DataFrame, live_run: int | None) -> pd.Series:
    """Each job's status as shown: ``running`` only while the run that started it is alive."""
    dead = (jobs.status == "running") & (jobs.run_id != live_run)
    return jobs.status.where(~dead, INTERRUPTED)


def _header(store: Store, run: dict[str, Any], live_run: int | None) -> str:
    argv = " ".join(json.loads(run["argv"]))
    status = run["status"]
    if status == "running" and live_run is None:
        status = f"{INTERRUPTED}: its process is gone"
    return f"results: {store.path}  (last run #{run['run_id']}: {argv}; {status})"


def _status_cell(status: str, error: object) -> str:
    if status in FAILED and error:
        reason = one_line(error)
        cut = reason[:TABLE_REASON] + ("…" if len(reason) > TABLE_REASON else "")
        return f"{status}: {cut}"
    return status


def _job_row(job: Any, phases: pd.DataFrame, metrics: pd.DataFrame) -> list[str]:
    ph = phases[phases.key == job.key].set_index("phase")
    vals = []
    for m in metrics[metrics.key == job.key].itertuples():
        vals.append(
            f"{m.metric}={_num(m.value, '{:.3g}')}"
            if m.status in ("ok", "nan")
            else f"{m.metric}:{m.status}"
        )
    return [
        job.dataset,
        job.synthesizer,
        str(job.seed),
        _status_cell(job.shown, job.error),
        _num(job.n_rows, "{:.0f}"),
        _num(ph.wall_s.get("fit")),
        _num(ph.wall_s.get("generate")),
        _num(ph.peak_rss_mb.max() if len(ph) else None, "{:.0f}"),
        " ".join(vals),
    ]


def failure_lines(jobs: pd.DataFrame, metrics: pd.DataFrame) -> list[str]:
    """Every failed job and metric with its whole reason, and where to read more."""
    lines = []
    for job in jobs.itertuples():
        label = f"{job.dataset} × {job.synthesizer} × seed {job.seed}"
        if job.shown in FAILED:
            lines.append(f"  {label}: {job.shown}: {one_line(job.error) or 'no reason stored'}")
            lines.append(f"    log: {job.log}")
        elif job.shown == INTERRUPTED:
            lines.append(f"  {label}: {INTERRUPTED} (its run stopped; the same command redoes it)")
        for m in metrics[(metrics.key == job.key) & metrics.status.isin(FAILED)].itertuples():
            reason = one_line(m.reason) or "no reason stored"
            lines.append(f"  {label}, metric {m.metric}: {m.status}: {reason}")
    if not lines:
        return []
    return ["", "failures (full reasons; a failed job's log ends with its traceback):", *lines]


def status_table(store: Store) -> str:
    jobs = store.table("jobs")
    if jobs.empty:
        return f"no jobs in {store.path}"
    phases = store.table("phases")
    metrics = store.table("metrics")
    lines = []
    run = store.last_run()
    live_run = _live_run(store, run)
    if run:
        lines.append(_header(store, run, live_run))
    jobs = jobs.sort_values(["dataset", "synthesizer", "seed"]).assign(
        shown=lambda t: shown_status(t, live_run)
    )
    header = [
        "dataset",
        "synthesizer",
        "seed",
        "status",
        "rows",
        "fit s",
        "gen s",
        "peak MiB",
        "metrics",
    ]
    rows = [_job_row(job, phases, metrics) for job in jobs.itertuples()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    counts = jobs.shown.value_counts().to_dict()
    lines.append("jobs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join([*lines, *failure_lines(jobs, metrics)])
