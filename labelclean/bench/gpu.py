"""``gpu``: the one-shot GPU check, under 8 minutes on one H100-class GPU, one table.

* Throughput on WRN-28-2 (batch 128): the per-sample DataLoader reference loop as
  the paper's code runs it (fp32, NCHW) and with bf16 + channels_last, against
  labelclean's loop in fp32 and bf16 (channels_last), eager and with torch.compile:
  --steps timed steps after --warmup-steps (the warm-up holds the compilation).
* SLN-MO-LC with the paper preset (Appendix B: WRN-28-2, SGD lr 0.001, batch 128,
  sigma 1.0, momentum model 0.999, label correction in the last 1/6 of the epochs) on
  the 50,000 CIFAR-10 training images with the paper's sym 40% labels, for --epochs:
  seconds per epoch of each phase, the projected 300-epoch time next to the paper's
  1.31 h on a V100, peak GPU memory, and the momentum model's test accuracy.

The table (--out/gpu.md and .json) is rewritten after every measurement, so a kill
still leaves what was measured. Each part is time-boxed within --budget seconds: the
throughput part stops after --throughput-seconds, the SLN-MO-LC run after the last
epoch that fits. Without CUDA it runs only when asked with --device cpu, and says
that its numbers are CPU numbers.

  python -m labelclean.bench gpu
  python -m labelclean.bench gpu --device cpu --images 32 --test-images 48 --epochs 3 \\
      --steps 2 --warmup-steps 1 --batch-size 8 --workers 0 --no-compile      (the tests)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..device import device_name
from ..training import Callback, Trainer
from .data import Split, data_dir, load_cifar, noisy_labels
from .paper import CIFAR10_HOURS
from .presets import PAPER_PRESET
from .report import write_table
from .runner import Cell, cell_trainer
from .throughput import StepClock, labelclean_images_per_second, reference_images_per_second

MODEL = "wrn28_2"
NOISE = "sym"
PAPER_V100_HOURS = CIFAR10_HOURS["sln-mo-lc"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=data_dir("cifar10"),
        help="CIFAR-10 as Hugging Face Parquet (train.parquet, test.parquet)",
    )
    parser.add_argument(
        "--noise-dir", type=Path, default=None, help="sym0.4.csv (default DATA_DIR/noise; else seeded)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument(
        "--device", default="auto", help="auto: CUDA, refused without it; cpu: the same steps on the CPU"
    )
    parser.add_argument("--images", type=int, default=50_000, help="training images of the SLN-MO-LC run")
    parser.add_argument(
        "--test-images", type=int, default=10_000, help="fewer: a seeded random subset of the test images"
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the SLN-MO-LC run")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per throughput measurement")
    parser.add_argument("--warmup-steps", type=int, default=15, help="untimed steps before them")
    parser.add_argument("--batch-size", type=int, default=128, help="the paper's 128; smaller for tests")
    parser.add_argument(
        "--workers", type=int, default=None, help="reference DataLoader workers (default min(8, CPUs))"
    )
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile rows")
    parser.add_argument(
        "--throughput-seconds", type=float, default=180, help="time box of the throughput part"
    )
    parser.add_argument("--budget", type=float, default=420, help="seconds for the whole command")


@dataclass(frozen=True)
class Loop:
    """One throughput measurement: which loop, in which precision and layout, compiled or not."""

    name: str  # "reference" or "labelclean"
    bf16: bool
    channels_last: bool
    compiled: bool = False

    @property
    def id(self) -> str:
        precision = "bf16" if self.bf16 else "fp32"
        return f"throughput/{self.name}-{precision}" + ("-compile" if self.compiled else "")

    @property
    def measure(self) -> str:
        loop = (
            "reference loop (PIL transforms + DataLoader)" if self.name == "reference" else "labelclean loop"
        )
        layout = "channels_last" if self.channels_last else "NCHW"
        mode = "torch.compile" if self.compiled else "eager"
        return f"{loop}, {'bf16' if self.bf16 else 'fp32'}, {layout}, {mode}"


LOOPS = (
    Loop("reference", bf16=False, channels_last=False),  # the paper's code; every ratio is against it
    Loop("reference", bf16=True, channels_last=True),
    Loop("labelclean", bf16=False, channels_last=True),
    Loop("labelclean", bf16=True, channels_last=True),  # labelclean's GPU default
    Loop("labelclean", bf16=True, channels_last=True, compiled=True),
    Loop("labelclean", bf16=False, channels_last=True, compiled=True),
)


class Table:
    """The one results table: every planned row from the start, rewritten after each change."""

    COLUMNS = ("measure", "value", "unit", "ratio", "peak_memory_mib", "detail", "id")

    def __init__(self, out: Path, note: str):
        self.out, self.note = out, note
        self.rows: dict[str, dict[str, Any]] = {}
        self.failed = False

    def plan(self, row_id: str, measure: str, unit: str) -> None:
        self.rows[row_id] = dict.fromkeys(self.COLUMNS) | {
            "measure": measure, "unit": unit, "detail": "not measured (yet)", "id": row_id,
        }  # fmt: skip

    def set(self, row_id: str, **values: Any) -> None:
        self.rows[row_id].update(values)
        self.write()

    def fail(self, row_id: str, err: BaseException) -> None:
        traceback.print_exception(err, file=sys.stderr)
        self.failed = True
        self.set(row_id, detail=f"failed: {type(err).__name__}: {err}"[:300])

    def write(self) -> str:
        return write_table(self.out, "gpu", list(self.rows.values()), self.note)


class _Say:
    """Progress lines on stderr, with the seconds since the start."""

    def __init__(self):
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[gpu {time.monotonic() - self.started:6.1f} s] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    say = _Say()
    deadline = say.started + args.budget
    if args.device == "auto" and not torch.cuda.is_available():
        print(
            "error: no CUDA device here; the gpu check needs one "
            "(--device cpu runs the same steps on the CPU, with CPU numbers)",
            file=sys.stderr,
        )
        return 2
    device = torch.device("cuda" if args.device == "auto" else args.device)
    train, test, noisy = _load(args, say)
    table = Table(args.out, _note(args, device, len(train.labels), len(test.labels)))
    _plan(table, args, device)
    table.write()
    _throughput(table, args, device, train, say, min(deadline, time.monotonic() + args.throughput_seconds))
    _paper_run(table, args, device, train, test, noisy, say, deadline)
    print(table.write())
    say(f"done: {args.out / 'gpu.md'}")
    return 1 if table.failed else 0


def _load(args: argparse.Namespace, say: _Say) -> tuple[Split, Split, np.ndarray]:
    say(f"loading CIFAR-10 from {args.data_dir}")
    train, test = load_cifar("cifar10", args.data_dir)
    train = Split(train.images[: args.images], train.labels[: args.images])
    if args.test_images < len(test.labels):  # a spread subset: the test file is sorted by class
        rows = np.sort(np.random.default_rng(0).choice(len(test.labels), args.test_images, replace=False))
        test = Split(test.images[torch.from_numpy(rows)], test.labels[rows])
    noise_dir = args.noise_dir if args.noise_dir is not None else args.data_dir / "noise"
    noisy = noisy_labels(train.labels, NOISE, 10, 0, noise_dir)
    say(f"{len(train.labels)} training images ({(noisy != train.labels).mean():.1%} wrong labels), "
        f"{len(test.labels)} test images")  # fmt: skip
    return train, test, noisy


def _note(args: argparse.Namespace, device: torch.device, n_train: int, n_test: int) -> str:
    versions = f"torch {torch.__version__}" + (
        f", CUDA {torch.version.cuda}" if device.type == "cuda" else ""
    )
    where = (
        f"Device: {device_name(device)} ({versions})."
        if device.type == "cuda"
        else f"**CPU NUMBERS, NOT A GPU**: {device_name(device)} ({versions})."
    )
    return (
        f"{where} Throughput: {MODEL}, batch {args.batch_size}, {args.steps} timed steps after "
        f"{args.warmup_steps} warm-up steps; ratio = images/s over the reference loop's (fp32, NCHW). "
        f"SLN-MO-LC: the paper preset on {n_train} CIFAR-10 training images with the paper's "
        f"{NOISE} 40% labels, batch {args.batch_size}, {args.epochs} epochs, test accuracy of the "
        f"momentum model on {n_test} test images. Seconds per epoch are training only (the "
        "per-epoch test evaluation is left out)."
    )


def _plan(table: Table, args: argparse.Namespace, device: torch.device) -> None:
    for loop in LOOPS:
        table.plan(loop.id, loop.measure, "img/s")
        if loop.compiled and args.no_compile:
            table.rows[loop.id]["detail"] = "left out (--no-compile)"
    sln_mo_lc = f"SLN-MO-LC, paper preset, {args.images} images"
    table.plan("epoch/sln", f"{sln_mo_lc}: seconds per epoch, SLN phase", "s")
    table.plan("epoch/correction", f"{sln_mo_lc}: seconds per epoch, label-correction phase", "s")
    correcting = PAPER_PRESET.epochs - PAPER_PRESET.correction_start(PAPER_PRESET.epochs)
    table.plan(
        "projection/300",
        f"{sln_mo_lc}: projected {PAPER_PRESET.epochs} epochs "
        f"({PAPER_PRESET.epochs - correcting} SLN + {correcting} correction)",
        "h",
    )
    table.plan("paper/v100", "the paper's SLN-MO-LC run (300 epochs, 50,000 images) on a V100", "h")
    table.set("paper/v100", value=PAPER_V100_HOURS, detail="Table 1's time per run")
    memory = "peak GPU memory (max_memory_allocated)" if device.type == "cuda" else "peak RSS of the process"
    table.plan("memory/peak", f"{sln_mo_lc}: {memory}", "MiB")
    table.plan("accuracy/final", f"{sln_mo_lc}: test accuracy after {args.epochs} epochs", "fraction")


def _throughput(
    table: Table, args: argparse.Namespace, device: torch.device, train: Split, say: _Say, deadline: float
) -> None:
    images, labels = _throughput_images(train, (args.warmup_steps + args.steps) * args.batch_size)
    workers = min(8, os.cpu_count() or 1) if args.workers is None else args.workers
    reference = None
    for loop in LOOPS:
        if loop.compiled and args.no_compile:
            continue
        if time.monotonic() > deadline:
            table.set(loop.id, detail="left out: the throughput time box was spent")
            continue
        say(f"throughput: {loop.measure}")
        clock = StepClock(device, args.warmup_steps, args.steps, deadline)
        _reset_peak_memory(device)
        try:
            if loop.name == "reference":
                rate = reference_images_per_second(
                    MODEL, images, labels, device, args.batch_size, workers,
                    bf16=loop.bf16, channels_last=loop.channels_last, clock=clock,
                )  # fmt: skip
            else:
                rate = labelclean_images_per_second(
                    MODEL,
                    images,
                    labels,
                    device,
                    args.batch_size,
                    loop.bf16,
                    compile=loop.compiled,
                    clock=clock,
                )
        except Exception as err:  # one failed setting must not cost the rest of the check
            table.fail(loop.id, err)
            continue
        if rate is None:
            table.set(loop.id, detail="no step timed: the time box ran out during the warm-up")
            continue
        reference = rate if loop == LOOPS[0] else reference
        table.set(
            loop.id,
            value=rate,
            ratio=None if reference is None else round(rate / reference, 4),
            peak_memory_mib=_peak_memory_mib(device),
            detail=f"{clock.timed_steps} timed steps"
            + (f", {workers} DataLoader workers" if loop.name == "reference" else ""),
        )
        say(f"  {rate:,.0f} img/s")


def _throughput_images(train: Split, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` training images, repeated when the set is smaller (tests)."""
    repeats = -(-n // len(train.labels))
    images = train.images.repeat(repeats, 1, 1, 1)[:n]
    return images, torch.from_numpy(np.tile(train.labels, repeats)[:n])


class _TimeBox(Exception):
    """The next epoch would end after the deadline."""


class EpochWatch(Callback):
    """After every epoch of the SLN-MO-LC run: fills the table, reports, keeps the time box."""

    def __init__(self, table: Table, device: torch.device, epochs: int, deadline: float, say: _Say):
        self.table, self.device, self.epochs, self.deadline, self.say = table, device, epochs, deadline, say
        self.records: list[dict[str, Any]] = []
        self.last_end = time.monotonic()

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.records.append(record)
        now = time.monotonic()
        wall, self.last_end = now - self.last_end, now
        sln = [r["seconds"] for r in self.records if not r["correcting"]]
        correction = [r["seconds"] for r in self.records if r["correcting"]]
        sln_s = statistics.median(sln[1:] or sln)  # the first epoch also loads kernels
        correction_s = statistics.median(correction) if correction else None
        self._fill(sln, sln_s, correction, correction_s, record)
        self.say(
            f"epoch {record['epoch']}/{self.epochs}: {record['seconds']:.1f} s training "
            f"({wall:.1f} s with evaluation), test accuracy {record['test_acc']:.4f}"
        )
        if record["epoch"] < self.epochs and now + 1.2 * wall > self.deadline:
            raise _TimeBox

    def _fill(self, sln, sln_s, correction, correction_s, record) -> None:
        table, epochs = self.table, PAPER_PRESET.epochs
        correcting = epochs - PAPER_PRESET.correction_start(epochs)
        epochs_used = f"epochs 2-{len(sln)}" if len(sln) > 2 else f"epoch {len(sln)}"
        table.rows["epoch/sln"].update(value=round(sln_s, 3), detail=f"median of {epochs_used}")
        if correction_s is not None:
            table.rows["epoch/correction"].update(
                value=round(correction_s, 3),
                detail=f"median of {len(correction)} epochs (one more prediction pass each)",
            )
        hours = ((epochs - correcting) * sln_s + correcting * (correction_s or sln_s)) / 3600
        table.rows["projection/300"].update(
            value=round(hours, 5),
            ratio=round(PAPER_V100_HOURS / hours, 3),
            detail="ratio = the paper's V100 time / this"
            + (
                ""
                if correction_s is not None
                else "; correction epochs at the SLN epochs' time (none run yet)"
            ),
        )
        table.rows["memory/peak"].update(
            value=_peak_memory_mib(self.device), detail=f"up to epoch {record['epoch']}"
        )
        table.set(
            "accuracy/final",
            value=record["test_acc"],
            detail=f"after epoch {record['epoch']} of {self.epochs}",
        )


def _paper_run(
    table: Table,
    args: argparse.Namespace,
    device: torch.device,
    train: Split,
    test: Split,
    noisy: np.ndarray,
    say: _Say,
    deadline: float,
) -> None:
    say(f"SLN-MO-LC, paper preset, {args.epochs} epochs on {len(noisy)} images")
    watch = EpochWatch(table, device, args.epochs, deadline, say)
    preset = replace(PAPER_PRESET, recipe=replace(PAPER_PRESET.recipe, batch_size=args.batch_size))
    _reset_peak_memory(device)
    try:
        cell = Cell(
            dataset="cifar10", method="sln-mo-lc", noise=NOISE, seed=0, preset=preset, train=train,
            noisy=noisy, test=test, epochs=args.epochs,
        )  # fmt: skip
        trainer, _ = cell_trainer(cell, device, callbacks=[watch])
        trainer.fit(train.images, torch.tensor(noisy), 10)
    except _TimeBox:
        done = len(watch.records)
        table.set("accuracy/final", detail=f"after epoch {done} of {args.epochs}: stopped by the time box")
    except Exception as err:
        table.fail("accuracy/final", err)


def _reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_memory_mib(device: torch.device) -> float:
    """Peak GPU memory allocated since the last reset; on the CPU, the process's peak RSS."""
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, 1)
