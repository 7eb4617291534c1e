"""Saving a fitted SLNCleaner to a folder and loading it back, without pickle.

A saved cleaner is ``config.json`` (parameters, the plan, fitted attributes), ``model.pt``
(a plain state dict, loaded with ``weights_only=True``) and ``audit.parquet``. Loading
rebuilds the network's architecture from the record and loads the weights into it;
nothing is downloaded. Folders saved before the plan was recorded load too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import distributed
from .auditfile import write_audit
from .backbones import Backbone, is_torchvision_model, torchvision_backbone
from .device import resolve_device
from .fileio import atomic_write
from .images import Resize
from .models import MODELS, Normalize, build_model
from .recipes import Plan

if TYPE_CHECKING:
    from .estimator import SLNCleaner

__all__ = ["load_cleaner", "save_cleaner"]

_REQUIRED = {"params", "resolved", "classes", "classes_dtype", "input_shape"}


def save_cleaner(cleaner: SLNCleaner, path: str | os.PathLike) -> Path:
    """Write ``config.json``, ``model.pt`` and ``audit.parquet`` into the folder ``path`` (rank 0 only)."""
    folder = Path(path)
    if distributed.is_main():  # under torch.distributed, rank 0 writes
        folder.mkdir(parents=True, exist_ok=True)
        weights = cleaner.model_.state_dict()
        atomic_write(folder / "model.pt", lambda tmp: torch.save(weights, tmp))
        write_audit(cleaner.audit(), folder / "audit.parquet", cleaner.audit_metadata())
        state = {
            **cleaner.audit_metadata(),
            "classes_dtype": cleaner.classes_.dtype.str,
            "input_shape": list(cleaner.input_shape_),
            "resize": None if cleaner.resize_ is None else asdict(cleaner.resize_),
            "pixel_dtype": getattr(cleaner, "pixel_dtype_", None),
            "feature_names": list(getattr(cleaner, "feature_names_in_", [])) or None,
            "history": cleaner.history_,
            "skipped": cleaner.skipped_,
        }
        text = json.dumps(state, indent=2, default=str)
        atomic_write(folder / "config.json", lambda tmp: Path(tmp).write_text(text))
    distributed.barrier()
    return folder


def load_cleaner(cls: type[SLNCleaner], path: str | os.PathLike, model: nn.Module | None) -> SLNCleaner:
    """The cleaner :func:`save_cleaner` wrote to ``path``; ``model``: an unfitted custom network to load into."""
    folder = Path(path)
    state = _read_saved_config(folder)
    params = state["params"]
    cleaner = cls(**{**params, "model": model if model is not None else params["model"]})
    _restore_input(cleaner, state)
    cleaner.classes_ = np.asarray(state["classes"], dtype=np.dtype(state["classes_dtype"]))
    cleaner.class_names_ = state["class_names"]
    cleaner.config_ = state["resolved"]
    cleaner.plan_ = None if state.get("plan") is None else Plan.from_dict(state["plan"])
    cleaner.history_ = state["history"]
    cleaner.skipped_ = [tuple(s) for s in state["skipped"]]
    cleaner.data_source_ = state["data_source"]
    cleaner.fitted_at_ = state["created"]
    cleaner.device_ = resolve_device(params["device"])
    cleaner.backbone_ = state.get("backbone")
    cleaner.finetune_ = state.get("finetune")
    cleaner.sigma_search_ = state.get("sigma_search")
    cleaner.noise_rate_ = state.get("noise_rate")
    cleaner.model_ = _empty_model(cleaner, model)
    cleaner.model_.load_state_dict(_read_saved_part(folder / "model.pt", "the weights", _load_weights))
    cleaner.model_.eval()
    cleaner.audit_ = _read_saved_part(folder / "audit.parquet", "the audit", pd.read_parquet)
    return cleaner


def _restore_input(cleaner: SLNCleaner, state: dict[str, Any]) -> None:
    """What inputs at predict must match: shape, decode size, pixel type, feature names."""
    cleaner.input_shape_ = tuple(state["input_shape"])
    resize = state.get("resize")
    cleaner.resize_ = None if resize is None else Resize(**{**resize, "crop": tuple(resize["crop"])})
    if len(cleaner.input_shape_) == 1:
        cleaner.n_features_in_ = cleaner.input_shape_[0]
    if state.get("pixel_dtype") is not None:
        cleaner.pixel_dtype_ = state["pixel_dtype"]
    if state.get("feature_names") is not None:
        cleaner.feature_names_in_ = np.asarray(state["feature_names"], dtype=object)


def _empty_model(cleaner: SLNCleaner, model: nn.Module | Backbone | None) -> nn.Module:
    """The fitted network's architecture, to load its saved weights into (nothing downloaded)."""
    name, num_classes = cleaner.config_["model"], len(cleaner.classes_)
    if cleaner.backbone_ is not None:
        if isinstance(model, Backbone):
            backbone = model
        elif is_torchvision_model(cleaner.backbone_["name"]):
            backbone = torchvision_backbone(cleaner.backbone_["name"], weights=None)
        else:
            raise ValueError(
                f"fitted with a custom Backbone ({cleaner.backbone_['name']}); pass model= to load it"
            )
        if cleaner.finetune_ == "full":
            return nn.Sequential(backbone.pixel_normalize(), backbone.classifier(num_classes))
        width = backbone.num_features
        head = nn.Sequential(Normalize.placeholder((width,)), build_model("mlp", num_classes, (width,)))
        return nn.Sequential(backbone.pixel_normalize(), backbone.module, head)
    if model is None and name not in MODELS:
        raise ValueError(f"fitted with a custom module ({name}); pass model= to load it")
    network = model if model is not None else build_model(name, num_classes, cleaner.input_shape_)
    return nn.Sequential(Normalize.placeholder(cleaner.input_shape_), network)


def _read_saved_config(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise FileNotFoundError(
            f"cannot load a cleaner from {folder}: no such folder (write one with save())"
        )
    state = _read_saved_part(folder / "config.json", "the settings", lambda p: json.loads(p.read_text()))
    missing = _REQUIRED - set(state)
    if missing:
        raise ValueError(f"cannot load a cleaner from {folder}: config.json lacks {sorted(missing)}")
    return state


def _read_saved_part(path: Path, what: str, read: Callable[[Path], Any]) -> Any:
    """``read(path)``, or an error naming the damaged or missing file of a saved cleaner."""
    if not path.exists():
        raise FileNotFoundError(
            f"cannot load a cleaner from {path.parent}: {path.name} ({what}) is missing; save() writes "
            "config.json, model.pt and audit.parquet"
        )
    try:
        return read(path)
    except Exception as err:  # json, torch and pyarrow each raise their own kinds
        cause = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise ValueError(
            f"cannot load a cleaner from {path.parent}: {path.name} ({what}) is damaged ({cause}); "
            "save the cleaner again"
        ) from err


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)
