"""CPU cores shared among the jobs that run at once on this machine.

The local executor runs up to ``workers`` jobs at a time and gives each an equal share of
the usable cores (:func:`share`). Inside the job, :func:`limit` caps torch, OpenMP and BLAS
to that share before any model runs, so two jobs on two cores do not each start two
threads and spin against each other; :func:`job_threads` tells code that sizes its own
thread pool (MLE's models) how many it may use. ``workers = "auto"`` (:func:`auto_workers`)
runs as many jobs as there are cores, within memory.
"""

from __future__ import annotations

import os
import sys

#: Where a job's share travels: set by :func:`limit` in the job's process, inherited by the
#: processes it starts (an isolated synthesizer's worker).
ENV = "BENCH_JOB_THREADS"
#: What ``workers = "auto"`` reserves per job: a quick-preset job peaks below 2 GiB.
AUTO_GIB_PER_JOB = 2.0


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def share(workers: int) -> int:
    """Threads for each of ``workers`` jobs running at once: the cores split evenly."""
    return max(1, usable_cores() // max(1, workers))


def auto_workers(jobs: int) -> int:
    """Jobs at once for ``workers = "auto"``: one per core, no more than there are jobs,
    and no more than the available memory holds at :data:`AUTO_GIB_PER_JOB` each."""
    import psutil

    memory = int(psutil.virtual_memory().available / 2**30 // AUTO_GIB_PER_JOB)
    return max(1, min(usable_cores(), jobs, memory))


def limit(threads: int) -> None:
    """Cap this process (and what it starts) at ``threads`` compute threads.

    The environment variables reach torch and OpenMP when they are imported later (the
    job's process has not imported torch yet); threadpoolctl caps the BLAS that numpy
    already loaded.
    """
    from threadpoolctl import threadpool_limits

    n = max(1, int(threads))
    for name in (ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(n)
    threadpool_limits(limits=n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


def job_threads() -> int:
    """The threads this job may use: its share when an executor set one, else every core."""
    try:
        return max(1, int(os.environ[ENV]))
    except (KeyError, ValueError):
        return usable_cores()
