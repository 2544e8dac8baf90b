"""TABSYN's autoencoder (Section 3.2): column tokenizer, transformer VAE, adaptive beta.

* **Tokenizer.** Column ``i`` becomes a ``d_token`` vector: a numerical value ``x`` gives
  ``x * w_i + b_i``; a categorical value is a row of the column's embedding table (the
  one-hot vector times ``W_i``) plus ``b_i``. A row is then ``M`` tokens.
* **Encoder.** Two transformers over the tokens, one giving the posterior mean ``mu`` and one
  its log-variance, both ``(M, d_token)``; ``z = mu + exp(logvar / 2) * eps``.
* **Decoder.** A transformer over ``z``'s tokens, then the detokenizer: numerical column
  ``i`` is ``z_i . w~_i + b~_i``, categorical column ``j`` has logits ``z_j W~_j + b~_j``.
* **Loss.** MSE over numerical columns plus mean cross-entropy over categorical ones, plus
  ``beta`` times the KL divergence to N(0, I) (mean per latent coordinate).
* **Adaptive beta** (:class:`BetaSchedule`): ``beta`` starts at ``beta_max`` and is multiplied
  by ``decay`` whenever the reconstruction loss has not improved for ``patience`` epochs,
  never going below ``beta_min``. A large ``beta`` early shapes a regular latent space; a
  small one later buys reconstruction accuracy, which is what the decoder needs.

Transformer blocks are ``torch.nn.TransformerEncoderLayer`` with ``n_head`` heads, a
feed-forward width of ``factor * d_token`` and no dropout. They are pre-norm, with no final
LayerNorm, as in the authors' code: the encoders' output is then the free residual stream.
Post-norm would end every encoder in a LayerNorm over the ``d_token`` coordinates, which pins
each latent token to zero mean and unit variance before one shared affine map: with
``d_token = 4`` every token would lie on the same 2-D surface, not in a free 4-D space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from bench.progress import ProgressLog


class BetaSchedule:
    """The paper's adaptive KL weight: decay on a reconstruction plateau, floor at beta_min."""

    def __init__(
        self,
        beta_max: float = 1e-2,
        beta_min: float = 1e-5,
        decay: float = 0.7,
        patience: int = 10,
    ) -> None:
        if not 0 < beta_min <= beta_max:
            raise ValueError(f"need 0 < beta_min <= beta_max, got {beta_min} and {beta_max}")
        if not 0 < decay < 1:
            raise ValueError(f"beta decay must lie in (0, 1), got {decay}")
        if patience < 1:
            raise ValueError(f"beta patience must be a positive number of epochs, got {patience}")
        self.beta = beta_max
        self.beta_min = beta_min
        self.decay = decay
        self.patience = patience
        self.best = math.inf
        self.waited = 0
        self.decays = 0

    def step(self, recon_loss: float) -> float:
        """Record one epoch's reconstruction loss; return the beta for the next epoch."""
        if recon_loss < self.best:
            self.best = recon_loss
            self.waited = 0
            return self.beta
        self.waited += 1
        if self.waited >= self.patience and self.beta > self.beta_min:
            self.beta = max(self.beta * self.decay, self.beta_min)
            self.decays += 1
            self.waited = 0
        return self.beta


