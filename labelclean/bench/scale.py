"""Scale benchmarks: indexing a 1,000,000-entry image folder, writing its audit, fit's peak memory."""

from __future__ import annotations

import os
import resource
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


def fit_peak_memory(data_dir: Path, epochs: int = 1) -> dict[str, Any]:
    """Peak RSS of ``SLNCleaner(device="cpu").fit`` on all CIFAR-10 training images in ``data_dir``."""
    import datasets

    from .. import SLNCleaner

    ds = datasets.load_dataset("parquet", data_files=str(Path(data_dir) / "train.parquet"), split="train")
    started = time.perf_counter()
    cleaner = SLNCleaner(epochs=epochs, device="cpu", random_state=0).fit(ds)
    return {
        "images": len(ds),
        "epochs": epochs,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "audit_rows": len(cleaner.audit_),
        "pid": os.getpid(),
    }
