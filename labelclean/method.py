"""SLN-MO-LC as small pure functions of tensors (Chen et al., ICLR 2021).

Everything here is independent of the training loop so that each piece can be
checked against the paper on its own:

* :func:`stochastic_label_noise` and :func:`soft_cross_entropy` -- SLN, Eq. (3);
* :func:`add_logit_gradient_noise` -- the Eq. (2) variant (noise on dloss/dlogits);
* :func:`add_parameter_gradient_noise` -- the Eq. (1) variant (noise on dloss/dtheta);
* :func:`update_momentum_model` -- the momentum (EMA) model of Sec. 4.1;
* :func:`correction_weights` and :func:`corrected_targets` -- label correction,
  Sec. 3.3 and Appendix D.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "add_logit_gradient_noise",
    "add_parameter_gradient_noise",
    "corrected_targets",
    "correction_weights",
    "momentum_for_steps",
    "per_sample_cross_entropy",
    "soft_cross_entropy",
    "stochastic_label_noise",
    "training_steps",
    "update_momentum_model",
]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy against (possibly noisy, non-normalised) soft targets.

    ``-(log_softmax(f) * targets).sum(1).mean()``; with one-hot targets it equals
    :func:`torch.nn.functional.cross_entropy`.
    """
    return -(F.log_softmax(logits, dim=1) * targets).sum(dim=1).mean()


def per_sample_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every sample against its hard label (no reduction)."""
    return F.cross_entropy(logits.float(), labels, reduction="none")


def stochastic_label_noise(
    targets: torch.Tensor, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """SLN, Eq. (3): ``targets + sigma * z`` with ``z ~ N(0, I)`` fresh for every entry.

    Call it once per training step so that every sample gets new noise at every step.
    """
    if sigma == 0:
        return targets
    noise = torch.randn(targets.shape, generator=generator, device=targets.device, dtype=targets.dtype)
    return targets + sigma * noise


class _LogitGradientNoise(torch.autograd.Function):
    """Identity forward; backward adds ``sigma * z / batch`` to dloss/dlogits."""

    @staticmethod
    def forward(ctx, logits, sigma, generator):
        ctx.sigma = sigma
        ctx.generator = generator
        return logits.view_as(logits)

    @staticmethod
    def backward(ctx, grad):
        noise = torch.randn(grad.shape, generator=ctx.generator, device=grad.device, dtype=grad.dtype)
        return grad + ctx.sigma * noise / grad.shape[0], None, None


def add_logit_gradient_noise(
    logits: torch.Tensor, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Eq. (2): Gaussian noise on the gradient of each sample's loss w.r.t. its logits.

    The returned tensor equals ``logits``; only its gradient changes. The noise is
    ``sigma * z_i`` per sample, scaled by ``1 / batch`` like the gradient of a mean loss.
    """
    if sigma == 0:
        return logits
    return _LogitGradientNoise.apply(logits, sigma, generator)


@torch.no_grad()
def add_parameter_gradient_noise(
    parameters: Iterable[nn.Parameter],
    sigma: float,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> None:
    """Eq. (1): spherical Gaussian noise on the parameter gradients, in place.

    Each sample contributes ``sigma * z_i``; averaged over a batch of ``batch_size``
    independent samples that is ``sigma / sqrt(batch_size) * z``.
    """
    if sigma == 0:
        return
    scale = sigma / batch_size**0.5
    for parameter in parameters:
        if parameter.grad is None:
            continue
        noise = torch.randn(
            parameter.grad.shape,
            generator=generator,
            device=parameter.grad.device,
            dtype=parameter.grad.dtype,
        )
        parameter.grad.add_(noise, alpha=scale)


@torch.no_grad()
def update_momentum_model(momentum_model: nn.Module, model: nn.Module, momentum: float) -> None:
    """``theta' <- momentum * theta' + (1 - momentum) * theta`` over all floating state.

    Covers parameters and floating buffers (BatchNorm running statistics); integer
    buffers such as ``num_batches_tracked`` are copied. ``momentum=0`` makes the
    momentum model a plain copy of the model.
    """
    source = model.state_dict()
    for name, target in momentum_model.state_dict().items():
        value = source[name]
        if target.is_floating_point():
            target.lerp_(value, 1.0 - momentum)
        else:
            target.copy_(value)


def momentum_for_steps(total_steps: int) -> float:
    """Momentum whose averaging horizon ``1 / (1 - a)`` is about 3% of training.

    The paper's 0.999 (a 1,000-step horizon) is sized for 117,000 steps; with a few
    thousand steps that horizon still reaches back into the early, inaccurate
    models. This keeps 0.999 for long runs and shortens the horizon for short ones
    (0.99 at 3,000 steps).
    """
    horizon = min(1000.0, max(1.0, total_steps / 30))
    return 1.0 - 1.0 / horizon


def training_steps(epochs: int, n_samples: int, batch_size: int) -> int:
    """Optimizer steps of a run, the horizon :func:`momentum_for_steps` is sized for."""
    return epochs * -(-n_samples // batch_size)


def correction_weights(losses: torch.Tensor) -> torch.Tensor:
    """Min-max normalised losses, ``w = (l - l_min) / (l_max - l_min)``, in [0, 1].

    ``w`` is the weight kept on the *given* label (Appendix D): the largest-loss
    samples lean least on the model's prediction. Equal losses carry no signal and
    give ``w = 1`` (keep every given label).
    """
    low, high = losses.min(), losses.max()
    if high <= low:
        return torch.ones_like(losses)
    return (losses - low) / (high - low)


def corrected_targets(given_onehot: torch.Tensor, probs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``w * y + (1 - w) * onehot(argmax S)``: the label-correction targets.

    The prediction is turned into a one-hot vector, as in the paper's Sec. 4.3.
    """
    predicted = F.one_hot(probs.argmax(dim=1), probs.shape[1]).to(given_onehot.dtype)
    w = weights.to(given_onehot.dtype).unsqueeze(1)
    return w * given_onehot + (1.0 - w) * predicted
