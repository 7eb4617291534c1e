"""``memory``: peak resident memory of ``SLNCleaner.fit``, on the CPU.

python -m labelclean.bench memory --epochs 1     # the 50,000 CIFAR-10 training images
python -m labelclean.bench memory --photos       # 2,000 generated 4000 x 3000 JPEGs in 10 class folders
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path
from typing import Any

from .data import data_dir, parquet_file
from .report import write_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=data_dir("cifar10"), help="CIFAR-10 Parquet")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument(
        "--photos", action="store_true", help="a generated folder of camera-sized JPEGs instead of CIFAR-10"
    )
    parser.add_argument("--n-photos", type=int, default=2000)
    parser.add_argument(
        "--photo-dir", type=Path, default=None, help="where the photos are made (default: OUT/photos; kept)"
    )


def run(args: argparse.Namespace) -> int:
    if args.photos:
        return _photos(args)
    import datasets

    train = datasets.load_dataset(
        "parquet", data_files=str(parquet_file(args.data_dir, "train")), split="train"
    )
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


def _photos(args: argparse.Namespace) -> int:
    """Decoding speed at the CNN's 32 px and peak memory of one default fit epoch on large JPEGs."""
    from concurrent.futures import ThreadPoolExecutor

    from ..images import Resize, decode_image
    from .photos import make_photo_folder

    folder = make_photo_folder(args.photo_dir or args.out / "photos", args.n_photos)
    paths = sorted(folder.rglob("*.jpg"))
    resize = Resize(crop=(32, 32), shorter=32, only_larger=True)  # image_size="auto" for the CPU CNN
    started = time.perf_counter()
    with ThreadPoolExecutor(min(8, (os.cpu_count() or 1) + 2)) as pool:
        list(pool.map(lambda p: decode_image(str(p), lambda: p, resize), paths))
    decode_rate = len(paths) / (time.perf_counter() - started)
    row = {
        "photos": len(paths),
        "photo_size": "4000 x 3000",
        "decode_images_per_s": round(decode_rate, 1),
        **fit_peak_memory(folder, args.epochs),
    }
    note = (
        "Generated 4000 x 3000 JPEGs in 10 class folders; decoding at 32 px (JPEG draft mode, threads); "
        "fit: SLNCleaner defaults on the CPU, peak resident memory of the whole process (ru_maxrss)."
    )
    print(write_table(args.out, "memory-photos", [row], note))
    return 0
