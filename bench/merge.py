"""Join results folders into one: the shares of a grid run on several machines (``bench run
--shard K/N``), or runs made apart that belong in one leaderboard.

A job's key is the hash of everything that makes its table, so one key in two folders is one
job. When both hold it, the better attempt wins whole, with its phases, metrics, table and
log (:func:`bench.jobs.preference`: finished over failed over unfinished, then more metrics,
then the later one); attempts are never mixed. Tables and logs are copied to where ``bench run
--out DEST`` would put them, so a later run there skips these jobs and computes only what is
missing. The sources are only read; merging the same folder twice changes no job.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.jobs import FAILED, preference
from bench.lock import hold
from bench.runner import job_paths
from bench.store import DB_NAME, Store


@dataclass
class MergeSummary:
    dest: Path
    added: int = 0  # jobs new to DEST
    replaced: int = 0  # jobs whose attempt in DEST lost to a source's
    kept: int = 0  # jobs whose attempt in DEST was as good or better
    missing_files: list[str] = field(default_factory=list)  # tables a finished job lacks


def _rows(db: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    cur = db.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def _read(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """All four tables of a results folder, opened read-only (an older store's missing
    columns read as None)."""
    if not (folder / DB_NAME).is_file():
        raise UserError(f"no results in '{folder}': pass folders that 'bench run --out' wrote")
    db = sqlite3.connect(f"file:{folder / DB_NAME}?mode=ro", uri=True, timeout=60)
    try:
        return {t: _rows(db, t) for t in ("runs", "jobs", "phases", "metrics")}
    except sqlite3.Error as exc:
        raise UserError(f"cannot read '{folder / DB_NAME}': {exc}") from exc
    finally:
        db.close()


def _computed(metrics: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in metrics:
        if m["status"] not in FAILED:
            out[m["key"]] = out.get(m["key"], 0) + 1
    return out


def _insert(db: sqlite3.Connection, table: str, row: dict[str, Any]) -> int:
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    cur = db.execute(
        f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({marks})", tuple(row.values())
    )
    return int(cur.lastrowid or 0)


def _copy(src: Path, dst: Path) -> bool:
    if not src.is_file():
        return False
    if src.resolve() != dst.resolve():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    return True


def merge(sources: Sequence[str | Path], dest: str | Path, argv: list[str]) -> MergeSummary:
    """Copy every job of ``sources`` into ``dest`` where it beats what ``dest`` holds."""
    out = Path(dest).resolve()
    folders = [Path(s).resolve() for s in sources]
    for i, folder in enumerate(folders):
        if folder == out:
            raise UserError(f"'{sources[i]}' is the destination: give another --out")
        if folder in folders[:i]:
            raise UserError(f"'{sources[i]}' is given twice")
    tables = [_read(f) for f in folders]  # every source readable before anything is written
    with hold(out, argv):  # no run (or other merge) may write DEST meanwhile
        return _merge_into(out, folders, tables, argv)


def _merge_into(
    out: Path, folders: list[Path], tables: list[dict[str, list[dict[str, Any]]]], argv: list[str]
) -> MergeSummary:
    """Write every source's better jobs into ``out`` in one transaction."""
    summary = MergeSummary(out)
    store = Store(out)
    try:
        with store.transaction() as db:
            held = {r["key"]: r for r in _rows(db, "jobs")}  # DEST's jobs, kept up to date
            ours = _computed(_rows(db, "metrics"))
            for folder, src in zip(folders, tables, strict=True):
                _merge_one(db, folder, src, out, held, ours, summary)
            runs = [r for t in tables for r in t["runs"]]
            newest = max(runs, key=lambda r: r["started"] or 0, default={"preset": None})
            db.execute(
                "INSERT INTO runs (started, finished, status, argv, preset, config) "
                "VALUES (?, ?, 'merged', ?, ?, ?)",
                (
                    time.time(),
                    time.time(),
                    json.dumps(argv),
                    newest["preset"],
                    json.dumps({"merged": [str(f) for f in folders]}),
                ),
            )
    finally:
        store.close()
    return summary


def _merge_one(
    db: sqlite3.Connection,
    folder: Path,
    src: dict[str, list[dict[str, Any]]],
    out: Path,
    held: dict[str, dict[str, Any]],
    ours: dict[str, int],
    summary: MergeSummary,
) -> None:
    """Merge one source into DEST; ``held`` and ``ours`` (DEST's jobs and their computed
    metrics) follow every job it replaces."""
    run_ids: dict[int, int] = {}
    for run in src["runs"]:
        same = db.execute(
            "SELECT run_id FROM runs WHERE started IS ? AND argv IS ?",
            (run["started"], run["argv"]),
        ).fetchone()
        if same:
            run_ids[run["run_id"]] = same[0]
            continue
        row = {k: v for k, v in run.items() if k != "run_id"}
        run_ids[run["run_id"]] = _insert(db, "runs", row)

    by_key: dict[str, dict[str, list[dict[str, Any]]]] = {"phases": {}, "metrics": {}}
    for table, index in by_key.items():
        for r in src[table]:
            index.setdefault(r["key"], []).append(r)
    theirs = _computed(src["metrics"])
    for job in src["jobs"]:
        key = job["key"]
        if key in held:
            mine = held[key]
            old = preference(mine["status"], mine["finished"], ours.get(key, 0))
            if preference(job["status"], job["finished"], theirs.get(key, 0)) <= old:
                summary.kept += 1
                continue
            summary.replaced += 1
        else:
            summary.added += 1
        artifact, log = job_paths(out, job["dataset"], job["synthesizer"], job["seed"], key)
        src_artifact, src_log = job_paths(
            folder, job["dataset"], job["synthesizer"], job["seed"], key
        )
        if not Path(src_artifact).is_file() and job["artifact"]:  # a folder laid out otherwise
            src_artifact, src_log = job["artifact"], job["log"] or src_log
        if not _copy(Path(src_artifact), Path(artifact)) and job["status"] == "ok":
            summary.missing_files.append(src_artifact)
        _copy(Path(src_log), Path(log))
        db.execute("DELETE FROM phases WHERE key = ?", (key,))
        db.execute("DELETE FROM metrics WHERE key = ?", (key,))
        row = {**job, "artifact": artifact, "log": log, "run_id": run_ids.get(job["run_id"])}
        _insert(db, "jobs", row)
        for table in ("phases", "metrics"):
            for r in by_key[table].get(key, []):
                _insert(db, table, r)
        held[key] = row
        ours[key] = theirs.get(key, 0)
