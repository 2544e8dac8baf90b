"""Paper-style leaderboards built from a results store: one cell per dataset × metric ×
synthesizer, holding every seed's value, the failures and the rank by the metric's goal.

The renderers (:mod:`leaderboards.render`, :mod:`leaderboards.report`) only format what is
decided here, so Markdown, LaTeX, CSV and HTML always agree.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bench.catalog import BUNDLED
from bench.store import Store

#: The paper's column order: registry name -> the paper's spelling.
PAPER_SYNTHESIZERS: dict[str, str] = {
    "original": "Original",
    "harmonic": "HARMONIC",
    "smote": "SMOTE",
    "tvae": "TVAE",
    "ctabgan": "CTAB-GAN",
    "tabddpm": "TabDDPM",
    "tabsyn": "TABSYN",
    "great": "GReaT",
    "realtabformer": "REaLTabFormer",
}
TABLES: dict[str, tuple[str, ...]] = {
    "utility": ("mle", "lle", "mle_catboost"),
    "privacy": ("nrs", "dcr", "dlt"),
    "fidelity": ("dm", "wd", "cs"),
}
TITLES = {
    "utility": "Table 1: utility (machine-learning and LLM efficacy, weighted F1)",
    "privacy": "Table 2: privacy (new rows, distance to closest record, data leakage test)",
    "fidelity": "Fidelity (data mismatch, Wasserstein distance, correlation similarity)",
}
METRIC_LABELS = {
    "mle": "MLE",
    "lle": "LLE",
    "mle_catboost": "MLE-CatBoost",
    "nrs": "NRS",
    "dcr": "DCR",
    "dlt": "DLT",
    "dm": "DM",
    "wd": "WD",
    "cs": "CS",
    "dcr_holdout": "DCR-holdout",
    "invalid_rows": "invalid rows",
}
#: Goals of metrics this version may not have registered yet (DLT, LLE arrive later).
KNOWN_GOALS = {"lle": "maximize", "dlt": "maximize"}
METRIC_VARIANTS = (
    "DCR: mean Euclidean distance of each synthetic row to its closest training row "
    "(numerics standardised on train, categoricals one-hot scaled by 1/sqrt(2), label "
    "included); DCR-p5 and the DCR-holdout share are stored in results.sqlite",
    "WD: geomloss Sinkhorn divergence (p=2, blur=0.05), both tables subsampled (seeded) to "
    "at most 10,000 rows, never zero-padded",
    "NRS: exactly SDMetrics NewRowSynthesis (tolerance 0.01)",
    "MLE: mean weighted F1 of LR, DT, MLP, RF; MLE-CatBoost: tuned once per dataset on "
    "real train/val, evaluator seeds 0, 1, 2",
)


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str
    goal: str  # maximize | minimize | target
    target: float | None = None

    @property
    def arrow(self) -> str:
        if self.goal == "target":
            return f"→{self.target:g}" if self.target is not None else "→"
        return "↑" if self.goal == "maximize" else "↓"


def metric_info(name: str) -> MetricInfo:
    from bench.errors import UserError
    from bench.registry import available, load

    goal, target = KNOWN_GOALS.get(name, "maximize"), None
    if name in available("metrics"):
        try:
            cls = load(available("metrics")[name])
            goal, target = cls.goal, getattr(cls, "target_value", None)
        except UserError:
            pass
    return MetricInfo(name, METRIC_LABELS.get(name, name), goal, target)


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    requested: int = 0
    failures: list[str] = field(default_factory=list)  # one reason per failed run
    not_applicable: str | None = None
    rank: int | None = None  # 1 = best, 2 = second, among the non-reference synthesizers

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (ddof = 1); None for fewer than two runs."""
        return statistics.stdev(self.values) if len(self.values) >= 2 else None

    @property
    def state(self) -> str:
        if self.values:
            return "ok"
        if self.failures:
            return "failed"
        return "na" if self.not_applicable else "missing"


@dataclass
class Leaderboard:
    name: str
    title: str
    datasets: list[str]
    metrics: list[MetricInfo]
    synthesizers: list[tuple[str, str]]  # (registry name, label)
    cells: dict[tuple[str, str, str], Cell]
    absent_metrics: list[str]
    provenance: dict[str, Any]
    footnotes: list[str] = field(default_factory=list)

    def cell(self, dataset: str, metric: str, synth: str) -> Cell:
        return self.cells[(dataset, metric, synth)]

    def footnote(self, reason: str) -> int:
        """The footnote number of ``reason`` (1-based), adding it if new."""
        if reason not in self.footnotes:
            self.footnotes.append(reason)
        return self.footnotes.index(reason) + 1


