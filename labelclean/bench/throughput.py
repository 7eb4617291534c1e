"""``throughput``: training images/s of labelclean's loop against a reference loop written like the paper's code.

The reference feeds PIL images through per-sample torchvision transforms (random
crop after 4-pixel padding, flip, to-tensor, normalise) and a DataLoader, in fp32.
labelclean's loop keeps the images as one uint8 tensor on the training device and
augments whole batches there, with channels_last (and bf16 autocast on CUDA). Both
run the same model, batch size, data, SLN targets and momentum update; they run
alternately in one process, several times, and the ratio of medians is reported.
On the CPU labelclean also runs with precision="bf16" (its opt-in there): CPUs with
AVX512-BF16 or AMX run bf16 convolutions natively, faster than fp32.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..device import autocast, resolve_device
from ..method import soft_cross_entropy, stochastic_label_noise, update_momentum_model
from ..models import Normalize, build_model, with_normalization
from ..training import Callback, Trainer, TrainingConfig
from .data import data_dir, load_cifar
from .report import write_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=data_dir("cifar10"), help="CIFAR-10 Parquet (else synthetic)"
    )
    parser.add_argument("--images", type=int, default=2560, help="images per timed epoch")
    parser.add_argument("--models", nargs="+", default=["cnn_small", "wrn28_2"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=None, help="reference DataLoader workers (default min(4, CPUs))"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))


def run(args: argparse.Namespace) -> int:
    if (args.data_dir / "train.parquet").exists():
        train, _ = load_cifar("cifar10", args.data_dir)
        images, labels = train.images[: args.images], torch.from_numpy(train.labels[: args.images])
        source = f"the first {args.images} CIFAR-10 training images"
    else:
        images, labels = synthetic_cifar(args.images)
        source = f"{args.images} synthetic 32x32 images"
    rows = compare_loops(
        images,
        labels,
        models=args.models,
        repeats=args.repeats,
        device=resolve_device(args.device),
        workers=args.workers,
    )
    note = (
        f"{__doc__.strip()}\n\nData: {source}; "
        f"torch threads: {torch.get_num_threads()}; median of the repeats."
    )
    print(write_table(args.out, "throughput", rows, note))
    return 0


class StepClock:
    """Times the steps that follow ``warmup`` untimed ones: ``steps`` of them (None: all).

    Stops early once ``deadline`` (``time.monotonic()``) has passed. The device is
    synchronised only where the clock starts and stops, so host and device work
    overlap between them as they do in training.
    """

    def __init__(
        self, device: torch.device, warmup: int = 0, steps: int | None = None, deadline: float | None = None
    ):
        self.device, self.warmup, self.steps, self.deadline = device, warmup, steps, deadline
        self.done = 0
        self.started: float | None = None
        self.stopped: float | None = None

    def begin(self) -> None:
        """Call before the first step."""
        if self.warmup == 0:
            self.started = self._now()

    def tick(self) -> bool:
        """Count a finished step; True once no more steps need timing."""
        self.done += 1
        if self.done == self.warmup:
            self.started = self._now()
        out_of_time = self.deadline is not None and time.monotonic() > self.deadline
        if self.started is not None and (self.done - self.warmup == self.steps or out_of_time):
            self.stopped = self._now()
        return self.stopped is not None or out_of_time

    @property
    def timed_steps(self) -> int:
        return max(0, self.done - self.warmup) if self.started is not None else 0

    def images_per_second(self, batch_size: int) -> float | None:
        """None when no step was timed (the deadline passed during the warm-up)."""
        if self.started is None or self.timed_steps == 0:
            return None
        if self.stopped is None:  # the data ran out first
            self.stopped = self._now()
        return self.timed_steps * batch_size / (self.stopped - self.started)

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


class _Enough(Exception):
    """Ends a timed Trainer.fit once its clock has what it needs."""


class _ClockCallback(Callback):
    def __init__(self, clock: StepClock):
        self.clock = clock

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self.clock.begin()

    def on_batch_end(self, trainer: Trainer, loss: torch.Tensor) -> None:
        if self.clock.tick():
            raise _Enough


def _config(batch_size: int, bf16: bool | None, compile: bool) -> TrainingConfig:
    return TrainingConfig(
        epochs=1, lr=0.02, batch_size=batch_size, weight_decay=5e-4, sigma=0.5, momentum=0.99,
        correction_start=None, crop_padding=4, flip=True, bf16=bf16, compile=compile,
    )  # fmt: skip


def labelclean_images_per_second(
    model_name: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device,
    batch_size: int,
    bf16: bool | None = None,
    *,
    compile: bool = False,
    clock: StepClock | None = None,
) -> float | None:
    """One epoch of labelclean's Trainer; ``bf16=None`` is its default (bf16 on CUDA only).

    ``clock`` picks the timed steps (default: the whole epoch, not the set-up).
    """
    clock = clock or StepClock(device)
    model = with_normalization(build_model(model_name, 10, tuple(images.shape[1:])), images)
    trainer = Trainer(
        model, _config(batch_size, bf16, compile), device=device, callbacks=[_ClockCallback(clock)]
    )
    with contextlib.suppress(_Enough):
        trainer.fit(images, labels, 10)
    return clock.images_per_second(batch_size)


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
    *,
    bf16: bool = False,
    channels_last: bool = False,
    clock: StepClock | None = None,
) -> float | None:
    """The paper-style loop: fp32 and NCHW unless asked, eager. ``clock`` as for labelclean's."""
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
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(model_name, 10, tuple(images.shape[1:])).to(device, memory_format=layout)
    momentum_model = build_model(model_name, 10, tuple(images.shape[1:])).to(device, memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    clock = clock or StepClock(device)
    clock.begin()
    for x, y in loader:
        x, y = x.to(device, memory_format=layout), y.to(device)
        targets = stochastic_label_noise(torch.nn.functional.one_hot(y, 10).float(), 0.5)
        with autocast(device, bf16):
            logits = model(x)
        loss = soft_cross_entropy(logits.float(), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        update_momentum_model(momentum_model, model, 0.99)
        if clock.tick():
            break
    return clock.images_per_second(batch_size)


def compare_loops(
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
