"""``memory``: peak resident memory of ``SLNCleaner.fit`` on the 50,000 CIFAR-10 training images, on the CPU.

python -m labelclean.bench memory --epochs 1
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path
from typing import Any

from .data import SHARED_DATA
from .report import write_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA / "cifar10")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))


def run(args: argparse.Namespace) -> int:
    import datasets

    train = datasets.load_dataset("parquet", data_files=str(args.data_dir / "train.parquet"), split="train")
    row = {"images": len(train), **fit_peak_memory(train, args.epochs)}
    note = "Peak resident memory of the whole process (ru_maxrss) during fit."
    print(write_table(args.out, "memory", [row], note))
    return 0


def fit_peak_memory(X: Any, epochs: int = 1) -> dict[str, Any]:
    """Seconds and peak RSS of ``SLNCleaner(device="cpu").fit(X)`` (any input fit accepts)."""
    from .. import SLNCleaner

    started = time.perf_counter()
    cleaner = SLNCleaner(epochs=epochs, device="cpu", random_state=0).fit(X)
    return {
        "epochs": epochs,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "audit_rows": len(cleaner.audit_),
        "pid": os.getpid(),
    }
