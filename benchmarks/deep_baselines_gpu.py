"""Deep baselines at the paper preset on a GPU: seconds per epoch and generated rows per second.

Issue 6 asks for fit and generate times at the paper preset on Adult on the GPU machine. Each
synthesizer keeps its paper preset (network sizes, batch, learning rate) except the number
of epochs: it is fitted twice, for ``E1`` and ``E2`` epochs, so that

    s/epoch = (fit(E2) - fit(E1)) / (E2 - E1)

leaves out the one-time work (encoders, CUDA start-up), which is reported apart as
``fit(E1) - E1 * s/epoch``. The full preset's fit time is ``setup + epochs * s/epoch`` and is
printed as such (a projection from the measured rate, labelled so). Then the second model
generates as many rows as the training split has (``--rows`` for fewer), timed as rows/s.

TABSYN has two stages; its ``vae_epochs`` and ``diffusion_epochs`` are scaled together and its
own report gives each stage's s/epoch. TabDDPM counts optimiser steps: it is timed in whole
epochs of synthcity's loop (``steps`` = epochs × batches per epoch). It runs in synthcity's
isolated environment, which must exist first (``bench envs create tabddpm``, which needs the
package registry), and each fit is a fresh worker process, so its fit times are the adapter's
own clock around synthcity's training (its report's ``fit_s``), without process start-up.

``--in-process`` fits TabDDPM in this process instead, for a GPU machine that cannot reach the
package registry (so cannot build the environment) but has synthcity installed beside the
harness by hand, e.g. from carried wheels (``benchmarks/device_checks.sh``). Its packages then
differ from the pins (a newer torch and numpy), so the versions that ran are recorded.

    python benchmarks/deep_baselines_gpu.py [--dataset adult] [--names tvae ctabgan tabsyn tabddpm]
    python benchmarks/deep_baselines_gpu.py --device cpu --dataset diabetes   # a check on CPU
    python benchmarks/deep_baselines_gpu.py --device cpu --names tabddpm --rows 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.isolated import build, close

#: epochs of the two timed fits, per synthesizer (name -> (E1, E2) of its epoch parameter)
SHORT = {"tvae": (2, 12), "ctabgan": (1, 6), "tabsyn": (20, 120), "tabddpm": (5, 50)}


def epoch_params(name: str, epochs: int, preset: dict[str, Any], rows: int) -> dict[str, Any]:
    """The preset with its epochs replaced by ``epochs`` (TABSYN: both stages, in proportion)."""
    if name == "tabsyn":
        ratio = preset["diffusion_epochs"] / preset["vae_epochs"]
        return {"vae_epochs": epochs, "diffusion_epochs": round(epochs * ratio)}
    if name == "tabddpm":  # whole epochs of optimiser steps
        from adapters.tabddpm import batches_per_epoch

        return {"steps": epochs * batches_per_epoch(rows, preset["batch_size"])}
    return {"epochs": epochs}


def full_epochs(name: str, preset: dict[str, Any], rows: int) -> int:
    if name == "tabsyn":
        return int(preset["vae_epochs"])
    if name == "tabddpm":
        from adapters.tabddpm import epochs_for_steps

        return epochs_for_steps(preset["steps"], rows, preset["batch_size"])
    return int(preset["epochs"])


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def make(name: str, cls: Any, params: dict[str, Any], in_process: bool) -> Any:
    """The synthesizer, in its isolated environment's worker unless ``in_process``."""
    return cls(**params) if in_process else build(name, cls, params)


def timed_fit(
    name: str, cls: Any, params: dict[str, Any], data: Any, seed: int, in_process: bool
) -> tuple[Any, float]:
    synth = make(name, cls, params, in_process)
    sync()
    start = time.perf_counter()
    synth.fit(data.train, data.schema, seed=seed)
    sync()
    wall = time.perf_counter() - start
    if getattr(synth, "isolated", False):  # the worker's own clock, without its start-up
        return synth, float(synth.report()["fit_s"])
    return synth, wall


