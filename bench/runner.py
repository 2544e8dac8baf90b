"""The runner: expand datasets × synthesizers × seeds into jobs, skip what is done, run the
rest on an executor, store every finished job as soon as it finishes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench import __version__
from bench.config import AUTO, RunConfig
from bench.cores import auto_workers
from bench.datasets import Dataset, load_bundled, load_user
from bench.errors import UserError
from bench.executor import Executor, LocalExecutor
from bench.jobs import FAILED, Job, JobRecord, job_key
from bench.lock import hold
from bench.registry import available, load, resolve
from bench.store import Store
from bench.synthesizer import SupportsPerplexity, Synthesizer
from bench.tables import write_parquet

CORE_PACKAGES = ("numpy", "pandas", "scikit-learn", "pyarrow")
#: what the metrics compute with: recorded per run, shown in every leaderboard's caption
METRIC_PACKAGES = ("sdmetrics", "torch", "geomloss", "catboost", "scipy")


def env_pins(cls: type[Synthesizer]) -> str:
    """What an isolated synthesizer's environment is built from (the job key includes it)."""
    from bench.envs import install_list

    return " ".join(install_list(cls.requirements))


#: the harness's packages whose code makes the numbers (leaderboards only renders them)
CODE_PACKAGES = ("bench", "adapters", "harmonic")


@functools.cache
def source_fingerprint(roots: tuple[Path, ...] | None = None) -> str:
    """12 hex digits of SHA-256 over the harness's Python sources (path and bytes of each).

    The version number does not change with every commit, and a folder may hold jobs run
    before and after an upgrade; with the fingerprint in the recorded version, a leaderboard
    lists both versions instead of passing the mix for one. It stays out of job keys: an
    upgrade does not throw away finished jobs (``--force`` reruns them).
    """
    if roots is None:
        roots = tuple(Path(importlib.util.find_spec(p).origin).parent for p in CODE_PACKAGES)
    h = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" not in path.parts:
                rel = f"{root.name}/{path.relative_to(root).as_posix()}"
                h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def recorded(versions: dict[str, str]) -> dict[str, str]:
    """``versions`` as stored with a job or run: the harness's with its code fingerprint."""
    return {**versions, "harmonic-bench": f"{__version__}+src.{source_fingerprint()}"}


def package_versions(names: tuple[str, ...] = ()) -> dict[str, str]:
    """The versions a job key depends on (see :func:`recorded` for what is stored)."""
    out = {"python": platform.python_version(), "harmonic-bench": __version__}
    for name in (*CORE_PACKAGES, *names):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass
class SynthSpec:
    name: str
    target: str
    cls: type[Synthesizer]
    params: dict[str, Any]


@dataclass
class RunSummary:
    out: Path
    planned: int
    skipped: int
    workers: int = 1  # jobs at once
    records: list[JobRecord] = field(default_factory=list)

    @property
    def failed(self) -> list[JobRecord]:
        return [r for r in self.records if r.status in FAILED]


def load_datasets(cfg: RunConfig) -> list[Dataset]:
    out = []
    for name in cfg.datasets:
        out.append(load_user(cfg.user_data[name]) if name in cfg.user_data else load_bundled(name))
    return out


def resolve_synthesizers(cfg: RunConfig) -> list[SynthSpec]:
    """Names -> classes with validated parameters (preset values, then the user's)."""
    if cfg.synthesizers is None:
        names = [n for n, t in available("synthesizers").items() if load(t).default_grid]
    else:
        names = cfg.synthesizers
    specs = []
    for given in names:
        name, target = resolve("synthesizers", given)
        cls = load(target)
        if not (isinstance(cls, type) and issubclass(cls, Synthesizer)):
            raise UserError(f"'{target}' is not a bench.synthesizer.Synthesizer subclass")
        shared = {"llm": cfg.llm, "device": cfg.device}
        shared = {k: v for k, v in shared.items() if v is not None and k in cls.param_names()}
        params = {**cls.presets.get(cfg.preset, {}), **shared, **cfg.params.get(name, {})}
        unknown = set(params) - set(cls.param_names())
        if unknown:
            raise UserError(
                f"synthesizer '{name}' has no parameter {sorted(unknown)}: "
                f"its parameters are {cls.param_names()}"
            )
        try:
            cls(**params)
        except (TypeError, ValueError) as exc:
            raise UserError(f"synthesizer '{name}': {exc}") from exc
        specs.append(SynthSpec(name, target, cls, params))
    unknown_params = set(cfg.params) - {s.name for s in specs}
    if unknown_params:
        raise UserError(
            f"parameters given for {sorted(unknown_params)}, which are not in this run: "
            "add them to --synthesizers or drop the parameters"
        )
    return specs


