"""``bench merge`` on a paper-sized grid: seconds to join the folders of N machines.

Writes N results folders through the real Store API, holding between them the paper grid's
jobs (4 datasets × 9 synthesizers × 3 seeds = 108, split as ``--shard K/N`` would), each with
11 metrics, 6 phases, a log and a synthetic table of Adult's size (26,048 rows, its
columns, resampled from its training split); then times one ``bench merge`` of all of them
into a new folder, and a second one into the same folder (nothing new: the check alone).

    python benchmarks/merge_speed.py [--machines 8] [--scale 1]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METRICS = ("dm", "invalid_rows", "wd", "cs", "mle", "mle_catboost", "lle", "nrs", "dcr")
METRICS += ("dcr_holdout", "dlt")
PHASES = ("load", "fit", "generate", "save", "metric:dm", "metric:mle")


def write_share(folder: Path, keys: list[tuple[str, str, int]], table) -> None:
    from bench.jobs import Job, JobRecord
    from bench.runner import job_paths
    from bench.store import Store

    store = Store(folder)
    try:
        run_id = store.start_run(["bench", "run", "--out", str(folder)], "paper", {}, {})
        for dataset, synth, seed in keys:
            key = hashlib.sha256(f"{dataset}/{synth}/{seed}".encode()).hexdigest()
            artifact, log = job_paths(folder, dataset, synth, seed, key)
            Path(artifact).parent.mkdir(parents=True, exist_ok=True)
            table.sample(len(table), replace=True, random_state=seed).to_parquet(artifact)
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            Path(log).write_text("fit: epoch 1/1\n" * 200, encoding="utf-8")
            job = Job(key, dataset, "", synth, "toys:Bootstrap", {}, seed, len(table), "paper",
                      (), {}, artifact, log)  # fmt: skip
            store.mark_running(job, run_id, "fingerprint", {})
            rec = JobRecord(job, status="ok", n_rows=len(table))
            rec.phases = {p: {"status": "ok", "wall_s": 1.0, "peak_rss_mb": 100.0} for p in PHASES}
            rec.metrics = {m: {"status": "ok", "value": 0.5, "aux": {"n": 1}} for m in METRICS}
            rec.finished = time.time()
            store.save(rec)
        store.finish_run(run_id, "finished")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=8)
    parser.add_argument("--scale", type=int, default=1, help="seeds × this (a larger grid)")
    args = parser.parse_args()

    from bench.datasets import load_bundled
    from bench.merge import merge

    table = load_bundled("adult").train
    datasets = ("german", "adult", "diabetes", "buddy")
    synths = ("original", "harmonic", "smote", "tvae", "ctabgan", "tabddpm", "tabsyn")
    synths += ("great", "realtabformer")
    grid = [(d, s, seed) for d in datasets for s in synths for seed in range(3 * args.scale)]
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / f"part-{k}" for k in range(1, args.machines + 1)]
        for k, folder in enumerate(folders):
            write_share(folder, grid[k :: args.machines], table)
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        print(f"{len(grid)} jobs in {args.machines} folders, {size / 2**20:,.0f} MiB")
        for attempt in ("into a new folder", "again (nothing new)"):
            t0 = time.perf_counter()
            s = merge(folders, Path(tmp) / "merged", ["bench", "merge"])
            took = time.perf_counter() - t0
            print(f"merge {attempt}: {took:.2f} s ({s.added} added, {s.kept} kept)")


if __name__ == "__main__":
    main()
