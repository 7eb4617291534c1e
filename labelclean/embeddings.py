"""Embeddings of images by a frozen backbone, computed once and cached on disk.

Each sample is keyed by what identifies its pixels: a file's absolute path, size
and modification time, or the bytes of an in-memory image. The cache of a backbone
(``<cache_dir>/<backbone fingerprint>/``) holds append-only shards of (key,
embedding); a later ``fit`` with other parameters embeds nothing again, and a
changed file gets a new key, so only it is embedded again. Shards are written
atomically, so a run stopped half-way keeps every finished shard.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .fileio import atomic_write
from .streaming import prefetch

__all__ = ["EmbeddingCache", "default_cache_dir", "embed_images", "sample_keys"]

SHARD_ROWS = 4096  # a shard is written after this many new embeddings (a kill loses at most that)


def default_cache_dir() -> Path:
    """``$LABELCLEAN_CACHE``, else ``$XDG_CACHE_HOME/labelclean``, else ``~/.cache/labelclean``."""
    if "LABELCLEAN_CACHE" in os.environ:
        return Path(os.environ["LABELCLEAN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "labelclean"


def sample_keys(sources: Sequence[str], images: torch.Tensor | None) -> list[str]:
    """One key per sample: files by path, size and mtime; in-memory images by their pixel bytes."""
    if images is None:
        keys = []
        for source in sources:
            stat = os.stat(source)
            keys.append(f"{os.path.abspath(source)}|{stat.st_size}|{stat.st_mtime_ns}")
        return [hashlib.sha1(k.encode()).hexdigest() for k in keys]
    return [hashlib.sha1(image.contiguous().numpy().tobytes()).hexdigest() for image in images]


class EmbeddingCache:
    """Embeddings of one backbone, in shards of ``keys`` and float16 ``embeddings`` under ``folder``."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def lookup(self, keys: Sequence[str], width: int) -> tuple[np.ndarray, np.ndarray]:
        """``(found, embeddings)``: which keys are cached, and their rows (zeros where not)."""
        wanted = {key: i for i, key in enumerate(keys)}
        found = np.zeros(len(keys), dtype=bool)
        out = np.zeros((len(keys), width), dtype=np.float16)
        for shard in sorted(self.folder.glob("shard-*.npz")) if self.folder.exists() else []:
            with np.load(shard) as stored:
                for row, key in enumerate(stored["keys"]):
                    i = wanted.get(str(key))
                    if i is not None and not found[i]:
                        out[i] = stored["embeddings"][row]
                        found[i] = True
        return found, out

    def add(self, keys: Sequence[str], embeddings: np.ndarray) -> None:
        path = self.folder / f"shard-{uuid.uuid4().hex}.npz"

        def write(tmp: str) -> None:
            with open(tmp, "wb") as file:
                np.savez(file, keys=np.asarray(keys), embeddings=embeddings.astype(np.float16))

        atomic_write(path, write)


@torch.no_grad()
def embed_images(
    network: nn.Module,
    images: torch.Tensor,
    keys: Sequence[str],
    *,
    width: int,
    cache: EmbeddingCache | None,
    device: torch.device,
    batch_size: int = 64,
    bf16: bool | None = None,
    verbose: bool = False,
) -> torch.Tensor:
    """``network(images)`` in eval mode, batch by batch, for the samples not in ``cache``.

    ``images`` is a uint8 tensor or disk-backed :class:`labelclean.streaming.ImageFiles`
    (only uncached rows are decoded). Returns float32 ``(N, width)``, rounded through
    float16 so that a cached and a fresh run give the same numbers.
    """
    from tqdm.auto import tqdm

    from .training import autocast

    found, out = cache.lookup(keys, width) if cache is not None else (np.zeros(len(keys), bool), None)
    out = np.zeros((len(keys), width), dtype=np.float16) if out is None else out
    missing = torch.from_numpy(np.flatnonzero(~found))
    network.to(device).eval()
    pending_rows: list[int] = []
    with tqdm(total=len(missing), desc="embedding images", unit="img", disable=not verbose) as bar:
        batches = [rows for rows in missing.split(batch_size) if len(rows)]
        for index, batch in prefetch(images, batches, device.type == "cuda"):
            with autocast(device, bf16):
                features = network(batch.to(device, non_blocking=True))
            rows = index.tolist()
            out[rows] = features.float().cpu().numpy().astype(np.float16)
            pending_rows += rows
            if cache is not None and len(pending_rows) >= SHARD_ROWS:
                cache.add([keys[i] for i in pending_rows], out[pending_rows])
                pending_rows = []
            bar.update(len(rows))
    if cache is not None and pending_rows:
        cache.add([keys[i] for i in pending_rows], out[pending_rows])
    return torch.from_numpy(out.astype(np.float32))