def resolve_metrics(cfg: RunConfig) -> list[tuple[str, str]]:
    names = list(available("metrics")) if cfg.metrics is None else cfg.metrics
    return [resolve("metrics", n) for n in names]


def handoff_dir(out: Path, ds: Dataset) -> Path:
    """Write a dataset's splits once, as Parquet, for the job processes to read."""
    folder = out / "data" / f"{ds.name}-{ds.fingerprint[:12]}"
    marker = folder / "schema.json"
    if not marker.exists():
        for split in ("train", "val", "test"):
            write_parquet(ds.split(split), folder / f"{split}.parquet")
        marker.write_text(ds.schema.to_json(), encoding="utf-8")
    return folder


def job_paths(out: Path, dataset: str, synthesizer: str, seed: int, key: str) -> tuple[str, str]:
    """Where a job's synthetic table and log live in a results folder (its artifact, its log)."""
    stem = f"{dataset}/{synthesizer}/seed{seed}-{key[:12]}"
    return str(out / "artifacts" / f"{stem}.parquet"), str(out / "logs" / f"{stem}.log")


def plan(cfg: RunConfig) -> tuple[list[Job], dict[str, tuple[str, dict[str, str]]]]:
    """All jobs of the grid, and per key the dataset fingerprint and package versions."""
    out = Path(cfg.out).resolve()
    datasets = load_datasets(cfg)
    synths = resolve_synthesizers(cfg)
    metrics = tuple(resolve_metrics(cfg))
    jobs: list[Job] = []
    info: dict[str, tuple[str, dict[str, str]]] = {}
    for ds in datasets:
        data_dir = handoff_dir(out, ds)
        n_rows = cfg.rows or len(ds.train)
        for spec in synths:
            versions = package_versions(spec.cls.packages)
            if spec.cls.requirements:  # its packages live in its own env: record the pins
                versions = {**package_versions(), f"{spec.name} env": env_pins(spec.cls)}
            for seed in cfg.seeds:
                extra = spec.cls(**spec.params).fingerprint(ds.name, seed)
                key = job_key(
                    ds.fingerprint,
                    spec.name,
                    spec.target,
                    spec.params,
                    seed,
                    n_rows,
                    versions,
                    extra,
                )
                artifact, log = job_paths(out, ds.name, spec.name, seed, key)
                jobs.append(
                    Job(
                        key=key,
                        dataset=ds.name,
                        data_dir=str(data_dir),
                        synthesizer=spec.name,
                        target=spec.target,
                        params=spec.params,
                        seed=seed,
                        n_rows=n_rows,
                        preset=cfg.preset,
                        metrics=metrics,
                        limits=dict(cfg.limits),
                        artifact=artifact,
                        log=log,
                        memory_limit_mb=cfg.memory_limit_mb,
                        is_reference=spec.cls.is_reference,
                        llm=cfg.llm,
                        device=cfg.device,
                    )
                )
                info[key] = (ds.fingerprint, recorded(versions))
    return jobs, info


def select(jobs: list[Job], store: Store, cfg: RunConfig) -> list[Job]:
    """Drop finished jobs; finished jobs lacking some metrics only compute those.

    ``--retry-failed`` reruns failed jobs and recomputes metrics that failed or timed out.
    """
    if cfg.force:
        return jobs
    previous = store.previous({j.key for j in jobs})
    # a metric stored under another setting (LLE with another --llm or preset) is redone
    setting = {
        name: load(target)().setting(cfg.preset, cfg.llm)
        for name, target in {m for job in jobs for m in job.metrics}
    }

    def stale(name: str, have: dict[str, tuple[str, str]]) -> bool:
        if name not in have:
            return True
        status, stored = have[name]
        return stored != setting[name] or (cfg.retry_failed and status in FAILED)

    todo = []
    for job in jobs:
        if job.key not in previous:
            todo.append(job)
            continue
        status, have = previous[job.key]
        if status == "ok":
            missing = tuple(m for m in job.metrics if stale(m[0], have))
            if missing and Path(job.artifact).exists():
                todo.append(Job.from_dict({**job.to_dict(), "metrics": missing, "resume": True}))
            elif missing:
                todo.append(job)
        elif status in FAILED:
            if cfg.retry_failed:
                todo.append(job)
        else:  # 'running': the run that owned it died; start again
            todo.append(job)
    return todo


def jobs_at_once(cfg: RunConfig, jobs: int) -> int:
    """The run's ``workers`` as a number: ``auto`` resolved for ``jobs`` jobs on this machine."""
    return auto_workers(jobs) if cfg.workers == AUTO else int(cfg.workers)