@dataclass
class Results:
    """What a results folder holds, restricted to one preset and, per dataset × synthesizer,
    to one setting with one job per seed (:func:`current`)."""

    jobs: pd.DataFrame
    metrics: pd.DataFrame
    runs: pd.DataFrame
    preset: str
    folder: str
    left_out: list[str] = field(default_factory=list)  # what :func:`current` set aside
    #: (job key, metric) values computed under an earlier setting (:func:`current_metrics`)
    set_aside: set[tuple[str, str]] = field(default_factory=set)


#: Parameters that say where a job ran, not what it computed: they do not split a setting.
PLACEMENT = ("device",)


def _setting(job: Any) -> str:
    """What makes two jobs of a dataset × synthesizer the same experiment, seed aside."""
    params = {k: v for k, v in json.loads(job.params or "{}").items() if k not in PLACEMENT}
    what = [job.dataset_fingerprint, job.target, params, job.n_requested]
    return json.dumps(what, sort_keys=True, default=str)


def current(jobs: pd.DataFrame, metrics: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One job per dataset × synthesizer × seed, all of one setting: what a cell may average.

    A folder can hold several settings of a synthesizer (a rerun with another ``--param``
    or ``--rows``, an edited data file) and several attempts at one seed (a rerun after a
    package upgrade, or merged folders). Averaging them would pass settings off as seeds. So
    each dataset × synthesizer keeps the setting of its latest job, and each seed its best
    attempt (:func:`bench.jobs.preference`); the returned lines name what was set aside.
    """
    from bench.jobs import FAILED, preference

    if jobs.empty:
        return jobs, []
    computed = metrics[~metrics.status.isin(FAILED)].groupby("key").size()
    labels = dict(_labels(sorted(set(jobs.synthesizer))))
    keep: list[int] = []
    left_out: list[str] = []
    for (dataset, synth), group in jobs.groupby(["dataset", "synthesizer"], sort=False):
        settings = group.apply(_setting, axis=1)
        latest = settings.loc[group.started.fillna(0.0).idxmax()]
        mine = group[settings == latest]
        best = {}
        for idx, job in mine.iterrows():
            rank = preference(job.status, job.finished, int(computed.get(job.key, 0)))
            if job.seed not in best or rank > best[job.seed][0]:
                best[job.seed] = (rank, idx)
        keep += [idx for _, idx in best.values()]
        other, again = len(group) - len(mine), len(mine) - len(best)
        label = labels.get(synth, synth)
        if other:
            left_out.append(f"{dataset} × {label}: {_count(other, 'job')} of an earlier setting")
        if again:
            left_out.append(f"{dataset} × {label}: {_count(again, 'other attempt')} at its seeds")
    return jobs.loc[sorted(keep)], left_out


def current_metrics(
    jobs: pd.DataFrame, metrics: pd.DataFrame
) -> tuple[set[tuple[str, str]], list[str]]:
    """Values of a cell computed under another setting than its latest job's, set aside.

    A metric's setting (LLE's preset and backbone) is stored with its value; a run with
    another ``--llm`` recomputes LLE for its own jobs only, so a cell could otherwise average
    two backbones' LLE as if they were seeds.
    """
    ran = metrics[metrics.setting.fillna("") != ""].merge(
        jobs[["key", "dataset", "synthesizer", "started"]], on="key"
    )
    labels = dict(_labels(sorted(set(jobs.synthesizer))))
    aside: set[tuple[str, str]] = set()
    lines: list[str] = []
    for (dataset, synth, metric), group in ran.groupby(["dataset", "synthesizer", "metric"]):
        latest = group.setting.loc[group.started.fillna(0.0).idxmax()]
        other = group[group.setting != latest]
        if other.empty:
            continue
        aside |= {(k, metric) for k in other.key}
        label, name = labels.get(synth, synth), METRIC_LABELS.get(metric, metric)
        lines.append(
            f"{dataset} × {label}: {name} of {_count(len(other), 'seed')} computed "
            f"under another setting ({', '.join(sorted(set(other.setting)))})"
        )
    return aside, lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def load_results(folder: str, preset: str | None = None) -> Results:
    from bench.errors import UserError

    store = Store.open_existing(folder)
    try:
        jobs, metrics, runs = store.table("jobs"), store.table("metrics"), store.table("runs")
    finally:
        store.close()
    jobs = jobs[jobs.status != "running"]
    if jobs.empty:
        raise UserError(f"no finished jobs in '{folder}': run 'bench run --out {folder}' first")
    if preset is None:
        preset = str(runs.sort_values("run_id").preset.iloc[-1]) if len(runs) else "quick"
        if preset not in set(jobs.preset):
            preset = str(jobs.preset.iloc[-1])
    elif preset not in set(jobs.preset):
        raise UserError(
            f"no jobs with preset '{preset}' in '{folder}': it holds {sorted(set(jobs.preset))}"
        )
    jobs, left_out = current(jobs[jobs.preset == preset], metrics)
    metrics = metrics[metrics.key.isin(jobs.key)]
    aside, more = current_metrics(jobs, metrics)
    return Results(jobs, metrics, runs, preset, folder, left_out + more, aside)


def _labels(names: list[str]) -> list[tuple[str, str]]:
    """Synthesizers in the paper's order, then any other, with their display labels."""
    from bench.registry import available, load

    known = available("synthesizers")
    out = [(n, label) for n, label in PAPER_SYNTHESIZERS.items() if n in names]
    for n in sorted(set(names) - set(PAPER_SYNTHESIZERS)):
        label = n
        if n in known:
            try:
                label = getattr(load(known[n]), "label", "") or n
            except Exception:  # an uninstalled plug-in keeps its registry name
                label = n
        out.append((n, label))
    return out


