"""Default training settings, one recipe per kind of run; SLNCleaner's "auto" parameters read them.

=============  ==============================================================  =========================
kind           when                                                            source
=============  ==============================================================  =========================
scratch_gpu    images, a CNN trained from scratch on a GPU                      the paper, Appendix B.1
scratch_cpu    images, a CNN trained from scratch on the CPU                    benchmarks/results/cpu-tuning.md
features       feature vectors, or images embedded by a frozen backbone        benchmarks/results/head-tuning.md
finetune       a pretrained backbone fine-tuned whole                          the paper, Appendix B.2 (Clothing1M)
=============  ==============================================================  =========================
"""

from __future__ import annotations

from dataclasses import dataclass

from .selection import SIGMA_CANDIDATES

__all__ = ["RECIPES", "Recipe", "recipe_kind"]


@dataclass(frozen=True)
class Recipe:
    """Settings of one kind of run.

    ``sigma`` as a tuple: candidates, one chosen on held-out noisy labels
    (:func:`labelclean.selection.choose_sigma`). ``correction_start`` as a float is
    a share of the epochs (5/6: the paper's 250 of 300), as an int an epoch.
    ``augment``: "crop" (reflect-padded random crop), "resized_crop" (random
    resized crop, for pretrained backbones), or "none"; all but "none" add flips.
    """

    epochs: int
    lr: float
    sigma: float | tuple[float, ...]
    batch_size: int
    weight_decay: float
    correction_start: float | int = 5 / 6
    lr_drops: tuple[int, ...] = ()
    augment: str = "crop"

    def correction_epoch(self, epochs: int) -> int:
        if isinstance(self.correction_start, float):
            return round(epochs * self.correction_start)
        return min(self.correction_start, epochs - 1)


RECIPES = {
    "scratch_gpu": Recipe(epochs=300, lr=0.001, sigma=0.5, batch_size=128, weight_decay=5e-4),
    "scratch_cpu": Recipe(epochs=40, lr=0.02, sigma=0.2, batch_size=128, weight_decay=5e-4),
    "features": Recipe(
        epochs=15, lr=0.02, sigma=SIGMA_CANDIDATES, batch_size=128, weight_decay=5e-4, augment="none"
    ),
    "finetune": Recipe(
        epochs=10,
        lr=0.001,
        sigma=0.2,
        batch_size=32,
        weight_decay=1e-3,
        correction_start=1,
        lr_drops=(5,),
        augment="resized_crop",
    ),
}


def recipe_kind(*, is_image: bool, finetune: str | None, device_type: str) -> str:
    """Which recipe a run uses: by input, by how a pretrained backbone trains, by device."""
    if not is_image or finetune == "head":
        return "features"
    if finetune == "full":
        return "finetune"
    return "scratch_cpu" if device_type == "cpu" else "scratch_gpu"