def longest_first(jobs: list[Job]) -> list[Job]:
    """The jobs in an order that ends a parallel grid sooner: the likely longest first, so
    the short ones fill the other cores at the end instead of one long job running alone.

    What is known before running: LLM-based synthesizers (they fine-tune and then sample a
    language model) take longest, then more rows take longer; ties keep the grid's order.
    """

    def cost(job: Job) -> tuple[bool, int]:
        return (not issubclass(load(job.target), SupportsPerplexity), -job.n_rows)

    return sorted(jobs, key=cost)


def share(jobs: list[Job], shard: tuple[int, int] | None) -> list[Job]:
    """This machine's part of a grid split over ``n`` machines (``shard`` = (k, n), k from 1).

    Every machine plans the same whole grid, orders it longest first and takes every n-th job
    from the k-th on: the parts are disjoint, cover the grid, differ by at most one job, and
    each gets its turn of the long LLM-based jobs. The grid's order is kept within a part.
    """
    if shard is None:
        return jobs
    k, n = shard
    mine = {job.key for job in longest_first(jobs)[k - 1 :: n]}
    return [job for job in jobs if job.key in mine]


def failure_notes(rec: JobRecord, tracebacks: dict[str, str]) -> str:
    """Why a job or its metrics failed, with the tracebacks, as lines for the job's log: a
    synthesizer rarely prints its own error, and a job killed for time or memory cannot."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    notes = []
    if rec.status in FAILED:
        failed = [p for p, v in rec.phases.items() if v.get("status") == rec.status]
        phase = next((p for p in failed if not p.startswith("metric:")), "startup")
        notes.append((f"job {rec.status} in phase {phase}: {rec.error}", tracebacks.get(phase)))
    for name, m in rec.metrics.items():
        if m.get("status") in FAILED:
            why = f"metric {name} {m['status']}: {m.get('reason')}"
            notes.append((why, tracebacks.get(f"metric:{name}")))
    return "".join(f"[bench {stamp}] {why}\n{tb or ''}" for why, tb in notes)


def log_failures(rec: JobRecord, tracebacks: dict[str, str]) -> None:
    """Append :func:`failure_notes` to the job's log (never stops the grid)."""
    text = failure_notes(rec, tracebacks)
    if not text:
        return
    with contextlib.suppress(OSError):
        log = Path(rec.job.log)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as f:
            f.write(text)


def run(
    cfg: RunConfig,
    progress: Any,
    argv: list[str] | None = None,
    executor: Executor | None = None,
) -> RunSummary:
    """Plan and run ``cfg``'s grid, holding its folder (:func:`bench.lock.hold`) throughout:
    a second run into a folder in use is refused before it writes anything there."""
    out = Path(cfg.out).resolve()
    argv = argv or sys.argv
    with contextlib.ExitStack() as held:
        existed = out.is_dir()
        if existed:
            held.enter_context(hold(out, argv))
        jobs, info = plan(cfg)  # a new folder is made only once every name and file checks out
        if not existed:
            held.enter_context(hold(out, argv))
        return _run_held(cfg, progress, argv, executor, share(jobs, cfg.shard), info)


def _run_held(
    cfg: RunConfig,
    progress: Any,
    argv: list[str],
    executor: Executor | None,
    jobs: list[Job],
    info: dict[str, tuple[str, dict[str, str]]],
) -> RunSummary:
    out = Path(cfg.out).resolve()
    store = Store(out)
    todo = select(jobs, store, cfg)
    workers = jobs_at_once(cfg, len(todo))
    if workers > 1:
        todo = longest_first(todo)
    summary = RunSummary(out, planned=len(jobs), skipped=len(jobs) - len(todo), workers=workers)
    versions = recorded(package_versions(METRIC_PACKAGES))
    run_id = store.start_run(argv, cfg.preset, cfg.to_dict(), versions)
    executor = executor or LocalExecutor(workers)
    progress.start(summary, todo)
    tracebacks: dict[str, dict[str, str]] = {}  # per job key, per failed phase

    def on_event(job: Job, event: dict[str, Any]) -> None:
        if event["event"] == "job_start":
            store.mark_running(job, run_id, *info[job.key])
        elif event["event"] == "phase_end" and event.get("traceback"):
            tracebacks.setdefault(job.key, {})[event["phase"]] = event["traceback"]
        progress.event(job, event)

    status = "interrupted"
    try:
        for record in executor.run(todo, on_event):
            store.save(record)
            log_failures(record, tracebacks.pop(record.job.key, {}))
            summary.records.append(record)
        status = "finished"
    finally:
        store.finish_run(run_id, status)
        store.close()
        progress.close()
    (out / "last_run.json").write_text(
        json.dumps(
            {
                "run_id": run_id,
                "planned": summary.planned,
                "skipped": summary.skipped,
                "ran": len(summary.records),
                "failed": len(summary.failed),
            }
        )
        + "\n",
        encoding="utf-8",
    )
    return summary
