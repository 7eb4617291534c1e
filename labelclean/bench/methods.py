"""The paper's compared methods as :class:`labelclean.training.Trainer` variants.

SLN, SLN-MO and SLN-MO-LC are the plain Trainer with different settings; the
baselines override only the loss (GCE, PHuber-CE, LS) or the step (Co-teaching).
No second training loop: every method runs through ``Trainer.fit``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F

from .. import distributed
from ..method import soft_cross_entropy, update_momentum_model
from ..training import Trainer, TrainingConfig

METHODS = ("ce", "gce", "coteaching", "phuber-ce", "ls", "sln", "sln-mo", "sln-mo-lc")
CLOTHING1M_METHODS = ("ce", "forward", "backward", "coteaching", "sln", "sln-mo", "sln-mo-lc")


@dataclass
class GCETrainer(Trainer):
    """Truncated generalised cross-entropy (Zhang & Sabuncu, 2018).

    ``L_q = (1 - p_y^q) / q`` on kept samples. From ``warm_epochs`` on, every
    ``prune_every`` epochs, samples whose probability of their label is below ``k``
    get weight 0 (the truncation at ``(1 - k^q) / q``, which has no gradient).
    """

    q: float = 0.7
    k: float = 0.5
    warm_epochs: int = 50
    prune_every: int = 10

    def _setup(self, inputs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
        super()._setup(inputs, labels, num_classes)
        self.sample_weights = torch.ones(len(labels), device=self.device)

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        if epoch >= self.warm_epochs and (epoch - self.warm_epochs) % self.prune_every == 0:
            probs = self.predict_logits(self.inputs, self.model).softmax(1)
            given = probs.gather(1, self.labels[:, None]).squeeze(1)
            self.sample_weights = (given > self.k).float()
        return super().run_epoch(epoch)

    def compute_loss(self, logits, index):
        given = logits.float().softmax(1).gather(1, self.labels[index, None]).squeeze(1)
        loss = (1 - given.clamp_min(1e-8) ** self.q) / self.q
        return (loss * self.sample_weights[index]).mean()


@dataclass
class PHuberTrainer(Trainer):
    """Partially Huberised cross-entropy (Menon et al., 2020): linear below ``p = 1/tau``."""

    tau: float = 2.0

    def compute_loss(self, logits, index):
        given = logits.float().softmax(1).gather(1, self.labels[index, None]).squeeze(1)
        log_given = F.log_softmax(logits.float(), 1).gather(1, self.labels[index, None]).squeeze(1)
        linear = -self.tau * given + math.log(self.tau) + 1
        return torch.where(given <= 1 / self.tau, linear, -log_given).mean()


@dataclass
class LabelSmoothingTrainer(Trainer):
    """Label smoothing (Lukasik et al., 2020): targets ``(1 - alpha) y + alpha / c``."""

    alpha: float = 0.8

    def compute_loss(self, logits, index):
        targets = self.targets[index]
        smoothed = (1 - self.alpha) * targets + self.alpha / targets.shape[1]
        return soft_cross_entropy(logits.float(), smoothed)


@dataclass
class CoTeachingTrainer(Trainer):
    """Co-teaching (Han et al., 2018): two networks teach each other their small-loss samples.

    The kept share falls linearly from 1 to ``1 - forget_rate`` over ``ramp_epochs``.
    Predictions come from the first network.
    """

    forget_rate: float = 0.4
    ramp_epochs: int = 10
    peer: Any = field(default=None, repr=False)

    def _setup(self, inputs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
        if distributed.is_distributed():
            raise NotImplementedError("Co-teaching runs in a single process only")
        super()._setup(inputs, labels, num_classes)
        if self.peer is None:
            raise ValueError("CoTeachingTrainer needs peer=, a second network of the same kind")
        self.peer.to(self.device)
        if inputs.ndim == 4:
            self.peer.to(memory_format=torch.channels_last)
        self.peer_optimizer = torch.optim.SGD(
            self.peer.parameters(),
            lr=self.config.lr,
            momentum=self.config.sgd_momentum,
            weight_decay=self.config.weight_decay,
        )
        self.epoch = 0

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        self.epoch = epoch
        self.peer.train()
        return super().run_epoch(epoch)

    def keep_rate(self) -> float:
        return 1 - self.forget_rate * min(1.0, self.epoch / max(1, self.ramp_epochs))

    def train_step(self, index, sigma, batch=None):
        x = self.augment(self.inputs[index] if batch is None else batch)
        labels = self.labels[index]
        logits, peer_logits = self.model(x), self.peer(x)
        keep = max(1, round(self.keep_rate() * len(index)))
        with torch.no_grad():
            mine = F.cross_entropy(logits.float(), labels, reduction="none").argsort()[:keep]
            theirs = F.cross_entropy(peer_logits.float(), labels, reduction="none").argsort()[:keep]
        # Each network learns from the samples its peer finds easy.
        loss = F.cross_entropy(logits[theirs].float(), labels[theirs])
        peer_loss = F.cross_entropy(peer_logits[mine].float(), labels[mine])
        self.optimizer.zero_grad(set_to_none=True)
        self.peer_optimizer.zero_grad(set_to_none=True)
        (loss + peer_loss).backward()
        self.optimizer.step()
        self.peer_optimizer.step()
        update_momentum_model(self.momentum_model, self.model, self.config.momentum)
        return loss, logits


@dataclass(frozen=True)
class MethodSettings:
    """What a method changes in the shared config, and its own hyperparameters."""

    trainer: type[Trainer]
    sigma: bool = False
    momentum: bool = False
    correction: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def method_settings(
    name: str, noise: str, dataset: str, epochs: int, noise_rate: float, transition: Any = None
) -> MethodSettings:
    """Appendix B's method-specific settings, with epoch counts scaled to ``epochs`` of 300."""
    scale = epochs / (10 if dataset == "clothing1m" else 300)
    cifar100 = dataset == "cifar100"
    asym = noise == "asym"
    if name in ("ce", "sln", "sln-mo", "sln-mo-lc"):
        return MethodSettings(
            Trainer,
            sigma=name != "ce",
            momentum=name in ("sln-mo", "sln-mo-lc"),
            correction=name == "sln-mo-lc",
        )
    if name == "gce":
        warm = 150 if cifar100 else 50
        return MethodSettings(
            GCETrainer,
            options={"warm_epochs": round(warm * scale), "prune_every": max(1, round(10 * scale))},
        )
    if name == "phuber-ce":
        tau = 30.0 if cifar100 else (10.0 if asym else 2.0)
        return MethodSettings(PHuberTrainer, options={"tau": tau})
    if name == "ls":
        alpha = 0.8 if cifar100 or not asym else 0.5
        return MethodSettings(LabelSmoothingTrainer, options={"alpha": alpha})
    if name == "coteaching":
        return MethodSettings(
            CoTeachingTrainer,
            options={"forget_rate": noise_rate, "ramp_epochs": max(1, round(10 * scale))},
        )
    if name in ("forward", "backward"):
        if transition is None:
            raise ValueError(f"{name} needs the noise transition matrix")
        trainer = ForwardTrainer if name == "forward" else BackwardTrainer
        return MethodSettings(trainer, options={"transition": transition})
    raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")


