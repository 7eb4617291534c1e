"""The paper's published numbers (test accuracy %, mean and std over runs; hours per run on a V100)."""

from __future__ import annotations

# Table 1 (CIFAR-10) and Table 2 (CIFAR-100): {method: {noise: (mean, std)}}, time in hours.
CIFAR10 = {
    "ce": {"sym": (53.16, 1.64), "asym": (72.72, 1.35), "dependent": (72.33, 0.50), "openset": (77.74, 0.84)},
    "gce": {
        "sym": (79.27, 0.54),
        "asym": (70.90, 2.98),
        "dependent": (73.05, 0.24),
        "openset": (81.56, 0.41),
    },
    "coteaching": {
        "sym": (82.37, 0.32),
        "asym": (79.61, 1.06),
        "dependent": (76.69, 0.66),
        "openset": (85.21, 0.35),
    },
    "phuber-ce": {
        "sym": (80.58, 0.34),
        "asym": (73.01, 1.28),
        "dependent": (72.70, 0.24),
        "openset": (81.62, 0.52),
    },
    "ls": {"sym": (66.59, 1.25), "asym": (66.96, 2.02), "dependent": (72.79, 0.27), "openset": (77.06, 0.37)},
    "sln": {
        "sym": (80.00, 0.61),
        "asym": (80.63, 0.61),
        "dependent": (78.48, 0.28),
        "openset": (85.33, 0.52),
    },
    "sln-mo": {
        "sym": (84.71, 0.43),
        "asym": (84.80, 0.27),
        "dependent": (80.56, 0.16),
        "openset": (89.16, 0.31),
    },
    "sln-mo-lc": {
        "sym": (87.00, 0.27),
        "asym": (87.85, 0.41),
        "dependent": (81.76, 0.16),
        "openset": (88.47, 0.22),
    },
}
CIFAR10_HOURS = {
    "ce": 1.18, "gce": 1.19, "coteaching": 2.22, "phuber-ce": 1.20, "ls": 1.20,
    "sln": 1.24, "sln-mo": 1.30, "sln-mo-lc": 1.31,
}  # fmt: skip

CIFAR100 = {
    "ce": {"sym": (31.63, 0.83), "asym": (36.26, 0.65), "dependent": (55.59, 0.43)},
    "gce": {"sym": (44.07, 0.56), "asym": (36.75, 1.07), "dependent": (54.51, 0.26)},
    "coteaching": {"sym": (53.05, 1.11), "asym": (39.78, 0.52), "dependent": (47.06, 0.44)},
    "phuber-ce": {"sym": (48.76, 1.28), "asym": (35.13, 0.38), "dependent": (55.11, 0.29)},
    "ls": {"sym": (40.57, 0.68), "asym": (43.51, 0.48), "dependent": (53.89, 0.39)},
    "sln": {"sym": (50.24, 0.41), "asym": (44.43, 0.19), "dependent": (57.47, 0.30)},
    "sln-mo": {"sym": (56.57, 0.38), "asym": (50.59, 0.35), "dependent": (61.24, 0.27)},
    "sln-mo-lc": {"sym": (58.64, 0.37), "asym": (63.90, 0.46), "dependent": (61.14, 0.39)},
}
CIFAR100_HOURS = {
    "ce": 1.22, "gce": 1.23, "coteaching": 2.23, "phuber-ce": 1.29, "ls": 1.23,
    "sln": 1.28, "sln-mo": 1.32, "sln-mo-lc": 1.35,
}  # fmt: skip

# Table 3 (Clothing1M): {method: {sampling: (mean, std or None)}}; CE/Forward/Backward
# standard-sampling numbers are copied from Patrini et al. (2017), without std.
CLOTHING1M = {
    "ce": {"standard": (68.94, None), "balanced": (71.12, 0.32)},
    "forward": {"standard": (69.84, None), "balanced": (71.28, 0.27)},
    "backward": {"standard": (69.13, None), "balanced": (71.03, 0.33)},
    "coteaching": {"standard": (70.19, 0.28), "balanced": (72.14, 0.28)},
    "sln": {"standard": (70.42, 0.34), "balanced": (72.95, 0.31)},
    "sln-mo": {"standard": (71.15, 0.21), "balanced": (72.98, 0.15)},
    "sln-mo-lc": {"standard": (72.61, 0.23), "balanced": (74.08, 0.18)},
}

# Appendix B: the SLN sigma chosen on 5k noisy validation samples.
SIGMA = {
    "cifar10": {"sym": 1.0, "asym": 0.5, "dependent": 0.5, "openset": 0.5},
    "cifar100": {"sym": 0.2, "asym": 0.2, "dependent": 0.1},
    "clothing1m": {"standard": 0.2, "balanced": 0.2},
}

TABLES = {"cifar10": CIFAR10, "cifar100": CIFAR100, "clothing1m": CLOTHING1M}
HOURS = {"cifar10": CIFAR10_HOURS, "cifar100": CIFAR100_HOURS}


def published(dataset: str, method: str, noise: str) -> tuple[float, float | None] | None:
    """The paper's (mean, std) for a cell, or None where the paper has no number."""
    return TABLES.get(dataset, {}).get(method, {}).get(noise)
