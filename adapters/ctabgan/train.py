"""CTAB-GAN's training loop and sampling (Zhao et al., 2021, Sec. 3, design of CTAB-GAN).

Each step updates the three networks in turn, on a batch of conditions drawn by
training-by-sampling (:mod:`adapters.ctabgan.sampler`):

* **discriminator** D, with the original GAN loss
  ``L_D = -E[log D(x | c)] - E[log(1 - D(G(z | c) | c))]``;
* **generator** G, with ``L_G = L_orig + L_info + L_class + L_gen``:
  ``L_orig = -E[log D(G(z | c) | c)]`` (the non-saturating form of the original loss);
  the information loss ``L_info = ||E f(x) - E f(G(z))||_2 + ||SD f(x) - SD f(G(z))||_2``
  over the discriminator's last features ``f`` (table-GAN's, real rows answering the same
  conditions); the classification loss ``L_class = E|l(G(z)) - C(fe(G(z)))|`` between the
  generated label and the classifier's prediction from the generated features; and the
  generator loss ``L_gen``, the cross-entropy between the condition and the generated span
  it names (CTGAN's);
* **classifier** C, on real rows: ``L_C = E|l(x) - C(fe(x))|``.

In the two absolute-value losses the label ``l`` is the target's one-hot span and ``C``
outputs class probabilities (softmax), so ``|.|`` is the L1 distance between the two
distributions. Optimiser: Adam with CTGAN's lr 2e-4 and betas (0.5, 0.9), weight decay
1e-5. An epoch is ``ceil(rows / batch)`` steps, so a table smaller than a batch still trains.

Reproducibility: numpy draws (conditions, real rows) come from one seeded generator and
torch draws (weights, noise, Gumbel noise, dropout) from torch's generator seeded inside
``torch.random.fork_rng``, on one CPU thread, so a CPU run is identical for the same seed
and the caller's random state is left as it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from adapters.ctabgan.networks import (
    Classifier,
    Discriminator,
    Generator,
    activate,
    square_side,
    to_square,
)
from adapters.ctabgan.sampler import Condition, ConditionalSampler
from adapters.ctabgan.transformer import Span
from bench.progress import ProgressLog

EPS = 1e-4  # inside the logs of the GAN loss


@dataclass
class TrainConfig:
    epochs: int = 150
    batch_size: int = 500
    noise_dim: int = 100
    channels: int = 64
    class_dims: tuple[int, ...] = (256, 256, 256, 256)
    lr: float = 2e-4
    weight_decay: float = 1e-5
    tau: float = 0.2


@dataclass
class Trained:
    """What sampling needs: the generator, its input size, and the output layout."""

    generator: Generator
    noise_dim: int
    spans: list[Span]
    width: int
    device: str
    tau: float
    history: dict[str, list[float]] = field(default_factory=dict)  # per-epoch mean losses
    sides: dict[str, int] = field(default_factory=dict)


@contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """Seed torch for a block, on CPU with one thread; restore the caller's state after.

    One thread on CPU: these networks are small, and on a loaded 2-core machine two torch
    threads made a step 5x slower than one (1.9 s against 0.36 s on German); one thread
    also makes the floating-point results independent of the machine's core count.
    """
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads)


def train(
    data: np.ndarray,
    spans: list[Span],
    sampler: ConditionalSampler,
    target: Span | None,
    config: TrainConfig,
    seed: int,
    device: str,
) -> Trained:
    """Fit CTAB-GAN's G, D and C on the encoded rows ``data``; returns the generator."""
    rng = np.random.default_rng(seed)
    width = data.shape[1]
    g_side = square_side(width)
    d_side = square_side(width + sampler.dim)
    with seeded(seed, device):
        gen = Generator(config.noise_dim + sampler.dim, g_side, config.channels).to(device)
        disc = Discriminator(d_side, config.channels).to(device)
        features = _feature_index(width, target)
        clf = (
            Classifier(len(features), target.width, tuple(config.class_dims)).to(device)
            if target is not None
            else None
        )
        opt = {
            name: torch.optim.Adam(
                net.parameters(),
                lr=config.lr,
                betas=(0.5, 0.9),
                weight_decay=config.weight_decay,
            )
            for name, net in (("g", gen), ("d", disc), ("c", clf))
            if net is not None
        }
        real_all = torch.as_tensor(data, dtype=torch.float32, device=device)
        feat_idx = torch.as_tensor(features, device=device)
        history: dict[str, list[float]] = {"d": [], "g": [], "info": [], "class": [], "c": []}
        steps = max(1, math.ceil(len(data) / config.batch_size))
        log = ProgressLog("ctabgan", config.epochs)
        for epoch in range(1, config.epochs + 1):
            sums = dict.fromkeys(history, 0.0)
            for _ in range(steps):
                losses = _step(
                    gen, disc, clf, opt, real_all, feat_idx, spans, sampler, target, config, rng
                )
                for k, v in losses.items():
                    sums[k] += v
            for k in history:
                history[k].append(sums[k] / steps)
            log(epoch, **{k: v[-1] for k, v in history.items() if k in ("d", "g", "class")})
    gen.eval()
    return Trained(
        gen,
        config.noise_dim,
        spans,
        width,
        device,
        config.tau,
        history,
        {"generator": g_side, "discriminator": d_side},
    )


