"""A plain-text view of a results store, for ``bench status`` and the end of ``bench run``."""

from __future__ import annotations

import json
import math

from bench.store import Store


def _num(x: object, fmt: str = "{:.1f}") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return fmt.format(x)


def status_table(store: Store) -> str:
    jobs = store.table("jobs")
    if jobs.empty:
        return f"no jobs in {store.path}"
    phases = store.table("phases")
    metrics = store.table("metrics")
    lines = []
    run = store.last_run()
    if run:
        argv = " ".join(json.loads(run["argv"]))
        lines.append(f"results: {store.path}  (last run #{run['run_id']}: {argv}; {run['status']})")
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
    rows = []
    for job in jobs.sort_values(["dataset", "synthesizer", "seed"]).itertuples():
        ph = phases[phases.key == job.key].set_index("phase")
        mt = metrics[metrics.key == job.key]
        vals = []
        for m in mt.itertuples():
            vals.append(
                f"{m.metric}={_num(m.value, '{:.3g}')}"
                if m.status in ("ok", "nan")
                else f"{m.metric}:{m.status}"
            )
        has_error = job.status != "ok" and isinstance(job.error, str) and job.error != ""
        status = f"{job.status}: {job.error[:60]}" if has_error else job.status
        rows.append(
            [
                job.dataset,
                job.synthesizer,
                str(job.seed),
                status,
                _num(job.n_rows, "{:.0f}"),
                _num(ph.wall_s.get("fit")),
                _num(ph.wall_s.get("generate")),
                _num(ph.peak_rss_mb.max() if len(ph) else None, "{:.0f}"),
                " ".join(vals),
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    counts = jobs.status.value_counts().to_dict()
    lines.append("jobs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)