def measure(
    name: str, data: Any, seed: int, device: str, in_process: bool, rows: int | None = None
) -> dict[str, Any]:
    """Fit and generate times of ``name``; ``rows`` to generate (default: the training split's).

    The fit figures are printed as a line of their own before generation starts, so a run
    stopped during a long generation (TabDDPM samples 1,000 steps on the CPU) keeps them.
    """
    import torch

    from bench.registry import load, resolve

    cls = load(resolve("synthesizers", name)[1])
    preset = dict(cls.presets["paper"])
    base = {**preset, "device": device}
    e1, e2 = SHORT[name]
    n = len(data.train)
    # untimed: imports, CUDA context and kernels would otherwise land in the first fit
    close(
        make(name, cls, {**base, **epoch_params(name, 1, preset, 1000)}, in_process).fit(
            data.train.head(1000), data.schema, seed=seed
        )
    )
    params = {**base, **epoch_params(name, e1, preset, n)}
    first, t1 = timed_fit(name, cls, params, data, seed, in_process)
    close(first)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    params = {**base, **epoch_params(name, e2, preset, n)}
    synth, t2 = timed_fit(name, cls, params, data, seed, in_process)
    per_epoch = (t2 - t1) / (e2 - e1)
    setup = t1 - e1 * per_epoch
    paper_epochs = full_epochs(name, preset, n)
    out: dict[str, Any] = {
        "synthesizer": name,
        "epochs_timed": [e1, e2],
        "fit_s": [round(t1, 2), round(t2, 2)],
        "s_per_epoch": round(per_epoch, 4),
        "setup_s": round(setup, 2),
        "paper_epochs": paper_epochs,
        "paper_fit_projected_s": round(setup + paper_epochs * per_epoch, 1),
    }
    print(json.dumps({**out, "stage": "fitted, now generating"}), flush=True)
    count = n if rows is None else rows
    sync()
    start = time.perf_counter()
    table = synth.generate(count, seed=seed)
    sync()
    gen_s = time.perf_counter() - start
    peak_gpu = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    if getattr(synth, "isolated", False) and device == "cuda":  # the worker's GPU, not ours
        peak_gpu = (synth.remote_peaks.get("peak_gpu_mb") or 0) / 1024
    report = synth.report()
    close(synth)
    assert len(table) == count, f"{name} returned {len(table)} rows, not {count}"
    out.update(
        rows_generated=count,
        generate_s=round(gen_s, 2),
        rows_per_s=round(count / gen_s, 1),
        peak_gpu_gib=None if peak_gpu is None else round(peak_gpu, 2),
    )
    if name == "tabddpm":
        from adapters.tabddpm import batches_per_epoch

        out["steps_per_epoch"] = batches_per_epoch(n, preset["batch_size"])
        # synthcity drops rows outside the training ranges; each round samples the rest anew
        out["generate_rounds"] = report.get("generate_rounds")
        if in_process:
            from bench.runner import package_versions  # what a job records, and these

            out["in_process"] = package_versions(("synthcity", "torch", "opacus"))
        else:
            out["isolated_env"] = report.get("isolated_env", {}).get("versions")
    if name == "tabsyn":  # its own clock per stage; setup is what the two stages leave out
        vae, diff = report["vae_s_per_epoch"], report["diffusion_s_per_epoch"]
        stages = report["vae_epochs"] * vae + report["diffusion_epochs"] * diff
        out["vae_s_per_epoch"] = round(vae, 4)
        out["diffusion_s_per_epoch"] = round(diff, 4)
        out["setup_s"] = round(t2 - stages, 2)
        full = preset["vae_epochs"] * vae + preset["diffusion_epochs"] * diff
        out["paper_fit_projected_s"] = round(t2 - stages + full, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--names", nargs="+", default=list(SHORT), choices=list(SHORT))
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--device", default="cuda", help="cuda (the benchmark); cpu to check it")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="fit TabDDPM here, not in its environment (synthcity installed here by hand)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="rows to generate (default: as many as the training split has)",
    )
    args = parser.parse_args()
    if args.rows is not None and args.rows < 1:
        parser.error(f"--rows must be a positive number of rows, got {args.rows}")

    import torch

    from bench.datasets import load_bundled

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: no CUDA device; run on the GPU machine, or pass --device cpu to check")
    data = load_bundled(args.dataset)
    where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    results = {"device": where, "torch": torch.__version__, "runs": []}
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}), flush=True)
    for name in args.names:
        try:
            row = measure(name, data, args.seed, args.device, args.in_process, args.rows)
        except Exception as exc:  # one failure must not hide the others' figures
            row = {"synthesizer": name, "error": f"{type(exc).__name__}: {exc}"}
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
