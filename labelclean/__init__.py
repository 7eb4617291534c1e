"""labelclean: find, fix and train through wrong labels with SLN-MO-LC.

>>> from labelclean import SLNCleaner
>>> cleaner = SLNCleaner()            # doctest: +SKIP
>>> cleaner.fit("photos/").correct_labels()  # doctest: +SKIP
"""

__version__ = "0.1.0"

from .audit import AUDIT_COLUMNS, read_audit_metadata
from .data import BadImageError
from .estimator import SLNCleaner

__all__ = ["AUDIT_COLUMNS", "BadImageError", "SLNCleaner", "__version__", "read_audit_metadata"]
