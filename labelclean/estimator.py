"""SLNCleaner: the scikit-learn surface over data -> plan -> train -> calibrate -> audit.

Each step lives in its own module: the data adapters (:mod:`labelclean.data`), the plan of
every "auto" (:mod:`labelclean.recipes`), the training runs (:mod:`labelclean.fitting`),
calibration (:mod:`labelclean.calibration`) and the audit (:mod:`labelclean.audit`); labels
in :mod:`labelclean.labels`, saving and loading in :mod:`labelclean.persistence`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted
from torch import nn

from . import distributed
from ._params import AUTO, validate_params
from .auditfile import write_audit
from .backbones import Backbone
from .data import FittedInput, LoadedData, is_image_input, load_data, load_new_data
from .device import may_use_gpu
from .fitting import TrainingRuns
from .labels import apply_review, class_indices, class_names, training_labels
from .persistence import fitted_metadata, load_cleaner, save_cleaner
from .recipes import RunFacts, plan_run, pretrained_backbone, unused_settings
from .training import predict_proba

__all__ = ["SLNCleaner"]


@contextmanager
def _unchanged_on_failure(estimator: BaseEstimator) -> Iterator[None]:
    """Restore the estimator's attributes if the block raises: a failed fit never leaves half a fit.

    A context manager rather than a wrapper function, so that warnings' stack levels still
    point at the caller of ``fit``.
    """
    before = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(before)
        raise


class SLNCleaner(ClassifierMixin, BaseEstimator):
    """Find and fix wrong labels with SLN-MO-LC (Chen et al., ICLR 2021).

    Trains a network with stochastic label noise (SLN: fresh Gaussian noise on every one-hot
    target at every step), keeps a momentum (EMA) copy of it, and in the last epochs corrects the
    training labels with its predictions, weighted by each sample's loss. Networks trained on all
    but one fold give every sample held-out probabilities too (cross-fitting), on which a noise
    model says how often each label is wrong (:mod:`labelclean.calibration`). :meth:`audit` lists
    every sample with the probability that its label is wrong, :meth:`correct_labels` returns the
    corrected labels, :meth:`predict` classifies new data. Every "auto" is decided once, when
    :meth:`fit` starts, by :func:`labelclean.recipes.plan_run` (a recipe per kind of run, the given
    settings in place of its own); ``plan_`` holds the outcome.

    Parameters
    ----------
    sigma : float, sequence of floats or "auto", default="auto"
        Standard deviation of the label noise; 0 turns SLN off (plain
        cross-entropy). A sequence: candidates, each trained on all but the first fold and
        scored on that fold's given (noisy) labels by their negative log-likelihood; the
        best trains the other folds and the final network (the paper's protocol; scores in
        ``sigma_search_``). "auto": candidates for feature vectors and embeddings.
    momentum : float or "auto", default="auto"
        Momentum-model coefficient ``a`` in ``theta' <- a theta' + (1-a) theta``.
        "auto" sizes the averaging horizon to the run: the paper's 0.999 for long
        runs, less for shorter ones. 0 predicts with the trained model.
    epochs, lr, batch_size, weight_decay : int, float or "auto", default="auto"
        Passes over the data, SGD learning rate (SGD momentum 0.9; constant, except
        that fine-tuning drops it tenfold after epoch 5, as for Clothing1M), batch
        size (on a few hundred images "auto" makes a from-scratch CNN's smaller, so that an
        epoch still has 25 steps) and weight decay.
    correction_start : int, None or "auto", default="auto"
        Epochs trained before label correction starts (then once per epoch, without
        SLN); None = never. "auto" = 5/6 of ``epochs`` (the paper: 250 of 300), 1
        when fine-tuning a backbone (the paper's Clothing1M).
    model : str, torch.nn.Module or labelclean.backbones.Backbone, default="auto"
        From scratch: "cnn_small", "wrn28_2", "mlp" or a module mapping a batch to logits
        ("auto": "mlp" for feature vectors, "wrn28_2" for images on a GPU, "cnn_small" on the
        CPU). Pretrained: a torchvision classification model name ("resnet50", "vit_b_16", ...)
        or a :class:`labelclean.backbones.Backbone` (any module with its preprocessing).
    weights : str, path or None, default="auto"
        A torchvision backbone's weights: a name ("DEFAULT", "IMAGENET1K_V2", ...; downloaded
        once), a local ``.pth`` state dict, or None (random init). "auto": "DEFAULT".
    finetune : {"auto", "full", "head"}, default="auto"
        How a pretrained backbone trains. "full": the whole network with
        SLN-MO-LC (the paper's Clothing1M recipe). "head": every image is embedded
        once by the frozen backbone (cached in ``cache_dir``), then an SLN-MO-LC
        head trains on the embeddings. "auto": "full" on a GPU, "head" on the CPU.
    cache_dir : str, path, None or "auto", default="auto"
        Where ``finetune="head"`` keeps embeddings, keyed by everything that changes one: a
        later fit embeds only new or changed images. "auto": ``$LABELCLEAN_CACHE`` or
        ``~/.cache/labelclean``; None: no cache.
    augment : bool, default=True
        Random crop (reflect padding of 1/8 of the image side; a random resized crop
        when fine-tuning a backbone) and horizontal flip of training images.
    image_size : "auto", (int, int) or None, default="auto"
        The size images are decoded at (JPEGs at reduced scale: memory follows this size, not
        the files'). "auto": a pretrained backbone's (its weights' resize and centre crop); 32 x
        32 for the from-scratch CNNs (larger images resized and centre-cropped); a custom
        module's: as decoded. (height, width): exactly that; None: the most common decoded size.
    channels : {"auto", "first", "last"}, default="auto"
        Where the channel axis of a 4-D array of images is: "first" (NCHW) or "last" (NHWC).
        "auto" tells by which axis holds 1, 3 or 4 channels, and refuses an array where both
        could (tiny images, such as 40 RGB images of 4 x 4 pixels: (40, 4, 4, 3)).
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
        Every training run saves its state there after every epoch (atomically); a later ``fit``
        with the same data, labels, parameters and ``random_state`` (an int) resumes from it,
        any other stops with an error saying what differs.
    compile : bool, default=False
        Wrap the network in ``torch.compile`` (worth it for long GPU runs).
    memory_limit_gb : float, default=4.0
        Image files whose decoded pixels would take more stay on disk and are
        decoded batch by batch in threads, one batch ahead of training.
    precision : {"auto", "bf16", "fp32"}, default="auto"
        The forward pass's arithmetic (weights stay fp32). "auto": bf16 on CUDA, fp32 on the CPU
        ("bf16" is faster on CPUs with AVX512-BF16 or AMX; the CPU defaults were tuned in fp32).
    folds : int or "auto", default="auto"
        Networks that each train on all but one fold, so that every sample is also
        judged by one that never saw its label. "auto": 5 for a head, 2 otherwise.
    repeats : int or "auto", default="auto"
        How many splits into ``folds`` the cross-fitting runs on; each sample's held-out
        predictions are averaged over them, which steadies the decisions on borderline
        samples. "auto": 3 for a head (a run takes seconds), 6 in a head's refit with
        ``reviewed`` (which must be steadier than the fit it corrects), 1 otherwise; 1 costs a
        third of a head's cross-fitting.

    Attributes
    ----------
    classes_ : ndarray
        The labels seen in ``fit``, sorted; columns of :meth:`predict_proba`.
    class_names_ : list of str
        Display names of ``classes_`` (ClassLabel names, folder names, or ``str``).
    model_ : torch.nn.Module
        The momentum model, with its input normalisation; used for every prediction.
    plan_ : labelclean.recipes.Plan
        Every setting with no "auto" left (None for a cleaner saved before plans existed).
    config_, history_ : dict, list of dict
        The final run's loop settings, model name and recipe; one record per epoch of it.
    audit_ : pandas.DataFrame
        The label audit (see :mod:`labelclean.auditfile` for its columns).
    skipped_ : list of (str, str)
        Inputs left out and why.
    n_features_in_ : int
        Number of features, for feature vectors (scikit-learn's convention).
    feature_names_in_ : ndarray of str
        A DataFrame's feature columns: :meth:`predict` takes them by name, in any order.
    feature_mean_, feature_scale_ : ndarray of float64
        Feature vectors are standardised with these, in float64, before the network's float32
        (which would collapse timestamps or large counts to a few values).
    pixel_dtype_ : str
        "uint8" or "float32": images at :meth:`predict` must be of the same kind.
    finetune_, backbone_ : {"full", "head"} or None, dict or None
        How the pretrained backbone trained; its name, weights and preprocessing (None: none).
    sigma_search_ : dict or None
        The candidates' held-out scores and the chosen sigma, when sigma was chosen.
    noise_rate_ : dict
        Estimated share of wrong labels ("estimate": the mean mislabel probability) and its
        95% bootstrap interval ("low", "high"; "level": 0.95).
    noise_rate_by_label_ : dict
        Each class label's estimated share of wrong labels among the samples that carry it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from labelclean import SLNCleaner
    >>> X, y = load_digits(return_X_y=True)
    >>> noisy = y.copy()
    >>> noisy[:100] = (noisy[:100] + 1) % 10  # 100 wrong labels
    >>> cleaner = SLNCleaner(epochs=10, random_state=0).fit(X, noisy)
    >>> bool(cleaner.audit()["is_suspicious"][:100].mean() > 0.5)  # most flips are flagged
    True
    >>> fixed = cleaner.correct_labels()
    >>> bool((fixed == y).mean() > (noisy == y).mean())  # corrections leave fewer wrong labels
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
        channels: str = AUTO,
        on_bad_image: str = "raise",
        device: str = AUTO,
        random_state: int | None = None,
        verbose: bool = False,
        callbacks: list | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        compile: bool = False,
        memory_limit_gb: float = 4.0,
        precision: str = AUTO,
        folds: int | str = AUTO,
        repeats: int | str = AUTO,
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
        self.channels = channels
        self.on_bad_image = on_bad_image
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.checkpoint_dir = checkpoint_dir
        self.compile = compile
        self.memory_limit_gb = memory_limit_gb
        self.precision = precision
        self.folds = folds
        self.repeats = repeats

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

        A fit that fails (bad input, a diverging run, an interruption) leaves the cleaner as it was.
        """
        with _unchanged_on_failure(self):
            params = self.get_params(deep=False)
            validate_params(params)
            distributed.init_from_env()  # started by torchrun: train data-parallel
            backbone = pretrained_backbone(self.model, self.weights)
            facts = RunFacts.here(is_image=is_image_input(X, image_column), reviewed=reviewed is not None)
            plan = plan_run(params, facts, backbone=backbone)
            for note in unused_settings(params, plan, is_image=facts.is_image):
                warnings.warn(note, UserWarning, stacklevel=2)
            data = load_data(
                X,
                y,
                image_column=image_column,
                label_column=label_column,
                image_size=plan.image_size,
                **self._reading(plan.memory_limit),
            )
            classes, encoded = training_labels(data.labels, data.description)
            plan.check_images(tuple(data.inputs.shape[1:]))
            self.plan_, self.device_, self.finetune_ = plan, torch.device(plan.device), plan.finetune
            self.classes_, self.class_names_ = classes, class_names(classes, data.class_names)
            self._record_input(FittedInput.of(data, plan.image_size))
            self.skipped_, self.data_source_ = data.skipped, data.description
            self.backbone_ = None if backbone is None else backbone.describe()
            self._train_and_audit(data, backbone, encoded, reviewed)
            self.fitted_at_ = datetime.now(UTC).isoformat(timespec="seconds")
        return self

    def _record_input(self, fitted: FittedInput) -> None:
        """What inputs at predict must match; an earlier fit on another kind of input leaves nothing."""
        for name in (
            "n_features_in_",
            "feature_names_in_",
            "feature_mean_",
            "feature_scale_",
            "pixel_dtype_",
        ):
            self.__dict__.pop(name, None)
        for name, value in fitted.attributes().items():
            setattr(self, name, value)

    def _train_and_audit(
        self, data: LoadedData, backbone: Backbone | None, original: np.ndarray, reviewed: Any
    ) -> None:
        """Train on the reviewed labels (fixed; "none" left out), count noise among the ``original`` ones."""
        encoded, decisions = apply_review(reviewed, data.rows, self.classes_, original)
        seed = int(np.random.default_rng(self.random_state).integers(2**31 - 1))
        seed = distributed.broadcast_int(seed)  # all ranks must share batches and noise
        module = self.model if self.plan_.network == "module" else None
        runs = TrainingRuns(self.plan_, len(self.classes_), seed, module=module, backbone=backbone)
        fitted = runs.train_and_audit(
            data,
            encoded,
            decisions,
            self.classes_,
            self.callbacks or [],
            self.checkpoint_dir,
            bool(self.verbose),
            original=original,
        )
        self.model_, self.history_, self.config_ = fitted.model, fitted.history, fitted.config
        self.sigma_search_, self.noise_rate_, self.audit_ = (
            fitted.sigma_search,
            fitted.noise_rate,
            fitted.audit,
        )
        self.noise_rate_by_label_ = fitted.noise_rate_by_label

    # --- prediction --------------------------------------------------------------------

    def _load_new(self, X: Any, y: Any = None, **columns: Any) -> LoadedData:
        """New inputs, sized and checked as the fitted ones (warnings point at the caller of the caller)."""
        check_is_fitted(self)
        fitted = FittedInput.from_attributes(vars(self))
        return load_new_data(
            X, y, fitted=fitted, **self._reading(int(self.memory_limit_gb * 2**30)), **columns
        )

    def _reading(self, memory_limit: int) -> dict[str, Any]:
        """How inputs are read, at fit and at predict."""
        return dict(
            on_bad_image=self.on_bad_image,
            verbose=bool(self.verbose),
            memory_limit=memory_limit,
            channels=self.channels,
        )

    def predict_proba(self, X: Any, **columns: Any) -> np.ndarray:
        """Class probabilities from the momentum model; columns follow ``classes_``.

        One row per input row. With ``on_bad_image="skip"``, the rows of images that
        cannot be read are NaN (and a warning names the first such file).
        """
        data = self._load_new(X, **columns)
        proba = predict_proba(self.model_, data.inputs, self.device_, self.config_.get("bf16"))
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
        weights = None if sample_weight is None else _row_weights(sample_weight, data)
        given = class_indices(data.labels, self.classes_)
        proba = predict_proba(self.model_, data.inputs, self.device_, self.config_.get("bf16"))
        return float(np.average((proba.argmax(axis=1) == given).astype(float), weights=weights))

    # --- the audit ---------------------------------------------------------------------

    def audit(self) -> pd.DataFrame:
        """One row per training sample, in input order (columns: :mod:`labelclean.auditfile`)."""
        check_is_fitted(self)
        return self.audit_.copy()

    def correct_labels(self, min_prob: float | None = None) -> np.ndarray:
        """The corrected label of every training sample, in the original label space.

        A label changes where the suggested class is more probably the true one than the
        given label, even at the low end of the given label's estimated noise share (the
        audit's ``corrected_label``; the low end is at most the final network's own count of
        that label), so that corrections do not leave the labels worse.
        ``min_prob`` asks for more: change only where the suggestion's probability
        (``suggested_true_prob``) is at least ``min_prob``; the rest keep their given label.
        Samples a reviewer said fit no class keep theirs too: leave them out with :meth:`keep_mask`.
        """
        check_is_fitted(self)
        if min_prob is not None and (isinstance(min_prob, bool) or not isinstance(min_prob, Real)):
            raise TypeError(
                f"min_prob must be a number between 0 and 1, or None; got {min_prob!r} "
                f"({type(min_prob).__name__})"
            )
        audit = self.audit_
        change = (audit["corrected_label"] != audit["given_label"]).to_numpy()
        if min_prob is not None:
            if not 0 <= min_prob <= 1:
                raise ValueError(f"min_prob must be between 0 and 1, got {min_prob}")
            change = change & (audit["suggested_true_prob"].to_numpy() >= min_prob)
        fixed = np.where(change, audit["corrected_label"].to_numpy(), audit["given_label"].to_numpy())
        return fixed.astype(self.classes_.dtype)

    def keep_mask(self) -> np.ndarray:
        """Which training samples to keep, aligned with :meth:`correct_labels`: False where a reviewer
        said the sample fits no class (its label was rejected, and no class is right). Train on
        ``X[keep]`` with ``cleaner.correct_labels()[keep]``."""
        check_is_fitted(self)
        return (self.audit_["reviewed"] != "none").to_numpy(dtype=bool)

    def suspicious_samples(self, top_k: int | None = None) -> pd.DataFrame:
        """The audit's flagged rows, most suspicious (lowest ``rank``) first."""
        check_is_fitted(self)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, Integral) or top_k < 0):
            raise ValueError(f"top_k must be None or a whole number >= 0, got {top_k!r}")
        flagged = self.audit_[self.audit_["is_suspicious"]].sort_values("rank")
        return flagged if top_k is None else flagged.head(top_k)

    def audit_metadata(self) -> dict[str, Any]:
        """What :meth:`save_audit` stores beside the table: version, settings, plan, classes, noise rate."""
        check_is_fitted(self)
        return fitted_metadata(self)

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
        return save_cleaner(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, model: nn.Module | None = None) -> SLNCleaner:
        """Load a cleaner written by :meth:`save`; nothing is unpickled.

        Pass ``model`` (an unfitted instance of the same architecture) when the
        cleaner was fitted with a custom ``torch.nn.Module``.
        """
        return load_cleaner(cls, path, model)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __sklearn_tags__(self) -> Tags:
        """For scikit-learn's checks: X may also be 3-D or 4-D images, a folder, a dataset or a
        DataFrame, never sparse or NaN; a GPU run is not repeatable bit for bit, a CPU run is."""
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.non_deterministic = may_use_gpu(self.device)
        return tags


def _row_weights(sample_weight: Any, data: LoadedData) -> np.ndarray:
    """``score``'s weights of the rows ``data`` kept: one finite weight >= 0 per input row, not all 0."""
    weights = np.asarray(sample_weight)
    if weights.shape != (data.n_rows,):
        raise ValueError(
            f"sample_weight has shape {weights.shape} but X has {data.n_rows} samples; "
            "pass one weight per sample"
        )
    if weights.dtype.kind not in "iuf" or not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("sample_weight must hold finite numbers >= 0, one per sample")
    kept = weights[data.rows].astype(float)
    if kept.sum() == 0:
        raise ValueError("sample_weight is 0 for every sample scored: no sample counts")
    return kept