class Tokenizer(nn.Module):
    """Numerical value -> ``x * w + b``; category -> embedding row + column bias."""

    def __init__(self, n_num: int, cardinalities: Sequence[int], d_token: int) -> None:
        super().__init__()
        scale = 1 / math.sqrt(d_token)
        self.num_weight = nn.Parameter(torch.empty(n_num, d_token).uniform_(-scale, scale))
        self.num_bias = nn.Parameter(torch.empty(n_num, d_token).uniform_(-scale, scale))
        n_cat = len(cardinalities)
        self.embedding = nn.Embedding(max(1, sum(cardinalities)), d_token)
        nn.init.uniform_(self.embedding.weight, -scale, scale)
        self.cat_bias = nn.Parameter(torch.empty(n_cat, d_token).uniform_(-scale, scale))
        offsets = torch.tensor([0, *list(cardinalities)[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", offsets[:n_cat], persistent=False)

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        num = x_num.unsqueeze(-1) * self.num_weight + self.num_bias
        cat = self.embedding(x_cat + self.offsets) + self.cat_bias
        return torch.cat([num, cat], dim=1)


class Detokenizer(nn.Module):
    """Token ``i`` -> numerical value ``z_i . w~_i + b~_i`` or categorical logits."""

    def __init__(self, n_num: int, cardinalities: Sequence[int], d_token: int) -> None:
        super().__init__()
        scale = 1 / math.sqrt(d_token)
        self.n_num = n_num
        self.num_weight = nn.Parameter(torch.empty(n_num, d_token).uniform_(-scale, scale))
        self.num_bias = nn.Parameter(torch.zeros(n_num))
        self.heads = nn.ModuleList(nn.Linear(d_token, k) for k in cardinalities)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        num = (tokens[:, : self.n_num] * self.num_weight).sum(-1) + self.num_bias
        cat_tokens = tokens[:, self.n_num :].unbind(1)  # one backward copy, not one per head
        logits = [head(t) for head, t in zip(self.heads, cat_tokens, strict=True)]
        return num, logits


def _transformer(
    d_token: int, n_layers: int, n_head: int, factor: int, norm_first: bool = True
) -> nn.Module:
    """``norm_first=False`` (post-norm) only for ``benchmarks/tabsyn_norm_ab.py``."""
    layer = nn.TransformerEncoderLayer(
        d_model=d_token,
        nhead=n_head,
        dim_feedforward=factor * d_token,
        dropout=0.0,
        batch_first=True,
        norm_first=norm_first,
    )
    return nn.TransformerEncoder(layer, num_layers=n_layers, enable_nested_tensor=False)


class TabularVAE(nn.Module):
    """Tokenizer -> transformers (mu, logvar) -> z -> transformer -> detokenizer."""

    def __init__(
        self,
        n_num: int,
        cardinalities: Sequence[int],
        d_token: int = 4,
        n_layers: int = 2,
        n_head: int = 1,
        factor: int = 32,
    ) -> None:
        super().__init__()
        if d_token % n_head:
            raise ValueError(f"d_token ({d_token}) must be a multiple of n_head ({n_head})")
        self.tokenizer = Tokenizer(n_num, cardinalities, d_token)
        self.encoder_mu = _transformer(d_token, n_layers, n_head, factor)
        self.encoder_logvar = _transformer(d_token, n_layers, n_head, factor)
        self.decoder = _transformer(d_token, n_layers, n_head, factor)
        self.detokenizer = Detokenizer(n_num, cardinalities, d_token)

    def encode(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Posterior mean and log-variance, each ``(batch, M, d_token)``."""
        tokens = self.tokenizer(x_num, x_cat)
        return self.encoder_mu(tokens), self.encoder_logvar(tokens)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Latent tokens -> (numerical values, list of categorical logits)."""
        return self.detokenizer(self.decoder(z))

    def forward(
        self, x_num: torch.Tensor, x_cat: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x_num, x_cat)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        num, logits = self.decode(z)
        return num, logits, mu, logvar


def vae_losses(
    model: TabularVAE, x_num: torch.Tensor, x_cat: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction loss, KL divergence) of one batch."""
    num, logits, mu, logvar = model(x_num, x_cat)
    recon = x_num.new_zeros(())
    if x_num.shape[1]:
        recon = recon + F.mse_loss(num, x_num)
    if logits:
        ce = [F.cross_entropy(lg, x_cat[:, j]) for j, lg in enumerate(logits)]
        recon = recon + torch.stack(ce).mean()
    kl = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
    return recon, kl


@dataclass
class VAEHistory:
    """Per-epoch training figures, for the adapter's report."""

    recon: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    beta: list[float] = field(default_factory=list)
    decays: int = 0


def train_vae(
    model: TabularVAE,
    x_num: torch.Tensor,
    x_cat: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    schedule: BetaSchedule,
    generator: torch.Generator,
) -> VAEHistory:
    """Adam on ``recon + beta * kl``; beta follows ``schedule`` epoch by epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=0.0)
    history = VAEHistory()
    n = len(x_num)
    model.train()
    log = ProgressLog("tabsyn vae", epochs)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator).to(x_num.device)
        recon_sum = kl_sum = 0.0
        beta = schedule.beta
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            recon, kl = vae_losses(model, x_num[idx], x_cat[idx])
            loss = recon + beta * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            recon_sum += recon.item() * len(idx)
            kl_sum += kl.item() * len(idx)
        history.recon.append(recon_sum / n)
        history.kl.append(kl_sum / n)
        history.beta.append(beta)
        schedule.step(recon_sum / n)
        log(epoch, recon=recon_sum / n, kl=kl_sum / n, beta=beta)
    history.decays = schedule.decays
    model.eval()
    return history


@torch.no_grad()
def embed(model: TabularVAE, x_num: torch.Tensor, x_cat: torch.Tensor, batch: int) -> torch.Tensor:
    """Posterior means of the rows, flattened to ``(n, M * d_token)``: the diffusion's data."""
    model.eval()
    parts = [
        model.encode(x_num[s : s + batch], x_cat[s : s + batch])[0].flatten(1)
        for s in range(0, len(x_num), batch)
    ]
    return torch.cat(parts)