def _step(
    gen: Generator,
    disc: Discriminator,
    clf: Classifier | None,
    opt: dict[str, torch.optim.Optimizer],
    real_all: torch.Tensor,
    feat_idx: torch.Tensor,
    spans: list[Span],
    sampler: ConditionalSampler,
    target: Span | None,
    config: TrainConfig,
    rng: np.random.Generator,
) -> dict[str, float]:
    """One D step, one G step and one C step; returns their losses."""
    device = real_all.device
    batch = config.batch_size
    width = real_all.shape[1]
    d_side = square_side(width + sampler.dim)
    out: dict[str, float] = {}

    # discriminator: original GAN loss
    cond = sampler.sample_train(batch, rng)
    c = torch.as_tensor(cond.vectors, device=device)
    real = real_all[torch.as_tensor(sampler.real_rows(cond, rng), device=device)]
    with torch.no_grad():
        fake = activate(_generate_raw(gen, c, config.noise_dim, width), spans, config.tau)
    p_real, _ = disc(to_square(torch.cat([real, c], 1), d_side))
    p_fake, _ = disc(to_square(torch.cat([fake, c], 1), d_side))
    loss_d = -(torch.log(p_real + EPS).mean() + torch.log(1 - p_fake + EPS).mean())
    opt["d"].zero_grad(set_to_none=True)
    loss_d.backward()
    opt["d"].step()
    out["d"] = float(loss_d.detach())

    # generator: original + information + classification + conditional generator loss
    cond = sampler.sample_train(batch, rng)
    c = torch.as_tensor(cond.vectors, device=device)
    real = real_all[torch.as_tensor(sampler.real_rows(cond, rng), device=device)]
    raw = _generate_raw(gen, c, config.noise_dim, width)
    fake = activate(raw, spans, config.tau)
    p_fake, f_fake = disc(to_square(torch.cat([fake, c], 1), d_side))
    with torch.no_grad():
        _, f_real = disc(to_square(torch.cat([real, c], 1), d_side))
    loss_orig = -torch.log(p_fake + EPS).mean()
    loss_info = torch.norm(f_real.mean(0) - f_fake.mean(0), 2) + torch.norm(
        f_real.std(0) - f_fake.std(0), 2
    )
    loss_gen = _condition_loss(raw, cond, sampler, device)
    loss_class = torch.zeros((), device=device)
    if clf is not None and target is not None:
        label = fake[:, target.start : target.stop]
        loss_class = _l1(label, clf(fake[:, feat_idx]))
    loss_g = loss_orig + loss_info + loss_class + loss_gen
    opt["g"].zero_grad(set_to_none=True)
    loss_g.backward()
    opt["g"].step()
    out.update(g=float(loss_g.detach()), info=float(loss_info.detach()))
    out["class"] = float(loss_class.detach())

    # classifier: on real rows, drawn uniformly
    out["c"] = 0.0
    if clf is not None and target is not None:
        rows = torch.as_tensor(rng.integers(0, len(real_all), size=batch), device=device)
        real = real_all[rows]
        loss_c = _l1(real[:, target.start : target.stop], clf(real[:, feat_idx]))
        opt["c"].zero_grad(set_to_none=True)
        loss_c.backward()
        opt["c"].step()
        out["c"] = float(loss_c.detach())
    return out


def _generate_raw(gen: Generator, cond: torch.Tensor, noise_dim: int, width: int) -> torch.Tensor:
    """Generator output cut to the row width (before the output activations)."""
    z = torch.randn(cond.shape[0], noise_dim, device=cond.device)
    return gen(torch.cat([z, cond], 1))[:, :width]


def _l1(label: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """E|l - C|: L1 distance between a label distribution and the predicted probabilities."""
    return (label - torch.softmax(logits, dim=1)).abs().sum(1).mean()


def _condition_loss(
    raw: torch.Tensor, cond: Condition, sampler: ConditionalSampler, device: Any
) -> torch.Tensor:
    """Cross-entropy between each condition and the generated logits of the span it names."""
    total = torch.zeros((), device=device)
    if not sampler.spans:
        return total
    for s in np.unique(cond.span):
        rows = np.flatnonzero(cond.span == s)
        span = sampler.spans[s]
        logits = raw[torch.as_tensor(rows, device=device), span.start : span.stop]
        entry = torch.as_tensor(cond.entry[rows], device=device)
        total = total + F.cross_entropy(logits, entry, reduction="sum")
    return total / len(cond.span)


def _feature_index(width: int, target: Span | None) -> np.ndarray:
    """Row entries the classifier reads: everything but the target's span."""
    idx = np.arange(width)
    if target is None:
        return idx
    return idx[(idx < target.start) | (idx >= target.stop)]


def sample(
    trained: Trained, n: int, sampler: ConditionalSampler, seed: int, batch: int = 1000
) -> np.ndarray:
    """``n`` generated rows (encoded), conditions drawn with the training frequencies."""
    rng = np.random.default_rng(seed)
    out = []
    gen: nn.Module = trained.generator
    gen.eval()
    with seeded(seed, trained.device), torch.no_grad():
        done = 0
        while done < n:
            size = min(batch, n - done)
            cond = sampler.sample_generation(size, rng)
            c = torch.as_tensor(cond.vectors, device=trained.device)
            raw = _generate_raw(gen, c, trained.noise_dim, trained.width)
            out.append(activate(raw, trained.spans, trained.tau).cpu().numpy())
            done += size
    if not out:
        return np.zeros((0, trained.width), dtype="float32")
    return np.concatenate(out, axis=0)
