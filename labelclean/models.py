"""Networks labelclean can train, by name, each behind the input normalisation it carries.

:func:`mlp` for feature vectors, the paper's :func:`wrn28_2` for images, and
:func:`cnn_small`, small enough to train on CIFAR-sized images on a CPU; which one
``model="auto"`` means is the run's plan's to say (:mod:`labelclean.recipes`). Any
``torch.nn.Module`` mapping a batch to logits can be used instead of a name, and any
torchvision classification model name (``"resnet50"``, ``"efficientnet_b0"``, ...) is a
pretrained backbone (:mod:`labelclean.backbones`).

Every trained network starts with a :class:`Normalize` fitted on its training inputs, so a
saved model carries its own preprocessing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .backbones import Backbone

__all__ = [
    "MODELS",
    "Normalize",
    "build_model",
    "build_network",
    "cnn_small",
    "mlp",
    "resnet50",
    "with_normalization",
    "wrn28_2",
]


class Normalize(nn.Module):
    """Casts to float and standardises with stored per-channel (or per-feature) statistics.

    Kept inside the model so that a saved model carries its own preprocessing.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())

    @classmethod
    def fit(cls, inputs: torch.Tensor) -> Normalize:
        """Statistics over every axis except the channel (images) or feature axis."""
        dims = [0, 2, 3] if inputs.ndim == 4 else [0]
        shape = (1, -1, 1, 1) if inputs.ndim == 4 else (1, -1)
        # Chunked so that a large uint8 set is never copied to float all at once.
        total = torch.zeros(inputs.shape[1], dtype=torch.float64)
        total_sq = torch.zeros_like(total)
        count = 0
        for chunk in inputs.split(4096):
            chunk = chunk.double()
            total += chunk.sum(dim=dims)
            total_sq += (chunk**2).sum(dim=dims)
            count += chunk.numel() // inputs.shape[1]
        mean = total / count
        std = (total_sq / count - mean**2).clamp_min(0).sqrt().clamp_min(1e-6)
        return cls(mean.reshape(shape), std.reshape(shape))

    @classmethod
    def placeholder(cls, input_shape: tuple[int, ...]) -> Normalize:
        """A Normalize of the right shape for inputs of ``input_shape``, whose statistics saved weights overwrite."""
        shape = (1, input_shape[0], 1, 1) if len(input_shape) == 3 else (1, input_shape[0])
        return cls(torch.zeros(shape), torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std


def with_normalization(network: nn.Module, inputs: torch.Tensor) -> nn.Sequential:
    """``network`` behind a :class:`Normalize` fitted on ``inputs``: the model carries its preprocessing."""
    return nn.Sequential(Normalize.fit(inputs), network)


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.GELU(),
    ]


def cnn_small(num_classes: int, in_channels: int = 3, widths: tuple[int, ...] = (32, 64, 128)):
    """A fast VGG-style CNN: conv-BN-GELU pairs with max-pooling between stages.

    About 0.3M parameters with the default widths; any input size of 8 pixels or more.
    """
    layers: list[nn.Module] = _conv_bn(in_channels, widths[0])
    c_in = widths[0]
    for width in widths:
        layers += [*_conv_bn(c_in, width), nn.MaxPool2d(2, ceil_mode=True)]
        layers += _conv_bn(width, width)
        c_in = width
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    return nn.Sequential(*layers)


class _WideBasic(nn.Module):
    """Pre-activation residual block of a wide ResNet."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (
            None if stride == 1 and c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + skip


def wrn28_2(num_classes: int, in_channels: int = 3, depth: int = 28, widen: int = 2):
    """Wide ResNet-28-2 (Zagoruyko & Komodakis, 2016), the paper's CIFAR backbone."""
    blocks_per_group = (depth - 4) // 6
    widths = [16, 16 * widen, 32 * widen, 64 * widen]
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)]
    c_in = widths[0]
    for group, width in enumerate(widths[1:]):
        for block in range(blocks_per_group):
            stride = 2 if group > 0 and block == 0 else 1
            layers.append(_WideBasic(c_in, width, stride))
            c_in = width
    layers += [
        nn.BatchNorm2d(c_in),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(c_in, num_classes),
    ]
    return nn.Sequential(*layers)


def resnet50(num_classes: int, in_channels: int = 3, weights: str | Path | None = None) -> nn.Module:
    """torchvision's ResNet-50 with a fresh ``num_classes`` head (the Clothing1M backbone).

    ``weights``: a local ``.pth`` state dict, a torchvision weights name, or None
    (random init); see :func:`labelclean.backbones.torchvision_backbone`.
    """
    from .backbones import torchvision_backbone

    if in_channels != 3:
        raise ValueError(f"resnet50 takes 3-channel images, got {in_channels} channels")
    return torchvision_backbone("resnet50", weights).classifier(num_classes)


def mlp(num_classes: int, in_features: int, hidden: tuple[int, ...] = (256, 256)):
    """A BatchNorm MLP for feature vectors (embeddings, tabular features)."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.GELU()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


# Networks labelclean trains from scratch; any torchvision classification model name
# is a pretrained backbone instead (labelclean.backbones).
MODELS: dict[str, Callable[..., nn.Module]] = {
    "cnn_small": cnn_small,
    "wrn28_2": wrn28_2,
    "mlp": mlp,
}


def build_model(name: str, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """Build a registered model for inputs of ``input_shape`` (C, H, W) or (D,)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; use 'auto', one of {sorted(MODELS)}, or a torch.nn.Module")
    if name == "mlp":
        if len(input_shape) != 1:
            raise ValueError(f"'mlp' takes feature vectors, got inputs of shape {input_shape}")
        return mlp(num_classes, input_shape[0])
    if len(input_shape) != 3:
        raise ValueError(f"{name!r} takes images, got inputs of shape {input_shape}")
    return MODELS[name](num_classes, in_channels=input_shape[0])


def build_network(
    network: str,
    num_classes: int,
    inputs: torch.Tensor,
    *,
    module: nn.Module | None = None,
    backbone: Backbone | None = None,
) -> nn.Sequential:
    """A fresh network for ``inputs``, its input preprocessing inside (so a saved model carries it).

    ``network`` is a registered name, ``"module"`` (a copy of ``module``) or ``"backbone"``
    (``backbone`` fine-tuned whole, with a new classifier behind its pixel normalisation).
    """
    if network == "backbone":
        return nn.Sequential(backbone.pixel_normalize(), copy.deepcopy(backbone).classifier(num_classes))
    fresh = (
        copy.deepcopy(module)
        if network == "module"
        else build_model(network, num_classes, tuple(inputs.shape[1:]))
    )
    return with_normalization(fresh, inputs)
