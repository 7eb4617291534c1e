"""Feature vectors as the network takes them: standardised in float64, then cast to float32.

float32 keeps about 7 significant digits and ends at 3.4e38: timestamps near 1.6e9 that
differ by tens of seconds, or large counts, collapse to a few values, and larger values
become inf. Standardised first (each feature minus the mean ``fit`` saw, over its standard
deviation), every feature keeps its differences whatever its offset and scale; new inputs
are standardised with the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["FeatureScaling"]

_ROWS = 65536  # rows per float64 chunk: a large float32 set is never copied to float64 all at once


@dataclass(frozen=True)
class FeatureScaling:
    """Each feature's mean and scale (its standard deviation; 1 for a constant feature), in float64."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, features: np.ndarray) -> FeatureScaling:
        """The means and standard deviations of the columns of ``features`` (two passes, in float64).

        A column whose values are too large to average in float64 gets a non-finite mean or scale;
        :meth:`overflowing` names it.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            total = sum((rows.sum(axis=0) for rows in _float64_rows(features)), np.zeros(features.shape[1]))
            mean = total / len(features)
            squares = sum(
                (((rows - mean) ** 2).sum(axis=0) for rows in _float64_rows(features)),
                np.zeros(features.shape[1]),
            )
            std = np.sqrt(squares / len(features))
        return cls(tuple(mean.tolist()), tuple(np.where(std > 0, std, 1.0).tolist()))

    @classmethod
    def identity(cls, width: int) -> FeatureScaling:
        """No standardisation (a cleaner fitted before features were standardised)."""
        return cls((0.0,) * width, (1.0,) * width)

    def overflowing(self) -> int | None:
        """The first feature whose mean or scale is not finite (values too large for float64 sums)."""
        bad = np.flatnonzero(~np.isfinite(np.asarray(self.mean)) | ~np.isfinite(np.asarray(self.scale)))
        return int(bad[0]) if len(bad) else None

    def apply(self, features: np.ndarray) -> np.ndarray:
        """``features`` standardised in float64, as float32 (inf where a value is too far out for float32)."""
        out = np.empty(features.shape, dtype=np.float32)
        mean, scale = np.asarray(self.mean), np.asarray(self.scale)
        start = 0
        with np.errstate(over="ignore"):
            for rows in _float64_rows(features):
                out[start : start + len(rows)] = (rows - mean) / scale
                start += len(rows)
        return out


def _float64_rows(features: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(features), _ROWS):
        yield features[start : start + _ROWS].astype(np.float64)