def configure(
    base: TrainingConfig,
    settings: MethodSettings,
    sigma: float,
    momentum: float,
    correction_start: int | None,
) -> TrainingConfig:
    """The shared config with the method's SLN, momentum model and correction switched on or off."""
    return replace(
        base,
        sigma=sigma if settings.sigma else 0.0,
        momentum=momentum if settings.momentum else 0.0,
        correction_start=correction_start if settings.correction else None,
    )


def make_trainer(settings: MethodSettings, model, config, *, device, seed, callbacks, checkpoint_dir=None):
    options = dict(settings.options)
    if settings.trainer is CoTeachingTrainer:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            options["peer"] = copy.deepcopy(model)
            for module in options["peer"].modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    return settings.trainer(
        model, config, device=device, seed=seed, callbacks=callbacks, checkpoint_dir=checkpoint_dir, **options
    )


@dataclass
class ForwardTrainer(Trainer):
    """Forward loss correction (Patrini et al., 2017): ``CE(log(softmax(f) @ T), y)``.

    ``transition[i, j] = P(noisy label j | true class i)``.
    """

    transition: Any = None

    def compute_loss(self, logits, index):
        transition = torch.as_tensor(self.transition, dtype=torch.float32, device=logits.device)
        noisy_probs = logits.float().softmax(1) @ transition
        return F.nll_loss(noisy_probs.clamp_min(1e-8).log(), self.labels[index])


@dataclass
class BackwardTrainer(Trainer):
    """Backward loss correction (Patrini et al., 2017): ``(T^-1 @ loss_vector)[y]``."""

    transition: Any = None

    def compute_loss(self, logits, index):
        inverse = torch.linalg.inv(
            torch.as_tensor(self.transition, dtype=torch.float32, device=logits.device)
        )
        per_class = -F.log_softmax(logits.float(), 1)  # loss if the label were each class
        corrected = per_class @ inverse.T
        return corrected.gather(1, self.labels[index, None]).mean()
