"""Batch augmentation of training images: random crops and flips of a whole batch at once.

Each works on a ``(N, C, H, W)`` float batch on the training device with one gather or one
``roi_align``, never a Python loop over images, so augmentation keeps up with a GPU.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["random_crop", "random_flip", "random_resized_crop"]


def random_flip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip a random half of a batch of images horizontally."""
    mask = torch.rand(images.shape[0], generator=generator, device=images.device) < 0.5
    return torch.where(mask[:, None, None, None], images.flip(-1), images)


def random_resized_crop(
    images: torch.Tensor,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A random box of each image (``scale`` of its area, aspect ``ratio``) resized back to its size.

    torchvision's RandomResizedCrop for a whole batch at once, one bilinear
    ``roi_align`` instead of a loop over images.
    """
    from torchvision.ops import roi_align

    n, _, h, w = images.shape
    device = images.device
    area = torch.empty(n, device=device).uniform_(*scale, generator=generator) * h * w
    log_ratio = torch.empty(n, device=device).uniform_(*np.log(ratio), generator=generator)
    aspect = log_ratio.exp()
    box_w = (area * aspect).sqrt().clamp(1, w)
    box_h = (area / aspect).sqrt().clamp(1, h)
    x0 = torch.rand(n, generator=generator, device=device) * (w - box_w)
    y0 = torch.rand(n, generator=generator, device=device) * (h - box_h)
    boxes = torch.stack([torch.arange(n, device=device, dtype=x0.dtype), x0, y0, x0 + box_w, y0 + box_h], 1)
    return roi_align(images, boxes.to(images.dtype), output_size=(h, w), sampling_ratio=1, aligned=True)


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crops of the original size after reflect-padding by ``padding`` pixels.

    One gather for the whole batch: no Python loop over images.
    """
    if padding == 0:
        return images
    n, c, h, w = images.shape
    padded = F.pad(images, (padding,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=images.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]
