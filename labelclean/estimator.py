"""SLNCleaner: a scikit-learn estimator over the data adapters, the loop and the method."""

from __future__ import annotations

import copy
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted
from torch import nn

from . import __version__, distributed
from ._params import AUTO, validate_params
from .audit import build_audit, encode_thumbnails, write_audit
from .auditfile import read_reviewed
from .backbones import Backbone, is_torchvision_model, torchvision_backbone
from .calibration import label_posterior, noise_rate_interval
from .data import LoadedData, check_one_label_type, load_data
from .embeddings import EmbeddingCache, default_cache_dir, embed_images, sample_keys
from .fileio import atomic_write
from .images import Resize
from .method import momentum_for_steps, training_steps
from .models import MODELS, build_model, resolve_model_name
from .recipes import RECIPES, Recipe, recipe_kind
from .selection import SigmaSearch, choose_sigma
from .training import Normalize, ProgressBar, Trainer, TrainingConfig, predict_logits, with_normalization

__all__ = ["SLNCleaner"]

SCRATCH_SIDE = 32  # from-scratch CNNs train at 32 px (CIFAR's size) unless told otherwise


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
    sigma : float, sequence of floats or "auto", default="auto"
        Standard deviation of the label noise; 0 turns SLN off (plain
        cross-entropy). A sequence: candidates, each trained on 80% of the data and
        scored on the other 20% of the given (noisy) labels by their negative
        log-likelihood, the best then trained on everything (the paper's protocol;
        scores in ``sigma_search_`` and the audit's metadata). "auto": the
        candidates (0.5, 1, 2) for feature vectors and frozen-backbone
        embeddings, where the right sigma depends on the noise; 0.5 with the
        paper's recipe (GPU), 0.2 for the CPU CNN and for fine-tuning a backbone.
    momentum : float or "auto", default="auto"
        Momentum-model coefficient ``a`` in ``theta' <- a theta' + (1-a) theta``.
        "auto" sizes the averaging horizon to the run: the paper's 0.999 for runs of
        30,000 steps or more, less for shorter runs. 0 predicts with the trained model.
    epochs : int or "auto", default="auto"
        300 (the paper) on a GPU, 40 on the CPU, 10 to fine-tune a backbone, 15 for
        a head on feature vectors (see :mod:`labelclean.recipes`).
    correction_start : int, None or "auto", default="auto"
        Epochs trained before label correction starts (then once per epoch, without
        SLN). "auto" = 5/6 of ``epochs`` (the paper: 250 of 300), 1 when
        fine-tuning a backbone (the paper's Clothing1M); None = never.
    lr : float or "auto", default="auto"
        SGD learning rate (momentum 0.9): 0.001 (the paper) on a GPU, 0.02 on the
        CPU and for heads; fine-tuning starts at 0.001 and drops to 0.0001 after 5
        epochs (Clothing1M). Constant otherwise.
    batch_size : int or "auto", default="auto"
        128; 32 to fine-tune a backbone (Clothing1M).
    weight_decay : float or "auto", default="auto"
        5e-4; 1e-3 to fine-tune a backbone (Clothing1M).
    model : str, torch.nn.Module or labelclean.backbones.Backbone, default="auto"
        A network trained from scratch: "auto", "cnn_small", "wrn28_2" or "mlp"
        ("auto": "mlp" for feature vectors, "wrn28_2" for images on a GPU,
        "cnn_small" on the CPU), or a module mapping a batch to logits. Or a
        pretrained backbone: any torchvision classification model name
        ("resnet50", "efficientnet_b0", "vit_b_16", ...; see ``weights``) or a
        :class:`labelclean.backbones.Backbone` (any module with its preprocessing).
    weights : str, path or None, default="auto"
        Weights of a torchvision backbone: a name of its weights ("DEFAULT",
        "IMAGENET1K_V2", ...; downloaded once into torch's cache), the path of a
        local ``.pth`` state dict (machines without internet), or None (random
        init). "auto": "DEFAULT".
    finetune : {"auto", "full", "head"}, default="auto"
        How a pretrained backbone trains. "full": the whole network with
        SLN-MO-LC (the paper's Clothing1M recipe). "head": every image is embedded
        once by the frozen backbone (cached in ``cache_dir``), then an SLN-MO-LC
        head trains on the embeddings. "auto": "full" on a GPU, "head" on the CPU.
    cache_dir : str, path, None or "auto", default="auto"
        Where ``finetune="head"`` keeps embeddings, keyed by backbone and by each
        file's path, size and modification time (or an in-memory image's pixels):
        a later fit reuses them and embeds only new or changed images. "auto":
        ``$LABELCLEAN_CACHE`` or ``~/.cache/labelclean``; None: no cache.
    augment : bool, default=True
        Random crop (reflect padding of 1/8 of the image side; a random resized crop
        when fine-tuning a backbone) and horizontal flip of training images.
    image_size : "auto", (int, int) or None, default="auto"
        The size images are decoded at (JPEGs at reduced scale, so large photos
        decode fast and memory follows this size, not the files'). "auto": the
        network's training size: a pretrained backbone's (its weights' resize and
        centre crop, usually 224); for the from-scratch CNNs, images larger than
        32 pixels are resized (shorter side) and centre-cropped to 32 x 32, smaller
        ones keep their size; a custom module keeps the decoded size. (height, width)
        resizes to exactly that; None keeps the decoded size (the most common size
        when they differ).
    on_bad_image : {"raise", "skip"}, default="raise"
        What to do with an image that cannot be read: raise an error naming it, or
        leave it out and record it in ``skipped_``. At prediction "skip" keeps one
        output row per input row (NaN probabilities, ``None`` predictions).
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
        ``fit`` with the same data, labels, parameters and ``random_state`` (an int)
        resumes from it, and any other ``fit`` there stops with an error saying
        what differs.
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
    n_features_in_ : int
        Number of features, for feature vectors (scikit-learn's convention).
    feature_names_in_ : ndarray of str
        The feature columns of a DataFrame given to ``fit``; :meth:`predict` takes
        them by name (any order; a missing or extra column is an error).
    pixel_dtype_ : str
        "uint8" or "float32": images at :meth:`predict` must be of the same kind.
    finetune_ : {"full", "head"} or None
        How the pretrained backbone trained (None: no backbone).
    backbone_ : dict or None
        The backbone's name, weights and preprocessing.
    sigma_search_ : dict or None
        The candidates' held-out scores and the chosen sigma, when sigma was chosen.
    noise_rate_ : dict
        Estimated share of wrong labels ("estimate") with a 95% bootstrap
        interval ("low", "high").

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
        batch_size: int | str = AUTO,
        weight_decay: float | str = AUTO,
        model: str | nn.Module | Backbone = AUTO,
        weights: str | os.PathLike | None = AUTO,
        finetune: str = AUTO,
        cache_dir: str | os.PathLike | None = AUTO,
        augment: bool = True,
        image_size: tuple[int, int] | str | None = AUTO,
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
        self.weights = weights
        self.finetune = finetune
        self.cache_dir = cache_dir
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
        reviewed: str | os.PathLike | pd.DataFrame | None = None,
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
        reviewed : path or DataFrame, optional
            A reviewer's decisions on an earlier audit of the same ``X``: the review app's
            ``<audit>.decisions.json`` or its exported corrections (see
            :func:`labelclean.read_reviewed`). Reviewed samples train on the reviewer's
            label as a fixed target (label correction leaves it) and are never flagged;
            samples that fit no class are left out of training. The audit's
            ``reviewed`` column shows each sample's decision.
        """
        validate_params(self.get_params(deep=False))
        distributed.init_from_env()  # started by torchrun: train data-parallel
        self.device_ = _resolve_device(self.device)
        backbone = self._pretrained_backbone()
        self.finetune_ = _resolve_finetune(self.finetune, backbone, self.device_)
        data = load_data(
            X,
            y,
            image_column=image_column,
            label_column=label_column,
            image_size=self._resize(backbone),
            on_bad_image=self.on_bad_image,
            verbose=bool(self.verbose),
            # Embedding reads each file once, batch by batch: nothing to hold in memory.
            memory_limit=0 if self.finetune_ == "head" else int(self.memory_limit_gb * 2**30),
        )
        if data.labels is None:
            raise ValueError(
                f"SLNCleaner requires y to be passed, but the target y is None and no labels were found "
                f"in {data.description}; pass y (or label_column= for a dataset or DataFrame)"
            )
        classes, encoded = _encode_labels(data.labels)
        if len(classes) < 2:
            raise ValueError(
                f"need at least 2 classes to find wrong labels, found only {classes.tolist()} (one class)"
            )
        self._check_trainable_size(data)
        self.classes_ = classes
        self.class_names_ = _class_names(classes, data.class_names)
        self._record_input(data, backbone)
        self.skipped_ = data.skipped
        self.data_source_ = data.description
        self.backbone_ = None if backbone is None else backbone.describe()
        decisions = np.full(len(encoded), None, dtype=object)
        if reviewed is not None:
            encoded, decisions = _apply_review(read_reviewed(reviewed), data.rows, classes, encoded)
        self._train_and_audit(data, backbone, encoded, decisions)
        self.fitted_at_ = datetime.now(UTC).isoformat(timespec="seconds")
        return self

    def _train_and_audit(
        self, data: LoadedData, backbone: Backbone | None, encoded: np.ndarray, decisions: np.ndarray
    ) -> None:
        """Train on the encoded labels (reviewed ones fixed, "none" ones left out), then audit every sample."""
        seed = int(np.random.default_rng(self.random_state).integers(2**31 - 1))
        seed = distributed.broadcast_int(seed)  # all ranks must share batches and noise
        inputs = self._embed(backbone, data) if self.finetune_ == "head" else data.inputs
        kind = recipe_kind(is_image=inputs.ndim == 4, finetune=self.finetune_, device_type=self.device_.type)
        # Samples that fit no class teach nothing about any class: they are only scored.
        train_rows = np.flatnonzero(decisions != "none")
        train_inputs = inputs if len(train_rows) == len(inputs) else inputs[torch.from_numpy(train_rows)]
        train_labels = encoded[train_rows]
        labels = torch.from_numpy(train_labels)
        sigma, search = self._sigma(kind, train_inputs, train_labels, seed, backbone)
        trainer = self._trainer(kind, train_inputs, labels, seed, sigma, backbone, final=True)
        trainer.fit(
            train_inputs, labels, len(self.classes_), fixed=torch.from_numpy(pd.notna(decisions[train_rows]))
        )
        self.history_ = trainer.history
        self.config_ = {**trainer.config.to_dict(), "model": self._model_name(kind, inputs), "recipe": kind}
        head = trainer.momentum_model.eval()
        probs = _probabilities(head, inputs, self.device_, trainer.config.bf16)
        self.model_ = (
            head
            if self.finetune_ != "head"
            else nn.Sequential(backbone.pixel_normalize(), backbone.module, head).eval()
        )
        # Held-out predictions, where the sigma search made some, show the mislabelling pattern best.
        reference = None if search is None else (search.held_probs, train_labels[search.held_rows])
        posterior = label_posterior(probs, encoded, reference)
        estimate, low, high = noise_rate_interval(
            probs[train_rows], train_labels, reference, posterior.temperature, seed=seed % 2**31
        )
        self.noise_rate_ = {"estimate": estimate, "low": low, "high": high, "level": 0.95}
        self.audit_ = build_audit(
            probs,
            encoded,
            self.classes_,
            data.sources,
            sample_ids=data.rows,
            posterior=posterior.posterior,
            reviewed=decisions,
        )
        if data.is_image and not data.has_files:
            self.audit_["image"] = encode_thumbnails(data.inputs)

    def _pretrained_backbone(self) -> Backbone | None:
        """The backbone named by ``model`` (torchvision) or given as a Backbone; None to train from scratch."""
        if isinstance(self.model, Backbone):
            return self.model
        if is_torchvision_model(self.model):
            return torchvision_backbone(self.model, "DEFAULT" if self.weights == AUTO else self.weights)
        return None

    def _resize(self, backbone: Backbone | None) -> Resize | None:
        """How images are sized as they decode (see ``image_size``)."""
        if self.image_size is None or (self.image_size == AUTO and isinstance(self.model, nn.Module)):
            return None
        if self.image_size != AUTO:
            return Resize(crop=(int(self.image_size[0]), int(self.image_size[1])))
        if backbone is not None:
            return backbone.resize
        return Resize(crop=(SCRATCH_SIDE, SCRATCH_SIDE), shorter=SCRATCH_SIDE, only_larger=True)

    def _check_trainable_size(self, data: LoadedData) -> None:
        """Random crops reflect-pad by 1/8 of the side, at least 1 pixel: a side needs 2 or more."""
        if data.is_image and self.augment and min(data.inputs.shape[-2:]) < 2:
            height, width = data.inputs.shape[-2:]
            raise ValueError(
                f"images of {height} x {width} pixels are too small for random-crop augmentation, which "
                "needs 2 pixels or more on each side; pass augment=False, or image_size=(height, width) "
                "to resize them"
            )

    def _record_input(self, data: LoadedData, backbone: Backbone | None) -> None:
        """What inputs at predict must match: their shape and size, feature names, and pixel type."""
        self.input_shape_ = tuple(data.inputs.shape[1:])
        self.resize_ = self._resize(backbone) if data.is_image else None
        for name in ("n_features_in_", "feature_names_in_", "pixel_dtype_"):
            self.__dict__.pop(name, None)  # from an earlier fit on another kind of input
        if data.is_image:
            self.pixel_dtype_ = str(data.inputs.dtype).removeprefix("torch.")
        else:
            self.n_features_in_ = self.input_shape_[0]
        if data.feature_names is not None:
            self.feature_names_in_ = np.asarray(data.feature_names, dtype=object)

    def _embed(self, backbone: Backbone, data: LoadedData) -> torch.Tensor:
        """Every image through the frozen backbone once, reusing the embedding cache."""
        images = None if data.has_files else data.inputs
        keys = sample_keys(data.sources, images)
        cache = None
        if self.cache_dir is not None:
            root = default_cache_dir() if self.cache_dir == AUTO else Path(self.cache_dir)
            cache = EmbeddingCache(root / backbone.fingerprint())
        network = nn.Sequential(backbone.pixel_normalize(), backbone.module)
        return embed_images(
            network,
            data.inputs,
            keys,
            width=backbone.num_features,
            cache=cache,
            device=self.device_,
            bf16=None if self.precision == AUTO else self.precision == "bf16",
            verbose=bool(self.verbose),
        )

    def _sigma(
        self, kind: str, inputs: torch.Tensor, labels: np.ndarray, seed: int, backbone: Backbone | None
    ) -> tuple[float, SigmaSearch | None]:
        """sigma as given, or chosen among candidates on held-out noisy labels (recorded in ``sigma_search_``)."""
        candidates = RECIPES[kind].sigma if self.sigma == AUTO else self.sigma
        self.sigma_search_ = None
        if isinstance(candidates, (int, float)):
            return float(candidates), None

        def fit_predict(sigma: float, train_rows: np.ndarray, held_rows: np.ndarray) -> np.ndarray:
            subset = torch.from_numpy(train_rows)
            trainer = self._trainer(
                kind, inputs[subset], torch.from_numpy(labels[train_rows]), seed, sigma, backbone
            )
            trainer.fit(inputs[subset], torch.from_numpy(labels[train_rows]), len(self.classes_))
            held = inputs[torch.from_numpy(held_rows)]
            return _probabilities(trainer.momentum_model, held, self.device_, trainer.config.bf16)

        search = choose_sigma(fit_predict, labels, candidates, seed=seed % 2**31)
        self.sigma_search_ = search.to_dict()
        return search.chosen, search

    def _trainer(
        self,
        kind: str,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        seed: int,
        sigma: float,
        backbone: Backbone | None,
        final: bool = False,
    ) -> Trainer:
        """A fresh network and Trainer for ``inputs``; only the final run gets callbacks and checkpoints."""
        recipe = RECIPES[kind]
        with torch.random.fork_rng(devices=[]):  # seed the init without touching global RNG
            torch.manual_seed(seed)
            network = self._network(kind, inputs, backbone)
        callbacks = list(self.callbacks or []) if final else []
        if self.verbose and final:
            callbacks.append(ProgressBar())
        return Trainer(
            network,
            self._training_config(recipe, len(inputs), sigma, inputs),
            device=self.device_,
            seed=seed,
            callbacks=callbacks,
            checkpoint_dir=self.checkpoint_dir if final else None,
        )

    def _model_name(self, kind: str, inputs: torch.Tensor) -> str:
        if isinstance(self.model, Backbone):
            return self.model.name
        if isinstance(self.model, nn.Module):
            return type(self.model).__name__
        if kind == "finetune" or is_torchvision_model(self.model):
            return str(self.model)
        return resolve_model_name(self.model, is_image=inputs.ndim == 4, device=self.device_)

    def _network(self, kind: str, inputs: torch.Tensor, backbone: Backbone | None) -> nn.Module:
        """The trained network with its input preprocessing inside (so a saved model carries it)."""
        if kind == "finetune":
            return nn.Sequential(
                backbone.pixel_normalize(), copy.deepcopy(backbone).classifier(len(self.classes_))
            )
        if isinstance(self.model, nn.Module) and backbone is None:
            network = copy.deepcopy(self.model)
        else:
            name = "mlp" if backbone is not None else self._model_name(kind, inputs)
            network = build_model(name, len(self.classes_), tuple(inputs.shape[1:]))
        return with_normalization(network, inputs)

    def _training_config(self, recipe: Recipe, n: int, sigma: float, inputs: torch.Tensor) -> TrainingConfig:
        def pick(name: str) -> Any:
            value = getattr(self, name)
            return getattr(recipe, name) if value == AUTO else value

        epochs, batch_size = int(pick("epochs")), int(pick("batch_size"))
        steps = training_steps(epochs, n, batch_size)
        correction_start = self.correction_start
        if correction_start == AUTO:
            correction_start = recipe.correction_epoch(epochs)
        augment = self.augment and inputs.ndim == 4 and recipe.augment != "none"
        return TrainingConfig(
            epochs=epochs,
            lr=float(pick("lr")),
            batch_size=batch_size,
            weight_decay=float(pick("weight_decay")),
            sigma=sigma,
            momentum=momentum_for_steps(steps) if self.momentum == AUTO else float(self.momentum),
            correction_start=correction_start,
            crop_padding=max(1, round(inputs.shape[-1] / 8)) if augment and recipe.augment == "crop" else 0,
            resized_crop=bool(augment and recipe.augment == "resized_crop"),
            flip=bool(augment),
            lr_drops=recipe.lr_drops if self.lr == AUTO else (),
            compile=self.compile,
            bf16=None if self.precision == AUTO else self.precision == "bf16",
        )

    # --- prediction --------------------------------------------------------------------

    def _load_new(self, X: Any, y: Any = None, **columns: Any) -> LoadedData:
        check_is_fitted(self)
        data = load_data(
            X,
            y,
            image_size=self._fitted_resize(),
            on_bad_image=self.on_bad_image,
            verbose=bool(self.verbose),
            memory_limit=int(self.memory_limit_gb * 2**30),
            feature_names=getattr(self, "feature_names_in_", None),
            **columns,
        )
        shape = tuple(data.inputs.shape[1:])
        if shape != self.input_shape_:
            if len(shape) == 1 and len(self.input_shape_) == 1:
                raise ValueError(
                    f"X has {shape[0]} features, but SLNCleaner is expecting "
                    f"{self.input_shape_[0]} features as input"
                )
            raise ValueError(
                f"X has samples of shape {shape}, but SLNCleaner was fitted on shape {self.input_shape_}"
            )
        self._check_pixel_dtype(data)
        if hasattr(self, "feature_names_in_") and data.feature_names is None:
            warnings.warn(
                "X does not have valid feature names, but SLNCleaner was fitted with feature names; "
                "its columns are taken in the fitted order",
                UserWarning,
                stacklevel=3,
            )
        _warn_unreadable(data)
        return data

    def _check_pixel_dtype(self, data: LoadedData) -> None:
        """uint8 pixels (0-255) and float pixels (often 0-1) are on different scales: refuse a mix."""
        fitted = getattr(self, "pixel_dtype_", None)
        given = str(data.inputs.dtype).removeprefix("torch.")
        if fitted is None or not data.is_image or (given == "uint8") == (fitted == "uint8"):
            return
        if fitted == "uint8":
            hint = "pass uint8 images, e.g. (X * 255).round().astype(np.uint8) for float images in [0, 1]"
        else:
            hint = "pass float images on the scale of those given to fit, e.g. X.astype(np.float32) / 255"
        raise ValueError(
            f"SLNCleaner was fitted on {fitted} images but X holds {given} images, whose pixels are on "
            f"another scale (uint8: 0-255); {hint}"
        )

    def _fitted_resize(self) -> Resize | None:
        """New images come out at the fitted size, resized the way the training images were."""
        if len(self.input_shape_) != 3:
            return None
        fitted = self.resize_ or Resize(crop=self.input_shape_[1:])
        return fitted.exactly(self.input_shape_[1:])

    def _predict_proba_tensor(self, inputs: torch.Tensor) -> np.ndarray:
        return _probabilities(self.model_, inputs, self.device_, self.config_.get("bf16"))

    def predict_proba(self, X: Any, **columns: Any) -> np.ndarray:
        """Class probabilities from the momentum model; columns follow ``classes_``.

        One row per input row. With ``on_bad_image="skip"``, the rows of images that
        cannot be read are NaN (and a warning names the first such file).
        """
        data = self._load_new(X, **columns)
        proba = self._predict_proba_tensor(data.inputs)
        if len(data) == data.n_rows:
            return proba
        full = np.full((data.n_rows, proba.shape[1]), np.nan, dtype=proba.dtype)
        full[data.rows] = proba
        return full

    def predict(self, X: Any, **columns: Any) -> np.ndarray:
        """The most probable class of every input row, in the original label space.

        With ``on_bad_image="skip"``, rows of images that cannot be read are ``None``
        (in an array of dtype object; a warning names the first such file).
        """
        proba = self.predict_proba(X, **columns)
        unread = np.isnan(proba[:, 0])
        predicted = self.classes_[np.where(unread[:, None], 0, proba).argmax(axis=1)]
        if unread.any():
            predicted = predicted.astype(object)
            predicted[unread] = None
        return predicted

    def score(self, X: Any, y: Any = None, sample_weight: Any = None, **columns: Any) -> float:
        """Accuracy on ``X`` against ``y`` (or the labels ``X`` carries).

        ``y`` and ``sample_weight`` have one entry per input row. With
        ``on_bad_image="skip"``, images that cannot be read are left out of the score
        (a warning names the first such file).
        """
        data = self._load_new(X, y, **columns)
        if data.labels is None:
            raise ValueError(f"no labels found in {data.description}; pass y")
        predicted = self.classes_[self._predict_proba_tensor(data.inputs).argmax(axis=1)]
        matches = (predicted == data.labels).astype(float)
        weights = None if sample_weight is None else np.asarray(sample_weight)[data.rows]
        return float(np.average(matches, weights=weights))

    # --- the audit ---------------------------------------------------------------------

    def audit(self) -> pd.DataFrame:
        """One row per training sample, in input order (columns: :mod:`labelclean.auditfile`)."""
        check_is_fitted(self)
        return self.audit_.copy()

    def correct_labels(self, min_prob: float | None = None) -> np.ndarray:
        """The corrected label of every training sample, in the original label space.

        A label changes where the suggested class is more probably the true one
        than the given class (``is_suspicious``). ``min_prob`` asks for more
        precision: change only where that probability (``suggested_true_prob``) is
        at least ``min_prob``; the rest keep their given label. Samples a reviewer said fit
        no class keep theirs too: leave them out with :meth:`keep_mask`.
        """
        check_is_fitted(self)
        audit = self.audit_
        change = audit["is_suspicious"].to_numpy()
        if min_prob is not None:
            if not 0 <= min_prob <= 1:
                raise ValueError(f"min_prob must be between 0 and 1, got {min_prob}")
            change = change & (audit["suggested_true_prob"].to_numpy() >= min_prob)
        fixed = np.where(change, audit["suggested_label"].to_numpy(), audit["given_label"].to_numpy())
        return fixed.astype(self.classes_.dtype)

    def keep_mask(self) -> np.ndarray:
        """Which training samples to keep, aligned with :meth:`correct_labels`.

        False where the reviewer said the sample fits no class (``fit(reviewed=...)``):
        :meth:`correct_labels` can only give such a sample the label it came with, which the
        reviewer rejected. ``labels = cleaner.correct_labels(); keep = cleaner.keep_mask()``,
        then train on ``X[keep]`` with ``labels[keep]``.
        """
        check_is_fitted(self)
        return (self.audit_["reviewed"] != "none").to_numpy(dtype=bool)

    def suspicious_samples(self, top_k: int | None = None) -> pd.DataFrame:
        """The audit's flagged rows, most suspicious (highest loss) first."""
        check_is_fitted(self)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, Integral) or top_k < 0):
            raise ValueError(f"top_k must be None or a whole number >= 0, got {top_k!r}")
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
            "noise_rate": self.noise_rate_,
            "sigma_search": self.sigma_search_,
            "backbone": self.backbone_,
            "finetune": self.finetune_,
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
                "resize": None if self.resize_ is None else asdict(self.resize_),
                "pixel_dtype": getattr(self, "pixel_dtype_", None),
                "feature_names": list(getattr(self, "feature_names_in_", [])) or None,
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
        state = _read_saved_config(folder)
        params = state["params"]
        cleaner = cls(**{**params, "model": model if model is not None else params["model"]})
        cleaner.classes_ = np.asarray(state["classes"], dtype=np.dtype(state["classes_dtype"]))
        cleaner.class_names_ = state["class_names"]
        cleaner.input_shape_ = tuple(state["input_shape"])
        resize = state.get("resize")
        cleaner.resize_ = None if resize is None else Resize(**{**resize, "crop": tuple(resize["crop"])})
        if len(cleaner.input_shape_) == 1:
            cleaner.n_features_in_ = cleaner.input_shape_[0]
        if state.get("pixel_dtype") is not None:
            cleaner.pixel_dtype_ = state["pixel_dtype"]
        if state.get("feature_names") is not None:
            cleaner.feature_names_in_ = np.asarray(state["feature_names"], dtype=object)
        cleaner.config_ = state["resolved"]
        cleaner.history_ = state["history"]
        cleaner.skipped_ = [tuple(s) for s in state["skipped"]]
        cleaner.data_source_ = state["data_source"]
        cleaner.fitted_at_ = state["created"]
        cleaner.device_ = _resolve_device(params["device"])
        cleaner.backbone_ = state.get("backbone")
        cleaner.finetune_ = state.get("finetune")
        cleaner.sigma_search_ = state.get("sigma_search")
        cleaner.noise_rate_ = state.get("noise_rate")
        cleaner.model_ = cleaner._empty_model(model)
        cleaner.model_.load_state_dict(_read_saved_part(folder / "model.pt", "the weights", _load_weights))
        cleaner.model_.eval()
        cleaner.audit_ = _read_saved_part(folder / "audit.parquet", "the audit", pd.read_parquet)
        return cleaner

    def _empty_model(self, model: nn.Module | Backbone | None) -> nn.Module:
        """The fitted network's architecture, to load its saved weights into (nothing downloaded)."""
        name, num_classes = self.config_["model"], len(self.classes_)
        if self.backbone_ is not None:
            if isinstance(model, Backbone):
                backbone = model
            elif is_torchvision_model(self.backbone_["name"]):
                backbone = torchvision_backbone(self.backbone_["name"], weights=None)
            else:
                raise ValueError(
                    f"fitted with a custom Backbone ({self.backbone_['name']}); pass model= to load it"
                )
            if self.finetune_ == "full":
                return nn.Sequential(backbone.pixel_normalize(), backbone.classifier(num_classes))
            width = backbone.num_features
            head = nn.Sequential(_placeholder_normalize((width,)), build_model("mlp", num_classes, (width,)))
            return nn.Sequential(backbone.pixel_normalize(), backbone.module, head)
        if model is None and name not in MODELS:
            raise ValueError(f"fitted with a custom module ({name}); pass model= to load it")
        network = model if model is not None else build_model(name, num_classes, self.input_shape_)
        return nn.Sequential(_placeholder_normalize(self.input_shape_), network)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __sklearn_tags__(self) -> Tags:
        """What is true of SLNCleaner, for scikit-learn's checks and meta-estimators.

        X may also be 3-D (grayscale images), 4-D (images), a folder, a dataset or a
        DataFrame; it may not be sparse or hold NaN. On a GPU the run is not repeatable
        bit for bit (bf16 autocast and cuDNN kernels), on the CPU it is.
        """
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.non_deterministic = _may_use_gpu(self.device)
        return tags


def _warn_unreadable(data: LoadedData) -> None:
    """Rows left out at predict (``on_bad_image="skip"``) are named, never dropped silently."""
    missing = data.n_rows - len(data)
    if missing:
        unread = [source for source, reason in data.skipped if reason.startswith("cannot read")]
        warnings.warn(
            f"{missing} of {data.n_rows} images could not be read (first: {unread[0] if unread else '?'}); "
            "their rows of predict_proba are NaN, of predict None, and score leaves them out",
            UserWarning,
            stacklevel=3,
        )


def _read_saved_config(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise FileNotFoundError(
            f"cannot load a cleaner from {folder}: no such folder (write one with save())"
        )
    state = _read_saved_part(folder / "config.json", "the settings", lambda p: json.loads(p.read_text()))
    missing = {"params", "resolved", "classes", "classes_dtype", "input_shape"} - set(state)
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


def _placeholder_normalize(input_shape: tuple[int, ...]) -> Normalize:
    """A Normalize of the right shape whose statistics the saved weights overwrite."""
    shape = (1, input_shape[0], 1, 1) if len(input_shape) == 3 else (1, input_shape[0])
    return Normalize(torch.zeros(shape), torch.ones(shape))


def _resolve_finetune(finetune: str, backbone: Backbone | None, device: torch.device) -> str | None:
    """How a pretrained backbone trains: the whole network on a GPU, a head on its embeddings on the CPU."""
    if backbone is None:
        return None
    if finetune == AUTO:
        return "full" if device.type == "cuda" else "head"
    return finetune


def _probabilities(
    model: nn.Module, inputs: torch.Tensor, device: torch.device, bf16: bool | None
) -> np.ndarray:
    model.to(device)
    return predict_logits(model, inputs, device, bf16=bf16).softmax(dim=1).cpu().numpy()


def _may_use_gpu(device: Any) -> bool:
    if isinstance(device, str) and device == AUTO:
        return torch.cuda.is_available()
    try:
        return torch.device(device).type != "cpu"
    except (RuntimeError, TypeError):
        return False  # an invalid device: fit refuses it


def _resolve_device(device: str) -> torch.device:
    if device == AUTO:
        return distributed.local_device()
    return torch.device(device)


def _apply_review(
    review: pd.DataFrame, sample_ids: np.ndarray, classes: np.ndarray, encoded: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Encoded labels with the reviewer's put in, and each sample's decision (None where not reviewed)."""
    position = pd.Index(sample_ids).get_indexer(review["sample_id"])
    unknown = review["sample_id"].to_numpy()[position < 0]
    if len(unknown):
        raise ValueError(
            f"reviewed: sample_id {unknown[0]} ({len(unknown)} in all) is not in this data "
            f"(its sample ids run from {sample_ids.min()} to {sample_ids.max()}); "
            "were the decisions made on an audit of other data?"
        )
    index = {label: k for k, label in enumerate(classes.tolist())}
    by_text = {str(label): k for label, k in index.items()}
    labels, decisions = encoded.copy(), np.full(len(encoded), None, dtype=object)
    for row, sample_id, label, no_class, decision in zip(
        position,
        review["sample_id"],
        review["label"],
        review["fits_no_class"],
        review["decision"],
        strict=True,
    ):
        decisions[row] = decision  # "none" exactly where the sample fits no class
        if no_class:
            continue
        label = label.item() if isinstance(label, np.generic) else label
        k = index.get(label, by_text.get(str(label)))
        if k is None:
            raise ValueError(
                f"reviewed: sample_id {sample_id} has label {label!r}, which is not one of the "
                f"classes {classes.tolist()}"
            )
        labels[row] = k
    return labels, decisions


def _encode_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted classes and each label's index into them, by scikit-learn's target rules.

    Mixed types (``1`` and ``"1"``) and continuous targets (floats such as 0.37) are
    refused with scikit-learn's "Unknown label type" wording.
    """
    if labels.dtype == object:
        check_one_label_type(labels)
        labels = np.asarray(labels.tolist())  # one type: let numpy give it its dtype
    kind = type_of_target(labels, input_name="y")
    if kind.startswith("continuous"):
        example = float(labels[labels != np.round(labels)][0])
        raise ValueError(
            f"Unknown label type: continuous. y holds values such as {example!r} that are not class "
            "labels; SLNCleaner is a classifier: pass one class label (int or str) per sample"
        )
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: {kind}. Pass one class label (int or str) per sample")
    classes, encoded = np.unique(labels, return_inverse=True)
    return classes, encoded.astype(np.int64)


def _class_names(classes: np.ndarray, names: list[str] | None) -> list[str]:
    """ClassLabel names index classes by integer; folder names equal the classes."""
    if names is not None and classes.dtype.kind in "iu" and classes.max() < len(names):
        return [names[int(c)] for c in classes]
    return [str(c) for c in classes]
