"""PyTorch networks of the zoo, and the wrapper that gives any of them the model contract.

The networks take normalised float NCHW input; :class:`ContractModule` turns the contract's
uint8 [N, H, W(, 3)] image into that inside the module, so the exported graph carries the
preprocessing and the native baseline runs the very same code.
"""

from __future__ import annotations

from collections.abc import Sequence

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


ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU,
}

#: Weight initialisations by name; biases start at zero.
INITS = {
    "kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "xavier": nn.init.xavier_uniform_,
    "uniform": lambda w: nn.init.uniform_(w, -0.05, 0.05),
}


def _choice(name: str, value: str, choices: dict):
    if value not in choices:
        raise ValueError(
            f"The '{name}' parameter must be one of {sorted(choices)}. Got {value!r} instead."
        )
    return choices[value]


def per_layer(value: float | Sequence[float], n: int, name: str) -> list[float]:
    """One value for every layer, or a list with exactly one per layer."""
    values = list(value) if isinstance(value, list | tuple) else [float(value)] * n
    if len(values) != n:
        raise ValueError(
            f"The '{name}' parameter must be one value or {n} values (one per layer). "
            f"Got {len(values)}: {values}."
        )
    return [float(v) for v in values]


def initialise(module: nn.Module, init: str) -> None:
    """Apply a named initialisation to every Linear and Conv weight."""
    fn = _choice("init", init, INITS)
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            fn(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MLP(nn.Module):
    """Dense layers of one width, each: Linear -> (BatchNorm) -> activation -> (Dropout)."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        depth: int = 2,
        width: int = 512,
        activation: str = "relu",
        init: str = "kaiming",
        bn: bool = False,
        dropout: float | Sequence[float] = 0.0,
    ):
        super().__init__()
        act = _choice("activation", activation, ACTIVATIONS)
        rates = per_layer(dropout, depth, "dropout")
        layers: list[nn.Module] = [nn.Flatten()]
        n_in = in_features
        for rate in rates:
            layers += [nn.Linear(n_in, width)]
            layers += [nn.BatchNorm1d(width)] if bn else []
            layers += [act()]
            layers += [nn.Dropout(rate)] if rate > 0 else []
            n_in = width
        layers.append(nn.Linear(n_in, num_classes))
        self.layers = nn.Sequential(*layers)
        initialise(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ConfigurableCNN(nn.Module):
    """Conv stages (convs -> BN -> ReLU, then pooling, then dropout) and a dense or GAP head.

    Stage i has ``width * 2**i`` channels; dropout is one rate, or one per stage plus one
    for the head.
    """

    def __init__(
        self,
        in_channels: int,
        image_hw: tuple[int, int],
        num_classes: int,
        *,
        stages: int = 3,
        width: int = 32,
        convs: int = 1,
        kernel: int = 3,
        pool: str = "max",
        bn: bool = True,
        dropout: float | Sequence[float] = 0.25,
        head: str = "dense",
        dense: int = 128,
    ):
        super().__init__()
        pool_layer = _choice("pool", pool, {"max": nn.MaxPool2d, "avg": nn.AvgPool2d})
        _choice("head", head, {"dense": None, "gap": None})
        rates = per_layer(dropout, stages + 1, "dropout")
        layers: list[nn.Module] = []
        channels, size = in_channels, min(image_hw)
        for i in range(stages):
            out = width * 2**i
            for _ in range(convs):
                layers += [nn.Conv2d(channels, out, kernel, padding=kernel // 2, bias=not bn)]
                layers += [nn.BatchNorm2d(out)] if bn else []
                layers += [nn.ReLU()]
                channels = out
            if size >= 2:  # small images (8x8 digits) stop pooling when nothing is left
                layers.append(pool_layer(2))
                size //= 2
            layers += [nn.Dropout(rates[i])] if rates[i] > 0 else []
        self.features = nn.Sequential(*layers)
        if head == "gap":
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)
            )
        else:
            with torch.no_grad():
                n_flat = self.features(torch.zeros(1, in_channels, *image_hw)).numel()
            tail = [nn.Dropout(rates[-1])] if rates[-1] > 0 else []
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(n_flat, dense),
                nn.ReLU(),
                *tail,
                nn.Linear(dense, num_classes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN and an identity (or 1x1 projection) shortcut."""

    def __init__(self, channels_in: int, channels_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(channels_out),
            nn.ReLU(),
            nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels_out),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and channels_in == channels_out
            else nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels_out),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A CIFAR-style ResNet: a 3x3 stem, three stages of basic blocks, global pooling."""

    def __init__(self, in_channels: int, num_classes: int, *, width: int = 16, blocks: int = 1):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        channels = width
        for stage in range(3):
            out = width * 2**stage
            for b in range(blocks):
                layers.append(BasicBlock(channels, out, stride=2 if stage > 0 and b == 0 else 1))
                channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def flops_per_image(module: nn.Module, image_shape: tuple[int, ...]) -> int:
    """Forward FLOPs for one image (a multiply-add counts 2), from torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = module.training
    module.eval()
    image = torch.zeros(
        (1, *image_shape), dtype=torch.uint8, device=next(module.parameters()).device
    )
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(image)
    module.train(was_training)
    return int(counter.get_total_flops())


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
