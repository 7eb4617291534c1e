"""Decoding image files (or bytes) to RGB uint8 pixels, shared by the in-memory and on-disk paths.

Every failure is a :class:`BadImageError` naming the file or row, so that a corrupt
image is reported, or skipped, the same way whichever path decodes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = [
    "UNREADABLE",
    "BadImageError",
    "check_complete",
    "decode_rgb",
    "decoder_threads",
    "resize_rgb",
    "stack_nchw",
]

# What PIL raises for missing, empty, corrupt or truncated files.
UNREADABLE = (UnidentifiedImageError, OSError, ValueError, SyntaxError)


class BadImageError(ValueError):
    """An image that cannot be read or decoded; the message names the file or row."""


def decoder_threads() -> int:
    """Threads for decoding: PIL releases the GIL, so a few more than the cores keep them busy."""
    return min(8, (os.cpu_count() or 1) + 2)


def decode_rgb(source: str, read: Callable[[], Any]) -> np.ndarray:
    """Decode one image to an RGB uint8 HWC array, naming ``source`` on failure.

    ``read`` returns what ``PIL.Image.open`` takes (a path or a file object).
    """
    try:
        with Image.open(read()) as image:
            image.load()
            return np.asarray(image.convert("RGB"))
    except UNREADABLE as err:
        raise BadImageError(f"cannot read image {source}: {err}") from err


def resize_rgb(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``array`` (H, W, 3) at ``size`` (height, width), bilinear; unchanged when already that size."""
    height, width = size
    if array.shape[:2] == (height, width):
        return array
    return np.asarray(Image.fromarray(array).resize((width, height), Image.BILINEAR))


def stack_nchw(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """Same-sized HWC uint8 arrays as one contiguous NCHW tensor."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def check_complete(source: str, path: str | os.PathLike) -> None:
    """Read the whole file cheaply enough for a check before training, so truncation shows now.

    Opening an image reads only its header, so a JPEG whose end is cut opens fine and
    fails only when decoded, mid-training. JPEGs are decoded at 1/8 scale (``draft``:
    every byte is still read), PNGs have their chunk checksums verified without
    decompressing, other formats are decoded. Raises :class:`BadImageError` naming ``source``.
    """
    try:
        with Image.open(path) as image:
            if image.format == "PNG":
                image.verify()
                return
            if image.format == "JPEG":
                image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except UNREADABLE as err:
        raise BadImageError(f"cannot read image {source}: {err}") from err
