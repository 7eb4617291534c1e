"""Training throughput: labelclean's loop against a reference loop written like the paper's code.

The reference feeds PIL images through per-sample torchvision transforms (random
crop after 4-pixel padding, flip, to-tensor, normalise) and a DataLoader, in fp32.
labelclean's loop keeps the images as one uint8 tensor on the training device and
augments whole batches there, with channels_last (and bf16 autocast on CUDA). Both
run the same model, batch size, data, SLN targets and momentum update; they run
alternately in one process, several times, and the ratio of medians is reported.
On the CPU labelclean also runs with precision="bf16" (its opt-in there): CPUs with
AVX512-BF16 or AMX run bf16 convolutions about twice as fast.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..method import soft_cross_entropy, stochastic_label_noise, update_momentum_model
from ..models import build_model
from ..training import Normalize, Trainer, TrainingConfig


def _config(batch_size: int, bf16: bool | None) -> TrainingConfig:
    return TrainingConfig(
        epochs=1, lr=0.02, batch_size=batch_size, weight_decay=5e-4, sigma=0.5, momentum=0.99,
        correction_start=None, crop_padding=4, flip=True, bf16=bf16,
    )  # fmt: skip


def labelclean_images_per_second(
    model_name: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device,
    batch_size: int,
    bf16: bool | None = None,
) -> float:
    """One epoch of labelclean's Trainer; ``bf16=None`` is its default (bf16 on CUDA only)."""
    model = torch.nn.Sequential(Normalize.fit(images), build_model(model_name, 10, tuple(images.shape[1:])))
    trainer = Trainer(model, _config(batch_size, bf16), device=device).fit(images, labels, 10)
    return len(images) / trainer.history[0]["seconds"]  # the epoch alone, not the set-up


class _PILDataset(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.pil = [Image.fromarray(a) for a in images.permute(0, 2, 3, 1).numpy()]
        self.labels, self.transform = labels, transform

    def __len__(self) -> int:
        return len(self.pil)

    def __getitem__(self, i: int):
        return self.transform(self.pil[i]), self.labels[i]


def reference_images_per_second(
    model_name: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device,
    batch_size: int,
    workers: int,
) -> float:
    from torchvision import transforms

    stats = Normalize.fit(images)
    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((stats.mean / 255).flatten().tolist(), (stats.std / 255).flatten().tolist()),
    ])  # fmt: skip
    loader = torch.utils.data.DataLoader(
        _PILDataset(images, labels, transform), batch_size=batch_size, shuffle=True, num_workers=workers,
        drop_last=True, pin_memory=device.type == "cuda",
    )  # fmt: skip
    model = build_model(model_name, 10, tuple(images.shape[1:])).to(device)
    momentum_model = build_model(model_name, 10, tuple(images.shape[1:])).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    _sync(device)
    started = time.perf_counter()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        targets = stochastic_label_noise(torch.nn.functional.one_hot(y, 10).float(), 0.5)
        loss = soft_cross_entropy(model(x), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        update_momentum_model(momentum_model, model, 0.99)
    _sync(device)
    return len(loader) * batch_size / (time.perf_counter() - started)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    models=("cnn_small", "wrn28_2"),
    repeats: int = 3,
    device: torch.device | None = None,
    batch_size: int = 128,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """Images per second of both loops for each model, alternating, ``repeats`` times."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    workers = min(4, os.cpu_count() or 1) if workers is None else workers
    # labelclean in its default precision; on the CPU also with its bf16 opt-in.
    loops = {"labelclean": None, **({"labelclean_bf16": True} if device.type == "cpu" else {})}
    rows = []
    for name in models:
        runs: dict[str, list[float]] = {loop: [] for loop in [*loops, "reference"]}
        for _ in range(repeats):
            for loop, bf16 in loops.items():
                runs[loop].append(
                    labelclean_images_per_second(name, images, labels, device, batch_size, bf16)
                )
            runs["reference"].append(
                reference_images_per_second(name, images, labels, device, batch_size, workers)
            )
        reference = statistics.median(runs["reference"])
        row = {
            "model": name, "device": str(device), "images": len(images), "batch_size": batch_size,
            "reference_workers": workers, "reference_img_s": reference,
        }  # fmt: skip
        for loop in loops:
            row[f"{loop}_img_s"] = statistics.median(runs[loop])
            row["ratio" + loop.removeprefix("labelclean")] = row[f"{loop}_img_s"] / reference
        row |= {f"{loop}_runs": [round(v, 1) for v in values] for loop, values in runs.items()}
        rows.append(row)
    return rows


def synthetic_cifar(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8))
    return images, torch.from_numpy(rng.integers(0, 10, n))
