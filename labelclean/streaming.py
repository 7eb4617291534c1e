"""Images that stay on disk: decoded batch by batch, in threads, ahead of the training step.

:class:`ImageFiles` looks like the uint8 ``(N, C, H, W)`` tensor the training loop
indexes, but holds only the file paths; each ``files[index]`` decodes those files
(resized to one size) in a thread pool. The loop fetches the next batch while the
current one trains (:func:`prefetch`), so decoding runs off the training thread.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .images import Resize, decode_image, decoder_threads, stack_nchw


class ImageFiles:
    """Lazily decoded RGB images, all sized by ``resize`` (to ``final``, else ``crop``), indexable by
    int tensors, slices and lists."""

    def __init__(self, paths: Sequence[str], resize: Resize, workers: int | None = None):
        self.paths = list(paths)
        self.resize = resize
        self.size = resize.final or resize.crop
        self.workers = workers or decoder_threads()
        self._pool = ThreadPoolExecutor(self.workers)

    # the tensor-like surface the loop, Normalize.fit and predict_logits use
    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), 3, *self.size))

    ndim = 4
    dtype = torch.uint8

    def __len__(self) -> int:
        return len(self.paths)

    def to(self, *args: Any, **kwargs: Any) -> ImageFiles:
        return self  # batches move to the device after decoding

    def split(self, size: int) -> Iterator[torch.Tensor]:
        """Decoded chunks of ``size`` images, in order (as ``Tensor.split``)."""
        for start in range(0, len(self), size):
            yield self._decode(range(start, min(start + size, len(self))))

    def __getitem__(self, index: Any) -> Any:
        """A slice stays on disk (a smaller ImageFiles); an index tensor or list is decoded."""
        if isinstance(index, slice):
            return ImageFiles(self.paths[index], self.resize, self.workers)
        rows = index.detach().cpu().tolist() if isinstance(index, torch.Tensor) else list(index)
        return self._decode(rows)

    def digest(self) -> str:
        """A hash of the files as they are on disk (paths, sizes, mtimes), without reading them."""
        hasher = hashlib.blake2b(f"ImageFiles {self.resize}".encode(), digest_size=16)
        for path in self.paths:
            stat = os.stat(path)
            hasher.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return hasher.hexdigest()

    def _decode(self, rows: Iterable[int]) -> torch.Tensor:
        return stack_nchw(list(self._pool.map(self._read, rows)))

    def _read(self, row: int) -> np.ndarray:
        """One file's pixels at ``size``; a file that fails now is named (:class:`BadImageError`)."""
        path = Path(self.paths[row])
        return decode_image(str(path), lambda: path, self.resize)

    def __getstate__(self) -> dict[str, Any]:  # the pool does not pickle
        return {k: v for k, v in self.__dict__.items() if k != "_pool"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pool = ThreadPoolExecutor(self.workers)


def prefetch(
    inputs: Any, batches: Sequence[torch.Tensor], pin_memory: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(index, inputs[index])`` for each batch, fetching the next one while the caller works.

    In-memory tensors are indexed directly; disk-backed inputs are decoded one batch ahead
    in a background thread, into pinned memory when ``pin_memory`` (fast copies to a GPU).
    """
    if isinstance(inputs, torch.Tensor):
        for index in batches:
            yield index, inputs[index]
        return

    def fetch(index: torch.Tensor) -> torch.Tensor:
        batch = inputs[index]
        return batch.pin_memory() if pin_memory else batch

    with ThreadPoolExecutor(1) as ahead:
        pending = ahead.submit(fetch, batches[0]) if batches else None
        for i, index in enumerate(batches):
            batch = pending.result()
            if i + 1 < len(batches):
                pending = ahead.submit(fetch, batches[i + 1])
            yield index, batch
