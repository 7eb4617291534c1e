"""Saving a fitted SLNCleaner to a folder and loading it back, without pickle.

A saved cleaner is ``config.json`` (parameters, the plan, fitted attributes), ``model.pt``
(a plain state dict, loaded with ``weights_only=True``) and ``audit.parquet``. Loading
rebuilds the network's architecture from the record and loads the weights into it;
nothing is downloaded. Folders saved before the plan was recorded load too.

``config.json`` also records a fingerprint of the folder: a digest of each setting that
decides what the network's outputs mean (the classes, in order, the input shape, the
network...) and of each of the other two files. Loading checks it, so that a folder whose
parts were mixed with another save's, or whose class list was edited, is refused by name
rather than predicting wrong class names.
"""

from __future__ import annotations

import hashlib
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

from . import __version__, distributed
from ._params import AUTO, validate_params
from .auditfile import write_audit
from .backbones import Backbone, is_torchvision_model, torchvision_backbone
from .device import resolve_device
from .fileio import atomic_write
from .images import Resize
from .models import MODELS, Normalize, build_model
from .recipes import Plan

if TYPE_CHECKING:
    from .estimator import SLNCleaner

__all__ = ["fitted_metadata", "load_cleaner", "save_cleaner"]

_REQUIRED = {"params", "resolved", "classes", "classes_dtype", "input_shape"}
# The settings whose change would change what a loaded network's outputs mean or how inputs reach it.
_FINGERPRINTED = (
    "classes",
    "classes_dtype",
    "class_names",
    "input_shape",
    "resize",
    "pixel_dtype",
    "feature_names",
    "feature_mean",
    "feature_scale",
    "resolved",
    "backbone",
    "finetune",
)
_PARTS = {"model.pt": "the weights", "audit.parquet": "the audit"}


def fitted_metadata(cleaner: SLNCleaner) -> dict[str, Any]:
    """A fitted cleaner's audit metadata: version, settings (a module's by its class name), plan,
    classes, data source, noise rate, sigma search, backbone, time."""
    params = {k: v for k, v in cleaner.get_params(deep=False).items() if k != "callbacks"}
    if isinstance(params["model"], nn.Module):
        params["model"] = type(params["model"]).__name__
    return {
        "labelclean_version": __version__,
        "params": params,
        "resolved": cleaner.config_,
        "plan": None if cleaner.plan_ is None else cleaner.plan_.to_dict(),
        "classes": cleaner.classes_.tolist(),
        "class_names": cleaner.class_names_,
        "data_source": cleaner.data_source_,
        "n_skipped": len(cleaner.skipped_),
        "noise_rate": cleaner.noise_rate_,
        "noise_rate_by_label": [cleaner.noise_rate_by_label_.get(c) for c in cleaner.classes_.tolist()],
        "sigma_search": cleaner.sigma_search_,
        "backbone": cleaner.backbone_,
        "finetune": cleaner.finetune_,
        "created": cleaner.fitted_at_,
    }


