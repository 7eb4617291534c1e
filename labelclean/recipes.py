"""Every "auto" of a run decided in one place: a recipe per kind of run, and the run's plan.

=============  ==============================================================  =========================
kind           when                                                            source
=============  ==============================================================  =========================
scratch_gpu    images, a CNN trained from scratch on a GPU                      the paper, Appendix B.1
scratch_cpu    images, a CNN trained from scratch on the CPU                    benchmarks/results/cpu-tuning.md
features       feature vectors, or images embedded by a frozen backbone        benchmarks/results/head-tuning.md
finetune       a pretrained backbone fine-tuned whole                          the paper, Appendix B.2 (Clothing1M)
=============  ==============================================================  =========================

:func:`plan_run` takes SLNCleaner's parameters and what the data is, and returns the run's
:class:`Plan`: device, precision, network, image size, fine-tune mode, memory mode and every
training setting. Nothing else decides a default: the estimator follows the plan, and the
benchmark presets (:mod:`labelclean.bench.presets`) plan their runs from these recipes too.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ._params import AUTO
from .images import Resize
from .method import momentum_for_steps, training_steps
from .selection import SIGMA_CANDIDATES
from .training import TrainingConfig

if TYPE_CHECKING:
    from .backbones import Backbone

__all__ = [
    "RECIPES",
    "SCRATCH_SIDE",
    "Plan",
    "Recipe",
    "RunFacts",
    "crop_padding",
    "plan_run",
    "pretrained_backbone",
    "recipe_kind",
    "unused_settings",
]

# From-scratch CNNs train at CIFAR's size: larger images are resized down to it, smaller ones kept.
SCRATCH_SIDE = 32
# The smallest batch a recipe's batch is cut to on little data (Recipe.min_steps_per_epoch).
MIN_SIZED_BATCH = 16


@dataclass(frozen=True)
class Recipe:
    """Settings of one kind of run.

    ``sigma`` as a tuple: candidates, one chosen on held-out noisy labels
    (:func:`labelclean.selection.choose_sigma`). ``correction_start`` as a float is
    a share of the epochs (5/6: the paper's 250 of 300), as an int an epoch.
    ``augment``: "crop" (reflect-padded random crop), "resized_crop" (random
    resized crop, for pretrained backbones), or "none"; all but "none" add flips.
    ``folds``: how many networks give every sample held-out probabilities
    (:func:`labelclean.selection.cross_fit`): five where a run is cheap (a head), two where
    it is not (two networks on half the data cost about one on all of it). ``repeats``: how many
    splits the cross-fitting runs on, their held-out probabilities averaged; three for a head
    (benchmarks/results/decisions.md, "Repeated cross-fitting"), one where a run is dear.
    ``repeats_after_review``: the same in a refit with reviewed labels, which must be steadier
    than the fit whose decisions it replaces: a few reviews change less than the draw of another
    set of networks does on borderline samples (benchmarks/results/review.md).
    ``min_steps_per_epoch``: the from-scratch CNNs' epochs were tuned on tens of thousands of
    images; on a few hundred their batch would leave a run a few dozen steps, too few to fit, so
    the batch is cut to give an epoch this many steps (None: the batch as it is; a head on
    embeddings fits in a few dozen steps).
    """

    name: str
    epochs: int
    lr: float
    sigma: float | tuple[float, ...]
    batch_size: int
    weight_decay: float
    correction_start: float | int = 5 / 6
    lr_drops: tuple[int, ...] = ()
    augment: str = "crop"
    folds: int = 2
    repeats: int = 1
    repeats_after_review: int = 1
    min_steps_per_epoch: int | None = None

    def correction_epoch(self, epochs: int) -> int:
        """The 0-based epoch from which label correction runs, in a run of ``epochs``."""
        if isinstance(self.correction_start, float):
            return round(epochs * self.correction_start)
        return min(self.correction_start, epochs - 1)


RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "scratch_gpu",
            epochs=300,
            lr=0.001,
            sigma=0.5,
            batch_size=128,
            weight_decay=5e-4,
            min_steps_per_epoch=25,
        ),
        Recipe(
            "scratch_cpu",
            epochs=40,
            lr=0.02,
            sigma=0.2,
            batch_size=128,
            weight_decay=5e-4,
            min_steps_per_epoch=25,
        ),
        Recipe(
            "features",
            epochs=15,
            lr=0.02,
            sigma=SIGMA_CANDIDATES,
            batch_size=128,
            weight_decay=5e-4,
            augment="none",
            folds=5,
            repeats=3,
            repeats_after_review=6,
        ),
        Recipe(
            "finetune",
            epochs=10,
            lr=0.001,
            sigma=0.2,
            batch_size=32,
            weight_decay=1e-3,
            correction_start=1,
            lr_drops=(5,),
            augment="resized_crop",
        ),
    )
}


def recipe_kind(*, is_image: bool, finetune: str | None, device_type: str) -> str:
    """Which recipe a run uses: by input, by how a pretrained backbone trains, by device."""
    if not is_image or finetune == "head":
        return "features"
    if finetune == "full":
        return "finetune"
    return "scratch_cpu" if device_type == "cpu" else "scratch_gpu"


def crop_padding(side: int) -> int:
    """Reflect padding of a random crop: 1/8 of the image side (CIFAR's 4 of 32), at least a pixel."""
    return max(1, round(side / 8))


@dataclass(frozen=True)
class RunFacts:
    """What a plan depends on besides the parameters: the data's kind and what "auto" means here.

    ``is_image``: images rather than feature vectors (:func:`labelclean.data.is_image_input`);
    ``default_device``: this machine's device for ``device="auto"``; ``default_cache_dir``: its
    embedding cache for ``cache_dir="auto"``; ``reviewed``: a refit with reviewed labels.
    """

    is_image: bool
    default_device: str
    default_cache_dir: str | None = None
    reviewed: bool = False

    @classmethod
    def here(cls, *, is_image: bool, reviewed: bool = False) -> RunFacts:
        """The facts of a run on this machine (the one place a plan's inputs read the environment)."""
        from .device import default_device
        from .embeddings import default_cache_dir

        return cls(
            is_image=is_image,
            default_device=str(default_device()),
            default_cache_dir=str(default_cache_dir()),
            reviewed=reviewed,
        )


@dataclass(frozen=True)
class Plan:
    """A run's every setting, with no "auto" left: what :func:`plan_run` decided.

    ``model`` is the name recorded for the network (a registered name, a torchvision model
    name, a Backbone's or a module's class name); ``network`` what is built for each training
    run: a registered name, "module" (a copy of the given module) or "backbone" (the
    pretrained backbone with a new classifier). ``image_size``: how images decode (None: at
    their own size). ``memory_limit``: bytes of decoded images held in memory, beyond which
    image files stay on disk (0: every file does). ``cache_dir``: where a frozen backbone's
    embeddings are cached (None: nowhere, or no frozen backbone). ``sigma`` as a tuple: candidates chosen
    on held-out noisy labels. ``momentum`` None: sized to each training run's steps
    (:func:`labelclean.method.momentum_for_steps`). ``augment``: "crop" (reflect padding of
    :func:`crop_padding`), "resized_crop" or "none"; the first two add flips. ``bf16``: bf16
    autocast of the forward pass, None for the "auto" precision (on CUDA, not on the CPU).
    ``folds``: the cross-fitting folds (at most the number of samples trained on); ``repeats``:
    the splits they run on, each sample's held-out predictions averaged over them.
    ``batch_size``: the batch, or its upper bound where ``min_steps_per_epoch`` (the recipe's, for
    ``batch_size="auto"``) makes each run's batch smaller on little data (:meth:`batch_for`).
    """

    recipe: str
    device: str
    model: str
    network: str
    finetune: str | None
    image_size: Resize | None
    memory_limit: int
    cache_dir: str | None
    epochs: int
    lr: float
    lr_drops: tuple[int, ...]
    batch_size: int
    weight_decay: float
    sigma: float | tuple[float, ...]
    momentum: float | None
    correction_start: int | None
    augment: str
    compile: bool
    bf16: bool | None
    folds: int
    min_steps_per_epoch: int | None = None
    repeats: int = 1  # plans recorded before repeats ran one split

    def batch_for(self, n_samples: int) -> int:
        """The batch of a run on ``n_samples``: the plan's, cut where needed to give an epoch
        ``min_steps_per_epoch`` steps (see :class:`Recipe`), but not below :data:`MIN_SIZED_BATCH`."""
        if self.min_steps_per_epoch is None:
            return self.batch_size
        return max(MIN_SIZED_BATCH, min(self.batch_size, n_samples // self.min_steps_per_epoch))

    @property
    def precision(self) -> str:
        """The forward pass's arithmetic on this plan's device: "bf16" or "fp32"."""
        on = self.bf16 if self.bf16 is not None else torch.device(self.device).type == "cuda"
        return "bf16" if on else "fp32"

    def training_config(self, n_samples: int, sample_shape: tuple[int, ...], sigma: float) -> TrainingConfig:
        """The loop's settings for one training run on ``n_samples`` of ``sample_shape`` with ``sigma``."""
        augment = len(sample_shape) == 3 and self.augment != "none"
        batch_size = self.batch_for(n_samples)
        if self.momentum is None:
            momentum = momentum_for_steps(training_steps(self.epochs, n_samples, batch_size))
        else:
            momentum = self.momentum
        return TrainingConfig(
            epochs=self.epochs,
            lr=self.lr,
            batch_size=batch_size,
            weight_decay=self.weight_decay,
            sigma=sigma,
            momentum=momentum,
            correction_start=self.correction_start,
            crop_padding=crop_padding(sample_shape[-1]) if augment and self.augment == "crop" else 0,
            resized_crop=augment and self.augment == "resized_crop",
            flip=augment,
            lr_drops=self.lr_drops,
            compile=self.compile,
            bf16=self.bf16,
        )

    def check_images(self, sample_shape: tuple[int, ...]) -> None:
        """Refuse images a random crop cannot pad (reflect padding needs 2 pixels a side), before training."""
        if len(sample_shape) == 3 and self.augment == "crop" and min(sample_shape[-2:]) < 2:
            height, width = sample_shape[-2:]
            raise ValueError(
                f"images of {height} x {width} pixels are too small for random-crop augmentation, which "
                "needs 2 pixels or more on each side; pass augment=False, or image_size=(height, width) "
                "to resize them"
            )

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-able values (the audit's metadata records it), its precision included."""
        return {**asdict(self), "precision": self.precision}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Plan:
        """The plan :meth:`to_dict` recorded."""
        fields = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        size = fields["image_size"]
        sigma = fields["sigma"]
        return cls(
            **{
                "folds": 0,  # recorded before plans had folds (no cross-fitting then)
                **fields,
                "image_size": None if size is None else Resize(**{**size, "crop": tuple(size["crop"])}),
                "lr_drops": tuple(fields["lr_drops"]),
                "sigma": tuple(sigma) if isinstance(sigma, list) else sigma,
            }
        )


def plan_run(
    params: Mapping[str, Any],
    facts: RunFacts,
    *,
    backbone: Backbone | None = None,
    recipe: Recipe | None = None,
) -> Plan:
    """The whole plan of a run, from SLNCleaner's ``params`` and the ``facts`` of its data and machine.

    ``backbone``: the pretrained backbone ``params["model"]`` names or is (None to train from
    scratch). Each "auto" takes the value of the run's recipe (:func:`recipe_kind`), or of
    ``recipe`` when given (the benchmark presets). Pure: it reads its arguments and nothing else.
    """
    device = torch.device(facts.default_device if _is_auto(params["device"]) else params["device"])
    finetune = _finetune(params["finetune"], backbone, device)
    if recipe is None:
        recipe = RECIPES[recipe_kind(is_image=facts.is_image, finetune=finetune, device_type=device.type)]
    model, network = _network_choice(
        params["model"], backbone, finetune, is_image=facts.is_image, device=device
    )

    def pick(name: str) -> Any:
        return getattr(recipe, name) if _is_auto(params[name]) else params[name]

    epochs, sigma = int(pick("epochs")), pick("sigma")
    auto_repeats = recipe.repeats_after_review if facts.reviewed else recipe.repeats
    correction_start = params["correction_start"]
    return Plan(
        recipe=recipe.name,
        device=str(device),
        model=model,
        network=network,
        finetune=finetune,
        image_size=_decode_size(params["image_size"], params["model"], backbone) if facts.is_image else None,
        # Embedding reads each file once, batch by batch: nothing to hold in memory.
        memory_limit=0 if finetune == "head" else int(params["memory_limit_gb"] * 2**30),
        cache_dir=_cache_dir(params["cache_dir"], facts.default_cache_dir) if finetune == "head" else None,
        epochs=epochs,
        lr=float(pick("lr")),
        lr_drops=recipe.lr_drops if _is_auto(params["lr"]) else (),
        batch_size=int(pick("batch_size")),
        min_steps_per_epoch=recipe.min_steps_per_epoch if _is_auto(params["batch_size"]) else None,
        weight_decay=float(pick("weight_decay")),
        sigma=tuple(map(float, sigma)) if isinstance(sigma, (list, tuple)) else float(sigma),
        momentum=None if _is_auto(params["momentum"]) else float(params["momentum"]),
        correction_start=recipe.correction_epoch(epochs) if _is_auto(correction_start) else correction_start,
        augment=recipe.augment if params["augment"] else "none",
        compile=params["compile"],
        bf16=None if _is_auto(params["precision"]) else params["precision"] == "bf16",
        folds=int(pick("folds")),
        repeats=int(auto_repeats if _is_auto(params["repeats"]) else params["repeats"]),
    )


def unused_settings(params: Mapping[str, Any], plan: Plan, *, is_image: bool) -> list[str]:
    """Settings given that this run does not use, each said with why (for a warning).

    Warned about rather than refused, as scikit-learn does, so that one set of settings can
    serve a search over models.
    """
    model = params["model"]
    named = f"model={model!r}" if isinstance(model, str) else f"model={type(model).__name__}(...)"
    scratch = f"{named} trains from scratch"
    notes = []
    weights = params["weights"]
    if weights is not None and not _is_auto(weights) and not (isinstance(model, str) and plan.finetune):
        why = scratch if plan.finetune is None else f"{named} is a Backbone with its own weights"
        notes.append(f"weights={weights!r} is not used: weights are for a torchvision model name, and {why}")
    if plan.finetune is None and not _is_auto(params["finetune"]):
        notes.append(
            f"finetune={params['finetune']!r} is not used: it says how a pretrained backbone trains, and {scratch}"
        )
    cache_dir = params["cache_dir"]
    if plan.finetune != "head" and cache_dir is not None and not _is_auto(cache_dir):
        notes.append(
            f"cache_dir={cache_dir!r} is not used: it keeps the embeddings of a frozen backbone "
            f"(finetune='head'), and this run trains {'from scratch' if plan.finetune is None else 'the whole backbone'}"
        )
    if not is_image and isinstance(params["image_size"], (tuple, list)):
        notes.append(
            f"image_size={params['image_size']!r} is not used: it sizes images, and X holds feature vectors"
        )
    start = params["correction_start"]
    if not _is_auto(start) and start is not None and start >= plan.epochs:
        notes.append(
            f"label correction never runs: correction_start={start} is not below epochs={plan.epochs} "
            "(correction_start=None says so without a warning)"
        )
    return notes


def pretrained_backbone(model: Any, weights: Any) -> Backbone | None:
    """The pretrained backbone ``model`` names (a torchvision model) or is; None to train from scratch.

    Built before the plan, which takes the image size from the backbone's weights. ``weights``
    "auto": torchvision's "DEFAULT" weights of the model. A Backbone given is copied: the
    fitted network owns its module, which later edits of the caller's module leave alone.
    """
    from .backbones import Backbone, is_torchvision_model, torchvision_backbone

    if isinstance(model, Backbone):
        return copy.deepcopy(model)
    if is_torchvision_model(model):
        return torchvision_backbone(model, "DEFAULT" if _is_auto(weights) else weights)
    return None


def _is_auto(value: Any) -> bool:
    return isinstance(value, str) and value == AUTO


def _finetune(finetune: str, backbone: Backbone | None, device: torch.device) -> str | None:
    """How a pretrained backbone trains: the whole network on a GPU, a head on its embeddings on the CPU."""
    if backbone is None:
        return None
    if _is_auto(finetune):
        return "full" if device.type == "cuda" else "head"
    return finetune


def _cache_dir(cache_dir: Any, default: str | None) -> str | None:
    if cache_dir is None:
        return None
    return default if _is_auto(cache_dir) else str(cache_dir)


def _network_choice(
    model: Any, backbone: Backbone | None, finetune: str | None, *, is_image: bool, device: torch.device
) -> tuple[str, str]:
    """The network's recorded name, and what is built: a registered name, "module" or "backbone"."""
    if backbone is not None:
        name = str(model) if isinstance(model, str) else backbone.name
        return name, "backbone" if finetune == "full" else "mlp"
    if isinstance(model, nn.Module):
        return type(model).__name__, "module"
    if not _is_auto(model):
        name = model
    elif not is_image:
        name = "mlp"
    else:  # the paper's network where a GPU trains it, a small CNN on the CPU
        name = "wrn28_2" if device.type == "cuda" else "cnn_small"
    return name, name


def _decode_size(image_size: Any, model: Any, backbone: Backbone | None) -> Resize | None:
    """How images are sized as they decode (see SLNCleaner's ``image_size``)."""
    if image_size is None or (_is_auto(image_size) and isinstance(model, nn.Module)):
        return None  # a custom module takes the images at their decoded size
    if not _is_auto(image_size):
        return Resize(crop=(int(image_size[0]), int(image_size[1])))
    if backbone is not None:
        return backbone.resize
    return Resize(crop=(SCRATCH_SIDE, SCRATCH_SIDE), shorter=SCRATCH_SIDE, only_larger=True)
