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
from .calibration import NoiseModel, fit_noise_model, flag_most_suspicious, label_posterior

__all__ = ["build_audit", "calibrated_audit", "encode_thumbnails", "write_audit"]


def build_audit(
    probs: np.ndarray,
    labels: np.ndarray,
    classes: np.ndarray,
    sources: list[str],
    *,
    held_out: np.ndarray | None = None,
    noise: NoiseModel | None = None,
    sample_ids: np.ndarray | None = None,
    reviewed: np.ndarray | None = None,
    original: np.ndarray | None = None,
    top: int = 3,
) -> pd.DataFrame:
    """The audit table (columns: :mod:`labelclean.auditfile`) of ``N`` samples.

    ``probs``: the final network's class probabilities ``(N, C)``; ``labels``: encoded
    ``(N,)``, ``classes[k]`` the original label of index ``k``; ``held_out``: each sample's
    probabilities from networks that did not train on it (default: ``probs``); ``noise``: the
    noise model (default: fitted on ``held_out``, ``probs`` in sample, by
    :func:`labelclean.calibration.fit_noise_model`). ``reviewed``: the reviewer's decision per
    sample (None where not reviewed): a reviewed label is known, so it is neither wrong nor
    flagged; a sample that fits no class has no right label among the classes. ``original``:
    the encoded labels before the review (``noise`` counts the wrong ones among them).
    """
    held_out = probs if held_out is None else held_out
    if noise is None:  # the final network's own count is a second reading only beside held-out ones
        noise = fit_noise_model(held_out, labels, in_sample=None if held_out is probs else probs)
    n = len(labels)
    rows = np.arange(n)
    reviewed = np.full(n, None, dtype=object) if reviewed is None else np.asarray(reviewed, dtype=object)
    known, no_class = pd.notna(reviewed), reviewed == "none"
    judged = label_posterior(probs, held_out, labels, noise, original, known)
    posterior = judged.posterior.copy()
    posterior[known] = np.eye(len(classes))[labels[known]]
    posterior[no_class] = 0.0
    suggested = judged.suggestion(labels)
    mislabel = 1 - posterior[rows, labels]
    rank, flagged = _rank_and_flags(judged.evidence, mislabel, known, no_class)
    changed = judged.changes(labels) & ~known
    # Every change is flagged, so that a review of the flags sees all that `correct_labels()` does.
    # The two read the labels' noise apart (the flags the pooled shares, a change the label's own
    # share at its low end), and where one label carries most of the noise a change can fall
    # outside the expected count: embeddings with 20% asymmetric noise, 472 of 1,109 changes.
    flagged |= changed
    mean_probs = (probs + held_out) / 2
    return pd.DataFrame(
        {
            "sample_id": rows if sample_ids is None else np.asarray(sample_ids),
            "source": sources,
            "given_label": classes[labels],
            "suggested_label": classes[suggested],
            "corrected_label": classes[np.where(changed, suggested, labels)],
            "loss": -np.log(np.clip(mean_probs[rows, labels], 1e-12, None)).astype(np.float32),
            "given_prob": mean_probs[rows, labels].astype(np.float32),
            "suggested_prob": mean_probs[rows, suggested].astype(np.float32),
            "mislabel_prob": mislabel.astype(np.float32),
            "suggested_true_prob": posterior[rows, suggested].astype(np.float32),
            "rank": rank,
            "is_suspicious": flagged,
            "reviewed": reviewed,
            "top_classes": _top_classes(np.where(no_class[:, None], mean_probs, posterior), classes, top),
        }
    )


def _rank_and_flags(
    evidence: np.ndarray, mislabel: np.ndarray, known: np.ndarray, no_class: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rank by evidence alone, which compares samples across labels without the labels' noise
    shares (least sure where noise is instance-dependent); flag among the unreviewed. A sample
    that fits no class comes first, a reviewed label last."""
    flagged = np.zeros(len(mislabel), dtype=bool)
    flagged[~known] = flag_most_suspicious(mislabel[~known], evidence[~known])
    suspicion = np.where(no_class, np.inf, np.where(known, -np.inf, evidence))
    rank = np.empty(len(mislabel), dtype=np.int64)
    rank[np.lexsort((-mislabel, -suspicion))] = np.arange(1, len(mislabel) + 1)
    return rank, flagged


def _top_classes(posterior: np.ndarray, classes: np.ndarray, top: int) -> list[list[dict[str, object]]]:
    """Each row's ``top`` most probable classes, most probable first, as ``{"label", "prob"}``."""
    best = np.argsort(-posterior, axis=1, kind="stable")[:, :top]
    return [
        [{"label": classes[k].item(), "prob": float(row[k])} for k in picks]
        for row, picks in zip(posterior, best, strict=True)
    ]


def calibrated_audit(
    probs: np.ndarray,
    held_out: np.ndarray,
    labels: np.ndarray,
    classes: np.ndarray,
    sources: list[str],
    *,
    train_rows: np.ndarray,
    folds: np.ndarray,
    sample_ids: np.ndarray | None = None,
    reviewed: np.ndarray | None = None,
    original: np.ndarray | None = None,
    thumbnails: torch.Tensor | None = None,
    seed: int = 0,
) -> tuple[dict[str, float], np.ndarray, pd.DataFrame]:
    """A fit's noise-rate estimate, each label's share of wrong labels (aligned with ``classes``)
    and the audit: the noise model fitted on the held-out probabilities of the ``train_rows``
    (each one's cross-fitting fold in ``folds``; the final network's ``probs`` in sample bound
    the changes of the labels the held-out networks judge weakly: see
    :func:`labelclean.calibration.fit_noise_model`), then :func:`build_audit`.

    The other rows (samples that fit no class) were never trained on, so the final network's
    ``probs`` are held out for them too. ``thumbnails``: images to show in the audit (those that
    are not files). ``original``: the labels before a review. The noise is counted among them,
    because a review removes the plainest wrong labels, and the count, read off the samples the
    networks are surest of, would then miss the rest.
    """
    given = labels if original is None else original
    noise = fit_noise_model(held_out, given[train_rows], groups=folds, seed=seed, in_sample=probs[train_rows])
    every_held_out = probs.copy()
    every_held_out[train_rows] = held_out
    audit = build_audit(
        probs,
        labels,
        classes,
        sources,
        held_out=every_held_out,
        noise=noise,
        sample_ids=sample_ids,
        reviewed=reviewed,
        original=original,
    )
    if thumbnails is not None:
        audit["image"] = encode_thumbnails(thumbnails)
    estimate = float(audit["mislabel_prob"].mean())
    shift = estimate - noise.rate  # reviewed labels are known: the interval moves with the estimate
    low, high = (float(np.clip(v + shift, 0, 1)) for v in noise.interval)
    rate = {"estimate": estimate, "low": low, "high": high, "level": 0.95}
    return rate, noise.label_noise.round(5), audit


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