def save_cleaner(cleaner: SLNCleaner, path: str | os.PathLike) -> Path:
    """Write ``config.json``, ``model.pt`` and ``audit.parquet`` into the folder ``path`` (rank 0 only)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(
            f"cannot save to {folder}: it is a file, and save() writes a folder (config.json, model.pt, "
            "audit.parquet); pass the path of a folder (it is created if missing)"
        )
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
            "feature_mean": _floats(getattr(cleaner, "feature_mean_", None)),
            "feature_scale": _floats(getattr(cleaner, "feature_scale_", None)),
            "history": cleaner.history_,
            "skipped": cleaner.skipped_,
        }
        state = json.loads(json.dumps(state, default=str))  # as load() will read it
        state["fingerprint"] = {
            "config": {key: _digest(state.get(key)) for key in _FINGERPRINTED},
            **{name: _file_digest(folder / name) for name in _PARTS},
        }
        text = json.dumps(state, indent=2)
        atomic_write(folder / "config.json", lambda tmp: Path(tmp).write_text(text))
    distributed.barrier()
    return folder


def load_cleaner(cls: type[SLNCleaner], path: str | os.PathLike, model: nn.Module | None) -> SLNCleaner:
    """The cleaner :func:`save_cleaner` wrote to ``path``; ``model``: an unfitted custom network to load into."""
    folder = Path(path)
    state = _read_saved_config(folder)
    params = _saved_params(cls, folder, state["params"])
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
    shares = state.get("noise_rate_by_label") or [None] * len(cleaner.classes_)
    cleaner.noise_rate_by_label_ = dict(zip(cleaner.classes_.tolist(), shares, strict=True))
    fingerprint = state.get("fingerprint", {})
    weights = _read_saved_part(folder / "model.pt", _load_weights, fingerprint.get("model.pt"))
    cleaner.model_ = _network_with(weights, _empty_model(cleaner, model), folder, custom=model is not None)
    cleaner.audit_ = _read_saved_part(
        folder / "audit.parquet", pd.read_parquet, fingerprint.get("audit.parquet")
    )
    return cleaner


def _saved_params(cls: type[SLNCleaner], folder: Path, params: Any) -> dict[str, Any]:
    """The saved parameters, refused by name when this version does not know one or one is invalid.

    ``model`` is checked when the network is built, ``device`` where it is used (a cleaner fitted
    on a GPU may be loaded on a laptop).
    """
    if not isinstance(params, dict):
        raise ValueError(f"cannot load a cleaner from {folder}: config.json's params is not a JSON object")
    unknown = sorted(set(params) - set(cls._get_param_names()))
    if unknown:
        raise ValueError(
            f"cannot load a cleaner from {folder}: config.json has parameters this labelclean "
            f"({__version__}) does not know: {unknown}; was it saved by another version, or edited?"
        )
    try:
        validate_params({**cls().get_params(deep=False), **params, "model": AUTO, "device": AUTO})
    except ValueError as err:
        raise ValueError(f"cannot load a cleaner from {folder}: config.json: {err}") from None
    return params


def _check_fingerprint(folder: Path, state: dict[str, Any]) -> None:
    """Refuse a config.json whose recorded settings changed after save() (folders saved before
    fingerprints were recorded have none to check)."""
    recorded = state.get("fingerprint", {}).get("config", {})
    changed = [key for key, digest in recorded.items() if _digest(state.get(key)) != digest]
    if changed:
        raise ValueError(
            f"cannot load a cleaner from {folder}: config.json was changed after save(): its {changed} "
            "differ from what was saved with the weights (predictions would be named or read wrongly); "
            "save the cleaner again"
        )


def _network_with(
    weights: dict[str, torch.Tensor], network: nn.Module, folder: Path, *, custom: bool
) -> nn.Module:
    """``network`` with the saved weights, or an error naming what does not fit."""
    try:
        network.load_state_dict(weights)
    except RuntimeError as err:
        problems = [line.strip() for line in str(err).splitlines()[1:] if line.strip()]
        if custom:
            advice = "pass model= an unfitted instance of the architecture the cleaner was fitted with"
        else:
            advice = "were config.json and model.pt taken from different saves? save the cleaner again"
        raise ValueError(
            f"cannot load a cleaner from {folder}: model.pt (the weights) does not fit the network "
            f"{'given as model=' if custom else 'config.json describes'} ({problems[0] if problems else err}"
            f"{f'; {len(problems)} problems in all' if len(problems) > 1 else ''}); {advice}"
        ) from None
    return network.eval()


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
    if state.get("feature_mean") is not None:
        cleaner.feature_mean_ = np.asarray(state["feature_mean"], dtype=np.float64)
        cleaner.feature_scale_ = np.asarray(state["feature_scale"], dtype=np.float64)


def _floats(values: np.ndarray | None) -> list[float] | None:
    """float64 values for JSON, which writes each float so that it reads back exactly."""
    return None if values is None else [float(v) for v in values]


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
    state = _read_saved_part(folder / "config.json", lambda p: json.loads(p.read_text()))
    if not isinstance(state, dict):
        raise ValueError(
            f"cannot load a cleaner from {folder}: config.json holds a JSON {type(state).__name__}, "
            "not the object of settings save() writes; save the cleaner again"
        )
    missing = _REQUIRED - set(state)
    if missing:
        raise ValueError(f"cannot load a cleaner from {folder}: config.json lacks {sorted(missing)}")
    _check_fingerprint(folder, state)
    return state


def _read_saved_part(path: Path, read: Callable[[Path], Any], digest: str | None = None) -> Any:
    """``read(path)``, or an error naming the damaged, missing or foreign file of a saved cleaner.

    ``digest``: the file's digest save() recorded (None: not recorded, nothing to check).
    """
    what = _PARTS.get(path.name, "the settings")
    if not path.exists():
        raise FileNotFoundError(
            f"cannot load a cleaner from {path.parent}: {path.name} ({what}) is missing; save() writes "
            "config.json, model.pt and audit.parquet"
        )
    try:
        content = read(path)
    except Exception as err:  # json, torch and pyarrow each raise their own kinds
        cause = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise ValueError(
            f"cannot load a cleaner from {path.parent}: {path.name} ({what}) is damaged ({cause}); "
            "save the cleaner again"
        ) from err
    if digest is not None and _file_digest(path) != digest:
        raise ValueError(
            f"cannot load a cleaner from {path.parent}: {path.name} ({what}) is not the file save() wrote "
            "with this config.json (its content differs): were parts of two saved folders mixed? Copy a "
            "saved folder whole, or save the cleaner again"
        )
    return content


def _digest(value: Any) -> str:
    """A short digest of a JSON value (as config.json holds it)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)
