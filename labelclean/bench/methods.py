"""The paper's compared methods as :class:`labelclean.training.Trainer` variants.

SLN, SLN-MO and SLN-MO-LC are the plain Trainer with different settings; the
baselines override only the piece of the step that differs: the loss (GCE,
PHuber-CE, LS, Forward, Backward, Co-teaching, whose model is a pair of networks),
the targets and the gradient (the Eq. 1 / Eq. 2 SGD-noise variants).
No second training loop: every method runs through ``Trainer.fit``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..method import add_logit_gradient_noise, add_parameter_gradient_noise, soft_cross_entropy
from ..training import Trainer, TrainingConfig

METHODS = ("ce", "gce", "coteaching", "phuber-ce", "ls", "sln", "sln-mo", "sln-mo-lc")
# Fig. 5's other SGD-noise variants: noise on the parameter gradients (Eq. 1) or on dloss/dlogits (Eq. 2).
SGD_NOISE_METHODS = ("noise-params", "noise-logits")
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

    def compute_loss(self, outputs, targets, index):
        given = _given_label(outputs.float().softmax(1), self.labels[index])
        loss = (1 - given.clamp_min(1e-8) ** self.q) / self.q
        return (loss * self.sample_weights[index]).mean()


@dataclass
class PHuberTrainer(Trainer):
    """Partially Huberised cross-entropy (Menon et al., 2020): linear below ``p = 1/tau``."""

    tau: float = 2.0

    def compute_loss(self, outputs, targets, index):
        labels = self.labels[index]
        given = _given_label(outputs.float().softmax(1), labels)
        log_given = _given_label(F.log_softmax(outputs.float(), 1), labels)
        linear = -self.tau * given + math.log(self.tau) + 1
        return torch.where(given <= 1 / self.tau, linear, -log_given).mean()


@dataclass
class LabelSmoothingTrainer(Trainer):
    """Label smoothing (Lukasik et al., 2020): targets ``(1 - alpha) y + alpha / c``.

    Smooths whatever targets the step made, so SLN stays on when ``sigma > 0``.
    """

    alpha: float = 0.8

    def compute_loss(self, outputs, targets, index):
        smoothed = (1 - self.alpha) * targets + self.alpha / targets.shape[1]
        return soft_cross_entropy(outputs.float(), smoothed)


class PeerPair(nn.Module):
    """Two networks trained side by side; in eval mode only the first one predicts."""

    def __init__(self, network: nn.Module, peer: nn.Module):
        super().__init__()
        self.network = network
        self.peer = peer

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if not self.training:
            return self.network(x)
        return self.network(x), self.peer(x)


@dataclass
class CoTeachingTrainer(Trainer):
    """Co-teaching (Han et al., 2018): two networks teach each other their small-loss samples.

    ``model`` is a :class:`PeerPair`; one optimizer updates both networks (SGD is
    per-parameter, so that equals one optimizer each). The kept share falls linearly
    from 1 to ``1 - forget_rate`` over ``ramp_epochs``. Under torch.distributed each
    rank picks the small-loss samples of its own slice. Predictions come from the
    first network.
    """

    forget_rate: float = 0.4
    ramp_epochs: int = 10

    def keep_rate(self) -> float:
        return 1 - self.forget_rate * min(1.0, self.epoch / max(1, self.ramp_epochs))

    def compute_loss(self, outputs, targets, index):
        logits, peer_logits = outputs
        labels = self.labels[index]
        keep = max(1, round(self.keep_rate() * len(index)))
        with torch.no_grad():
            mine = F.cross_entropy(logits.float(), labels, reduction="none").argsort()[:keep]
            theirs = F.cross_entropy(peer_logits.float(), labels, reduction="none").argsort()[:keep]
        # Each network learns from the samples its peer finds easy.
        loss = F.cross_entropy(logits[theirs].float(), labels[theirs])
        return loss + F.cross_entropy(peer_logits[mine].float(), labels[mine])


@dataclass
class ParameterNoiseTrainer(Trainer):
    """Eq. (1): Gaussian noise on the parameter gradients instead of the labels (Fig. 5)."""

    def make_targets(self, index):
        return self.targets[index]

    def after_backward(self, batch_size):
        add_parameter_gradient_noise(self.model.parameters(), self.sigma, batch_size, self.generator)


@dataclass
class LogitNoiseTrainer(Trainer):
    """Eq. (2): Gaussian noise on dloss/dlogits instead of the labels (Fig. 5)."""

    def make_targets(self, index):
        return self.targets[index]

    def forward(self, x):
        return add_logit_gradient_noise(super().forward(x), self.sigma, self.generator)


def _given_label(per_class: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each row's entry at its label."""
    return per_class.gather(1, labels[:, None]).squeeze(1)


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
    if name in SGD_NOISE_METHODS:
        trainer = ParameterNoiseTrainer if name == "noise-params" else LogitNoiseTrainer
        return MethodSettings(trainer, sigma=True)
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


def configure(full: TrainingConfig, settings: MethodSettings) -> TrainingConfig:
    """SLN-MO-LC's config with what the method does not use switched off: SLN, momentum model, correction."""
    return replace(
        full,
        sigma=full.sigma if settings.sigma else 0.0,
        momentum=full.momentum if settings.momentum else 0.0,
        correction_start=full.correction_start if settings.correction else None,
    )


def make_trainer(settings: MethodSettings, model, config, *, device, seed, callbacks, checkpoint_dir=None):
    if settings.trainer is CoTeachingTrainer:  # a second network, initialised from seed + 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            peer = copy.deepcopy(model)
            for module in peer.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
        model = PeerPair(model, peer)
    return settings.trainer(
        model,
        config,
        device=device,
        seed=seed,
        callbacks=callbacks,
        checkpoint_dir=checkpoint_dir,
        **settings.options,
    )


@dataclass
class ForwardTrainer(Trainer):
    """Forward loss correction (Patrini et al., 2017): ``CE(log(softmax(f) @ T), y)``.

    ``transition[i, j] = P(noisy label j | true class i)``.
    """

    transition: Any = None

    def compute_loss(self, outputs, targets, index):
        transition = torch.as_tensor(self.transition, dtype=torch.float32, device=outputs.device)
        noisy_probs = outputs.float().softmax(1) @ transition
        return F.nll_loss(noisy_probs.clamp_min(1e-8).log(), self.labels[index])


@dataclass
class BackwardTrainer(Trainer):
    """Backward loss correction (Patrini et al., 2017): ``(T^-1 @ loss_vector)[y]``."""

    transition: Any = None

    def compute_loss(self, outputs, targets, index):
        inverse = torch.linalg.inv(
            torch.as_tensor(self.transition, dtype=torch.float32, device=outputs.device)
        )
        per_class = -F.log_softmax(outputs.float(), 1)  # loss if the label were each class
        return _given_label(per_class @ inverse.T, self.labels[index]).mean()
