"""Run configuration: preset defaults, then a TOML file, then command-line flags.

A config file holds any of these keys (all optional)::

    preset = "quick"                    # or "paper"
    datasets = ["german", "churn"]      # bundled names and names defined under [data.*]
    synthesizers = ["original", "smote"]
    seeds = [1234, 1235, 1236]
    rows = 1000                         # rows to generate; default: size of the train split
    metrics = ["dm"]
    workers = "auto"                    # jobs at once here: a number, or "auto" (one a core)
    llm = "tiny"                        # LLM backbone: tiny (offline), a hub id or a path
    device = "auto"                     # auto | cpu | cuda
    memory_limit = "8GiB"               # per job; over it the job is killed and marked oom
    out = "bench-results"
    shard = "2/8"                       # this machine's share of a grid split over 8 (README)

    [limits]                            # seconds per phase (fit, generate, metric, io, lle)
    fit = 3600                          # "none": no limit
    lle = 900                           # the LLE metric (its own phase kind: it trains an LLM)

    [params.smote]                      # constructor parameters, over the preset's
    k_neighbors = 5

    [data.churn]                        # a user dataset
    path = "churn.csv"                  # CSV or Parquet; relative to this file
    target = "churned"
    test = "churn_test.csv"             # optional; otherwise a seeded 7:1:2 split
    description = "telecom customers"
    [data.churn.columns]                # override inferred column kinds
    zip_code = "categorical"
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.catalog import BUNDLED
from bench.checks import parse_seed, unique
from bench.datasets import UserDataSpec
from bench.errors import UserError
from bench.toml import read_toml

PAPER_SEEDS = (1234, 1235, 1236)
DEFAULT_OUT = "bench-results"
#: ``workers = "auto"``: one job per usable core, within memory (:func:`bench.cores.auto_workers`)
AUTO = "auto"

PRESETS: dict[str, dict[str, Any]] = {
    # a laptop-sized run: two small datasets, one seed, each synthesizer's quick settings,
    # as many jobs at once as there are cores (most quick fits and metrics use one thread)
    "quick": {
        "datasets": ["german", "diabetes"],
        "seeds": [PAPER_SEEDS[0]],
        "workers": AUTO,
        "limits": {"fit": 1800, "generate": 900, "metric": 900, "io": 300, "lle": 900},
    },
    # the paper's grid: all four datasets, three seeds, each synthesizer's published settings,
    # one job at a time (a 7B model fills a GPU)
    "paper": {
        "datasets": list(BUNDLED),
        "seeds": list(PAPER_SEEDS),
        "workers": 1,
        "limits": {
            "fit": 48 * 3600,
            "generate": 12 * 3600,
            "metric": 12 * 3600,
            "io": 3600,
            "lle": 12 * 3600,
        },
    },
}
#: ``lle`` is the limit of the phase ``metric:lle`` (fine-tuning an LLM is the most expensive
#: metric by far); every other ``metric:<name>`` phase falls under ``metric``
PHASE_KINDS = ("env", "fit", "generate", "metric", "lle", "io")


@dataclass
class RunConfig:
    preset: str = "quick"
    datasets: list[str] = field(default_factory=list)
    user_data: dict[str, UserDataSpec] = field(default_factory=dict)
    synthesizers: list[str] | None = None  # None: every registered one in the default grid
    seeds: list[int] = field(default_factory=list)
    rows: int | None = None
    metrics: list[str] | None = None  # None: every registered metric
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    limits: dict[str, float | None] = field(default_factory=dict)
    memory_limit_mb: float | None = None
    workers: int | str = 1  # a number, or AUTO
    llm: str | None = None  # backbone of every LLM-based synthesizer in the run
    device: str | None = None  # auto | cpu | cuda, for synthesizers that take one
    out: str = DEFAULT_OUT
    force: bool = False
    retry_failed: bool = False
    shard: tuple[int, int] | None = None  # (k, n): run the k-th of n shares of the grid

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["user_data"] = {k: vars(v) for k, v in self.user_data.items()}
        return d


def parse_size_mb(text: str | float | int) -> float:
    """'8GiB', '512M', '1.5 GB' or a number of MiB -> MiB, above zero (a job over the limit
    is killed, so 0 would kill every job)."""
    number = r"(\d+(?:\.\d*)?|\.\d+)"
    m = re.fullmatch(rf"\s*{number}\s*([KMGT]?)(i?B)?\s*", str(text), re.IGNORECASE)
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        mb = float(text)
    elif m:
        scale = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}[m.group(2).upper()]
        mb = float(m.group(1)) * scale
    else:
        mb = math.nan
    if not (math.isfinite(mb) and mb > 0):
        raise UserError(f"memory size {text!r} is not a size above zero: write e.g. 8GiB or 512MiB")
    return mb


#: a limit that means "no limit" (``--limit fit=none``; in a config ``fit = "none"``)
NO_LIMIT = "none"


def parse_limit(kind: str, value: Any) -> float | None:
    """Seconds for a phase kind: a positive finite number, or "none" for no limit. Zero,
    negative, nan and inf are refused: each would end (or never end) every job."""
    if value is None or (isinstance(value, str) and value.strip().lower() == NO_LIMIT):
        return None
    secs = value
    if isinstance(value, str):
        try:
            secs = float(value)
        except ValueError:
            secs = math.nan
    if isinstance(secs, bool) or not isinstance(secs, (int, float)):
        secs = math.nan
    if not (math.isfinite(secs) and secs > 0):
        raise UserError(
            f"time limit {kind}={value!r} is not a number of seconds above zero: write e.g. "
            f"--limit {kind}=600 (in a config, {kind} = 600 under [limits]), or {kind}=none"
        )
    return float(secs)


def parse_workers(value: Any) -> int | str:
    """``workers``: a positive integer, or "auto" (one job per core)."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    try:
        workers = int(value)
    except (TypeError, ValueError):
        workers = 0
    if isinstance(value, bool) or workers < 1 or str(value).strip() != str(workers):
        raise UserError(f"workers must be a positive integer or 'auto', got {value!r}")
    return workers


