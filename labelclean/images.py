"""Decoding images at the size the network trains on, never at the size of the file.

A 12-megapixel photo decoded in full takes 36 MB; the network sees it at 32 or
224 pixels. :func:`decode_image` asks the JPEG decoder for a reduced scale first
(PIL's draft mode: 1/2, 1/4 or 1/8 of the side, decoded that small), then resizes
with antialiasing and centre-crops, so memory and time follow the training size.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

__all__ = [
    "UNREADABLE",
    "BadImageError",
    "Resize",
    "check_all_complete",
    "check_complete",
    "decode_all",
    "decode_image",
    "decoder_threads",
    "resize_images",
    "stack_nchw",
]

# What PIL raises for missing, empty, corrupt or truncated files.
UNREADABLE = (UnidentifiedImageError, OSError, ValueError, SyntaxError)

OnBadImage = Literal["raise", "skip"]


class BadImageError(ValueError):
    """An image that cannot be read or decoded; the message names the file or row."""


@dataclass(frozen=True)
class Resize:
    """How decoded images are sized for the network.

    With ``shorter``: scale so that the shorter side is ``shorter`` pixels, then take
    the centre ``crop`` (torchvision's ``Resize`` + ``CenterCrop``, what pretrained
    weights expect). Without: resize to exactly ``crop`` (height, width).
    ``only_larger``: images whose shorter side is at most ``shorter`` keep their size
    (a from-scratch CNN need not upsample 8-pixel digits to 32).
    """

    crop: tuple[int, int]
    shorter: int | None = None
    only_larger: bool = False

    def exactly(self, size: tuple[int, int]) -> Resize:
        """The same kind of resize, always producing ``size`` (for images that must match a fitted size)."""
        return Resize(crop=tuple(size), shorter=None if self.shorter is None else min(size))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) an image of this size comes out at."""
        if self.only_larger and self.shorter is not None and min(height, width) <= self.shorter:
            return height, width
        return self.crop

    def scaled_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after resizing, before the crop."""
        if self.shorter is None:
            return self.crop
        scale = self.shorter / min(height, width)
        return max(self.shorter, round(height * scale)), max(self.shorter, round(width * scale))

    def apply(self, image: Image.Image) -> Image.Image:
        """Resize and centre-crop a PIL image (after :meth:`draft`)."""
        height, width = image.height, image.width
        if self.output_size(height, width) == (height, width):
            return image
        scaled_h, scaled_w = self.scaled_size(height, width)
        if (scaled_h, scaled_w) != (height, width):
            image = image.resize((scaled_w, scaled_h), Image.BILINEAR)
        crop_h, crop_w = self.crop
        top, left = (scaled_h - crop_h) // 2, (scaled_w - crop_w) // 2
        if (top, left) != (0, 0) or (crop_h, crop_w) != (scaled_h, scaled_w):
            image = image.crop((left, top, left + crop_w, top + crop_h))
        return image

    def draft(self, image: Image.Image) -> None:
        """Let a JPEG decode at the smallest 1/2^k scale that still covers the resize."""
        height, width = image.height, image.width
        if self.output_size(height, width) == (height, width):
            return
        scaled_h, scaled_w = self.scaled_size(height, width)
        image.draft("RGB", (scaled_w, scaled_h))


def decode_image(source: str, read: Callable[[], Any], resize: Resize | None = None) -> np.ndarray:
    """Decode one image to an RGB uint8 HWC array, sized by ``resize``; names ``source`` on failure.

    ``read()`` returns what ``PIL.Image.open`` takes (a path or a file object).
    """
    try:
        with Image.open(read()) as image:
            if resize is not None:
                resize.draft(image)
            image.load()  # decodes the whole file: a truncated one fails here, not later
            rgb = image.convert("RGB")
            return np.asarray(rgb if resize is None else resize.apply(rgb))
    except UNREADABLE as err:
        raise BadImageError(f"cannot read image {source}: {err}") from err


def resize_images(images: torch.Tensor, resize: Resize) -> torch.Tensor:
    """:class:`Resize` for a batch already in memory (``(N, C, H, W)``, uint8 or float)."""
    height, width = images.shape[-2:]
    if resize.output_size(height, width) == (height, width):
        return images
    scaled_h, scaled_w = resize.scaled_size(height, width)
    chunks = []
    for chunk in images.split(256):  # bounded float copies for large arrays
        scaled = F.interpolate(chunk.float(), size=(scaled_h, scaled_w), mode="bilinear", antialias=True)
        top, left = (scaled_h - resize.crop[0]) // 2, (scaled_w - resize.crop[1]) // 2
        scaled = scaled[..., top : top + resize.crop[0], left : left + resize.crop[1]]
        chunks.append(scaled.round().clamp(0, 255).to(torch.uint8) if images.dtype == torch.uint8 else scaled)
    return torch.cat(chunks)


def decoder_threads() -> int:
    """Threads for decoding: PIL releases the GIL, so a few more than the cores keep them busy."""
    return min(8, (os.cpu_count() or 1) + 2)


def stack_nchw(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """Same-sized HWC uint8 arrays as one contiguous NCHW tensor."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def check_complete(source: str, path: str | os.PathLike) -> None:
    """Read a whole file, cheaply, so that a truncated one shows before training rather than during it.

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


# --- many images, in a thread pool -------------------------------------------------------


def decode_all(
    sources: Sequence[str],
    readers: Sequence[Callable[[], Any]],
    *,
    image_size: Resize | None,
    on_bad_image: OnBadImage,
    verbose: bool,
) -> tuple[torch.Tensor, list[int], list[tuple[str, str]]]:
    """Decode images in threads, each sized as it decodes; returns the NCHW uint8 tensor, kept rows, skipped.

    Images that still differ in size are resized to the most common size.
    """
    from tqdm.auto import tqdm

    def attempt(i: int) -> np.ndarray | BadImageError:
        try:
            return decode_image(sources[i], readers[i], image_size)
        except BadImageError as err:
            if on_bad_image == "raise":
                raise
            return err

    with ThreadPoolExecutor(max_workers=decoder_threads()) as pool:
        results = list(
            tqdm(
                pool.map(attempt, range(len(sources))),
                total=len(sources),
                desc="decoding images",
                disable=not verbose,
            )
        )
    kept = [i for i, r in enumerate(results) if isinstance(r, np.ndarray)]
    skipped = [(sources[i], str(r)) for i, r in enumerate(results) if not isinstance(r, np.ndarray)]
    if not kept:
        raise BadImageError(f"none of the {len(sources)} images could be read; first: {skipped[0][1]}")
    arrays = [results[i] for i in kept]
    height, width = Counter(a.shape[:2] for a in arrays).most_common(1)[0][0]
    arrays = [
        a
        if a.shape[:2] == (height, width)
        else np.asarray(Image.fromarray(a).resize((width, height), Image.BILINEAR))
        for a in arrays
    ]
    return stack_nchw(arrays), kept, skipped


def check_all_complete(
    sources: Sequence[str], readers: Sequence[Callable[[], Any]], *, on_bad_image: OnBadImage
) -> list[str | None]:
    """:func:`check_complete` on every file, in threads: each one's problem, or None where it reads whole."""

    def problem(i: int) -> str | None:
        try:
            check_complete(sources[i], readers[i]())
        except BadImageError as err:
            if on_bad_image == "raise":
                raise
            return str(err)
        return None

    with ThreadPoolExecutor(max_workers=decoder_threads()) as pool:
        return list(pool.map(problem, range(len(sources))))
