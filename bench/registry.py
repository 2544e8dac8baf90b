"""Where synthesizers and metrics come from: built-ins plus Python entry points.

A separate package adds a synthesizer without touching this repository by declaring, in its
own ``pyproject.toml``::

    [project.entry-points."bench.synthesizers"]
    mysynth = "mypackage.module:MySynth"

(metrics likewise under ``bench.metrics``). A ``module:Class`` reference given on the command
line works too, for a class that is importable but not installed as a plug-in. Classes are
imported only when asked for, so listing names is instant.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from bench.errors import UserError, unknown_name

BUILTIN: dict[str, dict[str, str]] = {
    "synthesizers": {
        "original": "adapters.original:Original",
        "smote": "adapters.smote:SMOTE",
        "tvae": "adapters.tvae:TVAE",
        "ctabgan": "adapters.ctabgan:CTABGAN",
        "tabddpm": "adapters.tabddpm:TabDDPM",
        "tabsyn": "adapters.tabsyn:TabSyn",
        "great": "adapters.great:GReaT",
        "realtabformer": "adapters.realtabformer:REaLTabFormer",
        "harmonic": "adapters.harmonic:Harmonic",
        "harmonic-no-knn": "adapters.harmonic:HarmonicNoKNN",
        "harmonic-no-filter": "adapters.harmonic:HarmonicNoFilter",
        "harmonic-no-permutation": "adapters.harmonic:HarmonicNoPermutation",
        "csv": "adapters.csv_table:CSVTable",
    },
    "metrics": {
        "dm": "bench.metrics.fidelity:DataMismatch",
        "invalid_rows": "bench.metrics.coerce:InvalidRows",
        "wd": "bench.metrics.fidelity:Wasserstein",
        "cs": "bench.metrics.fidelity:CorrelationSimilarity",
        "mle": "bench.metrics.utility:MachineLearningEfficacy",
        "mle_catboost": "bench.metrics.utility:CatBoostEfficacy",
        "lle": "bench.metrics.lle:LLMEfficacy",
        "nrs": "bench.metrics.privacy:NewRowSynthesis",
        "dcr": "bench.metrics.privacy:DistanceToClosestRecord",
        "dcr_holdout": "bench.metrics.privacy:DCRHoldoutShare",
        "dlt": "bench.metrics.leakage:DataLeakageTest",
    },
}
GROUP = {"synthesizers": "bench.synthesizers", "metrics": "bench.metrics"}
LISTING = {"synthesizers": "bench synthesizers", "metrics": "bench metrics"}


def available(kind: str) -> dict[str, str]:
    """Name -> ``module:Class`` for every built-in and installed plug-in of ``kind``."""
    found = dict(BUILTIN[kind])
    for ep in entry_points(group=GROUP[kind]):
        found.setdefault(ep.name, ep.value)  # a plug-in cannot shadow a built-in
    return found


def load(target: str) -> Any:
    """Import ``module:Class``; a broken plug-in is a one-line error, not a traceback."""
    module, _, attr = target.partition(":")
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise UserError(
            f"cannot import '{target}' ({type(exc).__name__}: {exc}): "
            "check the plug-in is installed in this environment"
        ) from exc
    return obj


def resolve(kind: str, name: str) -> tuple[str, str]:
    """A registered name or a ``module:Class`` reference -> (name, target)."""
    known = available(kind)
    if name in known:
        return name, known[name]
    if ":" in name:
        cls = load(name)
        return getattr(cls, "name", "") or cls.__name__.lower(), name
    raise unknown_name(kind.rstrip("s"), name, known, LISTING[kind])