def _datasets(names: list[str]) -> list[str]:
    return [d for d in BUNDLED if d in names] + sorted(set(names) - set(BUNDLED))


def _job_failure(job: pd.Series) -> str:
    error = str(job.error or "").strip().splitlines()[0] if job.error else ""
    return f"{job.status}: {error[:160]}" if error else str(job.status)


def requested_metrics(results: Results) -> set[str]:
    """The metrics the runs behind these jobs asked for. A job that failed before its metrics
    stores none, yet its columns must show the failure, not call the metric absent."""
    from bench.errors import UserError
    from bench.registry import available, resolve

    ids = set(results.jobs.run_id.dropna())
    out: set[str] = set()
    for run in results.runs[results.runs.run_id.isin(ids)].itertuples():
        config = json.loads(run.config or "{}")
        if "metrics" not in config:  # a merge's own row, or a store from before configs
            continue
        names = config["metrics"]
        if names is None:  # the default: every registered metric
            out |= set(available("metrics"))
            continue
        for name in names:
            with contextlib.suppress(UserError):  # a plug-in since uninstalled
                out.add(resolve("metrics", name)[0])
    return out


def build(results: Results, table: str) -> Leaderboard:
    """The leaderboard ``table`` (utility / privacy / fidelity) of ``results``."""
    jobs, metrics = results.jobs, results.metrics
    shown = set(metrics.metric) | requested_metrics(results)
    present = [m for m in TABLES[table] if m in shown]
    absent = [m for m in TABLES[table] if m not in present]
    synths = _labels(sorted(set(jobs.synthesizer)))
    datasets = _datasets(sorted(set(jobs.dataset)))
    lb = Leaderboard(
        name=table,
        title=TITLES[table],
        datasets=datasets,
        metrics=[metric_info(m) for m in present],
        synthesizers=synths,
        cells={},
        absent_metrics=absent,
        provenance=provenance(results),
    )
    by_key = metrics.set_index(["key", "metric"])
    seeds = len(set(jobs.seed))  # the caption's seeds: a cell with fewer shows (n=1/3)
    for dataset in datasets:
        for synth, _ in synths:
            group = jobs[(jobs.dataset == dataset) & (jobs.synthesizer == synth)]
            for info in lb.metrics:
                cell = Cell(requested=seeds)
                for job in group.itertuples():
                    if (job.key, info.name) in results.set_aside:
                        continue  # named in the caption's "left out" line
                    if (job.key, info.name) not in by_key.index:
                        cell.failures.append(
                            _job_failure(job) if job.status != "ok" else "not computed"
                        )
                        continue
                    m = by_key.loc[(job.key, info.name)]
                    if m.status == "ok" and m.value is not None and math.isfinite(m.value):
                        cell.values.append(float(m.value))
                    elif m.status == "n/a":
                        cell.not_applicable = str(m.reason)
                    else:
                        cell.failures.append(f"{m.status}: {m.reason or 'no value'}")
                lb.cells[(dataset, info.name, synth)] = cell
        for info in lb.metrics:
            _rank(lb, dataset, info)
    return lb


