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
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

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
    "upright_size",
]

# What PIL raises for missing, empty, corrupt, truncated or implausibly large files.
UNREADABLE = (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError)

# The most pixels an image may have once resized, before its centre crop: bounds the memory a very
# elongated image takes (a 1 x 10000 strip resized to a shorter side of 256 would be 256 x 2560000).
MAX_RESIZED_PIXELS = 2**24

# EXIF orientations that turn the stored image by 90 degrees (height and width swap on display).
_QUARTER_TURNS = (5, 6, 7, 8)
_ORIENTATION = 0x0112

# 16-bit greyscale modes: PIL's convert("RGB") clips them at 255 (all white); scaled to 8 bits instead.
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")

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
    (a from-scratch CNN need not upsample 8-pixel digits to 32). ``final``: an image
    that comes out at another size is then stretched to this (height, width), as
    training does with images of a minority size (see :meth:`exactly`).
    """

    crop: tuple[int, int]
    shorter: int | None = None
    only_larger: bool = False
    final: tuple[int, int] | None = None

    def exactly(self, size: tuple[int, int]) -> Resize:
        """This resize, then a stretch to ``size`` where an image comes out at another size.

        Training stretches images of a minority size to the most common one; predict and
        images streamed from disk use this, so that every path sizes an image alike.
        """
        return replace(self, final=(int(size[0]), int(size[1])))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) an image of this size comes out at."""
        return self.final or self.cropped_size(height, width)

    def cropped_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) after the resize and crop, before any stretch to ``final``."""
        if self.only_larger and self.shorter is not None and min(height, width) <= self.shorter:
            return height, width
        return self.crop

    def scaled_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after resizing, before the crop."""
        if self.shorter is None:
            return self.crop
        scale = self.shorter / min(height, width)
        return max(self.shorter, round(height * scale)), max(self.shorter, round(width * scale))

    def check(self, source: str, height: int, width: int) -> None:
        """Refuse, naming ``source``, an image so elongated that resizing it would take too much memory.

        The resized size does not depend on the orientation: the stored height and width will do.
        """
        if self.cropped_size(height, width) == (height, width):
            return
        scaled_h, scaled_w = self.scaled_size(height, width)
        if scaled_h * scaled_w > MAX_RESIZED_PIXELS:
            raise BadImageError(
                f"image {source} is {height} x {width} pixels (aspect ratio "
                f"{max(height, width) / min(height, width):.0f}:1): resized to a shorter side of "
                f"{self.shorter} pixels it would be {scaled_h} x {scaled_w} before its centre crop, "
                f"more than {MAX_RESIZED_PIXELS} pixels; crop the image or remove it "
                "(on_bad_image='skip' leaves it out)"
            )

    def apply(self, image: Image.Image) -> Image.Image:
        """Resize and centre-crop a PIL image (after :meth:`draft`), then stretch it to ``final``."""
        height, width = image.height, image.width
        if self.cropped_size(height, width) != (height, width):
            scaled_h, scaled_w = self.scaled_size(height, width)
            if (scaled_h, scaled_w) != (height, width):
                image = image.resize((scaled_w, scaled_h), Image.BILINEAR)
            crop_h, crop_w = self.crop
            top, left = (scaled_h - crop_h) // 2, (scaled_w - crop_w) // 2
            if (top, left) != (0, 0) or (crop_h, crop_w) != (scaled_h, scaled_w):
                image = image.crop((left, top, left + crop_w, top + crop_h))
        if self.final is not None and (image.height, image.width) != self.final:
            image = image.resize(self.final[::-1], Image.BILINEAR)  # as training stretches minority sizes
        return image

    def draft(self, image: Image.Image) -> None:
        """Let a JPEG decode at the smallest 1/2^k scale that still covers the resize (of the upright image)."""
        height, width = upright_size(image)
        if self.cropped_size(height, width) == (height, width):
            return
        scaled_h, scaled_w = self.scaled_size(height, width)
        turned = (height, width) != (image.height, image.width)
        image.draft("RGB", (scaled_h, scaled_w) if turned else (scaled_w, scaled_h))


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(height, width) of an opened image as shown, where its EXIF orientation turns it by 90 degrees.

    Read from the header; a PNG's EXIF may follow its pixels, so PNGs count as stored.
    """
    exif = image.getexif() if image.format != "PNG" else {}
    if exif.get(_ORIENTATION, 1) in _QUARTER_TURNS:
        return image.width, image.height
    return image.height, image.width


def decode_image(source: str, read: Callable[[], Any], resize: Resize | None = None) -> np.ndarray:
    """Decode one image to an RGB uint8 HWC array, upright, sized by ``resize``; names ``source`` on failure.

    ``read()`` returns what ``PIL.Image.open`` takes (a path or a file object). The
    EXIF orientation a camera records is applied (a phone photo is shown, and learnt,
    the way up it was taken); 16-bit greyscale is scaled to 8 bits.
    """
    try:
        with Image.open(read()) as image:
            if resize is not None:
                resize.check(source, image.height, image.width)
                resize.draft(image)
            image.load()  # decodes the whole file: a truncated one fails here, not later
            ImageOps.exif_transpose(image, in_place=True)
            rgb = _to_rgb(image)
            return np.asarray(rgb if resize is None else resize.apply(rgb))
    except BadImageError:
        raise
    except UNREADABLE as err:
        raise _unreadable(source, err) from err


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB with 8 bits per channel; 16-bit greyscale keeps its contrast (65535 is white)."""
    if image.mode in _SIXTEEN_BIT:
        pixels = np.asarray(image).astype(np.int64)
        image = Image.fromarray(((pixels + 128) // 257).clip(0, 255).astype(np.uint8))
    return image.convert("RGB")


def _unreadable(source: str, err: Exception) -> BadImageError:
    """The error naming the file; for PIL's decompression-bomb guard, how to let a trusted file through."""
    hint = ""
    if isinstance(err, Image.DecompressionBombError):
        hint = "; if the file is trusted, raise PIL.Image.MAX_IMAGE_PIXELS, else remove it"
    return BadImageError(f"cannot read image {source}: {str(err).rstrip('.')}{hint}")


def resize_images(images: torch.Tensor, resize: Resize) -> torch.Tensor:
    """:class:`Resize` for a batch already in memory (``(N, C, H, W)``, uint8 or float)."""
    height, width = images.shape[-2:]
    if resize.output_size(height, width) == (height, width):
        return images
    resize.check(f"in the array (shape {tuple(images.shape)})", height, width)
    chunks = []
    for chunk in images.split(256):  # bounded float copies for large arrays
        scaled = chunk.float()
        if resize.cropped_size(height, width) != (height, width):
            scaled_h, scaled_w = resize.scaled_size(height, width)
            scaled = F.interpolate(scaled, size=(scaled_h, scaled_w), mode="bilinear", antialias=True)
            top, left = (scaled_h - resize.crop[0]) // 2, (scaled_w - resize.crop[1]) // 2
            scaled = scaled[..., top : top + resize.crop[0], left : left + resize.crop[1]]
        if resize.final is not None and tuple(scaled.shape[-2:]) != resize.final:
            scaled = F.interpolate(scaled, size=resize.final, mode="bilinear", antialias=True)
        chunks.append(scaled.round().clamp(0, 255).to(torch.uint8) if images.dtype == torch.uint8 else scaled)
    return torch.cat(chunks)


def decoder_threads() -> int:
    """Threads for decoding: PIL releases the GIL, so a few more than the cores keep them busy."""
    return min(8, (os.cpu_count() or 1) + 2)


def stack_nchw(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """Same-sized HWC uint8 arrays as one contiguous NCHW tensor."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def check_complete(source: str, read: Callable[[], Any], resize: Resize | None = None) -> None:
    """Read a whole file, cheaply, so that a truncated one shows before training rather than during it.

    Opening an image reads only its header, so a JPEG whose end is cut opens fine and
    fails only when decoded, mid-training. JPEGs are decoded at 1/8 scale (``draft``:
    every byte is still read), PNGs have their chunk checksums verified without
    decompressing, other formats are decoded. An image ``resize`` refuses (:meth:`Resize.check`)
    is refused now too. ``read`` as for :func:`decode_image`. Raises :class:`BadImageError` naming ``source``.
    """
    try:
        with Image.open(read()) as image:
            if resize is not None:
                resize.check(source, image.height, image.width)
            if image.format == "PNG":
                image.verify()
                return
            if image.format == "JPEG":
                image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except BadImageError:
        raise
    except UNREADABLE as err:
        raise _unreadable(source, err) from err


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
    sources: Sequence[str],
    readers: Sequence[Callable[[], Any]],
    *,
    resize: Resize | None,
    on_bad_image: OnBadImage,
) -> list[str | None]:
    """:func:`check_complete` on every file, in threads: each one's problem, or None where it reads whole."""

    def problem(i: int) -> str | None:
        try:
            check_complete(sources[i], readers[i], resize)
        except BadImageError as err:
            if on_bad_image == "raise":
                raise
            return str(err)
        return None

    with ThreadPoolExecutor(max_workers=decoder_threads()) as pool:
        return list(pool.map(problem, range(len(sources))))
