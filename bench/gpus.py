"""GPUs shared among the jobs that run at once on this machine.

With ``--workers N`` on a machine with several GPUs, the local executor gives each of its N
job slots its own GPUs (:func:`for_slot`) through ``CUDA_VISIBLE_DEVICES``, set in the job's
process before anything imports torch. So ``--workers 8`` on eight GPUs runs eight jobs, one
on each, where every job would otherwise start on the first GPU. One job at a time keeps
what the machine shows it. The GPUs are those the runner itself may use: its own
``CUDA_VISIBLE_DEVICES`` when set, else every GPU ``nvidia-smi`` lists.
"""

from __future__ import annotations

import os
import shutil
import subprocess

ENV = "CUDA_VISIBLE_DEVICES"


def visible_gpus() -> list[str]:
    """The GPU ids (indices or UUIDs) this process may use; none without a GPU."""
    given = os.environ.get(ENV)
    if given is not None:
        ids = [g.strip() for g in given.split(",") if g.strip()]
        return [] if ids[:1] == ["-1"] else ids
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]


def for_slot(gpus: list[str], slot: int, slots: int) -> str | None:
    """``CUDA_VISIBLE_DEVICES`` for job slot ``slot`` of ``slots`` (None: leave it alone).

    The GPUs split evenly into ``slots`` blocks, one per slot (8 GPUs, 4 slots: two each);
    with fewer GPUs than slots, slots share them in turn (2 GPUs, 4 slots: 0, 1, 0, 1).
    """
    if slots <= 1 or not gpus:
        return None
    if len(gpus) < slots:
        return gpus[slot % len(gpus)]
    per = len(gpus) // slots
    return ",".join(gpus[slot * per : (slot + 1) * per])
