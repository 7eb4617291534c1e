"""``index``: time and memory of indexing a 1,000,000-entry image folder and of writing its audit.

python -m labelclean.bench index --entries 1000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..audit import build_audit, write_audit
from ..data import index_image_folder
from .report import write_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to build the tree (default: temp dir)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results"))


def run(args: argparse.Namespace) -> int:
    row = index_and_audit(args.entries, args.workdir)
    note = (
        "Synthetic tree of empty .jpg files in 100 class folders. index/audit_write peaks are "
        "Python-heap allocations (tracemalloc) during each step; arrow_pool_peak is the largest "
        "Arrow allocation of the process (the audit is written in 65,536-row groups)."
    )
    print(write_table(args.out, "index", [row], note))
    return 0


def make_synthetic_tree(root: Path, entries: int, classes: int = 100) -> Path:
    """``entries`` empty ``.jpg`` files in ``classes`` class folders (indexing reads names only)."""
    for c in range(classes):
        folder = root / f"class_{c:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(c, entries, classes):
            open(folder / f"{i:07d}.jpg", "wb").close()
    return root


def _measure(fn) -> tuple[Any, float, float]:
    """Result, seconds, and peak Python-heap MiB of ``fn()``."""
    tracemalloc.start()
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def index_and_audit(entries: int = 1_000_000, workdir: Path | None = None) -> dict[str, Any]:
    """Time and peak memory of indexing ``entries`` files and of writing their audit."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp) / "images"
        started = time.perf_counter()
        make_synthetic_tree(root, entries)
        made = time.perf_counter() - started
        index, index_s, index_mib = _measure(lambda: index_image_folder(root))
        rng = np.random.default_rng(0)
        probs = rng.dirichlet(np.full(10, 0.3), size=len(index.paths)).astype(np.float32)
        labels = rng.integers(0, 10, len(index.paths))
        audit = build_audit(probs, labels, np.arange(10), index.paths)
        audit_mib = audit.memory_usage(deep=True).sum() / 2**20
        path = Path(tmp) / "audit.parquet"
        _, write_s, write_mib = _measure(lambda: write_audit(audit, path, {"benchmark": "index"}))
        return {
            "entries": len(index.paths),
            "make_tree_seconds": round(made, 1),
            "index_seconds": round(index_s, 2),
            "index_peak_mib": round(index_mib, 1),
            "audit_table_mib": round(audit_mib, 1),
            "audit_write_seconds": round(write_s, 2),
            "audit_write_peak_extra_mib": round(write_mib, 1),
            "arrow_pool_peak_mib": round(pa.default_memory_pool().max_memory() / 2**20, 1),
            "audit_file_mib": round(path.stat().st_size / 2**20, 1),
            "row_groups": pq.ParquetFile(path).num_row_groups,
        }
