"""PyTorch networks of the zoo, and the wrapper that gives any of them the model contract.

The networks take normalised float NCHW input; :class:`ContractModule` turns the contract's
uint8 [N, H, W(, 3)] image into that inside the module, so the exported graph carries the
preprocessing and the native baseline runs the very same code.
"""

from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """Two conv + pool stages and three dense layers; padding adapts to small images."""

    def __init__(self, in_channels: int, image_hw: tuple[int, int], num_classes: int):
        super().__init__()
        small = min(image_hw) < 20  # e.g. 8x8 digits: keep spatial size through conv2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=2 if small else 0),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, in_channels, *image_hw)).shape[1]
        self.classifier = nn.Sequential(
            nn.Linear(n_flat, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ContractModule(nn.Module):
    """uint8 image in; (label int64, scores float32) out; normalisation inside.

    ``mean`` and ``std`` are per-channel statistics of the training images, stored as
    buffers so they travel with the weights and into the ONNX graph.
    """

    def __init__(self, net: nn.Module, mean: list[float], std: list[float], layout: str):
        super().__init__()
        self.net = net
        self.layout = layout
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """uint8 [N, H, W] or [N, H, W, 3] -> normalised float [N, C, H, W]."""
        x = image.to(torch.float32) / 255.0
        x = x.permute(0, 3, 1, 2) if self.layout == "NHWC" else x.unsqueeze(1)
        return (x - self.mean) / self.std

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        """Raw class logits, for the training loss."""
        return self.net(self.normalise(image))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = torch.softmax(self.logits(image), dim=1)
        return torch.argmax(scores, dim=1), scores
