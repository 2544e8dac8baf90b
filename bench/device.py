"""``--device auto|cpu|cuda``, resolved the same way for every synthesizer and metric."""

from __future__ import annotations

from bench.errors import UserError

DEVICES = ("auto", "cpu", "cuda")


class DeviceError(UserError, ValueError):
    """A bad ``--device``: a ValueError for callers, a one-line error for the CLI."""


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when a GPU is usable, else ``cpu``; refuse ``cuda`` without one.

    Only ``cpu`` and ``cuda`` come out, so callers can compare with ``"cuda"`` (e.g. to switch
    on bf16 autocast). torch is imported only when the answer depends on it.
    """
    if device not in DEVICES:
        raise DeviceError(f"unknown device '{device}': use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise DeviceError(
            "device 'cuda' requested but CUDA is not available "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'}): "
            "pass --device cpu (or auto), or install a CUDA build of torch on a GPU machine"
        )
    return "cpu"
