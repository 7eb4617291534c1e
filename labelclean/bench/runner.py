"""Run one (method, noise, seed) cell of a paper table, resumably, with per-epoch curves."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..device import device_name
from ..models import build_model, with_normalization
from ..training import Callback, Trainer
from .data import NOISE_RATE, NUM_CLASSES, Split
from .methods import MethodSettings, configure, make_trainer, method_settings
from .presets import Preset
from .report import write_json


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


@dataclass(frozen=True, eq=False, kw_only=True)
class Cell:
    """One (method, noise, seed) of a table, with its data."""

    dataset: str
    method: str
    noise: str
    seed: int
    preset: Preset
    train: Split
    noisy: np.ndarray  # the training labels the method sees
    test: Split
    epochs: int | None = None  # None: the preset's
    flipped: np.ndarray | None = None  # which training samples are wrong; None: noisy != train.labels

    @property
    def run_epochs(self) -> int:
        return self.epochs or self.preset.epochs

    @property
    def wrong(self) -> np.ndarray:
        return self.noisy != self.train.labels if self.flipped is None else self.flipped

    def file_name(self, suffix: str = "") -> str:
        return f"{self.dataset}_{self.preset.name}_{self.method}_{self.noise}_seed{self.seed}{suffix}.json"


def cell_trainer(
    cell: Cell,
    device: torch.device,
    *,
    verbose: bool = False,
    transition: np.ndarray | None = None,
    network: Callable[[int], torch.nn.Module] | None = None,
    callbacks: Sequence[Callback] = (),
    **config_overrides: Any,
) -> tuple[Trainer, MethodSettings]:
    """The trainer of ``cell``, ready to ``fit(cell.train.images, cell.noisy)``.

    It records the test accuracy and the clean/noisy training losses every epoch
    (:class:`Curves`) before ``callbacks`` run.
    """
    preset, epochs, images = cell.preset, cell.run_epochs, cell.train.images
    num_classes = NUM_CLASSES[cell.dataset]
    plan = preset.plan(epochs=epochs, sigma=preset.sigma[cell.dataset][cell.noise], device=device)
    full = plan.training_config(len(cell.noisy), tuple(images.shape[1:]), plan.sigma)
    settings = method_settings(cell.method, cell.noise, cell.dataset, epochs, NOISE_RATE, transition)
    config = configure(replace(full, **config_overrides), settings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cell.seed)
        if network is None:
            net = build_model(plan.network, num_classes, tuple(images.shape[1:]))
        else:
            net = network(num_classes)
    every: list[Callback] = [Curves(cell.test, cell.wrong), *callbacks]
    if verbose:
        from ..training import ProgressBar

        every.append(ProgressBar())
    model = with_normalization(net, images)
    trainer = make_trainer(settings, model, config, device=device, seed=cell.seed, callbacks=every)
    return trainer, settings


def run_cell(
    cell: Cell, device: torch.device, out_dir: Path, name: str = "", **options: Any
) -> dict[str, Any]:
    """Train ``cell``; reuse a finished run's JSON (``out_dir``/runs) if present.

    ``options`` go to :func:`cell_trainer`.
    """
    path = Path(out_dir) / "runs" / cell.file_name(name)
    if path.exists():
        return json.loads(path.read_text())
    trainer, settings = cell_trainer(cell, device, **options)
    started = time.perf_counter()
    trainer.fit(cell.train.images, torch.tensor(cell.noisy), NUM_CLASSES[cell.dataset])
    seconds = time.perf_counter() - started
    curve = [r["test_acc"] for r in trainer.history]
    result = {
        "dataset": cell.dataset,
        "method": cell.method,
        "noise": cell.noise,
        "seed": cell.seed,
        "preset": asdict(cell.preset) | {"epochs": cell.run_epochs},
        "config": trainer.config.to_dict(),
        "method_options": {k: np.asarray(v).tolist() for k, v in settings.options.items() if k != "peer"},
        "device": device_name(device),
        "n_train": len(cell.noisy),
        "noise_rate": float(cell.wrong.mean()),
        "final_test_acc": curve[-1],
        "peak_test_acc": max(curve),
        "seconds": seconds,
        "history": trainer.history,
    }
    write_json(path, result)
    return result
