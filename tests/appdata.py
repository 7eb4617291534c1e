"""Audits for the app's tests, written by labelclean's own writer from made-up predictions."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_digits

from labelclean.audit import build_audit, write_audit

DIGITS = load_digits().images
CLASSES = np.array(["cat", "dog", "fox", "owl"])


def png(value: int, side: int = 8) -> bytes:
    """A small PNG: scikit-learn's digit number ``value``, or a flat image of another size."""
    pixels = np.full((side, side), value % 256, dtype=np.uint8)
    if side == 8:
        pixels = (DIGITS[value % len(DIGITS)] * 15).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_audit(
    folder: Path,
    n: int = 60,
    *,
    files: bool = False,
    images: bool = False,
    classes: np.ndarray = CLASSES,
    row_group_size: int = 65536,
    seed: int = 0,
    top_classes: bool = True,
) -> Path:
    """An audit of ``n`` samples; about a third get a confident prediction of another class,
    so the posterior flags them.

    ``files``: the sources are PNG files under ``folder/data`` (an image-folder audit);
    ``images``: ``row N`` sources with an ``image`` column; neither: ``row N`` and no images.
    ``top_classes``: the three most probable true classes of each sample, from the same
    posterior as the other columns (``False``: an audit from before that column).
    """
    rng = np.random.default_rng(seed)
    k = len(classes)
    labels = rng.integers(0, k, n)
    wrong = rng.random(n) < 0.35
    target = np.where(wrong, (labels + rng.integers(1, k, n)) % k, labels)
    probs = rng.dirichlet(np.full(k, 0.3), n) * 0.1
    probs[np.arange(n), target] += 0.9
    probs /= probs.sum(axis=1, keepdims=True)
    folder.mkdir(parents=True, exist_ok=True)
    root = folder / "data"
    if files:
        sources = []
        for i, label in enumerate(labels):
            path = root / str(classes[label]) / f"{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png(i))
            sources.append(str(path))
        data_source = f"image folder {root}"
    else:
        sources = [f"row {i}" for i in range(n)]
        data_source = f"array of {n} grayscale images, shape ({n}, 8, 8)"
    audit = build_audit(probs, labels, classes, sources)
    if not top_classes:
        audit = audit.drop(columns="top_classes")
    if images:
        audit["image"] = [png(i) for i in range(n)]
    metadata = {
        "labelclean_version": "test",
        "params": {"epochs": 1, "random_state": 0},
        "classes": classes.tolist(),
        "class_names": [str(c) for c in classes],
        "data_source": data_source,
        "created": "2025-01-01T00:00:00+00:00",
        "noise_rate": {"estimate": 0.31, "low": 0.275, "high": 0.345, "level": 0.95},
    }
    path = folder / "audit.parquet"
    write_audit(audit, path, metadata, row_group_size=row_group_size)
    return path


def camera_photo(path: Path, size: tuple[int, int] = (4000, 3000)) -> Path:
    """A camera-size JPEG with a camera's grain, so it weighs what phone photos do (about 3 MB)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, size[0]).astype(np.uint8)
    pixels = np.repeat(np.tile(ramp, (size[1], 1))[..., None], 3, axis=2)
    pixels += rng.integers(0, 40, pixels.shape, dtype=np.uint8)
    pixels[size[1] // 3 : size[1] // 2, size[0] // 4 : size[0] // 2] = (200, 40, 40)
    Image.fromarray(pixels).save(path, format="JPEG", quality=85)
    return path


def true_label_reviews(audit: pd.DataFrame, true: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """A reviewer who reads the true label of each sample at ``rows`` (row positions of
    ``audit``; ``true`` in its sample order), as :func:`labelclean.auditfile.read_reviewed` reads."""
    ids = audit["sample_id"].to_numpy()[rows]
    labels = true[ids]
    keep = labels == audit["given_label"].to_numpy()[rows]
    return pd.DataFrame(
        {
            "sample_id": ids,
            "label": labels,
            "fits_no_class": False,
            "decision": np.where(keep, "keep", "relabel"),
        }
    )
