"""One table of constraints for SLNCleaner's parameters, checked once at ``fit``."""

from __future__ import annotations

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
    auto=False,
    none=False,
    closed_low: bool = True,
):
    def check(value: Any) -> str | None:
        if auto and value == AUTO:
            return None
        if none and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, kind):
            return f"a {'whole ' if kind is Integral else ''}number"
        if low is not None and (value < low or (value == low and not closed_low)):
            return f"{'>=' if closed_low else '>'} {low}"
        if high is not None and value > high:
            return f"<= {high}"
        return None

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
    one = _number(Real, 0, auto=True)
    if isinstance(value, (list, tuple)) and value:
        problems = [one(v) for v in value if v != AUTO]
        return None if not any(problems) and AUTO not in value else "a list of numbers >= 0"
    return None if one(value) is None else ">= 0, a non-empty list of such numbers, or 'auto'"


def _path_or(*options: Any):
    def check(value: Any) -> str | None:
        if value in options or isinstance(value, (str, os.PathLike)):
            return None
        return "a path or one of " + ", ".join(repr(o) for o in options)

    return check


def _device(value: Any) -> str | None:
    import torch

    if value == AUTO:
        return None
    try:
        torch.device(value)
    except (RuntimeError, TypeError):
        return "'auto' or a torch device such as 'cpu' or 'cuda:0'"
    return None


CONSTRAINTS = {
    "sigma": _sigma,
    "momentum": _number(Real, 0, 1, auto=True, closed_low=True),
    "epochs": _number(Integral, 1, auto=True),
    "correction_start": _number(Integral, 0, auto=True, none=True),
    "lr": _number(Real, 0, auto=True, closed_low=False),
    "batch_size": _number(Integral, 2, auto=True),
    "memory_limit_gb": _number(Real, 0),
    "weight_decay": _number(Real, 0, auto=True),
    "weights": _path_or(AUTO, None),
    "finetune": _choice(AUTO, "full", "head"),
    "cache_dir": _path_or(AUTO, None),
    "augment": lambda v: None if isinstance(v, bool) else "True or False",
    "compile": lambda v: None if isinstance(v, bool) else "True or False",
    "image_size": lambda v: (
        None
        if v is None
        or v == AUTO
        or (
            isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(s, Integral) and s > 0 for s in v)
        )
        else "'auto', None or (height, width)"
    ),
    "on_bad_image": _choice("raise", "skip"),
    "precision": _choice(AUTO, "bf16", "fp32"),
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