def _rank(lb: Leaderboard, dataset: str, info: MetricInfo) -> None:
    """Best = 1, second = 2 by the metric's goal; the real-data reference is not ranked.

    Competition ranking: a cell's rank is one more than the number of cells strictly better,
    so after a tie for best nothing is second (seven tied at NRS 1.00 are all bold, and the
    eighth is not underlined as if it came second).
    """
    scored = []
    for synth, _ in lb.synthesizers:
        cell = lb.cell(dataset, info.name, synth)
        if synth == "original" or cell.mean is None:
            continue
        if info.goal == "maximize":
            key = -cell.mean
        elif info.goal == "minimize":
            key = cell.mean
        else:
            key = abs(cell.mean - (info.target or 0.0))
        scored.append((round(key, 12), cell))
    for key, cell in scored:
        position = 1 + sum(other < key for other, _ in scored)
        cell.rank = position if position <= 2 else None


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def overrides(jobs: pd.DataFrame, preset: str, runs: pd.DataFrame) -> dict[str, list[str]]:
    """Per synthesizer label, the parameters its jobs ran with that differ from the preset's
    (``--param``, a config file's ``[params]``) and the rows asked for with ``--rows``: a
    caption that names a preset must also say where a run left it. The backbone has a line
    of its own; the device is no setting."""
    from bench.registry import load

    labels = dict(_labels(sorted(set(jobs.synthesizer))))
    out: dict[str, list[str]] = {}
    rows = {run.run_id: json.loads(run.config or "{}").get("rows") for run in runs.itertuples()}
    for job in jobs.itertuples():
        if rows.get(job.run_id):  # --rows: as many rows generated as asked, not the train size
            items = out.setdefault(labels.get(job.synthesizer, job.synthesizer), [])
            if f"rows={job.n_requested}" not in items:
                items.append(f"rows={job.n_requested}")
    for (synth, target, params), _ in jobs.groupby(["synthesizer", "target", "params"]):
        try:
            cls = load(target)
        except Exception:  # an uninstalled plug-in: nothing to compare with
            continue
        reference = dict(cls.presets.get(preset, {}))
        with contextlib.suppress(Exception):  # one that needs an argument: its preset alone
            reference = cls(**reference).get_params()
        items = out.setdefault(labels.get(synth, synth), [])
        for k, v in sorted(json.loads(params or "{}").items()):
            if k in ("llm", *PLACEMENT) or (k in reference and _same(v, reference[k])):
                continue
            item = f"{k}={v if isinstance(v, str) else json.dumps(v)}"
            if item not in items:
                items.append(item)
    return {label: items for label, items in out.items() if items}


def backbones(results: Results) -> str:
    """The LLMs behind the numbers: the LLM-based synthesizers' and the one LLE fine-tuned."""
    synth = set()
    for params in results.jobs.params:
        p = json.loads(params or "{}")
        if p.get("llm"):
            synth.add(str(p["llm"]))
    lle = set()
    used = results.metrics[results.metrics.status == "ok"]
    for key, metric, setting in zip(used.key, used.metric, used.setting.fillna(""), strict=True):
        if metric == "lle" and setting and (key, metric) not in results.set_aside:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                lle.add(str(json.loads(setting)["llm"]))
    if not synth and not lle:
        return "none (no LLM-based synthesizer or LLE in these results)"
    if not lle or lle == synth:
        return ", ".join(sorted(synth | lle))
    named = f"LLE: {', '.join(sorted(lle))}"
    return (
        f"{', '.join(sorted(synth))}; {named}" if synth else f"{named} (no LLM-based synthesizer)"
    )


def provenance(results: Results) -> dict[str, Any]:
    """What a reader must know before trusting a number: preset, backbone, seeds, versions."""
    jobs, runs = results.jobs, results.runs
    versions: dict[str, list[str]] = {}
    for v in [*runs.sort_values("run_id").versions.dropna(), *jobs.versions.dropna()]:
        for package, number in json.loads(v).items():
            if str(number) not in versions.setdefault(package, []):
                versions[package].append(str(number))  # jobs made with two versions name both
    commands = [" ".join(json.loads(a)) for a in runs.sort_values("run_id").argv]
    return {
        "preset": results.preset,
        "llm_backbone": backbones(results),
        "seeds": sorted(int(s) for s in set(jobs.seed)),
        "std": "sample standard deviation over seeds (ddof = 1)",
        "overrides": overrides(jobs, results.preset, runs),
        "left_out": list(results.left_out),
        "metric_variants": list(METRIC_VARIANTS),
        "versions": {k: ", ".join(v) for k, v in sorted(versions.items())},
        "commands": list(dict.fromkeys(commands)),
        "results": results.folder,
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
