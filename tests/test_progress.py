"""ProgressLog: a long fit's epochs reach the job's log at a bounded rate."""

from __future__ import annotations

import io

from bench.progress import ProgressLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_first_then_at_most_every_interval_then_last() -> None:
    clock, out = Clock(), io.StringIO()
    log = ProgressLog("toy", total=10, every_s=30.0, stream=out, clock=clock)
    for epoch in range(1, 11):
        clock.now += 10.0  # each epoch takes 10 s
        log(epoch, loss=1.0 / epoch)
    lines = out.getvalue().splitlines()
    # epoch 1 (the first), 4 and 7 (30 s after the line before), 10 (the last)
    assert [int(line.split()[2].split("/")[0]) for line in lines] == [1, 4, 7, 10]
    first, *_, last = lines
    assert first == "toy: epoch 1/10  loss 1.0000  (00:10, about 01:30 left)"
    assert last == "toy: epoch 10/10  loss 0.1000  (01:40, about 00:00 left)"


def test_losses_in_the_order_given_and_none_at_all() -> None:
    out = io.StringIO()
    log = ProgressLog("gan", total=2, stream=out, clock=Clock())
    log(1, d=1.5, g=-0.25)
    log(2)
    assert out.getvalue().splitlines() == [
        "gan: epoch 1/2  d 1.5000  g -0.2500  (00:00, about 00:00 left)",
        "gan: epoch 2/2  (00:00, about 00:00 left)",
    ]
