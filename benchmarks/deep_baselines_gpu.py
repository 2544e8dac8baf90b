"""Deep baselines at the paper preset on a GPU: seconds per epoch and generated rows per second.

Issue 6 asks for fit and generate times at the paper preset on Adult on the GPU machine. Each
synthesizer keeps its paper preset (network sizes, batch, learning rate) except the number
of epochs: it is fitted twice, for ``E1`` and ``E2`` epochs, so that

    s/epoch = (fit(E2) - fit(E1)) / (E2 - E1)

leaves out the one-time work (encoders, CUDA start-up), which is reported apart as
``fit(E1) - E1 * s/epoch``. The full preset's fit time is ``setup + epochs * s/epoch`` and is
printed as such (a projection from the measured rate, labelled so). Then the second model
generates as many rows as the training split has, timed as rows/s.

TABSYN has two stages; its ``vae_epochs`` and ``diffusion_epochs`` are scaled together and its
own report gives each stage's s/epoch. TabDDPM runs in synthcity's isolated environment, which
the GPU machine (no network) cannot build, so it is not in this script.

    python benchmarks/deep_baselines_gpu.py [--dataset adult] [--names tvae ctabgan tabsyn]
    python benchmarks/deep_baselines_gpu.py --device cpu --dataset diabetes   # a check on CPU
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: epochs of the two timed fits, per synthesizer (name -> (E1, E2) of its epoch parameter)
SHORT = {"tvae": (2, 12), "ctabgan": (1, 6), "tabsyn": (20, 120)}


def epoch_params(name: str, epochs: int, preset: dict[str, Any]) -> dict[str, Any]:
    """The preset with its epochs replaced by ``epochs`` (TABSYN: both stages, in proportion)."""
    if name == "tabsyn":
        ratio = preset["diffusion_epochs"] / preset["vae_epochs"]
        return {"vae_epochs": epochs, "diffusion_epochs": round(epochs * ratio)}
    return {"epochs": epochs}


def full_epochs(name: str, preset: dict[str, Any]) -> int:
    return int(preset["vae_epochs"] if name == "tabsyn" else preset["epochs"])


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_fit(cls: Any, params: dict[str, Any], data: Any, seed: int) -> tuple[Any, float]:
    synth = cls(**params)
    sync()
    start = time.perf_counter()
    synth.fit(data.train, data.schema, seed=seed)
    sync()
    return synth, time.perf_counter() - start


def measure(name: str, data: Any, seed: int, device: str) -> dict[str, Any]:
    import torch

    from bench.registry import load, resolve

    cls = load(resolve("synthesizers", name)[1])
    preset = dict(cls.presets["paper"])
    base = {**preset, "device": device}
    e1, e2 = SHORT[name]
    # untimed: imports, CUDA context and kernels would otherwise land in the first fit
    cls(**{**base, **epoch_params(name, 1, preset)}).fit(
        data.train.head(1000), data.schema, seed=seed
    )
    _, t1 = timed_fit(cls, {**base, **epoch_params(name, e1, preset)}, data, seed)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    synth, t2 = timed_fit(cls, {**base, **epoch_params(name, e2, preset)}, data, seed)
    per_epoch = (t2 - t1) / (e2 - e1)
    setup = t1 - e1 * per_epoch
    n = len(data.train)
    sync()
    start = time.perf_counter()
    table = synth.generate(n, seed=seed)
    sync()
    gen_s = time.perf_counter() - start
    assert len(table) == n, f"{name} returned {len(table)} rows, not {n}"
    out = {
        "synthesizer": name,
        "epochs_timed": [e1, e2],
        "fit_s": [round(t1, 2), round(t2, 2)],
        "s_per_epoch": round(per_epoch, 4),
        "setup_s": round(setup, 2),
        "paper_epochs": full_epochs(name, preset),
        "paper_fit_projected_s": round(setup + full_epochs(name, preset) * per_epoch, 1),
        "generate_s": round(gen_s, 2),
        "rows_per_s": round(n / gen_s, 1),
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if device == "cuda"
        else None,
    }
    if name == "tabsyn":  # its own clock per stage; setup is what the two stages leave out
        report = synth.report()
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
    args = parser.parse_args()

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
            row = measure(name, data, args.seed, args.device)
        except Exception as exc:  # one failure must not hide the others' figures
            row = {"synthesizer": name, "error": f"{type(exc).__name__}: {exc}"}
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
