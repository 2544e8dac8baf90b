"""The results store: one SQLite file in the output folder.

Each finished job is written in a single transaction (WAL journal), so a run killed at any
moment, even with SIGKILL, leaves a readable database holding every job that finished; the
next run skips those and resumes. Tables are tidy: one row per job, per job × phase and per
job × metric.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from bench.jobs import Job, JobRecord

DB_NAME = "results.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL, finished REAL, status TEXT,
    argv TEXT, preset TEXT, config TEXT, versions TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    run_id INTEGER,
    dataset TEXT, dataset_fingerprint TEXT,
    synthesizer TEXT, target TEXT, params TEXT,
    seed INTEGER, preset TEXT, n_requested INTEGER, n_rows INTEGER,
    status TEXT, error TEXT, traceback TEXT,
    artifact TEXT, log TEXT, returned_dtypes TEXT, versions TEXT,
    started REAL, finished REAL, wall_s REAL, report TEXT
);
CREATE TABLE IF NOT EXISTS phases (
    key TEXT, phase TEXT, status TEXT,
    wall_s REAL, peak_rss_mb REAL, peak_gpu_mb REAL, error TEXT,
    PRIMARY KEY (key, phase)
);
CREATE TABLE IF NOT EXISTS metrics (
    key TEXT, metric TEXT, status TEXT,
    value REAL, aux TEXT, reason TEXT, wall_s REAL, setting TEXT,
    PRIMARY KEY (key, metric)
);
"""


class Store:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        self.folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "report" not in columns:  # a store written before jobs kept reports
            self._db.execute("ALTER TABLE jobs ADD COLUMN report TEXT")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(metrics)")}
        if "setting" not in columns:  # ... or before metrics kept their setting
            self._db.execute("ALTER TABLE metrics ADD COLUMN setting TEXT")

    @classmethod
    def open_existing(cls, folder: str | Path) -> Store:
        from bench.errors import UserError

        if not (Path(folder) / DB_NAME).is_file():
            raise UserError(
                f"no results in '{folder}': run 'bench run --out {folder}' first, or pass "
                "the folder a run printed"
            )
        return cls(folder)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def transaction(self) -> Any:
        """One all-or-nothing write with the raw connection (:mod:`bench.merge`)."""
        return self._tx()

    # -- runs --------------------------------------------------------------------------------

    def start_run(self, argv: list[str], preset: str, config: dict, versions: dict) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO runs (started, status, argv, preset, config, versions) "
                "VALUES (?, 'running', ?, ?, ?, ?)",
                (
                    time.time(),
                    json.dumps(argv),
                    preset,
                    json.dumps(config, default=str),
                    json.dumps(versions),
                ),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, status: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET finished = ?, status = ? WHERE run_id = ?",
                (time.time(), status, run_id),
            )

    # -- jobs --------------------------------------------------------------------------------

    def previous(self, keys: Collection[str]) -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
        """For keys already in the store: (job status, {metric: (status, setting)})."""
        out: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}
        for key, status in self._db.execute("SELECT key, status FROM jobs"):
            if key in keys:
                out[key] = (status, {})
        query = "SELECT key, metric, status, setting FROM metrics"
        for key, metric, status, setting in self._db.execute(query):
            if key in out:
                out[key][1][metric] = (status, setting or "")
        return out

    def mark_running(self, job: Job, run_id: int, fingerprint: str, versions: dict) -> None:
        """Note a job as started (a crash leaves it 'running', which the next run redoes)."""
        if job.resume:
            return
        with self._tx() as db:
            db.execute("DELETE FROM phases WHERE key = ?", (job.key,))
            db.execute("DELETE FROM metrics WHERE key = ?", (job.key,))
            db.execute(
                "INSERT OR REPLACE INTO jobs (key, run_id, dataset, dataset_fingerprint, "
                "synthesizer, target, params, seed, preset, n_requested, status, artifact, log, "
                "versions, started) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                (
                    job.key,
                    run_id,
                    job.dataset,
                    fingerprint,
                    job.synthesizer,
                    job.target,
                    json.dumps(job.params, sort_keys=True, default=str),
                    job.seed,
                    job.preset,
                    job.n_rows,
                    job.artifact,
                    job.log,
                    json.dumps(versions),
                    time.time(),
                ),
            )

    def save(self, rec: JobRecord) -> None:
        """Store a finished job, its phases and its metrics, all or nothing."""
        job = rec.job
        with self._tx() as db:
            if job.resume:
                db.execute("UPDATE jobs SET finished = ? WHERE key = ?", (rec.finished, job.key))
            else:
                db.execute(
                    "UPDATE jobs SET status = ?, error = ?, traceback = ?, n_rows = ?, "
                    "returned_dtypes = ?, report = ?, finished = ?, wall_s = ? WHERE key = ?",
                    (
                        rec.status,
                        rec.error,
                        rec.traceback,
                        rec.n_rows,
                        json.dumps(rec.returned_dtypes) if rec.returned_dtypes else None,
                        json.dumps(rec.report, default=str) if rec.report else None,
                        rec.finished,
                        (rec.finished or time.time()) - rec.started,
                        job.key,
                    ),
                )
            db.executemany(
                "INSERT OR REPLACE INTO phases VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        job.key,
                        name,
                        p.get("status"),
                        p.get("wall_s"),
                        p.get("peak_rss_mb"),
                        p.get("peak_gpu_mb"),
                        p.get("error"),
                    )
                    for name, p in rec.phases.items()
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO metrics (key, metric, status, value, aux, reason, "
                "wall_s, setting) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        job.key,
                        name,
                        m.get("status"),
                        m.get("value"),
                        json.dumps(m.get("aux") or {}, default=str),
                        m.get("reason"),
                        m.get("wall_s"),
                        m.get("setting") or "",
                    )
                    for name, m in rec.metrics.items()
                ],
            )

    # -- reading -----------------------------------------------------------------------------

    def table(self, name: str) -> pd.DataFrame:
        if name not in ("runs", "jobs", "phases", "metrics"):
            raise ValueError(f"no table {name!r}")
        return pd.read_sql_query(f"SELECT * FROM {name}", self._db)

    def results(self) -> pd.DataFrame:
        """Tidy metric values: one row per job × metric, with the job's coordinates."""
        return pd.read_sql_query(
            "SELECT j.dataset, j.synthesizer, j.seed, j.preset, j.status AS job_status, "
            "m.metric, m.status, m.value, m.reason, m.aux, j.key "
            "FROM metrics m JOIN jobs j USING (key) ORDER BY j.dataset, j.synthesizer, j.seed",
            self._db,
        )

    def last_run(self) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT run_id, started, finished, status, argv, preset FROM runs "
            "ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        keys = ("run_id", "started", "finished", "status", "argv", "preset")
        return dict(zip(keys, row, strict=True))
