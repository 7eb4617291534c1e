"""A folder of camera-sized JPEG photos, generated, for memory and decoding benchmarks and tests.

Each photo is a smooth random picture (a small random image, upscaled), so that it
compresses like a photo rather than like noise; its class folder tints it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["make_photo_folder"]


def make_photo_folder(
    root: str | Path, n: int, size: tuple[int, int] = (4000, 3000), classes: int = 10, seed: int = 0
) -> Path:
    """``n`` JPEGs of ``size`` (width, height) in ``classes`` sub-folders; existing files are kept."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    tints = rng.integers(0, 120, (classes, 3))
    for i in range(n):
        path = root / f"class_{i % classes:02d}" / f"photo_{i:05d}.jpg"
        small = rng.integers(0, 136, (size[1] // 100, size[0] // 100, 3)) + tints[i % classes]
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(small.astype(np.uint8)).resize(size, Image.BICUBIC)
        picture.save(path, quality=85)
    return root
