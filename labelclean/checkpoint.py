"""Checkpoints of the training loop: saved atomically after every epoch, resumed only by the same run.

A checkpoint carries a fingerprint of its run (the samples, every label, the reviewed
samples, the seed, every setting and the network's layout); a later fit resumes from
it only when its own fingerprint is the same, and otherwise says, in words, what differs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from . import distributed
from .fileio import atomic_write
from .streaming import ImageFiles

if TYPE_CHECKING:
    from .training import Trainer

__all__ = ["CHECKPOINT_FILE", "data_digest", "fingerprint_differences", "resume", "run_fingerprint", "save"]

CHECKPOINT_FILE = "checkpoint.pt"

_FINGERPRINT_PARTS = {
    "samples": "the samples differ",
    "labels": "the labels differ",
    "fixed": "the reviewed samples differ",
    "classes": "the number of classes differs",
    "seed": "the random seed differs (random_state)",
    "network": "the network differs",
}


def run_fingerprint(trainer: Trainer) -> dict[str, Any]:
    """What makes a checkpoint this trainer's run: its data, labels, seed, settings and network layout."""
    layout = [(name, tuple(p.shape)) for name, p in trainer.model.state_dict().items()]
    return {
        "samples": data_digest(trainer.inputs),
        "labels": data_digest(trainer.labels),
        "fixed": data_digest(trainer.fixed),
        "classes": trainer.given_onehot.shape[1],
        "seed": trainer.seed,
        "config": trainer.config.to_dict(),
        "network": f"{type(trainer.model).__name__} {_digest(repr(layout).encode())}",
    }


def fingerprint_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two runs' fingerprints, in words (empty when they are the same run)."""
    differences = [text for key, text in _FINGERPRINT_PARTS.items() if saved.get(key) != current.get(key)]
    old, new = saved.get("config", {}), current.get("config", {})
    changed = [
        f"{k} {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    if changed:
        differences.append("the settings differ: " + ", ".join(changed))
    return differences


def data_digest(inputs: torch.Tensor | ImageFiles) -> str:
    """A hash of the samples: a tensor's bytes (read in chunks), or files' paths, sizes and mtimes."""
    if isinstance(inputs, ImageFiles):
        return inputs.digest()
    hasher = hashlib.blake2b(f"{inputs.dtype} {tuple(inputs.shape)}".encode(), digest_size=16)
    for chunk in inputs.reshape(len(inputs), -1).split(4096):
        hasher.update(chunk.detach().cpu().contiguous().view(torch.uint8).numpy())
    return hasher.hexdigest()


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def resume(trainer: Trainer, path: Path | None) -> None:
    """Continue ``trainer`` from the checkpoint at ``path``, if there is one; refuse another run's."""
    if path is None or not path.exists():
        return
    state = torch.load(path, map_location=trainer.device, weights_only=True)
    try:
        trainer.load_state_dict(state)
    except ValueError as err:
        raise ValueError(
            f"cannot resume from {path}: {err}. Nothing was trained or deleted; to start afresh, "
            f"use a new checkpoint_dir or delete {path}"
        ) from None


def save(trainer: Trainer, path: Path | None) -> None:
    """Write ``trainer``'s whole state to ``path`` atomically (rank 0 only); every rank waits for it."""
    if path is not None and distributed.is_main():
        state = trainer.state_dict()
        atomic_write(path, lambda tmp: torch.save(state, tmp))
    distributed.barrier()
