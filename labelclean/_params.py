"""One table of constraints for SLNCleaner's parameters, checked once at ``fit``.

Each entry maps a parameter to a check that returns ``None`` when the value is
allowed, else what it must be ("a finite number in [0, 1)"); the error names the
parameter, its value and that allowed range.
"""

from __future__ import annotations

import math
import os
from numbers import Integral, Real
from typing import Any

from torch import nn

AUTO = "auto"


def _number(
    kind: type,
    low: float | None = None,
    high: float | None = None,
    *,
    auto: bool = False,
    none: bool = False,
    closed_low: bool = True,
    closed_high: bool = True,
):
    """A finite int (``kind=Integral``) or real number in a range, optionally "auto" or None."""
    what = "a whole number" if kind is Integral else "a finite number"
    if low is not None and high is not None:
        what += f" in {'[' if closed_low else '('}{low}, {high}{']' if closed_high else ')'}"
    elif low is not None:
        what += f" {'>=' if closed_low else '>'} {low}"
    extras = [repr(AUTO)] * auto + ["None"] * none
    if extras:
        what += " or " + " or ".join(extras)

    def check(value: Any) -> str | None:
        if (auto and isinstance(value, str) and value == AUTO) or (none and value is None):
            return None
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
            return what
        below = low is not None and (value < low or (value == low and not closed_low))
        above = high is not None and (value > high or (value == high and not closed_high))
        return what if below or above else None

    return check


def _choice(*options: Any, module: bool = False):
    def check(value: Any) -> str | None:
        if module and isinstance(value, nn.Module):
            return None
        if isinstance(value, str) and value in options:
            return None
        return "one of " + ", ".join(repr(o) for o in options) + (" or a torch.nn.Module" if module else "")

    return check


def _model(value: Any) -> str | None:
    from .backbones import Backbone, is_torchvision_model
    from .models import MODELS

    if isinstance(value, Backbone) or is_torchvision_model(value):
        return None
    problem = _choice(AUTO, *MODELS, module=True)(value)
    return None if problem is None else problem + ", a labelclean Backbone, or a torchvision model name"


def _sigma(value: Any) -> str | None:
    """One strength, "auto", or several to choose from on held-out noisy labels."""
    one = _number(Real, 0, auto=True)
    several = "a non-empty list of finite numbers >= 0"
    if isinstance(value, (list, tuple)):
        finite = _number(Real, 0)
        return None if value and all(finite(v) is None for v in value) else several
    problem = one(value)
    return None if problem is None else f"{problem}, or {several}"


def _path_or(*options: Any):
    def check(value: Any) -> str | None:
        if value in options or isinstance(value, (str, os.PathLike)):
            return None
        return "a path or one of " + ", ".join(repr(o) for o in options)

    return check


def _device(value: Any) -> str | None:
    """A device torch knows and this machine has: "cuda" without a GPU is refused here."""
    import torch

    if isinstance(value, str) and value == AUTO:
        return None
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        return "'auto' or a torch device such as 'cpu' or 'cuda:0'"
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return "'auto' or 'cpu': this machine has no CUDA GPU that torch can use"
        if device.index is not None and device.index >= count:
            return f"'cuda' or 'cuda:0' to 'cuda:{count - 1}' (this machine has {count} CUDA GPUs)"
    if device.type == "mps" and not torch.backends.mps.is_available():
        return "'auto' or 'cpu': MPS is not available on this machine"
    return None


def _image_size(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value == AUTO):
        return None
    pair = isinstance(value, (tuple, list)) and len(value) == 2
    if pair and all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in value):
        return None
    return "'auto', None or (height, width) in pixels"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "True or False"


CONSTRAINTS = {
    "sigma": _sigma,
    # a = 1 never moves the momentum model off its random initialisation
    "momentum": _number(Real, 0, 1, auto=True, closed_high=False),
    "epochs": _number(Integral, 1, auto=True),
    "correction_start": _number(Integral, 0, auto=True, none=True),
    "lr": _number(Real, 0, auto=True, closed_low=False),
    "batch_size": _number(Integral, 2, auto=True),
    "memory_limit_gb": _number(Real, 0),
    "weight_decay": _number(Real, 0, auto=True),
    "weights": _path_or(AUTO, None),
    "finetune": _choice(AUTO, "full", "head"),
    "cache_dir": _path_or(AUTO, None),
    "augment": _flag,
    "compile": _flag,
    "image_size": _image_size,
    "on_bad_image": _choice("raise", "skip"),
    "channels": _choice(AUTO, "first", "last"),
    "precision": _choice(AUTO, "bf16", "fp32"),
    "folds": _number(Integral, 2, auto=True),
    "repeats": _number(Integral, 1, auto=True),
    "model": _model,
    "device": _device,
    "random_state": _number(Integral, 0, none=True),
    "verbose": lambda v: None if isinstance(v, (bool, Integral)) else "True or False",
    "checkpoint_dir": lambda v: None if v is None or isinstance(v, (str, os.PathLike)) else "None or a path",
    "callbacks": lambda v: None if v is None or isinstance(v, (list, tuple)) else "None or a list",
}


def validate_params(params: dict[str, Any]) -> None:
    """Raise one ValueError naming the parameter, its value and what it must be."""
    for name, check in CONSTRAINTS.items():
        problem = check(params[name])
        if problem is not None:
            raise ValueError(f"SLNCleaner parameter {name}={params[name]!r} must be {problem}")
    if params["checkpoint_dir"] is not None and params["random_state"] is None:
        raise ValueError(
            "SLNCleaner parameter checkpoint_dir needs random_state set to an int: with "
            "random_state=None every fit draws new random numbers, so no later fit could resume "
            "the checkpoint"
        )
