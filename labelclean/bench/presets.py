"""The tables' training presets: labelclean's recipes, with each table's network, subset and sigma.

A preset is not a copy of the settings: it names a recipe of :mod:`labelclean.recipes` and
plans every run with :func:`labelclean.recipes.plan_run`, as SLNCleaner plans its own, so the
benchmarks train exactly as the estimator would with the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..estimator import SLNCleaner
from ..recipes import RECIPES, Plan, Recipe, RunFacts, plan_run
from . import paper


@dataclass(frozen=True)
class Preset:
    """A table's training: a recipe, the network, the training subset, sigma per noise, the momentum model."""

    name: str
    model: str
    recipe: Recipe
    train_subset: int | None
    sigma: dict[str, dict[str, float]]  # {dataset: {noise: SLN sigma}}
    momentum: float | None  # None: sized to the run (labelclean.method.momentum_for_steps)

    @property
    def epochs(self) -> int:
        return self.recipe.epochs

    def correction_start(self, epochs: int) -> int:
        """The 0-based epoch from which label correction runs, for a run of ``epochs``."""
        return self.recipe.correction_epoch(epochs)

    def plan(self, *, epochs: int, sigma: float, device: torch.device) -> Plan:
        """One run's plan: SLNCleaner's, with this preset's recipe, network, sigma and momentum."""
        settings = SLNCleaner(
            model=self.model,
            epochs=epochs,
            sigma=sigma,
            momentum="auto" if self.momentum is None else self.momentum,
            device=str(device),
        ).get_params(deep=False)
        return plan_run(settings, RunFacts(is_image=True, default_device=str(device)), recipe=self.recipe)

    def describe(self, epochs: int | None = None) -> str:
        epochs = epochs or self.epochs
        recipe = self.recipe
        subset = f"first {self.train_subset} training images" if self.train_subset else "all training images"
        momentum = self.momentum if self.momentum is not None else "sized to the run"
        schedule = (
            ", ".join(f"x0.1 after epoch {drop}" for drop in recipe.lr_drops)
            if recipe.lr_drops
            else "constant"
        )
        return (
            f"preset {self.name}: {self.model}, {subset}, {epochs} epochs, SGD lr {recipe.lr} "
            f"({schedule}; momentum 0.9), batch {recipe.batch_size}, weight decay {recipe.weight_decay}, "
            f"momentum model {momentum}, label correction from epoch "
            f"{self.correction_start(epochs) + 1} of {epochs}"
        )

    @classmethod
    def clothing1m(cls, epochs: int = 10) -> Preset:
        """Table 3: the fine-tuning recipe on ResNet-50 (lr 1e-3 then 1e-4 after epoch 5, batch 32,
        weight decay 1e-3, label correction from the second epoch), sigma 0.2, momentum model 0.999,
        with the paper's random crop and flip of the resized images."""
        recipe = replace(RECIPES["finetune"], epochs=epochs, augment="crop")
        return cls(
            name="paper",
            model="resnet50",
            recipe=recipe,
            train_subset=None,
            sigma=paper.SIGMA,
            momentum=0.999,
        )


# Appendix B to the letter: the GPU recipe, WRN-28-2 and the paper's momentum model.
PAPER_PRESET = Preset(
    name="paper",
    model="wrn28_2",
    recipe=RECIPES["scratch_gpu"],
    train_subset=None,
    sigma=paper.SIGMA,
    momentum=0.999,
)

# The CPU recipe on a 10,000-image subset; sigma per noise chosen on a noisy validation split
# (benchmarks/cifar10_cpu.py --split val).
QUICK_SIGMA = {
    "cifar10": {"sym": 0.2, "asym": 0.2, "dependent": 0.2, "openset": 0.2},
    "cifar100": {"sym": 0.2, "asym": 0.2, "dependent": 0.1},
}
QUICK_PRESET = Preset(
    name="quick",
    model="cnn_small",
    recipe=RECIPES["scratch_cpu"],
    train_subset=10_000,
    sigma=QUICK_SIGMA,
    momentum=None,
)
PRESETS = {"paper": PAPER_PRESET, "quick": QUICK_PRESET}
