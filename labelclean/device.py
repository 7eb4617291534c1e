"""Where a run computes and in which arithmetic: the device "auto" stands for, and bf16 autocast."""

from __future__ import annotations

import platform
from typing import Any

import torch

from . import distributed

__all__ = ["autocast", "default_device", "device_name", "may_use_gpu", "resolve_device"]


def default_device() -> torch.device:
    """What ``device="auto"`` means here: this rank's GPU (the only one outside torchrun), else the CPU."""
    return distributed.local_device()


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` as :func:`default_device`; any other name as torch spells it."""
    if isinstance(device, str) and device == "auto":
        return default_device()
    return torch.device(device)


def may_use_gpu(device: Any) -> bool:
    """Whether a run with this ``device`` setting may compute on a GPU (where results are not bit-exact)."""
    if isinstance(device, str) and device == "auto":
        return torch.cuda.is_available()
    try:
        return torch.device(device).type != "cpu"
    except (RuntimeError, TypeError):
        return False  # an invalid device: fit refuses it


def autocast(device: torch.device, bf16: bool | None = None) -> torch.autocast:
    """bf16 autocast; by default on CUDA only (full tensor-core speed on Ampere and Hopper).

    CPUs with native bf16 (AVX512-BF16, AMX) also run it faster than fp32, but the CPU
    defaults were tuned in fp32, so there it is opt-in.
    """
    enabled = device.type == "cuda" if bf16 is None else bf16
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's with the threads torch uses (for benchmark records)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