def parse_shard(value: Any) -> tuple[int, int] | None:
    """``shard``: "K/N" with 1 <= K <= N, this machine's share of a grid split over N."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(value))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UserError(
            f"shard must be K/N with 1 <= K <= N (this machine's share of N), got {value!r}: "
            "e.g. --shard 2/8, or --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT"
        )
    return int(m.group(1)), int(m.group(2))


LIST_EXAMPLES = {
    "seeds": "[1234, 1235]",
    "datasets": '["german", "diabetes"]',
    "synthesizers": '["original", "smote"]',
    "metrics": '["dm", "wd"]',
}


def _list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise UserError(
            f"config key '{key}' must be a list, e.g. {key} = {LIST_EXAMPLES.get(key, '[...]')}"
        )
    return value


def parse_seeds(value: Any) -> list[int]:
    """Seeds as given, each once; strings and fractions are refused, not truncated."""
    example = "seeds = [1234, 1235] in a config, or --seeds 1234 1235"
    return unique(parse_seed(s, "each seed", example) for s in _list(value, "seeds"))


def _table(value: Any, key: str, example: str) -> dict[str, Any]:
    """A config table (``[limits]``, ``[params.smote]``, ``[data.churn]``)."""
    if not isinstance(value, dict):
        raise UserError(f"config key '{key}' must be a table, e.g. {example}")
    return value


def run_datasets(
    picked: list[Any] | None, user_data: dict[str, Any], cli_data: list[Any]
) -> list[str]:
    """The run's datasets: those named (``--datasets`` or the config's list; by default every
    ``[data.*]`` table, else the preset's), plus every file given with ``--data``, which is
    never dropped silently."""
    names = list(user_data) if picked is None else list(_list(picked, "datasets"))
    names += [spec.name for spec in cli_data]
    return unique(str(d) for d in names)


KNOWN_KEYS = {
    "preset",
    "datasets",
    "synthesizers",
    "seeds",
    "rows",
    "metrics",
    "workers",
    "llm",
    "device",
    "memory_limit",
    "out",
    "shard",
    "limits",
    "params",
    "data",
}


def build_config(file: str | None = None, **cli: Any) -> RunConfig:
    """Merge preset defaults, the config file and CLI values (``None`` = not given)."""
    raw: dict[str, Any] = {}
    base: Path | None = None
    if file:
        raw = read_toml(file)
        base = Path(file).resolve().parent
        unknown = set(raw) - KNOWN_KEYS
        if unknown:
            raise UserError(
                f"config file '{file}' has unknown keys {sorted(unknown)}: "
                f"allowed are {sorted(KNOWN_KEYS)}"
            )

    def pick(key: str, default: Any = None) -> Any:
        return cli[key] if cli.get(key) is not None else raw.get(key, default)

    preset = pick("preset", "quick")
    if preset not in PRESETS:
        raise UserError(f"unknown preset '{preset}': use one of {', '.join(PRESETS)}")
    defaults = PRESETS[preset]

    user_data = {
        name: UserDataSpec.from_mapping(name, spec, base)
        for name, spec in _table(raw.get("data", {}), "data", "[data.churn]").items()
    }
    for spec in cli.get("user_data") or []:
        user_data[spec.name] = spec
    datasets = run_datasets(pick("datasets"), user_data, cli.get("user_data") or [])
    datasets = datasets or list(defaults["datasets"])

    limits: dict[str, float | None] = dict(defaults["limits"])
    file_limits = _table(raw.get("limits", {}), "limits", "[limits] with fit = 600")
    for kind, secs in {**file_limits, **(cli.get("limits") or {})}.items():
        if kind not in PHASE_KINDS:
            raise UserError(f"unknown phase '{kind}' in limits: use {', '.join(PHASE_KINDS)}")
        limits[kind] = parse_limit(kind, secs)

    params: dict[str, dict[str, Any]] = {
        k: dict(_table(v, f"params.{k}", f"[params.{k}] with one line per parameter"))
        for k, v in _table(raw.get("params", {}), "params", "[params.smote]").items()
    }
    for synth, values in (cli.get("params") or {}).items():
        params.setdefault(synth, {}).update(values)

    seeds = parse_seeds(pick("seeds") or list(defaults["seeds"]))

    memory = pick("memory_limit")
    rows = pick("rows")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 1):
        raise UserError(f"rows must be a positive integer, got {rows!r}")
    workers = parse_workers(pick("workers", defaults["workers"]))
    synths = pick("synthesizers")
    metrics = pick("metrics")
    return RunConfig(
        preset=preset,
        datasets=datasets,
        user_data=user_data,
        synthesizers=None if synths is None else unique(map(str, _list(synths, "synthesizers"))),
        seeds=seeds,
        rows=rows,
        metrics=None if metrics is None else unique(map(str, _list(metrics, "metrics"))),
        params=params,
        limits=limits,
        memory_limit_mb=None if memory is None else parse_size_mb(memory),
        workers=workers,
        llm=pick("llm"),
        device=pick("device"),
        out=str(pick("out", DEFAULT_OUT)),
        force=bool(cli.get("force")),
        retry_failed=bool(cli.get("retry_failed")),
        shard=parse_shard(pick("shard")),
    )
