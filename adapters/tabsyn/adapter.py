"""The TABSYN synthesizer (Zhang et al., ICLR 2024), written for this project from the paper.

fit: encode the table (:mod:`.encoding`), train the transformer VAE with the adaptive beta
schedule (:mod:`.vae`, Section 3.2), embed every training row as its posterior mean, normalise
those latents and train the EDM score model on them (:mod:`.diffusion`, Section 3.3).
generate: draw noise, solve the probability-flow ODE with the deterministic Heun sampler in
``steps`` steps (50, the paper's), decode with the VAE decoder (numerical values as they come
out, each categorical column's most likely category) and invert the encoding.

Presets: ``paper`` is the paper's set-up (d_token 4, two transformer layers with one head and
feed-forward factor 32, VAE 4000 epochs, diffusion 10000 epochs, batch 4096, Adam lr 1e-3,
a denoiser MLP of width 1024). ``quick`` keeps the method and the 50 sampling steps and cuts
the epochs (VAE 80, diffusion 200), the batch (64, so that a small table still gets several
updates per epoch) and the denoiser's width (256), to fit German in about a minute on two
CPU cores. The beta schedule is the same rule in both; at quick the reconstruction loss is
usually still improving after 80 epochs, so beta often stays at beta_max.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.device import resolve_device
from bench.schema import Schema
from bench.synthesizer import Synthesizer

PAPER: dict[str, Any] = {
    "d_token": 4,
    "n_layers": 2,
    "n_head": 1,
    "factor": 32,
    "vae_epochs": 4000,
    "vae_lr": 1e-3,
    "beta_max": 1e-2,
    "beta_min": 1e-5,
    "beta_decay": 0.7,
    "beta_patience": 10,
    "diffusion_epochs": 10000,
    "diffusion_lr": 1e-3,
    "hidden": 1024,
    "batch_size": 4096,
    "steps": 50,
}
QUICK: dict[str, Any] = {
    **PAPER,
    "vae_epochs": 80,
    "diffusion_epochs": 200,
    "hidden": 256,
    "batch_size": 64,
}
DEVICES = ("auto", "cpu", "cuda")


class TabSyn(Synthesizer):
    """TABSYN: score-based diffusion in a transformer VAE's latent space (paper's method)."""

    name: ClassVar[str] = "tabsyn"
    label: ClassVar[str] = "TABSYN"
    description: ClassVar[str] = (
        "score-based diffusion in a transformer VAE's latent space (Zhang et al., 2024)"
    )
    presets: ClassVar[dict[str, dict[str, Any]]] = {"quick": QUICK, "paper": PAPER}
    packages: ClassVar[tuple[str, ...]] = ("torch", "scikit-learn")

    def __init__(
        self,
        device: str = "auto",
        d_token: int = 4,
        n_layers: int = 2,
        n_head: int = 1,
        factor: int = 32,
        vae_epochs: int = 4000,
        vae_lr: float = 1e-3,
        beta_max: float = 1e-2,
        beta_min: float = 1e-5,
        beta_decay: float = 0.7,
        beta_patience: int = 10,
        diffusion_epochs: int = 10000,
        diffusion_lr: float = 1e-3,
        hidden: int = 1024,
        batch_size: int = 4096,
        steps: int = 50,
        quantiles: int = 1000,
        gen_batch_size: int = 8192,
    ) -> None:
        self.device = device
        self.d_token = d_token
        self.n_layers = n_layers
        self.n_head = n_head
        self.factor = factor
        self.vae_epochs = vae_epochs
        self.vae_lr = vae_lr
        self.beta_max = beta_max
        self.beta_min = beta_min
        self.beta_decay = beta_decay
        self.beta_patience = beta_patience
        self.diffusion_epochs = diffusion_epochs
        self.diffusion_lr = diffusion_lr
        self.hidden = hidden
        self.batch_size = batch_size
        self.steps = steps
        self.quantiles = quantiles
        self.gen_batch_size = gen_batch_size
        self._check_params()

    def _check_params(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        positive = ("d_token", "n_layers", "n_head", "factor", "batch_size", "steps")
        positive += ("quantiles", "gen_batch_size", "beta_patience", "hidden")
        for key in positive:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        for key in ("vae_epochs", "diffusion_epochs"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{key} must be a non-negative integer, got {value!r}")
        if self.d_token % self.n_head:
            raise ValueError(f"d_token ({self.d_token}) must be a multiple of n_head")
        if self.hidden % 2:
            raise ValueError(f"hidden must be even (sin/cos noise embedding), got {self.hidden}")
        if not 0 < self.beta_min <= self.beta_max:
            raise ValueError(f"need 0 < beta_min <= beta_max, got {self.beta_min}, {self.beta_max}")
        if not 0 < self.beta_decay < 1:
            raise ValueError(f"beta_decay must lie in (0, 1), got {self.beta_decay}")
        for key in ("vae_lr", "diffusion_lr"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)!r}")

    # ---- fit --------------------------------------------------------------------------------

    def fit(self, train: pd.DataFrame, schema: Schema, seed: int) -> TabSyn:
        """Train the VAE, then the latent diffusion model; deterministic per seed on CPU."""
        import torch

        from adapters.tabsyn.diffusion import (
            EDMDenoiser,
            LatentScaler,
            ScoreMLP,
            train_diffusion,
        )
        from adapters.tabsyn.encoding import TableEncoder
        from adapters.tabsyn.vae import BetaSchedule, TabularVAE, embed, train_vae

        self._check_params()
        start = time.perf_counter()
        device = torch.device(resolve_device(self.device))
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)

        self.encoder_ = TableEncoder(self.quantiles, seed).fit(train, schema)
        numeric, codes = self.encoder_.transform(train)
        x_num = torch.from_numpy(numeric).to(device)
        x_cat = torch.from_numpy(codes).to(device)

        vae = TabularVAE(
            self.encoder_.n_numeric,
            self.encoder_.cardinalities,
            self.d_token,
            self.n_layers,
            self.n_head,
            self.factor,
        ).to(device)
        schedule = BetaSchedule(self.beta_max, self.beta_min, self.beta_decay, self.beta_patience)
        vae_start = time.perf_counter()
        vae_history = train_vae(
            vae,
            x_num,
            x_cat,
            epochs=self.vae_epochs,
            batch_size=self.batch_size,
            lr=self.vae_lr,
            schedule=schedule,
            generator=generator,
        )
        vae_s = time.perf_counter() - vae_start

        latents = embed(vae, x_num, x_cat, self.gen_batch_size)
        self.scaler_ = LatentScaler().fit(latents)
        denoiser = EDMDenoiser(ScoreMLP(latents.shape[1], self.hidden)).to(device)
        diffusion_start = time.perf_counter()
        diffusion_history = train_diffusion(
            denoiser,
            self.scaler_.transform(latents),
            epochs=self.diffusion_epochs,
            batch_size=self.batch_size,
            lr=self.diffusion_lr,
            generator=generator,
        )
        diffusion_s = time.perf_counter() - diffusion_start

        self.vae_, self.denoiser_, self.device_ = vae, denoiser, device
        self.token_shape_ = (latents.shape[1] // self.d_token, self.d_token)
        self.fit_report_ = {
            "device": str(device),
            "train_rows": len(train),
            "latent_dim": int(latents.shape[1]),
            "vae_epochs": self.vae_epochs,
            "vae_recon_first": _first(vae_history.recon),
            "vae_recon_last": _last(vae_history.recon),
            "vae_kl_last": _last(vae_history.kl),
            "beta_final": schedule.beta,
            "beta_decays": vae_history.decays,
            "vae_s_per_epoch": vae_s / max(self.vae_epochs, 1),
            "diffusion_epochs": self.diffusion_epochs,
            "diffusion_loss_first": _first(diffusion_history.loss),
            "diffusion_loss_last": _last(diffusion_history.loss),
            "diffusion_s_per_epoch": diffusion_s / max(self.diffusion_epochs, 1),
            "fit_s": time.perf_counter() - start,
        }
        return self

    # ---- generate ---------------------------------------------------------------------------

    def generate(self, n: int, seed: int) -> pd.DataFrame:
        """Exactly ``n`` rows: ODE-sampled latents decoded by the VAE; deterministic per seed."""
        import torch

        from adapters.tabsyn.diffusion import sample

        if getattr(self, "denoiser_", None) is None:
            raise RuntimeError("call fit() before generate()")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(seed)
        d = self.token_shape_[0] * self.token_shape_[1]
        noise = torch.randn((n, d), generator=generator)
        numeric, codes = [], []
        with torch.no_grad():
            for s in range(0, n, self.gen_batch_size):
                x = noise[s : s + self.gen_batch_size].to(self.device_)
                z = self.scaler_.inverse_transform(sample(self.denoiser_, x, self.steps))
                num, logits = self.vae_.decode(z.reshape(len(z), *self.token_shape_))
                numeric.append(num.cpu().numpy())
                cats = [lg.argmax(-1) for lg in logits]
                codes.append(torch.stack(cats, 1).cpu().numpy() if cats else np.zeros((len(z), 0)))
        n_num, n_cat = self.encoder_.n_numeric, len(self.encoder_.cardinalities)
        num_arr = np.concatenate(numeric) if numeric else np.zeros((0, n_num), np.float32)
        code_arr = np.concatenate(codes) if codes else np.zeros((0, n_cat), np.int64)
        table = self.encoder_.inverse_transform(num_arr, code_arr.astype(np.int64))
        elapsed = time.perf_counter() - start
        self.generate_report_ = {
            "generated_rows": n,
            "generate_s": elapsed,
            "rows_per_second": n / elapsed if elapsed > 0 else None,
            "steps": self.steps,
        }
        return table

    def report(self) -> dict[str, Any]:
        return {**getattr(self, "fit_report_", {}), **getattr(self, "generate_report_", {})}


def _first(values: list[float]) -> float | None:
    return float(np.mean(values[:10])) if values else None


def _last(values: list[float]) -> float | None:
    return float(np.mean(values[-10:])) if values else None
