"""Embeddings of images by a frozen backbone, computed once and cached on disk.

Each sample is keyed by what identifies its pixels: a file's absolute path, size
and modification time and how it is decoded (its resize), or the bytes of an
in-memory image. The cache of a backbone (``<cache_dir>/<backbone fingerprint>/``,
the fingerprint covering its layers, code, weights and preprocessing) holds
append-only shards of (key, embedding); a later ``fit`` with other parameters
embeds nothing again, and a changed file gets a new key, so only it is embedded
again. Shards are written atomically, so a run stopped half-way keeps every
finished shard. A cache that cannot be written, or a damaged shard, costs only
time: a warning names it, and the images are embedded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import uuid
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    """Embeddings of one backbone, in shards of ``keys`` and float16 ``embeddings`` under ``folder``.

    A folder that cannot be written (a file, read-only, not creatable) is found here, before
    any embedding: a warning says so, existing shards are still read, new ones are not written.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.writable = self._try_write()

    def _try_write(self) -> bool:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.folder):
                pass
        except OSError as err:
            self._stop_writing(err)
            return False
        return True

    def _stop_writing(self, err: OSError) -> None:
        self.writable = False
        warnings.warn(
            f"cannot write the embedding cache in {self.folder} ({err.strerror or err}): images are "
            "embedded without saving their embeddings; pass cache_dir= a writable folder, or cache_dir=None",
            UserWarning,
            stacklevel=4,
        )

    def lookup(self, keys: Sequence[str], width: int) -> tuple[np.ndarray, np.ndarray]:
        """``(found, embeddings)``: which keys are cached, and their rows (zeros where not).

        A damaged shard (unreadable, of another width, not finite) is named in a warning and
        removed; its images are embedded again.
        """
        wanted = {key: i for i, key in enumerate(keys)}
        found = np.zeros(len(keys), dtype=bool)
        out = np.zeros((len(keys), width), dtype=np.float16)
        for shard in sorted(self.folder.glob("shard-*.npz")) if self.folder.is_dir() else []:
            try:
                stored_keys, embeddings = _read_shard(shard, width)
            except _DAMAGED as err:
                self._drop(shard, err)
                continue
            for row, key in enumerate(stored_keys):
                i = wanted.get(str(key))
                if i is not None and not found[i]:
                    out[i] = embeddings[row]
                    found[i] = True
        return found, out

    def _drop(self, shard: Path, err: Exception) -> None:
        warnings.warn(
            f"embedding cache shard {shard} is damaged ({err}): it is removed, and its images are embedded again",
            UserWarning,
            stacklevel=4,
        )
        with contextlib.suppress(OSError):  # a read-only cache: skipped again next time
            shard.unlink(missing_ok=True)

    def add(self, keys: Sequence[str], embeddings: np.ndarray) -> None:
        """Write a shard; if the cache stops being writable (a full disk), warn once and go on without it."""
        if not self.writable:
            return
        path = self.folder / f"shard-{uuid.uuid4().hex}.npz"

        def write(tmp: str) -> None:
            with open(tmp, "wb") as file:
                np.savez(file, keys=np.asarray(keys), embeddings=embeddings.astype(np.float16))

        try:
            atomic_write(path, write)
        except OSError as err:
            self._stop_writing(err)


# What reading a shard that is not one of ours, or is cut short, raises.
_DAMAGED = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def _read_shard(shard: Path, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A shard's keys and embeddings, checked: one ``width``-wide finite row per key."""
    try:
        with np.load(shard) as stored:
            keys, embeddings = stored["keys"], stored["embeddings"]
    except _DAMAGED as err:
        raise ValueError(
            "it is not a readable .npz file of keys and embeddings (cut short, or written by something else)"
        ) from err
    if keys.ndim != 1 or embeddings.shape != (len(keys), width):
        raise ValueError(
            f"{len(keys)} keys and embeddings of shape {embeddings.shape}, expected width {width}"
        )
    if not np.isfinite(embeddings).all():
        raise ValueError("it holds non-finite embeddings (NaN or inf)")
    return keys, embeddings


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
    (only uncached rows are decoded); ``keys`` (:func:`sample_keys`) are combined with how
    the images decode. Returns float32 ``(N, width)``, rounded through float16 so that a
    cached and a fresh run give the same numbers.
    """
    from tqdm.auto import tqdm

    from .training import autocast

    keys = _with_decoding(keys, images)
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
            _check_features(features, len(rows), width)
            out[rows] = features.float().cpu().numpy().astype(np.float16)
            pending_rows += rows
            if cache is not None and len(pending_rows) >= SHARD_ROWS:
                cache.add([keys[i] for i in pending_rows], out[pending_rows])
                pending_rows = []
            bar.update(len(rows))
    if cache is not None and pending_rows:
        cache.add([keys[i] for i in pending_rows], out[pending_rows])
    return torch.from_numpy(out.astype(np.float32))


def _check_features(features: Any, n: int, width: int) -> None:
    """One row of ``width`` features per image, or an error saying what the backbone returned instead."""
    if not isinstance(features, torch.Tensor) or tuple(features.shape) != (n, width):
        got = (
            f"shape {tuple(features.shape)}"
            if isinstance(features, torch.Tensor)
            else type(features).__name__
        )
        raise ValueError(
            f"the backbone returned {got} for a batch of {n} images; expected ({n}, {width}): "
            f"one row of {width} features per image"
        )


def _with_decoding(keys: Sequence[str], images: Any) -> list[str]:
    """A file's key names its bytes; its pixels also depend on how it is decoded (size, resize)."""
    decoding = f"{getattr(images, 'resize', None)}|{tuple(images.shape[1:])}"
    return [hashlib.sha1(f"{key}|{decoding}".encode()).hexdigest() for key in keys]
