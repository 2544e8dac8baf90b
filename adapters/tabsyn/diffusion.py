"""TABSYN's score-based diffusion in the VAE's latent space (Section 3.3).

* **Forward process.** ``z_t = z_0 + sigma(t) * eps`` with the linear noise schedule
  ``sigma(t) = t`` the paper argues for: the probability-flow ODE is then
  ``dz/dt = (z - D(z; t)) / t``, nearly straight, so few steps suffice.
* **Denoiser** ``D(z; sigma)`` with the EDM preconditioning (Karras et al., 2022):
  ``c_skip z + c_out F(c_in z, c_noise)`` where ``c_skip = s_d^2 / (sigma^2 + s_d^2)``,
  ``c_out = sigma s_d / sqrt(sigma^2 + s_d^2)``, ``c_in = 1 / sqrt(sigma^2 + s_d^2)``,
  ``c_noise = ln(sigma) / 4`` and ``s_d = sigma_data = 0.5``. ``F`` is an MLP
  (:class:`ScoreMLP`) fed a sinusoidal embedding of ``c_noise``.
* **Training** (denoising score matching): ``ln sigma ~ N(P_mean, P_std^2)`` with
  ``P_mean = -1.2``, ``P_std = 1.2``; loss ``lambda(sigma) |D(z + sigma eps; sigma) - z|^2``
  with ``lambda = (sigma^2 + s_d^2) / (sigma s_d)^2``.
* **Sampling** (:func:`sample`): the deterministic second-order (Heun) solver of the ODE over
  EDM's step discretisation (``sigma_max = 80``, ``sigma_min = 0.002``, ``rho = 7``), 50
  steps by default, starting from ``N(0, sigma_max^2 I)``.

The latents are normalised before training (:class:`LatentScaler`): each coordinate is
centred, then all are divided by one common standard deviation and multiplied by
``sigma_data`` so the data have the spread the preconditioning assumes. One common scale (not
one per coordinate) keeps near-constant latent coordinates from being blown up to noise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from bench.progress import ProgressLog

SIGMA_DATA = 0.5
P_MEAN = -1.2
P_STD = 1.2
SIGMA_MIN = 0.002
SIGMA_MAX = 80.0
RHO = 7.0

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class LatentScaler:
    """Centre each latent coordinate; one common scale to a spread of ``sigma_data``."""

    def fit(self, z: torch.Tensor) -> LatentScaler:
        self.mean_ = z.mean(0)
        spread = float((z - self.mean_).std())
        self.scale_ = (spread if spread > 0 else 1.0) / SIGMA_DATA
        return self

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean_) / self.scale_

    def inverse_transform(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.scale_ + self.mean_


def noise_embedding(c_noise: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of the noise level: cos and sin at geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=c_noise.device) / half)
    angles = c_noise.reshape(-1, 1).float() * freqs
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class ScoreMLP(nn.Module):
    """``F(x, c_noise)``: input projection plus noise embedding, then a SiLU MLP."""

    def __init__(self, d_in: int, hidden: int = 1024) -> None:
        super().__init__()
        if hidden < 2 or hidden % 2:
            raise ValueError(f"hidden must be an even number >= 2, got {hidden}")
        self.hidden = hidden
        self.embed_noise = nn.Sequential(
            nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.project = nn.Linear(d_in, hidden)
        self.net = nn.Sequential(
            nn.Linear(hidden, 2 * hidden),
            nn.SiLU(),
            nn.Linear(2 * hidden, 2 * hidden),
            nn.SiLU(),
            nn.Linear(2 * hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, d_in),
        )

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        emb = self.embed_noise(noise_embedding(c_noise, self.hidden))
        return self.net(self.project(x) + emb)


class EDMDenoiser(nn.Module):
    """``D(x; sigma) = c_skip x + c_out F(c_in x, ln(sigma) / 4)`` (EDM preconditioning)."""

    def __init__(self, net: nn.Module, sigma_data: float = SIGMA_DATA) -> None:
        super().__init__()
        self.net = net
        self.sigma_data = sigma_data

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = sigma.reshape(-1, 1).to(x.dtype)
        sd2 = self.sigma_data**2
        c_skip = sd2 / (sigma**2 + sd2)
        c_out = sigma * self.sigma_data / (sigma**2 + sd2).sqrt()
        c_in = 1 / (sigma**2 + sd2).sqrt()
        c_noise = sigma.log().flatten() / 4
        return c_skip * x + c_out * self.net(c_in * x, c_noise)


def edm_loss(denoiser: EDMDenoiser, z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Weighted denoising loss with log-normal noise levels (one batch, mean over entries)."""
    # drawn on the CPU generator and moved, so a seed gives the same noise on any device
    normal = torch.randn((len(z), 1), generator=generator).to(z.device)
    sigma = (normal * P_STD + P_MEAN).exp()
    noise = torch.randn(z.shape, generator=generator).to(z.device) * sigma
    weight = (sigma**2 + SIGMA_DATA**2) / (sigma * SIGMA_DATA) ** 2
    return (weight * (denoiser(z + noise, sigma) - z) ** 2).mean()


@dataclass
class DiffusionHistory:
    loss: list[float] = field(default_factory=list)


def train_diffusion(
    denoiser: EDMDenoiser,
    z: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
) -> DiffusionHistory:
    """Adam on :func:`edm_loss` over shuffled mini-batches of the normalised latents."""
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=lr, weight_decay=0.0)
    history = DiffusionHistory()
    n = len(z)
    denoiser.train()
    log = ProgressLog("tabsyn diffusion", epochs)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator).to(z.device)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = z[order[start : start + batch_size]]
            loss = edm_loss(denoiser, batch, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.loss.append(total / n)
        log(epoch, loss=history.loss[-1])
    denoiser.eval()
    return history


def noise_levels(steps: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """EDM's ``steps`` levels from sigma_max down to sigma_min (rho = 7), then a final 0."""
    if steps < 1:
        raise ValueError(f"the sampler needs at least one step, got {steps}")
    i = torch.arange(steps, dtype=torch.float64, device=device)
    frac = i / max(steps - 1, 1)
    lo, hi = SIGMA_MIN ** (1 / RHO), SIGMA_MAX ** (1 / RHO)
    levels = (hi + frac * (lo - hi)) ** RHO
    return torch.cat([levels, levels.new_zeros(1)])


@torch.no_grad()
def sample(denoiser: Denoiser, noise: torch.Tensor, steps: int = 50) -> torch.Tensor:
    """Heun's method on ``dx/dt = (x - D(x; t)) / t`` from ``t = sigma_max`` to 0.

    ``noise`` is standard normal of the output's shape; it is scaled to ``sigma_max``. The
    solver draws nothing at random, so the output is a function of ``noise``.
    """
    levels = noise_levels(steps, noise.device)
    x = noise.to(torch.float64) * levels[0]

    def slope(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        sigma = t.expand(len(x)).to(noise.dtype)
        return (x - denoiser(x.to(noise.dtype), sigma).to(torch.float64)) / t

    for t, t_next in itertools.pairwise(levels):
        d = slope(x, t)
        x_next = x + (t_next - t) * d
        if t_next > 0:
            x_next = x + (t_next - t) * 0.5 * (d + slope(x_next, t_next))
        x = x_next
    return x.to(noise.dtype)
