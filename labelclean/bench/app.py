"""``app``: time opening a 1,000,000-row audit in the review app and producing its first page.

Writes a synthetic audit with the real schema and labelclean metadata (file-path
sources, no ``image`` column) to a temporary folder, then times the app's loader
(``app.review.load_audit``) and one filter + page. The review app lives in the
checkout's ``app/``, beside the package: run this from the checkout.

  python -m labelclean.bench app --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .data import DataMissing
from .report import write_table

CLASSES = [f"class_{k:02d}" for k in range(20)]
OPEN_LIMIT_S = 5.0  # the review app's goal for opening an audit and drawing its first page


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))


def run(args: argparse.Namespace) -> int:
    row = open_first_page(args.rows)
    note = (
        f"Opening an audit in the review app and producing its first page (goal: under {OPEN_LIMIT_S:g} s)."
    )
    print(write_table(args.out, "app_open", [row], note))
    return 0


def write_synthetic_audit(path: Path, rows: int, seed: int = 0) -> Path:
    """A plausible audit of ``rows`` image files in 20 classes, about 8% flagged."""
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    given = rng.integers(0, k, rows)
    wrong = rng.random(rows) < 0.08
    suggested = np.where(wrong, (given + rng.integers(1, k, rows)) % k, given)
    loss = np.where(wrong, rng.gamma(6.0, 0.6, rows), rng.gamma(1.0, 0.08, rows)).astype(np.float32)
    given_prob = np.exp(-loss).astype(np.float32)
    suggested_prob = np.where(wrong, rng.uniform(0.5, 1.0, rows), given_prob).astype(np.float32)
    mislabel = (1 / (1 + np.exp(-(loss - 1.5) * 6))).astype(np.float32)
    suspicious = (mislabel > 0.5) & (suggested != given)
    rank = np.empty(rows, dtype=np.int64)
    rank[np.argsort(-loss, kind="stable")] = np.arange(1, rows + 1)
    names = np.asarray(CLASSES)
    root = path.parent / "images"
    sources = pa.array([f"{root}/{names[g]}/{i:07d}.jpg" for i, g in enumerate(given)], pa.large_string())
    table = pa.table(
        {
            "sample_id": np.arange(rows, dtype=np.int64),
            "source": sources,
            "given_label": names[given],
            "suggested_label": names[suggested],
            "corrected_label": names[np.where(suspicious, suggested, given)],
            "loss": loss,
            "given_prob": given_prob,
            "suggested_prob": suggested_prob,
            "mislabel_prob": mislabel,
            "rank": rank,
            "is_suspicious": suspicious,
        }
    )
    metadata = {
        "labelclean_version": "bench",
        "params": {},
        "classes": CLASSES,
        "class_names": CLASSES,
        # not "image folder ...": the loader then finds the root from the sources (the slower path)
        "data_source": "DataFrame of image paths (column 'path')",
        "n_skipped": 0,
        "created": "2025-01-01T00:00:00+00:00",
    }
    table = table.replace_schema_metadata({b"labelclean": json.dumps(metadata).encode()})
    pq.write_table(table, path, row_group_size=65536)
    return path


def open_first_page(rows: int = 1_000_000) -> dict[str, Any]:
    """Seconds to open a ``rows``-row audit and to produce the first page of a filtered view."""
    try:
        from app.review import Filters, filter_audit, load_audit, page_rows
    except ImportError as err:
        raise DataMissing(
            f"the review app is not importable ({err}): run this from a labelclean checkout"
        ) from None

    with tempfile.TemporaryDirectory(prefix="labelclean-bench-app-") as folder:
        path = Path(folder) / "audit.parquet"
        started = time.perf_counter()
        write_synthetic_audit(path, rows)
        write_s = time.perf_counter() - started

        started = time.perf_counter()
        audit = load_audit(path)
        open_s = time.perf_counter() - started

        started = time.perf_counter()
        view = filter_audit(
            audit.frame,
            Filters(classes=(CLASSES[3],), score_range=(0.5, 1.0), flagged_only=True),
        )
        page = page_rows(view, 1, 24)
        first_page_s = time.perf_counter() - started
        if len(page) != min(24, len(view)) or not page["loss"].is_monotonic_decreasing:
            raise AssertionError(f"the app's first page is wrong: {len(page)} rows, not sorted by loss")
        if audit.root != (path.parent / "images").resolve():
            raise AssertionError(f"the app found the images under {audit.root}, not {path.parent / 'images'}")
        return {
            "rows": rows,
            "file_mb": round(path.stat().st_size / 2**20, 1),
            "write_s": round(write_s, 3),
            "open_s": round(open_s, 3),
            "first_page_s": round(first_page_s, 3),
            "total_s": round(open_s + first_page_s, 3),
            "view_rows": len(view),
        }
