"""CTAB-GAN's networks (Zhao et al., 2021, Sec. 3, design of CTAB-GAN): a convolutional
generator and discriminator over rows reshaped into square matrices, and an MLP classifier.

Following table-GAN (Park et al., 2018), whose CNN design CTAB-GAN adopts, an encoded row
(for the discriminator: the row followed by its conditional vector) is zero-padded to
``side * side`` entries and read as a one-channel ``side x side`` image; ``side`` is the
smallest power of two >= 8 that fits. The layer plan is DCGAN's:

* **Generator**: noise and conditional vector as a ``(in, 1, 1)`` tensor; a transposed
  convolution to ``4 x 4``, then stride-2 transposed convolutions doubling the size and
  halving the channels up to ``side x side`` with one channel; batch norm and ReLU between
  layers. The image is flattened and cut to the row width; the output activations (tanh
  for ``alpha``, Gumbel-softmax for one-hot spans) are applied by :func:`activate`.
* **Discriminator**: stride-2 convolutions halving the size and doubling the channels
  down to ``4 x 4`` (LeakyReLU 0.2, batch norm after the first), whose flattened output
  is the feature vector of the information loss, then a ``4 x 4`` convolution and a sigmoid.
* **Classifier**: an MLP with four hidden layers of 256 units predicting the target column
  from the other columns (the auxiliary classifier of the classification loss).

This module imports torch at the top: the adapter imports it only inside ``fit``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from adapters.ctabgan.transformer import Span

MIN_SIDE = 8


def square_side(width: int) -> int:
    """The smallest power of two >= ``MIN_SIDE`` whose square holds ``width`` entries."""
    side = MIN_SIDE
    while side * side < width:
        side *= 2
    return side


def to_square(x: torch.Tensor, side: int) -> torch.Tensor:
    """(batch, width) -> (batch, 1, side, side), zero-padded."""
    return F.pad(x, (0, side * side - x.shape[1])).view(-1, 1, side, side)


def _n_stride_layers(side: int) -> int:
    return int(math.log2(side // 4))


class Generator(nn.Module):
    """Transposed-convolution generator: ``(batch, in_dim)`` -> ``(batch, side * side)``."""

    def __init__(self, in_dim: int, side: int, channels: int) -> None:
        super().__init__()
        n = _n_stride_layers(side)
        width = channels * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for i in range(n):
            last = i == n - 1
            out = 1 if last else width // 2
            layers.append(nn.ConvTranspose2d(width, out, 4, 2, 1, bias=last))
            if not last:
                layers += [nn.BatchNorm2d(out), nn.ReLU(True)]
            width = out
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1)).flatten(1)


class Discriminator(nn.Module):
    """Convolutional discriminator: image -> (probability real, feature vector)."""

    def __init__(self, side: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width_in, width = 1, channels
        for i in range(_n_stride_layers(side)):
            layers.append(nn.Conv2d(width_in, width, 4, 2, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, True))
            width_in, width = width, width * 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(width_in, 1, 4, 1, 0), nn.Sigmoid())

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(image)
        return self.head(h).view(-1), h.flatten(1)


class Classifier(nn.Sequential):
    """MLP auxiliary classifier: the features of a row -> class logits."""

    def __init__(self, in_dim: int, n_classes: int, hidden: tuple[int, ...]) -> None:
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            width = h
        layers.append(nn.Linear(width, n_classes))
        super().__init__(*layers)


def activate(raw: torch.Tensor, spans: list[Span], tau: float = 0.2) -> torch.Tensor:
    """Generator output -> a row: tanh on ``alpha`` entries, Gumbel-softmax on one-hot spans.

    The Gumbel-softmax (temperature ``tau``, as in CTGAN) keeps one-hot spans differentiable
    while sampling a category, so the discriminator sees near one-hot vectors as in real rows.
    """
    parts = []
    for span in spans:
        x = raw[:, span.start : span.stop]
        if span.activation == "tanh":
            parts.append(torch.tanh(x))
        else:
            u = torch.rand_like(x).clamp_(1e-10, 1 - 1e-10)
            parts.append(torch.softmax((x - torch.log(-torch.log(u))) / tau, dim=1))
    return torch.cat(parts, dim=1)
