"""Training recipes shared by every method of a table: the paper's Appendix B, and a CPU-sized one."""

from __future__ import annotations

from dataclasses import dataclass

from . import paper


@dataclass(frozen=True)
class Preset:
    """A full training recipe shared by every method of a table."""

    name: str
    model: str
    epochs: int
    lr: float
    train_subset: int | None
    sigma: dict[str, dict[str, float]]  # {dataset: {noise: SLN sigma}}
    momentum: float | None  # None: sized to the run (labelclean.method.momentum_for_steps)
    correction_fraction: float = 5 / 6
    batch_size: int = 128
    weight_decay: float = 5e-4
    lr_drops: tuple[int, ...] = ()  # epochs after which the lr is multiplied by 0.1

    def correction_start(self, epochs: int) -> int:
        """The 0-based epoch from which label correction runs, for a run of ``epochs``."""
        return round(epochs * self.correction_fraction)

    def describe(self, epochs: int | None = None) -> str:
        epochs = epochs or self.epochs
        subset = f"first {self.train_subset} training images" if self.train_subset else "all training images"
        momentum = self.momentum if self.momentum is not None else "sized to the run"
        schedule = (
            ", ".join(f"x0.1 after epoch {drop}" for drop in self.lr_drops) if self.lr_drops else "constant"
        )
        return (
            f"preset {self.name}: {self.model}, {subset}, {epochs} epochs, SGD lr {self.lr} "
            f"({schedule}; momentum 0.9), batch {self.batch_size}, weight decay {self.weight_decay}, "
            f"momentum model {momentum}, label correction from epoch "
            f"{self.correction_start(epochs) + 1} of {epochs}"
        )

    @classmethod
    def clothing1m(cls, epochs: int = 10) -> Preset:
        """Table 3: ResNet-50, lr 1e-3 then 1e-4 after epoch 5, batch 32, weight decay 1e-3,
        sigma 0.2, momentum model 0.999, label correction from the second epoch."""
        return cls(
            name="paper",
            model="resnet50",
            epochs=epochs,
            lr=1e-3,
            train_subset=None,
            sigma=paper.SIGMA,
            momentum=0.999,
            correction_fraction=1 / epochs,
            batch_size=32,
            weight_decay=1e-3,
            lr_drops=(5,),
        )


# Appendix B to the letter.
PAPER_PRESET = Preset(
    name="paper", model="wrn28_2", epochs=300, lr=0.001, train_subset=None, sigma=paper.SIGMA, momentum=0.999
)

# Sized for a 2-core CPU: ~10 minutes per method on 10,000 CIFAR-10 images. lr and
# sigma were chosen on a noisy validation split (benchmarks/cifar10_cpu.py --split val).
QUICK_SIGMA = {
    "cifar10": {"sym": 0.2, "asym": 0.2, "dependent": 0.2, "openset": 0.2},
    "cifar100": {"sym": 0.2, "asym": 0.2, "dependent": 0.1},
}
QUICK_PRESET = Preset(
    name="quick", model="cnn_small", epochs=40, lr=0.02, train_subset=10_000, sigma=QUICK_SIGMA, momentum=None
)
PRESETS = {"paper": PAPER_PRESET, "quick": QUICK_PRESET}
