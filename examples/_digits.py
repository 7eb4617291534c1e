"""Shared by the examples: scikit-learn's digits with 20% of the labels flipped (seeded)."""

import numpy as np
from sklearn.datasets import load_digits

from labelclean.noise import symmetric_noise


def noisy_digits(seed: int = 0):
    """(images (N, 8, 8) in 0..16, true labels, noisy labels)."""
    digits = load_digits()
    return digits.images, digits.target, symmetric_noise(digits.target, 0.2, 10, seed)


def report(cleaner, true_labels: np.ndarray, noisy_labels: np.ndarray) -> None:
    flagged = cleaner.audit()["is_suspicious"].to_numpy()
    flipped = true_labels != noisy_labels
    print(
        f"flagged {flagged.sum()} of {len(flagged)}; truly flipped {flipped.sum()}; "
        f"precision {(flagged & flipped).sum() / max(1, flagged.sum()):.2f}"
    )
    print(
        f"labels right before: {(noisy_labels == true_labels).mean():.3f}, "
        f"after correct_labels(): {(cleaner.correct_labels() == true_labels).mean():.3f}"
    )
    top = cleaner.suspicious_samples(top_k=5)
    # In-memory images carry a PNG thumbnail for the review app: bytes, not worth printing.
    print(top.drop(columns="image", errors="ignore").to_string())
