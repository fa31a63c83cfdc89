"""lgc's autoencoder: its training budget, the encoder (which stays with the sender), the small
decoder (whose weights ship in the payload), and the supervised contrastive loss of the `contrastive`
variant."""

from __future__ import annotations

from dataclasses import dataclass

from bench.api.profiles import Profile
from bench.learn.classifier import N_CLASSES


@dataclass(frozen=True, kw_only=True)
class LgcProfile(Profile):
    """The autoencoder's training budget."""

    epochs: int
    max_images: int | None  # a slice of the train split; None: all of it
    batch: int = 128
    lr: float = 2e-3


def build_decoder(latent_dim: int, width: int, conditional: bool):
    """fc -> (2w, 4, 4) -> 7x7 -> 14x14 -> 28x28; sigmoid pixel probabilities. Small: its weights ship."""
    from torch import nn

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conditional = conditional
            self.fc = nn.Linear(latent_dim + (N_CLASSES if conditional else 0), 2 * width * 16)
            self.up = nn.Sequential(
                nn.ReLU(), nn.Unflatten(1, (2 * width, 4, 4)),
                nn.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1), nn.ReLU(),  # 7x7
                nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.ReLU(),      # 14x14
                nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),                     # 28x28 logits
            )

        def forward(self, z, onehot=None):
            import torch

            if self.conditional:
                z = torch.cat([z, onehot], dim=1)
            return self.up(self.fc(z))

    return Decoder()


def build_encoder(latent_dim: int, variational: bool, conditional: bool):
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conditional = conditional
            self.conv = nn.Sequential(
                nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ReLU(),   # 14x14
                nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(),  # 7x7
                nn.Flatten(),
            )
            self.fc = nn.Sequential(nn.Linear(32 * 49 + (N_CLASSES if conditional else 0), 256), nn.ReLU(),
                                    nn.Linear(256, latent_dim * (2 if variational else 1)))

        def forward(self, x, onehot=None):
            import torch

            h = self.conv(x)
            if self.conditional:
                h = torch.cat([h, onehot], dim=1)
            return self.fc(h)

    return Encoder()


def supervised_contrastive_loss(z, labels, temperature: float):
    """SupCon (Khosla et al. 2020) on normalised latents: pull same-class latents together."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(z, dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, -1e9)
    positive = (labels[:, None] == labels[None, :]) & ~self_mask
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    has_positive = positive.any(1)
    mean_log_prob = (log_prob * positive).sum(1)[has_positive] / positive.sum(1)[has_positive]
    return -mean_log_prob.mean()
