"""Run one (method, noise, seed) cell of a paper table, resumably, with per-epoch curves."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..fileio import atomic_write
from ..method import momentum_for_steps
from ..models import build_model
from ..training import Callback, Normalize, TrainingConfig
from . import paper
from .data import NOISE_RATE, NUM_CLASSES, Split
from .methods import configure, make_trainer, method_settings


@dataclass(frozen=True)
class Preset:
    """A full training recipe shared by every method of a table."""

    name: str
    model: str
    epochs: int
    lr: float
    train_subset: int | None
    sigma: dict[str, dict[str, float]]
    momentum: float | None  # None: sized to the run (labelclean.method.momentum_for_steps)
    correction_fraction: float = 5 / 6
    batch_size: int = 128
    weight_decay: float = 5e-4

    def describe(self, epochs: int | None = None) -> str:
        epochs = epochs or self.epochs
        subset = f"first {self.train_subset} training images" if self.train_subset else "all training images"
        momentum = self.momentum if self.momentum is not None else "sized to the run"
        return (
            f"preset {self.name}: {self.model}, {subset}, {epochs} epochs, SGD lr {self.lr} "
            f"(momentum 0.9, constant), batch {self.batch_size}, weight decay {self.weight_decay}, "
            f"momentum model {momentum}, label correction from epoch "
            f"{round(epochs * self.correction_fraction) + 1} of {epochs}"
        )


# Appendix B to the letter.
PAPER_PRESET = Preset("paper", "wrn28_2", 300, 0.001, None, paper.SIGMA, 0.999)

# Sized for a 2-core CPU: ~10 minutes per method on 10,000 CIFAR-10 images. lr and
# sigma were chosen on a noisy validation split (benchmarks/cifar10_cpu.py --split val).
QUICK_SIGMA = {
    "cifar10": {"sym": 0.2, "asym": 0.2, "dependent": 0.2, "openset": 0.2},
    "cifar100": {"sym": 0.2, "asym": 0.2, "dependent": 0.1},
}
QUICK_PRESET = Preset("quick", "cnn_small", 40, 0.02, 10_000, QUICK_SIGMA, None)
PRESETS = {"paper": PAPER_PRESET, "quick": QUICK_PRESET}


class Curves(Callback):
    """Per epoch: test accuracy of the evaluated model; training loss on clean vs noisy samples."""

    def __init__(self, test: Split, flipped: np.ndarray, probe: int = 2000):
        self.test = test
        rng = np.random.default_rng(0)
        self.probe = torch.from_numpy(np.sort(rng.permutation(len(flipped))[:probe]))
        self.flipped = torch.from_numpy(flipped)[self.probe]

    def on_epoch_end(self, trainer, record):
        predicted = trainer.predict_logits(self.test.images).argmax(1).cpu().numpy()
        record["test_acc"] = float((predicted == self.test.labels).mean())
        logits = trainer.predict_logits(trainer.inputs[self.probe.to(trainer.device)])
        losses = F.cross_entropy(
            logits, trainer.labels[self.probe.to(trainer.device)], reduction="none"
        ).cpu()
        record["loss_clean"] = float(losses[~self.flipped].mean()) if (~self.flipped).any() else None
        record["loss_noisy"] = float(losses[self.flipped].mean()) if self.flipped.any() else None


def run_cell(
    *,
    dataset: str,
    method: str,
    noise: str,
    seed: int,
    preset: Preset,
    train: Split,
    noisy: np.ndarray,
    test: Split,
    out_dir: Path,
    device: torch.device,
    epochs: int | None = None,
    flipped: np.ndarray | None = None,
    verbose: bool = False,
    transition: np.ndarray | None = None,
    network: Callable[[int], torch.nn.Module] | None = None,
    name: str = "",
    **config_overrides: Any,
) -> dict[str, Any]:
    """Train one method on one noise with one seed; reuse a finished run's JSON if present."""
    path = Path(out_dir) / "runs" / f"{dataset}_{preset.name}_{method}_{noise}_seed{seed}{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    epochs = epochs or preset.epochs
    num_classes = NUM_CLASSES[dataset]
    steps = epochs * -(-len(noisy) // preset.batch_size)
    momentum = preset.momentum if preset.momentum is not None else momentum_for_steps(steps)
    base = TrainingConfig(
        epochs=epochs,
        lr=preset.lr,
        batch_size=preset.batch_size,
        weight_decay=preset.weight_decay,
        sigma=0.0,
        momentum=0.0,
        correction_start=None,
        crop_padding=max(1, train.images.shape[-1] // 8),
        flip=True,
    )
    base = replace(base, **config_overrides)
    settings = method_settings(method, noise, dataset, epochs, NOISE_RATE, transition)
    config = configure(
        base,
        settings,
        sigma=preset.sigma[dataset][noise],
        momentum=momentum,
        correction_start=round(epochs * preset.correction_fraction),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if network is None:
            net = build_model(preset.model, num_classes, tuple(train.images.shape[1:]))
        else:
            net = network(num_classes)
    model = torch.nn.Sequential(Normalize.fit(train.images), net)
    flipped = noisy != train.labels if flipped is None else flipped
    callbacks: list[Callback] = [Curves(test, flipped)]
    if verbose:
        from ..training import ProgressBar

        callbacks.append(ProgressBar())
    trainer = make_trainer(settings, model, config, device=device, seed=seed, callbacks=callbacks)
    started = time.perf_counter()
    trainer.fit(train.images, torch.tensor(noisy), num_classes)
    seconds = time.perf_counter() - started
    curve = [r["test_acc"] for r in trainer.history]
    result = {
        "dataset": dataset,
        "method": method,
        "noise": noise,
        "seed": seed,
        "preset": asdict(preset) | {"epochs": epochs},
        "config": config.to_dict(),
        "method_options": {k: np.asarray(v).tolist() for k, v in settings.options.items() if k != "peer"},
        "device": device_name(device),
        "n_train": len(noisy),
        "noise_rate": float(flipped.mean()),
        "final_test_acc": curve[-1],
        "peak_test_acc": max(curve),
        "seconds": seconds,
        "history": trainer.history,
    }
    text = json.dumps(result, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return result


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
