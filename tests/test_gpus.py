"""Several jobs on a machine with several GPUs: each job slot gets its own."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import gpus
from bench.config import build_config
from bench.gpus import for_slot, visible_gpus
from bench.progress import Progress
from bench.runner import run
from bench.store import Store


@pytest.mark.parametrize(
    ("given_env", "expected"),
    [("0,1,2", ["0", "1", "2"]), ("", []), ("-1", []), ("GPU-a, GPU-b", ["GPU-a", "GPU-b"])],
)
def test_visible_gpus_honour_the_runners_own_setting(monkeypatch, given_env, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", given_env)
    assert visible_gpus() == expected


def test_no_gpus_without_nvidia_smi(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpus.shutil, "which", lambda name: None)
    assert visible_gpus() == []


@pytest.mark.parametrize(
    ("n", "slots", "expected"),
    [
        (8, 4, ["0,1", "2,3", "4,5", "6,7"]),
        (8, 8, [str(i) for i in range(8)]),
        (2, 4, ["0", "1", "0", "1"]),
        (4, 1, [None]),
        (0, 4, [None] * 4),
    ],
)
def test_each_slot_gets_its_block_of_gpus(n, slots, expected):
    ids = [str(i) for i in range(n)]
    assert [for_slot(ids, s, slots) for s in range(slots)] == expected


@given(n=st.integers(1, 16), slots=st.integers(2, 16))
def test_slots_never_share_a_gpu_while_there_are_enough(n, slots):
    ids = [f"GPU-{i}" for i in range(n)]
    given_out = [for_slot(ids, s, slots).split(",") for s in range(slots)]
    used = [g for block in given_out for g in block]
    assert set(used) <= set(ids) and all(block for block in given_out)
    if n >= slots:
        assert len(used) == len(set(used))  # disjoint
        assert {len(b) for b in given_out} == {n // slots}  # even


def test_parallel_jobs_run_on_different_gpus(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    cfg = build_config(
        out=str(tmp_path),
        datasets=["diabetes"],
        synthesizers=["toys:GpuReporter"],
        seeds=[1, 2, 3, 4],
        metrics=["dm"],
        workers=2,
    )
    run(cfg, Progress(io.StringIO(), tty=False), argv=["test"])
    store = Store(tmp_path)
    try:
        reports = [json.loads(r) for r in store.table("jobs").report]
    finally:
        store.close()
    assert len(reports) == 4
    assert {r["gpus"] for r in reports} == {"0", "1"}
