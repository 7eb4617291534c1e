"""The training loop: fit -> epoch -> step, with callbacks reading a history.

The loop knows nothing about DataFrames, image files or label names: it takes a
tensor of inputs (uint8 or float images ``(N, C, H, W)``, or float features
``(N, D)``) and integer labels, and trains a model with the pieces in
:mod:`labelclean.method`. The only file it touches is its own checkpoint.

A step is a short sequence of overridable pieces, each taking what it uses:
``make_targets(index)`` (SLN, sigma 0 during label correction), ``forward(x)``,
``compute_loss(outputs, targets, index)`` and ``apply_update(loss, batch_size)``
(backward, the ``after_backward`` hook, optimizer, BatchNorm averaging, momentum
model). A variant overrides only what differs and keeps autocast and distributed training.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint, distributed, method
from .augment import random_crop, random_flip, random_resized_crop
from .device import autocast
from .streaming import prefetch

__all__ = ["Callback", "ProgressBar", "Trainer", "TrainingConfig", "predict_logits", "predict_proba"]


@dataclass(frozen=True)
class TrainingConfig:
    """Everything the loop needs, already resolved.

    ``sigma`` is the SLN strength (Eq. 3). ``correction_start`` is the 0-based epoch from which label
    correction runs once per epoch (``None``: never); ``momentum=0`` makes the
    momentum model a copy of the model. ``bf16`` runs the forward pass under bf16
    autocast (``None``: on CUDA only).
    """

    epochs: int
    lr: float
    batch_size: int
    weight_decay: float
    sigma: float
    momentum: float
    correction_start: int | None
    sgd_momentum: float = 0.9
    crop_padding: int = 0
    resized_crop: bool = False
    flip: bool = False
    eval_batch_size: int = 1024
    samples_per_class: int | None = None
    lr_drops: tuple[int, ...] = ()
    compile: bool = False
    bf16: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Callback:
    """Base class for hooks into :class:`Trainer`; every hook does nothing by default.

    Hooks get the trainer and may add keys to ``record`` (one dict per epoch, kept
    in ``trainer.history``).
    """

    def on_train_begin(self, trainer: Trainer) -> None: ...

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None: ...

    def on_batch_end(self, trainer: Trainer, loss: float) -> None: ...

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...


class ProgressBar(Callback):
    """A tqdm bar over epochs showing loss, accuracy against the targets, and phase; ``desc`` names the run."""

    def __init__(self, desc: str = "labelclean"):
        self.desc = desc

    def on_train_begin(self, trainer: Trainer) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=trainer.config.epochs, initial=len(trainer.history), desc=self.desc, unit="epoch"
        )

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        shown = {"loss": f"{record['train_loss']:.3f}", "acc": f"{record['train_acc']:.3f}"}
        shown.update({k: f"{v:.3f}" for k, v in record.items() if k.startswith("val")})
        if record["correcting"]:
            shown["phase"] = "correcting"
        self.bar.set_postfix(shown)
        self.bar.update(1)

    def on_train_end(self, trainer: Trainer) -> None:
        self.bar.close()


@dataclass
class Trainer:
    """Trains ``model`` with SLN, a momentum model and label correction.

    After :meth:`fit`: ``momentum_model`` (use it for predictions), ``targets`` (the
    current soft targets, corrected in the last epochs) and ``history``.

    With ``checkpoint_dir``, the whole training state is saved atomically (written
    beside, then renamed) after every epoch, and a later :meth:`fit` of the same run
    resumes from it: a kill at any moment loses at most the epoch in progress.
    """

    model: nn.Module
    config: TrainingConfig
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    callbacks: list[Callback] = field(default_factory=list)
    checkpoint_dir: str | os.PathLike | None = None

    def fit(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        num_classes: int,
        fixed: torch.Tensor | None = None,
    ) -> Trainer:
        """Train on ``inputs`` (N, ...) with integer ``labels`` (N,) in ``[0, num_classes)``.

        ``fixed`` (bool, N): samples whose label is final (a reviewer's), kept by label correction.
        """
        self._setup(inputs, labels, num_classes)
        self.fixed = torch.zeros(len(labels), dtype=torch.bool) if fixed is None else fixed.bool()
        self.fixed = self.fixed.to(self.device)
        if self.checkpoint_path is not None:
            self._fingerprint()  # the run as it starts: a file changed later cannot stop its checkpoints
        checkpoint.resume(self, self.checkpoint_path)
        for callback in self.callbacks:
            callback.on_train_begin(self)
        for epoch in range(len(self.history), self.config.epochs):
            self.run_epoch(epoch)
        for callback in self.callbacks:
            callback.on_train_end(self)
        return self

    def _setup(self, inputs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
        cfg = self.config
        self.model.to(self.device)
        if inputs.ndim == 4:  # NHWC kernels are markedly faster for convolutions on CPU
            self.model.to(memory_format=torch.channels_last)
        self.forward_model = self.model
        if distributed.is_distributed():  # broadcasts rank 0's weights: identical start everywhere
            self.forward_model = distributed.data_parallel(self.model, self.device)
        if self.config.compile:
            self.forward_model = torch.compile(self.forward_model)
        self.momentum_model = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=cfg.lr,
            momentum=cfg.sgd_momentum,
            weight_decay=cfg.weight_decay,
        )
        self.generator = torch.Generator(self.device).manual_seed(self.seed)
        self.inputs = inputs.to(self.device)
        self.labels = labels.to(self.device)
        self.given_onehot = F.one_hot(self.labels, num_classes).float()
        self.targets = self.given_onehot.clone()
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self._run_fingerprint: dict[str, Any] | None = None

    def is_correcting(self, epoch: int) -> bool:
        start = self.config.correction_start
        return start is not None and epoch >= start

    @property
    def sigma(self) -> float:
        """This epoch's noise strength: ``config.sigma``, 0 once label correction runs."""
        return 0.0 if self.is_correcting(self.epoch) else self.config.sigma

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the data; label correction first when its phase has begun."""
        cfg = self.config
        for callback in self.callbacks:
            callback.on_epoch_begin(self, epoch)
        started = time.perf_counter()
        self.epoch = epoch
        correcting = self.is_correcting(epoch)
        if correcting:
            self.correct_labels()
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * 0.1 ** sum(epoch >= drop for drop in cfg.lr_drops)
        self.model.train()
        order = self.epoch_order()
        smallest = 2 * distributed.world_size()  # batch normalisation needs two samples a process
        batches = [b for b in order.split(cfg.batch_size) if b.numel() >= smallest]
        if not batches:
            raise ValueError(
                f"a network cannot train on {len(order)} sample(s): a batch needs at least {smallest} "
                "(batch normalisation); each cross-fitting network trains on about (folds - 1) / folds "
                "of the samples, so give SLNCleaner more samples"
            )
        totals = torch.zeros(2, device=self.device)  # loss sum, correct count (this rank's slices)
        for index, batch in prefetch(self.inputs, batches, pin_memory=self.device.type == "cuda"):
            loss, logits = self.train_step(index, batch)
            local = index[distributed.shard(index.numel())]
            totals[0] += loss.detach() * local.numel()
            totals[1] += (logits.argmax(1) == self.targets[local].argmax(1)).sum()
            for callback in self.callbacks:
                callback.on_batch_end(self, loss)
        loss_sum, correct = distributed.all_reduce_sum(totals).tolist()
        seen = sum(b.numel() for b in batches)
        train_loss = loss_sum / seen
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"the training loss became {train_loss} in epoch {epoch + 1}; "
                f"lower the learning rate (lr={cfg.lr})"
            )
        record = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "train_acc": correct / seen,
            "sigma": self.sigma,
            "correcting": correcting,
            "seconds": time.perf_counter() - started,
        }
        for callback in self.callbacks:
            callback.on_epoch_end(self, record)
        self.history.append(record)
        checkpoint.save(self, self.checkpoint_path)
        return record

    def epoch_order(self) -> torch.Tensor:
        """The sample indices of one epoch: a permutation, or a class-balanced draw."""
        n = self.inputs.shape[0]
        per_class = self.config.samples_per_class
        if per_class is None:
            return torch.randperm(n, generator=self.generator, device=self.device)
        drawn = []
        for c in range(self.given_onehot.shape[1]):
            members = (self.labels == c).nonzero().squeeze(1)
            if len(members):
                pick = torch.randint(len(members), (per_class,), generator=self.generator, device=self.device)
                drawn.append(members[pick])
        order = torch.cat(drawn)
        return order[torch.randperm(len(order), generator=self.generator, device=self.device)]

    def train_step(
        self, index: torch.Tensor, batch: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on the global batch ``index``: targets, forward, loss, update.

        ``batch`` is ``inputs[index]`` when already fetched. Random draws (augmentation,
        label noise) are made for the whole global batch, so every rank stays in step;
        under torch.distributed each rank then trains its own slice and returns that
        slice's loss and logits. Subclasses override the piece that differs.
        """
        local = distributed.shard(index.numel())
        x = self.augment(self.inputs[index] if batch is None else batch)[local]
        targets = self.make_targets(index)[local]
        with autocast(self.device, self.config.bf16):
            outputs = self.forward(x)
        loss = self.compute_loss(outputs, targets, index[local])
        # DDP averages gradients over ranks; weigh unequal slices so that this is the
        # gradient of the global batch's mean loss.
        share = (local.stop - local.start) * distributed.world_size() / index.numel()
        self.apply_update(loss * share if share != 1 else loss, index.numel())
        return loss, outputs[0] if isinstance(outputs, tuple) else outputs

    def make_targets(self, index: torch.Tensor) -> torch.Tensor:
        """The global batch's current targets with SLN (Eq. 3): fresh noise at every step."""
        return method.stochastic_label_noise(self.targets[index], self.sigma, self.generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's logits (or a tuple whose first item is the logits)."""
        return self.forward_model(x)

    def compute_loss(self, outputs: torch.Tensor, targets: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Soft-target cross-entropy against ``targets`` (already carrying SLN).

        Override to train with another loss (the bench's baselines do); ``index``
        gives the samples' positions in the training set.
        """
        return method.soft_cross_entropy(outputs.float(), targets)

    def apply_update(self, loss: torch.Tensor, batch_size: int) -> None:
        """Backward, optimizer step, BatchNorm averaging across ranks, momentum model.

        ``batch_size`` is the global batch's size (for per-sample noise scales).
        """
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.after_backward(batch_size)
        self.optimizer.step()
        distributed.average_buffers(self.model)
        method.update_momentum_model(self.momentum_model, self.model, self.config.momentum)

    def after_backward(self, batch_size: int) -> None:
        """Hook between backward and the optimizer step (e.g. noise on the gradients)."""

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """Batch-level random crop and flip for images; features pass through."""
        x = x.to(self.device, non_blocking=True).float()
        if x.ndim != 4:
            return x
        if self.config.resized_crop:
            x = random_resized_crop(x, generator=self.generator)
        elif self.config.crop_padding:
            x = random_crop(x, self.config.crop_padding, self.generator)
        if self.config.flip:
            x = random_flip(x, self.generator)
        return x.contiguous(memory_format=torch.channels_last)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly where it stands."""
        return {
            "fingerprint": self._fingerprint(),
            "history": self.history,
            "model": self.model.state_dict(),
            "momentum_model": self.momentum_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "targets": self.targets,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` of a run on the same data, labels, seed and settings."""
        differences = checkpoint.fingerprint_differences(state.get("fingerprint", {}), self._fingerprint())
        if differences:
            raise ValueError(f"it was written by another run: {'; '.join(differences)}")
        self.history = state["history"]
        self.model.load_state_dict(state["model"])
        self.momentum_model.load_state_dict(state["momentum_model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.targets = state["targets"].to(self.device)

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / checkpoint.CHECKPOINT_FILE

    def _fingerprint(self) -> dict[str, Any]:
        """This run's fingerprint (:func:`labelclean.checkpoint.run_fingerprint`), hashed once per fit
        and only when checkpointing."""
        if self._run_fingerprint is None:
            self._run_fingerprint = checkpoint.run_fingerprint(self)
        return self._run_fingerprint

    @torch.no_grad()
    def predict_logits(self, inputs: torch.Tensor, model: nn.Module | None = None) -> torch.Tensor:
        """Logits of ``model`` (the momentum model by default) on un-augmented inputs.

        Under torch.distributed each rank predicts a shard and all ranks get all rows.
        """
        model = self.momentum_model if model is None else model
        rows = inputs[distributed.shard(len(inputs))]
        local = predict_logits(model, rows, self.device, self.config.eval_batch_size, self.config.bf16)
        return distributed.gather_rows(local, len(inputs))

    @torch.no_grad()
    def correct_labels(self) -> None:
        """Label correction (Sec. 3.3): new targets from the momentum model's predictions."""
        logits = self.predict_logits(self.inputs)
        losses = method.per_sample_cross_entropy(logits, self.labels)
        weights = method.correction_weights(losses)
        weights = torch.where(self.fixed, torch.ones_like(weights), weights)  # weight 1: the label as given
        self.targets = method.corrected_targets(self.given_onehot, logits.softmax(1), weights)


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    inputs: torch.Tensor,
    device: torch.device,
    batch_size: int = 1024,
    bf16: bool | None = None,
) -> torch.Tensor:
    """Logits of ``model`` in eval mode over ``inputs``, batch by batch, as float32."""
    was_training = model.training
    model.eval()
    try:
        with autocast(device, bf16):
            chunks = [model(chunk.to(device).float()).float() for chunk in inputs.split(batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(chunks)


def predict_proba(
    model: nn.Module, inputs: torch.Tensor, device: torch.device, bf16: bool | None
) -> np.ndarray:
    """Class probabilities of ``model`` (moved to ``device``) over ``inputs``, as a NumPy array."""
    model.to(device)
    return predict_logits(model, inputs, device, bf16=bf16).softmax(dim=1).cpu().numpy()
