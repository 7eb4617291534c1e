"""labelclean: find, fix and train through wrong labels with SLN-MO-LC.

>>> from labelclean import SLNCleaner
>>> cleaner = SLNCleaner()            # doctest: +SKIP
>>> cleaner.fit("photos/").correct_labels()  # doctest: +SKIP

The names below are imported on first use (PEP 562), so ``import labelclean.auditfile``
(reading audits, the review app) does not load torch or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_HOMES = {
    "AUDIT_COLUMNS": "auditfile",
    "read_audit_metadata": "auditfile",
    "read_reviewed": "auditfile",
    "BadImageError": "data",
    "SLNCleaner": "estimator",
}

if TYPE_CHECKING:
    from .auditfile import AUDIT_COLUMNS, read_audit_metadata, read_reviewed
    from .data import BadImageError
    from .estimator import SLNCleaner

__all__ = [
    "AUDIT_COLUMNS",
    "BadImageError",
    "SLNCleaner",
    "__version__",
    "read_audit_metadata",
    "read_reviewed",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
