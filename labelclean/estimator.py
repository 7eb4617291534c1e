"""SLNCleaner: a scikit-learn estimator over the data adapters, the loop and the method."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from . import __version__, distributed
from ._params import AUTO, validate_params
from .audit import build_audit, encode_thumbnails, write_audit
from .data import LoadedData, load_data
from .fileio import atomic_write
from .method import momentum_for_steps
from .models import build_model, resolve_model_name
from .training import Normalize, ProgressBar, Trainer, TrainingConfig, predict_logits

__all__ = ["SLNCleaner"]

# The paper's recipe (Appendix B) for long runs on a GPU, and the recipe tuned on a
# noisy validation split for a few thousand steps on a 2-core CPU (README, "Defaults").
PAPER_RECIPE = {"epochs": 300, "lr": 0.001, "sigma": 0.5}
CPU_RECIPE = {"epochs": 40, "lr": 0.02, "sigma": 0.2}
MLP_SIGMA = 0.5


class SLNCleaner(ClassifierMixin, BaseEstimator):
    """Find and fix wrong labels with SLN-MO-LC (Chen et al., ICLR 2021).

    Trains a network with stochastic label noise (SLN: fresh Gaussian noise on the
    one-hot targets of every sample at every step), keeps a momentum (EMA) copy of
    it, and in the last epochs corrects the training labels with the momentum
    model's predictions, weighted by each sample's loss. The momentum model then
    scores every training sample: :meth:`audit` lists them, :meth:`correct_labels`
    returns the corrected labels, :meth:`predict` classifies new data.

    Parameters
    ----------
    sigma : float or "auto", default="auto"
        Standard deviation of the label noise. "auto": 0.5 with the paper's recipe
        (GPU) and for feature vectors (MLP), 0.2 for images with the CPU recipe.
        0 turns SLN off (plain cross-entropy).
    momentum : float or "auto", default="auto"
        Momentum-model coefficient ``a`` in ``theta' <- a theta' + (1-a) theta``.
        "auto" sizes the averaging horizon to the run: the paper's 0.999 for runs of
        30,000 steps or more, less for shorter runs. 0 predicts with the trained model.
    epochs : int or "auto", default="auto"
        300 (the paper) on a GPU, 40 on the CPU.
    correction_start : int, None or "auto", default="auto"
        Epochs trained before label correction starts (then once per epoch, without
        SLN). "auto" = 5/6 of ``epochs`` (the paper: 250 of 300); None = never.
    lr : float or "auto", default="auto"
        SGD learning rate (momentum 0.9, constant): 0.001 (the paper) on a GPU, 0.02
        on the CPU.
    batch_size : int, default=128
    weight_decay : float, default=5e-4
    model : str or torch.nn.Module, default="auto"
        "auto", a name from :data:`labelclean.models.MODELS` ("cnn_small",
        "wrn28_2", "resnet50", "mlp") or a module mapping a batch to logits. "auto":
        "mlp" for feature vectors, "wrn28_2" for images on a GPU, "cnn_small" on the CPU.
    augment : bool, default=True
        Random crop (reflect padding of 1/8 of the image side) and horizontal flip
        of training images.
    image_size : (int, int) or None, default=None
        Resize decoded images to (height, width); None keeps their size (the most
        common size when they differ).
    on_bad_image : {"raise", "skip"}, default="raise"
        What to do with an image that cannot be read: raise an error naming it, or
        leave it out and record it in ``skipped_``.
    device : str, default="auto"
        "auto" uses CUDA when available, else the CPU.
    random_state : int or None, default=None
        Seed for weight initialisation, batching, augmentation and label noise.
    verbose : bool, default=False
        Progress bars for decoding and training.
    callbacks : list of labelclean.training.Callback or None, default=None
        Extra hooks into the training loop (e.g. per-epoch evaluation).
    checkpoint_dir : str, Path or None, default=None
        Save the training state there after every epoch (atomically); a later
        ``fit`` with the same data, parameters and ``random_state`` resumes from it.
    compile : bool, default=False
        Wrap the network in ``torch.compile`` (worth it for long GPU runs).
    memory_limit_gb : float, default=4.0
        Image files whose decoded pixels would take more stay on disk and are
        decoded batch by batch in threads, one batch ahead of training.
    precision : {"auto", "bf16", "fp32"}, default="auto"
        Arithmetic of the network's forward pass (weights stay fp32). "auto": bf16
        autocast on CUDA, fp32 on the CPU. "bf16" on a CPU with native bf16
        (AVX512-BF16 or AMX) trains about twice as fast; the CPU defaults were
        tuned in fp32.

    Attributes
    ----------
    classes_ : ndarray
        The labels seen in ``fit``, sorted; columns of :meth:`predict_proba`.
    class_names_ : list of str
        Display names of ``classes_`` (ClassLabel names, folder names, or ``str``).
    model_ : torch.nn.Module
        The momentum model, with its input normalisation; used for every prediction.
    config_ : dict
        The resolved training settings (no "auto" left) and the model name.
    history_ : list of dict
        One record per epoch: loss, accuracy, sigma, whether correcting, seconds.
    audit_ : pandas.DataFrame
        The label audit (see :mod:`labelclean.auditfile` for its columns).
    skipped_ : list of (str, str)
        Inputs left out and why.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from labelclean import SLNCleaner
    >>> X, y = load_digits(return_X_y=True)
    >>> noisy = y.copy()
    >>> noisy[:100] = (noisy[:100] + 1) % 10  # 100 wrong labels
    >>> cleaner = SLNCleaner(epochs=10, random_state=0).fit(X, noisy)
    >>> fixed = cleaner.correct_labels()
    >>> bool((fixed[:100] == y[:100]).mean() > 0.5)
    True
    """

    def __init__(
        self,
        *,
        sigma: float | str = AUTO,
        momentum: float | str = AUTO,
        epochs: int | str = AUTO,
        correction_start: int | str | None = AUTO,
        lr: float | str = AUTO,
        batch_size: int = 128,
        weight_decay: float = 5e-4,
        model: str | nn.Module = AUTO,
        augment: bool = True,
        image_size: tuple[int, int] | None = None,
        on_bad_image: str = "raise",
        device: str = AUTO,
        random_state: int | None = None,
        verbose: bool = False,
        callbacks: list | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        compile: bool = False,
        memory_limit_gb: float = 4.0,
        precision: str = AUTO,
    ):
        self.sigma = sigma
        self.momentum = momentum
        self.epochs = epochs
        self.correction_start = correction_start
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.model = model
        self.augment = augment
        self.image_size = image_size
        self.on_bad_image = on_bad_image
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.compile = compile
        self.memory_limit_gb = memory_limit_gb
        self.precision = precision

    # --- fitting ---------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        image_column: str | None = None,
        label_column: str | None = None,
    ) -> SLNCleaner:
        """Train on ``X`` (with labels from ``y`` or from ``X`` itself) and audit its labels.

        Parameters
        ----------
        X : str or Path, datasets.Dataset, pandas.DataFrame, ndarray or Tensor
            An image folder (one sub-folder per class), a Hugging Face dataset, a
            DataFrame of image paths or numeric features, or an array of images or
            feature vectors.
        y : array-like, optional
            One label per sample; required for arrays, overrides labels found in X.
        image_column, label_column : str, optional
            Columns of a dataset or DataFrame; found automatically when not given.
        """
        validate_params(self.get_params(deep=False))
        distributed.init_from_env()  # started by torchrun: train data-parallel
        data = load_data(
            X,
            y,
            image_column=image_column,
            label_column=label_column,
            image_size=None if self.image_size is None else tuple(self.image_size),
            on_bad_image=self.on_bad_image,
            verbose=bool(self.verbose),
            memory_limit=int(self.memory_limit_gb * 2**30),
        )
        if data.labels is None:
            raise ValueError(f"no labels found in {data.description}; pass y or label_column=")
        classes, encoded = _encode_labels(data.labels)
        if len(classes) < 2:
            raise ValueError(f"need at least 2 classes to find wrong labels, found only {classes.tolist()}")
        self.classes_ = classes
        self.class_names_ = _class_names(classes, data.class_names)
        self.device_ = _resolve_device(self.device)
        self.input_shape_ = tuple(data.inputs.shape[1:])
        if not data.is_image:
            self.n_features_in_ = self.input_shape_[0]
        self.skipped_ = data.skipped
        self.data_source_ = data.description

        seed = int(np.random.default_rng(self.random_state).integers(2**31 - 1))
        seed = distributed.broadcast_int(seed)  # all ranks must share batches and noise
        model_name, network = self._build_network(data, seed)
        config = self._training_config(data, model_name)
        self.config_ = {**config.to_dict(), "model": model_name}
        model = nn.Sequential(Normalize.fit(data.inputs), network)
        callbacks = list(self.callbacks or [])
        if self.verbose:
            callbacks.append(ProgressBar())
        trainer = Trainer(
            model,
            config,
            device=self.device_,
            seed=seed,
            callbacks=callbacks,
            checkpoint_dir=self.checkpoint_dir,
        )
        trainer.fit(data.inputs, torch.from_numpy(encoded), len(classes))
        self.model_ = trainer.momentum_model.eval()
        self.history_ = trainer.history

        probs = self._predict_proba_tensor(data.inputs)
        self.audit_ = build_audit(
            probs, encoded, classes, data.sources, sample_ids=data.rows, random_state=seed % 1000
        )
        if data.is_image and not data.has_files:
            self.audit_["image"] = encode_thumbnails(data.inputs)
        self.fitted_at_ = datetime.now(UTC).isoformat(timespec="seconds")
        return self

    def _build_network(self, data: LoadedData, seed: int) -> tuple[str, nn.Module]:
        if isinstance(self.model, nn.Module):
            return type(self.model).__name__, self.model
        name = resolve_model_name(self.model, is_image=data.is_image, device=self.device_)
        with torch.random.fork_rng(devices=[]):  # seed the init without touching global RNG
            torch.manual_seed(seed)
            return name, build_model(name, len(self.classes_), self.input_shape_)

    def _training_config(self, data: LoadedData, model_name: str) -> TrainingConfig:
        recipe = CPU_RECIPE if self.device_.type == "cpu" else PAPER_RECIPE
        if model_name == "mlp":  # chosen on noisy validation splits of digits features
            recipe = {**recipe, "sigma": MLP_SIGMA}

        def pick(name: str) -> Any:
            value = getattr(self, name)
            return recipe[name] if value == AUTO else value

        epochs = pick("epochs")
        steps = epochs * -(-len(data) // self.batch_size)
        correction_start = self.correction_start
        if correction_start == AUTO:
            correction_start = round(epochs * 5 / 6)
        height = data.inputs.shape[-1] if data.is_image else 0
        return TrainingConfig(
            epochs=epochs,
            lr=float(pick("lr")),
            batch_size=self.batch_size,
            weight_decay=float(self.weight_decay),
            sigma=float(pick("sigma")),
            momentum=momentum_for_steps(steps) if self.momentum == AUTO else float(self.momentum),
            correction_start=correction_start,
            crop_padding=max(1, round(height / 8)) if self.augment and data.is_image else 0,
            flip=bool(self.augment and data.is_image),
            compile=self.compile,
            bf16=None if self.precision == AUTO else self.precision == "bf16",
        )

    # --- prediction --------------------------------------------------------------------

    def _load_new(self, X: Any, y: Any = None, **columns: Any) -> LoadedData:
        check_is_fitted(self)
        data = load_data(
            X,
            y,
            image_size=self.input_shape_[1:] if len(self.input_shape_) == 3 else None,
            on_bad_image=self.on_bad_image,
            verbose=bool(self.verbose),
            memory_limit=int(self.memory_limit_gb * 2**30),
            **columns,
        )
        if tuple(data.inputs.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {tuple(data.inputs.shape[1:])}, "
                f"but SLNCleaner was fitted on shape {self.input_shape_}"
            )
        return data

    def _predict_proba_tensor(self, inputs: torch.Tensor) -> np.ndarray:
        self.model_.to(self.device_)
        logits = predict_logits(self.model_, inputs, self.device_, bf16=self.config_.get("bf16"))
        return logits.softmax(dim=1).cpu().numpy()

    def predict_proba(self, X: Any, **columns: Any) -> np.ndarray:
        """Class probabilities from the momentum model; columns follow ``classes_``."""
        return self._predict_proba_tensor(self._load_new(X, **columns).inputs)

    def predict(self, X: Any, **columns: Any) -> np.ndarray:
        """The most probable class of every sample, in the original label space."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X, **columns).argmax(axis=1)]

    def score(self, X: Any, y: Any = None, sample_weight: Any = None, **columns: Any) -> float:
        """Accuracy on ``X`` against ``y`` (or the labels ``X`` carries)."""
        data = self._load_new(X, y, **columns)
        if data.labels is None:
            raise ValueError(f"no labels found in {data.description}; pass y")
        predicted = self.classes_[self._predict_proba_tensor(data.inputs).argmax(axis=1)]
        matches = (predicted == data.labels).astype(float)
        return float(np.average(matches, weights=sample_weight))

    # --- the audit ---------------------------------------------------------------------

    def audit(self) -> pd.DataFrame:
        """One row per training sample, in input order (columns: :mod:`labelclean.auditfile`)."""
        check_is_fitted(self)
        return self.audit_.copy()

    def correct_labels(self) -> np.ndarray:
        """The corrected label of every training sample, in the original label space."""
        check_is_fitted(self)
        return self.audit_["corrected_label"].to_numpy().astype(self.classes_.dtype)

    def suspicious_samples(self, top_k: int | None = None) -> pd.DataFrame:
        """The audit's flagged rows, most suspicious (highest loss) first."""
        check_is_fitted(self)
        flagged = self.audit_[self.audit_["is_suspicious"]].sort_values("rank")
        return flagged if top_k is None else flagged.head(top_k)

    def audit_metadata(self) -> dict[str, Any]:
        """What :meth:`save_audit` stores beside the table."""
        check_is_fitted(self)
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "callbacks"}
        if isinstance(params["model"], nn.Module):
            params["model"] = type(params["model"]).__name__
        return {
            "labelclean_version": __version__,
            "params": params,
            "resolved": self.config_,
            "classes": self.classes_.tolist(),
            "class_names": self.class_names_,
            "data_source": self.data_source_,
            "n_skipped": len(self.skipped_),
            "created": self.fitted_at_,
        }

    def save_audit(self, path: str | os.PathLike) -> Path:
        """Write the audit as Parquet (readable by pandas, pyarrow and ``datasets``).

        The file's schema metadata (key ``labelclean``) holds :meth:`audit_metadata`;
        read it back with :func:`labelclean.read_audit_metadata`. Under
        torch.distributed only rank 0 writes.
        """
        if distributed.is_main():
            write_audit(self.audit(), path, self.audit_metadata())
        distributed.barrier()
        return Path(path)

    # --- persistence -------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Save the fitted cleaner to a folder: ``config.json``, ``model.pt``, ``audit.parquet``.

        The weights are a plain state dict, loaded with ``weights_only=True``.
        """
        check_is_fitted(self)
        folder = Path(path)
        if distributed.is_main():  # under torch.distributed, rank 0 writes
            folder.mkdir(parents=True, exist_ok=True)
            weights = self.model_.state_dict()
            atomic_write(folder / "model.pt", lambda tmp: torch.save(weights, tmp))
            write_audit(self.audit(), folder / "audit.parquet", self.audit_metadata())
            state = {
                **self.audit_metadata(),
                "classes_dtype": self.classes_.dtype.str,
                "input_shape": list(self.input_shape_),
                "history": self.history_,
                "skipped": self.skipped_,
            }
            text = json.dumps(state, indent=2, default=str)
            atomic_write(folder / "config.json", lambda tmp: Path(tmp).write_text(text))
        distributed.barrier()
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike, model: nn.Module | None = None) -> SLNCleaner:
        """Load a cleaner written by :meth:`save`; nothing is unpickled.

        Pass ``model`` (an unfitted instance of the same architecture) when the
        cleaner was fitted with a custom ``torch.nn.Module``.
        """
        folder = Path(path)
        state = json.loads((folder / "config.json").read_text())
        params = state["params"]
        name = state["resolved"]["model"]
        if model is None and name not in _registered():
            raise ValueError(f"{folder} was fitted with a custom module ({name}); pass model= to load it")
        cleaner = cls(**{**params, "model": model if model is not None else params["model"]})
        cleaner.classes_ = np.asarray(state["classes"], dtype=np.dtype(state["classes_dtype"]))
        cleaner.class_names_ = state["class_names"]
        cleaner.input_shape_ = tuple(state["input_shape"])
        if len(cleaner.input_shape_) == 1:
            cleaner.n_features_in_ = cleaner.input_shape_[0]
        cleaner.config_ = state["resolved"]
        cleaner.history_ = state["history"]
        cleaner.skipped_ = [tuple(s) for s in state["skipped"]]
        cleaner.data_source_ = state["data_source"]
        cleaner.fitted_at_ = state["created"]
        cleaner.device_ = _resolve_device(params["device"])
        network = (
            model if model is not None else build_model(name, len(cleaner.classes_), cleaner.input_shape_)
        )
        channels = cleaner.input_shape_[0]
        stats_shape = (1, channels, 1, 1) if len(cleaner.input_shape_) == 3 else (1, channels)
        normalize = Normalize(torch.zeros(stats_shape), torch.ones(stats_shape))
        cleaner.model_ = nn.Sequential(normalize, network)
        weights = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        cleaner.model_.load_state_dict(weights)
        cleaner.model_.eval()
        cleaner.audit_ = pd.read_parquet(folder / "audit.parquet")
        return cleaner

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")


def _registered() -> set[str]:
    from .models import MODELS

    return set(MODELS)


def _resolve_device(device: str) -> torch.device:
    if device == AUTO:
        return distributed.local_device()
    return torch.device(device)


def _encode_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted classes and each label's index into them; mixed types are refused."""
    kinds = {type(v).__name__ for v in labels[:1000]} if labels.dtype == object else set()
    if len(kinds) > 1:
        raise ValueError(f"labels mix types {sorted(kinds)}; use one type (all str or all int)")
    with contextlib.suppress(TypeError):
        classes, encoded = np.unique(labels, return_inverse=True)
        return classes, encoded.astype(np.int64)
    raise ValueError("labels cannot be sorted; use str or int labels")


def _class_names(classes: np.ndarray, names: list[str] | None) -> list[str]:
    """ClassLabel names index classes by integer; folder names equal the classes."""
    if names is not None and classes.dtype.kind in "iu" and classes.max() < len(names):
        return [names[int(c)] for c in classes]
    return [str(c) for c in classes]
