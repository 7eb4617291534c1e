"""Building the label audit: one row per training sample, in input order.

The file (its columns and metadata), its writer and its readers are in
:mod:`labelclean.auditfile`, which reading tools import without torch; ``write_audit`` is
importable from here too.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import torch

from .auditfile import write_audit
from .calibration import label_posterior

__all__ = ["build_audit", "encode_thumbnails", "write_audit"]


def build_audit(
    probs: np.ndarray,
    labels: np.ndarray,
    classes: np.ndarray,
    sources: list[str],
    sample_ids: np.ndarray | None = None,
    posterior: np.ndarray | None = None,
    reviewed: np.ndarray | None = None,
) -> pd.DataFrame:
    """The audit table from predicted probabilities ``(N, C)`` and encoded labels ``(N,)``.

    ``classes[k]`` is the original label of class index ``k``. A sample is flagged
    (and corrected) where another class is more probably its true class than the
    given one. ``posterior`` ``(N, C)``: each sample's true class given its label, from
    :func:`labelclean.calibration.label_posterior` (computed here from ``probs`` alone when not
    given). ``reviewed``: the reviewer's decision per sample (None where not reviewed);
    reviewed labels are final.
    """
    n = len(labels)
    rows = np.arange(n)
    given_prob = probs[rows, labels]
    if posterior is None:
        posterior = label_posterior(probs, labels).posterior
    suggested = posterior.argmax(axis=1)
    reviewed = np.full(n, None, dtype=object) if reviewed is None else np.asarray(reviewed, dtype=object)
    suspicious = (suggested != labels) & pd.isna(reviewed)
    loss = -np.log(np.clip(given_prob, 1e-12, None))
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-loss, kind="stable")] = np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "sample_id": rows if sample_ids is None else np.asarray(sample_ids),
            "source": sources,
            "given_label": classes[labels],
            "suggested_label": classes[suggested],
            "corrected_label": classes[np.where(suspicious, suggested, labels)],
            "loss": loss.astype(np.float32),
            "given_prob": given_prob.astype(np.float32),
            "suggested_prob": probs[rows, suggested].astype(np.float32),
            "mislabel_prob": (1 - posterior[rows, labels]).astype(np.float32),
            "suggested_true_prob": posterior[rows, suggested].astype(np.float32),
            "rank": rank,
            "is_suspicious": suspicious,
            "reviewed": reviewed,
        }
    )


def encode_thumbnails(images: torch.Tensor, max_side: int = 128) -> list[bytes]:
    """PNG bytes of each image ``(N, C, H, W)``, so an audit can show images that have no file.

    Float images are scaled to 0-255 one by one (an image on another scale must not darken
    the rest): an image within 0-1 is multiplied by 255, any other spans 0-255 from its own
    minimum to its maximum. Large images are shrunk.
    """
    from PIL import Image

    if images.dtype != torch.uint8:
        low = images.amin(dim=(1, 2, 3), keepdim=True)
        high = images.amax(dim=(1, 2, 3), keepdim=True)
        in_unit_range = (low >= 0) & (high <= 1)
        low, high = torch.where(in_unit_range, 0.0, low), torch.where(in_unit_range, 1.0, high)
        images = ((images - low) / (high - low).clamp_min(1e-12) * 255).round().clamp(0, 255).to(torch.uint8)
    arrays = images.permute(0, 2, 3, 1).numpy()
    encoded = []
    for array in arrays:
        picture = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
        picture.thumbnail((max_side, max_side))
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    return encoded
